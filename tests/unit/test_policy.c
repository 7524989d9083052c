/*
 * test_policy.c: the task state machine's decisions (policy.c), over every
 * (class, state, event) triple, and the backoff arithmetic of SPEC 1; the
 * states waiting and starting, and failed readiness and health, of SPEC 8.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <time.h>
#include <cmocka.h>

#include "tend.h"

/* The defaults of tend.ini(5): backoff_min 1s, backoff_max 60s, 300s. */
#define MIN_MS     1000
#define MAX_MS     (60 * 1000)
#define HEALTHY_MS (300 * 1000)

#define NCLASSES 3
#define NSTATES  10
#define NEVENTS  8

/* A new state or event must come with its rows. */
_Static_assert(STATE_STARTING + 1 == NSTATES, "a state without rows");
_Static_assert(EVENT_UNHEALTHY + 1 == NEVENTS, "an event without rows");

static const char *const class_names[NCLASSES] = {
    [CLASS_DURABLE] = "durable",
    [CLASS_LOG_ONLY] = "log-only",
    [CLASS_PER_REQUEST] = "per-request",
};

static const char *const state_names[NSTATES] = {
    [STATE_STOPPED] = "STOPPED", [STATE_RUNNING] = "RUNNING",
    [STATE_BACKOFF] = "BACKOFF", [STATE_STOPPING] = "STOPPING",
    [STATE_DONE] = "DONE",       [STATE_FAILED] = "FAILED",
    [STATE_IDLE] = "IDLE",       [STATE_LISTENING] = "LISTENING",
    [STATE_WAITING] = "WAITING", [STATE_STARTING] = "STARTING",
};

static const char *const event_names[NEVENTS] = {
    [EVENT_START] = "START",         [EVENT_STOP] = "STOP",
    [EVENT_EXIT] = "EXIT",           [EVENT_BACKOFF_OVER] = "BACKOFF_OVER",
    [EVENT_RELEASE] = "RELEASE",     [EVENT_READY] = "READY",
    [EVENT_NOT_READY] = "NOT_READY", [EVENT_UNHEALTHY] = "UNHEALTHY",
};

/* A quick failed run: the one EVENT_EXIT of the table. */
static const struct run_end quick_failure = {.success = false, .ran_ms = 10};

/* A task of class in state, with the default policy keys. */
static struct task_policy
policy_new(enum task_class class, enum task_state state, bool want_up)
{
	return (struct task_policy){
	    .class = class,
	    .state = state,
	    .want_up = want_up,
	    .backoff_min_ms = MIN_MS,
	    .backoff_max_ms = MAX_MS,
	    .healthy_after_ms = HEALTHY_MS,
	};
}

/* Short names, so that one transition of the table fits on one line. */
#define DURABLE     CLASS_DURABLE
#define LOG_ONLY    CLASS_LOG_ONLY
#define PER_REQUEST CLASS_PER_REQUEST
#define STOPPED     STATE_STOPPED
#define RUNNING     STATE_RUNNING
#define BACKOFF     STATE_BACKOFF
#define STOPPING    STATE_STOPPING
#define DONE        STATE_DONE
#define FAILED      STATE_FAILED
#define IDLE        STATE_IDLE
#define LISTENING   STATE_LISTENING
#define WAITING     STATE_WAITING
#define STARTING    STATE_STARTING
#define START       EVENT_START
#define STOP        EVENT_STOP
#define EXIT        EVENT_EXIT
#define OVER        EVENT_BACKOFF_OVER
#define RELEASE     EVENT_RELEASE
#define READY       EVENT_READY
#define NOT_READY   EVENT_NOT_READY
#define UNHEALTHY   EVENT_UNHEALTHY
#define CANCEL      ACTION_CANCEL_BACKOFF
#define SIGNAL      ACTION_SIGNAL_STOP
#define SPAWN       ACTION_SPAWN
#define ARM         ACTION_ARM_BACKOFF

/* The flags of a task before and after a transition. */
#define UP   (1u << 0) /* want_up */
#define BLK  (1u << 1) /* blocked: some after task is not ready */
#define FAIL (1u << 2) /* failing: tend stops the run as a failed one */

/*
 * One transition. Before it the task has the flags in, streak 2, restarts
 * 0, active 0, no listener, not essential; EXIT is quick_failure, other
 * events get no run_end (NULL), as task_handle() passes them. After it,
 * out holds want_up and failing (blocked is the engine's, never written).
 *
 * A row's triple behaves the same whether blocked or not, unless a second
 * row with the other blocked says otherwise. A (class, state, event) triple
 * with no row at all must be ignored, with any flags and any run_end: that
 * is the rule of test_unlisted_triples_are_ignored, so that no triple goes
 * unchecked. Expected values follow SPEC sections 1, 6 and 8.
 */
struct transition {
	enum task_class class;
	enum task_state state;
	enum task_event event;
	unsigned in;
	enum task_state next;
	unsigned actions;
	unsigned out;
	unsigned streak;
	int64_t delay_ms;
	unsigned long restarts;
};

