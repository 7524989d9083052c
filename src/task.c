/*
 * task.c: a task's life. task_handle() is the one entry point: it asks the
 * policy (policy.c) what to do with an event and carries the actions out
 * with runs (run.c) and timers. Runs report their end here (a callback
 * given to run_start), where the exit is logged and turned into an
 * EVENT_EXIT. When a durable task is ready, and its health, is
 * readiness.c's; the order of tasks (after) is order.c's, told of every
 * change here. What the layers above must know goes through events.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>

#include "tend.h"

static void task_apply(struct task *, struct decision);
static void task_run_ended(struct task *, struct run *);
static struct decision task_decide(struct task *, enum task_event,
                                   const struct run_end *);
static void task_failed(struct task *, unsigned long serial, const char *fmt,
                        ...) PRINTFLIKE(3, 4);

static const struct listener_ops task_listener_ops = {
    .can_serve = task_can_serve,
    .serve = task_serve,
    .listening = task_listening,
};

static bool shutting_down; /* tendd stops every task: none restarts */

static void
backoff_cb(EV_P_ ev_timer *w, int revents)
{
	(void)EV_A;
	(void)revents;
	task_handle(w->data, EVENT_BACKOFF_OVER);
}

/* The policy's copy of what the config says. */
static void
task_policy_from_config(struct task *t)
{
	const struct task_config *cfg = t->cfg;

	t->policy.essential = cfg->essential;
	t->policy.has_listener = cfg->listen.kind != ENDPOINT_NONE;
	t->policy.backoff_min_ms = cfg->backoff_min_ms;
	t->policy.backoff_max_ms = cfg->backoff_max_ms;
	t->policy.healthy_after_ms = cfg->healthy_after_ms;
}

/* A stopped task of cfg, which it now owns. */
struct task *
task_new(struct task_config *cfg)
{
	struct task *t = xcalloc(1, sizeof(*t));

	t->cfg = cfg;
	t->policy.class = cfg->class;
	t->policy.state = STATE_STOPPED;
	task_policy_from_config(t);
	ev_init(&t->backoff, backoff_cb);
	t->backoff.data = t;
	return t;
}

static void
task_set_config(struct task *t, struct task_config *cfg)
{
	task_config_free(t->cfg);
	free(t->cfg);
	t->cfg = cfg;
	task_policy_from_config(t);
}

/* Whether a per-request task is up: idle, or listening. */
static bool
task_is_serving(const struct task *t)
{
	return t->policy.state == STATE_IDLE ||
	       t->policy.state == STATE_LISTENING;
}

static void
task_add_run(struct task *t, struct run *r)
{
	r->next_in_task = t->runs;
	t->runs = r;
	t->policy.active++;
	t->last_started = r->started;
}

/*
 * The environment a task gets besides its own: NOTIFY_SOCKET for ready =
 * notify (none when tendd has no notify socket, supervisor.c's: the task
 * is then not ready in time, and the log said why).
 */
static const struct spawn_io *
task_spawn_io(const struct task *t, struct spawn_io *io, char **env)
{
	if (t->cfg->ready.kind != PROBE_NOTIFY || notifysock_env() == NULL)
		return NULL;
	env[0] = (char *)notifysock_env();
	env[1] = NULL;
	*io = (struct spawn_io){.in = -1, .out = -1, .extra_env = env};
	return io;
}

/* Spawn the task's process; a failed fork is a failed run. */
static void
task_spawn(struct task *t)
{
	struct spawn_io io;
	char *env[2];
	struct run *r =
	    run_start(t, task_spawn_io(t, &io, env), task_run_ended);
	struct run_end end = {.spawn_failed = true};
	struct decision d;
	char delay[32];
	int err = errno;

	if (r != NULL) {
		task_add_run(t, r);
		if (r->exec_failed) /* known at once: tell a start at once */
			task_failed(t, r->serial, "%s", r->failed);
		if (t->cfg->class == CLASS_DURABLE)
			readiness_spawned(t, r);
		return;
	}
	task_failed(t, run_serial_last() + 1, "cannot spawn: %s",
	            strerror(err));
	t->has_last_exit = false; /* an essential task then exits 1 */
	d = task_decide(t, EVENT_EXIT, &end);
	describe_duration(d.delay_ms / 1000.0, delay, sizeof(delay));
	if (d.actions & ACTION_ARM_BACKOFF)
		log_msg(LOG_ERR, "task %s: cannot spawn: %s; restart %lu in %s",
		        t->cfg->name, strerror(err), t->policy.restarts, delay);
	else
		log_msg(LOG_ERR, "task %s: cannot spawn: %s", t->cfg->name,
		        strerror(err));
	task_apply(t, d);
}

