/*
 * run.c: one process of a task, from fork until it is reaped. Its stdout
 * and stderr pipes are outpipe.c's.
 *
 * A run ends when its process is reaped: what it wrote before exiting is
 * then drained from the pipes, and what is left of its process group is
 * killed. Pipes are not waited on to EOF, since a grandchild that left the
 * group may keep them open forever. Ended runs are freed in an ev_prepare,
 * after every callback of the loop iteration has run: libev may deliver one
 * exit to a run's watcher and to the orphan watcher, in either order, and both
 * must still find the run.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

static struct run *all_runs; /* live and ended-but-not-freed */
static unsigned long last_serial;
static struct run *dead_runs; /* ended, freed by run_reclaim */

static void
child_cb(EV_P_ ev_child *w, int revents)
{
	struct run *r = w->data;

	(void)revents;
	ev_child_stop(EV_A_ w);
	ev_timer_stop(EV_A_ & r->kill);
	ev_timer_stop(EV_A_ & r->timeout);
	r->wstatus = w->rstatus;
	orphans_hint(r); /* before the kill below: it looks at the group */
	/*
	 * The run is over: what it left in its process group goes too, as
	 * systemd does, so that no restart piles up strays. While a member
	 * lives the group id cannot be reused; once it is empty, a new
	 * process would need this very pid within the instant since the
	 * reap, which cyclic pid allocation makes all but impossible.
	 */
	kill(-r->pid, SIGKILL);
	outpipe_drain(&r->out);
	outpipe_drain(&r->err);
	outpipe_close(&r->out);
	outpipe_close(&r->err);

	r->ended(r->task, r);
	r->next_dead = dead_runs;
	dead_runs = r;
}

static void
kill_cb(EV_P_ ev_timer *w, int revents)
{
	struct run *r = w->data;

	(void)EV_A;
	(void)revents;
	log_msg(LOG_WARNING,
	        "task %s (pid %ld): still running after "
	        "stop_timeout, sending SIGKILL",
	        r->task->cfg->name, (long)r->pid);
	run_signal(r, SIGKILL);
}

/* A per-request instance ran past timeout: stop it; it counts as failed. */
static void
timeout_cb(EV_P_ ev_timer *w, int revents)
{
	struct run *r = w->data;
	const struct task_config *cfg = r->task->cfg;
	char after[32];

	(void)EV_A;
	(void)revents;
	describe_duration((double)r->timeout_ms / 1000.0, after, sizeof(after));
	log_msg(LOG_ERR,
	        "task %s (pid %ld): still running after timeout %s, "
	        "stopping it",
	        cfg->name, (long)r->pid, after);
	r->timed_out = true;
	run_stop(r, cfg->stop_signal, cfg->stop_timeout_ms);
}

/*
 * What failed before exec, in words, from the config the run started with:
 * a reload between the spawn and the reap must not make the exit line name
 * the new command or directory.
 */
static char *
run_describe_failure(const struct task_config *cfg,
                     const struct spawn_failure *f)
{
	const char *what = "";
	char value[16];

	if (f->step == STEP_EXEC)
		what = cfg->argv[0];
	else if (f->step == STEP_CHDIR)
		what = cfg->directory ? cfg->directory : "/";
	else if (f->step == STEP_RLIMIT)
		what = spawn_limit_name(f->which);
	else if (f->step == STEP_NICE || f->step == STEP_OOM_SCORE_ADJ)
		what = value;
	snprintf(value, sizeof(value), "%d",
	         f->step == STEP_NICE ? cfg->nice : cfg->oom_score_adj);
	return xasprintf("cannot %s%s%s: %s", spawn_step_name(f->step),
	                 *what ? " " : "", what, strerror(f->err));
}

/*
 * Spawn a process for task t; ended(t, run) once it is reaped and drained.
 * Returns the run, or NULL with errno set when tendd could not (a file:
 * output's file, pipe, clone).
 */
