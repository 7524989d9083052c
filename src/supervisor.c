/*
 * supervisor.c: the daemon around the tasks: the loop, its signals,
 * orphans, and shutdown. SIGTERM or SIGINT stops every task at once and
 * ends the loop when all are reaped; a second one kills what is left.
 * From here on tendd does not exit on an error: it logs and goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

#define DRAIN_POLL 0.02 /* seconds between looks at what is left to log */

static struct {
	struct manifest *manifest;
	const struct supervisor_options *o; /* the control socket's hooks */
	const char *socket;  /* -s, which wins over control_socket */
	struct task **tasks; /* in manifest order */
	size_t ntasks;
	struct task *retired; /* removed by a reload, until their runs end */
	bool pid1;
	bool detached;  /* -d: the pid file is ours */
	bool subreaper; /* as the manifest asked, and prctl allowed */
	bool shutting_down;
	bool settling; /* READY=1 waits for the autostart tasks */
	bool done;     /* shut down: the loop is told to end */
	int exit_code;
	ev_timer drain;       /* at exit: lines on their way to a log */
	double drain_started; /* clock_now() then */
	ev_signal sigterm;
	ev_signal sigint;
	ev_signal sighup;
	ev_child orphans;
	ev_prepare reclaim;
	bool wrote_pid_file;
} sv;

/* Whether no task has a process left (a retired task always has one). */
static bool
supervisor_quiet(void)
{
	for (size_t i = 0; i < sv.ntasks; i++)
		if (sv.tasks[i]->runs != NULL)
			return false;
	return sv.retired == NULL;
}

bool
supervisor_shutting_down(void)
{
	return sv.shutting_down;
}

/* Shut down: the loop ends. */
static void
supervisor_done(void)
{
	sv.done = true;
	ev_break(EV_DEFAULT, EVBREAK_ALL);
}

/*
 * Every task is down: what their last lines still need to reach a log (a
 * queue, a reaped run's rest waiting for room) is given the time it takes,
 * as long as some log is written (LOGSINK_STALL without a byte at most),
 * so that "docker stop" shows what a task said as it stopped. Then the
 * loop ends.
 */
static void
supervisor_drain_cb(EV_P_ ev_timer *w, int revents)
{
	double moved = log_last_progress();

	(void)revents;
	if (moved < sv.drain_started)
		moved = sv.drain_started;
	if (log_backlog() + output_rest_backlog() + probe_processes() > 0 &&
	    clock_now() - moved < LOGSINK_STALL)
		return;
	ev_timer_stop(EV_A_ w);
	supervisor_done();
}

/*
 * Shutting down, once no task has a process left: stop the orphans left
 * too (a task's stop may have just reparented some), and end the loop
 * once they are reaped as well. Each exit reaped calls this again.
 */
static void
supervisor_finish(void)
{
	if (!sv.shutting_down || sv.done || !supervisor_quiet())
		return;
	if (orphans_stop(sv.manifest->stop_timeout_ms) > 0 ||
	    ev_is_active(&sv.drain))
		return;
	/* A probe's process killed with its task is reaped in a moment. */
	if (log_backlog() + output_rest_backlog() + probe_processes() == 0) {
		supervisor_done();
		return;
	}
	sv.drain_started = clock_now();
	ev_timer_init(&sv.drain, supervisor_drain_cb, DRAIN_POLL, DRAIN_POLL);
	ev_timer_start(EV_DEFAULT, &sv.drain);
}

/* Say what a shutdown stops: the tasks that have a process. */
static void
supervisor_log_stopping(void)
{
	size_t n = 0;

	for (size_t i = 0; i < sv.ntasks; i++)
		if (sv.tasks[i]->runs != NULL)
			n++;
	if (n == 0)
		log_msg(LOG_INFO, "no task to stop");
	else
		log_msg(LOG_INFO, "stopping %zu task%s", n, n == 1 ? "" : "s");
}

/*
 * Stop every task, and the orphans adopted as PID 1 or subreaper; the loop
 * ends once all are reaped.
 */
