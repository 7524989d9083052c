/*
 * readiness.c: when a durable task is ready, and its health checks.
 * Stub: the lead writes it.
 */
#include "tend.h"

void
readiness_spawned(struct task *t, struct run *r)
{
	(void)r;
	task_handle(t, EVENT_READY);
}

void
readiness_stopped(struct task *t)
{
	(void)t;
}

void
readiness_reconfigured(struct task *t)
{
	(void)t;
}

bool
readiness_notified(pid_t pgid, const struct notify_msg *m)
{
	(void)pgid;
	(void)m;
	return false;
}

void
readiness_free(struct task *t)
{
	(void)t;
}
