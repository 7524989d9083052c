/*
 * order.c: after = (SPEC section 8). Each task's after names are linked
 * to the tasks (t->after) and back (t->before) whenever the list of tasks
 * is set. A task that is waiting is released (EVENT_RELEASE) once every
 * task it is after is ready; a stop of several tasks at once (shutdown,
 * "stop all") signals a task only once the tasks after it that are
 * stopping too have no process left.
 *
 * A change of one task may release or stop others, whose changes may
 * release or stop more: they go through a queue, looked at one by one,
 * so a chain of 10,000 tasks does not recurse 10,000 deep.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "tend.h"

static struct {
	struct task **tasks; /* dependencies first */
	size_t ntasks;
	bool *settled; /* scratch of order_all_settled, by order_index */
	struct task *head, *tail; /* the queue */
	bool draining;
	size_t stops_pending;
} order;

static const struct engine_ops *engine;

void
order_init(const struct engine_ops *ops)
{
	engine = ops;
}

static int
name_cmp(const void *a, const void *b)
{
	const struct task *const *x = a, *const *y = b;

	return strcmp((*x)->cfg->name, (*y)->cfg->name);
}

static struct task *
order_find(struct task **byname, size_t n, const char *name)
{
	struct task_config key_cfg;
	struct task key_task = {.cfg = &key_cfg}, *key = &key_task, **found;

	snprintf(key_cfg.name, sizeof(key_cfg.name), "%s", name);
	found = bsearch(&key, byname, n, sizeof(*byname), name_cmp);
	return found ? *found : NULL;
}

/* Take t out of the queue, if it is in it. */
static void
order_dequeue(struct task *t)
{
	struct task **p, *prev = NULL;

	if (!t->order_queued)
		return;
	for (p = &order.head; *p; prev = *p, p = &(*p)->order_next)
		if (*p == t) {
			*p = t->order_next;
			if (order.tail == t)
				order.tail = prev;
			break;
		}
	t->order_queued = false;
	t->order_next = NULL;
}

/* t's links go: it left the list (retired) or is freed. */
void
order_unlink(struct task *t)
{
	order_dequeue(t);
	order_cancel_stop(t);
	free(t->after);
	free(t->before);
	t->after = t->before = NULL;
	t->nafter = t->nbefore = 0;
}

/* tasks in an order where every task comes after those it is after (Kahn). */
static void
order_sort(struct task *const *tasks, size_t n)
{
	size_t *left = xcalloc(n + 1, sizeof(*left)), head = 0, tail = 0;

	order.tasks = xreallocarray(order.tasks, n + 1, sizeof(*order.tasks));
	order.settled = xreallocarray(order.settled, n + 1, sizeof(bool));
	order.ntasks = n;
	for (size_t i = 0; i < n; i++) {
		tasks[i]->order_index = i;
		left[i] = tasks[i]->nafter;
		if (left[i] == 0)
			order.tasks[tail++] = tasks[i];
	}
	while (head < tail) {
		struct task *t = order.tasks[head++];
		for (size_t j = 0; j < t->nbefore; j++)
			if (--left[t->before[j]->order_index] == 0)
				order.tasks[tail++] = t->before[j];
	}
	/* The manifest has no cycle (manifest.c); were there one, keep all. */
	for (size_t i = 0; i < n && tail < n; i++)
		if (left[i] > 0)
			order.tasks[tail++] = tasks[i];
	for (size_t i = 0; i < n; i++)
		order.tasks[i]->order_index = i;
	free(left);
}

/*
 * The list of tasks is tasks now (at start, after a reload): link each
 * task's after names both ways, as cfgs[i] has them for tasks[i] (a
 * reload's configs, about to replace theirs), else as their own config.
 * Names that name no task (none, in a valid manifest) are left out.
 */
void
order_link(struct task *const *tasks, struct task_config *const *cfgs, size_t n)
{
	struct task **byname = xcalloc(n + 1, sizeof(*byname));

	memcpy(byname, tasks, n * sizeof(*byname));
	qsort(byname, n, sizeof(*byname), name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct task *t = tasks[i];
		const struct task_config *cfg = cfgs ? cfgs[i] : t->cfg;
		free(t->after);
		free(t->before);
		t->after = xcalloc(cfg->nafter + 1, sizeof(*t->after));
		t->nafter = 0;
		t->before = NULL;
		t->nbefore = 0;
		for (size_t j = 0; j < cfg->nafter; j++) {
			struct task *a = order_find(byname, n, cfg->after[j]);
			if (a != NULL && a != t)
				t->after[t->nafter++] = a;
		}
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < tasks[i]->nafter; j++)
			tasks[i]->after[j]->nbefore++;
	for (size_t i = 0; i < n; i++) {
		tasks[i]->before =
		    xcalloc(tasks[i]->nbefore + 1, sizeof(*tasks[i]->before));
		tasks[i]->nbefore = 0;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < tasks[i]->nafter; j++) {
			struct task *a = tasks[i]->after[j];
			a->before[a->nbefore++] = tasks[i];
		}
	order_sort(tasks, n);
	free(byname);
}

