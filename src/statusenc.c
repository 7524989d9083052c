/*
 * statusenc.c: tendd's side of a status answer: a task's row, encoded with
 * the field names that status.c, tendctl's side, prints; and whether the
 * task makes the answer exit 3.
 */
#include <sys/wait.h>

#include "tend.h"

/* A task row of a status answer, as tendctl decodes it in status.c. */
void
statusenc_task(struct buf *b, const struct task *t, ev_tstamp now)
{
	const struct task_config *cfg = t->cfg;
	bool one = cfg->class != CLASS_PER_REQUEST && t->runs != NULL;

	proto_begin(b, "task");
	proto_add(b, "name", cfg->name);
	proto_add(b, "class", manifest_class_name(cfg->class));
	proto_add(b, "state", policy_state_name(t->policy.state));
	if (one) {
		proto_add_num(b, "pid", (long long)t->runs->pid);
		proto_add_seconds(b, "uptime", now - t->runs->started);
	}
	proto_add_num(b, "restarts", (long long)t->policy.restarts);
	if (t->policy.state == STATE_BACKOFF)
		proto_add_seconds(b, "next_start",
		                  t->next_start > now ? t->next_start - now
		                                      : 0.0);
	if (t->has_last_exit && WIFSIGNALED(t->last_wstatus)) {
		const char *name = signame_name(WTERMSIG(t->last_wstatus));
		proto_add(b, "signal", name ? name : "unnamed");
		proto_add_num(b, "signo", (long long)WTERMSIG(t->last_wstatus));
		if (WCOREDUMP(t->last_wstatus))
			proto_add(b, "core", "1");
	} else if (t->has_last_exit)
		proto_add_num(b, "code",
		              (long long)WEXITSTATUS(t->last_wstatus));
	proto_add_num(
	    b, "active",
	    (long long)cfg->class == CLASS_PER_REQUEST ? t->policy.active : 0);
	proto_add_num(b, "requests", (long long)t->requests);
	proto_add_num(b, "failures", (long long)t->failures);
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
