/*
 * test_logsink.c: a log sink written without waiting (logsink.c), on real
 * fds but without a loop, as before tendd's loop exists: each line queued
 * is written at once as far as the fd takes it, the rest at the next one.
 * A full queue drops new lines and counts them; "N log lines dropped" then
 * stands where they are missing. A stream resumes mid-line; a datagram
 * socket whose peer is gone is reopened. Backpressure, on a loop that is
 * never run: waiters are told once the queue is down to its low mark, or
 * once the sink made no progress for LOGSINK_STALL, and then the sink
 * drops until it drains.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

/* A line as it is written: its message and a newline. */
static char *
format_line(const struct logsink *s, const struct logline *l, size_t *len)
{
	char *data = xasprintf("%s\n", l->msg);

	(void)s;
	*len = strlen(data);
	return data;
}

static struct logsink *
new_sink(int fd, bool stream, logsink_reopen_fn *reopen)
{
	struct logsink *s = malloc(sizeof(*s));

	assert_non_null(s);
	logsink_init(s, format_line, reopen);
	s->fd = fd;
	s->stream = stream;
	s->socket = !stream;
	return s;
}

static void
put(struct logsink *s, const char *word, int i)
{
	char *msg = xasprintf("%s %d", word, i);

	logsink_put(s, &(struct logline){.prio = LOG_INFO, .msg = msg});
	free(msg);
}

/* Receive every datagram waiting on fd, each into lines[]. */
static size_t
receive_all(int fd, char lines[][64], size_t max)
{
	size_t n = 0;
	ssize_t got;

	while (n < max && (got = recv(fd, lines[n], 63, MSG_DONTWAIT)) > 0) {
		lines[n][got] = '\0';
		n++;
	}
	return n;
}

/* A datagram peer that stops reading: lines wait, then are dropped and
 * counted, and the note comes after the last line queued. */
static void
test_dgram_full_drops_and_notes(void **state)
{
	static char got[4 * LOGQUEUE_LINES][64];
	int sv[2], sent = 0, queued;
	struct logsink *s;
	char want[64];
	size_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	s = new_sink(sv[0], false, NULL);
	/* Until the peer's queue is full, nothing waits in ours. */
	while (s->q.count == 0)
		put(s, "line", sent++);
	queued = sent - 1;
	while (s->q.count < LOGQUEUE_LINES)
		put(s, "line", sent++);
	put(s, "lost", 1);
	put(s, "lost", 2);
	assert_int_equal(s->q.dropped_total, 2);

	/* The peer reads again: the queue goes out, then the note. */
	n = receive_all(sv[1], got, sizeof(got) / sizeof(*got));
	assert_int_equal(n, (size_t)queued);
	n = 0;
	while (s->q.count > 0) {
		logsink_flush(s); /* as the ev_io does, when writable */
		n +=
		    receive_all(sv[1], got + n, sizeof(got) / sizeof(*got) - n);
	}
	assert_int_equal(n, (size_t)(sent - queued) + 1);
	for (int i = 0; i < sent - queued; i++) {
		snprintf(want, sizeof(want), "line %d\n", queued + i);
		assert_string_equal(got[i], want);
	}
	assert_string_equal(got[n - 1], "2 log lines dropped\n");
	assert_int_equal(s->q.dropped, 0);
	assert_int_equal(s->q.dropped_total, 2);
	put(s, "after", 0);
	assert_int_equal(receive_all(sv[1], got, 4), 1);
	assert_string_equal(got[0], "after 0\n");
	logsink_close(s);
	close(sv[1]);
	free(s);
}

/* Read what a pipe holds now. */
static size_t
drain_pipe(int fd, struct buf *into)
{
	char chunk[4096];
	ssize_t got;
	size_t total = 0;

	while ((got = read(fd, chunk, sizeof(chunk))) > 0) {
		buf_add(into, chunk, (size_t)got);
		total += (size_t)got;
	}
	return total;
}

