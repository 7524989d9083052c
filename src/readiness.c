/*
 * readiness.c: when a durable task is ready, and its health (SPEC section
 * 8). A spawn starts the ready phase: ready = none is ready at once (exec
 * succeeded), notify waits for READY=1 from the task's process group, and
 * a probe (tcp, unix, exec) is tried 100 ms after the spawn, then after
 * twice as long each time up to 2 s, until it succeeds or ready_timeout
 * passes. Once ready, a task with a health check is probed every
 * health_interval, counted from the end of the previous probe, so that a
 * task's probes never overlap; health_retries failures in a row fail the
 * run. The engine (task.c) is told through the engine_ops it gave, and
 * tells us when a task leaves starting and running.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "tend.h"

#define READY_PROBE_FIRST_MS 100
#define READY_PROBE_MAX_MS   2000

static void readiness_probe_done(void *data, bool ok, const char *result);

static const struct engine_ops *engine;

void
readiness_init(const struct engine_ops *ops)
{
	engine = ops;
}

/*
 * Whether t is ready (SPEC section 8): a durable task running (past
 * starting), a log-only task done (its run exited 0), a per-request task
 * listening, or up without a listen key.
 */
bool
readiness_ready(const struct task *t)
{
	switch (t->cfg->class) {
	case CLASS_DURABLE:
		return t->policy.state == STATE_RUNNING;
	case CLASS_LOG_ONLY:
		return t->policy.state == STATE_DONE;
	case CLASS_PER_REQUEST:
	default:
		return t->policy.state == STATE_LISTENING ||
		       (t->policy.state == STATE_IDLE &&
		        !t->policy.has_listener);
	}
}

/* t's run failed to be ready or to stay well: the engine stops it. */
static void PRINTFLIKE(2, 3)
    readiness_fail(struct task *t, const char *fmt, ...)
{
	va_list ap;
	char *why;

	va_start(ap, fmt);
	why = xvasprintf(fmt, ap);
	va_end(ap);
	engine->fail_run(t, why);
	free(why);
}

/* Ended: no timer, no probe. Keeps the health and its counts. */
static void
readiness_cancel(struct task *t)
{
	ev_timer_stop(EV_DEFAULT, &t->ready_timer);
	ev_timer_stop(EV_DEFAULT, &t->probe_timer);
	if (t->probe != NULL) {
		probe_cancel(t->probe);
		t->probe = NULL;
	}
}

static void
readiness_arm(ev_timer *w, int64_t ms)
{
	ev_timer_stop(EV_DEFAULT, w);
	ev_timer_set(w, (ev_tstamp)ms / 1000.0, 0.);
	ev_timer_start(EV_DEFAULT, w);
}

/* The probe of the phase t is in: ready while starting, else health. */
static const struct probe_spec *
readiness_spec(const struct task *t)
{
	return t->policy.state == STATE_STARTING ? &t->cfg->ready
	                                         : &t->cfg->health;
}

static void
probe_timer_cb(EV_P_ ev_timer *w, int revents)
{
	struct task *t = w->data;

	(void)EV_A;
	(void)revents;
	if (t->probe != NULL)
		return; /* never two at once */
	t->probe =
	    probe_start(readiness_spec(t), t->cfg, t->cfg->health_timeout_ms,
	                readiness_probe_done, t);
}

static void
ready_timer_cb(EV_P_ ev_timer *w, int revents)
{
	struct task *t = w->data;
	char limit[32];

	(void)EV_A;
	(void)revents;
	if (t->policy.state != STATE_STARTING)
		return;
	describe_duration((double)t->cfg->ready_timeout_ms / 1000.0, limit,
	                  sizeof(limit));
	if (t->probe_result != NULL)
		readiness_fail(t, "not ready within %s (last probe: %s)", limit,
		               t->probe_result);
	else
		readiness_fail(t, "not ready within %s", limit);
}

/* Ready: running, and probed for health from now on. */
static void
readiness_reached(struct task *t)
{
	readiness_cancel(t);
	t->ready_serial = t->runs ? t->runs->serial : 0;
	engine->handle(t, EVENT_READY);
	if (t->policy.state == STATE_RUNNING &&
	    t->cfg->health.kind != PROBE_NONE)
		readiness_arm(&t->probe_timer, t->cfg->health_interval_ms);
}

