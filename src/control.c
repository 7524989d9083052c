/*
 * control.c: tendd's control socket, its machinery: accepting, room for
 * clients, their I/O and idle timers, and the engine's events handed to
 * each client's verb. One request per connection: a client sends one line,
 * tendd answers (at once; when the change is done: a stop once the
 * processes are reaped; or, following a log, line by line) and closes.
 *
 * Every client socket is non-blocking with bounded buffers. A client that
 * sends too much, garbage, or nothing at all is answered with an error or
 * dropped; none can block the loop or delay another client.
 *
 * The socket's path and file are ctlsocket.c's; what a request does is
 * verbs.c's and ctllog.c's, which queue answers through ctlclient.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

/*
 * Room for clients: peers that may only query (not root, not tendd's uid)
 * get at most CLIENTS_UNPRIV_MAX of CLIENTS_MAX, and one uid of them at
 * most CLIENTS_PER_UID, so that the rest is always there for root. Beyond,
 * the oldest silent client of the same kind goes, or the new one is refused.
 */
#define CLIENTS_MAX        1024
#define CLIENTS_UNPRIV_MAX 768
#define CLIENTS_PER_UID    256
#define CLIENTS_DRAIN      256 /* queued clients taken from an old socket */

static struct {
	struct ctlsocket sock;
	ev_io accept;
	ev_timer accept_pause; /* after EMFILE: accepting again would spin */
	struct client *clients;
	int nclients;
	int nunpriv;              /* of them, not privileged */
	ev_tstamp refused_logged; /* the last "too many clients" line */
} ctl = {.sock = {.fd = -1, .lock = -1}};

static void client_close(struct client *);

/* The engine's events, told to each client's verb. */

static void
control_tasks_changed(void)
{
	for (struct client *c = ctl.clients; c; c = c->next)
		verbs_tasks_changed(c);
}

static void
control_task_gone(struct task *t)
{
	for (struct client *c = ctl.clients; c; c = c->next)
		verbs_task_gone(c, t);
}

static void
control_run_ended(struct run *r)
{
	for (struct client *c = ctl.clients; c; c = c->next)
		verbs_run_ended(c, r);
}

static void
control_task_output(struct task *t)
{
	ctllog_output(t);
}

/*
 * tendd is about to exit: answer every client still waiting, and send what
 * is queued, as well as a non-blocking send can.
 */
static void
control_shutdown_done(void)
{
	struct client *c;

	for (c = ctl.clients; c; c = c->next)
		verbs_shutdown_done(c);
	for (c = ctl.clients; c; c = c->next) {
		if (c->out.len > 0) {
			ssize_t n = send(c->fd, c->out.data, c->out.len,
			                 MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)n;
		}
	}
}

static const struct observer control_observer = {
    .tasks_changed = control_tasks_changed,
    .task_gone = control_task_gone,
    .run_ended = control_run_ended,
    .task_output = control_task_output,
    .shutdown_done = control_shutdown_done,
};

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
	if (c->following)
		return; /* read only to see it go */
	buf_add(&c->in, chunk, (size_t)n);
	nl = memchr(c->in.data, '\n', c->in.len);
	if (nl == NULL && c->in.len < PROTO_LINE_MAX)
		return;
	/* One request per connection: stop reading, then answer. */
	ev_io_stop(EV_A_ w);
	ev_timer_stop(EV_A_ & c->idle);
	if (nl == NULL || nl - c->in.data >= PROTO_LINE_MAX) {
		ctlclient_msg(c, "err", "request longer than %d bytes",
		              PROTO_LINE_MAX);
		ctlclient_end(c, EXIT_ERROR);
		return;
	}
	verbs_request(c, c->in.data, (size_t)(nl - c->in.data));
}

