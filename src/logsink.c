/*
 * logsink.c: one destination of tendd's log (stderr, the syslog socket),
 * written without ever blocking the loop. A line is formatted for the sink
 * and queued (logqueue.c); the queue is written at once as far as the fd
 * takes it, and the rest when an ev_io says the fd is writable again. When
 * the queue is full, lines are dropped and counted, and as soon as there is
 * room a line "N log lines dropped" takes their place in the stream.
 *
 * Backpressure: the tasks' output pipes that feed a sink are not read
 * while its queue is past the high-water mark (logqueue.c): each waits in
 * the sink's list of waiters, and the task blocks in its own write(2), as
 * on a terminal. They are told to read again once the queue is down to the
 * low-water mark. A sink that writes no byte for LOGSINK_STALL while tasks
 * wait (a hung syslog daemon, a pipe nobody reads) is stalled: its waiters
 * are let go, and lines are dropped and counted when the queue is full,
 * until it drains again to the low-water mark. So a slow reader slows the
 * tasks and loses nothing; a dead one costs them LOGSINK_STALL, once.
 *
 * The loop may not exist yet (start-up) or any more (exit): then nothing
 * is armed, and what the fd does not take waits for the next line or for
 * logsink_close.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

#define REOPEN_DELAY 1.0 /* seconds between attempts to reopen a sink */
#define WRITE_IOVS   64  /* records in one writev */

static void logsink_io_cb(EV_P_ ev_io *, int);
static void logsink_wait_cb(EV_P_ ev_timer *, int);
static void logsink_stall_cb(EV_P_ ev_timer *, int);

/* fd, stream, socket and gated are set by the caller, after this. */
void
logsink_init(struct logsink *s, logsink_format_fn *format,
             logsink_reopen_fn *reopen)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->format = format;
	s->reopen = reopen;
	ev_init(&s->io, logsink_io_cb);
	s->io.data = s;
	ev_init(&s->wait, logsink_wait_cb);
	s->wait.data = s;
	ev_init(&s->stall, logsink_stall_cb);
	s->stall.data = s;
	s->waiters.prev = s->waiters.next = &s->waiters;
}

/* Whether w is in a sink's list. */
bool
logwaiter_waiting(const struct logwaiter *w)
{
	return w->next != NULL;
}