/* A health probe's answer: a failure in a row too many fails the run. */
static void
readiness_health(struct task *t, bool ok, const char *result)
{
	if (ok) {
		t->health = HEALTH_OK;
		t->health_streak = 0;
	} else {
		t->health = HEALTH_FAILING;
		t->health_streak++;
		t->health_failures++;
		log_msg(LOG_WARNING,
		        "task %s: health check %u of %ld failed: %s",
		        t->cfg->name, t->health_streak, t->cfg->health_retries,
		        result);
		if (t->health_streak >= (unsigned long)t->cfg->health_retries) {
			readiness_fail(
			    t,
			    "unhealthy: %u health checks failed in a "
			    "row, the last: %s",
			    t->health_streak, result);
			return;
		}
	}
	readiness_arm(&t->probe_timer, t->cfg->health_interval_ms);
}

static void
readiness_probe_done(void *data, bool ok, const char *result)
{
	struct task *t = data;

	t->probe = NULL;
	free(t->probe_result);
	t->probe_result = xstrdup(result);
	if (t->policy.state == STATE_RUNNING) {
		readiness_health(t, ok, result);
		return;
	}
	if (t->policy.state != STATE_STARTING)
		return;
	if (ok) {
		readiness_reached(t);
		return;
	}
	t->probe_delay_ms = t->probe_delay_ms * 2 < READY_PROBE_MAX_MS
	                        ? t->probe_delay_ms * 2
	                        : READY_PROBE_MAX_MS;
	readiness_arm(&t->probe_timer, t->probe_delay_ms);
}

/* The ready phase of run r, just spawned: starting until ready. */
static void
readiness_begin(struct task *t, const struct run *r)
{
	double waited = clock_now() - r->started;
	int64_t left = t->cfg->ready_timeout_ms - (int64_t)(waited * 1000);

	readiness_cancel(t);
	readiness_arm(&t->ready_timer, left > 0 ? left : 0);
	if (t->cfg->ready.kind == PROBE_NOTIFY)
		return; /* readiness_notified */
	t->probe_delay_ms = READY_PROBE_FIRST_MS;
	readiness_arm(&t->probe_timer, t->probe_delay_ms);
}

/*
 * Run r of durable task t was spawned (t is starting). The previous run's
 * timers and probe may still be on: a zero backoff respawns within its
 * end, before task.c has told us it left running.
 */
void
readiness_spawned(struct task *t, struct run *r)
{
	readiness_cancel(t);
	ev_init(&t->ready_timer, ready_timer_cb);
	t->ready_timer.data = t;
	ev_init(&t->probe_timer, probe_timer_cb);
	t->probe_timer.data = t;
	t->said_stopping = false;
	free(t->status_text);
	t->status_text = NULL;
	free(t->probe_result);
	t->probe_result = NULL;
	t->health = HEALTH_NONE;
	t->health_streak = 0;
	if (r->exec_failed)
		return; /* its exit comes next */
	if (t->cfg->ready.kind == PROBE_NONE)
		readiness_reached(t);
	else
		readiness_begin(t, r);
}

/* t left starting and running: its probes and timers go. */
void
readiness_stopped(struct task *t)
{
	readiness_cancel(t);
}

/*
 * A reload changed t's policy keys in place (its config is new): probe
 * anew with the new keys, the ready timeout still counted from the spawn.
 */
void
readiness_reconfigured(struct task *t)
{
	if (t->cfg->class != CLASS_DURABLE || t->runs == NULL)
		return;
	if (t->policy.state == STATE_STARTING) {
		if (t->cfg->ready.kind == PROBE_NONE)
			readiness_reached(t); /* exec succeeded: ready */
		else
			readiness_begin(t, t->runs);
		return;
	}
	if (t->policy.state != STATE_RUNNING)
		return;
	readiness_cancel(t);
	if (t->cfg->health.kind == PROBE_NONE) {
		t->health = HEALTH_NONE;
		t->health_streak = 0;
	} else
		readiness_arm(&t->probe_timer, t->cfg->health_interval_ms);
}

/*
 * A message on the notify socket from t's process group (supervisor.c
 * found t). STATUS= is kept, READY=1 ends the ready phase, STOPPING=1 is
 * logged, once a run.
 */
void
readiness_notified(struct task *t, const struct notify_msg *m)
{
	if (m->has_status) {
		free(t->status_text);
		t->status_text = xstrdup(m->status);
	}
	if (m->stopping && !t->said_stopping)
		log_msg(LOG_INFO, "task %s (pid %ld): stopping, it says",
		        t->cfg->name, (long)t->runs->pid);
	t->said_stopping |= m->stopping;
	if (m->ready && t->policy.state == STATE_STARTING)
		readiness_reached(t);
}

void
readiness_free(struct task *t)
{
	readiness_cancel(t);
	free(t->status_text);
	free(t->probe_result);
}
