/*
 * control.c: tendd's control socket. One request per connection: a client
 * sends one line, tendd answers (at once, or when the change is done: a
 * stop once the processes are reaped) and closes.
 *
 * Every client socket is non-blocking with bounded buffers. A client that
 * sends too much, garbage, or nothing at all is answered with an error or
 * dropped; none can block the loop or delay another client.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

#define CLIENTS_MAX    1024       /* beyond, the oldest silent one goes */
#define CLIENT_IDLE    10.0       /* seconds to send a request */
#define CLIENT_OUT_MAX (64 << 20) /* an answer that big is dropped */

enum client_wait {
	WAIT_NONE,
	WAIT_STOPPED,   /* until the tasks have no process */
	WAIT_RESTARTED, /* until the tasks are no longer stopping */
	WAIT_RUN,       /* until one run ends */
	WAIT_RELOADED,  /* until what a reload stopped is down or up again */
	WAIT_SHUTDOWN,  /* until tendd exits */
};

struct client {
	int fd;
	ev_io rio;
	ev_io wio;
	ev_timer idle;
	struct buf in;
	struct buf out;
	struct ucred peer;
	bool privileged;
	enum client_wait wait;
	struct task *tasks[PROTO_TASKS_MAX]; /* what WAIT_* waits on */
	int ntasks;
	struct run *run;
	unsigned long stop_serial;   /* stop waits for runs up to this one */
	unsigned long reload_serial; /* the reload it waits on */
	struct client *next;
};

static struct {
	int fd;
	char *path;
	ev_io accept;
	ev_timer accept_pause; /* after EMFILE: accepting again would spin */
	struct client *clients;
	int nclients;
	ev_tstamp started;
} ctl = {.fd = -1};

static void client_close(struct client *);

/* Answers. */

/*
 * Queue the answer. The idle timer runs again: a client that does not read
 * its answer within CLIENT_IDLE of the last progress is dropped.
 */
static void
client_flush(struct client *c)
{
	ev_timer_again(EV_DEFAULT, &c->idle);
	if (c->out.len > CLIENT_OUT_MAX) {
		log_msg(LOG_WARNING,
		        "control: answer to pid %ld too large, "
		        "dropped",
		        (long)c->peer.pid);
		client_close(c);
		return;
	}
	ev_io_start(EV_DEFAULT, &c->wio);
}

static void client_msg(struct client *c, const char *type, const char *fmt, ...)
    PRINTFLIKE(3, 4);

static void
client_msg(struct client *c, const char *type, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	proto_begin(&c->out, type);
	proto_add(&c->out, "text", text);
	proto_end(&c->out);
	free(text);
}

/* End the answer with tendctl's exit status; the client closes after. */
static void
client_end(struct client *c, int code)
{
	c->wait = WAIT_NONE;
	proto_begin(&c->out, "end");
	proto_add_num(&c->out, "code", (long long)code);
	proto_end(&c->out);
	client_flush(c);
}

/* Status. */

static void
status_task(struct buf *b, const struct task *t, ev_tstamp now)
{
	const struct task_config *cfg = t->cfg;
	bool one = cfg->class != CLASS_PER_REQUEST && t->runs != NULL;

	proto_begin(b, "task");
	proto_add(b, "name", cfg->name);
	proto_add(b, "class", manifest_class_name(cfg->class));
	proto_add(b, "state", policy_state_name(t->policy.state));
	if (one) {
		proto_add_num(b, "pid", (long long)t->runs->pid);
		proto_add_seconds(b, "uptime", now - t->runs->started);
	}
	proto_add_num(b, "restarts", (long long)t->policy.restarts);
	if (t->policy.state == STATE_BACKOFF)
		proto_add_seconds(b, "next_start",
		                  t->next_start > now ? t->next_start - now
		                                      : 0.0);
	if (t->has_last_exit && WIFSIGNALED(t->last_wstatus)) {
		const char *name = signame_name(WTERMSIG(t->last_wstatus));
		proto_add(b, "signal", name ? name : "unnamed");
		proto_add_num(b, "signo", (long long)WTERMSIG(t->last_wstatus));
		if (WCOREDUMP(t->last_wstatus))
			proto_add(b, "core", "1");
	} else if (t->has_last_exit)
		proto_add_num(b, "code",
		              (long long)WEXITSTATUS(t->last_wstatus));
	proto_add_num(
	    b, "active",
	    (long long)cfg->class == CLASS_PER_REQUEST ? t->policy.active : 0);
	proto_add_num(b, "requests", (long long)t->requests);
	proto_add_num(b, "failures", (long long)t->failures);
	proto_end(b);
}