/* Take w out of its sink's list, if it is in one; it is not told. */
void
logwaiter_cancel(struct logwaiter *w)
{
	if (w->next == NULL)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

/* Whether a task's line is to wait: past the high mark, and not stalled. */
bool
logsink_full(const struct logsink *s)
{
	return !s->stalled && logqueue_high(&s->q);
}

/*
 * w waits until the sink has drained or stalled; the stall is timed from
 * the first waiter on, or from the last byte written if later.
 */
void
logsink_wait(struct logsink *s, struct logwaiter *w)
{
	struct ev_loop *loop = EV_DEFAULT_UC;

	logwaiter_cancel(w);
	w->prev = s->waiters.prev;
	w->next = &s->waiters;
	s->waiters.prev->next = w;
	s->waiters.prev = w;
	if (loop != NULL && !ev_is_active(&s->stall)) {
		s->waited = clock_now();
		ev_timer_set(&s->stall, LOGSINK_STALL, 0.);
		ev_timer_start(loop, &s->stall);
	}
}

/*
 * Tell every waiter to go on; none is left. Without a loop (at exit) there
 * is nothing to go on with: they are only let go.
 */
static void
logsink_release(struct logsink *s)
{
	struct ev_loop *loop = EV_DEFAULT_UC;

	while (s->waiters.next != NULL && s->waiters.next != &s->waiters) {
		struct logwaiter *w = s->waiters.next;
		logwaiter_cancel(w);
		if (loop != NULL)
			w->resume(w->data);
	}
	if (loop != NULL)
		ev_timer_stop(loop, &s->stall);
	else
		ev_init(&s->stall, logsink_stall_cb);
}

/* No byte written for LOGSINK_STALL while tasks wait: let them go. */
static void
logsink_stall_cb(EV_P_ ev_timer *w, int revents)
{
	struct logsink *s = w->data;
	ev_tstamp since = s->progress > s->waited ? s->progress : s->waited;
	ev_tstamp left = since + LOGSINK_STALL - clock_now();

	(void)revents;
	if (s->waiters.next == &s->waiters)
		return;
	if (left > 0) {
		ev_timer_set(w, left, 0.);
		ev_timer_start(EV_A_ w);
		return;
	}
	s->stalled = true;
	logsink_release(s);
}

/*
 * Stop the watchers. A loop destroyed under them (at exit) has forgotten
 * them already: they are only marked inactive.
 */
static void
logsink_disarm(struct logsink *s)
{
	struct ev_loop *loop = EV_DEFAULT_UC;

	if (loop != NULL) {
		ev_io_stop(loop, &s->io);
		ev_timer_stop(loop, &s->wait);
	} else {
		ev_init(&s->io, logsink_io_cb);
		ev_init(&s->wait, logsink_wait_cb);
	}
}

/* Wait for the fd to take more: only once the loop exists. */
static void
logsink_arm_io(struct logsink *s)
{
	struct ev_loop *loop = EV_DEFAULT_UC;

	if (loop == NULL || ev_is_active(&s->io))
		return;
	ev_io_set(&s->io, s->fd, EV_WRITE);
	ev_io_start(loop, &s->io);
}

/* The fd is gone: try again to open it in a while. */
static void
logsink_arm_wait(struct logsink *s)
{
	struct ev_loop *loop = EV_DEFAULT_UC;

	if (loop == NULL || ev_is_active(&s->wait))
		return;
	ev_timer_set(&s->wait, s->reopen_at - clock_now(), 0.);
	ev_timer_start(loop, &s->wait);
}

/* A note of the lines dropped, queued where they are missing, if it fits. */
static void
logsink_note_dropped(struct logsink *s)
{
	char *text, *data;
	size_t len;

	if (s->q.dropped == 0)
		return;
	text = xasprintf("%lu log line%s dropped", s->q.dropped,
	                 s->q.dropped == 1 ? "" : "s");
	data = s->format(s, &(struct logline){.prio = LOG_WARNING, .msg = text},
	                 &len);
	free(text);
	if (logqueue_fits(&s->q, len))
		logqueue_push(&s->q, data, len, s->q.dropped);
	else
		free(data);
}

/* Whether the peer went away, so that the fd is to be reopened. */
static bool
logsink_peer_gone(int err)
{
	return err == ECONNREFUSED || err == ENOTCONN || err == ECONNRESET ||
	       err == EPIPE || err == ENOENT || err == EDESTADDRREQ;
}

/*
 * A blocking fd (see gated): at most PIPE_BUF bytes, and only when poll
 * says the fd takes some, which for a pipe means PIPE_BUF do.
 */
static bool
logsink_gate_open(const struct logsink *s)
{
	struct pollfd p = {.fd = s->fd, .events = POLLOUT};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

/* One write of the queue's head: a datagram, or a writev of the stream. */
static ssize_t
logsink_write_once(struct logsink *s)
{
	struct iovec iov[WRITE_IOVS];
	struct msghdr msg = {.msg_iov = iov};
	size_t n = 0, total = 0;

	if (s->gated && !logsink_gate_open(s)) {
		errno = EAGAIN;
		return -1;
	}
	for (size_t i = 0; i < s->q.count && n < WRITE_IOVS; i++) {
		const struct logrec *r = logqueue_peek(&s->q, i);
		size_t skip = i == 0 ? s->off : 0;
		iov[n].iov_base = r->data + skip;
		iov[n].iov_len = r->len - skip;
		if (s->gated && total + iov[n].iov_len > PIPE_BUF)
			iov[n].iov_len = PIPE_BUF - total;
		total += iov[n++].iov_len;
		if (!s->stream || (s->gated && total >= PIPE_BUF))
			break;
	}
	msg.msg_iovlen = n;
	if (s->socket)
		return sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	return writev(s->fd, iov, (int)n);
}

/* n bytes were written: pop what was written whole. */
static void
logsink_advance(struct logsink *s, size_t n)
{
	if (!s->stream) {
		logqueue_pop(&s->q);
		return;
	}
	while (n > 0) {
		size_t left = logqueue_peek(&s->q, 0)->len - s->off;
		if (n < left) {
			s->off += n;
			return;
		}
		n -= left;
		s->off = 0;
		logqueue_pop(&s->q);
	}
}

/*
 * The fd failed for good: open it again, at once if at_once (the syslog
 * daemon restarted), else and then at most every REOPEN_DELAY. Returns
 * whether the sink has an fd again.
 */
static bool
logsink_reopen(struct logsink *s, bool at_once)
{
	ev_tstamp now = clock_now();

	if (s->fd >= 0) {
		logsink_disarm(s);
		close(s->fd);
		s->fd = -1;
		s->reopen_at = at_once ? now : now + REOPEN_DELAY;
	}
	s->off = 0; /* a new stream: the head record is sent whole */
	if (now >= s->reopen_at) {
		if (s->reopen(s) == 0)
			return true;
		s->reopen_at = now + REOPEN_DELAY;
	}
	logsink_arm_wait(s);
	return false;
}

/*
 * Write the queue as far as the fd takes it, without waiting; *wrote is
 * set once a byte went out.
 */
static void
logsink_write_queue(struct logsink *s, bool *wrote)
{
	bool failed = false, reopened = false;
	ssize_t n;

	if (s->fd < 0 && (s->reopen == NULL || !logsink_reopen(s, true)))
		return;
	for (;;) {
		if (!failed)
			logsink_note_dropped(s);
		if (s->q.count == 0)
			break;
		n = logsink_write_once(s);
		if (n > 0) {
			*wrote = true;
			logsink_advance(s, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		/* Nothing taken (0) is as full. */
		if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
			logsink_arm_io(s);
			return;
		}
		/*
		 * Reopened at once only once a flush: a socket that connects
		 * but refuses every send (a reader that shut down) would
		 * otherwise be reopened forever, here, on the loop.
		 */
		if (s->reopen != NULL && logsink_peer_gone(errno)) {
			if (!logsink_reopen(s, !reopened))
				return;
			reopened = true;
			continue;
		}
		/*
		 * Another error: this line is lost (a datagram too large), or
		 * every line is (EPIPE: nobody reads stderr any more). No note
		 * until the next flush: it would only be lost the same way.
		 */
		failed = true;
		s->off = 0;
		logqueue_drop_head(&s->q);
	}
	logsink_disarm(s);
}

/*
 * Write what the fd takes now. Drained to the low mark (or emptied by
 * errors: nobody will ever read), the sink is no longer stalled and its
 * waiters go on.
 */
void
logsink_flush(struct logsink *s)
{
	bool wrote = false;

	logsink_write_queue(s, &wrote);
	if (wrote)
		s->progress = clock_now();
	if (!logqueue_low(&s->q))
		return;
	s->stalled = false;
	if (s->waiters.next != &s->waiters)
		logsink_release(s);
}

/* Queue a line; write it now unless the fd is known to be full. */
void
logsink_put(struct logsink *s, const struct logline *l)
{
	size_t len;
	char *data;

	logsink_note_dropped(s);
	if (!logqueue_fits(&s->q, 0)) {
		logqueue_push(&s->q, NULL, 0, 0); /* counted, not formatted */
	} else {
		data = s->format(s, l, &len);
		logqueue_push(&s->q, data, len, 0);
	}
	if (!ev_is_active(&s->io) && !ev_is_active(&s->wait))
		logsink_flush(s);
}

static void
logsink_io_cb(EV_P_ ev_io *w, int revents)
{
	(void)EV_A;
	(void)revents;
	logsink_flush(w->data);
}

static void
logsink_wait_cb(EV_P_ ev_timer *w, int revents)
{
	(void)EV_A;
	(void)revents;
	logsink_flush(w->data);
}

/* Write what the fd takes now, drop the rest, close the fd. */
void
logsink_close(struct logsink *s)
{
	if (s->fd >= 0)
		logsink_flush(s);
	logsink_disarm(s);
	logsink_release(s);
	logqueue_clear(&s->q);
	if (s->fd > 2)
		close(s->fd);
	s->fd = -1;
}
