/*
 * test_describe.c: durations and exit statuses in words (describe.c).
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tend.h"

static void
assert_duration(double seconds, const char *want)
{
	char buf[32];

	memset(buf, 'X', sizeof(buf));
	if (describe_duration(seconds, buf, sizeof(buf)) != buf)
		fail_msg("describe_duration(%g) does not return buf", seconds);
	if (strcmp(buf, want) != 0)
		fail_msg("describe_duration(%g) = \"%s\", want \"%s\"", seconds,
		         buf, want);
}

static void
assert_status(int status, const char *want)
{
	char buf[128];

	if (describe_wait_status(status, buf, sizeof(buf)) != buf)
		fail_msg("describe_wait_status(%#x) does not return buf",
		         status);
	if (strcmp(buf, want) != 0)
		fail_msg("describe_wait_status(%#x) = \"%s\", want \"%s\"",
		         status, buf, want);
}

static void
test_duration_milliseconds(void **state)
{
	(void)state;
	assert_duration(0.25, "250ms");
	assert_duration(0, "0ms");
	assert_duration(0.001, "1ms");
	assert_duration(0.0004, "0ms");
	assert_duration(0.5, "500ms");
	assert_duration(0.999, "999ms");
}

static void
test_duration_seconds(void **state)
{
	(void)state;
	assert_duration(2.5, "2.5s");
	assert_duration(1, "1.0s");
	assert_duration(12.3, "12.3s");
	assert_duration(59.5, "59.5s");
}

static void
test_duration_minutes(void **state)
{
	(void)state;
	assert_duration(60, "1m00s");
	assert_duration(192, "3m12s");
	assert_duration(192.9, "3m12s");
	assert_duration(3599, "59m59s");
}

static void
test_duration_hours(void **state)
{
	(void)state;
	assert_duration(3600, "1h00m");
	assert_duration(2 * 3600 + 5 * 60, "2h05m");
	assert_duration(2 * 3600 + 5 * 60 + 59, "2h05m");
	assert_duration(86399, "23h59m");
}

static void
test_duration_days(void **state)
{
	(void)state;
	assert_duration(86400, "1d00h");
	assert_duration(3 * 86400 + 4 * 3600, "3d04h");
	assert_duration(3 * 86400 + 4 * 3600 + 3599, "3d04h");
	assert_duration(400 * 86400.0, "400d00h");
}

/* A clock that went backwards says 0ms, not a negative time. */
static void
test_duration_negative(void **state)
{
	(void)state;
	assert_duration(-0.001, "0ms");
	assert_duration(-1, "0ms");
	assert_duration(-5000, "0ms");
}

/*
 * What no clock gives is "-": converting it to a long would be undefined
 * (UBSan flags it; it printed "-153722867280912930m-8s").
 */
static void
test_duration_out_of_range(void **state)
{
	(void)state;
	assert_duration(NAN, "-");
	assert_duration(-NAN, "-");
	assert_duration(INFINITY, "-");
	assert_duration(-INFINITY, "-");
	assert_duration(1e300, "-");
	assert_duration(-1e300, "0ms");
	assert_duration(9.3e18, "-");
	assert_duration(DESCRIBE_DURATION_MAX + 1, "-");
	assert_duration(DESCRIBE_DURATION_MAX, "36600d00h");
}

/* A short buffer is cut, still terminated. */
static void
test_duration_short_buffer(void **state)
{
	char buf[4];

	(void)state;
	describe_duration(192, buf, sizeof(buf));
	assert_string_equal(buf, "3m1");
}

static void
test_wait_status_exit(void **state)
{
	(void)state;
	assert_status(W_EXITCODE(0, 0), "exit status 0");
	assert_status(W_EXITCODE(1, 0), "exit status 1");
	assert_status(W_EXITCODE(3, 0), "exit status 3");
	assert_status(W_EXITCODE(127, 0), "exit status 127");
	assert_status(W_EXITCODE(255, 0), "exit status 255");
}

static void
test_wait_status_signal(void **state)
{
	(void)state;
	assert_status(W_EXITCODE(0, SIGSEGV), "killed by signal 11 (SIGSEGV)");
	assert_status(W_EXITCODE(0, SIGTERM), "killed by signal 15 (SIGTERM)");
	assert_status(W_EXITCODE(0, SIGKILL), "killed by signal 9 (SIGKILL)");
	assert_status(W_EXITCODE(0, SIGHUP), "killed by signal 1 (SIGHUP)");
}