static const struct transition transitions[] = {
    /* class, state, event, in -> state, actions, out, streak, delay... */
    {DURABLE, STOPPED, START, 0, STARTING, SPAWN, UP, 0, 0, 0},
    {DURABLE, STOPPED, START, BLK, WAITING, 0, UP, 0, 0, 0},
    {DURABLE, WAITING, STOP, UP | BLK, STOPPED, 0, 0, 2, 0, 0},
    {DURABLE, WAITING, RELEASE, UP, STARTING, SPAWN, UP, 2, 0, 0},
    {DURABLE, WAITING, RELEASE, UP | BLK, WAITING, 0, UP, 2, 0, 0},
    {DURABLE, WAITING, START, UP, STARTING, SPAWN, UP, 2, 0, 0},
    {DURABLE, WAITING, START, UP | BLK, WAITING, 0, UP, 2, 0, 0},
    {DURABLE, STARTING, STOP, UP, STOPPING, SIGNAL, 0, 2, 0, 0},
    {DURABLE, STARTING, EXIT, UP, BACKOFF, ARM, UP, 3, 4000, 1},
    {DURABLE, STARTING, READY, UP, RUNNING, 0, UP, 2, 0, 0},
    {DURABLE, STARTING, NOT_READY, UP, STOPPING, SIGNAL, UP | FAIL, 2, 0, 0},
    {DURABLE, RUNNING, STOP, UP, STOPPING, SIGNAL, 0, 2, 0, 0},
    {DURABLE, RUNNING, EXIT, UP, BACKOFF, ARM, UP, 3, 4000, 1},
    {DURABLE, RUNNING, UNHEALTHY, UP, STOPPING, SIGNAL, UP | FAIL, 2, 0, 0},
    {DURABLE, BACKOFF, START, UP, STARTING, CANCEL | SPAWN, UP, 2, 0, 0},
    {DURABLE, BACKOFF, STOP, UP, STOPPED, CANCEL, 0, 2, 0, 0},
    /* A dependency that restarts later does not hold it (SPEC 8). */
    {DURABLE, BACKOFF, OVER, UP, STARTING, CANCEL | SPAWN, UP, 2, 0, 0},
    {DURABLE, BACKOFF, OVER, UP | BLK, STARTING, CANCEL | SPAWN, UP, 2, 0, 0},
    {DURABLE, STOPPING, START, 0, STOPPING, 0, UP, 2, 0, 0},
    {DURABLE, STOPPING, START, UP | FAIL, STOPPING, 0, UP, 2, 0, 0},
    {DURABLE, STOPPING, STOP, 0, STOPPING, 0, 0, 2, 0, 0},
    {DURABLE, STOPPING, STOP, UP, STOPPING, 0, 0, 2, 0, 0},
    {DURABLE, STOPPING, STOP, UP | FAIL, STOPPING, 0, 0, 2, 0, 0},
    {DURABLE, STOPPING, EXIT, 0, STOPPED, 0, 0, 2, 0, 0},
    /* A user's restart: a new sequence, after its after tasks. */
    {DURABLE, STOPPING, EXIT, UP, STARTING, SPAWN, UP, 0, 0, 0},
    {DURABLE, STOPPING, EXIT, UP | BLK, WAITING, 0, UP, 0, 0, 0},
    /* Not ready in time, or unhealthy: a failed run, backed off. */
    {DURABLE, STOPPING, EXIT, UP | FAIL, BACKOFF, ARM, UP, 3, 4000, 1},
    {DURABLE, STOPPING, EXIT, UP | FAIL | BLK, BACKOFF, ARM, UP, 3, 4000, 1},

    {LOG_ONLY, STOPPED, START, 0, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, STOPPED, START, BLK, WAITING, 0, UP, 2, 0, 0},
    {LOG_ONLY, DONE, START, 0, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, DONE, START, BLK, WAITING, 0, UP, 2, 0, 0},
    {LOG_ONLY, FAILED, START, 0, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, FAILED, START, BLK, WAITING, 0, UP, 2, 0, 0},
    {LOG_ONLY, WAITING, STOP, UP | BLK, STOPPED, 0, 0, 2, 0, 0},
    {LOG_ONLY, WAITING, RELEASE, UP, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, WAITING, RELEASE, UP | BLK, WAITING, 0, UP, 2, 0, 0},
    {LOG_ONLY, WAITING, START, UP, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, WAITING, START, UP | BLK, WAITING, 0, UP, 2, 0, 0},
    {LOG_ONLY, RUNNING, STOP, UP, STOPPING, SIGNAL, 0, 2, 0, 0},
    {LOG_ONLY, RUNNING, EXIT, UP, FAILED, 0, 0, 2, 0, 0},
    {LOG_ONLY, STOPPING, START, 0, STOPPING, 0, UP, 2, 0, 0},
    {LOG_ONLY, STOPPING, STOP, 0, STOPPING, 0, 0, 2, 0, 0},
    {LOG_ONLY, STOPPING, STOP, UP, STOPPING, 0, 0, 2, 0, 0},
    {LOG_ONLY, STOPPING, EXIT, 0, STOPPED, 0, 0, 2, 0, 0},
    {LOG_ONLY, STOPPING, EXIT, UP, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, STOPPING, EXIT, UP | BLK, WAITING, 0, UP, 2, 0, 0},

    {PER_REQUEST, STOPPED, START, 0, IDLE, 0, UP, 2, 0, 0},
    {PER_REQUEST, STOPPED, START, BLK, WAITING, 0, UP, 2, 0, 0},
    {PER_REQUEST, WAITING, STOP, UP | BLK, STOPPED, 0, 0, 2, 0, 0},
    {PER_REQUEST, WAITING, RELEASE, UP, IDLE, 0, UP, 2, 0, 0},
    {PER_REQUEST, WAITING, RELEASE, UP | BLK, WAITING, 0, UP, 2, 0, 0},
    {PER_REQUEST, WAITING, START, UP, IDLE, 0, UP, 2, 0, 0},
    {PER_REQUEST, WAITING, START, UP | BLK, WAITING, 0, UP, 2, 0, 0},
    {PER_REQUEST, IDLE, STOP, UP, STOPPED, 0, 0, 2, 0, 0},
    {PER_REQUEST, LISTENING, STOP, UP, STOPPED, 0, 0, 2, 0, 0},
    {PER_REQUEST, STOPPING, START, 0, STOPPING, 0, UP, 2, 0, 0},
    {PER_REQUEST, STOPPING, STOP, 0, STOPPING, 0, 0, 2, 0, 0},
    {PER_REQUEST, STOPPING, STOP, UP, STOPPING, 0, 0, 2, 0, 0},
    {PER_REQUEST, STOPPING, EXIT, 0, STOPPED, 0, 0, 2, 0, 0},
    {PER_REQUEST, STOPPING, EXIT, UP, IDLE, 0, UP, 2, 0, 0},
    {PER_REQUEST, STOPPING, EXIT, UP | BLK, WAITING, 0, UP, 2, 0, 0},
};

#define NTRANSITIONS (sizeof(transitions) / sizeof(*transitions))

/* A task of class in state with the flags in, streak 2. */
static struct task_policy
policy_flagged(enum task_class class, enum task_state state, unsigned in)
{
	struct task_policy p = policy_new(class, state, in & UP);

	p.blocked = in & BLK;
	p.failing = in & FAIL;
	p.streak = 2;
	return p;
}

/*
 * Apply one row of the table, with blocked as given (the row's own, or
 * its other), and compare everything the policy may write.
 */
static void
check_transition(const struct transition *t, bool blocked)
{
	unsigned in = (t->in & ~BLK) | (blocked ? BLK : 0);
	struct task_policy p = policy_flagged(t->class, t->state, in);
	const struct run_end *end =
	    t->event == EVENT_EXIT ? &quick_failure : NULL;
	struct decision d;
	const char *c = class_names[t->class];
	const char *s = state_names[t->state];
	const char *e = event_names[t->event];

	d = policy_handle(&p, t->event, end);
	if (p.state != t->next)
		fail_msg("%s %s %s in %#x: state %s, want %s", c, s, e, in,
		         state_names[p.state], state_names[t->next]);
	if (d.actions != t->actions)
		fail_msg("%s %s %s in %#x: actions %#x, want %#x", c, s, e, in,
		         d.actions, t->actions);
	if (p.want_up != !!(t->out & UP))
		fail_msg("%s %s %s in %#x: want_up %d, want %d", c, s, e, in,
		         p.want_up, !!(t->out & UP));
	if (p.failing != !!(t->out & FAIL))
		fail_msg("%s %s %s in %#x: failing %d, want %d", c, s, e, in,
		         p.failing, !!(t->out & FAIL));
	if (p.streak != t->streak)
		fail_msg("%s %s %s in %#x: streak %u, want %u", c, s, e, in,
		         p.streak, t->streak);
	if ((d.actions & ACTION_ARM_BACKOFF) && d.delay_ms != t->delay_ms)
		fail_msg("%s %s %s in %#x: delay %lld, want %lld", c, s, e, in,
		         (long long)d.delay_ms, (long long)t->delay_ms);
	if (p.restarts != t->restarts)
		fail_msg("%s %s %s in %#x: restarts %lu, want %lu", c, s, e, in,
		         p.restarts, t->restarts);
	/* What the policy only reads stays as it was. */
	if (p.class != t->class || p.essential || p.has_listener ||
	    p.active != 0 || p.blocked != blocked ||
	    p.backoff_min_ms != MIN_MS || p.backoff_max_ms != MAX_MS ||
	    p.healthy_after_ms != HEALTHY_MS)
		fail_msg("%s %s %s in %#x: a read-only field changed", c, s, e,
		         in);
}

/* Has the table a row like t but with the other blocked? */
static bool
has_other_blocked_row(const struct transition *t)
{
	for (size_t i = 0; i < NTRANSITIONS; i++) {
		const struct transition *o = &transitions[i];

		if (o->class == t->class && o->state == t->state &&
		    o->event == t->event && o->in == (t->in ^ BLK))
			return true;
	}
	return false;
}

