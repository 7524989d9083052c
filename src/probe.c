/*
 * probe.c: one readiness or health probe in flight (SPEC section 8).
 *
 * tcp: and unix: probes connect a non-blocking socket: a connection
 * accepted into the listener's backlog is a success ("connected"), whether
 * or not the server ever accepts it; a refusal, a missing socket file or a
 * unix listener whose backlog is full (EAGAIN) is a failure named by the
 * error ("connect to 127.0.0.1:5432: Connection refused"). The socket is
 * closed as soon as the answer is known; nothing is ever sent on it.
 *
 * exec: probes run their command as the task runs its own (user, group,
 * directory, umask, environment), in a session of their own, with stdin,
 * stdout and stderr on /dev/null: a probe's output goes nowhere. Exit
 * status 0 is a success; anything else is a failure in words ("exit
 * status 2", "killed by signal 9 (SIGKILL)", "cannot exec /usr/bin/x: No
 * such file or directory"). Once reaped, what is left of its process
 * group is killed, as a run's is.
 *
 * A probe not answered within its timeout fails ("timed out after 5.0s"),
 * reported at once: an exec probe's group is SIGKILLed then, and the probe
 * lives on, detached, until its process is reaped, so that a process stuck
 * in the kernel cannot hold a task's health check forever. probe_cancel
 * detaches a probe in the same way, without a word.
 *
 * done is called at most once, always from the loop: an answer known in
 * probe_start (an immediate connect, a socket tendd cannot make) waits for
 * a zero-delay timer. Probes are freed in probe_reclaim, when no callback
 * is on the stack: libev may deliver a probe's exit to its own watcher and
 * to the orphan watcher in either order, and probe_is_ours must still know
 * the pid in both.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tend.h"

#define PROBE_RESULT_MAX 256

struct probe {
	probe_done_fn *done;
	void *data;
	bool answered; /* done was called, or will never be */
	int64_t timeout_ms;
	ev_timer timer; /* the timeout, or a zero delay for an early answer */
	bool early_ok;
	char early[PROBE_RESULT_MAX];
	/* tcp, unix */
	ev_io io;
	char *target; /* the address without its "tcp:" or "unix:" */
	/* exec */
	ev_child child;
	pid_t pid; /* 0: none */
	bool exec_failed;
	struct spawn_failure failure;
	char *argv0;
	char *directory;
	struct probe *prev_all, *next_all; /* every probe not yet freed */
	struct probe *next_dead;           /* over, waiting to be freed */
};

static struct probe *all_probes;
static struct probe *dead_probes;
static size_t live_processes;

/* Tell the caller, unless it was told or cancelled already. */
static void
probe_answer(struct probe *p, bool ok, const char *result)
{
	if (p->answered)
		return;
	p->answered = true;
	p->done(p->data, ok, result);
}

/* The probe holds nothing any more: free it in probe_reclaim. */
static void
probe_retire(struct probe *p)
{
	p->next_dead = dead_probes;
	dead_probes = p;
}

static void
probe_close_socket(struct probe *p)
{
	if (p->io.fd < 0)
		return;
	ev_io_stop(EV_DEFAULT, &p->io);
	close(p->io.fd);
	p->io.fd = -1;
}

/* SIGKILL an exec probe's whole group (it is a session leader). */
static void
probe_kill(struct probe *p)
{
	if (kill(-p->pid, SIGKILL) == -1 && errno == ESRCH)
		kill(p->pid, SIGKILL);
}

/* An answer known before the loop runs: given from a zero-delay timer. */
static void probe_answer_later(struct probe *p, bool ok, const char *fmt, ...)
    PRINTFLIKE(3, 4);

static void
probe_answer_later(struct probe *p, bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->early, sizeof(p->early), fmt, ap);
	va_end(ap);
	p->early_ok = ok;
	ev_timer_stop(EV_DEFAULT, &p->timer);
	ev_timer_set(&p->timer, 0., 0.);
	ev_timer_start(EV_DEFAULT, &p->timer);
}

