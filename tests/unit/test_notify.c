/*
 * test_notify.c: the sd_notify socket (notifysock.c). Its parser, every
 * way a datagram can be malformed; then the socket itself on a real libev
 * loop, with real senders: a task's process group is delivered, a foreign
 * one, an oversized datagram and one carrying an fd are dropped and
 * counted, and no fd is left behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tend.h"

/* ---- the parser ---- */

static const char *
parse(const char *s, struct notify_msg *m)
{
	return notify_parse(s, strlen(s), m);
}

static void
test_ready(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_null(parse("READY=1", &m));
	assert_true(m.ready);
	assert_false(m.stopping);
	assert_false(m.has_status);
	assert_null(parse("READY=1\n", &m));
	assert_true(m.ready);
	assert_null(parse("STOPPING=1", &m));
	assert_true(m.stopping);
	assert_false(m.ready);
}

/* Only the value 1 counts, as for systemd. */
static void
test_ready_other_values(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_null(parse("READY=0", &m));
	assert_false(m.ready);
	assert_null(parse("READY=", &m));
	assert_false(m.ready);
	assert_null(parse("READY=11", &m));
	assert_false(m.ready);
	assert_null(parse("READY=yes", &m));
	assert_false(m.ready);
	assert_null(parse("STOPPING=2", &m));
	assert_false(m.stopping);
	/* A later READY=0 does not take a READY=1 back. */
	assert_null(parse("READY=1\nREADY=0", &m));
	assert_true(m.ready);
}

static void
test_several_lines(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_null(parse("READY=1\nSTATUS=up\nMAINPID=42", &m));
	assert_true(m.ready);
	assert_true(m.has_status);
	assert_string_equal(m.status, "up");
	/* The last STATUS= is kept. */
	assert_null(parse("STATUS=one\nSTATUS=two\n", &m));
	assert_false(m.ready);
	assert_string_equal(m.status, "two");
	assert_null(parse("STATUS=", &m));
	assert_true(m.has_status);
	assert_string_equal(m.status, "");
	/* '=' inside a value is the value's. */
	assert_null(parse("STATUS=a=b", &m));
	assert_string_equal(m.status, "a=b");
}

/* Keys tendd does not act on are read and ignored, not errors. */
static void
test_other_keys_ignored(void **state)
{
	static const char *const ok[] = {
	    "MAINPID=123",
	    "WATCHDOG=1",
	    "WATCHDOG_USEC=5000",
	    "RELOADING=1",
	    "ERRNO=2",
	    "BUSERROR=org.x.Y",
	    "FDSTORE=1",
	    "FDNAME=sock",
	    "EXTEND_TIMEOUT_USEC=1",
	    "MONOTONIC_USEC=1",
	    "X_CUSTOM=anything",
	    "_=x",
	    "A1=",
	    "BARRIER=1",
	};
	struct notify_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_null(parse(ok[i], &m));
		assert_false(m.ready);
		assert_false(m.stopping);
		assert_false(m.has_status);
	}
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
	    "READY",          /* no '=' */
	    "READY=1\nhello", /* a second line without '=' */
	    "READY=1\n\n",    /* an empty line */
	    "\n",             /* only a newline */
	    "\nREADY=1",      /* an empty first line */
	    "=1",             /* an empty key */
	    "ready=1",        /* lower case */
	    "1READY=1",       /* a digit first */
	    "READ Y=1",       /* a space */
	    " READY=1",       /* a leading space */
	    "READY-1=1",      /* a dash */
	    "R\xc3\x89"
	    "ADY=1", /* not ASCII */
	};
	struct notify_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = parse(bad[i], &m);
		assert_non_null(why);
		assert_false(m.ready);
	}
	/* CR ends no line: it is the value's, and READY=1\r is no READY=1. */
	assert_null(parse("READY=1\r\n", &m));
	assert_false(m.ready);
}

/* A malformed line anywhere voids the whole datagram. */
static void
test_malformed_voids_all(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_non_null(parse("READY=1\nSTATUS=up\nbad", &m));
	assert_false(m.ready);
	assert_false(m.has_status);
}

static void
test_empty_and_nul(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_string_equal(notify_parse("", 0, &m), "empty");
	assert_non_null(notify_parse("READY=1\0", 8, &m));
	assert_non_null(notify_parse("READY=1\nSTATUS=a\0b", 18, &m));
	assert_false(m.ready);
	/* The length, not a NUL, ends the data. */
	assert_null(notify_parse("READY=1garbage", 7, &m));
	assert_true(m.ready);
}

