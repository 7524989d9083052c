/*
 * reload.c: SIGHUP and "tendctl reload" (SPEC section 5). The manifest is
 * read again into a structure of its own; on any problem nothing changes.
 * A valid one is applied as a difference, task by task and by name:
 * removed tasks are stopped, added ones started, changed ones restarted or
 * updated in place (task_reconfigure), and the others keep their process.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "tend.h"

enum verb {
	VERB_KEEP,
	VERB_ADD,
	VERB_REMOVE,
	VERB_RESTART,
	VERB_UPDATE,
};

static const char *verb_names[] = {
    [VERB_KEEP] = "kept",      [VERB_ADD] = "added",
    [VERB_REMOVE] = "removed", [VERB_RESTART] = "restarted",
    [VERB_UPDATE] = "updated",
};

/* What a reload does to one task. */
struct change {
	enum verb verb;
	struct task *task; /* the running task of that name, or NULL */
	size_t index;  /* of its config in the new manifest, unless removed */
	unsigned diff; /* config_diff() bits */
	bool renew;    /* a new task object: added, or of a new class */
	bool start;    /* start the new task object */
};

struct reload {
	bool dry_run;
	reload_say_fn *say; /* the client's, or NULL */
	void *ctx;
	int nsaid;
};

/* Log a line of the reload, and hand it to the client that asked. */
static void
reload_say(void *arg, const char *line)
{
	struct reload *rl = arg;

	log_msg(LOG_INFO, "reload%s: %s", rl->dry_run ? " (dry run)" : "",
	        line);
	if (rl->say)
		rl->say(rl->ctx, line);
	rl->nsaid++;
}

static int
task_name_cmp(const void *a, const void *b)
{
	const struct task *const *x = a, *const *y = b;

	return strcmp((*x)->cfg->name, (*y)->cfg->name);
}

/*
 * Match the running tasks with m's by name: one change per task of m, in
 * m's order, then one per running task that m no longer has.
 */
static struct change *
reload_plan(struct manifest *m, size_t *nchanges)
{
	size_t ntasks, n = 0;
	struct task *const *tasks = supervisor_tasks(&ntasks);
	struct task **byname = xcalloc(ntasks + 1, sizeof(*byname));
	bool *matched = xcalloc(ntasks + 1, sizeof(*matched));
	struct change *ch = xcalloc(m->ntasks + ntasks + 1, sizeof(*ch));

	memcpy(byname, tasks, ntasks * sizeof(*byname));
	qsort(byname, ntasks, sizeof(*byname), task_name_cmp);
	for (size_t i = 0; i < m->ntasks; i++) {
		struct task key_task = {.cfg = &m->tasks[i]}, *key = &key_task;
		struct task **found = bsearch(&key, byname, ntasks,
		                              sizeof(*byname), task_name_cmp);
		struct change *c = &ch[n++];

		c->index = i;
		if (found == NULL) {
			c->verb = VERB_ADD;
			c->renew = true;
			c->start = m->tasks[i].autostart;
			continue;
		}
		matched[found - byname] = true;
		c->task = *found;
		c->diff = config_diff(c->task->cfg, &m->tasks[i]);
		/* A new class is a new task; the old one retires. */
		c->renew = c->diff & CONFIG_CLASS;
		c->start = c->renew && m->tasks[i].autostart &&
		           task_restarts_on(c->task, c->diff);
		if (c->diff == 0)
			c->verb = VERB_KEEP;
		else if (c->renew ? c->start
		                  : task_restarts_on(c->task, c->diff))
			c->verb = VERB_RESTART;
		else
			c->verb = VERB_UPDATE;
	}
	for (size_t i = 0; i < ntasks; i++)
		if (!matched[i])
			ch[n++] = (struct change){.verb = VERB_REMOVE,
			                          .task = byname[i]};
	free(byname);
	free(matched);
	*nchanges = n;
	return ch;
}

static void
reload_report(struct reload *rl, const struct change *ch, size_t n,
              const struct manifest *m)
{
	char *line;

	for (size_t i = 0; i < n; i++) {
		const char *name = ch[i].task ? ch[i].task->cfg->name
		                              : m->tasks[ch[i].index].name;
		if (ch[i].verb == VERB_KEEP)
			continue;
		line =
		    xasprintf("%s %s%s", verb_names[ch[i].verb], name,
		              ch[i].diff & CONFIG_CLASS ? " (new class)" : "");
		reload_say(rl, line);
		free(line);
	}
}

