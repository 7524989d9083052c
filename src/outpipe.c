/*
 * outpipe.c: a run's stdout or stderr pipe (syslog, console and file:
 * outputs), read in the loop a bounded amount per wakeup so that a
 * flooding child cannot starve the others, its lines handed to output.c.
 * A pipe whose log sink is full is not read until the sink has room
 * (output_wait_room, logsink.c): the child then waits in its own write(2).
 * Lines are routed one at a time for that, and what was read past the line
 * that filled the sink is kept (pending) for when it has room.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"

#define READ_CHUNK 16384       /* per wakeup, per pipe */
#define DRAIN_MAX  (4 * 65536) /* read at reap: a pipe or four */

static void
run_log_line(void *ctx, const char *line, size_t len)
{
	output_line(ctx, line, len);
}

static void
output_close_file(struct run_output *o)
{
	logfile_release(o->file);
	o->file = NULL;
}

/*
 * Route the lines of buf to o's destination, one at a time; with heed,
 * stop after the one that filled o's log sink (o->waiter then waits).
 * Returns the bytes routed.
 */
static size_t
output_route(struct run_output *o, const char *buf, size_t len, bool heed)
{
	size_t done = 0, n;
	const char *nl;

	if (!heed || o->mode == OUTPUT_FILE) {
		linebuf_feed(&o->lines, buf, len, run_log_line, o);
		return len;
	}
	while (done < len && !logwaiter_waiting(&o->waiter)) {
		/* Up to a newline, or a piece the line buffer cuts off. */
		n = len - done < LINEBUF_MAX ? len - done : LINEBUF_MAX;
		nl = memchr(buf + done, '\n', n);
		if (nl != NULL)
			n = (size_t)(nl - (buf + done)) + 1;
		linebuf_feed(&o->lines, buf + done, n, run_log_line, o);
		done += n;
		output_wait_room(o);
	}
	return done;
}

/* Route what was kept; returns whether all of it went. */
static bool
output_route_pending(struct run_output *o, bool heed)
{
	size_t done;

	if (o->pending == NULL)
		return true;
	done = output_route(o, o->pending, o->pending_len, heed);
	if (done < o->pending_len) {
		memmove(o->pending, o->pending + done, o->pending_len - done);
		o->pending_len -= done;
		return false;
	}
	free(o->pending);
	o->pending = NULL;
	o->pending_len = 0;
	return true;
}

/* Keep what was read but not routed, for when the sink has room. */
static void
output_keep(struct run_output *o, const char *rest, size_t len)
{
	o->pending = xmalloc(len);
	memcpy(o->pending, rest, len);
	o->pending_len = len;
}

/* The log sink has room (or stalled): read the pipe again. */
static void
output_resume(void *data)
{
	struct run_output *o = data;

	ev_io_start(EV_DEFAULT, &o->io);
	if (o->pending != NULL) /* the pipe may have nothing more to say */
		ev_feed_event(EV_DEFAULT, &o->io, EV_READ);
}

void
outpipe_close(struct run_output *o)
{
	if (o->io.fd < 0)
		return;
	ev_io_stop(EV_DEFAULT, &o->io);
	logwaiter_cancel(&o->waiter);
	output_route_pending(o, false);
	linebuf_flush(&o->lines, run_log_line, o);
	linebuf_free(&o->lines);
	if (o->file != NULL)
		logfile_flush(o->file);
	close(o->io.fd);
	o->io.fd = -1;
	output_close_file(o);
	output_rest_release(o);
}

/*
 * Read up to max bytes, or until o's log sink is full (with heed); returns
 * false once the pipe is at EOF or broken.
 */
static bool
output_read_lines(struct run_output *o, size_t max, bool heed)
{
	char buf[READ_CHUNK];
	size_t total = 0, done;
	ssize_t n;

	while (total < max) {
		n = read(o->io.fd, buf, sizeof(buf));
		if (n > 0) {
			done = output_route(o, buf, (size_t)n, heed);
			if (done < (size_t)n)
				output_keep(o, buf + done, (size_t)n - done);
			if (logwaiter_waiting(&o->waiter))
				return true;
			total += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		return n == -1 && errno == EAGAIN;
	}
	return true;
}

/* output_read_lines, and what a file: output gathered is written. */
static bool
output_read(struct run_output *o, size_t max, bool heed)
{
	bool open = output_read_lines(o, max, heed);

	if (o->file != NULL)
		logfile_flush(o->file);
	return open;
}

static void
output_cb(EV_P_ ev_io *w, int revents)
{
	struct run_output *o = w->data;

	(void)revents;
	if (output_route_pending(o, true) && !logwaiter_waiting(&o->waiter) &&
	    !output_read(o, READ_CHUNK, true)) {
		outpipe_close(o);
		return;
	}
	/* Not read again until output_resume. */
	if (logwaiter_waiting(&o->waiter))
		ev_io_stop(EV_A_ w);
}

/*
 * At reap: what the process wrote before it exited is in the pipe now, and
 * is read at once, DRAIN_MAX at most. Lines its full log sink cannot take
 * yet wait apart from the run (output.c's rest).
 */
void
outpipe_drain(struct run_output *o)
{
	if (o->io.fd < 0)
		return;
	logwaiter_cancel(&o->waiter);
	o->reaped = true;
	output_route_pending(o, false);
	output_read(o, DRAIN_MAX, false);
}

void
outpipe_open(struct run *r, struct run_output *o, int fd, int prio,
             enum output_mode mode, struct logfile *file)
{
	o->run = r;
	o->prio = prio;
	o->mode = mode;
	o->file = file;
	o->waiter.resume = output_resume;
	o->waiter.data = o;
	ev_io_init(&o->io, output_cb, fd, EV_READ);
	o->io.data = o;
	if (fd >= 0)
		ev_io_start(EV_DEFAULT, &o->io);
	else
		output_close_file(o); /* no pipe, no lines: not kept */
}