static void
test_size_limit(void **state)
{
	char buf[NOTIFY_MSG_MAX + 2];
	struct notify_msg m;

	(void)state;
	memcpy(buf, "STATUS=", 7);
	memset(buf + 7, 'x', sizeof(buf) - 7);
	assert_null(notify_parse(buf, NOTIFY_MSG_MAX, &m));
	assert_true(m.has_status);
	assert_int_equal(strlen(m.status), NOTIFY_STATUS_MAX);
	assert_non_null(notify_parse(buf, NOTIFY_MSG_MAX + 1, &m));
	assert_false(m.has_status);
}

/* STATUS= is cut at NOTIFY_STATUS_MAX bytes, never inside a character. */
static void
test_status_cut_on_character(void **state)
{
	char buf[7 + NOTIFY_STATUS_MAX + 8];
	struct notify_msg m;
	size_t n;

	(void)state;
	/* NOTIFY_STATUS_MAX - 1 'a's, then "é" (2 bytes): no room for it. */
	memcpy(buf, "STATUS=", 7);
	n = 7;
	memset(buf + n, 'a', NOTIFY_STATUS_MAX - 1);
	n += NOTIFY_STATUS_MAX - 1;
	memcpy(buf + n, "\xc3\xa9", 2);
	n += 2;
	assert_null(notify_parse(buf, n, &m));
	assert_int_equal(strlen(m.status), NOTIFY_STATUS_MAX - 1);
	/* With one byte less before it, it fits exactly. */
	memmove(buf + 7, buf + 8, n - 8);
	assert_null(notify_parse(buf, n - 1, &m));
	assert_int_equal(strlen(m.status), NOTIFY_STATUS_MAX);
	assert_memory_equal(m.status + NOTIFY_STATUS_MAX - 2, "\xc3\xa9", 2);
	/* A 4-byte character at the edge: dropped whole. */
	n = 7;
	memset(buf + n, 'b', NOTIFY_STATUS_MAX - 2);
	n += NOTIFY_STATUS_MAX - 2;
	memcpy(buf + n, "\xf0\x9f\x98\x80", 4);
	n += 4;
	assert_null(notify_parse(buf, n, &m));
	assert_int_equal(strlen(m.status), NOTIFY_STATUS_MAX - 2);
}

static void
test_status_utf8_kept(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_null(
	    parse("STATUS=caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", &m));
	assert_string_equal(m.status,
	                    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_null(parse("STATUS=\xc2\xa0nbsp", &m));
	assert_string_equal(m.status, "\xc2\xa0nbsp");
}

/* Control bytes and bytes that are not UTF-8 are shown as '?'. */
static void
test_status_control_bytes(void **state)
{
	struct notify_msg m;

	(void)state;
	assert_null(parse("STATUS=a\tb\x1b[31mc\x7f\r", &m));
	assert_string_equal(m.status, "a?b?[31mc??");
	/* C1 controls (U+0080..U+009F), one '?' each. */
	assert_null(parse("STATUS=x\xc2\x9b"
	                  "1m",
	                  &m));
	assert_string_equal(m.status, "x?1m");
	/* A lone continuation byte, a cut sequence, an overlong form, a
	 * surrogate, a code point beyond U+10FFFF, 0xff. */
	assert_null(parse("STATUS=\x80|\xc3|\xc0\xaf|\xed\xa0\x80|"
	                  "\xf4\x90\x80\x80|\xff",
	                  &m));
	assert_string_equal(m.status, "?|?|??|???|????|?");
	/* A cut sequence at the very end. */
	assert_null(parse("STATUS=ok\xe2\x82", &m));
	assert_string_equal(m.status, "ok??");
}

/* ---- the socket, on a real loop ---- */

static struct {
	int calls;
	bool accept;
	pid_t pgid;
	struct notify_msg msg;
	int goal; /* deliveries to wait for */
} got;

static bool
deliver(pid_t pgid, const struct notify_msg *m)
{
	got.calls++;
	got.pgid = pgid;
	got.msg = *m;
	return got.accept;
}

static unsigned long drop_goal;

static bool
delivered(void)
{
	return got.calls >= got.goal;
}

static bool
dropped(void)
{
	return notifysock_dropped() >= drop_goal;
}

static bool (*until)(void);
static bool timed_out;

static void
check_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)w;
	(void)revents;
	if (until())
		ev_break(loop, EVBREAK_ALL);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	timed_out = true;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the default loop until cond holds; false after 20 s without. */
