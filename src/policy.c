/*
 * policy.c: what a task does next, as a pure function of its state, what
 * the user wants, and the event. The engine (task.c) carries out the
 * actions; nothing here touches a process, a clock or the loop, so that
 * every (state, event) pair is unit-tested.
 *
 * Each class has one handler, a switch over states; every state handles or
 * deliberately ignores every event. Events that cannot happen in a state
 * (a backoff timer when no backoff is armed) are ignored, not trusted.
 */
#include "tend.h"

static const char *state_names[] = {
    [STATE_STOPPED] = "stopped", [STATE_RUNNING] = "running",
    [STATE_BACKOFF] = "backoff", [STATE_STOPPING] = "stopping",
    [STATE_DONE] = "done",       [STATE_FAILED] = "failed",
    [STATE_IDLE] = "idle",       [STATE_LISTENING] = "listening",
    [STATE_WAITING] = "waiting", [STATE_STARTING] = "starting",
};

const char *
policy_state_name(enum task_state state)
{
	return state_names[state];
}

/* The n-th consecutive restart waits min(min * 2^(n-1), max). */
int64_t
policy_backoff_delay(int64_t min_ms, int64_t max_ms, unsigned n)
{
	int64_t delay = min_ms;

	for (unsigned i = 1; i < n && delay > 0 && delay < max_ms; i++)
		delay *= 2;
	return delay < max_ms ? delay : max_ms;
}

static struct decision
decide(unsigned actions)
{
	return (struct decision){.actions = actions, .delay_ms = 0};
}

/* A user's stop of a running task: signal it, wait for the exit. */
static struct decision
running_stop(struct task_policy *p)
{
	p->want_up = false;
	p->state = STATE_STOPPING;
	return decide(ACTION_SIGNAL_STOP);
}

/*
 * Stopping, in every class: remember what the user wants meanwhile; once
 * the last run has ended, go down, or up again (a restart): to up with
 * up_actions, or to waiting while an after task is not ready.
 */
static struct decision
stopping_handle(struct task_policy *p, enum task_event ev, enum task_state up,
                unsigned up_actions)
{
	if (ev == EVENT_START || ev == EVENT_STOP)
		p->want_up = ev == EVENT_START;
	if (ev != EVENT_EXIT || p->active > 0)
		return decide(0);
	if (!p->want_up) {
		p->state = STATE_STOPPED;
		return decide(0);
	}
	p->state = p->blocked ? STATE_WAITING : up;
	return decide(p->blocked ? 0 : up_actions);
}

/* A user's start of a task that is down: up, or waiting for its after. */
static struct decision
stopped_start(struct task_policy *p, enum task_state up, unsigned up_actions)
{
	p->want_up = true;
	p->state = p->blocked ? STATE_WAITING : up;
	return decide(p->blocked ? 0 : up_actions);
}

/*
 * Waiting, in every class: released once every after task is ready (a
 * start looks again too).
 */
static struct decision
waiting_handle(struct task_policy *p, enum task_event ev, enum task_state up,
               unsigned up_actions)
{
	if (ev == EVENT_STOP) {
		p->want_up = false;
		p->state = STATE_STOPPED;
	} else if ((ev == EVENT_RELEASE || ev == EVENT_START) && !p->blocked) {
		p->state = up;
		return decide(up_actions);
	}
	return decide(0);
}

/* A durable task's run ended on its own: restart it after the backoff. */
static struct decision
durable_restart(struct task_policy *p, const struct run_end *end)
{
	struct decision d = decide(0);

	if (p->held) { /* a stop waits for the tasks after it: it is down */
		p->want_up = false;
		p->state = STATE_STOPPED;
		return decide(0);
	}
	if (p->essential) { /* no restart: the daemon shuts down */
		p->want_up = false;
		p->state = STATE_STOPPED;
		return decide(ACTION_ESSENTIAL);
	}
	if (end->ran_ms >= p->healthy_after_ms && !end->spawn_failed &&
	    !end->never_ready)
		p->streak = 0;
	p->streak++;
	p->restarts++;
	d.delay_ms = policy_backoff_delay(p->backoff_min_ms, p->backoff_max_ms,
	                                  p->streak);
	if (end->spawn_failed && d.delay_ms < SPAWN_RETRY_MS)
		d.delay_ms = SPAWN_RETRY_MS;
	/*
	 * Even a zero delay is a backoff: the engine restarts at once only a
	 * few times per loop iteration (task.c), so that the loop still polls
	 * while many tasks crash at once.
	 */
	d.actions = ACTION_ARM_BACKOFF;
	p->state = STATE_BACKOFF;
	return d;
}

/*
 * tend stops a durable task that failed to become ready, or its health
 * checks: the run counts as failed once it has ended (durable_restart).
 */
static struct decision
durable_failing(struct task_policy *p)
{
	p->failing = true;
	p->state = STATE_STOPPING;
	return decide(ACTION_SIGNAL_STOP);
}