static void
test_every_row(void **state)
{
	(void)state;
	for (size_t i = 0; i < NTRANSITIONS; i++) {
		const struct transition *t = &transitions[i];
		bool blocked = t->in & BLK;

		check_transition(t, blocked);
		if (!has_other_blocked_row(t))
			check_transition(t, !blocked);
	}
}

/* Has the (class, state, event) triple a row of its own? */
static bool
is_listed(enum task_class class, enum task_state state, enum task_event event)
{
	for (size_t i = 0; i < NTRANSITIONS; i++)
		if (transitions[i].class == class &&
		    transitions[i].state == state &&
		    transitions[i].event == event)
			return true;
	return false;
}

/* An ignored event, with flags in and end: nothing changes. */
static void
check_ignored(enum task_class class, enum task_state state,
              enum task_event event, unsigned in, const struct run_end *end)
{
	struct task_policy p = policy_flagged(class, state, in);
	struct decision d = policy_handle(&p, event, end);

	if (d.actions != 0 || p.state != state || p.want_up != !!(in & UP) ||
	    p.blocked != !!(in & BLK) || p.failing != !!(in & FAIL) ||
	    p.streak != 2 || p.restarts != 0)
		fail_msg("%s %s %s in %#x: not ignored: state %s, actions "
		         "%#x, want_up %d, failing %d, streak %u, restarts %lu",
		         class_names[class], state_names[state],
		         event_names[event], in, state_names[p.state],
		         d.actions, p.want_up, p.failing, p.streak, p.restarts);
}

/*
 * Every (class, state, event) triple without a row is ignored, whatever
 * the flags, and whatever run_end comes with it.
 */
static void
test_unlisted_triples_are_ignored(void **state)
{
	static const struct run_end ends[] = {
	    {.success = true, .ran_ms = 0},
	    {.success = false, .ran_ms = 10},
	    {.success = false, .ran_ms = HEALTHY_MS},
	    {.spawn_failed = true},
	};
	unsigned checked = 0;

	(void)state;
	for (int c = 0; c < NCLASSES; c++)
		for (int s = 0; s < NSTATES; s++)
			for (int e = 0; e < NEVENTS; e++) {
				if (is_listed(c, s, e))
					continue;
				for (unsigned in = 0; in <= (UP | BLK | FAIL);
				     in++) {
					check_ignored(c, s, e, in, NULL);
					for (size_t j = 0;
					     j < sizeof(ends) / sizeof(*ends);
					     j++)
						check_ignored(c, s, e, in,
						              &ends[j]);
				}
				checked++;
			}
	assert_true(checked > 0);
}

static void
test_state_names(void **state)
{
	(void)state;
	assert_string_equal(policy_state_name(STATE_STOPPED), "stopped");
	assert_string_equal(policy_state_name(STATE_RUNNING), "running");
	assert_string_equal(policy_state_name(STATE_BACKOFF), "backoff");
	assert_string_equal(policy_state_name(STATE_STOPPING), "stopping");
	assert_string_equal(policy_state_name(STATE_DONE), "done");
	assert_string_equal(policy_state_name(STATE_FAILED), "failed");
	assert_string_equal(policy_state_name(STATE_IDLE), "idle");
	assert_string_equal(policy_state_name(STATE_LISTENING), "listening");
	assert_string_equal(policy_state_name(STATE_WAITING), "waiting");
	assert_string_equal(policy_state_name(STATE_STARTING), "starting");
}

/* SPEC 1: with defaults 1s, 2s, 4s, ... 32s, 60s, 60s, .... */
static const int64_t default_delays[] = {
    1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000,
};

#define NDELAYS (sizeof(default_delays) / sizeof(*default_delays))

static void
test_backoff_delay_defaults(void **state)
{
	(void)state;
	for (unsigned n = 1; n <= NDELAYS; n++)
		assert_int_equal(policy_backoff_delay(MIN_MS, MAX_MS, n),
		                 default_delays[n - 1]);
	assert_int_equal(policy_backoff_delay(MIN_MS, MAX_MS, 100), MAX_MS);
	assert_int_equal(policy_backoff_delay(MIN_MS, MAX_MS, UINT_MAX),
	                 MAX_MS);
}

