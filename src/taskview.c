/*
 * taskview.c: a task as status (statusenc.c) and metrics (metrics.c) show
 * it: its process, uptime, backoff, readiness, health and what it waits
 * for, computed once here so that the two never tell different stories.
 */
#include "tend.h"

/* Whether a process of t runs (its exec did not fail). */
static bool
taskview_process_runs(const struct task *t)
{
	for (const struct run *r = t->runs; r != NULL; r = r->next_in_task)
		if (!r->exec_failed)
			return true;
	return false;
}

static bool
taskview_serving(const struct task *t)
{
	return t->policy.state == STATE_LISTENING ||
	       t->policy.state == STATE_IDLE;
}

/* Fill v with what t shows at now (clock_now()). */
void
taskview_of(const struct task *t, double now, struct taskview *v)
{
	bool per_request = t->cfg->class == CLASS_PER_REQUEST;

	*v = (struct taskview){0};
	if (!per_request && t->runs != NULL) {
		v->has_pid = true;
		v->pid = t->runs->pid;
		v->uptime = now - t->runs->started;
	}
	if (t->policy.state == STATE_BACKOFF) {
		v->backoff = true;
		v->next_start = t->next_start > now ? t->next_start - now : 0.0;
	}
	v->up = per_request ? taskview_serving(t) : taskview_process_runs(t);
	v->ready = readiness_ready(t); /* a failed exec stays starting */
	v->active = per_request ? t->policy.active : 0;
	v->health = t->health;
	v->health_failures = t->health_failures;
	v->status_text = t->status_text;
	if (t->policy.state == STATE_WAITING) {
		v->after = t->after;
		v->nafter = t->nafter;
	}
}

/*
 * The name of the next after task v waits for (not ready), from *i on,
 * and *i moved past it; NULL when there is none.
 */
const char *
taskview_waiting_for(const struct taskview *v, size_t *i)
{
	while (*i < v->nafter) {
		const struct task *a = v->after[(*i)++];

		if (!readiness_ready(a))
			return a->cfg->name;
	}
	return NULL;
}
