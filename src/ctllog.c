/*
 * ctllog.c: "tendctl log NAME [-n N] [-f]": the last lines of a task's
 * ring (logring.c), then, following, each new one.
 *
 * A client holds a sequence number, not lines: lines are queued from the
 * ring only while less than CLIENT_OUT_LOW is queued, so a follower that
 * stops reading costs that much and never stalls tendd. When it falls
 * further behind than the ring keeps, it goes on at the oldest line kept
 * and is told how many it missed ("skipped n=N").
 */
#include "tend.h"

#define LOG_LINES_DEFAULT 50

/*
 * The clients answering a log: only they are told of new lines, so that
 * other clients, however many, cost a task's output nothing.
 */
static struct client *readers;

static void
ctllog_line(struct client *c, const struct logring_line *l)
{
	proto_begin(&c->out, "line");
	proto_add_bytes(&c->out, "data", l->data, l->len);
	proto_add(&c->out, "stream", l->stream == STREAM_ERR ? "err" : "out");
	proto_add_num(&c->out, "pid", (long long)l->pid);
	proto_end(&c->out);
}

/* Queue the lines from c->log_next while the client has room. */
static void
ctllog_queue(struct client *c)
{
	const struct logring *r = &c->log_task->ring;
	const struct logring_line *l;

	if (c->log_next < r->first) {
		c->log_skipped += r->first - c->log_next;
		c->log_next = r->first;
	}
	if (c->log_skipped > 0 && ctlclient_wants_more(c)) {
		proto_begin(&c->out, "skipped");
		proto_add_num(&c->out, "n", (long long)c->log_skipped);
		proto_end(&c->out);
		c->log_skipped = 0;
	}
	while (ctlclient_wants_more(c) && c->log_next < c->log_end &&
	       (l = logring_get(r, c->log_next)) != NULL) {
		ctllog_line(c, l);
		c->log_next++;
	}
}

/*
 * Queue what fits; without -f, end once the newest line of the request's
 * time is queued: lines printed meanwhile are not the last N asked for.
 */
static void
ctllog_fill(struct client *c)
{
	ctllog_queue(c);
	if (c->log_next >= c->log_end && !c->following) {
		ctllog_done(c);
		ctlclient_end(c, EXIT_OK);
	} else if (c->out.len > 0)
		ctlclient_flush(c);
}

/* log: t's last lines, then (-f) a follower of t. */
void
ctllog_start(struct client *c, struct task *t, const struct proto_request *r)
{
	c->log_task = t;
	c->log_next = logring_back(&t->ring, r->lines > 0 ? (uint64_t)r->lines
	                                                  : LOG_LINES_DEFAULT);
	c->log_end = r->follow ? UINT64_MAX : t->ring.next;
	c->wait = WAIT_LOG;
	c->log_prev = NULL;
	c->log_later = readers;
	if (readers != NULL)
		readers->log_prev = c;
	readers = c;
	if (r->follow) {
		/* Not idle while it waits for lines; its EOF ends it. */
		c->following = true;
		ev_timer_stop(EV_DEFAULT, &c->idle);
		ev_io_start(EV_DEFAULT, &c->rio);
	}
	ctllog_fill(c);
}

/* The client read some of its answer, or t printed: queue what fits. */
void
ctllog_more(struct client *c, const struct task *t)
{
	if (c->wait == WAIT_LOG && (t == NULL || t == c->log_task) &&
	    ctlclient_wants_more(c))
		ctllog_fill(c);
}

/* t printed: each client reading its lines queues what fits. */
void
ctllog_output(const struct task *t)
{
	for (struct client *c = readers, *later; c != NULL; c = later) {
		later = c->log_later; /* c may end */
		ctllog_more(c, t);
	}
}

/* c no longer answers a log: its end is queued next, or it is closed. */
void
ctllog_done(struct client *c)
{
	if (c->wait != WAIT_LOG)
		return;
	if (c->log_prev != NULL)
		c->log_prev->log_later = c->log_later;
	else
		readers = c->log_later;
	if (c->log_later != NULL)
		c->log_later->log_prev = c->log_prev;
	c->log_prev = c->log_later = NULL;
}

/*
 * t is being freed (a reload removed it), or tendd is exiting (t NULL):
 * a log answer ends with what fits.
 */
void
ctllog_end(struct client *c, const struct task *t, const char *why)
{
	if (c->wait != WAIT_LOG || (t != NULL && t != c->log_task))
		return;
	ctllog_queue(c);
	if (why != NULL)
		ctlclient_msg(c, "err", "%s %s", c->log_task->cfg->name, why);
	ctllog_done(c);
	ctlclient_end(c, EXIT_OK);
}
