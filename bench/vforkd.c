#define _GNU_SOURCE
/*
 * vforkd.c: the machine's limit for inetd-style serving, to measure tend
 * against: a blocking accept loop that vforks (or, with "fork", forks) and
 * execs the handler with the connection as stdin and stdout. Children are
 * reaped by the kernel (SIGCHLD ignored). No cap, no logging, no
 * accounting.
 *
 *   vforkd PORT HANDLER [fork]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char *hargv[2];
	char *envp[1] = {NULL};
	int lfd, fd, one = 1, use_fork = argc == 4;
	pid_t pid;

	if (argc != 3 && argc != 4)
		return 2;
	hargv[0] = argv[2];
	hargv[1] = NULL;
	signal(SIGCHLD, SIG_IGN);
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, SOMAXCONN) == -1)
		return 1;
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			continue;
		pid = use_fork ? fork() : vfork();
		if (pid == 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			execve(hargv[0], hargv, envp);
			_exit(127);
		}
		close(fd);
	}
}
