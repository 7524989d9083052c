/*
 * test_probe.c: readiness and health probes (probe.c) on libev's default
 * loop, with real sockets and real processes: a connect that succeeds, is
 * refused, finds no socket file, meets a full backlog or times out; a
 * command that exits 0, exits 1, is killed, cannot be run, or runs past its
 * timeout and is then gone from /proc. done is called once, from the loop
 * and never from probe_start, and never after probe_cancel; a cancelled
 * command is still reaped (no zombie). probe_is_ours knows a probe's pid
 * until probe_reclaim, even after its reap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tend.h"

#define WAIT_S 10.0 /* the most any probe here takes: room for valgrind */

static char tmpdir[] = "/tmp/test_probe.XXXXXX";

/* What done was told. */
struct answer {
	int calls;
	bool ok;
	char result[256];
	pid_t ours;     /* a pid to ask probe_is_ours about in done */
	bool ours_then; /* what it said */
};

static void
record(void *data, bool ok, const char *result)
{
	struct answer *a = data;

	a->calls++;
	a->ok = ok;
	snprintf(a->result, sizeof(a->result), "%s", result);
	if (a->ours > 0)
		a->ours_then = probe_is_ours(a->ours);
}

static void
deadline_cb(EV_P_ ev_timer *w, int revents)
{
	(void)EV_A;
	(void)revents;
	*(bool *)w->data = true;
}

static void
tick_cb(EV_P_ ev_timer *w, int revents)
{
	(void)EV_A;
	(void)w;
	(void)revents;
}

/*
 * Run the loop until cond(arg) holds or seconds pass; whether it holds.
 * A tick every 10 ms wakes the loop for what it does not watch (a file
 * written, a process gone).
 */
static bool
loop_until(bool (*cond)(void *), void *arg, double seconds)
{
	bool expired = false;
	ev_timer deadline, tick;

	ev_timer_init(&deadline, deadline_cb, seconds, 0.);
	deadline.data = &expired;
	ev_timer_start(EV_DEFAULT, &deadline);
	ev_timer_init(&tick, tick_cb, 0.01, 0.01);
	ev_timer_start(EV_DEFAULT, &tick);
	while (!cond(arg) && !expired)
		ev_run(EV_DEFAULT, EVRUN_ONCE);
	ev_timer_stop(EV_DEFAULT, &deadline);
	ev_timer_stop(EV_DEFAULT, &tick);
	return cond(arg);
}

static bool
answered(void *arg)
{
	return ((struct answer *)arg)->calls > 0;
}

static bool
no_processes(void *arg)
{
	(void)arg;
	return probe_processes() == 0;
}

/* Run the loop until done is called, and check it was called once. */
static void
wait_answer(struct answer *a)
{
	if (!loop_until(answered, a, WAIT_S))
		fail_msg("done not called within %gs", WAIT_S);
	/* One more round: a second call would show here. */
	ev_run(EV_DEFAULT, EVRUN_NOWAIT);
	assert_int_equal(a->calls, 1);
}

static void
assert_answer(const struct answer *a, bool ok, const char *result)
{
	if (a->ok != ok || strcmp(a->result, result) != 0)
		fail_msg("done(%s, \"%s\"), want (%s, \"%s\")",
		         a->ok ? "ok" : "failed", a->result,
		         ok ? "ok" : "failed", result);
}

static void
spec_endpoint(struct probe_spec *spec, const char *text)
{
	memset(spec, 0, sizeof(*spec));
	assert_null(endpoint_parse(text, &spec->addr));
	spec->kind = spec->addr.kind == ENDPOINT_TCP ? PROBE_TCP : PROBE_UNIX;
	spec->text = xstrdup(text);
}

static void
spec_exec(struct probe_spec *spec, const char *command)
{
	memset(spec, 0, sizeof(*spec));
	assert_null(cmdline_split(command, &spec->argv, &spec->argc));
	spec->kind = PROBE_EXEC;
	spec->text = xasprintf("exec:%s", command);
}

