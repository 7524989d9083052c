/*
 * probe.c: readiness and health probes. Stub: the probe helper writes it.
 */
#include "tend.h"

struct probe *
probe_start(const struct probe_spec *spec, const struct task_config *cfg,
            int64_t timeout_ms, probe_done_fn *done, void *data)
{
	(void)spec;
	(void)cfg;
	(void)timeout_ms;
	(void)done;
	(void)data;
	return NULL;
}

void
probe_cancel(struct probe *p)
{
	(void)p;
}

bool
probe_is_ours(pid_t pid)
{
	(void)pid;
	return false;
}

size_t
probe_processes(void)
{
	return 0;
}

void
probe_reclaim(void)
{
}
