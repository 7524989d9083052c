/*
 * notifysock.c: tendd's sd_notify socket, the one datagram socket every
 * task with ready = notify sends READY=1 and STATUS= to, and the parser of
 * its messages.
 *
 * The socket is bound to an abstract name the kernel picks (autobind): no
 * file to clean up, no name another process could bind first. Whom a
 * datagram comes from is what the kernel says (SO_PASSCRED), never what
 * the datagram says: its sender's pid gives a process group, and only the
 * task whose group that is may take it (deliver). Everything else is
 * dropped, counted, and logged at most once a second, so a flood of bad
 * datagrams can neither fill the log nor starve the loop.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

/* Datagrams read per wake-up: the rest wait for the next turn of the loop. */
#define NOTIFY_BATCH 64
/*
 * The receive buffer asked for, as systemd's own. Past the queue's length
 * (net.unix.max_dgram_qlen) a sender waits, as sd_notify's blocking socket
 * does, or gets EAGAIN: the kernel drops nothing, tendd must read fast.
 */
#define NOTIFY_RCVBUF (8 * 1024 * 1024)
#define STR(x)        #x
#define XSTR(x)       STR(x)
#define TOO_LONG      "longer than " XSTR(NOTIFY_MSG_MAX) " bytes"
/* SCM_MAX_FD: the most fds one datagram can carry. */
#define NOTIFY_MAX_FDS 253

static struct {
	int fd;
	ev_io io;
	notify_deliver_fn *deliver;
	char env[sizeof("NOTIFY_SOCKET=") +
	         sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned long dropped;
	unsigned long unlogged; /* drops since the last warning */
	double logged;          /* clock_now() of the last warning */
} ns = {.fd = -1, .logged = -1e9};

/* A key as the protocol writes it: [A-Z_][A-Z0-9_]*. */
static bool
key_valid(const char *key, size_t len)
{
	if (len == 0 || (key[0] >= '0' && key[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return true;
}

/*
 * The length of the well-formed UTF-8 character at s (at most n bytes), or
 * 0 when s does not start one: overlong forms, surrogates and code points
 * above U+10FFFF are not characters.
 */
static size_t
utf8_char(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * STATUS='s value into m->status, for a status table and JSON: a control
 * character (C0, DEL, C1) or a byte that is not UTF-8 becomes '?', and the
 * text is cut at NOTIFY_STATUS_MAX bytes, never inside a character.
 */
static void
status_copy(struct notify_msg *m, const char *value, size_t len)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t in = 0, out = 0;

	while (in < len) {
		size_t n = utf8_char(s + in, len - in);
		bool control = n == 0 ||
		               (n == 1 && (s[in] < 0x20 || s[in] == 0x7f)) ||
		               (n == 2 && s[in] == 0xc2 && s[in + 1] < 0xa0);

		if (out + (control ? 1 : n) > NOTIFY_STATUS_MAX)
			break;
		if (control) {
			m->status[out++] = '?';
			in += n == 0 ? 1 : n;
		} else {
			memcpy(m->status + out, s + in, n);
			out += n;
			in += n;
		}
	}
	m->status[out] = '\0';
	m->has_status = true;
}

/* One KEY=VALUE line into m; NULL, or why the line is malformed. */
static const char *
parse_line(const char *line, size_t len, struct notify_msg *m)
{
	const char *eq = memchr(line, '=', len);
	size_t klen, vlen;
	const char *value;

	if (eq == NULL)
		return "a line without '='";
	klen = (size_t)(eq - line);
	if (!key_valid(line, klen))
		return "a key not of A-Z, 0-9 and _";
	value = eq + 1;
	vlen = len - klen - 1;
	/* Only these values count, as for systemd: READY=0 is no READY=1. */
	if (klen == 5 && memcmp(line, "READY", 5) == 0)
		m->ready |= vlen == 1 && value[0] == '1';
	else if (klen == 8 && memcmp(line, "STOPPING", 8) == 0)
		m->stopping |= vlen == 1 && value[0] == '1';
	else if (klen == 6 && memcmp(line, "STATUS", 6) == 0)
		status_copy(m, value, vlen);
	return NULL;
}

/* A datagram of KEY=VALUE lines into m: NULL, or why it is malformed. */
const char *
notify_parse(const char *data, size_t len, struct notify_msg *m)
{
	const char *line = data, *end;

	memset(m, 0, sizeof(*m));
	if (len == 0)
		return "empty";
	if (len > NOTIFY_MSG_MAX)
		return TOO_LONG;
	if (memchr(data, '\0', len) != NULL)
		return "a NUL byte";
	end = data + len;
	if (end[-1] == '\n')
		end--; /* one trailing newline, as many clients write */
	if (end == data)
		return "empty";
	for (;;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *why =
		    parse_line(line, (size_t)((nl ? nl : end) - line), m);

		if (why != NULL) {
			memset(m, 0, sizeof(*m));
			return why;
		}
		if (nl == NULL)
			return NULL;
		line = nl + 1;
	}
}

/* Count a dropped datagram; say so, at most once a second. */
static void
drop(pid_t pid, const char *why)
{
	double now = clock_now();
	char more[64] = "";

	ns.dropped++;
	if (now - ns.logged < 1.0) {
		ns.unlogged++;
		return;
	}
	if (ns.unlogged > 0)
		snprintf(more, sizeof(more),
		         " (and %lu more since the last such line)",
		         ns.unlogged);
	if (pid > 0)
		log_msg(LOG_WARNING,
		        "notify socket: dropped a datagram from pid %ld: %s%s",
		        (long)pid, why, more);
	else
		log_msg(LOG_WARNING, "notify socket: dropped a datagram: %s%s",
		        why, more);
	ns.logged = now;
	ns.unlogged = 0;
}

/*
 * Close every fd a datagram brought (a task may send FDSTORE=1 or a
 * barrier): tendd keeps none. The close is fdcloser.c's: the last close of
 * a file a stranger sent may wait as long as the stranger likes. Sets
 * *creds to its SCM_CREDENTIALS, if any; returns how many fds there were.
 */
static size_t
control_take(struct msghdr *mh, struct ucred *creds, bool *has_creds)
{
	size_t nfds = 0;

	*has_creds = false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL;
	     c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < n; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(fd));
				fdcloser_give(fd);
			}
			nfds += n;
		} else if (c->cmsg_type == SCM_CREDENTIALS &&
		           c->cmsg_len >= CMSG_LEN(sizeof(*creds))) {
			memcpy(creds, CMSG_DATA(c), sizeof(*creds));
			*has_creds = true;
		}
	}
	return nfds;
}