void
supervisor_shutdown(int exit_code)
{
	if (sv.shutting_down)
		return;
	sv.shutting_down = true;
	sv.exit_code = exit_code;
	task_set_shutdown();
	notify_send("STOPPING=1");
	supervisor_log_stopping();
	order_stop(sv.tasks, sv.ntasks); /* the tasks after others first */
	/* Orphans adopted before a reload turned subreaper off, too. */
	ev_child_start(EV_DEFAULT, &sv.orphans);
	orphans_stop(sv.manifest->stop_timeout_ms);
	supervisor_finish();
}

static void
stop_signal_cb(EV_P_ ev_signal *w, int revents)
{
	(void)EV_A;
	(void)revents;
	if (!sv.shutting_down) {
		log_msg(LOG_INFO, "%s received", signame_name(w->signum));
		supervisor_shutdown(0);
		return;
	}
	log_msg(LOG_WARNING, "%s received again: killing every task",
	        signame_name(w->signum));
	/* No more order: none that waited for another may restart. */
	for (size_t i = sv.ntasks; i-- > 0;)
		task_handle(sv.tasks[i], EVENT_STOP);
	for (size_t i = 0; i < sv.ntasks; i++)
		task_kill_now(sv.tasks[i]);
	for (struct task *t = sv.retired; t; t = t->next_retired)
		task_kill_now(t);
	orphans_kill_now();
	supervisor_finish();
}

/* SIGHUP: a reload, which logs what it changes or why it cannot. */
static void
hup_cb(EV_P_ ev_signal *w, int revents)
{
	(void)EV_A;
	(void)w;
	(void)revents;
	if (sv.shutting_down)
		return;
	log_msg(LOG_INFO, "SIGHUP received: reloading %s", sv.manifest->path);
	sv.o->reload();
}

/*
 * A notify socket's message from process group pgid: whether a task with
 * ready = notify whose run leads that group took it.
 */
static bool
supervisor_notified(pid_t pgid, const struct notify_msg *m)
{
	for (size_t i = 0; i < sv.ntasks; i++) {
		struct task *t = sv.tasks[i];
		if (t->cfg->ready.kind == PROBE_NOTIFY && t->runs != NULL &&
		    t->runs->pid == pgid && !t->runs->exec_failed) {
			readiness_notified(t, m);
			return true;
		}
	}
	return false;
}

/*
 * The notify socket, once some task has ready = notify (at start, after
 * a reload); it then stays. Without it, such a task is never ready (its
 * ready_timeout says so), and this says why.
 */
static void
supervisor_open_notify(struct task_config *const *cfgs)
{
	for (size_t i = 0; i < sv.ntasks; i++)
		if ((cfgs ? cfgs[i] : sv.tasks[i]->cfg)->ready.kind ==
		    PROBE_NOTIFY) {
			notifysock_open(supervisor_notified);
			return;
		}
}

/* Whether pid is a process of tendd's own: a run's, or a probe's. */
static bool
supervisor_owns(pid_t pid)
{
	return run_is_ours(pid) || probe_is_ours(pid);
}

/* Every child's exit arrives here too; the ones no run owns are orphans. */
static void
orphan_cb(EV_P_ ev_child *w, int revents)
{
	char how[96];

	(void)EV_A;
	(void)revents;
	if (supervisor_owns(w->rpid) ||
	    !(WIFEXITED(w->rstatus) || WIFSIGNALED(w->rstatus)))
		return;
	log_msg(LOG_DEBUG, "reaped orphan pid %ld: %s", (long)w->rpid,
	        describe_wait_status(w->rstatus, how, sizeof(how)));
	orphans_reaped(w->rpid);
	supervisor_finish();
}

/*
 * tendd is ready (SPEC section 2) once every autostart task is ready or
 * has failed once: looked at once per loop iteration until then.
 */
static void
supervisor_settle(void)
{
	if (!sv.settling || sv.shutting_down || !order_all_settled())
		return;
	sv.settling = false;
	log_msg(LOG_INFO, "every task that starts with tendd is ready or "
	                  "has failed once");
	notify_send("READY=1");
}

/* Before the loop waits: free what ended, and see whether tendd is ready. */
static void
reclaim_cb(EV_P_ ev_prepare *w, int revents)
{
	(void)EV_A;
	(void)w;
	(void)revents;
	run_reclaim();
	probe_reclaim();
	supervisor_settle();
}

/* An essential task failed: stop everything, exit with its status. */
static void
supervisor_essential_failed(struct task *t, int exit_code)
{
	log_msg(LOG_ERR,
	        "essential task %s failed: shutting down with exit "
	        "status %d",
	        t->cfg->name, exit_code);
	supervisor_shutdown(exit_code);
}