/* Whether some task t is after is not ready: t may not start yet. */
bool
order_blocked(const struct task *t)
{
	for (size_t i = 0; i < t->nafter; i++)
		if (!readiness_ready(t->after[i]))
			return true;
	return false;
}

/* Whether t no longer holds up the stop of the tasks it is after. */
static bool
order_stopped(const struct task *t)
{
	return !t->stop_pending && t->policy.state != STATE_STOPPING;
}

/* t is no longer to stop in order (stopped, started again, unlinked). */
void
order_cancel_stop(struct task *t)
{
	if (!t->stop_pending)
		return;
	t->stop_pending = false;
	order.stops_pending--;
}

/*
 * Whether t has nothing for the tasks after it to need while they stop:
 * no process, and not serving. It may stop at once.
 */
static bool
order_inert(const struct task *t)
{
	switch (t->policy.state) {
	case STATE_WAITING:
	case STATE_BACKOFF:
	case STATE_STOPPED:
	case STATE_DONE:
	case STATE_FAILED:
		return t->runs == NULL;
	default:
		return false;
	}
}

/*
 * Stop t, if it is to stop and every task after it that stops has. Until
 * then it is held: its run's end does not restart it (policy.c).
 */
static void
order_try_stop(struct task *t)
{
	if (!t->stop_pending)
		return;
	for (size_t i = 0; !order_inert(t) && i < t->nbefore; i++)
		if (!order_stopped(t->before[i]))
			return;
	order_cancel_stop(t);
	engine->handle(t, EVENT_STOP);
}

/* The links changed (a reload): what waited to stop may stop now. */
void
order_retry_stops(struct task *const *tasks, size_t n)
{
	for (size_t i = n; order.stops_pending > 0 && i-- > 0;)
		order_try_stop(tasks[i]);
}

/* A waiting t whose after task failed (log-only): said once. */
static void
order_note_failed(struct task *t)
{
	if (t->policy.state != STATE_WAITING) {
		t->wait_logged = false;
		return;
	}
	for (size_t i = 0; i < t->nafter && !t->wait_logged; i++)
		if (t->after[i]->policy.state == STATE_FAILED) {
			log_msg(LOG_WARNING,
			        "task %s: waiting for %s, which failed",
			        t->cfg->name, t->after[i]->cfg->name);
			t->wait_logged = true;
		}
}

/* What a change of t means for the tasks ordered around it. */
static void
order_visit(struct task *t)
{
	order_note_failed(t);
	for (size_t i = 0; i < t->nbefore; i++) {
		struct task *b = t->before[i];
		if (b->policy.state != STATE_WAITING)
			continue;
		if (readiness_ready(t))
			engine->handle(b, EVENT_RELEASE);
		else
			order_note_failed(b);
	}
	for (size_t i = 0; order.stops_pending > 0 && i < t->nafter; i++)
		order_try_stop(t->after[i]);
}

/* t changed state: release, or stop, what that allows. */
void
order_task_changed(struct task *t)
{
	if (t->retired || t->order_queued)
		return;
	t->order_queued = true;
	if (order.tail)
		order.tail->order_next = t;
	else
		order.head = t;
	order.tail = t;
	if (order.draining)
		return;
	order.draining = true;
	while ((t = order.head) != NULL) {
		order.head = t->order_next;
		if (order.head == NULL)
			order.tail = NULL;
		t->order_next = NULL;
		t->order_queued = false;
		order_visit(t);
	}
	order.draining = false;
}

/*
 * Stop tasks, the tasks after others first (shutdown, "stop all"): each
 * is signalled once the tasks after it that stop too have stopped.
 */
void
order_stop(struct task *const *tasks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!tasks[i]->stop_pending) {
			tasks[i]->stop_pending = true;
			order.stops_pending++;
		}
	for (size_t i = n; i-- > 0;)
		order_try_stop(tasks[i]);
}

/*
 * Whether t has settled for tendd's own READY=1: ready, or failed once
 * (a durable task that backs off or was stopped, a log-only task that
 * failed, a listener that cannot bind yet), or waiting for a task that
 * has settled without being ready.
 */
static bool
order_settled(const struct task *t)
{
	if (readiness_ready(t))
		return true;
	switch (t->policy.state) {
	case STATE_WAITING:
		for (size_t i = 0; i < t->nafter; i++)
			if (!readiness_ready(t->after[i]) &&
			    order.settled[t->after[i]->order_index])
				return true;
		return false;
	case STATE_STARTING:
		return t->policy.restarts > 0;
	case STATE_RUNNING:
		return false; /* a log-only task's run */
	default:
		return true;
	}
}

/* Whether every autostart task has settled (order_settled). */
bool
order_all_settled(void)
{
	bool all = true;

	for (size_t i = 0; i < order.ntasks; i++) {
		struct task *t = order.tasks[i];
		order.settled[i] = order_settled(t);
		if (t->cfg->autostart && !order.settled[i])
			all = false;
	}
	return all;
}

/* At exit: what the list held. */
void
order_free(void)
{
	free(order.tasks);
	free(order.settled);
	memset(&order, 0, sizeof(order));
}