static void
test_backoff_delay_other_bounds(void **state)
{
	(void)state;
	/* Not a power of two of min: the cap is max itself. */
	assert_int_equal(policy_backoff_delay(300, 1000, 1), 300);
	assert_int_equal(policy_backoff_delay(300, 1000, 2), 600);
	assert_int_equal(policy_backoff_delay(300, 1000, 3), 1000);
	assert_int_equal(policy_backoff_delay(300, 1000, 4), 1000);
	/* min == max: always that. */
	assert_int_equal(policy_backoff_delay(5000, 5000, 1), 5000);
	assert_int_equal(policy_backoff_delay(5000, 5000, 9), 5000);
	/* The longest durations a manifest takes do not overflow. */
	assert_int_equal(policy_backoff_delay(1, DURATION_MAX_MS, UINT_MAX),
	                 DURATION_MAX_MS);
	assert_int_equal(
	    policy_backoff_delay(DURATION_MAX_MS, DURATION_MAX_MS, UINT_MAX),
	    DURATION_MAX_MS);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* backoff_min = 0 is 0 for any n, without counting up to n. */
static void
test_backoff_delay_zero_min(void **state)
{
	double t0;

	(void)state;
	t0 = now_s();
	assert_int_equal(policy_backoff_delay(0, MAX_MS, 1), 0);
	assert_int_equal(policy_backoff_delay(0, MAX_MS, 2), 0);
	assert_int_equal(policy_backoff_delay(0, MAX_MS, UINT_MAX), 0);
	assert_int_equal(policy_backoff_delay(0, 0, UINT_MAX), 0);
	assert_true(now_s() - t0 < 0.5);
}

/* p is starting: it becomes ready, and so running. */
static void
becomes_ready(struct task_policy *p)
{
	struct decision d;

	assert_int_equal(p->state, STATE_STARTING);
	d = policy_handle(p, EVENT_READY, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p->state, STATE_RUNNING);
	assert_true(p->want_up);
}

/* A durable task started from stopped: starting, streak 0. */
static struct task_policy
durable_starting(int64_t min_ms)
{
	struct task_policy p = policy_new(CLASS_DURABLE, STATE_STOPPED, false);
	struct decision d = policy_handle(&p, EVENT_START, NULL);

	p.backoff_min_ms = min_ms;
	assert_int_equal(d.actions, ACTION_SPAWN);
	assert_int_equal(p.state, STATE_STARTING);
	assert_true(p.want_up);
	assert_int_equal(p.streak, 0);
	return p;
}

/* A durable task started from stopped, and ready: running, streak 0. */
static struct task_policy
durable_running(int64_t min_ms)
{
	struct task_policy p = durable_starting(min_ms);

	becomes_ready(&p);
	return p;
}

/* p is running; a run ends as end; it must back off delay_ms. */
static void
exit_backs_off(struct task_policy *p, const struct run_end *end,
               int64_t delay_ms)
{
	unsigned long restarts = p->restarts;
	struct decision d;

	assert_int_equal(p->state, STATE_RUNNING);
	d = policy_handle(p, EVENT_EXIT, end);
	assert_int_equal(d.actions, ACTION_ARM_BACKOFF);
	assert_int_equal(d.delay_ms, delay_ms);
	assert_int_equal(p->state, STATE_BACKOFF);
	assert_true(p->want_up);
	assert_int_equal(p->restarts, restarts + 1);

	d = policy_handle(p, EVENT_BACKOFF_OVER, NULL);
	assert_true(d.actions & ACTION_SPAWN);
	assert_false(d.actions & (ACTION_ARM_BACKOFF | ACTION_SIGNAL_STOP |
	                          ACTION_ESSENTIAL));
	assert_int_equal(p->state, STATE_STARTING);
	assert_int_equal(p->restarts, restarts + 1);
	becomes_ready(p);
}

static void
test_backoff_sequence_by_exits(void **state)
{
	struct task_policy p = durable_running(MIN_MS);
	struct run_end end = {.success = false, .ran_ms = HEALTHY_MS - 1};

	(void)state;
	for (size_t i = 0; i < NDELAYS; i++)
		exit_backs_off(&p, &end, default_delays[i]);
	assert_int_equal(p.restarts, NDELAYS);
}

static void
test_healthy_run_resets_backoff(void **state)
{
	struct task_policy p = durable_running(MIN_MS);
	struct run_end quick = {.success = false, .ran_ms = 10};
	struct run_end healthy = {.success = false, .ran_ms = HEALTHY_MS};
	struct run_end long_run = {.success = false, .ran_ms = 86400000};

	(void)state;
	exit_backs_off(&p, &quick, 1000);
	exit_backs_off(&p, &quick, 2000);
	exit_backs_off(&p, &quick, 4000);
	exit_backs_off(&p, &quick, 8000);
	exit_backs_off(&p, &healthy, 1000);
	exit_backs_off(&p, &quick, 2000);
	exit_backs_off(&p, &quick, 4000);
	exit_backs_off(&p, &long_run, 1000);
	exit_backs_off(&p, &long_run, 1000);
	assert_int_equal(p.restarts, 9);
}

/*
 * A run that never became ready never resets the backoff, however long it
 * lasted (a ready_timeout above healthy_after): it did not run healthy.
 */
static void
test_never_ready_run_keeps_backoff(void **state)
{
	struct task_policy p = durable_running(MIN_MS);
	struct run_end quick = {.success = false, .ran_ms = 10};
	struct run_end unready = {.ran_ms = 86400000, .never_ready = true};

	(void)state;
	exit_backs_off(&p, &quick, 1000);
	exit_backs_off(&p, &unready, 2000);
	exit_backs_off(&p, &unready, 4000);
	assert_int_equal(p.restarts, 3);
}

/* SPEC 1: any exit of a durable task, even status 0, is restarted. */
static void
test_durable_success_is_restarted(void **state)
{
	struct task_policy p = durable_running(MIN_MS);
	struct run_end success = {.success = true, .ran_ms = 10};

	(void)state;
	exit_backs_off(&p, &success, 1000);
	exit_backs_off(&p, &success, 2000);
	success.ran_ms = HEALTHY_MS;
	exit_backs_off(&p, &success, 1000);
}

/* backoff_min = 0: restarted after a zero timer, every time. */
static void
test_durable_zero_backoff_restarts_at_once(void **state)
{
	struct task_policy p = durable_running(0);
	struct run_end end = {.success = false, .ran_ms = 0};

	(void)state;
	for (unsigned long i = 1; i <= 1000; i++) {
		struct decision d = policy_handle(&p, EVENT_EXIT, &end);

		assert_int_equal(d.actions, ACTION_ARM_BACKOFF);
		assert_int_equal(d.delay_ms, 0);
		assert_int_equal(p.state, STATE_BACKOFF);
		assert_true(p.want_up);
		assert_int_equal(p.restarts, i);
		d = policy_handle(&p, EVENT_BACKOFF_OVER, NULL);
		assert_int_equal(d.actions,
		                 ACTION_CANCEL_BACKOFF | ACTION_SPAWN);
		assert_int_equal(p.state, STATE_STARTING);
		becomes_ready(&p);
	}
}

/* tendd could not fork: wait at least SPAWN_RETRY_MS, even with min 0. */
static void
test_spawn_failure_waits(void **state)
{
	struct task_policy p = durable_running(0);
	struct run_end failed = {.spawn_failed = true};
	struct run_end quick = {.success = false, .ran_ms = 0};
	struct decision d;

	(void)state;
	exit_backs_off(&p, &failed, SPAWN_RETRY_MS);
	exit_backs_off(&p, &failed, SPAWN_RETRY_MS);
	/* Once it forks again, backoff_min = 0 restarts at once again. */
	d = policy_handle(&p, EVENT_EXIT, &quick);
	assert_int_equal(d.actions, ACTION_ARM_BACKOFF);
	assert_int_equal(d.delay_ms, 0);
	assert_int_equal(p.state, STATE_BACKOFF);

	/* With a longer backoff the longer delay wins. */
	p = durable_running(5000);
	exit_backs_off(&p, &failed, 5000);
	exit_backs_off(&p, &failed, 10000);
}

/* A spawn failure is a failed run, never a healthy one. */
static void
test_spawn_failure_never_healthy(void **state)
{
	struct task_policy p = durable_running(MIN_MS);
	struct run_end failed = {.spawn_failed = true, .ran_ms = 0};

	(void)state;
	p.healthy_after_ms = 0; /* so that ran_ms >= healthy_after */
	exit_backs_off(&p, &failed, 1000);
	exit_backs_off(&p, &failed, 2000);
	exit_backs_off(&p, &failed, 4000);
	failed.ran_ms = HEALTHY_MS;
	p.healthy_after_ms = HEALTHY_MS;
	exit_backs_off(&p, &failed, 8000);
	exit_backs_off(&p, &failed, 16000);
}

static void
test_durable_essential_exit(void **state)
{
	static const struct run_end ends[] = {
	    {.success = false, .ran_ms = 10},
	    {.success = true, .ran_ms = 10},
	    {.success = true, .ran_ms = HEALTHY_MS},
	    {.spawn_failed = true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ends) / sizeof(*ends); i++) {
		struct task_policy p = durable_running(MIN_MS);
		struct decision d;

		p.essential = true;
		d = policy_handle(&p, EVENT_EXIT, &ends[i]);
		assert_int_equal(d.actions, ACTION_ESSENTIAL);
		assert_int_equal(p.state, STATE_STOPPED);
		assert_false(p.want_up);
		/* Nothing left to cancel: a later backoff timer is ignored. */
		d = policy_handle(&p, EVENT_BACKOFF_OVER, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPED);
	}
}

/*
 * An essential task that exits is not restarted, so it counts no restart
 * (RESTARTS in status, tend_task_restarts_total) and arms no backoff.
 */
static void
test_durable_essential_exit_is_not_a_restart(void **state)
{
	struct task_policy p = durable_running(MIN_MS);
	struct run_end end = {.success = false, .ran_ms = 10};
	struct decision d;

	(void)state;
	p.essential = true;
	d = policy_handle(&p, EVENT_EXIT, &end);
	assert_int_equal(d.actions, ACTION_ESSENTIAL);
	assert_int_equal(p.restarts, 0);
}

/* A user's stop of an essential task is not a failure. */
static void
test_essential_stopped_by_user(void **state)
{
	static const enum task_class classes[] = {CLASS_DURABLE,
	                                          CLASS_LOG_ONLY};
	struct run_end end = {.success = false, .ran_ms = 10};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct task_policy p =
		    policy_new(classes[i], STATE_STOPPED, false);
		struct decision d;

		p.essential = true;
		policy_handle(&p, EVENT_START, NULL);
		d = policy_handle(&p, EVENT_STOP, NULL);
		assert_int_equal(d.actions, ACTION_SIGNAL_STOP);
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPED);
	}
}

