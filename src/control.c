/*
 * control.c: tendd's control socket. One request per connection: a client
 * sends one line, tendd answers (at once, or when the change is done: a
 * stop once the processes are reaped) and closes.
 *
 * Every client socket is non-blocking with bounded buffers. A client that
 * sends too much, garbage, or nothing at all is answered with an error or
 * dropped; none can block the loop or delay another client.
 *
 * The socket's path and file are ctlsocket.c's; a status row's encoding is
 * statusenc.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

/*
 * Room for clients: peers that may only query (not root, not tendd's uid)
 * get at most CLIENTS_UNPRIV_MAX of CLIENTS_MAX, and one uid of them at
 * most CLIENTS_PER_UID, so that the rest is always there for root. Beyond,
 * the oldest silent client of the same kind goes, or the new one is refused.
 */
#define CLIENTS_MAX        1024
#define CLIENTS_UNPRIV_MAX 768
#define CLIENTS_PER_UID    256
#define CLIENTS_DRAIN      256  /* queued clients taken from an old socket */
#define CLIENT_IDLE        10.0 /* seconds to send a request, or to read */
/*
 * What tendd holds for one client: a status answer is encoded task by task
 * while less than CLIENT_OUT_LOW is queued, so a client that reads slowly
 * costs that much, not the whole answer. Other answers are small; one
 * bigger than CLIENT_OUT_MAX is dropped.
 */
#define CLIENT_OUT_LOW (16 << 10)
#define CLIENT_OUT_MAX (4 << 20)

enum client_wait {
	WAIT_NONE,
	WAIT_STATUS,    /* until the status answer is all queued */
	WAIT_METRICS,   /* until the metrics answer is all queued */
	WAIT_STOPPED,   /* until the tasks have no process */
	WAIT_RESTARTED, /* until the tasks are no longer stopping */
	WAIT_RUN,       /* until one run ends */
	WAIT_RELOADED,  /* until what a reload stopped is down or up again */
	WAIT_SHUTDOWN,  /* until tendd exits */
};

struct client {
	int fd;
	ev_io rio;
	ev_io wio;
	ev_timer idle;
	struct buf in;
	struct buf out;
	struct ucred peer;
	bool privileged;
	enum client_wait wait;
	struct task *tasks[PROTO_TASKS_MAX]; /* what WAIT_* waits on */
	bool failed[PROTO_TASKS_MAX];        /* its start failed: told */
	int ntasks;
	bool named;                    /* status: of tasks, not of every task */
	size_t status_next;            /* status: the next task to encode */
	bool unhealthy;                /* status: exit 3 */
	struct metrics_cursor metrics; /* metrics: where the text goes on */
	struct run *run;
	unsigned long stop_serial;   /* stop waits for runs up to this one */
	unsigned long reload_serial; /* the reload it waits on */
	struct client *next;
};

static struct {
	struct ctlsocket sock;
	ev_io accept;
	ev_timer accept_pause; /* after EMFILE: accepting again would spin */
	struct client *clients;
	int nclients;
	int nunpriv; /* of them, not privileged */
	ev_tstamp started;
	ev_tstamp refused_logged; /* the last "too many clients" line */
} ctl = {.sock = {.fd = -1, .lock = -1}};

static void client_close(struct client *);

/* Answers. */

/*
 * Queue the answer. The idle timer runs again: a client that does not read
 * its answer within CLIENT_IDLE of the last progress is dropped.
 */
static void
client_flush(struct client *c)
{
	ev_timer_again(EV_DEFAULT, &c->idle);
	if (c->out.len > CLIENT_OUT_MAX) {
		log_msg(LOG_WARNING,
		        "control: answer to pid %ld too large, "
		        "dropped",
		        (long)c->peer.pid);
		client_close(c);
		return;
	}
	ev_io_start(EV_DEFAULT, &c->wio);
}

static void client_msg(struct client *c, const char *type, const char *fmt, ...)
    PRINTFLIKE(3, 4);

