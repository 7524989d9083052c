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
 * With "contract", the reaping loop also does for each connection what
 * tend's contract asks of every spawn, and nothing else: default signal
 * dispositions and an empty mask, a session of its own, stderr on
 * /dev/null, a CLOEXEC status pipe read after the vfork, the group's
 * leftovers killed at the reap, and TEND_* variables in the environment.
 * It is tend without tend's event loop and bookkeeping: tend's floor.
 *
 *   vforkd PORT HANDLER [fork|reap|contract]
 */
#include <arpa/inet.h>
#include <fcntl.h>
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
static char *envp[5];
static int contract, devnull, status[2];
/* What tend's handler gets: its environment and the connection's. */
static char contract_env[4][40] = {
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TEND_TASK=hello",
    "TEND_REMOTE_ADDR=127.0.0.1", "TEND_REMOTE_PORT=40000"};

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

/* In the contract loop's child: what tend does before exec (spawn.c). */
static void
contract_child(const sigset_t *mask)
{
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	setsid();
	dup2(devnull, 2);
}

static void
serve(int fd, int use_fork, const sigset_t *mask)
{
	char failure[8];
	pid_t pid = use_fork ? fork() : vfork();

	if (pid == 0) {
		if (contract)
			contract_child(mask);
		else if (mask)
			sigprocmask(SIG_SETMASK, mask, NULL);
		dup2(fd, 0);
		dup2(fd, 1);
		execve(hargv[0], hargv, envp);
		_exit(127);
	}
	/* tend reads its exec status pipe; nothing is ever written here. */
	if (contract && read(status[0], failure, sizeof(failure)) > 0)
		exit(1);
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
	pid_t pid;

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
			while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
				if (contract)
					kill(-pid, SIGKILL);
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
	if (argc == 4 && strcmp(argv[3], "contract") == 0) {
		contract = 1;
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull == -1 ||
		    pipe2(status, O_CLOEXEC | O_NONBLOCK) == -1)
			return 1;
		signal(SIGPIPE, SIG_IGN); /* as tendd */
		for (int i = 0; i < 4; i++)
			envp[i] = contract_env[i];
	}
	if (argc == 4 && (contract || strcmp(argv[3], "reap") == 0))
		reaping_loop(argv[1]);
	accept_loop(argv[1], argc == 4 && strcmp(argv[3], "fork") == 0);
}
