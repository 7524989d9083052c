/*
 * test_policy.c: the task state machine's decisions (policy.c), over every
 * (class, state, event) triple, and the backoff arithmetic of SPEC 1.
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
#define NSTATES  8
#define NEVENTS  4

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
};

static const char *const event_names[NEVENTS] = {
    [EVENT_START] = "START",
    [EVENT_STOP] = "STOP",
    [EVENT_EXIT] = "EXIT",
    [EVENT_BACKOFF_OVER] = "BACKOFF_OVER",
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
#define START       EVENT_START
#define STOP        EVENT_STOP
#define EXIT        EVENT_EXIT
#define OVER        EVENT_BACKOFF_OVER
#define CANCEL      ACTION_CANCEL_BACKOFF
#define SIGNAL      ACTION_SIGNAL_STOP
#define SPAWN       ACTION_SPAWN
#define ARM         ACTION_ARM_BACKOFF
#define UP          true
#define DOWN        false

/*
 * One transition. Before it the task has streak 2, restarts 0, active 0,
 * no listener, not essential; EXIT is quick_failure, other events get no
 * run_end (NULL), as task_handle() passes them.
 */
struct transition {
	enum task_class class;
	enum task_state state;
	enum task_event event;
	bool want_up;
	enum task_state next;
	unsigned actions;
	bool next_want_up;
	unsigned streak;
	int64_t delay_ms;
	unsigned long restarts;
};