/* A log-only task started from stopped (or done, or failed). */
static struct task_policy
log_only_running(bool essential)
{
	struct task_policy p = policy_new(CLASS_LOG_ONLY, STATE_STOPPED, false);
	struct decision d;

	p.essential = essential;
	d = policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(d.actions, ACTION_SPAWN);
	assert_int_equal(p.state, STATE_RUNNING);
	return p;
}

static void
test_log_only_exit(void **state)
{
	struct run_end success = {.success = true, .ran_ms = 10};
	struct run_end failure = {.success = false, .ran_ms = HEALTHY_MS};
	struct run_end no_fork = {.spawn_failed = true};
	struct task_policy p;
	struct decision d;

	(void)state;
	p = log_only_running(false);
	d = policy_handle(&p, EVENT_EXIT, &success);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_DONE);
	assert_false(p.want_up);
	assert_int_equal(p.restarts, 0);

	p = log_only_running(false);
	d = policy_handle(&p, EVENT_EXIT, &failure);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_FAILED);
	assert_false(p.want_up);
	assert_int_equal(p.restarts, 0);

	p = log_only_running(false);
	d = policy_handle(&p, EVENT_EXIT, &no_fork);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_FAILED);

	/* Done and failed start again on a user's start (or run). */
	d = policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(d.actions, ACTION_SPAWN);
	assert_int_equal(p.state, STATE_RUNNING);
	d = policy_handle(&p, EVENT_EXIT, &success);
	assert_int_equal(p.state, STATE_DONE);
	d = policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(d.actions, ACTION_SPAWN);
	assert_int_equal(p.state, STATE_RUNNING);
}

static void
test_log_only_essential(void **state)
{
	struct run_end success = {.success = true, .ran_ms = 10};
	struct run_end failure = {.success = false, .ran_ms = 10};
	struct run_end no_fork = {.spawn_failed = true};
	struct task_policy p;
	struct decision d;

	(void)state;
	p = log_only_running(true);
	d = policy_handle(&p, EVENT_EXIT, &failure);
	assert_int_equal(d.actions, ACTION_ESSENTIAL);
	assert_int_equal(p.state, STATE_FAILED);

	p = log_only_running(true);
	d = policy_handle(&p, EVENT_EXIT, &no_fork);
	assert_int_equal(d.actions, ACTION_ESSENTIAL);
	assert_int_equal(p.state, STATE_FAILED);

	p = log_only_running(true);
	d = policy_handle(&p, EVENT_EXIT, &success);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_DONE);
}

/* Where a spawn leads: a durable task is starting until it is ready. */
static enum task_state spawned_state(enum task_class class)
{
	return class == CLASS_DURABLE ? STATE_STARTING : STATE_RUNNING;
}

/* Start p, stopped, and see it running (a durable one, ready). */
static void
start_running(struct task_policy *p)
{
	struct decision d = policy_handle(p, EVENT_START, NULL);

	assert_int_equal(d.actions, ACTION_SPAWN);
	assert_int_equal(p->state, spawned_state(p->class));
	if (p->class == CLASS_DURABLE)
		becomes_ready(p);
	assert_int_equal(p->state, STATE_RUNNING);
}

/* Stop while running: stopping, then stopped once the run ended. */
static void
test_stop_while_running(void **state)
{
	static const enum task_class classes[] = {CLASS_DURABLE,
	                                          CLASS_LOG_ONLY};
	struct run_end end = {.success = false, .ran_ms = 10};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct task_policy p =
		    policy_new(classes[i], STATE_STOPPED, false);
		struct decision d;

		start_running(&p);
		d = policy_handle(&p, EVENT_STOP, NULL);
		assert_int_equal(d.actions, ACTION_SIGNAL_STOP);
		assert_int_equal(p.state, STATE_STOPPING);
		assert_false(p.want_up);
		/* A second stop while stopping does not signal again. */
		d = policy_handle(&p, EVENT_STOP, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPING);

		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPED);
		assert_false(p.want_up);
		assert_int_equal(p.restarts, 0);

		/* And it stays stopped until a start. */
		d = policy_handle(&p, EVENT_BACKOFF_OVER, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPED);
		d = policy_handle(&p, EVENT_START, NULL);
		assert_int_equal(d.actions, ACTION_SPAWN);
		assert_int_equal(p.state, spawned_state(classes[i]));
	}
}

/* Stop then start before the exit (a restart): spawned after the exit. */
static void
test_start_while_stopping(void **state)
{
	static const enum task_class classes[] = {CLASS_DURABLE,
	                                          CLASS_LOG_ONLY};
	struct run_end end = {.success = false, .ran_ms = 10};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct task_policy p =
		    policy_new(classes[i], STATE_STOPPED, false);
		struct decision d;

		start_running(&p);
		p.streak = 4;
		policy_handle(&p, EVENT_STOP, NULL);
		d = policy_handle(&p, EVENT_START, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPING);
		assert_true(p.want_up);

		/* Another run still going: keep waiting. */
		p.active = 1;
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPING);
		p.active = 0;

		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, ACTION_SPAWN);
		assert_int_equal(p.state, spawned_state(classes[i]));
		assert_true(p.want_up);
		/* A user's restart is not an automatic one. */
		assert_int_equal(p.restarts, 0);
	}
}

/* A user's restart of a durable task starts the backoff afresh. */
static void
test_restart_resets_streak(void **state)
{
	struct task_policy p = durable_running(MIN_MS);
	struct run_end quick = {.success = false, .ran_ms = 10};

	(void)state;
	exit_backs_off(&p, &quick, 1000);
	exit_backs_off(&p, &quick, 2000);
	exit_backs_off(&p, &quick, 4000);
	policy_handle(&p, EVENT_STOP, NULL);
	policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(policy_handle(&p, EVENT_EXIT, &quick).actions,
	                 ACTION_SPAWN);
	becomes_ready(&p);
	exit_backs_off(&p, &quick, 1000);

	/* So does a stop in backoff and a later start. */
	assert_int_equal(policy_handle(&p, EVENT_EXIT, &quick).actions,
	                 ACTION_ARM_BACKOFF);
	policy_handle(&p, EVENT_STOP, NULL);
	assert_int_equal(p.state, STATE_STOPPED);
	policy_handle(&p, EVENT_START, NULL);
	becomes_ready(&p);
	exit_backs_off(&p, &quick, 1000);
}

/* A durable task in backoff starts now on a user's start. */
static void
test_start_in_backoff(void **state)
{
	struct task_policy p = durable_running(MIN_MS);
	struct run_end quick = {.success = false, .ran_ms = 10};
	struct decision d;

	(void)state;
	policy_handle(&p, EVENT_EXIT, &quick);
	assert_int_equal(p.state, STATE_BACKOFF);
	d = policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(d.actions, ACTION_CANCEL_BACKOFF | ACTION_SPAWN);
	assert_int_equal(p.state, STATE_STARTING);
	assert_true(p.want_up);
	assert_int_equal(p.restarts, 1);
}

static void
test_stop_in_backoff(void **state)
{
	struct task_policy p = durable_running(MIN_MS);
	struct run_end quick = {.success = false, .ran_ms = 10};
	struct decision d;

	(void)state;
	policy_handle(&p, EVENT_EXIT, &quick);
	assert_int_equal(p.state, STATE_BACKOFF);
	d = policy_handle(&p, EVENT_STOP, NULL);
	assert_int_equal(d.actions, ACTION_CANCEL_BACKOFF);
	assert_int_equal(p.state, STATE_STOPPED);
	assert_false(p.want_up);
	/* A timer that fired anyway does not bring it back. */
	d = policy_handle(&p, EVENT_BACKOFF_OVER, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_STOPPED);
	assert_false(p.want_up);
}

