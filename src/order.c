/*
 * order.c: after = (SPEC section 8). Stub: the lead writes it.
 */
#include "tend.h"

void
order_link(struct task *const *tasks, size_t n)
{
	(void)tasks;
	(void)n;
}

void
order_ready(struct task *t)
{
	(void)t;
}

void
order_stop(struct task *const *tasks, size_t n)
{
	for (size_t i = n; i-- > 0;)
		task_handle(tasks[i], EVENT_STOP);
}

void
order_changed(void)
{
}

bool
order_settled(const struct task *t)
{
	(void)t;
	return true;
}

void
order_free(struct task *t)
{
	(void)t;
}