static void
client_msg(struct client *c, const char *type, const char *fmt, ...)
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
static void
client_end(struct client *c, int code)
{
	c->wait = WAIT_NONE;
	proto_begin(&c->out, "end");
	proto_add_num(&c->out, "code", (long long)code);
	proto_end(&c->out);
	client_flush(c);
}

/* Status. */

/* Resolve every name of r into c->tasks; on an unknown one, answer 1. */
static bool
client_resolve(struct client *c, const struct proto_request *r)
{
	for (int i = 0; i < r->ntasks; i++) {
		if ((c->tasks[i] = supervisor_find(r->tasks[i])) == NULL) {
			client_msg(c, "err", "unknown task '%s'", r->tasks[i]);
			client_end(c, EXIT_ERROR);
			return false;
		}
	}
	c->ntasks = r->ntasks;
	return true;
}

/*
 * Queue task rows of the status answer while less than CLIENT_OUT_LOW is
 * queued; once the last is queued, the end. Called again as the socket
 * drains. Every task is looked up anew: a reload may have changed the list.
 */
static void
status_fill(struct client *c)
{
	double now = clock_now(); /* uptimes are monotonic */
	size_t n;
	struct task *const *tasks = supervisor_tasks(&n);

	if (c->named) {
		tasks = c->tasks;
		n = (size_t)c->ntasks;
	}
	for (; c->out.len < CLIENT_OUT_LOW && c->status_next < n;
	     c->status_next++) {
		statusenc_task(&c->out, tasks[c->status_next], now);
		c->unhealthy |= statusenc_unhealthy(tasks[c->status_next]);
	}
	if (c->status_next < n) {
		client_flush(c);
		return;
	}
	c->ntasks = 0;
	client_end(c, c->unhealthy ? EXIT_NOT_RUNNING : EXIT_OK);
}

static void
do_status(struct client *c, const struct proto_request *r)
{
	double now = clock_now(); /* uptimes are monotonic */

	if (!client_resolve(c, r))
		return;
	proto_begin(&c->out, "daemon");
	proto_add_num(&c->out, "pid", (long long)getpid());
	proto_add(&c->out, "version", TEND_VERSION);
	proto_add(&c->out, "manifest", supervisor_manifest()->path);
	proto_add_seconds(&c->out, "uptime", now - ctl.started);
	proto_add_num(&c->out, "log_dropped", (long long)log_dropped());
	proto_end(&c->out);
	c->named = r->ntasks > 0;
	c->wait = WAIT_STATUS;
	status_fill(c);
}

/*
 * Queue the metrics text while less than CLIENT_OUT_LOW is queued, a
 * "text" message a part; once all is queued, the end. Called again as the
 * socket drains; a reload may have changed the list meanwhile.
 */
static void
metrics_send(struct client *c)
{
	struct buf text = {0};
	size_t n;
	struct task *const *tasks = supervisor_tasks(&n);
	bool done = false;

	while (c->out.len < CLIENT_OUT_LOW && !done) {
		done = metrics_fill(&text, &c->metrics, tasks, n, clock_now(),
		                    CLIENT_OUT_LOW / 4);
		if (text.len > 0) {
			proto_begin(&c->out, "text");
			proto_add_bytes(&c->out, "data", text.data, text.len);
			proto_end(&c->out);
			buf_consume(&text, text.len);
		}
	}
	buf_free(&text);
	if (done)
		client_end(c, EXIT_OK);
	else
		client_flush(c);
}

static void
do_metrics(struct client *c)
{
	memset(&c->metrics, 0, sizeof(c->metrics));
	c->wait = WAIT_METRICS;
	metrics_send(c);
}

/* Waiting for changes to be done. */

static bool
client_wait_over(const struct client *c)
{
	for (int i = 0; i < c->ntasks; i++) {
		const struct task *t = c->tasks[i];
		if (c->wait == WAIT_STOPPED &&
		    task_has_run_before(t, c->stop_serial))
			return false;
		if (c->wait == WAIT_RESTARTED &&
		    t->policy.state == STATE_STOPPING)
			return false;
	}
	return true;
}