/* Whether status should exit 3 for t: SPEC section 6. */
static bool
status_unhealthy(const struct task *t)
{
	if (t->cfg->class == CLASS_DURABLE)
		return t->policy.state != STATE_RUNNING;
	if (t->cfg->class == CLASS_LOG_ONLY)
		return t->policy.state == STATE_FAILED;
	return false;
}

/* Resolve every name of r into c->tasks; on an unknown one, answer 1. */
static bool
client_resolve(struct client *c, const struct proto_request *r)
{
	for (int i = 0; i < r->ntasks; i++) {
		if ((c->tasks[i] = supervisor_find(r->tasks[i])) == NULL) {
			client_msg(c, "err", "unknown task '%s'", r->tasks[i]);
			client_end(c, EXIT_ERROR);
			return false;
		}
	}
	c->ntasks = r->ntasks;
	return true;
}

static void
do_status(struct client *c, const struct proto_request *r)
{
	ev_tstamp now = ev_time();
	bool unhealthy = false;
	size_t ntasks;
	struct task *const *tasks = supervisor_tasks(&ntasks);

	if (!client_resolve(c, r))
		return;
	proto_begin(&c->out, "daemon");
	proto_add_num(&c->out, "pid", (long long)getpid());
	proto_add(&c->out, "version", TEND_VERSION);
	proto_add(&c->out, "manifest", supervisor_manifest()->path);
	proto_add_seconds(&c->out, "uptime", now - ctl.started);
	proto_add_num(&c->out, "log_dropped", (long long)log_dropped());
	proto_end(&c->out);
	if (r->ntasks) {
		tasks = c->tasks;
		ntasks = (size_t)c->ntasks;
	}
	for (size_t i = 0; i < ntasks; i++) {
		const struct task *t = tasks[i];
		status_task(&c->out, t, now);
		unhealthy |= status_unhealthy(t);
	}
	c->ntasks = 0;
	client_end(c, unhealthy ? EXIT_NOT_RUNNING : EXIT_OK);
}

/* Waiting for changes to be done. */

static bool
client_wait_over(const struct client *c)
{
	for (int i = 0; i < c->ntasks; i++) {
		const struct task *t = c->tasks[i];
		if (c->wait == WAIT_STOPPED &&
		    task_has_run_before(t, c->stop_serial))
			return false;
		if (c->wait == WAIT_RESTARTED &&
		    t->policy.state == STATE_STOPPING)
			return false;
	}
	return true;
}

static void
client_wait_check(struct client *c)
{
	if (c->wait == WAIT_RELOADED &&
	    !supervisor_reload_pending(c->reload_serial)) {
		client_end(c, EXIT_OK);
		return;
	}
	if ((c->wait == WAIT_STOPPED || c->wait == WAIT_RESTARTED) &&
	    client_wait_over(c)) {
		for (int i = 0; i < c->ntasks; i++)
			client_msg(
			    c, "msg", "%s %s", c->tasks[i]->cfg->name,
			    policy_state_name(c->tasks[i]->policy.state));
		client_end(c, EXIT_OK);
	}
}

/* A task changed: answer the clients whose change is now done. */
void
control_tasks_changed(void)
{
	struct client *c, *next;

	for (c = ctl.clients; c; c = next) {
		next = c->next;
		client_wait_check(c);
	}
}

/*
 * A retired task is about to be freed: no client may wait on it any more;
 * one that did is told it was removed.
 */