static bool
run_until(bool (*cond)(void))
{
	ev_prepare check;
	ev_timer timeout;

	until = cond;
	timed_out = false;
	if (cond())
		return true;
	ev_prepare_init(&check, check_cb);
	ev_prepare_start(EV_DEFAULT, &check);
	ev_timer_init(&timeout, timeout_cb, 20.0, 0.0);
	ev_timer_start(EV_DEFAULT, &timeout);
	ev_run(EV_DEFAULT, 0);
	ev_prepare_stop(EV_DEFAULT, &check);
	ev_timer_stop(EV_DEFAULT, &timeout);
	return !timed_out && cond();
}

/* The socket's address, from NOTIFY_SOCKET=@NAME. */
static socklen_t
address(struct sockaddr_un *sun)
{
	const char *env = notifysock_env();
	const char *name;
	size_t n;

	assert_non_null(env);
	assert_memory_equal(env, "NOTIFY_SOCKET=@", 15);
	name = env + 15;
	n = strlen(name);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path + 1, name, n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* Send data, with fd as SCM_RIGHTS unless it is -1; from this process. */
static void
send_dgram(const void *data, size_t len, int fd)
{
	struct sockaddr_un sun;
	socklen_t alen = address(&sun);
	struct iovec iov = {.iov_base = (void *)(uintptr_t)data,
	                    .iov_len = len};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr mh = {.msg_name = &sun,
	                    .msg_namelen = alen,
	                    .msg_iov = &iov,
	                    .msg_iovlen = 1};
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	if (fd != -1) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)len);
	close(s);
}

/*
 * A child in a session of its own sends msg, then stays until *release is
 * closed, so its process group still exists when the datagram is read.
 */
static pid_t
sender(const char *msg, int *release)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sun;
		socklen_t alen = address(&sun);
		int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		char c;

		close(p[1]);
		if (setsid() == -1 || s == -1 ||
		    sendto(s, msg, strlen(msg), MSG_NOSIGNAL,
		           (struct sockaddr *)&sun, alen) == -1)
			_exit(1);
		while (read(p[0], &c, 1) == -1 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	*release = p[1];
	return pid;
}

static void
release_sender(pid_t pid, int release)
{
	int status;

	close(release);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static int
socket_setup(void **state)
{
	(void)state;
	memset(&got, 0, sizeof(got));
	got.accept = true;
	got.goal = 1;
	return notifysock_open(deliver);
}

static int
socket_teardown(void **state)
{
	(void)state;
	notifysock_close();
	return 0;
}

static void
test_env_and_idempotent_open(void **state)
{
	char first[128];
	const char *env = notifysock_env();

	(void)state;
	assert_non_null(env);
	assert_memory_equal(env, "NOTIFY_SOCKET=@", 15);
	assert_true(strlen(env) > 15);
	for (const char *p = env + 15; *p; p++)
		assert_true(*p > ' ' && *p < 0x7f);
	snprintf(first, sizeof(first), "%s", env);
	assert_int_equal(notifysock_open(deliver), 0);
	assert_string_equal(notifysock_env(), first);
	notifysock_close();
	assert_null(notifysock_env());
	notifysock_close(); /* twice: harmless */
	assert_int_equal(notifysock_open(deliver), 0);
	assert_non_null(notifysock_env());
}

/* A message of a task's process group reaches deliver, with that group. */
static void
test_delivered_with_pgid(void **state)
{
	int release;
	pid_t pid;

	(void)state;
	pid = sender("READY=1\nSTATUS=up", &release);
	assert_true(run_until(delivered));
	assert_int_equal(got.pgid, pid); /* setsid: its own group */
	assert_true(got.msg.ready);
	assert_true(got.msg.has_status);
	assert_string_equal(got.msg.status, "up");
	release_sender(pid, release);
}

/* A sender of no task's group: dropped, counted. */
static void
test_foreign_dropped(void **state)
{
	unsigned long before = notifysock_dropped();
	int release;
	pid_t pid;

	(void)state;
	got.accept = false;
	drop_goal = before + 1;
	pid = sender("READY=1", &release);
	assert_true(run_until(dropped));
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.pgid, pid);
	assert_int_equal(notifysock_dropped(), before + 1);
	release_sender(pid, release);
}