/* Durable and log-only: stopping lasts until the last run ended. */
static void
test_stopping_waits_for_every_run(void **state)
{
	static const enum task_class classes[] = {CLASS_DURABLE, CLASS_LOG_ONLY,
	                                          CLASS_PER_REQUEST};
	struct run_end end = {.success = false, .ran_ms = 10};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct task_policy p =
		    policy_new(classes[i], STATE_STOPPING, false);
		struct decision d;

		p.active = 2;
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPING);
		p.active = 1;
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPING);
		p.active = 0;
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPED);
	}
}

static void
test_per_request_start(void **state)
{
	struct task_policy p =
	    policy_new(CLASS_PER_REQUEST, STATE_STOPPED, false);
	struct decision d;

	(void)state;
	d = policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_IDLE);
	assert_true(p.want_up);

	/* With a listen key: idle until the engine has bound the socket. */
	p = policy_new(CLASS_PER_REQUEST, STATE_STOPPED, false);
	p.has_listener = true;
	d = policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(d.actions, ACTION_LISTEN);
	assert_int_equal(p.state, STATE_IDLE);
	assert_true(p.want_up);
}

/* Instances end on their own: never restarted, the task stays up. */
static void
test_per_request_instance_exit(void **state)
{
	static const struct run_end ends[] = {
	    {.success = true, .ran_ms = 10},
	    {.success = false, .ran_ms = 10},
	    {.spawn_failed = true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ends) / sizeof(*ends); i++) {
		struct task_policy p =
		    policy_new(CLASS_PER_REQUEST, STATE_STOPPED, false);
		struct decision d;

		p.has_listener = true;
		p.essential = true; /* essential applies to other classes */
		policy_handle(&p, EVENT_START, NULL);
		p.state = STATE_LISTENING; /* as the engine does once bound */
		p.active = 3;
		d = policy_handle(&p, EVENT_EXIT, &ends[i]);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_LISTENING);
		p.active = 0;
		d = policy_handle(&p, EVENT_EXIT, &ends[i]);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_LISTENING);
		assert_true(p.want_up);
		assert_int_equal(p.restarts, 0);
	}
}

static void
test_per_request_stop(void **state)
{
	struct run_end end = {.success = false, .ran_ms = 10};
	struct task_policy p;
	struct decision d;

	(void)state;
	/* No instance: stopped at once. */
	p = policy_new(CLASS_PER_REQUEST, STATE_LISTENING, true);
	p.has_listener = true;
	d = policy_handle(&p, EVENT_STOP, NULL);
	assert_int_equal(d.actions, ACTION_UNLISTEN);
	assert_int_equal(p.state, STATE_STOPPED);
	assert_false(p.want_up);

	/* Instances: stop them, stopped when the last one ended. */
	p = policy_new(CLASS_PER_REQUEST, STATE_IDLE, true);
	p.active = 2;
	d = policy_handle(&p, EVENT_STOP, NULL);
	assert_int_equal(d.actions, ACTION_SIGNAL_STOP);
	assert_int_equal(p.state, STATE_STOPPING);
	assert_false(p.want_up);
	p.active = 1;
	d = policy_handle(&p, EVENT_EXIT, &end);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_STOPPING);
	p.active = 0;
	d = policy_handle(&p, EVENT_EXIT, &end);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_STOPPED);
	assert_false(p.want_up);
}

/* Stop then start of a listening task: listens again after the last. */
static void
test_per_request_restart(void **state)
{
	struct run_end end = {.success = false, .ran_ms = 10};
	struct task_policy p =
	    policy_new(CLASS_PER_REQUEST, STATE_LISTENING, true);
	struct decision d;

	(void)state;
	p.has_listener = true;
	p.active = 1;
	d = policy_handle(&p, EVENT_STOP, NULL);
	assert_int_equal(d.actions, ACTION_UNLISTEN | ACTION_SIGNAL_STOP);
	d = policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_STOPPING);
	assert_true(p.want_up);
	p.active = 0;
	d = policy_handle(&p, EVENT_EXIT, &end);
	assert_int_equal(d.actions, ACTION_LISTEN);
	assert_int_equal(p.state, STATE_IDLE);
	assert_true(p.want_up);
}

/*
 * SPEC 8, order: a start while an after task is not ready waits, in
 * every class; nothing is spawned or listened on yet.
 */
static void
test_blocked_start_waits(void **state)
{
	static const struct {
		enum task_class class;
		enum task_state from;
	} cases[] = {
	    {CLASS_DURABLE, STATE_STOPPED},     {CLASS_LOG_ONLY, STATE_STOPPED},
	    {CLASS_LOG_ONLY, STATE_DONE},       {CLASS_LOG_ONLY, STATE_FAILED},
	    {CLASS_PER_REQUEST, STATE_STOPPED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct task_policy p =
		    policy_new(cases[i].class, cases[i].from, false);
		struct decision d;

		p.has_listener = cases[i].class == CLASS_PER_REQUEST;
		p.blocked = true;
		d = policy_handle(&p, EVENT_START, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_WAITING);
		assert_true(p.want_up);
		assert_int_equal(p.restarts, 0);
		/* A second start while waiting changes nothing. */
		d = policy_handle(&p, EVENT_START, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_WAITING);
	}
}

/* A task of class, waiting for its after tasks. */
static struct task_policy
waiting_task(enum task_class class, bool has_listener)
{
	struct task_policy p = policy_new(class, STATE_STOPPED, false);

	p.has_listener = has_listener;
	p.blocked = true;
	policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(p.state, STATE_WAITING);
	return p;
}

/* Released once no after task holds it: up as a start would be. */
static void
test_release_once_unblocked(void **state)
{
	static const struct {
		enum task_class class;
		bool has_listener;
		enum task_state up;
		unsigned actions;
	} cases[] = {
	    {CLASS_DURABLE, false, STATE_STARTING, ACTION_SPAWN},
	    {CLASS_LOG_ONLY, false, STATE_RUNNING, ACTION_SPAWN},
	    {CLASS_PER_REQUEST, true, STATE_IDLE, ACTION_LISTEN},
	    {CLASS_PER_REQUEST, false, STATE_IDLE, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct task_policy p =
		    waiting_task(cases[i].class, cases[i].has_listener);
		struct decision d;

		/* One after task ready, another not: still waiting. */
		d = policy_handle(&p, EVENT_RELEASE, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_WAITING);
		assert_true(p.want_up);

		p.blocked = false;
		d = policy_handle(&p, EVENT_RELEASE, NULL);
		assert_int_equal(d.actions, cases[i].actions);
		assert_int_equal(p.state, cases[i].up);
		assert_true(p.want_up);
		assert_int_equal(p.restarts, 0);
		/* A second release, once up, changes nothing. */
		d = policy_handle(&p, EVENT_RELEASE, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, cases[i].up);
	}
}

/* A stop while waiting: stopped at once, and a later release is moot. */
static void
test_stop_while_waiting(void **state)
{
	static const enum task_class classes[] = {CLASS_DURABLE, CLASS_LOG_ONLY,
	                                          CLASS_PER_REQUEST};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct task_policy p = waiting_task(classes[i], true);
		struct decision d;

		d = policy_handle(&p, EVENT_STOP, NULL);
		/* Nothing to signal, nor to unlisten: nothing was up. */
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPED);
		assert_false(p.want_up);

		p.blocked = false;
		d = policy_handle(&p, EVENT_RELEASE, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPED);
		assert_false(p.want_up);
	}
}