void
control_task_gone(struct task *t)
{
	for (struct client *c = ctl.clients; c; c = c->next)
		for (int i = 0; i < c->ntasks; i++)
			if (c->tasks[i] == t) {
				client_msg(c, "msg", "%s removed by a reload",
				           t->cfg->name);
				c->tasks[i--] = c->tasks[--c->ntasks];
			}
}

/* A run ended: answer "run --wait" with its exit status. */
void
control_run_ended(struct run *r)
{
	int code;

	for (struct client *c = ctl.clients, *next; c; c = next) {
		next = c->next; /* client_end may close c */
		if (c->wait != WAIT_RUN || c->run != r)
			continue;
		code = r->exec_failed ? 127 : describe_exit_code(r->wstatus);
		c->run = NULL;
		client_end(c, code);
	}
}

/*
 * tendd is about to exit: answer every client still waiting, and send what
 * is queued, as well as a non-blocking send can.
 */
void
control_shutdown_done(void)
{
	struct client *c, *next;

	for (c = ctl.clients; c; c = next) {
		next = c->next; /* client_end may close c */
		if (c->wait == WAIT_SHUTDOWN)
			client_end(c, EXIT_OK);
		else if (c->wait == WAIT_RUN) {
			client_msg(c, "err", "tendd shut down");
			client_end(c, EXIT_ERROR);
		} else if (c->wait != WAIT_NONE)
			client_wait_check(c);
	}
	for (c = ctl.clients; c; c = c->next) {
		if (c->out.len > 0) {
			ssize_t n = send(c->fd, c->out.data, c->out.len,
			                 MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)n;
		}
	}
}

/* State-changing commands. */

static void
do_start_stop(struct client *c, const struct proto_request *r)
{
	if (r->ntasks == 0) {
		client_msg(c, "err", "%s needs a task name",
		           proto_cmd_name(r->cmd));
		client_end(c, EXIT_ERROR);
		return;
	}
	if (!client_resolve(c, r))
		return;
	c->stop_serial = run_serial_last(); /* not a run started after */
	for (int i = 0; i < c->ntasks; i++) {
		if (r->cmd != CMD_START)
			task_handle(c->tasks[i], EVENT_STOP);
		if (r->cmd != CMD_STOP)
			task_handle(c->tasks[i], EVENT_START);
	}
	c->wait = r->cmd == CMD_STOP ? WAIT_STOPPED : WAIT_RESTARTED;
	client_wait_check(c);
}

static void
do_signal(struct client *c, const struct proto_request *r)
{
	int signo = r->signal ? signame_parse(r->signal) : -1;
	int failed = 0;

	if (signo == -1 || r->ntasks == 0) {
		client_msg(c, "err", "usage: signal SIG NAME...");
		client_end(c, EXIT_ERROR);
		return;
	}
	if (!client_resolve(c, r))
		return;
	for (int i = 0; i < c->ntasks; i++) {
		struct task *t = c->tasks[i];
		if (t->runs == NULL) {
			client_msg(c, "err", "%s has no process", t->cfg->name);
			failed++;
		}
		for (struct run *run = t->runs; run; run = run->next_in_task)
			run_signal(run, signo);
	}
	c->ntasks = 0;
	client_end(c, failed ? EXIT_ERROR : EXIT_OK);
}

static void
do_run(struct client *c, const struct proto_request *r)
{
	struct task *t;
	struct run *run;
	const char *why;

	if (r->ntasks != 1) {
		client_msg(c, "err", "usage: run NAME [--wait]");
		client_end(c, EXIT_ERROR);
		return;
	}
	if (!client_resolve(c, r))
		return;
	t = c->tasks[0];
	c->ntasks = 0;
	if ((run = task_run(t, &why)) == NULL) {
		client_msg(c, "err", "%s: %s", t->cfg->name, why);
		client_end(c, EXIT_ERROR);
		return;
	}
	if (!r->wait) {
		client_msg(c, "msg", "%s started, pid %ld", t->cfg->name,
		           (long)run->pid);
		client_end(c, EXIT_OK);
		return;
	}
	c->wait = WAIT_RUN;
	c->run = run;
}