/* A retired task's last run ended: it is gone. */
static void
supervisor_bury(struct task *t)
{
	struct task **p;

	for (p = &sv.retired; *p; p = &(*p)->next_retired)
		if (*p == t) {
			*p = t->next_retired;
			break;
		}
	events_task_gone(t);
	task_free(t);
}

/*
 * A task changed state: tell waiting clients; a retired task may be gone
 * (t must not be used after this), and shutdown may be done.
 */
static void
supervisor_task_changed(struct task *t)
{
	bool idle = t->runs == NULL;

	if (t->retired && idle)
		supervisor_bury(t);
	events_tasks_changed();
	if (idle)
		supervisor_finish();
}

/* What the supervisor hears first of the tasks' events. */
static const struct observer supervisor_observer = {
    .task_changed = supervisor_task_changed,
    .essential_failed = supervisor_essential_failed,
};

/* The tasks, for the control socket and a reload. */

const struct manifest *
supervisor_manifest(void)
{
	return sv.manifest;
}

struct task *const *
supervisor_tasks(size_t *n)
{
	*n = sv.ntasks;
	return sv.tasks;
}

/* The task named name, or NULL (a retired task has no name any more). */
struct task *
supervisor_find(const char *name)
{
	for (size_t i = 0; i < sv.ntasks; i++)
		if (strcmp(sv.tasks[i]->cfg->name, name) == 0)
			return sv.tasks[i];
	return NULL;
}

/*
 * A reload's list of tasks, in the new manifest's order; ours now. Their
 * order is that of cfgs, the configs they are about to get.
 */
void
supervisor_set_tasks(struct task **tasks, struct task_config *const *cfgs,
                     size_t n)
{
	free(sv.tasks);
	sv.tasks = tasks;
	sv.ntasks = n;
	order_link(tasks, cfgs, n);
	supervisor_open_notify(cfgs);
}

/*
 * t left the manifest (the caller has taken it off the list): it is
 * retired, and freed once a stop has ended its runs. The caller stops it
 * (task_handle), maybe freeing it at once, after retiring every task that
 * leaves: until then none counts as gone (supervisor_reload_pending).
 */
void
supervisor_retire(struct task *t)
{
	t->retired = true;
	order_unlink(t);
	t->next_retired = sv.retired;
	sv.retired = t;
}

/*
 * Whether a task that reload serial (or a later one: it stops the task
 * again) stopped is not yet done stopping.
 */
bool
supervisor_reload_pending(unsigned long serial)
{
	if (serial == 0)
		return false; /* a dry run, or an invalid manifest */
	for (struct task *t = sv.retired; t; t = t->next_retired)
		if (t->reload_serial >= serial)
			return true;
	for (size_t i = 0; i < sv.ntasks; i++)
		if (sv.tasks[i]->reload_serial >= serial &&
		    sv.tasks[i]->policy.state == STATE_STOPPING)
			return true;
	return false;
}

/* Raise the open-file limit as far as allowed: each task holds pipes. */
static void
supervisor_raise_nofile(void)
{
	struct rlimit rl, given;
	FILE *fp;
	long nr_open = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	given = rl;
	if (geteuid() == 0 && (fp = fopen("/proc/sys/fs/nr_open", "re"))) {
		if (fscanf(fp, "%ld", &nr_open) == 1 &&
		    (rlim_t)nr_open > rl.rlim_max)
			rl.rlim_max = (rlim_t)nr_open;
		fclose(fp);
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Tasks keep what tendd was given: reset in each child if raised. */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != given.rlim_cur || rl.rlim_max != given.rlim_max)
		spawn_set_child_nofile(&given);
}

static void
supervisor_free_tasks(void)
{
	for (size_t i = 0; i < sv.ntasks; i++)
		task_free(sv.tasks[i]);
	free(sv.tasks);
	sv.tasks = NULL;
	sv.ntasks = 0;
	while (sv.retired) {
		struct task *t = sv.retired;
		sv.retired = t->next_retired;
		task_free(t);
	}
}

/*
 * Write tendd's pid to path through a temporary file renamed over it: no
 * reader sees it empty or half written. On failure (a full disk) nothing
 * is left: not the temporary file, and not an old pid file, which would
 * name another process. Returns whether path holds the pid.
 */
