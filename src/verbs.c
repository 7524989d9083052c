/*
 * verbs.c: what each request of the control socket does: status, metrics,
 * start, stop, restart, signal, run, reload and shutdown (log is
 * ctllog.c's), who may ask it (SPEC section 7), and the waits of those
 * that answer once their change is done. The connection is control.c's;
 * the engine's events reach the waits through control.c, client by client.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

static ev_tstamp started; /* tendd's, for status */

/* Status. */

/* Room in c for n tasks, none of them yet. */
static void
client_tasks(struct client *c, size_t n)
{
	c->tasks = xreallocarray(c->tasks, n + 1, sizeof(*c->tasks));
	memset(c->tasks, 0, (n + 1) * sizeof(*c->tasks));
	c->ntasks = (int)n;
}

/*
 * Resolve every name of r into c->tasks, "all" as every task, in manifest
 * order; on an unknown name, answer 1.
 */
static bool
client_resolve(struct client *c, const struct proto_request *r)
{
	size_t n, all = 0;
	struct task *const *tasks = supervisor_tasks(&n);
	int k = 0;

	for (int i = 0; i < r->ntasks; i++)
		all += strcmp(r->tasks[i], "all") == 0;
	client_tasks(c, (size_t)r->ntasks - all + all * n);
	for (int i = 0; i < r->ntasks; i++) {
		if (strcmp(r->tasks[i], "all") == 0) {
			for (size_t j = 0; j < n; j++)
				c->tasks[k++] = tasks[j];
		} else if ((c->tasks[k++] = supervisor_find(r->tasks[i])) ==
		           NULL) {
			c->ntasks = 0;
			ctlclient_msg(c, "err", "unknown task '%s'",
			              r->tasks[i]);
			ctlclient_end(c, EXIT_ERROR);
			return false;
		}
	}
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
	for (; ctlclient_wants_more(c) && c->status_next < n;
	     c->status_next++) {
		statusenc_task(&c->out, tasks[c->status_next], now);
		c->unhealthy |= statusenc_unhealthy(tasks[c->status_next]);
	}
	if (c->status_next < n) {
		ctlclient_flush(c);
		return;
	}
	c->ntasks = 0;
	ctlclient_end(c, c->unhealthy ? EXIT_NOT_RUNNING : EXIT_OK);
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
	proto_add_seconds(&c->out, "uptime", now - started);
	proto_add_num(&c->out, "log_dropped", (long long)log_dropped());
	proto_add_num(&c->out, "notify_dropped",
	              (long long)notifysock_dropped());
	proto_end(&c->out);
	c->named = r->ntasks > 0;
	c->wait = WAIT_STATUS;
	status_fill(c);
}

/*
 * Queue the metrics text while less than CLIENT_OUT_LOW is queued, a
 * "text" message a part; once all is queued, the end. Called again as the
 * socket drains. The tasks are those of the request's time: a task a
 * reload adds meanwhile is left out, one it removes leaves c->tasks
 * (verbs_task_gone), so that no series is written twice.
 */