static void
reload_say(void *ctx, const char *line)
{
	client_msg(ctx, "msg", "%s", line);
}

/*
 * Reload: print what changes, or every problem of the new manifest and
 * exit 1. Answered once what the reload stopped is down (a removed task)
 * or up again (a restarted one).
 */
static void
do_reload(struct client *c, const struct proto_request *r)
{
	struct diag errors = {0};

	if (reload_manifest(r->dry_run, reload_say, c, &errors,
	                    &c->reload_serial) == -1) {
		/* As tendd --check prints them: "FILE:LINE: message". */
		for (size_t i = 0; i < errors.count; i++)
			client_msg(c, "problem", "%s", errors.items[i].text);
		client_end(c, EXIT_ERROR);
	} else {
		c->wait = WAIT_RELOADED;
		client_wait_check(c);
	}
	diag_free(&errors);
}

/* Log a state-changing request with who asked: SPEC section 7. */
static void
control_log_request(const struct client *c, const struct proto_request *r)
{
	struct buf words = {0};

	buf_add(&words, proto_cmd_name(r->cmd), strlen(proto_cmd_name(r->cmd)));
	if (r->signal)
		buf_addf(&words, " %s", r->signal);
	for (int i = 0; i < r->ntasks; i++)
		buf_addf(&words, " %s", r->tasks[i]);
	if (r->wait || r->dry_run)
		buf_addf(&words, " %s", r->wait ? "--wait" : "--dry-run");
	log_msg(LOG_INFO, "control: uid %u pid %ld: %s", (unsigned)c->peer.uid,
	        (long)c->peer.pid, words.data);
	buf_free(&words);
}

static void
client_request(struct client *c, const char *line, size_t len)
{
	struct proto_msg m;
	struct proto_request r;
	const char *why;

	if ((why = proto_parse(line, len, &m)) != NULL ||
	    (why = proto_request_decode(&m, &r)) != NULL) {
		client_msg(c, "err", "bad request: %s", why);
		client_end(c, EXIT_ERROR);
		proto_msg_free(&m);
		return;
	}
	if (proto_cmd_changes_state(r.cmd)) {
		if (supervisor_shutting_down() && r.cmd != CMD_SHUTDOWN) {
			client_msg(c, "err", "tendd is shutting down");
			client_end(c, EXIT_ERROR);
			proto_msg_free(&m);
			return;
		}
		if (!c->privileged) {
			client_msg(c, "err",
			           "permission denied: uid %u may "
			           "only query",
			           (unsigned)c->peer.uid);
			client_end(c, EXIT_ERROR);
			proto_msg_free(&m);
			return;
		}
		control_log_request(c, &r);
	}
	switch (r.cmd) {
	case CMD_STATUS:
		do_status(c, &r);
		break;
	case CMD_START:
	case CMD_STOP:
	case CMD_RESTART:
		do_start_stop(c, &r);
		break;
	case CMD_SIGNAL:
		do_signal(c, &r);
		break;
	case CMD_RUN:
		do_run(c, &r);
		break;
	case CMD_SHUTDOWN:
		c->wait = WAIT_SHUTDOWN;
		supervisor_shutdown(0);
		break;
	case CMD_RELOAD:
		do_reload(c, &r);
		break;
	case CMD_LOG:
	case CMD_METRICS:
		client_msg(c, "err", "%s is not implemented yet",
		           proto_cmd_name(r.cmd));
		client_end(c, EXIT_ERROR);
		break;
	}
	proto_msg_free(&m);
}

/* Client I/O. */