/*
 * A start or restart waiting on c->tasks: tell once per task if a run it
 * started (later than c->stop_serial) could not exec. The spawn knows at
 * once; the run may end before the wait does, so control_run_ended
 * looks too.
 */
static void
client_note_failure(struct client *c, const struct run *r)
{
	if (c->wait != WAIT_RESTARTED || !r->exec_failed ||
	    r->serial <= c->stop_serial)
		return;
	for (int i = 0; i < c->ntasks; i++) {
		if (c->tasks[i] != r->task || c->failed[i])
			continue;
		c->failed[i] = true;
		client_msg(c, "err", "%s: %s", r->task->cfg->name, r->failed);
	}
}

/* A stop, start or restart is done: each task's state, or its failure. */
static void
client_change_done(struct client *c)
{
	bool failed = false;

	for (int i = 0; i < c->ntasks; i++)
		for (struct run *r = c->tasks[i]->runs; r; r = r->next_in_task)
			client_note_failure(c, r);
	for (int i = 0; i < c->ntasks; i++) {
		failed |= c->failed[i];
		if (!c->failed[i])
			client_msg(
			    c, "msg", "%s %s", c->tasks[i]->cfg->name,
			    policy_state_name(c->tasks[i]->policy.state));
	}
	client_end(c, failed ? EXIT_ERROR : EXIT_OK);
}

static void
client_wait_check(struct client *c)
{
	if (c->wait == WAIT_RELOADED &&
	    !supervisor_reload_pending(c->reload_serial)) {
		client_end(c, EXIT_OK);
		return;
	}
	if ((c->wait == WAIT_STOPPED || c->wait == WAIT_RESTARTED) &&
	    client_wait_over(c))
		client_change_done(c);
}

/* A task changed: answer the clients whose change is now done. */
static void
control_tasks_changed(void)
{
	struct client *c, *next;

	for (c = ctl.clients; c; c = next) {
		next = c->next;
		client_wait_check(c);
	}
}

/*
 * A retired task is about to be freed: no client may wait on it any more;
 * one that did is told it was removed.
 */
static void
control_task_gone(struct task *t)
{
	for (struct client *c = ctl.clients; c; c = c->next)
		for (int i = 0; i < c->ntasks; i++) {
			if (c->tasks[i] != t)
				continue;
			/* A status row would be out of place (--json). */
			if (c->wait != WAIT_STATUS)
				client_msg(c, "msg", "%s removed by a reload",
				           t->cfg->name);
			else if ((size_t)i < c->status_next)
				c->status_next--;
			/* In order: a status goes on where it was. */
			c->ntasks--;
			memmove(&c->tasks[i], &c->tasks[i + 1],
			        (size_t)(c->ntasks - i) * sizeof(c->tasks[0]));
			memmove(&c->failed[i], &c->failed[i + 1],
			        (size_t)(c->ntasks - i) * sizeof(c->failed[0]));
			i--;
		}
}

/* A run ended: answer "run --wait" with its exit status. */
static void
control_run_ended(struct run *r)
{
	int code;

	for (struct client *c = ctl.clients, *next; c; c = next) {
		next = c->next; /* client_end may close c */
		client_note_failure(c, r);
		if (c->wait != WAIT_RUN || c->run != r)
			continue;
		code = r->exec_failed ? 127 : describe_exit_code(r->wstatus);
		c->run = NULL;
		client_end(c, code);
	}
}

/*
 * tendd is about to exit: answer every client still waiting, and send what
 * is queued, as well as a non-blocking send can.
 */
static void
control_shutdown_done(void)
{
	struct client *c, *next;

	for (c = ctl.clients; c; c = next) {
		next = c->next; /* client_end may close c */
		if (c->wait == WAIT_SHUTDOWN)
			client_end(c, EXIT_OK);
		else if (c->wait == WAIT_RUN) {
			client_msg(c, "err", "tendd shut down");
			client_end(c, EXIT_ERROR);
		} else if (c->wait != WAIT_NONE)
			client_wait_check(c);
	}
	for (c = ctl.clients; c; c = c->next) {
		if (c->out.len > 0) {
			ssize_t n = send(c->fd, c->out.data, c->out.len,
			                 MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)n;
		}
	}
}

