/*
 * notify.c: tell systemd (Type=notify) that tendd is ready or stopping,
 * by a datagram to $NOTIFY_SOCKET. A path starting with '@' is in the
 * abstract namespace. Failures are logged and otherwise ignored. The
 * variable is tendd's alone: spawn.c leaves it out of every task's
 * environment.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

void
notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len;
	size_t plen;
	int fd;

	if (path == NULL || *path == '\0')
		return;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    plen >= sizeof(sun.sun_path)) {
		log_msg(LOG_WARNING, "NOTIFY_SOCKET %s: not a socket path",
		        path);
		return;
	}
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
	           (struct sockaddr *)&sun, len) == -1)
		log_msg(LOG_WARNING, "cannot notify %s to %s: %s", state, path,
		        strerror(errno));
	if (fd != -1)
		close(fd);
}
