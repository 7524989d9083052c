/*
 * ctlclient.c: one client of the control socket as a verb sees it: its
 * answer queued message by message, and the end of it. control.c owns the
 * connection (the fd, its watchers, the idle timer) and sends the queue.
 */
#include <stdlib.h>
#include <syslog.h>

#include "tend.h"

/*
 * Have the queue sent. The idle timer runs again: a client that does not
 * read its answer within CLIENT_IDLE of the last progress is dropped (a
 * follower excepted: it may wait long for a line). An answer over
 * CLIENT_OUT_MAX drops the client, on the loop's next turn: never while
 * a caller still holds it.
 */
void
ctlclient_flush(struct client *c)
{
	if (!c->following)
		ev_timer_again(EV_DEFAULT, &c->idle);
	if (c->out.len > CLIENT_OUT_MAX && !c->dropped) {
		log_msg(LOG_WARNING,
		        "control: answer to pid %ld too large, "
		        "dropped",
		        (long)c->peer.pid);
		c->dropped = true;
		ev_feed_event(EV_DEFAULT, &c->wio, EV_WRITE);
	}
	ev_io_start(EV_DEFAULT, &c->wio);
}

/* Queue one message of type with a text= field. */
void
ctlclient_msg(struct client *c, const char *type, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	proto_begin(&c->out, type);
	proto_add(&c->out, "text", text);
	proto_end(&c->out);
	free(text);
}

/* End the answer with tendctl's exit status; the client closes after. */
void
ctlclient_end(struct client *c, int code)
{
	if (c->following)
		ev_io_stop(EV_DEFAULT, &c->rio); /* closed once all is sent */
	c->wait = WAIT_NONE;
	c->following = false;
	proto_begin(&c->out, "end");
	proto_add_num(&c->out, "code", (long long)code);
	proto_end(&c->out);
	ctlclient_flush(c);
}

/* Whether the client has room for more of a long answer. */
bool
ctlclient_wants_more(const struct client *c)
{
	return c->out.len < CLIENT_OUT_LOW;
}

/* What a client holds besides its connection. */
void
ctlclient_free(struct client *c)
{
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->tasks);
	free(c);
}