static void
spec_free(struct probe_spec *spec)
{
	endpoint_free(&spec->addr);
	free(spec->argv);
	free(spec->text);
}

/* A task's config as the manifest gives one with no keys but command. */
static struct task_config
plain_config(void)
{
	struct task_config cfg = {.name = "t", .umask = 022};

	return cfg;
}

/* Start spec and wait for its answer, which must not come at once. */
static struct answer
probe_once(const struct probe_spec *spec, const struct task_config *cfg,
           int64_t timeout_ms)
{
	struct answer a = {0};
	struct probe *p = probe_start(spec, cfg, timeout_ms, record, &a);

	assert_non_null(p);
	assert_int_equal(a.calls, 0); /* never from probe_start */
	wait_answer(&a);
	return a;
}

static int
tcp_listener(int backlog, in_port_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (backlog >= 0)
		assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
unix_listener(const char *path, int backlog)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

static char *
tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void
test_tcp_connected(void **state)
{
	struct probe_spec spec;
	struct answer a;
	in_port_t port;
	int lfd = tcp_listener(16, &port);
	char *text = xasprintf("tcp:127.0.0.1:%u", port);

	(void)state;
	spec_endpoint(&spec, text);
	a = probe_once(&spec, NULL, 5000);
	assert_answer(&a, true, "connected");
	close(lfd);
	spec_free(&spec);
	free(text);
}

static void
test_tcp_refused(void **state)
{
	struct probe_spec spec;
	struct answer a;
	in_port_t port;
	int fd = tcp_listener(-1, &port); /* bound, not listening */
	char *text = xasprintf("tcp:127.0.0.1:%u", port);
	char *want =
	    xasprintf("connect to 127.0.0.1:%u: Connection refused", port);

	(void)state;
	spec_endpoint(&spec, text);
	a = probe_once(&spec, NULL, 5000);
	assert_answer(&a, false, want);
	close(fd);
	spec_free(&spec);
	free(text);
	free(want);
}

/* Whether a non-blocking connect to port completes within 200 ms. */
static bool
tcp_connect_completes(in_port_t port, int *fdp)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons(port)};
	struct pollfd pfd;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		assert_int_equal(errno, EINPROGRESS);
	*fdp = fd;
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
	return poll(&pfd, 1, 200) == 1;
}

/*
 * A listener whose accept queue is full drops new SYNs: a connect to it
 * stays in progress (the next SYN is a second away), deterministically,
 * unlike a route to nowhere.
 */
static void
test_tcp_timeout(void **state)
{
	struct probe_spec spec;
	struct answer a;
	in_port_t port;
	int lfd = tcp_listener(0, &port), fds[16], n = 0;
	char *text = xasprintf("tcp:127.0.0.1:%u", port);

	(void)state;
	while (n < 16 && tcp_connect_completes(port, &fds[n]))
		n++;
	assert_true(n < 16); /* the queue is full */
	spec_endpoint(&spec, text);
	a = probe_once(&spec, NULL, 200);
	assert_answer(&a, false, "timed out after 200ms");
	for (int i = 0; i <= n; i++)
		close(fds[i]);
	close(lfd);
	spec_free(&spec);
	free(text);
}

static void
test_unix_connected(void **state)
{
	struct probe_spec spec;
	struct answer a;
	char *path = tmp_path("ok.sock");
	char *text = xasprintf("unix:%s", path);
	int lfd = unix_listener(path, 16);

	(void)state;
	spec_endpoint(&spec, text);
	a = probe_once(&spec, NULL, 5000);
	assert_answer(&a, true, "connected");
	close(lfd);
	unlink(path);
	spec_free(&spec);
	free(text);
	free(path);
}

static void
test_unix_missing(void **state)
{
	struct probe_spec spec;
	struct answer a;
	char *path = tmp_path("none.sock");
	char *text = xasprintf("unix:%s", path);
	char *want =
	    xasprintf("connect to %s: No such file or directory", path);

	(void)state;
	spec_endpoint(&spec, text);
	a = probe_once(&spec, NULL, 5000);
	assert_answer(&a, false, want);
	spec_free(&spec);
	free(text);
	free(path);
	free(want);
}