static void
metrics_send(struct client *c)
{
	struct buf text = {0};
	bool done = false;

	while (ctlclient_wants_more(c) && !done) {
		done = metrics_fill(&text, &c->metrics, c->tasks,
		                    (size_t)c->ntasks, clock_now(),
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
		ctlclient_end(c, EXIT_OK);
	else
		ctlclient_flush(c);
}

static void
do_metrics(struct client *c)
{
	size_t n;
	struct task *const *tasks = supervisor_tasks(&n);

	client_tasks(c, n);
	memcpy(c->tasks, tasks, n * sizeof(*tasks));
	memset(&c->metrics, 0, sizeof(c->metrics));
	c->wait = WAIT_METRICS;
	metrics_send(c);
}

/* Waiting for changes to be done. */

/* Whether a start or restart of t is not yet done (SPEC section 8). */
static bool
client_still_starting(const struct client *c, const struct task *t)
{
	if (t->policy.state == STATE_STOPPING)
		return true;
	return t->policy.state == STATE_STARTING &&
	       t->why_serial <= c->stop_serial;
}

static bool
client_wait_over(const struct client *c)
{
	for (int i = 0; i < c->ntasks; i++) {
		const struct task *t = c->tasks[i];
		if (c->wait == WAIT_STOPPED &&
		    task_has_run_before(t, c->stop_serial))
			return false;
		if (c->wait == WAIT_RESTARTED && client_still_starting(c, t))
			return false;
	}
	return true;
}

/* A task's state in words: "waiting (for db, migrate)", "running". */
static void
client_say_state(struct client *c, const struct task *t)
{
	struct buf b = {0};
	struct taskview v;
	const char *name;
	size_t i = 0, n = 0;

	taskview_of(t, clock_now(), &v);
	buf_addf(&b, "%s %s", t->cfg->name, policy_state_name(t->policy.state));
	while ((name = taskview_waiting_for(&v, &i)) != NULL)
		buf_addf(&b, "%s%s", n++ ? ", " : " (for ", name);
	if (n > 0)
		buf_add(&b, ")", 1);
	ctlclient_msg(c, "msg", "%s", b.data);
	buf_free(&b);
}

/*
 * A stop, start or restart is done: each task's state, or why a run the
 * request started (after c->stop_serial) failed: its exit, not ready in
 * time, or no exec.
 */
static void
client_change_done(struct client *c)
{
	bool failed = false;

	for (int i = 0; i < c->ntasks; i++) {
		const struct task *t = c->tasks[i];
		if (c->wait == WAIT_RESTARTED &&
		    t->why_serial > c->stop_serial && t->why_failed != NULL) {
			ctlclient_msg(c, "err", "%s: %s", t->cfg->name,
			              t->why_failed);
			failed = true;
		} else
			client_say_state(c, t);
	}
	ctlclient_end(c, failed ? EXIT_ERROR : EXIT_OK);
}

static void
client_wait_check(struct client *c)
{
	if (c->wait == WAIT_RELOADED &&
	    !supervisor_reload_pending(c->reload_serial)) {
		ctlclient_end(c, EXIT_OK);
		return;
	}
	if ((c->wait == WAIT_STOPPED || c->wait == WAIT_RESTARTED) &&
	    client_wait_over(c))
		client_change_done(c);
}

/* A task changed: answer c if its change is now done. */
void
verbs_tasks_changed(struct client *c)
{
	client_wait_check(c);
}

/*
 * A retired task is about to be freed: c may not wait on it any more; if
 * it did, it is told it was removed.
 */
void
verbs_task_gone(struct client *c, struct task *t)
{
	ctllog_end(c, t, "removed by a reload");
	for (int i = 0; i < c->ntasks; i++) {
		if (c->tasks[i] != t)
			continue;
		/* A status row would be out of place (--json), a line in
		 * metrics too. */
		if (c->wait == WAIT_METRICS) {
			if ((size_t)i < c->metrics.task)
				c->metrics.task--;
		} else if (c->wait != WAIT_STATUS)
			ctlclient_msg(c, "msg", "%s removed by a reload",
			              t->cfg->name);
		else if ((size_t)i < c->status_next)
			c->status_next--;
		/* In order: a status goes on where it was. */
		c->ntasks--;
		memmove(&c->tasks[i], &c->tasks[i + 1],
		        (size_t)(c->ntasks - i) * sizeof(c->tasks[0]));
		i--;
	}
}

/* A run ended: answer "run --wait" with its exit status. */
void
verbs_run_ended(struct client *c, struct run *r)
{
	int code;

	if (c->wait != WAIT_RUN || c->run != r)
		return;
	code = r->exec_failed ? 127 : describe_exit_code(r->wstatus);
	c->run = NULL;
	ctlclient_end(c, code);
}

/* tendd is about to exit: answer c if it is still waiting. */
void
verbs_shutdown_done(struct client *c)
{
	if (c->wait == WAIT_SHUTDOWN)
		ctlclient_end(c, EXIT_OK);
	else if (c->wait == WAIT_RUN) {
		ctlclient_msg(c, "err", "tendd shut down");
		ctlclient_end(c, EXIT_ERROR);
	} else if (c->wait == WAIT_LOG)
		ctllog_end(c, NULL, NULL);
	else if (c->wait != WAIT_NONE)
		client_wait_check(c);
}

/* c read some of its answer: queue more of a long one. */
void
verbs_drained(struct client *c)
{
	if (!ctlclient_wants_more(c))
		return; /* each is small: never over CLIENT_OUT_MAX */
	if (c->wait == WAIT_STATUS)
		status_fill(c);
	else if (c->wait == WAIT_METRICS)
		metrics_send(c);
	else if (c->wait == WAIT_LOG)
		ctllog_more(c, NULL);
}

/* State-changing commands. */

static void
do_start_stop(struct client *c, const struct proto_request *r)
{
	if (r->ntasks == 0) {
		ctlclient_msg(c, "err", "%s needs a task name",
		              proto_cmd_name(r->cmd));
		ctlclient_end(c, EXIT_ERROR);
		return;
	}
	if (!client_resolve(c, r))
		return;
	c->stop_serial = run_serial_last(); /* not a run started after */
	/* A stop goes in reverse order: what others need stops last. */
	if (r->cmd == CMD_STOP)
		order_stop(c->tasks, (size_t)c->ntasks);
	for (int i = 0; r->cmd != CMD_STOP && i < c->ntasks; i++) {
		if (r->cmd == CMD_RESTART)
			task_handle(c->tasks[i], EVENT_STOP);
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
		ctlclient_msg(c, "err", "usage: signal SIG NAME...");
		ctlclient_end(c, EXIT_ERROR);
		return;
	}
	if (!client_resolve(c, r))
		return;
	for (int i = 0; i < c->ntasks; i++) {
		struct task *t = c->tasks[i];
		if (t->runs == NULL) {
			ctlclient_msg(c, "err", "%s has no process",
			              t->cfg->name);
			failed++;
		}
		for (struct run *run = t->runs; run; run = run->next_in_task)
			run_signal(run, signo);
	}
	c->ntasks = 0;
	ctlclient_end(c, failed ? EXIT_ERROR : EXIT_OK);
}

static void
do_run(struct client *c, const struct proto_request *r)
{
	struct task *t;
	struct run *run;
	const char *why;

	if (r->ntasks != 1 || strcmp(r->tasks[0], "all") == 0) {
		ctlclient_msg(c, "err", "usage: run NAME [--wait]");
		ctlclient_end(c, EXIT_ERROR);
		return;
	}
	if (!client_resolve(c, r))
		return;
	t = c->tasks[0];
	c->ntasks = 0;
	if ((run = task_run(t, &why)) == NULL) {
		ctlclient_msg(c, "err", "%s: %s", t->cfg->name, why);
		ctlclient_end(c, EXIT_ERROR);
		return;
	}
	if (!r->wait) {
		ctlclient_msg(c, "msg", "%s started, pid %ld", t->cfg->name,
		              (long)run->pid);
		ctlclient_end(c, EXIT_OK);
		return;
	}
	c->wait = WAIT_RUN;
	c->run = run;
}

static void
reload_say(void *ctx, const char *line)
{
	ctlclient_msg(ctx, "msg", "%s", line);
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
			ctlclient_msg(c, "problem", "%s", errors.items[i].text);
		ctlclient_end(c, EXIT_ERROR);
	} else {
		c->wait = WAIT_RELOADED;
		client_wait_check(c);
	}
	diag_free(&errors);
}

static void
do_log(struct client *c, const struct proto_request *r)
{
	struct task *t;

	if (r->ntasks != 1 || strcmp(r->tasks[0], "all") == 0) {
		ctlclient_msg(c, "err", "usage: log NAME [-n N] [-f]");
		ctlclient_end(c, EXIT_ERROR);
		return;
	}
	if ((t = supervisor_find(r->tasks[0])) == NULL) {
		ctlclient_msg(c, "err", "unknown task '%s'", r->tasks[0]);
		ctlclient_end(c, EXIT_ERROR);
		return;
	}
	ctllog_start(c, t, r);
}

/*
 * Log a state-changing request with who asked, granted or refused: SPEC
 * section 7.
 */
static void
verbs_log_request(const struct client *c, const struct proto_request *r,
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

/* Answer the request line (without its newline) c sent. */
void
verbs_request(struct client *c, const char *line, size_t len)
{
	struct proto_msg m;
	struct proto_request r;
	const char *why;

	if ((why = proto_parse(line, len, &m)) != NULL ||
	    (why = proto_request_decode(&m, &r)) != NULL) {
		ctlclient_msg(c, "err", "bad request: %s", why);
		ctlclient_end(c, EXIT_ERROR);
		proto_msg_free(&m);
		return;
	}
	if (proto_cmd_changes_state(r.cmd)) {
		if (supervisor_shutting_down() && r.cmd != CMD_SHUTDOWN) {
			ctlclient_msg(c, "err", "tendd is shutting down");
			ctlclient_end(c, EXIT_ERROR);
			proto_msg_free(&m);
			return;
		}
		verbs_log_request(c, &r, c->privileged);
		if (!c->privileged) {
			ctlclient_msg(c, "err",
			              "permission denied: uid %u may "
			              "only query",
			              (unsigned)c->peer.uid);
			ctlclient_end(c, EXIT_ERROR);
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
		do_log(c, &r);
		break;
	}
	proto_msg_free(&m);
}

/* The control socket opened: status counts tendd's uptime from now. */
void
verbs_init(void)
{
	started = clock_now();
}
