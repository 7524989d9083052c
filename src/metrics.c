/*
 * metrics.c: Prometheus text exposition (version 0.0.4) of tendd and its
 * tasks, written a part at a time.
 */
#include "tend.h"

/*
 * Append the exposition from *cur on, until text holds at least low bytes
 * or everything is written. Returns true once everything is.
 * (A first cut: tend_up only. The families of SPEC section 6 follow.)
 */
bool
metrics_fill(struct buf *text, struct metrics_cursor *cur,
             struct task *const *tasks, size_t ntasks, double now, size_t low)
{
	(void)tasks;
	(void)ntasks;
	(void)now;
	(void)low;
	if (cur->family == 0) {
		buf_addf(text, "# HELP tend_up Whether tendd is up.\n"
		               "# TYPE tend_up gauge\n"
		               "tend_up 1\n");
		cur->family++;
	}
	return true;
}
