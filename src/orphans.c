/*
 * orphans.c: processes that are tendd's children but no run's: orphans
 * adopted as PID 1 or as a subreaper, found through /proc. At shutdown
 * they are stopped as a task is (SIGTERM to the process group, SIGKILL
 * after stop_timeout); and a durable task that exits 0 at once, leaving
 * such a process or one in its own session behind, is told that it
 * probably forked into the background.
 *
 * An orphan stays tendd's child until reaped, so its pid cannot name
 * another process while it is on the list: orphans_reaped takes it off.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "tend.h"

/* A durable run this short that exits 0 may have forked into the background. */
#define HINT_WITHIN_MS 1000

/* What /proc/PID/stat says of a process. */
struct procstat {
	pid_t pid;
	char state;
	pid_t ppid;
	pid_t pgrp;
	pid_t session;
	unsigned long long start; /* clock ticks after boot */
};

/* An orphan asked to stop, and when it is killed. */
struct orphan {
	pid_t pid;
	ev_tstamp deadline;
};

static struct {
	struct orphan *list;
	size_t n, cap;
	ev_timer kill;
	orphans_owned_fn *owned; /* whether a pid is a run's, not an orphan */
} orph;

/* Tell orphans from runs with owned: the supervisor's, not this file's. */
void
orphans_init(orphans_owned_fn *owned)
{
	orph.owned = owned;
}

static bool
procstat_read(pid_t pid, struct procstat *ps)
{
	char path[32], buf[512], *p;
	FILE *fp;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return false; /* gone, or going */
	len = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[len] = '\0';
	/* comm may hold spaces and parentheses: the fields follow the last. */
	if ((p = strrchr(buf, ')')) == NULL)
		return false;
	ps->pid = pid;
	return sscanf(p + 1,
	              " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
	              "%*d %*d %*d %*d %*d %llu",
	              &ps->state, &ps->ppid, &ps->pgrp, &ps->session,
	              &ps->start) == 5;
}

/*
 * Whether /proc names processes as tendd sees them. A /proc of another pid
 * namespace (tendd as PID 1 of "unshare --pid" without a /proc of its own)
 * holds other pids, with the host's init as every orphan's parent: none of
 * them may be signalled. Said once.
 */
static bool
procfs_is_ours(void)
{
	static bool said;
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	if (n > 0) {
		buf[n] = '\0';
		if (strtol(buf, NULL, 10) == (long)getpid())
			return true;
	}
	if (!said)
		log_msg(LOG_WARNING, "/proc is not of tendd's pid namespace: "
		                     "orphans are not looked for");
	said = true;
	return false;
}

typedef bool procstat_fn(const struct procstat *, void *ctx);