static void
client_write_cb(EV_P_ ev_io *w, int revents)
{
	struct client *c = w->data;
	ssize_t n;

	(void)revents;
	if (c->dropped) {
		client_close(c);
		return;
	}
	n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	buf_consume(&c->out, (size_t)n);
	if (!c->following)
		ev_timer_again(EV_A_ & c->idle);
	verbs_drained(c);
	if (c->out.len > 0)
		return;
	ev_io_stop(EV_A_ w);
	if (!c->following)
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
	for (p = &ctl.clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	if (!c->privileged)
		ctl.nunpriv--;
	ctllog_done(c);
	ctlclient_free(c);
	if (ctl.nclients-- == CLIENTS_MAX && !ev_is_active(&ctl.accept_pause))
		ev_io_start(EV_DEFAULT, &ctl.accept);
}

/*
 * Make room by closing the oldest client that has not sent its request
 * yet: tendctl sends at once, so that one is most likely idle, and silent
 * connections cannot lock everyone out. Only an unprivileged one when
 * unpriv, only one of uid when uid is not NULL.
 */
static bool
client_evict_silent(bool unpriv, const uid_t *uid)
{
	struct client *oldest = NULL;

	for (struct client *c = ctl.clients; c; c = c->next)
		if (ev_is_active(&c->rio) && !c->following &&
		    (!unpriv || !c->privileged) &&
		    (uid == NULL || (!c->privileged && c->peer.uid == *uid)))
			oldest = c; /* the list is newest first */
	if (oldest == NULL)
		return false;
	client_close(oldest);
	return true;
}

/* Whether an unprivileged peer of uid may have one more client. */
static bool
client_room_for(uid_t uid)
{
	int same = 0;

	for (struct client *c = ctl.clients; c; c = c->next)
		same += !c->privileged && c->peer.uid == uid;
	if (same >= CLIENTS_PER_UID && !client_evict_silent(true, &uid))
		return false;
	return ctl.nunpriv < CLIENTS_UNPRIV_MAX ||
	       client_evict_silent(true, NULL);
}

/* Tell a client there is no room for it, as well as a non-blocking send can. */
static void
client_refuse(int fd, const struct ucred *peer)
{
	struct buf b = {0};
	ssize_t n;

	if (clock_now() - ctl.refused_logged >= 1.0) {
		ctl.refused_logged = clock_now();
		log_msg(LOG_WARNING,
		        "control: uid %u pid %ld: too many clients of "
		        "unprivileged peers; refused (logged once a second)",
		        (unsigned)peer->uid, (long)peer->pid);
	}
	proto_begin(&b, "err");
	proto_add(&b, "text", "too many clients; try again later");
	proto_end(&b);
	proto_begin(&b, "end");
	proto_add_num(&b, "code", (long long)EXIT_ERROR);
	proto_end(&b);
	n = send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
	buf_free(&b);
	close(fd);
}

static void
client_new(int fd, const struct ucred *peer, bool privileged)
{
	struct client *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->peer = *peer;
	c->privileged = privileged;
	ev_io_init(&c->rio, client_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, client_write_cb, fd, EV_WRITE);
	ev_timer_init(&c->idle, client_idle_cb, CLIENT_IDLE, CLIENT_IDLE);
	c->rio.data = c->wio.data = c->idle.data = c;
	ev_io_start(EV_DEFAULT, &c->rio);
	ev_timer_start(EV_DEFAULT, &c->idle);
	c->next = ctl.clients;
	ctl.clients = c;
	ctl.nclients++;
	ctl.nunpriv += !privileged;
}

/*
 * Accept one client on lfd. Returns false when none was waiting, or when
 * there is no room and accepting stops until a client leaves.
 */
static bool
control_accept(int lfd)
{
	struct ucred peer;
	socklen_t len = sizeof(peer);
	bool privileged;
	int fd;

	if (ctl.nclients >= CLIENTS_MAX && !client_evict_silent(false, NULL)) {
		ev_io_stop(EV_DEFAULT, &ctl.accept); /* wait for one to go */
		return false;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_msg(LOG_ERR, "control: accept: %s; pausing 1s",
			        strerror(errno));
			ev_io_stop(EV_DEFAULT, &ctl.accept);
			ev_timer_set(&ctl.accept_pause, 1., 0.);
			ev_timer_start(EV_DEFAULT, &ctl.accept_pause);
		}
		return false;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == -1)
		peer = (struct ucred){.pid = 0, .uid = (uid_t)-1};
	privileged = peer.uid == 0 || peer.uid == geteuid();
	if (!privileged && !client_room_for(peer.uid))
		client_refuse(fd, &peer);
	else
		client_new(fd, &peer, privileged);
	return true;
}

static void
accept_cb(EV_P_ ev_io *w, int revents)
{
	(void)EV_A;
	(void)revents;
	control_accept(w->fd);
}

static void
accept_pause_cb(EV_P_ ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_io_start(EV_A_ & ctl.accept);
}

/* The socket. */

/* Accept on ctl.sock.fd. */
static void
control_listen(void)
{
	ev_io_init(&ctl.accept, accept_cb, ctl.sock.fd, EV_READ);
	ev_io_start(EV_DEFAULT, &ctl.accept);
}

/*
 * Stop accepting on the current listening socket, but first accept the
 * clients already queued on it, which would otherwise be refused.
 */
static void
control_drain(void)
{
	ev_io_stop(EV_DEFAULT, &ctl.accept);
	for (int i = 0; i < CLIENTS_DRAIN && control_accept(ctl.sock.fd); i++)
		continue;
	ev_io_stop(EV_DEFAULT, &ctl.accept); /* control_accept may start it */
	ev_timer_stop(EV_DEFAULT, &ctl.accept_pause);
}

/*
 * Create the control socket at path with m's socket_mode and
 * socket_group. Returns 0, or -1 (logged).
 */
int
control_open(const char *path, const struct manifest *m)
{
	if (ctlsocket_open(&ctl.sock, path, m) == -1)
		return -1;
	verbs_init();
	events_observe(&control_observer);
	ev_timer_init(&ctl.accept_pause, accept_pause_cb, 1., 0.);
	control_listen();
	return 0;
}

/*
 * A reload: the socket moves to path, or keeps its path and takes m's
 * permissions; either way a new socket replaces the old (ctlsocket.c says
 * why). The connected clients are untouched: a client asking for the
 * reload gets its answer. On failure the old socket stays (logged).
 */
int
control_reconfigure(const char *path, const struct manifest *m)
{
	struct ctlsocket moved;
	int fd;

	if (ctlsocket_is(&ctl.sock, path)) {
		if ((fd = ctlsocket_remake(&ctl.sock, m)) == -1)
			return -1;
		control_drain();
		close(ctl.sock.fd);
		ctl.sock.fd = fd;
	} else {
		if (ctlsocket_open(&moved, path, m) == -1)
			return -1;
		control_drain();
		ctlsocket_close(&ctl.sock);
		ctl.sock = moved;
	}
	control_listen();
	return 0;
}

void
control_close(void)
{
	events_unobserve(&control_observer);
	while (ctl.clients)
		client_close(ctl.clients);
	if (ctl.sock.fd != -1) {
		ev_io_stop(EV_DEFAULT, &ctl.accept);
		ev_timer_stop(EV_DEFAULT, &ctl.accept_pause);
		ctlsocket_close(&ctl.sock);
	}
}
