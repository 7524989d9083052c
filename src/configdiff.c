/*
 * configdiff.c: what changed between two configs of one task, for a
 * reload. Pure: reload.c turns the answer into a restart (the process
 * keys, SPEC section 5), an update in place (the policy keys) or nothing.
 */
#include <string.h>

#include "tend.h"

static bool
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Two NULL-terminated arrays of strings, entry by entry, order included. */
static bool
same_strings(char *const *a, char *const *b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	for (i = 0; a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return a[i] == b[i];
}

/* The same supplementary groups, in the same order. */
static bool
same_groups(const struct task_config *a, const struct task_config *b)
{
	return a->ngroups == b->ngroups &&
	       (a->ngroups == 0 ||
	        memcmp(a->groups, b->groups,
	               (size_t)a->ngroups * sizeof(*a->groups)) == 0);
}

/* The listen keys name the same socket, compared as written. */
static bool
same_listen(const struct task_config *a, const struct task_config *b)
{
	return a->listen.kind == b->listen.kind &&
	       same_string(a->listen.text, b->listen.text);
}

/*
 * Its socket file gets the same mode and owner: a change applies to the
 * socket in place (listener_restamp), which keeps its queued connections.
 */
static bool
same_listen_file(const struct task_config *a, const struct task_config *b)
{
	return a->listen_mode == b->listen_mode &&
	       a->has_listen_user == b->has_listen_user &&
	       a->listen_uid == b->listen_uid &&
	       a->has_listen_group == b->has_listen_group &&
	       a->listen_gid == b->listen_gid;
}

/* Issue 15's process keys: env_file, limit_*, nice, oom_score_adj. */
static bool
same_resources(const struct task_config *a, const struct task_config *b)
{
	for (int i = 0; i < NLIMITS; i++)
		if (a->limits[i].set != b->limits[i].set ||
		    (a->limits[i].set &&
		     (a->limits[i].soft != b->limits[i].soft ||
		      a->limits[i].hard != b->limits[i].hard)))
			return false;
	return same_strings(a->env_files, b->env_files) &&
	       a->has_nice == b->has_nice && a->nice == b->nice &&
	       a->has_oom_score_adj == b->has_oom_score_adj &&
	       a->oom_score_adj == b->oom_score_adj;
}

/* What a process is started with: a change means a new process. */
static bool
same_process(const struct task_config *a, const struct task_config *b)
{
	return same_strings(a->argv, b->argv) &&
	       same_string(a->directory, b->directory) &&
	       same_string(a->user, b->user) && a->uid == b->uid &&
	       a->gid == b->gid && a->has_user == b->has_user &&
	       a->has_group == b->has_group && same_groups(a, b) &&
	       a->umask == b->umask && same_strings(a->env, b->env) &&
	       a->clear_env == b->clear_env && a->out == b->out &&
	       a->err == b->err && same_string(a->out_path, b->out_path) &&
	       same_string(a->err_path, b->err_path) && same_resources(a, b);
}

/*
 * The same after names, in any order (each is in a list once): "after = a
 * b" and "after = b\nafter = a" wait for the same tasks.
 */
static bool
same_after(const struct task_config *a, const struct task_config *b)
{
	size_t j;

	if (a->nafter != b->nafter)
		return false;
	for (size_t i = 0; i < a->nafter; i++) {
		for (j = 0; j < b->nafter; j++)
			if (strcmp(a->after[i], b->after[j]) == 0)
				break;
		if (j == b->nafter)
			return false;
	}
	return true;
}

/*
 * What the task waits for, and how its readiness and health are probed
 * (SPEC section 8): applied in place, as the other policy keys.
 */
static bool
same_readiness(const struct task_config *a, const struct task_config *b)
{
	return same_after(a, b) && probespec_same(&a->ready, &b->ready) &&
	       a->ready_timeout_ms == b->ready_timeout_ms &&
	       probespec_same(&a->health, &b->health) &&
	       a->health_interval_ms == b->health_interval_ms &&
	       a->health_timeout_ms == b->health_timeout_ms &&
	       a->health_retries == b->health_retries;
}

/* How tend treats the process: a change applies in place. */
static bool
same_policy(const struct task_config *a, const struct task_config *b)
{
	return a->stop_signal == b->stop_signal &&
	       a->stop_timeout_ms == b->stop_timeout_ms &&
	       a->autostart == b->autostart && a->essential == b->essential &&
	       a->backoff_min_ms == b->backoff_min_ms &&
	       a->backoff_max_ms == b->backoff_max_ms &&
	       a->healthy_after_ms == b->healthy_after_ms &&
	       a->max_instances == b->max_instances &&
	       a->max_per_source == b->max_per_source &&
	       a->timeout_ms == b->timeout_ms &&
	       a->log_max_size == b->log_max_size &&
	       a->log_backups == b->log_backups && same_readiness(a, b);
}

/* The CONFIG_* bits of what differs from old to new (0: nothing). */
unsigned
config_diff(const struct task_config *old, const struct task_config *new)
{
	unsigned changes = 0;

	if (old->class != new->class)
		changes |= CONFIG_CLASS;
	if (!same_process(old, new))
		changes |= CONFIG_PROCESS;
	if (!same_listen(old, new))
		changes |= CONFIG_LISTEN;
	else if (!same_listen_file(old, new))
		changes |= CONFIG_LISTEN_FILE;
	if (!same_policy(old, new))
		changes |= CONFIG_POLICY;
	return changes;
}