/* A stream taken in part goes on mid-line: every byte once, in order. */
static void
test_stream_resumes_mid_line(void **state)
{
	struct buf got = {0}, want = {0};
	struct logsink *s;
	char line[1000];
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	s = new_sink(p[1], true, NULL);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	for (int i = 0; i < 200; i++) {
		line[0] = (char)('A' + i % 26);
		logsink_put(s,
		            &(struct logline){.prio = LOG_INFO, .msg = line});
		buf_addf(&want, "%s\n", line);
		if (i % 7 == 0)
			drain_pipe(p[0], &got);
	}
	while (s->q.count > 0) {
		drain_pipe(p[0], &got);
		logsink_flush(s);
	}
	drain_pipe(p[0], &got);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	assert_int_equal(s->q.dropped_total, 0);
	logsink_close(s);
	close(p[0]);
	buf_free(&got);
	buf_free(&want);
	free(s);
}

/* A pipe with no reader: every line is lost and counted once. */
static void
test_broken_pipe_counts_each_line_once(void **state)
{
	struct logsink *s;
	int p[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	close(p[0]);
	s = new_sink(p[1], true, NULL);
	for (int i = 0; i < 10; i++)
		put(s, "line", i);
	assert_int_equal(s->q.count, 0);
	assert_int_equal(s->q.dropped_total, 10);
	logsink_close(s);
	free(s);
}

static int peer = -1;
static int reopens;

static int
reopen_pair(struct logsink *s)
{
	int sv[2];

	reopens++;
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == -1)
		return -1;
	s->fd = sv[0];
	peer = sv[1];
	return 0;
}

/* The syslog daemon restarts: the sink connects again, nothing is lost. */
static void
test_dgram_peer_gone_reopens(void **state)
{
	char got[4][64];
	struct logsink *s;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	s = new_sink(sv[0], false, reopen_pair);
	put(s, "before", 0);
	assert_int_equal(receive_all(sv[1], got, 4), 1);
	close(sv[1]);
	put(s, "after", 1);
	assert_int_equal(reopens, 1);
	assert_int_equal(receive_all(peer, got, 4), 1);
	assert_string_equal(got[0], "after 1\n");
	assert_int_equal(s->q.dropped_total, 0);
	logsink_close(s);
	close(peer);
	free(s);
}

/* A peer that connects but takes nothing: every send fails at once. */
static int
reopen_dead_pair(struct logsink *s)
{
	int sv[2];

	if (++reopens > 1000 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == -1)
		return -1; /* the bound only keeps a failing test finite */
	close(sv[1]);
	s->fd = sv[0];
	return 0;
}

/* A reader that went away for good: one reopen at once, then a wait. */
static void
test_dgram_dead_peer_no_spin(void **state)
{
	struct logsink *s;
	int sv[2];

	(void)state;
	reopens = 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	close(sv[1]);
	s = new_sink(sv[0], false, reopen_dead_pair);
	put(s, "lost", 0);
	assert_int_equal(reopens, 1);
	put(s, "lost", 1); /* within REOPEN_DELAY: no reopen, queued */
	assert_int_equal(reopens, 1);
	assert_int_equal(s->q.count, 2);
	logsink_close(s);
	free(s);
}

static int resumed;

static void
count_resume(void *data)
{
	(void)data;
	resumed++;
}

/* A datagram sink whose peer does not read, filled to its high mark. */
static struct logsink *
full_sink(int sv[2])
{
	struct logsink *s;
	int i = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	s = new_sink(sv[0], false, NULL);
	while (!logsink_full(s))
		put(s, "line", i++);
	assert_int_equal(s->q.count, LOGQUEUE_HIGH_LINES);
	assert_int_equal(s->q.dropped_total, 0);
	return s;
}

static void
end_sink(struct logsink *s, int sv[2])
{
	logsink_close(s);
	close(sv[1]);
	free(s);
	ev_loop_destroy(EV_DEFAULT); /* the next tests have no loop */
}