/* Whether c's running task leaves: removed, or replaced by a new class. */
static bool
change_retires(const struct change *c)
{
	return c->task != NULL && (c->verb == VERB_REMOVE || c->renew);
}

/*
 * Carry the plan out: the new list of tasks first, so that whatever a
 * stop or a start sets off (an essential task failing) sees it whole;
 * then stop what left, reconfigure what stayed, adopt [tend], and start
 * what is new. Every task m had is moved out of it.
 */
static void
reload_apply(struct reload *rl, struct change *ch, size_t n, struct manifest *m,
             unsigned long serial)
{
	struct task **tasks = xcalloc(m->ntasks + 1, sizeof(*tasks));
	struct task_config **cfgs = xcalloc(m->ntasks + 1, sizeof(*cfgs));
	size_t ntasks = m->ntasks;

	for (size_t i = 0; i < ntasks; i++)
		cfgs[i] = manifest_take_task(m, i);
	for (size_t i = 0; i < n; i++) {
		struct change *c = &ch[i];
		if (c->verb != VERB_REMOVE)
			tasks[c->index] =
			    c->renew ? task_new(cfgs[c->index]) : c->task;
	}
	supervisor_set_tasks(tasks, cfgs, ntasks);
	for (size_t i = 0; i < n; i++)
		if (change_retires(&ch[i])) {
			ch[i].task->reload_serial = serial;
			supervisor_retire(ch[i].task);
		}
	for (size_t i = 0; i < n; i++)
		if (change_retires(&ch[i])) {
			task_handle(ch[i].task, EVENT_STOP); /* maybe freed */
			ch[i].task = NULL;
		}
	/* Every socket given up before any is taken: tasks may swap them. */
	for (size_t i = 0; i < n; i++)
		if (ch[i].task && (ch[i].diff & CONFIG_LISTEN))
			task_unlisten(ch[i].task);
	for (size_t i = 0; i < n; i++) {
		struct change *c = &ch[i];
		if (c->task == NULL)
			continue;
		if (c->verb == VERB_RESTART)
			c->task->reload_serial = serial;
		task_reconfigure(c->task, cfgs[c->index], c->diff);
	}
	supervisor_adopt(m, false, reload_say, rl);
	for (size_t i = 0; i < n; i++)
		if (ch[i].start && !supervisor_shutting_down())
			task_handle(tasks[ch[i].index], EVENT_START);
	order_retry_stops(tasks, ntasks); /* the tasks after them changed */
	free(cfgs);
}

/*
 * Read the manifest again and apply it, or with dry_run only say what
 * would change. say(ctx, line) gets each line (also logged); problems go
 * to errors (also logged) and nothing changes. serial is what to wait
 * for with supervisor_reload_pending(). Returns 0, or -1 when invalid.
 */
int
reload_manifest(bool dry_run, reload_say_fn *say, void *ctx,
                struct diag *errors, unsigned long *serial)
{
	static unsigned long reloads;
	struct reload rl = {.dry_run = dry_run, .say = say, .ctx = ctx};
	struct manifest m;
	struct change *ch;
	size_t n;
	int rc;

	*serial = 0;
	rc = manifest_load(supervisor_manifest()->path, &m, errors);
	for (size_t i = 0; i < errors->nnotes; i++)
		log_msg(LOG_WARNING, "reload: %s", errors->notes[i].text);
	if (rc == -1) {
		for (size_t i = 0; i < errors->count; i++)
			log_msg(LOG_ERR, "reload: %s", errors->items[i].text);
		log_msg(LOG_ERR, "reload: %zu problem%s: nothing changed",
		        errors->count, errors->count == 1 ? "" : "s");
		manifest_free(&m);
		return -1;
	}
	ch = reload_plan(&m, &n);
	/* Names first: a retired task may be freed as soon as it stops. */
	reload_report(&rl, ch, n, &m);
	if (dry_run)
		supervisor_adopt(&m, true, reload_say, &rl);
	else
		reload_apply(&rl, ch, n, &m, *serial = ++reloads);
	if (rl.nsaid == 0)
		reload_say(&rl, "no change");
	free(ch);
	manifest_free(&m);
	return 0;
}