static void
timer_cb(EV_P_ ev_timer *w, int revents)
{
	struct probe *p = w->data;
	char after[32], result[64];

	(void)EV_A;
	(void)revents;
	if (p->early[0] != '\0') {
		probe_answer(p, p->early_ok, p->early);
		probe_retire(p); /* no process: early answers have none */
		return;
	}
	describe_duration((double)p->timeout_ms / 1000.0, after, sizeof(after));
	snprintf(result, sizeof(result), "timed out after %s", after);
	if (p->pid > 0) {
		/* Answered now; the process is reaped (and p freed) later. */
		probe_kill(p);
		probe_answer(p, false, result);
		return;
	}
	probe_close_socket(p);
	probe_answer(p, false, result);
	probe_retire(p);
}

/* The connect in progress is over: SO_ERROR says how it went. */
static void
io_cb(EV_P_ ev_io *w, int revents)
{
	struct probe *p = w->data;
	socklen_t len = sizeof(int);
	char result[PROBE_RESULT_MAX];
	int err = 0;

	(void)revents;
	if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	ev_timer_stop(EV_A_ & p->timer);
	probe_close_socket(p);
	if (err == 0) {
		probe_answer(p, true, "connected");
	} else {
		snprintf(result, sizeof(result), "connect to %s: %s", p->target,
		         strerror(err));
		probe_answer(p, false, result);
	}
	probe_retire(p);
}

/* Start a tcp: or unix: probe: the answer now, or an ev_io for it. */
static void
probe_connect(struct probe *p, const struct endpoint *ep)
{
	const char *colon = strchr(ep->text, ':');
	int fd,
	    family = ep->kind == ENDPOINT_UNIX ? AF_UNIX : ep->addr.ss_family;

	p->target = xstrdup(colon ? colon + 1 : ep->text);
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		probe_answer_later(p, false, "cannot make a socket for %s: %s",
		                   p->target, strerror(errno));
		return;
	}
	if (connect(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) == 0) {
		close(fd);
		probe_answer_later(p, true, "connected");
		return;
	}
	/*
	 * EAGAIN is a unix listener's full backlog: a failure, as a busy
	 * server is not ready. EINTR leaves the connect going on, as
	 * EINPROGRESS does.
	 */
	if (errno != EINPROGRESS && errno != EINTR) {
		int err = errno;
		close(fd);
		probe_answer_later(p, false, "connect to %s: %s", p->target,
		                   strerror(err));
		return;
	}
	ev_io_set(&p->io, fd, EV_WRITE);
	ev_io_start(EV_DEFAULT, &p->io);
	if (p->timeout_ms > 0) {
		ev_timer_set(&p->timer, (ev_tstamp)p->timeout_ms / 1000.0, 0.);
		ev_timer_start(EV_DEFAULT, &p->timer);
	}
}

