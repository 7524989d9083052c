/*
 * listener.c: the socket of a per-request task, inetd-style. Each accepted
 * connection becomes one instance with the connection as its stdin and
 * stdout; tendd closes its copy at once.
 *
 * At max_instances the watcher stops and connections wait in the kernel's
 * backlog; an instance's exit starts it again. Errors that would make an
 * event loop spin (EMFILE, a failed spawn) or a bind that fails (port in
 * use) pause the listener on a timer instead, doubling from 100 ms to 10 s.
 * A connection accepted but not served for want of fds (the spawn failed)
 * is held, never closed unserved: accepting stops until it is served, on
 * the timer or as soon as an instance ends and gives fds back.
 *
 * A unix socket file is sockfile.c's, made with listen_mode, listen_user
 * and listen_group before it is renamed into place. A client (tcp: an
 * address; unix: a uid) that runs max_per_source instances already has its
 * next connection accepted and closed at once: never queued, where it
 * would hold up every other client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

#define ACCEPT_BATCH   32 /* connections per wakeup: fairness */
#define LISTEN_BACKLOG SOMAXCONN
#define RETRY_MIN      0.1 /* seconds */
#define RETRY_MAX      10.0
#define REFUSED_EVERY  1.0 /* seconds between refusal lines, at least */

static void listener_accept_cb(EV_P_ ev_io *, int);

/* Pause for the retry delay (doubling), then try again. */
static void
listener_pause(struct listener *l)
{
	ev_io_stop(EV_DEFAULT, &l->io);
	l->retry_delay = l->retry_delay > 0 ? l->retry_delay * 2 : RETRY_MIN;
	if (l->retry_delay > RETRY_MAX)
		l->retry_delay = RETRY_MAX;
	ev_timer_set(&l->retry, l->retry_delay, 0.);
	ev_timer_start(EV_DEFAULT, &l->retry);
}

/*
 * A unix socket is claimed under an flock on PATH.lock, held for as long as
 * the socket is open: another tendd that finds it held retries later and
 * never connects to the socket, which would be a request to this one, and
 * two tendds never both replace a stale socket. The lock file is removed
 * while the lock is held, so a lock is valid only on the file that is
 * still at PATH.lock (checked after taking it).
 */
static int
listener_lock(struct listener *l, const char *path)
{
	struct stat held, there;
	char *lock = xasprintf("%s.lock", path);
	int fd, saved;

	/* Without waiting: another user's FIFO there must not hold tendd. */
	fd = open(lock,
	          O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	              O_NOCTTY,
	          0600);
	if (fd == -1)
		goto fail;
	/* Another user's file, whose owner could hold it to keep us out. */
	if (fstat(fd, &held) == -1 || !S_ISREG(held.st_mode) ||
	    held.st_uid != geteuid()) {
		errno = EPERM;
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			errno = EADDRINUSE; /* another tendd listens there */
		goto fail;
	}
	if (stat(lock, &there) == -1 || held.st_dev != there.st_dev ||
	    held.st_ino != there.st_ino) {
		errno = EADDRINUSE; /* removed meanwhile by its owner: later */
		goto fail;
	}
	l->lock_fd = fd;
	l->lock_path = lock;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	free(lock);
	errno = saved;
	return -1;
}

/* Let go of the lock: the file first, while it is still held. */
static void
listener_unlock(struct listener *l)
{
	if (l->lock_fd < 0)
		return;
	unlink(l->lock_path);
	close(l->lock_fd);
	l->lock_fd = -1;
	free(l->lock_path);
	l->lock_path = NULL;
}

/*
 * Under the lock, whether a unix socket's path may be taken: nothing is
 * there, a symlink (the rename replaces the link, never its target), or a
 * socket file left by an earlier run. One that a program other than tendd
 * listens on is EADDRINUSE, as a tcp port would be; any other file is
 * EEXIST, never replaced. The kernel says whether anyone listens; only a
 * kernel without unix_diag makes us ask by connecting.
 */