static void
client_read_cb(EV_P_ ev_io *w, int revents)
{
	struct client *c = w->data;
	char chunk[4096], *nl;
	ssize_t n;

	(void)revents;
	n = read(c->fd, chunk, sizeof(chunk));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	buf_add(&c->in, chunk, (size_t)n);
	nl = memchr(c->in.data, '\n', c->in.len);
	if (nl == NULL && c->in.len < PROTO_LINE_MAX)
		return;
	/* One request per connection: stop reading, then answer. */
	ev_io_stop(EV_A_ w);
	ev_timer_stop(EV_A_ & c->idle);
	if (nl == NULL || nl - c->in.data >= PROTO_LINE_MAX) {
		client_msg(c, "err", "request longer than %d bytes",
		           PROTO_LINE_MAX);
		client_end(c, EXIT_ERROR);
		return;
	}
	client_request(c, c->in.data, (size_t)(nl - c->in.data));
}

static void
client_write_cb(EV_P_ ev_io *w, int revents)
{
	struct client *c = w->data;
	ssize_t n;

	(void)revents;
	n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	buf_consume(&c->out, (size_t)n);
	ev_timer_again(EV_A_ & c->idle);
	if (c->out.len > 0)
		return;
	ev_io_stop(EV_A_ w);
	ev_timer_stop(EV_A_ & c->idle);
	if (c->wait == WAIT_NONE && !ev_is_active(&c->rio))
		client_close(c);
}

static void
client_idle_cb(EV_P_ ev_timer *w, int revents)
{
	struct client *c = w->data;

	(void)EV_A;
	(void)revents;
	client_close(c);
}

static void
client_close(struct client *c)
{
	struct client **p;

	ev_io_stop(EV_DEFAULT, &c->rio);
	ev_io_stop(EV_DEFAULT, &c->wio);
	ev_timer_stop(EV_DEFAULT, &c->idle);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	for (p = &ctl.clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	free(c);
	if (ctl.nclients-- == CLIENTS_MAX && !ev_is_active(&ctl.accept_pause))
		ev_io_start(EV_DEFAULT, &ctl.accept);
}

/*
 * At CLIENTS_MAX, make room by closing the oldest client that has not sent
 * its request yet: tendctl sends at once, so that one is most likely idle,
 * and silent connections cannot lock everyone out.
 */
static bool
client_evict_silent(void)
{
	struct client *oldest = NULL;

	for (struct client *c = ctl.clients; c; c = c->next)
		if (ev_is_active(&c->rio))
			oldest = c; /* the list is newest first */
	if (oldest == NULL)
		return false;
	client_close(oldest);
	return true;
}

static void
accept_cb(EV_P_ ev_io *w, int revents)
{
	struct client *c;
	socklen_t len = sizeof(struct ucred);
	int fd;

	(void)revents;
	if (ctl.nclients >= CLIENTS_MAX && !client_evict_silent()) {
		ev_io_stop(EV_A_ w); /* all busy: wait for one to finish */
		return;
	}
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_msg(LOG_ERR, "control: accept: %s; pausing 1s",
			        strerror(errno));
			ev_io_stop(EV_A_ w);
			ev_timer_set(&ctl.accept_pause, 1., 0.);
			ev_timer_start(EV_A_ & ctl.accept_pause);
		}
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) == -1)
		c->peer.uid = (uid_t)-1;
	c->privileged = c->peer.uid == 0 || c->peer.uid == geteuid();
	ev_io_init(&c->rio, client_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, client_write_cb, fd, EV_WRITE);
	ev_timer_init(&c->idle, client_idle_cb, CLIENT_IDLE, CLIENT_IDLE);
	c->rio.data = c->wio.data = c->idle.data = c;
	ev_io_start(EV_A_ & c->rio);
	ev_timer_start(EV_A_ & c->idle);
	c->next = ctl.clients;
	ctl.clients = c;
	ctl.nclients++;
}

static void
accept_pause_cb(EV_P_ ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_io_start(EV_A_ & ctl.accept);
}

/* The socket. */

/*
 * Whether a tendd answers on path; a dead socket file is removed. The
 * probe does not block: a server with a full backlog is as good as there,
 * and a reload must not stall the loop on it.
 */