/*
 * sd_notify_barrier(3): BARRIER=1 with an fd, which the sender waits to see
 * closed once every earlier message of its was read. systemd-notify sends
 * one after its message: closing the fd is the whole answer.
 */
static bool
is_barrier(const char *data, size_t len, size_t nfds)
{
	return nfds == 1 &&
	       ((len == 9 && memcmp(data, "BARRIER=1", 9) == 0) ||
	        (len == 10 && memcmp(data, "BARRIER=1\n", 10) == 0));
}

/*
 * One datagram, read: delivered, or why it is dropped. *pid is its
 * sender's, or 0 when the kernel did not say.
 */
static const char *
datagram(const char *data, ssize_t n, struct msghdr *mh, pid_t *pid)
{
	struct ucred creds = {0};
	struct notify_msg m;
	bool has_creds;
	size_t nfds = control_take(mh, &creds, &has_creds);
	const char *why;
	pid_t pgid;

	*pid = has_creds && creds.pid > 0 ? creds.pid : 0;
	if (*pid == 0)
		return "no sender's credentials";
	if (mh->msg_flags & MSG_CTRUNC)
		return "more file descriptors than can be read";
	if ((mh->msg_flags & MSG_TRUNC) || n > NOTIFY_MSG_MAX)
		return TOO_LONG;
	if (is_barrier(data, (size_t)n, nfds))
		return NULL;
	if (nfds > 0)
		return "it carries file descriptors";
	if ((why = notify_parse(data, (size_t)n, &m)) != NULL)
		return why;
	/* A sender may be gone already: its group is then unknown. */
	if ((pgid = getpgid(*pid)) == -1)
		return "the sender is gone";
	if (!ns.deliver(pgid, &m))
		return "not from the process group of a task waiting for it";
	return NULL;
}

/* The fd closer has room again: read on. */
static void
notifysock_resume(void)
{
	if (ns.fd >= 0)
		ev_io_start(EV_DEFAULT, &ns.io);
}

/*
 * Read what is queued, up to NOTIFY_BATCH datagrams: the watcher is level
 * triggered, so the loop comes back for the rest after its other work.
 * While the fd closer has no room for a datagram's worth of fds, reading
 * pauses: the datagrams wait in the socket.
 */