static const struct transition transitions[] = {
    /* class, state, event, want_up -> state, actions, want_up, streak... */
    {DURABLE, STOPPED, START, DOWN, RUNNING, SPAWN, UP, 0, 0, 0},
    {DURABLE, STOPPED, STOP, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {DURABLE, STOPPED, EXIT, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {DURABLE, STOPPED, OVER, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {DURABLE, RUNNING, START, UP, RUNNING, 0, UP, 2, 0, 0},
    {DURABLE, RUNNING, STOP, UP, STOPPING, SIGNAL, DOWN, 2, 0, 0},
    {DURABLE, RUNNING, EXIT, UP, BACKOFF, ARM, UP, 3, 4000, 1},
    {DURABLE, RUNNING, OVER, UP, RUNNING, 0, UP, 2, 0, 0},
    {DURABLE, BACKOFF, START, UP, RUNNING, CANCEL | SPAWN, UP, 2, 0, 0},
    {DURABLE, BACKOFF, STOP, UP, STOPPED, CANCEL, DOWN, 2, 0, 0},
    {DURABLE, BACKOFF, EXIT, UP, BACKOFF, 0, UP, 2, 0, 0},
    {DURABLE, BACKOFF, OVER, UP, RUNNING, CANCEL | SPAWN, UP, 2, 0, 0},
    {DURABLE, STOPPING, START, DOWN, STOPPING, 0, UP, 2, 0, 0},
    {DURABLE, STOPPING, STOP, DOWN, STOPPING, 0, DOWN, 2, 0, 0},
    {DURABLE, STOPPING, STOP, UP, STOPPING, 0, DOWN, 2, 0, 0},
    {DURABLE, STOPPING, EXIT, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {DURABLE, STOPPING, EXIT, UP, RUNNING, SPAWN, UP, 0, 0, 0},
    {DURABLE, STOPPING, OVER, DOWN, STOPPING, 0, DOWN, 2, 0, 0},
    {DURABLE, DONE, START, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {DURABLE, DONE, STOP, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {DURABLE, DONE, EXIT, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {DURABLE, DONE, OVER, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {DURABLE, FAILED, START, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {DURABLE, FAILED, STOP, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {DURABLE, FAILED, EXIT, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {DURABLE, FAILED, OVER, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {DURABLE, IDLE, START, UP, IDLE, 0, UP, 2, 0, 0},
    {DURABLE, IDLE, STOP, UP, IDLE, 0, UP, 2, 0, 0},
    {DURABLE, IDLE, EXIT, UP, IDLE, 0, UP, 2, 0, 0},
    {DURABLE, IDLE, OVER, UP, IDLE, 0, UP, 2, 0, 0},
    {DURABLE, LISTENING, START, UP, LISTENING, 0, UP, 2, 0, 0},
    {DURABLE, LISTENING, STOP, UP, LISTENING, 0, UP, 2, 0, 0},
    {DURABLE, LISTENING, EXIT, UP, LISTENING, 0, UP, 2, 0, 0},
    {DURABLE, LISTENING, OVER, UP, LISTENING, 0, UP, 2, 0, 0},

    {LOG_ONLY, STOPPED, START, DOWN, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, STOPPED, STOP, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, STOPPED, EXIT, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, STOPPED, OVER, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, RUNNING, START, UP, RUNNING, 0, UP, 2, 0, 0},
    {LOG_ONLY, RUNNING, STOP, UP, STOPPING, SIGNAL, DOWN, 2, 0, 0},
    {LOG_ONLY, RUNNING, EXIT, UP, FAILED, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, RUNNING, OVER, UP, RUNNING, 0, UP, 2, 0, 0},
    {LOG_ONLY, BACKOFF, START, UP, BACKOFF, 0, UP, 2, 0, 0},
    {LOG_ONLY, BACKOFF, STOP, UP, BACKOFF, 0, UP, 2, 0, 0},
    {LOG_ONLY, BACKOFF, EXIT, UP, BACKOFF, 0, UP, 2, 0, 0},
    {LOG_ONLY, BACKOFF, OVER, UP, BACKOFF, 0, UP, 2, 0, 0},
    {LOG_ONLY, STOPPING, START, DOWN, STOPPING, 0, UP, 2, 0, 0},
    {LOG_ONLY, STOPPING, STOP, DOWN, STOPPING, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, STOPPING, STOP, UP, STOPPING, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, STOPPING, EXIT, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, STOPPING, EXIT, UP, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, STOPPING, OVER, DOWN, STOPPING, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, DONE, START, DOWN, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, DONE, STOP, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, DONE, EXIT, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, DONE, OVER, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, FAILED, START, DOWN, RUNNING, SPAWN, UP, 2, 0, 0},
    {LOG_ONLY, FAILED, STOP, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, FAILED, EXIT, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, FAILED, OVER, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {LOG_ONLY, IDLE, START, UP, IDLE, 0, UP, 2, 0, 0},
    {LOG_ONLY, IDLE, STOP, UP, IDLE, 0, UP, 2, 0, 0},
    {LOG_ONLY, IDLE, EXIT, UP, IDLE, 0, UP, 2, 0, 0},
    {LOG_ONLY, IDLE, OVER, UP, IDLE, 0, UP, 2, 0, 0},
    {LOG_ONLY, LISTENING, START, UP, LISTENING, 0, UP, 2, 0, 0},
    {LOG_ONLY, LISTENING, STOP, UP, LISTENING, 0, UP, 2, 0, 0},
    {LOG_ONLY, LISTENING, EXIT, UP, LISTENING, 0, UP, 2, 0, 0},
    {LOG_ONLY, LISTENING, OVER, UP, LISTENING, 0, UP, 2, 0, 0},

    {PER_REQUEST, STOPPED, START, DOWN, IDLE, 0, UP, 2, 0, 0},
    {PER_REQUEST, STOPPED, STOP, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, STOPPED, EXIT, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, STOPPED, OVER, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, RUNNING, START, UP, RUNNING, 0, UP, 2, 0, 0},
    {PER_REQUEST, RUNNING, STOP, UP, RUNNING, 0, UP, 2, 0, 0},
    {PER_REQUEST, RUNNING, EXIT, UP, RUNNING, 0, UP, 2, 0, 0},
    {PER_REQUEST, RUNNING, OVER, UP, RUNNING, 0, UP, 2, 0, 0},
    {PER_REQUEST, BACKOFF, START, UP, BACKOFF, 0, UP, 2, 0, 0},
    {PER_REQUEST, BACKOFF, STOP, UP, BACKOFF, 0, UP, 2, 0, 0},
    {PER_REQUEST, BACKOFF, EXIT, UP, BACKOFF, 0, UP, 2, 0, 0},
    {PER_REQUEST, BACKOFF, OVER, UP, BACKOFF, 0, UP, 2, 0, 0},
    {PER_REQUEST, STOPPING, START, DOWN, STOPPING, 0, UP, 2, 0, 0},
    {PER_REQUEST, STOPPING, STOP, DOWN, STOPPING, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, STOPPING, STOP, UP, STOPPING, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, STOPPING, EXIT, DOWN, STOPPED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, STOPPING, EXIT, UP, IDLE, 0, UP, 2, 0, 0},
    {PER_REQUEST, STOPPING, OVER, DOWN, STOPPING, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, DONE, START, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, DONE, STOP, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, DONE, EXIT, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, DONE, OVER, DOWN, DONE, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, FAILED, START, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, FAILED, STOP, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, FAILED, EXIT, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, FAILED, OVER, DOWN, FAILED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, IDLE, START, UP, IDLE, 0, UP, 2, 0, 0},
    {PER_REQUEST, IDLE, STOP, UP, STOPPED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, IDLE, EXIT, UP, IDLE, 0, UP, 2, 0, 0},
    {PER_REQUEST, IDLE, OVER, UP, IDLE, 0, UP, 2, 0, 0},
    {PER_REQUEST, LISTENING, START, UP, LISTENING, 0, UP, 2, 0, 0},
    {PER_REQUEST, LISTENING, STOP, UP, STOPPED, 0, DOWN, 2, 0, 0},
    {PER_REQUEST, LISTENING, EXIT, UP, LISTENING, 0, UP, 2, 0, 0},
    {PER_REQUEST, LISTENING, OVER, UP, LISTENING, 0, UP, 2, 0, 0},
};

#define NTRANSITIONS (sizeof(transitions) / sizeof(*transitions))

/* Apply one row of the table and compare everything the policy may write. */
static void
check_transition(const struct transition *t)
{
	struct task_policy p = policy_new(t->class, t->state, t->want_up);
	const struct run_end *end =
	    t->event == EVENT_EXIT ? &quick_failure : NULL;
	struct decision d;
	const char *c = class_names[t->class];
	const char *s = state_names[t->state];
	const char *e = event_names[t->event];

	p.streak = 2;
	d = policy_handle(&p, t->event, end);
	if (p.state != t->next)
		fail_msg("%s %s %s: state %s, want %s", c, s, e,
		         state_names[p.state], state_names[t->next]);
	if (d.actions != t->actions)
		fail_msg("%s %s %s: actions %#x, want %#x", c, s, e, d.actions,
		         t->actions);
	if (p.want_up != t->next_want_up)
		fail_msg("%s %s %s: want_up %d, want %d", c, s, e, p.want_up,
		         t->next_want_up);
	if (p.streak != t->streak)
		fail_msg("%s %s %s: streak %u, want %u", c, s, e, p.streak,
		         t->streak);
	if ((d.actions & ACTION_ARM_BACKOFF) && d.delay_ms != t->delay_ms)
		fail_msg("%s %s %s: delay %lld, want %lld", c, s, e,
		         (long long)d.delay_ms, (long long)t->delay_ms);
	if (p.restarts != t->restarts)
		fail_msg("%s %s %s: restarts %lu, want %lu", c, s, e,
		         p.restarts, t->restarts);
	/* What the policy only reads stays as it was. */
	if (p.class != t->class || p.essential || p.has_listener ||
	    p.active != 0 || p.backoff_min_ms != MIN_MS ||
	    p.backoff_max_ms != MAX_MS || p.healthy_after_ms != HEALTHY_MS)
		fail_msg("%s %s %s: a read-only field changed", c, s, e);
}

static void
test_every_class_state_event(void **state)
{
	bool seen[NCLASSES][NSTATES][NEVENTS] = {{{false}}};

	(void)state;
	for (size_t i = 0; i < NTRANSITIONS; i++) {
		const struct transition *t = &transitions[i];

		check_transition(t);
		seen[t->class][t->state][t->event] = true;
	}
	for (int c = 0; c < NCLASSES; c++)
		for (int s = 0; s < NSTATES; s++)
			for (int e = 0; e < NEVENTS; e++)
				if (!seen[c][s][e])
					fail_msg("no row for %s %s %s",
					         class_names[c], state_names[s],
					         event_names[e]);
}

/* Ignored events change nothing, whatever run_end comes with them. */
static void
test_ignored_events_ignore_run_end(void **state)
{
	static const struct run_end ends[] = {
	    {.success = true, .ran_ms = 0},
	    {.success = false, .ran_ms = HEALTHY_MS},
	    {.spawn_failed = true},
	};

	(void)state;
	for (size_t i = 0; i < NTRANSITIONS; i++) {
		const struct transition *t = &transitions[i];

		if (t->actions != 0 || t->next != t->state ||
		    t->next_want_up != t->want_up)
			continue;
		for (size_t j = 0; j < sizeof(ends) / sizeof(*ends); j++) {
			struct task_policy p =
			    policy_new(t->class, t->state, t->want_up);
			struct decision d =
			    policy_handle(&p, t->event, &ends[j]);

			assert_int_equal(d.actions, 0);
			assert_int_equal(p.state, t->state);
			assert_int_equal(p.want_up, t->want_up);
			assert_int_equal(p.restarts, 0);
		}
	}
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

/* A durable task started from stopped: running, streak 0. */
static struct task_policy
durable_running(int64_t min_ms)
{
	struct task_policy p = policy_new(CLASS_DURABLE, STATE_STOPPED, false);
	struct decision d = policy_handle(&p, EVENT_START, NULL);

	p.backoff_min_ms = min_ms;
	assert_int_equal(d.actions, ACTION_SPAWN);
	assert_int_equal(p.state, STATE_RUNNING);
	assert_true(p.want_up);
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
	assert_int_equal(p->state, STATE_RUNNING);
	assert_int_equal(p->restarts, restarts + 1);
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
		assert_int_equal(p.state, STATE_RUNNING);
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

		policy_handle(&p, EVENT_START, NULL);
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
		assert_int_equal(p.state, STATE_RUNNING);
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

		policy_handle(&p, EVENT_START, NULL);
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
		assert_int_equal(p.state, STATE_RUNNING);
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
	exit_backs_off(&p, &quick, 1000);

	/* So does a stop in backoff and a later start. */
	assert_int_equal(policy_handle(&p, EVENT_EXIT, &quick).actions,
	                 ACTION_ARM_BACKOFF);
	policy_handle(&p, EVENT_STOP, NULL);
	assert_int_equal(p.state, STATE_STOPPED);
	policy_handle(&p, EVENT_START, NULL);
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
	assert_int_equal(p.state, STATE_RUNNING);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_class_state_event),
	    cmocka_unit_test(test_ignored_events_ignore_run_end),
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test(test_backoff_delay_defaults),
	    cmocka_unit_test(test_backoff_delay_other_bounds),
	    cmocka_unit_test(test_backoff_delay_zero_min),
	    cmocka_unit_test(test_backoff_sequence_by_exits),
	    cmocka_unit_test(test_healthy_run_resets_backoff),
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