/* Read the peer and flush, as the ev_io would, until the queue is empty. */
static void
drain(struct logsink *s, int peer_fd, struct logwaiter *w, bool check)
{
	static char got[LOGQUEUE_LINES][64];

	while (s->q.count > 0) {
		receive_all(peer_fd, got, LOGQUEUE_LINES);
		logsink_flush(s);
		/* Told exactly when the queue is down to the low mark. */
		if (check)
			assert_int_equal(logwaiter_waiting(w),
			                 !logqueue_low(&s->q));
	}
}

/* A waiter is told once, when the queue is down to its low mark. */
static void
test_waiter_told_at_low_mark(void **state)
{
	struct logwaiter w = {.resume = count_resume};
	struct logsink *s;
	int sv[2];

	(void)state;
	assert_non_null(ev_default_loop(0));
	resumed = 0;
	s = full_sink(sv);
	logsink_wait(s, &w);
	assert_true(logwaiter_waiting(&w));
	assert_true(ev_is_active(&s->stall));
	drain(s, sv[1], &w, true);
	assert_int_equal(resumed, 1);
	assert_false(ev_is_active(&s->stall));
	assert_int_equal(s->q.dropped_total, 0);
	end_sink(s, sv);
}

/* A waiter that went away (its run was reaped) is not told. */
static void
test_cancelled_waiter_not_told(void **state)
{
	struct logwaiter a = {.resume = count_resume};
	struct logwaiter b = {.resume = count_resume};
	struct logsink *s;
	int sv[2];

	(void)state;
	assert_non_null(ev_default_loop(0));
	resumed = 0;
	s = full_sink(sv);
	logsink_wait(s, &a);
	logsink_wait(s, &b);
	logwaiter_cancel(&a);
	logwaiter_cancel(&a); /* twice is harmless */
	assert_false(logwaiter_waiting(&a));
	drain(s, sv[1], &b, true);
	assert_int_equal(resumed, 1);
	end_sink(s, sv);
}

/* The stall timer fires: does the sink still write, and since when? */
static void
fire_stall(struct logsink *s, double waited_ago, double progress_ago)
{
	s->waited = clock_now() - waited_ago;
	s->progress = clock_now() - progress_ago;
	ev_invoke(EV_DEFAULT, &s->stall, EV_TIMER);
}

/*
 * No byte written for LOGSINK_STALL: waiters go on, the sink drops and
 * counts until it drains, and then makes them wait again.
 */
static void
test_stall_lets_waiters_go_then_drops(void **state)
{
	struct logwaiter w = {.resume = count_resume};
	struct logsink *s;
	int sv[2];

	(void)state;
	assert_non_null(ev_default_loop(0));
	resumed = 0;
	s = full_sink(sv);
	logsink_wait(s, &w);
	/* Progress within the bound: still waiting, timed from it. */
	fire_stall(s, LOGSINK_STALL + 1, 1);
	assert_false(s->stalled);
	assert_true(logwaiter_waiting(&w));
	assert_true(ev_is_active(&s->stall));
	fire_stall(s, LOGSINK_STALL + 1, LOGSINK_STALL + 1);
	assert_true(s->stalled);
	assert_int_equal(resumed, 1);
	assert_false(logwaiter_waiting(&w));
	assert_false(logsink_full(s));
	for (int i = 0; i < LOGQUEUE_LINES; i++)
		put(s, "late", i);
	assert_int_equal(s->q.dropped_total, LOGQUEUE_HIGH_LINES);
	drain(s, sv[1], &w, false);
	assert_false(s->stalled);
	for (int i = 0; !logsink_full(s); i++)
		put(s, "again", i);
	assert_int_equal(s->q.dropped_total, LOGQUEUE_HIGH_LINES);
	end_sink(s, sv);
}

int
main(void)
{
#define T(f) cmocka_unit_test(f)
	const struct CMUnitTest tests[] = {
	    T(test_dgram_full_drops_and_notes),
	    T(test_stream_resumes_mid_line),
	    T(test_broken_pipe_counts_each_line_once),
	    T(test_dgram_peer_gone_reopens),
	    T(test_dgram_dead_peer_no_spin),
	    T(test_waiter_told_at_low_mark),
	    T(test_cancelled_waiter_not_told),
	    T(test_stall_lets_waiters_go_then_drops),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