static void
notifysock_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	static char data[NOTIFY_MSG_MAX];
	static union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
		         CMSG_SPACE(NOTIFY_MAX_FDS * sizeof(int))];
	} control;

	(void)loop;
	(void)w;
	(void)revents;
	for (int i = 0; i < NOTIFY_BATCH; i++) {
		struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
		if (fdcloser_room() < NOTIFY_MAX_FDS) {
			ev_io_stop(EV_DEFAULT, &ns.io);
			fdcloser_when_room(notifysock_resume);
			return;
		}
		struct msghdr mh = {
		    .msg_iov = &iov,
		    .msg_iovlen = 1,
		    .msg_control = control.buf,
		    .msg_controllen = sizeof(control.buf),
		};
		/* MSG_TRUNC: n is the datagram's own length, even if cut. */
		ssize_t n = recvmsg(
		    ns.fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
		const char *why;
		pid_t pid;

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_msg(LOG_WARNING,
				        "notify socket: recvmsg: %s",
				        strerror(errno));
			return;
		}
		if ((why = datagram(data, n, &mh, &pid)) != NULL)
			drop(pid, why);
	}
}

/* The socket's abstract name, as NOTIFY_SOCKET=@NAME, into ns.env. */
static int
name_env(void)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	size_t nlen;

	if (getsockname(ns.fd, (struct sockaddr *)&sun, &len) == -1) {
		log_msg(LOG_ERR, "notify socket: getsockname: %s",
		        strerror(errno));
		return -1;
	}
	nlen = len - offsetof(struct sockaddr_un, sun_path);
	/* Autobind gives a NUL and hex digits; anything else is not ours. */
	if (len <= offsetof(struct sockaddr_un, sun_path) + 1 ||
	    sun.sun_path[0] != '\0' ||
	    memchr(sun.sun_path + 1, '\0', nlen - 1) != NULL) {
		log_msg(LOG_ERR, "notify socket: not an abstract name");
		return -1;
	}
	snprintf(ns.env, sizeof(ns.env), "NOTIFY_SOCKET=@%.*s", (int)(nlen - 1),
	         sun.sun_path + 1);
	return 0;
}

/* Ask for a receive buffer that holds a burst; root may pass rmem_max. */
static void
rcvbuf_raise(void)
{
	int size = NOTIFY_RCVBUF;

	if (setsockopt(ns.fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
	               sizeof(size)) == 0)
		return;
	if (setsockopt(ns.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == -1)
		log_msg(LOG_WARNING, "notify socket: SO_RCVBUF: %s",
		        strerror(errno));
}

/*
 * Open the socket and watch it on the default loop; 0 when it is open, as
 * it may be already. -1, logged, when it cannot be.
 */
int
notifysock_open(notify_deliver_fn *deliver)
{
	/* Autobind: bind with no name; the kernel picks a free one. */
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int on = 1;

	if (ns.fd != -1)
		return 0;
	ns.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ns.fd == -1) {
		log_msg(LOG_ERR, "notify socket: socket: %s", strerror(errno));
		return -1;
	}
	/* Credentials on before the name exists: no datagram comes without. */
	if (setsockopt(ns.fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == -1 ||
	    bind(ns.fd, (struct sockaddr *)&sun, sizeof(sa_family_t)) == -1) {
		log_msg(LOG_ERR, "notify socket: %s", strerror(errno));
		goto fail;
	}
	if (name_env() == -1)
		goto fail;
	rcvbuf_raise();
	ns.deliver = deliver;
	ev_io_init(&ns.io, notifysock_readable, ns.fd, EV_READ);
	ev_io_start(EV_DEFAULT, &ns.io);
	return 0;
fail:
	close(ns.fd);
	ns.fd = -1;
	return -1;
}

/* "NOTIFY_SOCKET=@NAME" for a notify task's environment; NULL if closed. */
const char *
notifysock_env(void)
{
	return ns.fd == -1 ? NULL : ns.env;
}

/* Datagrams dropped since tendd started. */
unsigned long
notifysock_dropped(void)
{
	return ns.dropped;
}

/* Stop watching and close; a task's later message finds no one. */
void
notifysock_close(void)
{
	if (ns.fd == -1)
		return;
	ev_io_stop(EV_DEFAULT, &ns.io);
	close(ns.fd);
	ns.fd = -1;
	ns.env[0] = '\0';
}
