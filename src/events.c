/*
 * events.c: what happens to tasks and runs, told upward. The engine
 * (task.c, supervisor.c, run.c) reports here and never calls the control
 * socket; the control socket, above it, observes.
 */
#include <stddef.h>

#include "tend.h"

static const struct observer *observer;

/* One observer at a time; NULL: none. */
void
events_observe(const struct observer *o)
{
	observer = o;
}

void
events_tasks_changed(void)
{
	if (observer && observer->tasks_changed)
		observer->tasks_changed();
}

void
events_task_gone(struct task *t)
{
	if (observer && observer->task_gone)
		observer->task_gone(t);
}

void
events_run_ended(struct run *r)
{
	if (observer && observer->run_ended)
		observer->run_ended(r);
}

void
events_task_output(struct task *t)
{
	if (observer && observer->task_output)
		observer->task_output(t);
}

void
events_shutdown_done(void)
{
	if (observer && observer->shutdown_done)
		observer->shutdown_done();
}