/* Durable: spawned into starting, running once ready, and only then. */
static void
test_durable_starting_then_running(void **state)
{
	struct task_policy p = durable_starting(MIN_MS);
	struct decision d;

	(void)state;
	/* Health checks begin once ready: none before. */
	d = policy_handle(&p, EVENT_UNHEALTHY, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_STARTING);
	d = policy_handle(&p, EVENT_START, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_STARTING);

	becomes_ready(&p);
	assert_int_equal(p.restarts, 0);
	assert_int_equal(p.streak, 0);
	/* Ready again, or a late ready_timeout: already running. */
	d = policy_handle(&p, EVENT_READY, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_RUNNING);
	d = policy_handle(&p, EVENT_NOT_READY, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_RUNNING);
	assert_false(p.failing);
}

/* p is starting; its run ends before it is ready: a failed run. */
static void
starting_exit_backs_off(struct task_policy *p, int64_t delay_ms)
{
	struct run_end quick = {.success = false, .ran_ms = 10};
	unsigned long restarts = p->restarts;
	unsigned streak = p->streak;
	struct decision d;

	assert_int_equal(p->state, STATE_STARTING);
	d = policy_handle(p, EVENT_EXIT, &quick);
	assert_int_equal(d.actions, ACTION_ARM_BACKOFF);
	assert_int_equal(d.delay_ms, delay_ms);
	assert_int_equal(p->state, STATE_BACKOFF);
	assert_true(p->want_up);
	assert_int_equal(p->restarts, restarts + 1);
	assert_int_equal(p->streak, streak + 1);
	d = policy_handle(p, EVENT_BACKOFF_OVER, NULL);
	assert_int_equal(d.actions, ACTION_CANCEL_BACKOFF | ACTION_SPAWN);
	assert_int_equal(p->state, STATE_STARTING);
}

static void
test_starting_exit_backs_off(void **state)
{
	struct task_policy p = durable_starting(MIN_MS);

	(void)state;
	starting_exit_backs_off(&p, 1000);
	starting_exit_backs_off(&p, 2000);
	starting_exit_backs_off(&p, 4000);
	assert_int_equal(p.restarts, 3);
}

/*
 * tend fails p's run with ev (not ready in time, or unhealthy): it is
 * stopped, and once the run ended it backs off like a failed run.
 */
static void
fails_and_backs_off(struct task_policy *p, enum task_event ev,
                    const struct run_end *end, int64_t delay_ms)
{
	unsigned long restarts = p->restarts;
	struct decision d;

	d = policy_handle(p, ev, NULL);
	assert_int_equal(d.actions, ACTION_SIGNAL_STOP);
	assert_int_equal(p->state, STATE_STOPPING);
	assert_true(p->want_up);
	assert_true(p->failing);
	assert_int_equal(p->restarts, restarts); /* counted at the exit */
	/* The same again while it stops: signalled once. */
	d = policy_handle(p, ev, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p->state, STATE_STOPPING);

	d = policy_handle(p, EVENT_EXIT, end);
	assert_int_equal(d.actions, ACTION_ARM_BACKOFF);
	assert_int_equal(d.delay_ms, delay_ms);
	assert_int_equal(p->state, STATE_BACKOFF);
	assert_true(p->want_up);
	assert_false(p->failing);
	assert_int_equal(p->restarts, restarts + 1);

	d = policy_handle(p, EVENT_BACKOFF_OVER, NULL);
	assert_int_equal(d.actions, ACTION_CANCEL_BACKOFF | ACTION_SPAWN);
	assert_int_equal(p->state, STATE_STARTING);
}

/* SPEC 8: not ready within ready_timeout: stopped, a failed run. */
static void
test_not_ready_fails_the_run(void **state)
{
	/* Killed by stop_signal at ready_timeout (60 s by default). */
	struct run_end killed = {.success = false, .ran_ms = 60000};
	struct task_policy p = durable_starting(MIN_MS);

	(void)state;
	fails_and_backs_off(&p, EVENT_NOT_READY, &killed, 1000);
	fails_and_backs_off(&p, EVENT_NOT_READY, &killed, 2000);
	fails_and_backs_off(&p, EVENT_NOT_READY, &killed, 4000);
	/* Even a clean exit 0 at the stop signal is a failed run. */
	killed.success = true;
	fails_and_backs_off(&p, EVENT_NOT_READY, &killed, 8000);
	assert_int_equal(p.restarts, 4);
	/* Once ready, the sequence goes on from there. */
	becomes_ready(&p);
	assert_int_equal(p.streak, 4);
}

/* SPEC 8: health_retries failures in a row: the same as not ready. */
static void
test_unhealthy_fails_the_run(void **state)
{
	struct run_end killed = {.success = false, .ran_ms = 10};
	struct task_policy p = durable_running(MIN_MS);

	(void)state;
	fails_and_backs_off(&p, EVENT_UNHEALTHY, &killed, 1000);
	becomes_ready(&p);
	fails_and_backs_off(&p, EVENT_UNHEALTHY, &killed, 2000);
	becomes_ready(&p);
	fails_and_backs_off(&p, EVENT_UNHEALTHY, &killed, 4000);
	becomes_ready(&p);
	/* A run that was up for healthy_after resets the sequence (SPEC 1). */
	killed.ran_ms = HEALTHY_MS;
	fails_and_backs_off(&p, EVENT_UNHEALTHY, &killed, 1000);
	assert_int_equal(p.restarts, 4);
}

/* p, durable, starting or running, is being stopped by tend as failed. */
static struct task_policy
durable_failing_run(enum task_event ev, unsigned streak)
{
	struct task_policy p = ev == EVENT_NOT_READY ? durable_starting(MIN_MS)
	                                             : durable_running(MIN_MS);

	p.streak = streak;
	assert_int_equal(policy_handle(&p, ev, NULL).actions,
	                 ACTION_SIGNAL_STOP);
	assert_true(p.failing);
	return p;
}

/* A user's stop while tend stops a failed run: stopped, not backed off. */
static void
test_user_stop_wins_over_failing(void **state)
{
	static const enum task_event evs[] = {EVENT_NOT_READY, EVENT_UNHEALTHY};
	struct run_end end = {.success = false, .ran_ms = 10};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct task_policy p = durable_failing_run(evs[i], 3);
		struct decision d;

		d = policy_handle(&p, EVENT_STOP, NULL);
		assert_int_equal(d.actions, 0); /* signalled already */
		assert_int_equal(p.state, STATE_STOPPING);
		assert_false(p.want_up);
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPED);
		assert_false(p.want_up);
		assert_false(p.failing);
		assert_int_equal(p.restarts, 0);
		/* No backoff is armed: a stray timer does nothing. */
		d = policy_handle(&p, EVENT_BACKOFF_OVER, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPED);
	}
}

/*
 * A user's start (or restart: stop then start) while tend stops a failed
 * run: spawned again once it ended, as a new sequence, not a restart.
 */