/* What the exec probe's exit says: the spawn's failure or its status. */
static bool
probe_exit_result(const struct probe *p, int status, char *buf, size_t size)
{
	const char *what = "";

	if (!p->exec_failed) {
		describe_wait_status(status, buf, size);
		return WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	if (p->failure.step == STEP_EXEC)
		what = p->argv0;
	else if (p->failure.step == STEP_CHDIR)
		what = p->directory ? p->directory : "/";
	snprintf(buf, size, "cannot %s%s%s: %s",
	         spawn_step_name(p->failure.step), *what ? " " : "", what,
	         strerror(p->failure.err));
	return false;
}

static void
child_cb(EV_P_ ev_child *w, int revents)
{
	struct probe *p = w->data;
	char result[PROBE_RESULT_MAX];
	bool ok;

	(void)revents;
	ev_child_stop(EV_A_ w);
	ev_timer_stop(EV_A_ & p->timer);
	/* What it left in its group goes too: no strays (see run.c). */
	kill(-p->pid, SIGKILL);
	live_processes--;
	ok = probe_exit_result(p, w->rstatus, result, sizeof(result));
	probe_answer(p, ok, result);
	probe_retire(p);
}

/*
 * Start an exec probe as cfg's task would run: through spawn_process with
 * the probe's command, and its output on /dev/null (a probe's output is
 * not the task's and goes nowhere).
 */
static void
probe_exec(struct probe *p, const struct probe_spec *spec,
           const struct task_config *cfg)
{
	struct task_config c = *cfg;
	struct spawned sp;

	if (spec->argv == NULL || spec->argv[0] == NULL) {
		probe_answer_later(p, false, "no command to run");
		return;
	}
	c.argv = spec->argv;
	c.argc = spec->argc;
	c.out = OUTPUT_NULL;
	c.err = OUTPUT_NULL;
	if (spawn_process(&c, NULL, &sp) == -1) {
		probe_answer_later(p, false, "cannot spawn %s: %s",
		                   spec->argv[0], strerror(errno));
		return;
	}
	p->pid = sp.pid;
	live_processes++;
	p->exec_failed = sp.exec_failed;
	p->failure = sp.failure;
	free(sp.why); /* the step and errno say enough for a probe */
	p->argv0 = xstrdup(spec->argv[0]);
	if (cfg->directory)
		p->directory = xstrdup(cfg->directory);
	/* Watched before the loop runs again: no exit is missed. */
	ev_child_init(&p->child, child_cb, sp.pid, 0);
	p->child.data = p;
	ev_child_start(EV_DEFAULT, &p->child);
	if (p->timeout_ms > 0) {
		ev_timer_set(&p->timer, (ev_tstamp)p->timeout_ms / 1000.0, 0.);
		ev_timer_start(EV_DEFAULT, &p->timer);
	}
}

/*
 * Probe spec for cfg's task; done(data, ok, result) once answered, from
 * the loop, unless probe_cancel comes first. timeout_ms <= 0: none. The
 * probe is the caller's until done is called or it cancels it.
 */
struct probe *
probe_start(const struct probe_spec *spec, const struct task_config *cfg,
            int64_t timeout_ms, probe_done_fn *done, void *data)
{
	struct probe *p = xcalloc(1, sizeof(*p));

	p->done = done;
	p->data = data;
	p->timeout_ms = timeout_ms;
	ev_init(&p->timer, timer_cb);
	p->timer.data = p;
	ev_io_init(&p->io, io_cb, -1, EV_WRITE);
	p->io.data = p;
	p->next_all = all_probes;
	if (all_probes)
		all_probes->prev_all = p;
	all_probes = p;

	switch (spec->kind) {
	case PROBE_TCP:
	case PROBE_UNIX:
		probe_connect(p, &spec->addr);
		break;
	case PROBE_EXEC:
		probe_exec(p, spec, cfg);
		break;
	case PROBE_NONE:
	case PROBE_NOTIFY:
		probe_answer_later(p, false, "%s cannot be probed",
		                   spec->text ? spec->text : "none");
		break;
	}
	return p;
}

/*
 * done will not be called. A connection in progress is closed; an exec
 * probe's group is SIGKILLed, and the probe is freed once reaped.
 */
void
probe_cancel(struct probe *p)
{
	if (p->answered)
		return; /* over already: retired, or waiting for its reap */
	p->answered = true;
	ev_timer_stop(EV_DEFAULT, &p->timer);
	if (p->pid > 0) {
		probe_kill(p);
		return;
	}
	probe_close_socket(p);
	probe_retire(p);
}

/* Whether pid is (or was, this loop iteration) a probe's process. */
bool
probe_is_ours(pid_t pid)
{
	for (struct probe *p = all_probes; p; p = p->next_all)
		if (p->pid > 0 && p->pid == pid)
			return true;
	return false;
}

/* How many probe processes are not yet reaped. */
size_t
probe_processes(void)
{
	return live_processes;
}

/* Free the probes that are over; called when no callback is on the stack. */
void
probe_reclaim(void)
{
	while (dead_probes) {
		struct probe *p = dead_probes;
		dead_probes = p->next_dead;
		if (p->prev_all)
			p->prev_all->next_all = p->next_all;
		else
			all_probes = p->next_all;
		if (p->next_all)
			p->next_all->prev_all = p->prev_all;
		free(p->target);
		free(p->argv0);
		free(p->directory);
		free(p);
	}
}