/* Call fn for every process until it returns true; returns that. */
static bool
procstat_each(procstat_fn *fn, void *ctx)
{
	struct procstat ps;
	struct dirent *de;
	DIR *dir;
	bool done = false;
	char *end;
	long pid;

	if (!procfs_is_ours())
		return false;
	if ((dir = opendir("/proc")) == NULL) {
		log_msg(LOG_ERR, "cannot read /proc: %s", strerror(errno));
		return false;
	}
	while (!done && (de = readdir(dir)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (*end == '\0' && pid > 0 && procstat_read((pid_t)pid, &ps))
			done = fn(&ps, ctx);
	}
	closedir(dir);
	return done;
}

/* Whether ps is an orphan: a child of tendd that no run owns. */
static bool
orphan_is(const struct procstat *ps)
{
	return ps->ppid == getpid() && !orph.owned(ps->pid);
}

static struct orphan *
orphan_find(pid_t pid)
{
	for (size_t i = 0; i < orph.n; i++)
		if (orph.list[i].pid == pid)
			return &orph.list[i];
	return NULL;
}

/*
 * Its process group; but the process alone in tendd's own group, or in a
 * live run's (a run leads its group): that run is stopped with its own
 * stop_signal and stop_timeout, not the orphans'.
 */
static void
orphan_signal(pid_t pid, int signo)
{
	pid_t pgrp = getpgid(pid);

	if (pgrp > 0 && pgrp != getpgrp() && !orph.owned(pgrp) &&
	    kill(-pgrp, signo) == 0)
		return;
	kill(pid, signo);
}

/* Arm the kill timer for the earliest deadline, if any. */
static void
orphans_arm(void)
{
	ev_tstamp first = 0;

	ev_timer_stop(EV_DEFAULT, &orph.kill);
	for (size_t i = 0; i < orph.n; i++)
		if (orph.list[i].deadline > 0 &&
		    (first == 0 || orph.list[i].deadline < first))
			first = orph.list[i].deadline;
	if (first == 0)
		return;
	ev_timer_set(&orph.kill, first - clock_now(), 0.);
	ev_timer_start(EV_DEFAULT, &orph.kill);
}

static void
kill_cb(EV_P_ ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	for (size_t i = 0; i < orph.n; i++)
		if (orph.list[i].deadline > 0 &&
		    orph.list[i].deadline <= clock_now()) {
			log_msg(LOG_WARNING,
			        "orphan pid %ld: still running after "
			        "stop_timeout, sending SIGKILL",
			        (long)orph.list[i].pid);
			orphan_signal(orph.list[i].pid, SIGKILL);
			orph.list[i].deadline = 0; /* killed: no more to do */
		}
	orphans_arm();
}

struct sweep {
	int64_t timeout_ms;
	size_t left;  /* orphans still there, zombies included */
	size_t fresh; /* signalled now */
};

static bool
sweep_one(const struct procstat *ps, void *ctx)
{
	struct sweep *s = ctx;

	if (!orphan_is(ps))
		return false;
	s->left++;
	if (ps->state == 'Z' || orphan_find(ps->pid) != NULL)
		return false; /* exited already, or asked already */
	if (orph.n == orph.cap) {
		orph.cap = orph.cap ? 2 * orph.cap : 8;
		orph.list =
		    xreallocarray(orph.list, orph.cap, sizeof(*orph.list));
	}
	orph.list[orph.n].pid = ps->pid;
	orph.list[orph.n].deadline =
	    clock_now() + (ev_tstamp)s->timeout_ms / 1000.0;
	orph.n++;
	s->fresh++;
	orphan_signal(ps->pid, SIGTERM);
	orphan_signal(ps->pid, SIGCONT); /* a stopped one must run to exit */
	return false;
}

/*
 * Send SIGTERM to every orphan not yet asked to stop, and SIGKILL after
 * timeout_ms. Returns how many orphans are left, zombies included: tendd
 * is done once that is 0 and the orphans' exits have been reaped.
 */
size_t
orphans_stop(int64_t timeout_ms)
{
	struct sweep s = {.timeout_ms = timeout_ms};

	if (orph.kill.cb == NULL)
		ev_init(&orph.kill, kill_cb);
	procstat_each(sweep_one, &s);
	if (s.fresh > 0) {
		log_msg(LOG_INFO, "stopping %zu orphaned process%s", s.fresh,
		        s.fresh == 1 ? "" : "es");
		orphans_arm();
	}
	return s.left;
}

static bool
kill_one(const struct procstat *ps, void *ctx)
{
	(void)ctx;
	if (orphan_is(ps) && ps->state != 'Z')
		orphan_signal(ps->pid, SIGKILL);
	return false;
}

/* A second SIGTERM: kill every orphan at once. */
void
orphans_kill_now(void)
{
	procstat_each(kill_one, NULL);
	for (size_t i = 0; i < orph.n; i++)
		orph.list[i].deadline = 0;
	orphans_arm();
}

/* pid, a child no run owns, was reaped: no longer one to stop. */
void
orphans_reaped(pid_t pid)
{
	struct orphan *o = orphan_find(pid);

	if (o == NULL)
		return;
	*o = orph.list[--orph.n];
	orphans_arm();
}

void
orphans_free(void)
{
	ev_timer_stop(EV_DEFAULT, &orph.kill);
	free(orph.list);
	memset(&orph, 0, sizeof(orph));
}

/* What a run that just ended may have left behind. */
struct escape {
	pid_t run;
	unsigned long long since; /* the run's start, in clock ticks */
	pid_t found;
};

static bool
escape_one(const struct procstat *ps, void *ctx)
{
	struct escape *e = ctx;

	if (ps->state == 'Z' || ps->start < e->since)
		return false;
	if (ps->session == e->run || ps->pgrp == e->run || orphan_is(ps)) {
		e->found = ps->pid;
		return true;
	}
	return false;
}

/*
 * r, a durable task's run, was just reaped (its group not yet killed): if
 * it exited 0 at once and left a process behind, in its session or group
 * or adopted by tendd, say that it probably forked into the background.
 */
void
orphans_hint(const struct run *r)
{
	struct escape e = {.run = r->pid};
	struct timespec now;
	char after[32];
	double ran, since;
	long hz;

	/* Cheap tests first: every run's reap, each connection's, comes here.
	 */
	if (r->task->cfg->class != CLASS_DURABLE || r->exec_failed ||
	    r->stopping || !WIFEXITED(r->wstatus) ||
	    WEXITSTATUS(r->wstatus) != 0)
		return;
	ran = clock_now() - r->started;
	hz = sysconf(_SC_CLK_TCK);
	if (ran * 1000 >= HINT_WITHIN_MS || hz <= 0 ||
	    clock_gettime(CLOCK_BOOTTIME, &now) == -1)
		return;
	/* A tick early: /proc rounds start times down to whole ticks. */
	since = ((double)now.tv_sec + (double)now.tv_nsec / 1e9 - ran) *
	            (double)hz -
	        1;
	e.since = since > 0 ? (unsigned long long)since : 0;
	if (!procstat_each(escape_one, &e))
		return;
	describe_duration(ran, after, sizeof(after));
	log_msg(LOG_WARNING,
	        "task %s: exited 0 after %s and left pid %ld running: it "
	        "probably forked into the background; run it in the "
	        "foreground (nginx: daemon off; most daemons: a --foreground "
	        "or -D/-f option)",
	        r->task->cfg->name, after, (long)e.found);
}