static void
test_user_start_wins_over_failing(void **state)
{
	static const enum task_event evs[] = {EVENT_NOT_READY, EVENT_UNHEALTHY};
	struct run_end end = {.success = false, .ran_ms = 10};

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		struct task_policy p = durable_failing_run(evs[i % 2], 3);
		struct decision d;

		if (i >= 2) /* restart */
			policy_handle(&p, EVENT_STOP, NULL);
		d = policy_handle(&p, EVENT_START, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_STOPPING);
		assert_true(p.want_up);
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, ACTION_SPAWN);
		assert_int_equal(p.state, STATE_STARTING);
		assert_true(p.want_up);
		assert_false(p.failing);
		assert_int_equal(p.streak, 0);
		assert_int_equal(p.restarts, 0);
		/* The next failed run waits backoff_min again. */
		starting_exit_backs_off(&p, 1000);
	}
}

/* An essential task not ready in time, or unhealthy: tendd shuts down. */
static void
test_essential_failing_run(void **state)
{
	static const enum task_event evs[] = {EVENT_NOT_READY, EVENT_UNHEALTHY};
	struct run_end end = {.success = false, .ran_ms = 10};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct task_policy p = durable_failing_run(evs[i], 0);
		struct decision d;

		/* The stop first; the shutdown once the run has ended. */
		p.essential = true;
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, ACTION_ESSENTIAL);
		assert_int_equal(p.state, STATE_STOPPED);
		assert_false(p.want_up);
		assert_false(p.failing);
		assert_int_equal(p.restarts, 0);
	}
	/* Also so when essential was known before the event. */
	{
		struct task_policy p = durable_starting(MIN_MS);
		struct decision d;

		p.essential = true;
		d = policy_handle(&p, EVENT_NOT_READY, NULL);
		assert_int_equal(d.actions, ACTION_SIGNAL_STOP);
		assert_int_equal(p.state, STATE_STOPPING);
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, ACTION_ESSENTIAL);
		assert_int_equal(p.state, STATE_STOPPED);
	}
}

/*
 * A user's restart while an after task is not ready: the run is stopped,
 * then the task waits; it is spawned only once released.
 */
static void
test_restart_waits_for_after(void **state)
{
	static const struct {
		enum task_class class;
		enum task_state up;
		unsigned actions;
	} cases[] = {
	    {CLASS_DURABLE, STATE_STARTING, ACTION_SPAWN},
	    {CLASS_LOG_ONLY, STATE_RUNNING, ACTION_SPAWN},
	    {CLASS_PER_REQUEST, STATE_IDLE, ACTION_LISTEN},
	};
	struct run_end end = {.success = false, .ran_ms = 10};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct task_policy p =
		    policy_new(cases[i].class, STATE_STOPPED, false);
		struct decision d;

		p.has_listener = true;
		if (cases[i].class == CLASS_PER_REQUEST) {
			policy_handle(&p, EVENT_START, NULL);
			p.state = STATE_LISTENING; /* as the engine does */
			p.active = 1;              /* one instance */
		} else {
			start_running(&p);
		}
		p.streak = 3;
		assert_true(policy_handle(&p, EVENT_STOP, NULL).actions &
		            ACTION_SIGNAL_STOP);
		policy_handle(&p, EVENT_START, NULL);
		p.active = 0;
		p.blocked = true; /* its after task restarts meanwhile */
		d = policy_handle(&p, EVENT_EXIT, &end);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_WAITING);
		assert_true(p.want_up);
		assert_int_equal(p.restarts, 0);
		if (cases[i].class == CLASS_DURABLE)
			assert_int_equal(p.streak, 0); /* a user's restart */

		d = policy_handle(&p, EVENT_RELEASE, NULL);
		assert_int_equal(d.actions, 0);
		assert_int_equal(p.state, STATE_WAITING);
		p.blocked = false;
		d = policy_handle(&p, EVENT_RELEASE, NULL);
		assert_int_equal(d.actions, cases[i].actions);
		assert_int_equal(p.state, cases[i].up);
	}
}

/*
 * SPEC 8: a dependency that restarts later does not hold the tasks after
 * it: a durable task's own restart after a backoff never waits, whether
 * its run failed on its own or was failed by tend.
 */
static void
test_backoff_over_never_waits(void **state)
{
	struct run_end quick = {.success = false, .ran_ms = 10};
	struct task_policy p = durable_running(MIN_MS);
	struct decision d;

	(void)state;
	p.blocked = true;
	d = policy_handle(&p, EVENT_EXIT, &quick);
	assert_int_equal(d.actions, ACTION_ARM_BACKOFF);
	assert_int_equal(p.state, STATE_BACKOFF);
	d = policy_handle(&p, EVENT_BACKOFF_OVER, NULL);
	assert_int_equal(d.actions, ACTION_CANCEL_BACKOFF | ACTION_SPAWN);
	assert_int_equal(p.state, STATE_STARTING);

	/* Not ready in time, after task not ready either: backs off. */
	fails_and_backs_off(&p, EVENT_NOT_READY, &quick, 2000);
	assert_true(p.blocked);
	/* Unhealthy likewise. */
	becomes_ready(&p);
	fails_and_backs_off(&p, EVENT_UNHEALTHY, &quick, 4000);
	/* A release meanwhile changes nothing. */
	p.blocked = false;
	d = policy_handle(&p, EVENT_RELEASE, NULL);
	assert_int_equal(d.actions, 0);
	assert_int_equal(p.state, STATE_STARTING);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_row),
	    cmocka_unit_test(test_unlisted_triples_are_ignored),
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test(test_backoff_delay_defaults),
	    cmocka_unit_test(test_backoff_delay_other_bounds),
	    cmocka_unit_test(test_backoff_delay_zero_min),
	    cmocka_unit_test(test_backoff_sequence_by_exits),
	    cmocka_unit_test(test_healthy_run_resets_backoff),
	    cmocka_unit_test(test_never_ready_run_keeps_backoff),
	    cmocka_unit_test(test_durable_success_is_restarted),
	    cmocka_unit_test(test_durable_zero_backoff_restarts_at_once),
	    cmocka_unit_test(test_spawn_failure_waits),
	    cmocka_unit_test(test_spawn_failure_never_healthy),
	    cmocka_unit_test(test_durable_essential_exit),
	    cmocka_unit_test(test_durable_essential_exit_is_not_a_restart),
	    cmocka_unit_test(test_essential_stopped_by_user),
	    cmocka_unit_test(test_log_only_exit),
	    cmocka_unit_test(test_log_only_essential),
	    cmocka_unit_test(test_stop_while_running),
	    cmocka_unit_test(test_start_while_stopping),
	    cmocka_unit_test(test_restart_resets_streak),
	    cmocka_unit_test(test_start_in_backoff),
	    cmocka_unit_test(test_stop_in_backoff),
	    cmocka_unit_test(test_stopping_waits_for_every_run),
	    cmocka_unit_test(test_per_request_start),
	    cmocka_unit_test(test_per_request_instance_exit),
	    cmocka_unit_test(test_per_request_stop),
	    cmocka_unit_test(test_per_request_restart),
	    cmocka_unit_test(test_blocked_start_waits),
	    cmocka_unit_test(test_release_once_unblocked),
	    cmocka_unit_test(test_stop_while_waiting),
	    cmocka_unit_test(test_durable_starting_then_running),
	    cmocka_unit_test(test_starting_exit_backs_off),
	    cmocka_unit_test(test_not_ready_fails_the_run),
	    cmocka_unit_test(test_unhealthy_fails_the_run),
	    cmocka_unit_test(test_user_stop_wins_over_failing),
	    cmocka_unit_test(test_user_start_wins_over_failing),
	    cmocka_unit_test(test_essential_failing_run),
	    cmocka_unit_test(test_restart_waits_for_after),
	    cmocka_unit_test(test_backoff_over_never_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