struct run *
run_start(struct task *t, const struct spawn_io *io, run_ended_fn *ended)
{
	struct logfile *out_file, *err_file;
	struct spawned sp;
	struct run *r;
	int err;

	if (output_files_open(t->cfg, io == NULL || io->out < 0, &out_file,
	                      &err_file) == -1)
		return NULL;
	if (spawn_process(t->cfg, io, &sp) == -1) {
		err = errno;
		logfile_release(out_file);
		logfile_release(err_file);
		errno = err;
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->task = t;
	r->ended = ended;
	r->pid = sp.pid;
	r->serial = ++last_serial;
	r->started = clock_now(); /* not the loop's: start-up spawns many */
	/* Watch for the exit before the loop runs again: no exit is missed. */
	ev_child_init(&r->child, child_cb, sp.pid, 0);
	r->child.data = r;
	ev_child_start(EV_DEFAULT, &r->child);
	r->exec_failed = sp.exec_failed;
	if (sp.exec_failed && sp.why != NULL)
		r->failed =
		    sp.why; /* an env file: only tendd knows the words */
	else if (sp.exec_failed)
		r->failed = run_describe_failure(t->cfg, &sp.failure);
	else
		free(sp.why);
	outpipe_open(r, &r->out, sp.out_fd, LOG_INFO, t->cfg->out, out_file);
	outpipe_open(r, &r->err, sp.err_fd, LOG_WARNING, t->cfg->err, err_file);
	ev_init(&r->kill, kill_cb);
	r->kill.data = r;
	ev_init(&r->timeout, timeout_cb);
	r->timeout.data = r;
	if (t->cfg->class == CLASS_PER_REQUEST && t->cfg->timeout_ms > 0) {
		r->timeout_ms =
		    t->cfg->timeout_ms; /* a reload does not change it */
		ev_timer_set(&r->timeout, (ev_tstamp)r->timeout_ms / 1000.0,
		             0.);
		ev_timer_start(EV_DEFAULT, &r->timeout);
	}

	r->next_all = all_runs;
	if (all_runs)
		all_runs->prev_all = r;
	all_runs = r;
	return r;
}

/* Signal the run's whole process group (it is a session leader). */
void
run_signal(struct run *r, int signo)
{
	if (kill(-r->pid, signo) == -1 && errno == ESRCH)
		kill(r->pid, signo);
}

/* Send signo, and SIGKILL if the run is still there after timeout_ms. */
void
run_stop(struct run *r, int signo, int64_t timeout_ms)
{
	r->stopping = true;
	ev_timer_stop(EV_DEFAULT, &r->timeout); /* stopped: no timeout now */
	run_signal(r, signo);
	/* A stopped process must run to handle the signal, as systemd does. */
	if (signo != SIGKILL && signo != SIGCONT)
		run_signal(r, SIGCONT);
	if (!ev_is_active(&r->kill)) {
		ev_timer_set(&r->kill, (ev_tstamp)timeout_ms / 1000.0, 0.);
		ev_timer_start(EV_DEFAULT, &r->kill);
	}
}

/* The serial number of the newest run: runs are numbered as they start. */
unsigned long
run_serial_last(void)
{
	return last_serial;
}

/* Whether pid is (or was, this loop iteration) one of the runs. */
bool
run_is_ours(pid_t pid)
{
	for (struct run *r = all_runs; r; r = r->next_all)
		if (r->pid == pid)
			return true;
	return false;
}

/* Free the runs that ended; called when no callback is on the stack. */
void
run_reclaim(void)
{
	while (dead_runs) {
		struct run *r = dead_runs;
		dead_runs = r->next_dead;
		if (r->prev_all)
			r->prev_all->next_all = r->next_all;
		else
			all_runs = r->next_all;
		if (r->next_all)
			r->next_all->prev_all = r->prev_all;
		free(r->failed);
		free(r);
	}
}