/*
 * Whether a zero backoff may restart at once rather than through the
 * timer: at most RESTARTS_AT_ONCE per loop iteration. Beyond, tasks that
 * die at once would keep libev reaping and us respawning without ever
 * polling (SIGTERM and the control socket would starve); the timer makes
 * the loop poll first.
 */
#define RESTARTS_AT_ONCE 16

static bool
task_restart_now(void)
{
	static unsigned int iteration;
	static int count;

	if (ev_iteration(EV_DEFAULT) != iteration) {
		iteration = ev_iteration(EV_DEFAULT);
		count = 0;
	}
	return count++ < RESTARTS_AT_ONCE;
}

static void
task_apply(struct task *t, struct decision d)
{
	if (d.actions & ACTION_CANCEL_BACKOFF)
		ev_timer_stop(EV_DEFAULT, &t->backoff);
	if (d.actions & ACTION_UNLISTEN)
		task_unlisten(t);
	if (d.actions & ACTION_SIGNAL_STOP)
		for (struct run *r = t->runs; r; r = r->next_in_task)
			run_stop(r, t->cfg->stop_signal,
			         t->cfg->stop_timeout_ms);
	if (d.actions & ACTION_SPAWN)
		task_spawn(t);
	if ((d.actions & ACTION_LISTEN) && t->listener == NULL)
		t->listener = listener_open(t, &task_listener_ops);
	if ((d.actions & ACTION_ARM_BACKOFF) && d.delay_ms == 0 &&
	    task_restart_now()) {
		task_apply(t, task_decide(t, EVENT_BACKOFF_OVER, NULL));
	} else if (d.actions & ACTION_ARM_BACKOFF) {
		ev_timer_set(&t->backoff, (ev_tstamp)d.delay_ms / 1000.0, 0.);
		ev_timer_start(EV_DEFAULT, &t->backoff);
		t->next_start = clock_now() + (double)d.delay_ms / 1000.0;
	}
	if (d.actions & ACTION_ESSENTIAL)
		events_essential_failed(
		    t,
		    t->has_last_exit ? describe_exit_code(t->last_wstatus) : 1);
}

/*
 * What follows any change of t: a durable task that left starting and
 * running has no probes; the tasks ordered around t, and the layers
 * above, are told (t may be freed by the latter).
 */
static void
task_changed(struct task *t)
{
	if (t->cfg->class == CLASS_DURABLE &&
	    t->policy.state != STATE_STARTING &&
	    t->policy.state != STATE_RUNNING)
		readiness_stopped(t);
	order_task_changed(t);
	events_task_changed(t);
}

/* The policy's view of t's order, fresh for every decision. */
static struct decision
task_decide(struct task *t, enum task_event ev, const struct run_end *end)
{
	t->policy.blocked = order_blocked(t);
	t->policy.held = t->stop_pending;
	return policy_handle(&t->policy, ev, end);
}

/* The one entry point for events from outside a run. */
void
task_handle(struct task *t, enum task_event ev)
{
	if (ev == EVENT_START)
		order_cancel_stop(t); /* a start overrides a stop in order */
	task_apply(t, task_decide(t, ev, NULL));
	task_changed(t);
}