static bool
pidfile_write(const char *path)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	char pid[32];
	int fd, len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	int err = 0;

	unlink(tmp); /* a crashed tendd's, with the same pid */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) ==
	    -1)
		err = errno;
	else {
		errno = ENOSPC; /* what a short write means */
		if (write(fd, pid, (size_t)len) != len)
			err = errno;
		if (close(fd) == -1 && err == 0)
			err = errno;
		if (err == 0 && rename(tmp, path) == -1)
			err = errno;
		if (err != 0)
			unlink(tmp);
	}
	free(tmp);
	if (err == 0)
		return true;
	unlink(path);
	log_msg(LOG_ERR, "cannot write pid file %s: %s", path, strerror(err));
	return false;
}

/*
 * Started, with the control socket ours: write the pid file (-d), let
 * "tendd -d" return, and (without -e) let go of stderr.
 */
static void
supervisor_ready(const struct supervisor_options *o)
{
	log_started();
	if (o->ready_fd < 0)
		return;
	if (sv.manifest->pid_file)
		sv.wrote_pid_file = pidfile_write(sv.manifest->pid_file);
	if (write(o->ready_fd, "1", 1) != 1)
		log_msg(LOG_WARNING, "cannot tell the starting tendd: %s",
		        strerror(errno));
	close(o->ready_fd);
	if (!o->log_stderr)
		log_release_stderr();
}

static void
supervisor_signals(void)
{
	/*
	 * No signal handlers, here or later: libev reads signals from a
	 * signalfd, and spawn.c, seeing none at the first spawn, lets the
	 * child that shares tendd's memory run with signals unblocked.
	 * tendd's main has already set the dispositions (SIGPIPE ignored).
	 */
	ev_signal_init(&sv.sigterm, stop_signal_cb, SIGTERM);
	ev_signal_init(&sv.sigint, stop_signal_cb, SIGINT);
	ev_signal_init(&sv.sighup, hup_cb, SIGHUP);
	ev_signal_start(EV_DEFAULT, &sv.sigterm);
	ev_signal_start(EV_DEFAULT, &sv.sigint);
	ev_signal_start(EV_DEFAULT, &sv.sighup);
}

/*
 * Reap orphans, as PID 1 or as a subreaper when the manifest asks: every
 * child's exit then reaches orphan_cb too.
 */
static void
supervisor_set_subreaper(bool on)
{
	if (!sv.pid1 && on != sv.subreaper) {
		if (prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0) == -1) {
			log_msg(LOG_ERR, "cannot %s a subreaper: %s",
			        on ? "become" : "stop being", strerror(errno));
			return;
		}
		sv.subreaper = on;
	}
	if (sv.pid1 || sv.subreaper)
		ev_child_start(EV_DEFAULT, &sv.orphans);
	else
		ev_child_stop(EV_DEFAULT, &sv.orphans);
}

/* A reload's pid_file: the old one removed, the new one written (-d). */
static void
supervisor_move_pid_file(const char *from, const char *to)
{
	if (!sv.detached)
		return;
	if (sv.wrote_pid_file)
		unlink(from);
	sv.wrote_pid_file = to != NULL && pidfile_write(to);
}

