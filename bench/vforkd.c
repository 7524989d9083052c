#define _GNU_SOURCE
/*
 * vforkd.c: the machine's limit for inetd-style serving, to measure tend
 * against: a blocking accept loop that vforks (or, with "fork", forks) and
 * execs the handler with the connection as stdin and stdout. Children are
 * reaped by the kernel (SIGCHLD ignored). No cap, no logging, no
 * accounting.
 *
 * With "reap", the loop instead learns how each child exits, as any
 * supervisor must: SIGCHLD comes through a signalfd, and one epoll_wait
 * waits for it and for connections. That is the limit for a server that
 * counts its children's exits.
 *
 *   vforkd PORT HANDLER [fork|reap]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char *hargv[2];
static char *envp[1];

static int
listen_on(const char *port, int flags)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int lfd, one = 1;

	sin.sin_port = htons((unsigned short)atoi(port));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, SOMAXCONN) == -1)
		exit(1);
	return lfd;
}

static void
serve(int fd, int use_fork, const sigset_t *mask)
{
	pid_t pid = use_fork ? fork() : vfork();

	if (pid == 0) {
		if (mask)
			sigprocmask(SIG_SETMASK, mask, NULL);
		dup2(fd, 0);
		dup2(fd, 1);
		execve(hargv[0], hargv, envp);
		_exit(127);
	}
	close(fd);
}

static void __attribute__((noreturn))
accept_loop(const char *port, int use_fork)
{
	int lfd = listen_on(port, 0), fd;

	signal(SIGCHLD, SIG_IGN);
	for (;;)
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			serve(fd, use_fork, NULL);
}

static void __attribute__((noreturn))
reaping_loop(const char *port)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct signalfd_siginfo si;
	sigset_t chld, none;
	int lfd = listen_on(port, SOCK_NONBLOCK), sfd, ep, fd;

	sigemptyset(&none);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	for (;;) {
		if (epoll_wait(ep, &ev, 1, -1) != 1)
			continue;
		if (ev.data.fd == sfd) {
			while (read(sfd, &si, sizeof(si)) > 0)
				;
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			continue;
		}
		while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			serve(fd, 0, &none);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 3 && argc != 4)
		return 2;
	hargv[0] = argv[2];
	if (argc == 4 && strcmp(argv[3], "reap") == 0)
		reaping_loop(argv[1]);
	accept_loop(argv[1], argc == 4 && strcmp(argv[3], "fork") == 0);
}