/* The level of a run's exit line: SPEC section 1's table. */
static int
task_end_priority(const struct task *t, const struct run *r,
                  const struct run_end *end, bool failing)
{
	if (r->timed_out || failing)
		return LOG_ERR;
	if (r->stopping)
		return LOG_INFO;
	switch (t->cfg->class) {
	case CLASS_LOG_ONLY:
		return end->success ? LOG_INFO : LOG_ERR;
	case CLASS_PER_REQUEST:
		return end->success ? LOG_DEBUG : LOG_ERR;
	case CLASS_DURABLE:
	default:
		return LOG_ERR; /* any exit */
	}
}

/*
 * The exit line of a run. A run whose exec failed names the failed step
 * (from its own copy: see run.c) and no run time: it never ran. A run
 * tend stopped as failed (not ready in time, unhealthy) says why first.
 */
static void
task_log_end(const struct task *t, const struct run *r,
             const struct run_end *end, struct decision d, bool failing)
{
	char status[64], ran[32], after[40] = "", delay[32], why[160] = "";
	const char *how = r->failed;
	int prio = task_end_priority(t, r, end, failing);

	if (!log_wanted(prio))
		return; /* without syslog: a per-request task's every exit */
	if (!r->exec_failed) {
		describe_wait_status(r->wstatus, status, sizeof(status));
		describe_duration(end->ran_ms / 1000.0, ran, sizeof(ran));
		snprintf(after, sizeof(after), " after %s", ran);
		how = status;
	}
	if (failing && t->why_failed != NULL)
		snprintf(why, sizeof(why), "%s, stopped: ", t->why_failed);
	if (r->timed_out)
		log_msg(prio, "task %s (pid %ld): timed out, %s%s",
		        t->cfg->name, (long)r->pid, how, after);
	else if (r->stopping && !failing)
		log_msg(prio, "task %s (pid %ld): stopped, %s%s", t->cfg->name,
		        (long)r->pid, how, after);
	else if (t->cfg->class != CLASS_DURABLE)
		log_msg(prio, "task %s (pid %ld): %s%s", t->cfg->name,
		        (long)r->pid, how, after);
	else if (d.actions & ACTION_ESSENTIAL)
		log_msg(
		    prio,
		    "task %s (pid %ld): %s%s%s; essential task, shutting down",
		    t->cfg->name, (long)r->pid, why, how, after);
	else if (!(d.actions & ACTION_ARM_BACKOFF))
		log_msg(prio,
		        "task %s (pid %ld): %s%s%s; not restarted: it is being "
		        "stopped",
		        t->cfg->name, (long)r->pid, why, how, after);
	else {
		describe_duration(d.delay_ms / 1000.0, delay, sizeof(delay));
		log_msg(prio, "task %s (pid %ld): %s%s%s; restart %lu in %s",
		        t->cfg->name, (long)r->pid, why, how, after,
		        t->policy.restarts, delay);
	}
}

/*
 * Why t's run of serial failed, kept for the start or restart that waits
 * on it (verbs.c) and for the exit line of a run tend stops as failed.
 */
static void
task_failed(struct task *t, unsigned long serial, const char *fmt, ...)
{
	va_list ap;

	free(t->why_failed);
	va_start(ap, fmt);
	t->why_failed = xvasprintf(fmt, ap);
	va_end(ap);
	t->why_serial = serial;
}

/* Readiness or health failed (readiness.c): stop the run, a failed one. */
static void
task_fail_run(struct task *t, const char *why)
{
	if (t->runs == NULL)
		return;
	log_msg(LOG_ERR, "task %s (pid %ld): %s; stopping it", t->cfg->name,
	        (long)t->runs->pid, why);
	task_failed(t, t->runs->serial, "%s", why);
	task_handle(t, t->policy.state == STATE_STARTING ? EVENT_NOT_READY
	                                                 : EVENT_UNHEALTHY);
}

static void
task_remove_run(struct task *t, struct run *r)
{
	struct run **p;

	for (p = &t->runs; *p; p = &(*p)->next_in_task)
		if (*p == r) {
			*p = r->next_in_task;
			t->policy.active--;
			sources_remove(&t->sources, &r->source);
			return;
		}
}