/* Exactly NOTIFY_MSG_MAX bytes pass; one more is dropped unread. */
static void
test_oversized_dropped(void **state)
{
	static char buf[NOTIFY_MSG_MAX + 1];
	unsigned long before = notifysock_dropped();

	(void)state;
	memcpy(buf, "STATUS=", 7);
	memset(buf + 7, 'x', sizeof(buf) - 7);
	send_dgram(buf, NOTIFY_MSG_MAX, -1);
	assert_true(run_until(delivered));
	assert_int_equal(got.pgid, getpgid(0));
	assert_int_equal(strlen(got.msg.status), NOTIFY_STATUS_MAX);

	drop_goal = before + 1;
	send_dgram(buf, NOTIFY_MSG_MAX + 1, -1);
	assert_true(run_until(dropped));
	assert_int_equal(got.calls, 1);
	/* Much longer than the buffer: still one drop, nothing read. */
	drop_goal = before + 2;
	{
		static char big[3 * NOTIFY_MSG_MAX];
		memset(big, 'y', sizeof(big));
		send_dgram(big, sizeof(big), -1);
	}
	assert_true(run_until(dropped));
	assert_int_equal(got.calls, 1);
	assert_int_equal(notifysock_dropped(), before + 2);
}

static void
test_malformed_dropped(void **state)
{
	unsigned long before = notifysock_dropped();

	(void)state;
	drop_goal = before + 2;
	send_dgram("READY", 5, -1);
	send_dgram("READY=1\0", 8, -1);
	assert_true(run_until(dropped));
	/* The well-formed one after them still goes through. */
	send_dgram("READY=1", 7, -1);
	assert_true(run_until(delivered));
	assert_int_equal(got.calls, 1);
	assert_true(got.msg.ready);
	assert_int_equal(notifysock_dropped(), before + 2);
}

/* An fd sent with a message is closed, and the message dropped. */
static void
test_fd_closed_and_dropped(void **state)
{
	unsigned long before = notifysock_dropped();
	int fds = count_fds();
	struct pollfd pfd;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	send_dgram("READY=1\nFDSTORE=1", 17, p[0]);
	close(p[0]);
	drop_goal = before + 1;
	assert_true(run_until(dropped));
	assert_int_equal(got.calls, 0);
	/* No read end is left anywhere: the write end sees an error. */
	pfd = (struct pollfd){.fd = p[1], .events = POLLOUT};
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLERR);
	close(p[1]);
	assert_int_equal(count_fds(), fds);
}

/*
 * sd_notify_barrier(3), as systemd-notify sends it: BARRIER=1 with the
 * write end of a pipe, closed once read. Not a drop.
 */
static void
test_barrier_closed_not_dropped(void **state)
{
	unsigned long before = notifysock_dropped();
	int fds = count_fds();
	struct pollfd pfd;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	send_dgram("READY=1", 7, -1);
	send_dgram("BARRIER=1", 9, p[1]);
	close(p[1]);
	assert_true(run_until(delivered));
	/* Read in order: the barrier is answered once the loop turns. */
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	for (int i = 0; i < 200 && poll(&pfd, 1, 0) == 0; i++)
		ev_run(EV_DEFAULT, EVRUN_NOWAIT);
	assert_true(pfd.revents & POLLHUP);
	close(p[0]);
	assert_int_equal(notifysock_dropped(), before);
	assert_int_equal(count_fds(), fds);
}

static int sdn_done = -1; /* read end: readable once systemd-notify ended */

