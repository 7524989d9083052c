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

static struct {
	struct manifest *manifest;
	struct task *tasks;
	size_t ntasks;
	bool shutting_down;
	int exit_code;
	ev_signal sigterm;
	ev_signal sigint;
	ev_signal sighup;
	ev_child orphans;
	ev_prepare reclaim;
	bool wrote_pid_file;
} sv;

/* Whether no task has a process left. */
static bool
supervisor_quiet(void)
{
	for (size_t i = 0; i < sv.ntasks; i++)
		if (sv.tasks[i].runs != NULL)
			return false;
	return true;
}

bool
supervisor_shutting_down(void)
{
	return sv.shutting_down;
}

/* Stop every task; the loop ends once all are reaped. */
void
supervisor_shutdown(int exit_code)
{
	if (sv.shutting_down)
		return;
	sv.shutting_down = true;
	sv.exit_code = exit_code;
	notify_send("STOPPING=1");
	log_msg(LOG_INFO, "stopping %zu task%s", sv.ntasks,
	        sv.ntasks == 1 ? "" : "s");
	for (size_t i = 0; i < sv.ntasks; i++)
		task_handle(&sv.tasks[i], EVENT_STOP);
	if (supervisor_quiet())
		ev_break(EV_DEFAULT, EVBREAK_ALL);
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
	for (size_t i = 0; i < sv.ntasks; i++)
		task_kill_now(&sv.tasks[i]);
	if (supervisor_quiet())
		ev_break(EV_A_ EVBREAK_ALL);
}

static void
hup_cb(EV_P_ ev_signal *w, int revents)
{
	(void)EV_A;
	(void)w;
	(void)revents;
	log_msg(LOG_WARNING, "SIGHUP received: reload is not supported yet");
}

/* Every child's exit arrives here too; the ones no run owns are orphans. */
static void
orphan_cb(EV_P_ ev_child *w, int revents)
{
	char how[96];

	(void)EV_A;
	(void)revents;
	if (run_is_ours(w->rpid))
		return;
	log_msg(LOG_DEBUG, "reaped orphan pid %ld: %s", (long)w->rpid,
	        describe_wait_status(w->rstatus, how, sizeof(how)));
}

static void
reclaim_cb(EV_P_ ev_prepare *w, int revents)
{
	(void)EV_A;
	(void)w;
	(void)revents;
	run_reclaim();
}

/* An essential task failed: stop everything, exit with its status. */
void
supervisor_essential_failed(struct task *t, int exit_code)
{
	log_msg(LOG_ERR,
	        "essential task %s failed: shutting down with exit "
	        "status %d",
	        t->cfg->name, exit_code);
	supervisor_shutdown(exit_code);
}

/* A task changed state: tell waiting clients; maybe shutdown is done. */
void
supervisor_task_changed(struct task *t)
{
	control_task_changed(t);
	if (sv.shutting_down && t->runs == NULL && supervisor_quiet())
		ev_break(EV_DEFAULT, EVBREAK_ALL);
}

/* Raise the open-file limit as far as allowed: each task holds pipes. */
static void
supervisor_raise_nofile(void)
{
	struct rlimit rl;
	FILE *fp;
	long nr_open = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	spawn_set_child_nofile(&rl); /* tasks keep what tendd was given */
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
}

static bool
pidfile_write(const char *path)
{
	FILE *fp = fopen(path, "we");
	bool ok = fp != NULL && fprintf(fp, "%ld\n", (long)getpid()) > 0;

	if (fp != NULL && fclose(fp) == EOF)
		ok = false;
	if (!ok) {
		log_msg(LOG_ERR, "cannot write pid file %s: %s", path,
		        strerror(errno));
		return false;
	}
	return true;
}

/*
 * Started, with the control socket ours: write the pid file (-d), let
 * "tendd -d" return, and (without -e) let go of stderr.
 */