static void
test_wait_status_core(void **state)
{
	(void)state;
	assert_status(W_EXITCODE(0, SIGSEGV) | WCOREFLAG,
	              "killed by signal 11 (SIGSEGV), core dumped");
	assert_status(W_EXITCODE(0, SIGABRT) | WCOREFLAG,
	              "killed by signal 6 (SIGABRT), core dumped");
}

/* A real-time signal has no name; it is still described. */
static void
test_wait_status_unnamed_signal(void **state)
{
	char want[64];

	(void)state;
	snprintf(want, sizeof(want), "killed by signal %d (unnamed)",
	         SIGRTMIN + 1);
	assert_status(W_EXITCODE(0, SIGRTMIN + 1), want);
}

/* A stopped child is not an end; it is still put in words. */
static void
test_wait_status_stopped(void **state)
{
	char buf[64];

	(void)state;
	describe_wait_status(W_STOPCODE(SIGSTOP), buf, sizeof(buf));
	assert_non_null(strstr(buf, "wait status"));
}

static void
test_exit_code(void **state)
{
	(void)state;
	assert_int_equal(describe_exit_code(W_EXITCODE(0, 0)), 0);
	assert_int_equal(describe_exit_code(W_EXITCODE(3, 0)), 3);
	assert_int_equal(describe_exit_code(W_EXITCODE(255, 0)), 255);
	assert_int_equal(describe_exit_code(W_EXITCODE(0, SIGSEGV)), 128 + 11);
	assert_int_equal(describe_exit_code(W_EXITCODE(0, SIGSEGV) | WCOREFLAG),
	                 128 + 11);
	assert_int_equal(describe_exit_code(W_EXITCODE(0, SIGTERM)), 128 + 15);
	assert_int_equal(describe_exit_code(W_EXITCODE(0, SIGKILL)), 128 + 9);
}

/* The wait status of a real child that ran child_main. */
static int
child_status(void (*child_main)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		child_main();
		_exit(99);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void
exit_3(void)
{
	_exit(3);
}

/*
 * Die of SIGSEGV without a core file. The default disposition first: a
 * sanitizer runtime may have its own SIGSEGV handler.
 */
static void
segfault(void)
{
	struct rlimit none = {0, 0};
	struct sigaction sa;
	sigset_t set;

	setrlimit(RLIMIT_CORE, &none);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGSEGV, &sa, NULL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	raise(SIGSEGV);
}

static void
test_real_child_exit(void **state)
{
	char buf[64];
	int status;

	(void)state;
	status = child_status(exit_3);
	assert_true(WIFEXITED(status));
	assert_string_equal(describe_wait_status(status, buf, sizeof(buf)),
	                    "exit status 3");
	assert_int_equal(describe_exit_code(status), 3);
}

static void
test_real_child_signal(void **state)
{
	char buf[64];
	int status;

	(void)state;
	status = child_status(segfault);
	assert_true(WIFSIGNALED(status));
	assert_string_equal(describe_wait_status(status, buf, sizeof(buf)),
	                    "killed by signal 11 (SIGSEGV)");
	assert_int_equal(describe_exit_code(status), 128 + 11);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_milliseconds),
	    cmocka_unit_test(test_duration_seconds),
	    cmocka_unit_test(test_duration_minutes),
	    cmocka_unit_test(test_duration_hours),
	    cmocka_unit_test(test_duration_days),
	    cmocka_unit_test(test_duration_negative),
	    cmocka_unit_test(test_duration_out_of_range),
	    cmocka_unit_test(test_duration_short_buffer),
	    cmocka_unit_test(test_wait_status_exit),
	    cmocka_unit_test(test_wait_status_signal),
	    cmocka_unit_test(test_wait_status_core),
	    cmocka_unit_test(test_wait_status_unnamed_signal),
	    cmocka_unit_test(test_wait_status_stopped),
	    cmocka_unit_test(test_exit_code),
	    cmocka_unit_test(test_real_child_exit),
	    cmocka_unit_test(test_real_child_signal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
