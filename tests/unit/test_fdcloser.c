/*
 * test_fdcloser.c: fds others sent are closed by fdcloser.c's thread, off
 * the loop: a close that waits (a TCP socket lingering with unsent data)
 * holds up neither the caller nor the loop; the queue behind it fills,
 * fdcloser_room says so, and fdcloser_when_room calls back from the loop
 * once the thread has drained it to half.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tend.h"

#define LINGER_S 2

/*
 * A connected TCP socket whose close waits LINGER_S seconds: its send
 * buffer full, its peer (*peer, kept open) not reading, SO_LINGER on.
 */
static int
lingering_socket(int *listener, int *peer)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	struct linger lg = {.l_onoff = 1, .l_linger = LINGER_S};
	int small = 4096, fd;
	char chunk[4096] = {0};

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(*listener, (struct sockaddr *)&sin, len), 0);
	assert_int_equal(listen(*listener, 1), 0);
	assert_int_equal(getsockname(*listener, (struct sockaddr *)&sin, &len),
	                 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, len), 0);
	*peer = accept4(*listener, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*peer >= 0);
	setsockopt(*peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	return fd;
}

static bool called;

static void
room_again(void)
{
	called = true;
}

static void
timeout_cb(EV_P_ ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(EV_A_ EVBREAK_ALL);
}

static void
test_a_waiting_close_holds_up_no_one(void **state)
{
	struct rlimit rl = {FDCLOSER_MAX * 2, FDCLOSER_MAX * 2};
	int listener, peer, fd, p[2], last_write = -1;
	double t0;
	size_t given = 0;
	ev_timer deadline;

	(void)state;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		skip(); /* not allowed to open that many: nothing to see */
	assert_non_null(ev_default_loop(EVFLAG_SIGNALFD));
	fd = lingering_socket(&listener, &peer);
	t0 = clock_now();
	fdcloser_give(fd);
	/* Pipes behind it, until a datagram's worth no longer fits. */
	while (fdcloser_room() >= 253) {
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		fdcloser_give(p[0]);
		if (last_write >= 0)
			close(last_write);
		last_write = p[1];
		given++;
	}
	assert_true(clock_now() - t0 < 1.0); /* the caller never waited */
	assert_true(given > FDCLOSER_MAX / 2);
	/* The last read end is still open: the thread waits on the socket. */
	struct pollfd pfd = {.fd = last_write, .events = POLLOUT};
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_int_equal(pfd.revents & POLLERR, 0);

	called = false;
	fdcloser_when_room(room_again);
	assert_false(called);
	ev_timer_init(&deadline, timeout_cb, LINGER_S + 10.0, 0.);
	ev_timer_start(EV_DEFAULT, &deadline);
	while (!called && ev_is_active(&deadline))
		ev_run(EV_DEFAULT, EVRUN_ONCE);
	ev_timer_stop(EV_DEFAULT, &deadline);
	assert_true(called);
	assert_true(clock_now() - t0 >= LINGER_S - 0.5);
	/* And it drains whole: the last read end closes too. */
	for (int i = 0; i < 1000 && fdcloser_room() < FDCLOSER_MAX; i++)
		usleep(10000);
	assert_int_equal(fdcloser_room(), FDCLOSER_MAX);
	/* Taken off the queue, it may still be closing: a moment more. */
	for (int i = 0; i < 1000 && !(pfd.revents & POLLERR); i++)
		if (poll(&pfd, 1, 0) == 0 || !(pfd.revents & POLLERR))
			usleep(10000);
	assert_true(pfd.revents & POLLERR);
	close(last_write);
	close(peer);
	close(listener);
}

/* With room, the callback comes at once. */
static void
test_room_at_once(void **state)
{
	(void)state;
	called = false;
	fdcloser_when_room(room_again);
	assert_true(called);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_waiting_close_holds_up_no_one),
	    cmocka_unit_test(test_room_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