/* A unix listener whose backlog is full: connect says EAGAIN, a failure. */
static void
test_unix_backlog_full(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct probe_spec spec;
	struct answer a;
	char *path = tmp_path("full.sock");
	char *text = xasprintf("unix:%s", path);
	char *want = xasprintf("connect to %s: %s", path, strerror(EAGAIN));
	int lfd = unix_listener(path, 0), fds[16], n = 0;

	(void)state;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	for (; n < 16; n++) {
		fds[n] = socket(AF_UNIX,
		                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (connect(fds[n], (struct sockaddr *)&sun, sizeof(sun)) ==
		    -1) {
			assert_int_equal(errno, EAGAIN);
			break;
		}
	}
	assert_true(n < 16);
	spec_endpoint(&spec, text);
	a = probe_once(&spec, NULL, 5000);
	assert_answer(&a, false, want);
	for (int i = 0; i <= n; i++)
		close(fds[i]);
	close(lfd);
	unlink(path);
	spec_free(&spec);
	free(text);
	free(path);
	free(want);
}

/* Run command as an exec probe of cfg; check its answer. */
static void
assert_exec(const struct task_config *cfg, const char *command,
            int64_t timeout_ms, bool ok, const char *result)
{
	struct probe_spec spec;
	struct answer a;

	spec_exec(&spec, command);
	a = probe_once(&spec, cfg, timeout_ms);
	assert_answer(&a, ok, result);
	assert_true(loop_until(no_processes, NULL, WAIT_S));
	spec_free(&spec);
}

static void
test_exec_status(void **state)
{
	struct task_config cfg = plain_config();

	(void)state;
	assert_exec(&cfg, "/bin/true", 5000, true, "exit status 0");
	assert_exec(&cfg, "/bin/false", 5000, false, "exit status 1");
	assert_exec(&cfg, "sh -c 'exit 2'", 5000, false, "exit status 2");
	assert_exec(&cfg, "sh -c 'kill -9 $$'", 5000, false,
	            "killed by signal 9 (SIGKILL)");
	assert_exec(&cfg, "/nonexistent/x", 5000, false,
	            "cannot exec /nonexistent/x: No such file or directory");
}

/* The task's directory and environment are the probe's too. */
static void
test_exec_as_task(void **state)
{
	struct task_config cfg = plain_config();
	char entry[] = "PROBE_TEST=yes";
	char *env[] = {entry, NULL};
	char *command = xasprintf(
	    "sh -c 'test \"$PROBE_TEST\" = yes && test \"$(pwd)\" = %s && "
	    "test \"$TEND_TASK\" = t'",
	    tmpdir);
	char *missing = tmp_path("none");
	char *want =
	    xasprintf("cannot chdir %s: No such file or directory", missing);

	(void)state;
	cfg.directory = tmpdir;
	cfg.env = env;
	cfg.nenv = 1;
	assert_exec(&cfg, command, 5000, true, "exit status 0");
	/* Under ASan too: spawn.c's child is left out of its checks. */
	cfg.directory = missing;
	assert_exec(&cfg, "/bin/true", 5000, false, want);
	free(command);
	free(missing);
	free(want);
}

/* The pid a probe's shell wrote to path, once written; 0 until then. */
static pid_t
read_pid(const char *path)
{
	char buf[32] = "";
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || buf[n - 1] != '\n')
		return 0;
	return (pid_t)atol(buf);
}

static bool
pid_written(void *path)
{
	return read_pid(path) > 0;
}

/* Whether pid is gone from /proc, or (not our child) a zombie. */
static bool
process_gone(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	char path[64], buf[512], *p;
	FILE *fp;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return true;
	len = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[len] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] == 'Z';
}

static bool
proc_absent(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld", (long)pid);
	return access(path, F_OK) == -1 && errno == ENOENT;
}