/* A run of t was reaped: log it, count it, and let the policy decide. */
static void
task_run_ended(struct task *t, struct run *r)
{
	struct run_end end = {
	    .success = !r->exec_failed && WIFEXITED(r->wstatus) &&
	               WEXITSTATUS(r->wstatus) == 0,
	    .ran_ms = (int64_t)((clock_now() - r->started) * 1000),
	    .never_ready =
	        t->cfg->class == CLASS_DURABLE && t->ready_serial != r->serial,
	};
	bool failing = t->policy.failing;
	char how[64];
	struct decision d;

	task_remove_run(t, r);
	end.success = end.success && !r->timed_out;
	t->has_last_exit = true;
	t->last_wstatus = r->exec_failed ? (127 << 8) : r->wstatus;
	t->last_exec_failed = r->exec_failed;
	if (t->cfg->class == CLASS_PER_REQUEST && !end.success &&
	    (!r->stopping || r->timed_out))
		t->failures++;
	if (t->cfg->class != CLASS_PER_REQUEST && !failing && !r->stopping &&
	    (!end.success || t->cfg->class == CLASS_DURABLE))
		task_failed(t, r->serial, "%s",
		            r->exec_failed ? r->failed
		                           : describe_wait_status(
		                                 r->wstatus, how, sizeof(how)));
	d = task_decide(t, EVENT_EXIT, &end);
	task_log_end(t, r, &end, d, failing);
	events_run_ended(r);
	task_apply(t, d);
	if (t->listener != NULL)
		listener_resume(t->listener); /* below the cap again */
	task_changed(t);
}

/*
 * Spawn one instance for "tendctl run": a per-request instance, or the one
 * run of a log-only task that is not running. Returns the run, or NULL and
 * why not.
 */
struct run *
task_run(struct task *t, const char **why)
{
	struct task_policy *p = &t->policy;

	switch (t->cfg->class) {
	case CLASS_PER_REQUEST:
		if (!task_is_serving(t)) {
			*why = t->policy.state == STATE_WAITING
			           ? "waiting for its after tasks to be ready"
			           : "task is stopped";
			return NULL;
		}
		return task_run_instance(t, NULL, why);
	case CLASS_LOG_ONLY:
		if (p->state == STATE_RUNNING || p->state == STATE_STOPPING) {
			*why = "task is already running";
			return NULL;
		}
		task_handle(t, EVENT_START);
		if (t->policy.state == STATE_WAITING)
			*why = "waiting for its after tasks to be ready";
		else if (t->runs == NULL)
			*why = "cannot spawn (see the log)";
		return t->runs;
	case CLASS_DURABLE:
	default:
		*why = "run takes a per-request or log-only task; use start";
		return NULL;
	}
}

/*
 * Spawn one instance of a per-request task for a connection (io). Returns
 * the run, or NULL with errno set and nothing counted: the listener keeps
 * the connection and tries again once tendd has the fds.
 */
struct run *
task_serve(struct task *t, const struct spawn_io *io)
{
	struct run *r = run_start(t, io, task_run_ended);

	if (r != NULL) {
		t->requests++;
		task_add_run(t, r);
		if (io != NULL && io->source != NULL) {
			r->source = *io->source;
			sources_add(&t->sources, &r->source);
		}
	}
	return r;
}

/*
 * Spawn one instance of a per-request task for tendctl run (io NULL) or a
 * connection. Returns the run, or NULL and why not: a failed request.
 */
struct run *
task_run_instance(struct task *t, const struct spawn_io *io, const char **why)
{
	struct run *r;

	if ((r = task_serve(t, io)) == NULL) {
		*why = strerror(errno);
		log_msg(LOG_ERR, "task %s: cannot spawn an instance: %s",
		        t->cfg->name, *why);
		t->requests++;
		t->failures++;
	}
	return r;
}

/* Whether a per-request task may take a connection now: up, below the cap. */
bool
task_can_serve(const struct task *t)
{
	return task_is_serving(t) &&
	       t->policy.active < (unsigned long)t->cfg->max_instances;
}