static const struct observer control_observer = {
    .tasks_changed = control_tasks_changed,
    .task_gone = control_task_gone,
    .run_ended = control_run_ended,
    .shutdown_done = control_shutdown_done,
};

/* State-changing commands. */

static void
do_start_stop(struct client *c, const struct proto_request *r)
{
	if (r->ntasks == 0) {
		client_msg(c, "err", "%s needs a task name",
		           proto_cmd_name(r->cmd));
		client_end(c, EXIT_ERROR);
		return;
	}
	if (!client_resolve(c, r))
		return;
	memset(c->failed, 0, sizeof(c->failed));
	c->stop_serial = run_serial_last(); /* not a run started after */
	for (int i = 0; i < c->ntasks; i++) {
		if (r->cmd != CMD_START)
			task_handle(c->tasks[i], EVENT_STOP);
		if (r->cmd != CMD_STOP)
			task_handle(c->tasks[i], EVENT_START);
	}
	c->wait = r->cmd == CMD_STOP ? WAIT_STOPPED : WAIT_RESTARTED;
	client_wait_check(c);
}

static void
do_signal(struct client *c, const struct proto_request *r)
{
	int signo = r->signal ? signame_parse(r->signal) : -1;
	int failed = 0;

	if (signo == -1 || r->ntasks == 0) {
		client_msg(c, "err", "usage: signal SIG NAME...");
		client_end(c, EXIT_ERROR);
		return;
	}
	if (!client_resolve(c, r))
		return;
	for (int i = 0; i < c->ntasks; i++) {
		struct task *t = c->tasks[i];
		if (t->runs == NULL) {
			client_msg(c, "err", "%s has no process", t->cfg->name);
			failed++;
		}
		for (struct run *run = t->runs; run; run = run->next_in_task)
			run_signal(run, signo);
	}
	c->ntasks = 0;
	client_end(c, failed ? EXIT_ERROR : EXIT_OK);
}

static void
do_run(struct client *c, const struct proto_request *r)
{
	struct task *t;
	struct run *run;
	const char *why;

	if (r->ntasks != 1) {
		client_msg(c, "err", "usage: run NAME [--wait]");
		client_end(c, EXIT_ERROR);
		return;
	}
	if (!client_resolve(c, r))
		return;
	t = c->tasks[0];
	c->ntasks = 0;
	if ((run = task_run(t, &why)) == NULL) {
		client_msg(c, "err", "%s: %s", t->cfg->name, why);
		client_end(c, EXIT_ERROR);
		return;
	}
	if (!r->wait) {
		client_msg(c, "msg", "%s started, pid %ld", t->cfg->name,
		           (long)run->pid);
		client_end(c, EXIT_OK);
		return;
	}
	c->wait = WAIT_RUN;
	c->run = run;
}

static void
reload_say(void *ctx, const char *line)
{
	client_msg(ctx, "msg", "%s", line);
}

/*
 * Reload: print what changes, or every problem of the new manifest and
 * exit 1. Answered once what the reload stopped is down (a removed task)
 * or up again (a restarted one).
 */
static void
do_reload(struct client *c, const struct proto_request *r)
{
	struct diag errors = {0};

	if (reload_manifest(r->dry_run, reload_say, c, &errors,
	                    &c->reload_serial) == -1) {
		/* As tendd --check prints them: "FILE:LINE: message". */
		for (size_t i = 0; i < errors.count; i++)
			client_msg(c, "problem", "%s", errors.items[i].text);
		client_end(c, EXIT_ERROR);
	} else {
		c->wait = WAIT_RELOADED;
		client_wait_check(c);
	}
	diag_free(&errors);
}