static int
listener_unix_free(const struct endpoint *ep)
{
	const struct sockaddr_un *sun = (const void *)&ep->addr;
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (S_ISLNK(st.st_mode))
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	if ((rc = sockdiag_unix_listening(&st)) == -1) {
		/* Non-blocking: a full backlog must not stall us. */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            0);
		if (fd == -1)
			return -1;
		rc = connect(fd, (const struct sockaddr *)sun, ep->addrlen);
		rc = rc == 0 || errno == EAGAIN; /* EAGAIN: there, but busy */
		close(fd);
	}
	if (rc == 1) {
		errno = EADDRINUSE;
		return -1;
	}
	return 0;
}

/* A unix socket at cfg's listen path, its file made as cfg says. */
static int
listener_bind_unix(struct listener *l, const struct task_config *cfg)
{
	const char *path =
	    ((const struct sockaddr_un *)&cfg->listen.addr)->sun_path;
	uid_t uid = cfg->has_listen_user ? cfg->listen_uid : (uid_t)-1;
	gid_t gid = cfg->has_listen_group ? cfg->listen_gid : (gid_t)-1;
	struct stat st;
	int fd, saved;

	if (listener_lock(l, path) == -1)
		return -1;
	if (listener_unix_free(&cfg->listen) == -1 ||
	    (fd = sockfile_make(path, cfg->listen_mode, uid, gid,
	                        LISTEN_BACKLOG, &st)) == -1) {
		saved = errno;
		listener_unlock(l);
		errno = saved;
		return -1;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return fd;
}

/* Bind and listen; returns the fd or -1 with errno set. */
static int
listener_bind(struct listener *l, const struct task_config *cfg)
{
	const struct endpoint *ep = &cfg->listen;
	int fd, one = 1, saved;

	if (ep->kind == ENDPOINT_UNIX)
		return listener_bind_unix(l, cfg);
	fd = socket(ep->addr.ss_family,
	            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Try to bind; on failure log and retry later. Returns 0 once listening. */
static int
listener_try_open(struct listener *l)
{
	struct task *t = l->task;
	int fd = listener_bind(l, t->cfg);

	if (fd == -1) {
		log_msg(LOG_ERR, "task %s: cannot listen on %s: %s; retrying",
		        t->cfg->name, t->cfg->listen.text, strerror(errno));
		listener_pause(l);
		return -1;
	}
	l->retry_delay = 0;
	ev_io_init(&l->io, listener_accept_cb, fd, EV_READ);
	l->io.data = l;
	l->ops->listening(t, true);
	listener_resume(l);
	return 0;
}

/* The remote address of a tcp connection, for the instance's environment. */
static void
listener_remote_env(const struct sockaddr_storage *ss, char *addr, size_t asz,
                    char *port, size_t psz)
{
	static const char key[] = "TEND_REMOTE_ADDR=";
	const struct sockaddr_in *sin = (const void *)ss;
	const struct sockaddr_in6 *sin6 = (const void *)ss;
	bool v4 = ss->ss_family == AF_INET;
	const void *host =
	    v4 ? (const void *)&sin->sin_addr : (const void *)&sin6->sin6_addr;

	/* Straight after its key: this runs for every connection. */
	memcpy(addr, key, sizeof(key));
	inet_ntop(ss->ss_family, host, addr + sizeof(key) - 1,
	          (socklen_t)(asz - (sizeof(key) - 1)));
	snprintf(port, psz, "TEND_REMOTE_PORT=%u",
	         ntohs(v4 ? sin->sin_port : sin6->sin6_port));
}

/* Who a connection's client is, and what its instance is told of it. */
struct listener_peer {
	struct source source;
	char vars[3][64];
	char *env[4]; /* NULL-terminated */
};

/*
 * The client of connection fd (ss: its address): TEND_REMOTE_ADDR and
 * TEND_REMOTE_PORT (tcp), or the peer's credentials (unix), taken when it
 * connected: TEND_REMOTE_UID, TEND_REMOTE_GID, TEND_REMOTE_PID.
 */
static void
listener_peer(const struct listener *l, int fd,
              const struct sockaddr_storage *ss, struct listener_peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	memset(p, 0, sizeof(*p));
	if (l->task->cfg->listen.kind == ENDPOINT_TCP) {
		source_of_addr(&p->source, ss);
		listener_remote_env(ss, p->vars[0], sizeof(p->vars[0]),
		                    p->vars[1], sizeof(p->vars[1]));
		p->env[0] = p->vars[0];
		p->env[1] = p->vars[1];
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return; /* no client known: not capped */
	source_of_uid(&p->source, cred.uid);
	snprintf(p->vars[0], sizeof(p->vars[0]), "TEND_REMOTE_UID=%u",
	         (unsigned)cred.uid);
	snprintf(p->vars[1], sizeof(p->vars[1]), "TEND_REMOTE_GID=%u",
	         (unsigned)cred.gid);
	snprintf(p->vars[2], sizeof(p->vars[2]), "TEND_REMOTE_PID=%ld",
	         (long)cred.pid);
	for (int i = 0; i < 3; i++)
		p->env[i] = p->vars[i];
}

/* Log the refusals not yet logged, in one line. */
static void
listener_refused_say(struct listener *l)
{
	const struct task_config *cfg = l->task->cfg;
	char who[SOURCE_TEXT_MAX];

	source_text(&l->refused_last, who, sizeof(who));
	if (l->refused_since == 1)
		log_msg(LOG_WARNING,
		        "task %s: refused a connection from %s: "
		        "max_per_source (%ld) reached",
		        cfg->name, who, cfg->max_per_source);
	else if (l->refused_since > 1)
		log_msg(LOG_WARNING,
		        "task %s: refused %lu connections since the last line: "
		        "max_per_source (%ld) reached, the last from %s",
		        cfg->name, l->refused_since, cfg->max_per_source, who);
	l->refused_since = 0;
	l->refused_logged = clock_now();
}

static void
listener_refused_cb(EV_P_ ev_timer *w, int revents)
{
	(void)EV_A;
	(void)revents;
	listener_refused_say(w->data);
}

/*
 * Whether client s may have one more instance. If not, the refusal is
 * counted, and logged now or, within REFUSED_EVERY of the last line, in
 * the line the timer writes once that is over: a burst costs one line a
 * second, and every refusal is in one.
 */
static bool
listener_admit(struct listener *l, const struct source *s)
{
	struct task *t = l->task;
	double now, due;

	if (t->cfg->max_per_source == 0 ||
	    sources_count(&t->sources, s) <
	        (unsigned long)t->cfg->max_per_source)
		return true;
	t->refused++;
	l->refused_since++;
	l->refused_last = *s;
	if (ev_is_active(&l->refused_timer))
		return false; /* its line is due already */
	now = clock_now();
	due = l->refused_logged + REFUSED_EVERY;
	if (now >= due)
		listener_refused_say(l);
	else {
		ev_timer_set(&l->refused_timer, due - now, 0.);
		ev_timer_start(EV_DEFAULT, &l->refused_timer);
	}
	return false;
}

/*
 * One connection: one instance, unless its client is at max_per_source
 * (then closed at once). A held connection was admitted already. Returns
 * false when the listener paused.
 */
static bool
listener_serve(struct listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct listener_peer p;
	struct spawn_io io = {.in = fd, .out = fd};

	listener_peer(l, fd, ss, &p);
	io.extra_env = p.env;
	io.source = &p.source;
	if (ss != &l->held_addr && !listener_admit(l, &p.source)) {
		close(fd);
		return true;
	}
	if (l->ops->serve(l->task, &io) == NULL) {
		/* Out of fds (or processes): keep it, accept no more. */
		log_msg(LOG_ERR,
		        "task %s: cannot spawn an instance: %s; "
		        "holding the connection, retrying",
		        l->task->cfg->name, strerror(errno));
		l->held_fd = fd;
		if (ss != &l->held_addr)
			l->held_addr = *ss;
		listener_pause(l);
		return false;
	}
	close(fd);
	l->held_fd = -1;
	l->retry_delay = 0; /* serving again: the next pause starts short */
	return true;
}

static void
listener_retry_cb(EV_P_ ev_timer *w, int revents)
{
	struct listener *l = w->data;

	(void)EV_A;
	(void)revents;
	if (l->io.fd < 0)
		listener_try_open(l);
	else if (l->held_fd < 0 || !l->ops->can_serve(l->task) ||
	         listener_serve(l, l->held_fd, &l->held_addr))
		listener_resume(l);
}

static void
listener_accept_cb(EV_P_ ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	(void)EV_A;
	(void)revents;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (!l->ops->can_serve(l->task)) {
			ev_io_stop(EV_DEFAULT, &l->io); /* the cap: backlog */
			return;
		}
		len = sizeof(ss);
		fd = accept4(l->io.fd, (struct sockaddr *)&ss, &len,
		             SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_msg(LOG_ERR, "task %s: accept: %s; pausing",
				        l->task->cfg->name, strerror(errno));
				listener_pause(l);
			}
			return; /* EAGAIN, or a connection reset meanwhile */
		}
		if (!listener_serve(l, fd, &ss))
			return;
	}
}

/*
 * Accept again, unless at the cap or waiting out an error. A held
 * connection goes first, tried at once (an instance that ended gave fds
 * back), from the timer: no spawn from inside the caller's callback.
 */
void
listener_resume(struct listener *l)
{
	if (l->io.fd < 0 || !l->ops->can_serve(l->task))
		return;
	if (l->held_fd >= 0) {
		ev_timer_stop(EV_DEFAULT, &l->retry);
		ev_timer_set(&l->retry, 0., 0.);
		ev_timer_start(EV_DEFAULT, &l->retry);
		return;
	}
	if (!ev_is_active(&l->retry))
		ev_io_start(EV_DEFAULT, &l->io);
}

/*
 * A reload changed listen_mode, listen_user or listen_group only: give the
 * socket file made the new ones in place, so that the connections waiting
 * in its backlog stay. The file is pinned by an O_PATH fd and checked to
 * be the one made before anything is changed, through the fd: a name
 * another user swapped meanwhile is never followed. Failures are logged;
 * the socket keeps serving.
 */
void
listener_restamp(struct listener *l)
{
	const struct task_config *cfg = l->task->cfg;
	const char *path =
	    ((const struct sockaddr_un *)&cfg->listen.addr)->sun_path;
	char proc[64];
	struct stat st;
	int fd;

	if (cfg->listen.kind != ENDPOINT_UNIX || l->io.fd < 0)
		return; /* not bound yet: the bind makes it with the new keys */
	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1 || st.st_dev != l->dev ||
	    st.st_ino != l->ino) {
		log_msg(LOG_ERR,
		        "task %s: %s is no longer the socket tendd made: "
		        "mode and owner left as they were",
		        cfg->name, path);
		goto done;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (fchownat(fd, "", cfg->has_listen_user ? cfg->listen_uid : geteuid(),
	             cfg->has_listen_group ? cfg->listen_gid : getegid(),
	             AT_EMPTY_PATH) == -1 ||
	    chmod(proc, cfg->listen_mode) == -1)
		log_msg(LOG_ERR,
		        "task %s: cannot give %s its new owner and "
		        "mode: %s",
		        cfg->name, path, strerror(errno));
done:
	if (fd != -1)
		close(fd);
}

/*
 * Start listening for task t, serving it through ops (logged and retried
 * on failure).
 */
struct listener *
listener_open(struct task *t, const struct listener_ops *ops)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->task = t;
	l->ops = ops;
	l->io.fd = -1;
	l->held_fd = -1;
	l->lock_fd = -1;
	ev_init(&l->retry, listener_retry_cb);
	l->retry.data = l;
	ev_init(&l->refused_timer, listener_refused_cb);
	l->refused_timer.data = l;
	l->refused_logged = clock_now() - REFUSED_EVERY;
	listener_try_open(l);
	return l;
}

/* Remove a unix socket file if it is still the one made, not a newcomer. */
static void
listener_unlink(const struct listener *l)
{
	const char *path;
	struct stat st;

	if (l->task->cfg->listen.kind != ENDPOINT_UNIX)
		return;
	path =
	    ((const struct sockaddr_un *)&l->task->cfg->listen.addr)->sun_path;
	if (lstat(path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(path);
}

void
listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	ev_timer_stop(EV_DEFAULT, &l->retry);
	ev_timer_stop(EV_DEFAULT, &l->refused_timer);
	listener_refused_say(l); /* what the timer had yet to say */
	if (l->held_fd >= 0)
		close(l->held_fd); /* stopped before it could be served */
	if (l->io.fd >= 0) {
		ev_io_stop(EV_DEFAULT, &l->io);
		close(l->io.fd);
		listener_unlink(l);
	}
	listener_unlock(l); /* after the socket is gone */
	l->ops->listening(l->task, false);
	free(l);
}