static int
control_claim(const char *path, struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct stat st;
	int rc;

	if (fd == -1)
		return -1;
	rc = connect(fd, (struct sockaddr *)sun, sizeof(*sun));
	if (rc == -1 && errno == EAGAIN)
		rc = 0; /* someone is there, only busy */
	close(fd);
	if (rc == 0) {
		log_msg(LOG_ERR, "another tendd is running on %s", path);
		return -1;
	}
	if (errno != ECONNREFUSED)
		return 0;
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_msg(LOG_ERR, "%s exists and is not a socket", path);
		return -1;
	}
	if (unlink(path) == -1) {
		log_msg(LOG_ERR, "cannot remove stale socket %s: %s", path,
		        strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Give the socket file socket_mode and socket_group, or tendd's own group
 * (a reload may have removed socket_group).
 */
static int
control_permit(const char *path, const struct manifest *m)
{
	gid_t gid = m->has_socket_group ? m->socket_gid : getegid();

	/* The group first: a chown that fails then changes nothing. */
	if (chown(path, (uid_t)-1, gid) == -1 ||
	    chmod(path, m->socket_mode) == -1)
		return -1;
	return 0;
}

/* A listening socket at path, as m says; or -1 (logged). */
static int
control_bind(const char *path, const struct manifest *m)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	mode_t old;
	int fd, saved;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_msg(LOG_ERR, "control socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (control_claim(path, &sun) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	/* Never a moment with more permissions than socket_mode. */
	old = umask((mode_t)(~m->socket_mode & 0777));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		goto fail;
	}
	umask(old);
	if (control_permit(path, m) == -1 || listen(fd, 128) == -1) {
		saved = errno;
		unlink(path);
		errno = saved;
		goto fail;
	}
	return fd;
fail:
	log_msg(LOG_ERR, "control socket %s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/* Accept on fd, the socket file at path. */
static void
control_listen(int fd, const char *path)
{
	ctl.fd = fd;
	ctl.path = xstrdup(path);
	ev_io_init(&ctl.accept, accept_cb, ctl.fd, EV_READ);
	ev_io_start(EV_DEFAULT, &ctl.accept);
}

/* Stop accepting and remove the socket; the clients stay. */
static void
control_unlisten(void)
{
	ev_io_stop(EV_DEFAULT, &ctl.accept);
	ev_timer_stop(EV_DEFAULT, &ctl.accept_pause);
	close(ctl.fd);
	ctl.fd = -1;
	unlink(ctl.path);
	free(ctl.path);
	ctl.path = NULL;
}

/*
 * Create the control socket at path with m's socket_mode and
 * socket_group. Returns 0, or -1 (logged).
 */
int
control_open(const char *path, const struct manifest *m)
{
	int fd = control_bind(path, m);

	if (fd == -1)
		return -1;
	ctl.started = ev_now(EV_DEFAULT);
	ev_timer_init(&ctl.accept_pause, accept_pause_cb, 1., 0.);
	control_listen(fd, path);
	return 0;
}

/*
 * A reload: the socket moves to path, or keeps its path and takes m's
 * permissions. The connected clients are untouched: a client asking for
 * the reload gets its answer. On failure the old socket stays (logged).
 */
int
control_reconfigure(const char *path, const struct manifest *m)
{
	struct stat a, b;
	int fd;

	/* The same file, maybe spelt otherwise: only its permissions. */
	if (strcmp(path, ctl.path) == 0 ||
	    (stat(path, &a) == 0 && stat(ctl.path, &b) == 0 &&
	     a.st_dev == b.st_dev && a.st_ino == b.st_ino)) {
		if (control_permit(path, m) == 0)
			return 0;
		log_msg(LOG_ERR, "control socket %s: %s", path,
		        strerror(errno));
		return -1;
	}
	if ((fd = control_bind(path, m)) == -1)
		return -1;
	control_unlisten();
	control_listen(fd, path);
	return 0;
}

void
control_close(void)
{
	while (ctl.clients)
		client_close(ctl.clients);
	if (ctl.fd != -1)
		control_unlisten();
}