/*
 * Log a state-changing request with who asked, granted or refused: SPEC
 * section 7.
 */
static void
control_log_request(const struct client *c, const struct proto_request *r,
                    bool granted)
{
	struct buf words = {0};

	buf_add(&words, proto_cmd_name(r->cmd), strlen(proto_cmd_name(r->cmd)));
	if (r->signal)
		buf_addf(&words, " %s", r->signal);
	for (int i = 0; i < r->ntasks; i++)
		buf_addf(&words, " %s", r->tasks[i]);
	if (r->wait || r->dry_run)
		buf_addf(&words, " %s", r->wait ? "--wait" : "--dry-run");
	log_msg(granted ? LOG_INFO : LOG_WARNING,
	        "control: uid %u pid %ld: %s%s", (unsigned)c->peer.uid,
	        (long)c->peer.pid, words.data,
	        granted ? "" : ": permission denied");
	buf_free(&words);
}

static void
client_request(struct client *c, const char *line, size_t len)
{
	struct proto_msg m;
	struct proto_request r;
	const char *why;

	if ((why = proto_parse(line, len, &m)) != NULL ||
	    (why = proto_request_decode(&m, &r)) != NULL) {
		client_msg(c, "err", "bad request: %s", why);
		client_end(c, EXIT_ERROR);
		proto_msg_free(&m);
		return;
	}
	if (proto_cmd_changes_state(r.cmd)) {
		if (supervisor_shutting_down() && r.cmd != CMD_SHUTDOWN) {
			client_msg(c, "err", "tendd is shutting down");
			client_end(c, EXIT_ERROR);
			proto_msg_free(&m);
			return;
		}
		control_log_request(c, &r, c->privileged);
		if (!c->privileged) {
			client_msg(c, "err",
			           "permission denied: uid %u may "
			           "only query",
			           (unsigned)c->peer.uid);
			client_end(c, EXIT_ERROR);
			proto_msg_free(&m);
			return;
		}
	}
	switch (r.cmd) {
	case CMD_STATUS:
		do_status(c, &r);
		break;
	case CMD_START:
	case CMD_STOP:
	case CMD_RESTART:
		do_start_stop(c, &r);
		break;
	case CMD_SIGNAL:
		do_signal(c, &r);
		break;
	case CMD_RUN:
		do_run(c, &r);
		break;
	case CMD_SHUTDOWN:
		c->wait = WAIT_SHUTDOWN;
		supervisor_shutdown(0);
		break;
	case CMD_RELOAD:
		do_reload(c, &r);
		break;
	case CMD_METRICS:
		do_metrics(c);
		break;
	case CMD_LOG:
		client_msg(c, "err", "%s is not implemented yet",
		           proto_cmd_name(r.cmd));
		client_end(c, EXIT_ERROR);
		break;
	}
	proto_msg_free(&m);
}

/* Client I/O. */

static void
client_read_cb(EV_P_ ev_io *w, int revents)
{
	struct client *c = w->data;
	char chunk[4096], *nl;
	ssize_t n;

	(void)revents;
	n = read(c->fd, chunk, sizeof(chunk));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	buf_add(&c->in, chunk, (size_t)n);
	nl = memchr(c->in.data, '\n', c->in.len);
	if (nl == NULL && c->in.len < PROTO_LINE_MAX)
		return;
	/* One request per connection: stop reading, then answer. */
	ev_io_stop(EV_A_ w);
	ev_timer_stop(EV_A_ & c->idle);
	if (nl == NULL || nl - c->in.data >= PROTO_LINE_MAX) {
		client_msg(c, "err", "request longer than %d bytes",
		           PROTO_LINE_MAX);
		client_end(c, EXIT_ERROR);
		return;
	}
	client_request(c, c->in.data, (size_t)(nl - c->in.data));
}

