/*
 * sdnotify: a minimal sd_notify client for the system tests. It sends its
 * arguments, joined by newlines, as one datagram to $NOTIFY_SOCKET (a path,
 * or an abstract name written with a leading '@'), as a daemon written for
 * systemd's Type=notify does. Then, as systemd-notify does, it waits for
 * the receiver to have read it (sd_notify_barrier(3): BARRIER=1 with a
 * pipe's write end, which the receiver closes): the receiver learns the
 * sender's process group from its pid, which must still exist then. Exit
 * 0 once read, 1 on any failure or after 10 s.
 *
 *	sdnotify READY=1 STATUS=accepting
 */
#define _GNU_SOURCE /* pipe2 */
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Send BARRIER=1 with a pipe's write end; wait until the receiver closed it. */
static int
barrier(int fd, const struct sockaddr_un *sun, socklen_t len)
{
	char data[] = "BARRIER=1";
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data) - 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = {
	    .msg_name = (void *)sun,
	    .msg_namelen = len,
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = control.buf,
	    .msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	struct pollfd pfd;
	int p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &p[1], sizeof(int));
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) == -1)
		return -1;
	close(p[1]);
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	return poll(&pfd, 1, 10000) == 1 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char msg[8192];
	size_t len = 0, plen;
	socklen_t alen;
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
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sun, alen) ==
	        -1 ||
	    barrier(fd, &sun, alen) == -1) {
		perror("sdnotify");
		return 1;
	}
	close(fd);
	return 0;
}