static bool
same_string(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* The socket stayed as old has it: so m says too. */
static void
supervisor_keep_socket(struct manifest *m, struct manifest *old)
{
	char *path = m->control_socket;

	m->control_socket = old->control_socket;
	old->control_socket = path;
	m->socket_mode = old->socket_mode;
	m->has_socket_group = old->has_socket_group;
	m->socket_gid = old->socket_gid;
}

/*
 * A reload's [tend] section: say what changed and, unless dry_run, apply
 * it and adopt m as the manifest (its tasks already moved out). The
 * control socket moves without a word to the clients connected: their
 * connections are not the listening socket. A socket that cannot move
 * stays where it was (logged).
 */
void
supervisor_adopt(struct manifest *m, bool dry_run, reload_say_fn *say,
                 void *ctx)
{
	struct manifest *old = sv.manifest;
	const char *path = sv.socket ? sv.socket : m->control_socket;
	char *line;

	if (strcmp(path, sv.socket ? sv.socket : old->control_socket) != 0 ||
	    old->socket_mode != m->socket_mode ||
	    old->has_socket_group != m->has_socket_group ||
	    old->socket_gid != m->socket_gid) {
		if (dry_run || sv.o->socket_move(path, m) == 0)
			line = xasprintf("updated [tend] control socket %s, "
			                 "mode %04o",
			                 path, (unsigned)m->socket_mode);
		else {
			line = xasprintf("kept [tend] control socket as it "
			                 "was: cannot make %s (see the log)",
			                 path);
			/* As if unchanged: the next reload tries again. */
			supervisor_keep_socket(m, old);
		}
		say(ctx, line);
		free(line);
	}
	if (strcmp(old->syslog_ident, m->syslog_ident) != 0 ||
	    old->syslog_facility != m->syslog_facility)
		say(ctx, "updated [tend] syslog_ident, syslog_facility");
	if (!same_string(old->pid_file, m->pid_file))
		say(ctx, "updated [tend] pid_file");
	if (old->subreaper != m->subreaper)
		say(ctx, "updated [tend] subreaper");
	if (dry_run)
		return;
	/* Always: syslog keeps the ident pointer, and the old one goes. */
	log_retarget(m->syslog_ident, m->syslog_facility);
	if (!same_string(old->pid_file, m->pid_file))
		supervisor_move_pid_file(old->pid_file, m->pid_file);
	if (old->subreaper != m->subreaper)
		supervisor_set_subreaper(m->subreaper);
	free(m->path);
	m->path = old->path; /* as tendd resolved it at start */
	old->path = NULL;
	manifest_free(old);
	*old = *m;
	memset(m, 0, sizeof(*m));
}

/*
 * Supervise the tasks of m until shutdown. Returns tendd's exit status: 0,
 * or an essential task's.
 */
int
supervisor_run(struct manifest *m, const struct supervisor_options *o)
{
	sv.manifest = m;
	sv.o = o;
	sv.socket = o->socket;
	sv.pid1 = getpid() == 1;
	sv.detached = o->detach;
	supervisor_raise_nofile();
	if (ev_default_loop(EVFLAG_SIGNALFD) == NULL) {
		log_msg(LOG_ERR, "cannot start the event loop");
		return 1;
	}
	supervisor_signals();
	task_init();
	ev_prepare_init(&sv.reclaim, reclaim_cb);
	ev_prepare_start(EV_DEFAULT, &sv.reclaim);
	ev_child_init(&sv.orphans, orphan_cb, 0, 0);
	orphans_init(supervisor_owns);
	supervisor_set_subreaper(m->subreaper);

	sv.ntasks = m->ntasks;
	sv.tasks = xcalloc(m->ntasks, sizeof(*sv.tasks));
	for (size_t i = 0; i < m->ntasks; i++)
		sv.tasks[i] = task_new(manifest_take_task(m, i));
	order_link(sv.tasks, NULL, sv.ntasks);
	supervisor_open_notify(NULL);
	events_observe(&supervisor_observer);
	if (o->socket_open(o->socket ? o->socket : m->control_socket, m) ==
	    -1) {
		events_unobserve(&supervisor_observer);
		supervisor_free_tasks();
		ev_loop_destroy(EV_DEFAULT);
		return 1;
	}
	log_msg(LOG_INFO, "tend %s starting %zu task%s from %s", TEND_VERSION,
	        sv.ntasks, sv.ntasks == 1 ? "" : "s", m->path);
	for (size_t i = 0; i < sv.ntasks && !sv.shutting_down; i++)
		if (sv.tasks[i]->cfg->autostart)
			task_handle(sv.tasks[i], EVENT_START);
	sv.settling = true;
	supervisor_settle();
	supervisor_ready(o);

	/* An essential task may have failed already: ev_run forgets a break. */
	if (!sv.done)
		ev_run(EV_DEFAULT, 0);

	log_msg(LOG_INFO, "every task stopped; exiting with status %d",
	        sv.exit_code);
	events_shutdown_done();
	o->socket_close();
	events_unobserve(&supervisor_observer);
	if (sv.wrote_pid_file)
		unlink(sv.manifest->pid_file);
	run_reclaim();
	probe_reclaim();
	orphans_free();
	supervisor_free_tasks();
	order_free();
	notifysock_close();
	ev_loop_destroy(EV_DEFAULT);
	return sv.exit_code;
}