static void
supervisor_ready(const struct supervisor_options *o)
{
	int fd;

	log_started();
	if (o->ready_fd < 0)
		return;
	if (sv.manifest->pid_file)
		sv.wrote_pid_file = pidfile_write(sv.manifest->pid_file);
	if (write(o->ready_fd, "1", 1) != 1)
		log_msg(LOG_WARNING, "cannot tell the starting tendd: %s",
		        strerror(errno));
	close(o->ready_fd);
	if (!o->log_stderr && (fd = open("/dev/null", O_WRONLY)) >= 0) {
		dup2(fd, 2);
		close(fd);
	}
}

static void
supervisor_signals(void)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};

	/* A write to a closed pipe or socket is an error, not a death. */
	sigaction(SIGPIPE, &ign, NULL);
	ev_signal_init(&sv.sigterm, stop_signal_cb, SIGTERM);
	ev_signal_init(&sv.sigint, stop_signal_cb, SIGINT);
	ev_signal_init(&sv.sighup, hup_cb, SIGHUP);
	ev_signal_start(EV_DEFAULT, &sv.sigterm);
	ev_signal_start(EV_DEFAULT, &sv.sigint);
	ev_signal_start(EV_DEFAULT, &sv.sighup);
}

/*
 * Supervise the tasks of m until shutdown. Returns tendd's exit status: 0,
 * or an essential task's.
 */
int
supervisor_run(struct manifest *m, const struct supervisor_options *o)
{
	bool reaper = getpid() == 1;

	sv.manifest = m;
	supervisor_raise_nofile();
	if (!reaper && m->subreaper) {
		if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
			log_msg(LOG_ERR, "cannot become a subreaper: %s",
			        strerror(errno));
		else
			reaper = true;
	}
	if (ev_default_loop(EVFLAG_SIGNALFD) == NULL) {
		log_msg(LOG_ERR, "cannot start the event loop");
		return 1;
	}
	supervisor_signals();
	ev_prepare_init(&sv.reclaim, reclaim_cb);
	ev_prepare_start(EV_DEFAULT, &sv.reclaim);
	if (reaper) {
		ev_child_init(&sv.orphans, orphan_cb, 0, 0);
		ev_child_start(EV_DEFAULT, &sv.orphans);
	}

	sv.ntasks = m->ntasks;
	sv.tasks = xcalloc(m->ntasks, sizeof(*sv.tasks));
	for (size_t i = 0; i < m->ntasks; i++)
		task_init(&sv.tasks[i], &m->tasks[i]);
	if (control_open(o->socket ? o->socket : m->control_socket, m, sv.tasks,
	                 sv.ntasks) == -1) {
		free(sv.tasks);
		ev_loop_destroy(EV_DEFAULT);
		return 1;
	}
	log_msg(LOG_INFO, "tend %s starting %zu task%s from %s", TEND_VERSION,
	        m->ntasks, m->ntasks == 1 ? "" : "s", m->path);
	for (size_t i = 0; i < sv.ntasks && !sv.shutting_down; i++)
		if (sv.tasks[i].cfg->autostart)
			task_handle(&sv.tasks[i], EVENT_START);
	if (!sv.shutting_down)
		notify_send("READY=1");
	supervisor_ready(o);

	/* An essential task may have failed already: ev_run forgets a break. */
	if (!(sv.shutting_down && supervisor_quiet()))
		ev_run(EV_DEFAULT, 0);

	log_msg(LOG_INFO, "every task stopped; exiting with status %d",
	        sv.exit_code);
	control_shutdown_done();
	control_close();
	if (sv.wrote_pid_file)
		unlink(sv.manifest->pid_file);
	run_reclaim();
	for (size_t i = 0; i < sv.ntasks; i++)
		task_free(&sv.tasks[i]);
	free(sv.tasks);
	ev_loop_destroy(EV_DEFAULT);
	return sv.exit_code;
}