/* Whether t still has a run that started no later than run serial. */
bool
task_has_run_before(const struct task *t, unsigned long serial)
{
	for (const struct run *r = t->runs; r; r = r->next_in_task)
		if (r->serial <= serial)
			return true;
	return false;
}

/* The listener has (or no longer has) its socket: listening, or idle. */
void
task_listening(struct task *t, bool bound)
{
	if (bound && t->policy.state == STATE_IDLE) {
		t->policy.state = STATE_LISTENING;
		order_task_changed(t); /* ready now: release the tasks after */
	} else if (!bound && t->policy.state == STATE_LISTENING)
		t->policy.state = STATE_IDLE;
}

/* Whether the user stopped t (or it never started): stop until start. */
static bool
task_stopped_by_user(const struct task *t)
{
	return !t->policy.want_up && (t->policy.state == STATE_STOPPED ||
	                              t->policy.state == STATE_STOPPING);
}

/*
 * Whether a reload whose config_diff() is changes restarts t, rather than
 * updating it in place: new process keys while t is up, or a new class
 * unless the user stopped t. A task that is down (stopped, done, failed)
 * takes new process keys and stays down.
 */
bool
task_restarts_on(const struct task *t, unsigned changes)
{
	if (changes & CONFIG_CLASS)
		return !task_stopped_by_user(t);
	return (changes & (CONFIG_PROCESS | CONFIG_LISTEN)) &&
	       t->policy.want_up;
}

/* Close t's listener, if any (a reload moves it). */
void
task_unlisten(struct task *t)
{
	listener_close(t->listener);
	t->listener = NULL;
}

/*
 * A reload gave t cfg, of the same class; changes says what differs.
 * Policy keys apply in place: a backoff already armed keeps its delay, a
 * new max_instances applies at once. A durable or log-only task that
 * restarts is stopped with its old stop keys, then started with the new
 * ones. A per-request task never disturbs its running instances: the next
 * ones get the new keys, and its listener is reopened only when listen
 * changed.
 */
void
task_reconfigure(struct task *t, struct task_config *cfg, unsigned changes)
{
	bool restart = task_restarts_on(t, changes) && !shutting_down;

	if (t->cfg->class == CLASS_PER_REQUEST) {
		if (changes & CONFIG_LISTEN)
			task_unlisten(t); /* by the old path */
		task_set_config(t, cfg);
		if ((changes & CONFIG_LISTEN_FILE) && t->listener != NULL)
			listener_restamp(t->listener);
		if (t->listener == NULL && t->policy.has_listener &&
		    task_is_serving(t))
			t->listener = listener_open(t, &task_listener_ops);
		else if (t->listener != NULL)
			listener_resume(t->listener);
		task_handle(t, EVENT_RELEASE); /* its after may have changed */
		return;
	}
	if (restart)
		task_handle(t, EVENT_STOP);
	task_set_config(t, cfg);
	if (restart)
		task_handle(t, EVENT_START);
	else {
		readiness_reconfigured(t);
		task_handle(t, EVENT_RELEASE); /* its after may have changed */
	}
}

/* A second SIGTERM: no more waiting for anyone. */
void
task_kill_now(struct task *t)
{
	for (struct run *r = t->runs; r; r = r->next_in_task)
		run_signal(r, SIGKILL);
}

/* What readiness.c and order.c report up through. */
static const struct engine_ops task_engine_ops = {
    .handle = task_handle,
    .fail_run = task_fail_run,
};

/* Before the first task: give the layers below the engine its ops. */
void
task_init(void)
{
	readiness_init(&task_engine_ops);
	order_init(&task_engine_ops);
}

void
task_free(struct task *t)
{
	ev_timer_stop(EV_DEFAULT, &t->backoff);
	readiness_free(t);
	order_unlink(t);
	free(t->why_failed);
	listener_close(t->listener);
	logring_free(&t->ring);
	sources_free(&t->sources);
	task_config_free(t->cfg);
	free(t->cfg);
	free(t);
}

/* tendd is shutting down: a reload from now on restarts nothing. */
void
task_set_shutdown(void)
{
	shutting_down = true;
}
