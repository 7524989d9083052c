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

	fd = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		goto fail;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			errno = EADDRINUSE; /* another tendd listens there */
		goto fail;
	}
	/* Another user's file, whose owner could hold it to keep us out. */
	if (fstat(fd, &held) == -1 || !S_ISREG(held.st_mode) ||
	    held.st_uid != geteuid()) {
		errno = EPERM;
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
 * Under the lock, a unix socket file left by an earlier run is replaced;
 * one that a program other than tendd listens on is EADDRINUSE, as a tcp
 * port would be. The kernel says whether anyone listens; only a kernel
 * without unix_diag makes us ask by connecting.
 */
static int
listener_unix_stale(const struct endpoint *ep)
{
	const struct sockaddr_un *sun = (const void *)&ep->addr;
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) == -1 || !S_ISSOCK(st.st_mode))
		return 0; /* nothing, or not a socket: bind says what */
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
	return unlink(sun->sun_path) == -1 && errno != ENOENT ? -1 : 0;
}

/* Bind and listen; returns the fd or -1 with errno set. */
static int
listener_bind(struct listener *l, const struct endpoint *ep)
{
	int fd, one = 1, saved;

	if (ep->kind == ENDPOINT_UNIX &&
	    listener_lock(
	        l, ((const struct sockaddr_un *)&ep->addr)->sun_path) == -1)
		return -1;
	fd = socket(ep->addr.ss_family,
	            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (ep->kind == ENDPOINT_TCP &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (ep->kind == ENDPOINT_UNIX && listener_unix_stale(ep) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1)
		goto fail;
	return fd;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	listener_unlock(l);
	errno = saved;
	return -1;
}

/* Try to bind; on failure log and retry later. Returns 0 once listening. */
static int
listener_try_open(struct listener *l)
{
	struct task *t = l->task;
	int fd = listener_bind(l, &t->cfg->listen);

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

/* One connection: one instance. Returns false when the listener paused. */
static bool
listener_serve(struct listener *l, int fd, const struct sockaddr_storage *ss)
{
	char addr[64], port[32];
	char *env[3] = {NULL, NULL, NULL};
	struct spawn_io io = {.in = fd, .out = fd, .extra_env = env};

	if (l->task->cfg->listen.kind == ENDPOINT_TCP) {
		listener_remote_env(ss, addr, sizeof(addr), port, sizeof(port));
		env[0] = addr;
		env[1] = port;
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
	listener_try_open(l);
	return l;
}

void
listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	ev_timer_stop(EV_DEFAULT, &l->retry);
	if (l->held_fd >= 0)
		close(l->held_fd); /* stopped before it could be served */
	if (l->io.fd >= 0) {
		ev_io_stop(EV_DEFAULT, &l->io);
		close(l->io.fd);
		if (l->task->cfg->listen.kind == ENDPOINT_UNIX)
			unlink(((const struct sockaddr_un *)&l->task->cfg
			            ->listen.addr)
			           ->sun_path);
	}
	listener_unlock(l); /* after the socket is gone */
	l->ops->listening(l->task, false);
	free(l);
}