static void
client_write_cb(EV_P_ ev_io *w, int revents)
{
	struct client *c = w->data;
	ssize_t n;

	(void)revents;
	n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	buf_consume(&c->out, (size_t)n);
	ev_timer_again(EV_A_ & c->idle);
	if (c->wait == WAIT_STATUS && c->out.len < CLIENT_OUT_LOW)
		status_fill(c); /* small: never over CLIENT_OUT_MAX */
	else if (c->wait == WAIT_METRICS && c->out.len < CLIENT_OUT_LOW)
		metrics_send(c);
	if (c->out.len > 0)
		return;
	ev_io_stop(EV_A_ w);
	ev_timer_stop(EV_A_ & c->idle);
	if (c->wait == WAIT_NONE && !ev_is_active(&c->rio))
		client_close(c);
}

static void
client_idle_cb(EV_P_ ev_timer *w, int revents)
{
	struct client *c = w->data;

	(void)EV_A;
	(void)revents;
	client_close(c);
}

static void
client_close(struct client *c)
{
	struct client **p;

	ev_io_stop(EV_DEFAULT, &c->rio);
	ev_io_stop(EV_DEFAULT, &c->wio);
	ev_timer_stop(EV_DEFAULT, &c->idle);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	for (p = &ctl.clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	if (!c->privileged)
		ctl.nunpriv--;
	free(c);
	if (ctl.nclients-- == CLIENTS_MAX && !ev_is_active(&ctl.accept_pause))
		ev_io_start(EV_DEFAULT, &ctl.accept);
}

/*
 * Make room by closing the oldest client that has not sent its request
 * yet: tendctl sends at once, so that one is most likely idle, and silent
 * connections cannot lock everyone out. Only an unprivileged one when
 * unpriv, only one of uid when uid is not NULL.
 */
static bool
client_evict_silent(bool unpriv, const uid_t *uid)
{
	struct client *oldest = NULL;

	for (struct client *c = ctl.clients; c; c = c->next)
		if (ev_is_active(&c->rio) && (!unpriv || !c->privileged) &&
		    (uid == NULL || (!c->privileged && c->peer.uid == *uid)))
			oldest = c; /* the list is newest first */
	if (oldest == NULL)
		return false;
	client_close(oldest);
	return true;
}

/* Whether an unprivileged peer of uid may have one more client. */
static bool
client_room_for(uid_t uid)
{
	int same = 0;

	for (struct client *c = ctl.clients; c; c = c->next)
		same += !c->privileged && c->peer.uid == uid;
	if (same >= CLIENTS_PER_UID && !client_evict_silent(true, &uid))
		return false;
	return ctl.nunpriv < CLIENTS_UNPRIV_MAX ||
	       client_evict_silent(true, NULL);
}

/* Tell a client there is no room for it, as well as a non-blocking send can. */
static void
client_refuse(int fd, const struct ucred *peer)
{
	struct buf b = {0};
	ssize_t n;

	if (clock_now() - ctl.refused_logged >= 1.0) {
		ctl.refused_logged = clock_now();
		log_msg(LOG_WARNING,
		        "control: uid %u pid %ld: too many clients of "
		        "unprivileged peers; refused (logged once a second)",
		        (unsigned)peer->uid, (long)peer->pid);
	}
	proto_begin(&b, "err");
	proto_add(&b, "text", "too many clients; try again later");
	proto_end(&b);
	proto_begin(&b, "end");
	proto_add_num(&b, "code", (long long)EXIT_ERROR);
	proto_end(&b);
	n = send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
	buf_free(&b);
	close(fd);
}

static void
client_new(int fd, const struct ucred *peer, bool privileged)
{
	struct client *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->peer = *peer;
	c->privileged = privileged;
	ev_io_init(&c->rio, client_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, client_write_cb, fd, EV_WRITE);
	ev_timer_init(&c->idle, client_idle_cb, CLIENT_IDLE, CLIENT_IDLE);
	c->rio.data = c->wio.data = c->idle.data = c;
	ev_io_start(EV_DEFAULT, &c->rio);
	ev_timer_start(EV_DEFAULT, &c->idle);
	c->next = ctl.clients;
	ctl.clients = c;
	ctl.nclients++;
	ctl.nunpriv += !privileged;
}

/*
 * Accept one client on lfd. Returns false when none was waiting, or when
 * there is no room and accepting stops until a client leaves.
 */
static bool
control_accept(int lfd)
{
	struct ucred peer;
	socklen_t len = sizeof(peer);
	bool privileged;
	int fd;

	if (ctl.nclients >= CLIENTS_MAX && !client_evict_silent(false, NULL)) {
		ev_io_stop(EV_DEFAULT, &ctl.accept); /* wait for one to go */
		return false;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_msg(LOG_ERR, "control: accept: %s; pausing 1s",
			        strerror(errno));
			ev_io_stop(EV_DEFAULT, &ctl.accept);
			ev_timer_set(&ctl.accept_pause, 1., 0.);
			ev_timer_start(EV_DEFAULT, &ctl.accept_pause);
		}
		return false;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == -1)
		peer = (struct ucred){.pid = 0, .uid = (uid_t)-1};
	privileged = peer.uid == 0 || peer.uid == geteuid();
	if (!privileged && !client_room_for(peer.uid))
		client_refuse(fd, &peer);
	else
		client_new(fd, &peer, privileged);
	return true;
}