static bool
sdn_ended(void)
{
	struct pollfd pfd = {.fd = sdn_done, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1;
}

/*
 * Debian's systemd-notify, run by a shell-like parent in a session of its
 * own as a task's script would: as root it speaks for its parent, and it
 * waits on a barrier (BARRIER=1 with an fd) until its message was read.
 * It must be delivered with the group's id, its barrier not be a drop.
 */
static void
test_systemd_notify(void **state)
{
	static const char prog[] = "/usr/bin/systemd-notify";
	unsigned long before = notifysock_dropped();
	int done[2], status;
	unsigned char code = 255;
	pid_t pid;

	(void)state;
	if (access(prog, X_OK) != 0)
		skip();
	assert_int_equal(pipe2(done, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pid_t g;

		close(done[0]);
		if (setsid() == -1 ||
		    setenv("NOTIFY_SOCKET", notifysock_env() + 14, 1) == -1 ||
		    (g = fork()) == -1)
			_exit(1);
		if (g == 0) {
			execl(prog, "systemd-notify", "--ready", "--status=up",
			      (char *)NULL);
			_exit(127);
		}
		if (waitpid(g, &status, 0) != g)
			_exit(1);
		code = WIFEXITED(status) ? (unsigned char)WEXITSTATUS(status)
		                         : 255;
		if (write(done[1], &code, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(done[1]);
	sdn_done = done[0];
	assert_true(run_until(delivered));
	assert_true(run_until(sdn_ended));
	assert_int_equal(read(done[0], &code, 1), 1);
	assert_int_equal(code, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(done[0]);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.pgid, pid);
	assert_true(got.msg.ready);
	assert_string_equal(got.msg.status, "up");
	assert_int_equal(notifysock_dropped(), before);
}

/* What this process writes on stderr while fn runs (log_msg goes there). */
static char *
stderr_of(void (*fn)(void))
{
	static char text[4096];
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_int_equal(dup2(fileno(f), 2), 2);
	fn();
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static int
count_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
five_drops(void)
{
	drop_goal = notifysock_dropped() + 5;
	for (int i = 0; i < 5; i++)
		send_dgram("hello", 5, -1);
	assert_true(run_until(dropped));
}

static void
one_drop(void)
{
	drop_goal = notifysock_dropped() + 1;
	send_dgram("hello", 5, -1);
	assert_true(run_until(dropped));
}

/*
 * Drops are logged at most once a second, naming the sender and why; the
 * next line says how many went unsaid (the first one here, also those of
 * the tests before). The sleeps only open the window.
 */
static void
test_drops_logged_once_a_second(void **state)
{
	char want[128];
	const char *text;

	(void)state;
	usleep(1100 * 1000);
	text = stderr_of(five_drops);
	snprintf(want, sizeof(want),
	         "dropped a datagram from pid %ld: a line without '='",
	         (long)getpid());
	assert_int_equal(count_lines(text, "dropped a datagram"), 1);
	assert_non_null(strstr(text, want));
	usleep(1100 * 1000);
	text = stderr_of(one_drop);
	assert_int_equal(count_lines(text, "dropped a datagram"), 1);
	assert_non_null(strstr(text, "(and 4 more since the last such line)"));
}

/* Many senders at once, each blocked until read: none lost. */
static void
test_burst(void **state)
{
	enum { SENDERS = 200 };
	static pid_t pids[SENDERS];
	static int releases[SENDERS];
	unsigned long before = notifysock_dropped();

	(void)state;
	got.goal = SENDERS;
	for (int i = 0; i < SENDERS; i++)
		pids[i] = sender("READY=1", &releases[i]);
	assert_true(run_until(delivered));
	assert_int_equal(got.calls, SENDERS);
	assert_int_equal(notifysock_dropped(), before);
	/* Newest first: each holds the release pipes of those before it. */
	for (int i = SENDERS - 1; i >= 0; i--)
		release_sender(pids[i], releases[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ready),
	    cmocka_unit_test(test_ready_other_values),
	    cmocka_unit_test(test_several_lines),
	    cmocka_unit_test(test_other_keys_ignored),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_malformed_voids_all),
	    cmocka_unit_test(test_empty_and_nul),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_status_cut_on_character),
	    cmocka_unit_test(test_status_utf8_kept),
	    cmocka_unit_test(test_status_control_bytes),
	    cmocka_unit_test_setup_teardown(test_env_and_idempotent_open,
	                                    socket_setup, socket_teardown),
	    cmocka_unit_test_setup_teardown(test_delivered_with_pgid,
	                                    socket_setup, socket_teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_dropped, socket_setup,
	                                    socket_teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_dropped,
	                                    socket_setup, socket_teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_dropped,
	                                    socket_setup, socket_teardown),
	    cmocka_unit_test_setup_teardown(test_fd_closed_and_dropped,
	                                    socket_setup, socket_teardown),
	    cmocka_unit_test_setup_teardown(test_barrier_closed_not_dropped,
	                                    socket_setup, socket_teardown),
	    cmocka_unit_test_setup_teardown(test_systemd_notify, socket_setup,
	                                    socket_teardown),
	    cmocka_unit_test_setup_teardown(test_drops_logged_once_a_second,
	                                    socket_setup, socket_teardown),
	    cmocka_unit_test_setup_teardown(test_burst, socket_setup,
	                                    socket_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
