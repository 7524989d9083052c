/*
 * statusenc.c: tendd's side of a status answer: a task's row, encoded with
 * the field names that status.c, tendctl's side, prints; and whether the
 * task makes the answer exit 3.
 */
#include <sys/wait.h>

#include "tend.h"

static const char *
statusenc_health(enum health_state h)
{
	switch (h) {
	case HEALTH_OK:
		return "ok";
	case HEALTH_FAILING:
		return "failing";
	case HEALTH_NONE:
	default:
		return NULL;
	}
}

static void
statusenc_last_exit(struct buf *b, const struct task *t)
{
	if (t->has_last_exit && WIFSIGNALED(t->last_wstatus)) {
		const char *name = signame_name(WTERMSIG(t->last_wstatus));
		proto_add(b, "signal", name ? name : "unnamed");
		proto_add_num(b, "signo", (long long)WTERMSIG(t->last_wstatus));
		if (WCOREDUMP(t->last_wstatus))
			proto_add(b, "core", "1");
	} else if (t->has_last_exit)
		proto_add_num(b, "code",
		              (long long)WEXITSTATUS(t->last_wstatus));
}

/*
 * Readiness and health: ready=1|0, a waiting_for= per after task not
 * ready (the first STATUSENC_WAITING_MAX), status_text= (a task's own bytes:
 * escaped by proto_add, like any value) only when set, health= only with a
 * result, health_failures=.
 */
static void
statusenc_readiness(struct buf *b, const struct taskview *v)
{
	const char *name, *health = statusenc_health(v->health);
	size_t i = 0;

	proto_add(b, "ready", v->ready ? "1" : "0");
	/* Bounded: a row has at most PROTO_FIELDS_MAX fields to be read. */
	for (int n = 0; n < STATUSENC_WAITING_MAX &&
	                (name = taskview_waiting_for(v, &i)) != NULL;
	     n++)
		proto_add(b, "waiting_for", name);
	if (v->status_text != NULL)
		proto_add(b, "status_text", v->status_text);
	if (health != NULL)
		proto_add(b, "health", health);
	proto_add_num(b, "health_failures", (long long)v->health_failures);
}

/* A task row of a status answer, as tendctl decodes it in status.c. */
void
statusenc_task(struct buf *b, const struct task *t, ev_tstamp now)
{
	const struct task_config *cfg = t->cfg;
	struct taskview v;

	taskview_of(t, now, &v);
	proto_begin(b, "task");
	proto_add(b, "name", cfg->name);
	proto_add(b, "class", manifest_class_name(cfg->class));
	proto_add(b, "state", policy_state_name(t->policy.state));
	if (v.has_pid) {
		proto_add_num(b, "pid", (long long)v.pid);
		proto_add_seconds(b, "uptime", v.uptime);
	}
	proto_add_num(b, "restarts", (long long)t->policy.restarts);
	if (v.backoff)
		proto_add_seconds(b, "next_start", v.next_start);
	statusenc_last_exit(b, t);
	proto_add_num(b, "active", (long long)v.active);
	proto_add_num(b, "requests", (long long)t->requests);
	proto_add_num(b, "failures", (long long)t->failures);
	proto_add_num(b, "refused", (long long)t->refused);
	statusenc_readiness(b, &v);
	proto_end(b);
}

/* Whether status should exit 3 for t: SPEC section 6. */
bool
statusenc_unhealthy(const struct task *t)
{
	if (t->cfg->class == CLASS_DURABLE)
		return t->policy.state != STATE_RUNNING;
	if (t->cfg->class == CLASS_LOG_ONLY)
		return t->policy.state == STATE_FAILED;
	return false;
}