/*
 * A durable task spawns into starting; the engine sends EVENT_READY once
 * its ready condition holds (at once for ready = none, exec having
 * succeeded), which makes it running.
 */
static struct decision
durable_handle(struct task_policy *p, enum task_event ev,
               const struct run_end *end)
{
	struct decision d;

	switch (p->state) {
	case STATE_STOPPED:
		if (ev != EVENT_START)
			return decide(0);
		p->streak = 0;
		return stopped_start(p, STATE_STARTING, ACTION_SPAWN);
	case STATE_WAITING:
		return waiting_handle(p, ev, STATE_STARTING, ACTION_SPAWN);
	case STATE_STARTING:
	case STATE_RUNNING:
		if (ev == EVENT_STOP)
			return running_stop(p);
		if (ev == EVENT_EXIT)
			return durable_restart(p, end);
		if (ev == EVENT_READY && p->state == STATE_STARTING)
			p->state = STATE_RUNNING;
		else if (ev == EVENT_NOT_READY && p->state == STATE_STARTING)
			return durable_failing(p);
		else if (ev == EVENT_UNHEALTHY && p->state == STATE_RUNNING)
			return durable_failing(p);
		return decide(0);
	case STATE_BACKOFF:
		if (ev == EVENT_START || ev == EVENT_BACKOFF_OVER) {
			p->state = STATE_STARTING;
			return decide(ACTION_CANCEL_BACKOFF | ACTION_SPAWN);
		}
		if (ev == EVENT_STOP) {
			p->want_up = false;
			p->state = STATE_STOPPED;
			return decide(ACTION_CANCEL_BACKOFF);
		}
		return decide(0);
	case STATE_STOPPING:
		if (ev == EVENT_START || ev == EVENT_STOP)
			p->failing = false; /* the user's word wins */
		if (p->failing && ev == EVENT_EXIT && p->active == 0) {
			p->failing = false;
			return durable_restart(p, end);
		}
		d = stopping_handle(p, ev, STATE_STARTING, ACTION_SPAWN);
		if (ev == EVENT_EXIT && p->active == 0 && p->want_up)
			p->streak = 0; /* a user's restart: a new sequence */
		return d;
	default:
		return decide(0);
	}
}

static struct decision
log_only_handle(struct task_policy *p, enum task_event ev,
                const struct run_end *end)
{
	switch (p->state) {
	case STATE_STOPPED:
	case STATE_DONE:
	case STATE_FAILED:
		if (ev != EVENT_START)
			return decide(0);
		return stopped_start(p, STATE_RUNNING, ACTION_SPAWN);
	case STATE_WAITING:
		return waiting_handle(p, ev, STATE_RUNNING, ACTION_SPAWN);
	case STATE_RUNNING:
		if (ev == EVENT_STOP)
			return running_stop(p);
		if (ev != EVENT_EXIT)
			return decide(0);
		p->want_up = false;
		p->state = end->success ? STATE_DONE : STATE_FAILED;
		return decide(!end->success && p->essential ? ACTION_ESSENTIAL
		                                            : 0);
	case STATE_STOPPING:
		return stopping_handle(p, ev, STATE_RUNNING, ACTION_SPAWN);
	default:
		return decide(0);
	}
}

/*
 * Per-request instances are spawned apart from the policy (task_run, the
 * listener); here the task itself is up (idle, or listening once the
 * engine has bound its socket) or down.
 */
static struct decision
per_request_handle(struct task_policy *p, enum task_event ev)
{
	unsigned listen = p->has_listener ? ACTION_LISTEN : 0;
	unsigned unlisten = p->has_listener ? ACTION_UNLISTEN : 0;

	switch (p->state) {
	case STATE_STOPPED:
		if (ev != EVENT_START)
			return decide(0);
		return stopped_start(p, STATE_IDLE, listen);
	case STATE_WAITING:
		return waiting_handle(p, ev, STATE_IDLE, listen);
	case STATE_IDLE:
	case STATE_LISTENING:
		if (ev != EVENT_STOP)
			return decide(0);
		p->want_up = false;
		p->state = p->active > 0 ? STATE_STOPPING : STATE_STOPPED;
		return decide(unlisten |
		              (p->active > 0 ? ACTION_SIGNAL_STOP : 0));
	case STATE_STOPPING:
		return stopping_handle(p, ev, STATE_IDLE, listen);
	default:
		return decide(0);
	}
}

/*
 * Apply ev to p and say what to do. For EVENT_EXIT, end says how the run
 * ended and p->active already excludes it.
 */
struct decision
policy_handle(struct task_policy *p, enum task_event ev,
              const struct run_end *end)
{
	static const struct run_end none = {.success = true};

	if (end == NULL)
		end = &none;
	switch (p->class) {
	case CLASS_DURABLE:
		return durable_handle(p, ev, end);
	case CLASS_LOG_ONLY:
		return log_only_handle(p, ev, end);
	case CLASS_PER_REQUEST:
		return per_request_handle(p, ev);
	}
	return decide(0);
}