/*
 * A command past its timeout: answered "timed out", its whole group
 * killed (the sleep in the background too) and itself reaped.
 */
static void
test_exec_timeout(void **state)
{
	struct task_config cfg = plain_config();
	struct probe_spec spec;
	struct answer a = {0};
	char *pidfile = tmp_path("timeout.pid");
	char *command = xasprintf(
	    "sh -c 'sleep 100 & echo $$ $! > %s.tmp && mv %s.tmp %s; wait'",
	    pidfile, pidfile, pidfile);
	pid_t shell, sleeper;
	FILE *fp;

	(void)state;
	spec_exec(&spec, command);
	assert_non_null(probe_start(&spec, &cfg, 500, record, &a));
	assert_int_equal(a.calls, 0);
	assert_int_equal(probe_processes(), 1);
	wait_answer(&a);
	assert_answer(&a, false, "timed out after 500ms");
	assert_true(loop_until(no_processes, NULL, WAIT_S));
	assert_int_equal(a.calls, 1); /* not again at the reap */

	fp = fopen(pidfile, "re");
	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%d %d", &shell, &sleeper), 2);
	fclose(fp);
	assert_true(proc_absent(shell)); /* reaped: no zombie */
	assert_true(loop_until(process_gone, &sleeper, WAIT_S));
	assert_true(probe_is_ours(shell)); /* until reclaimed */
	probe_reclaim();
	assert_false(probe_is_ours(shell));
	unlink(pidfile);
	spec_free(&spec);
	free(command);
	free(pidfile);
}

/* A command that exits leaving a process in its group: that goes too. */
static void
test_exec_no_strays(void **state)
{
	struct task_config cfg = plain_config();
	char *pidfile = tmp_path("stray.pid");
	char *command =
	    xasprintf("sh -c 'sleep 100 & echo $! > %s.tmp && mv %s.tmp %s'",
	              pidfile, pidfile, pidfile);
	pid_t stray;

	(void)state;
	assert_exec(&cfg, command, 5000, true, "exit status 0");
	stray = read_pid(pidfile);
	assert_true(stray > 0);
	assert_true(loop_until(process_gone, &stray, WAIT_S));
	unlink(pidfile);
	free(command);
	free(pidfile);
}

/* Cancelled while running: never answered, killed and still reaped. */
static void
test_exec_cancel(void **state)
{
	struct task_config cfg = plain_config();
	struct probe_spec spec;
	struct answer a = {0};
	char *pidfile = tmp_path("cancel.pid");
	char *command = xasprintf(
	    "sh -c 'echo $$ > %s.tmp && mv %s.tmp %s && exec sleep 100'",
	    pidfile, pidfile, pidfile);
	struct probe *p;
	pid_t pid;

	(void)state;
	spec_exec(&spec, command);
	p = probe_start(&spec, &cfg, 60000, record, &a);
	assert_true(loop_until(pid_written, pidfile, WAIT_S));
	pid = read_pid(pidfile);
	assert_true(probe_is_ours(pid));
	probe_cancel(p);
	assert_true(loop_until(no_processes, NULL, WAIT_S));
	assert_true(proc_absent(pid)); /* reaped, not a zombie */
	ev_run(EV_DEFAULT, EVRUN_NOWAIT);
	assert_int_equal(a.calls, 0);
	assert_true(probe_is_ours(pid));
	probe_reclaim();
	assert_false(probe_is_ours(pid));
	unlink(pidfile);
	spec_free(&spec);
	free(command);
	free(pidfile);
}

