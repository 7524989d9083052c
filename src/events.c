/*
 * events.c: what happens to tasks and runs, told upward. The engine
 * (task.c, run.c's owner) reports here and never calls the layers above
 * it: the supervisor, which reacts first, and the control socket observe.
 */
#include <stddef.h>

#include "tend.h"

#define OBSERVERS_MAX 4

static const struct observer *observers[OBSERVERS_MAX];

/* Tell o from now on, after the observers before it. */
void
events_observe(const struct observer *o)
{
	for (size_t i = 0; i < OBSERVERS_MAX; i++)
		if (observers[i] == NULL) {
			observers[i] = o;
			return;
		}
}

void
events_unobserve(const struct observer *o)
{
	for (size_t i = 0; i < OBSERVERS_MAX; i++)
		if (observers[i] == o)
			observers[i] = NULL;
}

/* Call fn of every observer that has one, in order. */
#define EACH(fn, ...)                                           \
	do {                                                    \
		for (size_t i_ = 0; i_ < OBSERVERS_MAX; i_++)   \
			if (observers[i_] && observers[i_]->fn) \
				observers[i_]->fn(__VA_ARGS__); \
	} while (0)

/* t changed state; an observer may free it: t is not used after. */
void
events_task_changed(struct task *t)
{
	EACH(task_changed, t);
}

void
events_essential_failed(struct task *t, int exit_code)
{
	EACH(essential_failed, t, exit_code);
}

void
events_tasks_changed(void)
{
	for (size_t i = 0; i < OBSERVERS_MAX; i++)
		if (observers[i] && observers[i]->tasks_changed)
			observers[i]->tasks_changed();
}

void
events_task_gone(struct task *t)
{
	EACH(task_gone, t);
}

void
events_run_ended(struct run *r)
{
	EACH(run_ended, r);
}

void
events_task_output(struct task *t)
{
	EACH(task_output, t);
}

void
events_shutdown_done(void)
{
	for (size_t i = 0; i < OBSERVERS_MAX; i++)
		if (observers[i] && observers[i]->shutdown_done)
			observers[i]->shutdown_done();
}
