/*
 * tendctl.c: the command-line client. This version knows the commands and
 * the socket's path and reports whether tendd can be reached; the control
 * protocol itself comes with the control-socket issue.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tend.h"

#define EXIT_ERROR	 1
#define EXIT_UNREACHABLE 4

static const char *commands[] = {
    "status", "start", "stop",	"restart", "signal",
    "run",    "reload", "log", "metrics", "shutdown",
};

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: tendctl [-s SOCKET] COMMAND [ARGS]\n"
		    "commands: status start stop restart signal run reload "
		    "log metrics shutdown\n");
}

static int
control_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	const char *env = getenv("TEND_SOCKET");
	char *socket_path = NULL;
	size_t i;
	int ch, fd;

	while ((ch = getopt(argc, argv, "+s:hV")) != -1)
		switch (ch) {
		case 's':
			free(socket_path);
			socket_path = xstrdup(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tendctl %s\n", TEND_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_ERROR;
		}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_ERROR;
	}
	for (i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (strcmp(argv[optind], commands[i]) == 0)
			break;
	if (i == sizeof(commands) / sizeof(*commands)) {
		fprintf(stderr, "tendctl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_ERROR;
	}
	if (socket_path == NULL)
		socket_path = env && *env ? xstrdup(env)
					  : manifest_default_socket();
	if ((fd = control_connect(socket_path)) == -1) {
		fprintf(stderr, "tendctl: cannot reach tendd at %s: %s\n",
		    socket_path, strerror(errno));
		free(socket_path);
		return EXIT_UNREACHABLE;
	}
	close(fd);
	fprintf(stderr, "tendctl: %s: the control protocol is not built yet\n",
	    argv[optind]);
	free(socket_path);
	return EXIT_ERROR;
}