/* Cancelled with an answer on its way, or a connect in progress. */
static void
test_connect_cancel(void **state)
{
	struct probe_spec spec, spec_full;
	struct answer a = {0}, b = {0};
	struct probe *p, *q;
	in_port_t port, full_port;
	int fd = tcp_listener(-1, &port), lfd = tcp_listener(0, &full_port);
	int fds[16], n = 0;
	char *text = xasprintf("tcp:127.0.0.1:%u", port);
	char *full = xasprintf("tcp:127.0.0.1:%u", full_port);

	(void)state;
	while (n < 16 && tcp_connect_completes(full_port, &fds[n]))
		n++;
	assert_true(n < 16);
	spec_endpoint(&spec, text);
	spec_endpoint(&spec_full, full);
	p = probe_start(&spec, NULL, 5000, record, &a);
	q = probe_start(&spec_full, NULL, 200, record, &b);
	probe_cancel(p);
	probe_cancel(q);
	/* Past the timeout q had: nothing comes. */
	assert_false(loop_until(answered, &b, 0.5));
	assert_int_equal(a.calls, 0);
	probe_reclaim();
	for (int i = 0; i <= n; i++)
		close(fds[i]);
	close(fd);
	close(lfd);
	spec_free(&spec);
	spec_free(&spec_full);
	free(text);
	free(full);
}

/* A reaped probe's pid is still ours in its done, until the reclaim. */
static void
test_is_ours_after_reap(void **state)
{
	struct task_config cfg = plain_config();
	struct probe_spec spec;
	struct answer a = {0};
	char *pidfile = tmp_path("ours.pid");
	char *go = tmp_path("ours.go");
	char *command = xasprintf("sh -c 'echo $$ > %s.tmp && mv %s.tmp %s && "
	                          "while ! test -e %s; do sleep 0.05; done'",
	                          pidfile, pidfile, pidfile, go);
	int fd;

	(void)state;
	spec_exec(&spec, command);
	assert_false(probe_is_ours(getpid()));
	assert_non_null(probe_start(&spec, &cfg, 60000, record, &a));
	assert_true(loop_until(pid_written, pidfile, WAIT_S));
	a.ours = read_pid(pidfile);
	assert_true(probe_is_ours(a.ours));
	fd = open(go, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	wait_answer(&a);
	assert_answer(&a, true, "exit status 0");
	assert_true(a.ours_then);
	assert_true(probe_is_ours(a.ours));
	probe_reclaim();
	assert_false(probe_is_ours(a.ours));
	unlink(pidfile);
	unlink(go);
	spec_free(&spec);
	free(command);
	free(pidfile);
	free(go);
}

/* How many fds the test process has open. */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = -1; /* the directory's own */

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int fds_before;

static int
before_each(void **state)
{
	(void)state;
	fds_before = count_fds();
	return 0;
}

/* Each test leaves no probe, no process and no fd behind. */
static int
after_each(void **state)
{
	(void)state;
	probe_reclaim();
	assert_int_equal(probe_processes(), 0);
	assert_int_equal(count_fds(), fds_before);
	return 0;
}

/*
 * One probe first, so that what libev and spawn.c keep open for good (the
 * loop's fds, /dev/null, the status pipe) is open before any count.
 */
static int
setup(void **state)
{
	struct task_config cfg = plain_config();
	struct probe_spec spec;
	struct answer a = {0};

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/*
	 * The loop first, as tendd makes it: it watches SIGCHLD from then
	 * on. Made by the first EV_DEFAULT after a spawn, it would miss the
	 * exit of a child as quick as /bin/true.
	 */
	if (ev_default_loop(EVFLAG_SIGNALFD) == NULL)
		return -1;
	spec_exec(&spec, "/bin/true");
	probe_start(&spec, &cfg, 5000, record, &a);
	wait_answer(&a);
	assert_true(loop_until(no_processes, NULL, WAIT_S));
	probe_reclaim();
	spec_free(&spec);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	rmdir(tmpdir);
	ev_loop_destroy(EV_DEFAULT);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, before_each, after_each)
	    T(test_tcp_connected),      T(test_tcp_refused),
	    T(test_tcp_timeout),        T(test_unix_connected),
	    T(test_unix_missing),       T(test_unix_backlog_full),
	    T(test_exec_status),        T(test_exec_as_task),
	    T(test_exec_timeout),       T(test_exec_no_strays),
	    T(test_exec_cancel),        T(test_connect_cancel),
	    T(test_is_ours_after_reap),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