static void
accept_cb(EV_P_ ev_io *w, int revents)
{
	(void)EV_A;
	(void)revents;
	control_accept(w->fd);
}

static void
accept_pause_cb(EV_P_ ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_io_start(EV_A_ & ctl.accept);
}

/* The socket. */

/* Accept on ctl.sock.fd. */
static void
control_listen(void)
{
	ev_io_init(&ctl.accept, accept_cb, ctl.sock.fd, EV_READ);
	ev_io_start(EV_DEFAULT, &ctl.accept);
}

/*
 * Stop accepting on the current listening socket, but first accept the
 * clients already queued on it, which would otherwise be refused.
 */
static void
control_drain(void)
{
	ev_io_stop(EV_DEFAULT, &ctl.accept);
	for (int i = 0; i < CLIENTS_DRAIN && control_accept(ctl.sock.fd); i++)
		continue;
	ev_io_stop(EV_DEFAULT, &ctl.accept); /* control_accept may start it */
	ev_timer_stop(EV_DEFAULT, &ctl.accept_pause);
}

/*
 * Create the control socket at path with m's socket_mode and
 * socket_group. Returns 0, or -1 (logged).
 */
int
control_open(const char *path, const struct manifest *m)
{
	if (ctlsocket_open(&ctl.sock, path, m) == -1)
		return -1;
	ctl.started = clock_now();
	events_observe(&control_observer);
	ev_timer_init(&ctl.accept_pause, accept_pause_cb, 1., 0.);
	control_listen();
	return 0;
}

/*
 * A reload: the socket moves to path, or keeps its path and takes m's
 * permissions; either way a new socket replaces the old (ctlsocket.c says
 * why). The connected clients are untouched: a client asking for the
 * reload gets its answer. On failure the old socket stays (logged).
 */
int
control_reconfigure(const char *path, const struct manifest *m)
{
	struct ctlsocket moved;
	int fd;

	if (ctlsocket_is(&ctl.sock, path)) {
		if ((fd = ctlsocket_remake(&ctl.sock, m)) == -1)
			return -1;
		control_drain();
		close(ctl.sock.fd);
		ctl.sock.fd = fd;
	} else {
		if (ctlsocket_open(&moved, path, m) == -1)
			return -1;
		control_drain();
		ctlsocket_close(&ctl.sock);
		ctl.sock = moved;
	}
	control_listen();
	return 0;
}

void
control_close(void)
{
	events_observe(NULL);
	while (ctl.clients)
		client_close(ctl.clients);
	if (ctl.sock.fd != -1) {
		ev_io_stop(EV_DEFAULT, &ctl.accept);
		ev_timer_stop(EV_DEFAULT, &ctl.accept_pause);
		ctlsocket_close(&ctl.sock);
	}
}
