/*
 * sdnotify: a minimal sd_notify client for the system tests. It sends its
 * arguments, joined by newlines, as one datagram to $NOTIFY_SOCKET (a path,
 * or an abstract name written with a leading '@'), as a daemon written for
 * systemd's Type=notify does. Exit 0 once sent, 1 on any failure.
 *
 *	sdnotify READY=1 STATUS=accepting
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char msg[8192];
	size_t len = 0, plen;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (plen = strlen(path)) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "sdnotify: no usable NOTIFY_SOCKET\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (len + n + 1 > sizeof(msg)) {
			fprintf(stderr, "sdnotify: message too long\n");
			return 1;
		}
		memcpy(msg + len, argv[i], n);
		len += n;
		if (i + 1 < argc)
			msg[len++] = '\n';
	}
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sun,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	                       plen)) == -1) {
		perror("sdnotify");
		return 1;
	}
	close(fd);
	return 0;
}
