/*
 * logqueue.c: the lines waiting for one log sink, bounded in lines and in
 * bytes. When it is full a new line is dropped, not an old one (what was
 * queued is sent as it was), and counted: the sink says how many were lost
 * once it has room again. Pure: no I/O, no libev.
 */
#include <stdlib.h>

#include "tend.h"

/* Whether a record of len bytes fits. */
bool
logqueue_fits(const struct logqueue *q, size_t len)
{
	return q->count < LOGQUEUE_LINES && q->bytes + len <= LOGQUEUE_BYTES;
}

/*
 * Backpressure (logsink.c): past the high-water mark the tasks feeding the
 * sink wait, and they are let go again once it is down to the low-water
 * mark. What lies between the high mark and the bound is room kept for
 * tendd's own lines, for the lines of one read already taken from a pipe,
 * and for the note of dropped lines; the gap between the marks keeps a
 * task from being paused and resumed at every line.
 */
bool
logqueue_high(const struct logqueue *q)
{
	return q->count >= LOGQUEUE_HIGH_LINES ||
	       q->bytes >= LOGQUEUE_HIGH_BYTES;
}

bool
logqueue_low(const struct logqueue *q)
{
	return q->count <= LOGQUEUE_LOW_LINES && q->bytes <= LOGQUEUE_LOW_BYTES;
}

/*
 * Queue data (malloc'd, len bytes; the queue owns it from now on), or drop
 * and count it when it does not fit. note: the N of a "N log lines
 * dropped" line, which the caller queues only when it fits; else 0.
 * Returns whether it was queued.
 */
bool
logqueue_push(struct logqueue *q, char *data, size_t len, unsigned long note)
{
	if (!logqueue_fits(q, len)) {
		free(data);
		q->dropped++;
		q->dropped_total++;
		return false;
	}
	q->recs[(q->head + q->count) % LOGQUEUE_LINES] =
	    (struct logrec){.data = data, .len = len, .note = note};
	if (note > 0)
		q->dropped = 0;
	q->count++;
	q->bytes += len;
	return true;
}

/* The i-th record from the head; i < count. */
const struct logrec *
logqueue_peek(const struct logqueue *q, size_t i)
{
	return &q->recs[(q->head + i) % LOGQUEUE_LINES];
}

/* Free the head record; the queue is not empty. */
void
logqueue_pop(struct logqueue *q)
{
	struct logrec *r = &q->recs[q->head];

	q->bytes -= r->len;
	free(r->data);
	*r = (struct logrec){0};
	q->head = (q->head + 1) % LOGQUEUE_LINES;
	q->count--;
}

/*
 * The head record could not be sent: count it as dropped, or, if it was a
 * note, count its lines again, so that the next note tells of them.
 */
void
logqueue_drop_head(struct logqueue *q)
{
	const struct logrec *r = logqueue_peek(q, 0);

	if (r->note > 0) {
		q->dropped += r->note;
	} else {
		q->dropped++;
		q->dropped_total++;
	}
	logqueue_pop(q);
}

/* Free every record; the counts of dropped lines stay. */
void
logqueue_clear(struct logqueue *q)
{
	while (q->count > 0)
		logqueue_pop(q);
	q->head = 0;
}
