/*
 * test_configdiff.c: what a reload sees as changed in a task (configdiff.c):
 * each key falls in exactly one kind of change, and an unchanged task,
 * however written, is no change at all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

/* The diff of task t between two manifests, each one [task:t] section. */
static unsigned
diff_of(const char *before, const char *after)
{
	const char *texts[2] = {before, after};
	struct manifest m[2];
	struct diag d = {0};
	unsigned changes;

	for (int i = 0; i < 2; i++) {
		FILE *fp = fmemopen((void *)texts[i], strlen(texts[i]), "r");
		if (fp == NULL)
			fail_msg("fmemopen");
		if (manifest_read(fp, "t.ini", &m[i], &d) != 0) {
			diag_print(&d, stderr);
			fail_msg("manifest %d is invalid", i);
		}
		fclose(fp);
		assert_int_equal(m[i].ntasks, 1);
	}
	changes = config_diff(&m[0].tasks[0], &m[1].tasks[0]);
	manifest_free(&m[0]);
	manifest_free(&m[1]);
	diag_free(&d);
	return changes;
}

/* Each of keys, added to base, changes base by want and nothing else. */
static void
assert_each_key(const char *base, const char *const *keys, size_t n,
                unsigned want)
{
	for (size_t i = 0; i < n; i++) {
		char *after = xasprintf("%s%s", base, keys[i]);
		unsigned changes = diff_of(base, after);
		if (changes != want)
			fail_msg("%s: changes %#x, want %#x only", keys[i],
			         changes, want);
		free(after);
	}
}

#define NKEYS(a) (sizeof(a) / sizeof(*(a)))

#define DURABLE_BARE "[task:t]\nclass = durable\n"
#define DURABLE      DURABLE_BARE "command = /bin/true a\n"
#define REQUEST                                               \
	"[task:t]\nclass = per-request\ncommand = /bin/cat\n" \
	"listen = tcp:127.0.0.1:7000\n"

static void
test_unchanged(void **state)
{
	(void)state;
	assert_int_equal(diff_of(DURABLE, DURABLE), 0);
	assert_int_equal(diff_of(REQUEST, REQUEST), 0);
	/* Written otherwise, the same: defaults spelt out, other quoting. */
	assert_int_equal(diff_of(DURABLE, "[task:t]\nclass = durable\n"
	                                  "command = '/bin/true' \"a\"\n"
	                                  "umask = 022\nstdout = syslog\n"
	                                  "backoff_max = 1m\n"),
	                 0);
}

static void
test_process_keys(void **state)
{
	static const char *keys[] = {
	    "directory = /tmp\n", "user = 0\ngroup = 0\n", "umask = 077\n",
	    "env = A=1\n",        "clear_env = yes\n",     "stdout = null\n",
	    "stderr = inherit\n", "stdout = console\n",    "stderr = console\n",
	    "stdout = file:/x\n", "stderr = file:/x\n",
	};

	(void)state;
	assert_each_key(DURABLE, keys, NKEYS(keys), CONFIG_PROCESS);
	assert_int_equal(
	    diff_of(DURABLE, DURABLE_BARE "command = /bin/true b\n"),
	    CONFIG_PROCESS);
	assert_int_equal(
	    diff_of(DURABLE, DURABLE_BARE "command = /bin/true a b\n"),
	    CONFIG_PROCESS);
	assert_int_equal(diff_of(DURABLE, DURABLE_BARE "command = true a\n"),
	                 CONFIG_PROCESS);
}

static void
test_env_order_and_values(void **state)
{
	(void)state;
	assert_int_equal(diff_of(DURABLE "env = A=1\nenv = B=2\n",
	                         DURABLE "env = A=1\nenv = B=2\n"),
	                 0);
	assert_int_equal(diff_of(DURABLE "env = A=1\nenv = B=2\n",
	                         DURABLE "env = A=1\nenv = B=3\n"),
	                 CONFIG_PROCESS);
	assert_int_equal(
	    diff_of(DURABLE "env = A=1\nenv = B=2\n", DURABLE "env = A=1\n"),
	    CONFIG_PROCESS);
}

static void
test_policy_keys(void **state)
{
	static const char *durable_keys[] = {
	    "backoff_min = 2s\n",    "backoff_max = 5s\n",
	    "healthy_after = 10s\n", "stop_signal = INT\n",
	    "stop_timeout = 3s\n",   "autostart = no\n",
	    "essential = yes\n",     "log_max_size = 1K\n",
	    "log_backups = 2\n",
	};
	static const char *request_keys[] = {
	    "max_instances = 2\n",
	    "log_max_size = 0\n",
	    "timeout = 5s\n",
	};

	(void)state;
	assert_each_key(DURABLE, durable_keys, NKEYS(durable_keys),
	                CONFIG_POLICY);
	assert_each_key(REQUEST, request_keys, NKEYS(request_keys),
	                CONFIG_POLICY);
}

/* The [tend] default stop_timeout reaches the tasks that have none. */
static void
test_global_stop_timeout(void **state)
{
	(void)state;
	assert_int_equal(
	    diff_of(DURABLE, "[tend]\nstop_timeout = 3s\n" DURABLE),
	    CONFIG_POLICY);
	assert_int_equal(diff_of(DURABLE "stop_timeout = 3s\n",
	                         "[tend]\nstop_timeout = 7s\n" DURABLE
	                         "stop_timeout = 3s\n"),
	                 0);
}

static void
test_listen(void **state)
{
	(void)state;
	assert_int_equal(diff_of(REQUEST, "[task:t]\nclass = per-request\n"
	                                  "command = /bin/cat\n"
	                                  "listen = tcp:127.0.0.1:7001\n"),
	                 CONFIG_LISTEN);
	assert_int_equal(diff_of(REQUEST, "[task:t]\nclass = per-request\n"
	                                  "command = /bin/cat\n"),
	                 CONFIG_LISTEN);
	assert_int_equal(diff_of(REQUEST, "[task:t]\nclass = per-request\n"
	                                  "command = /bin/cat -u\n"
	                                  "listen = unix:/tmp/x.sock\n"),
	                 CONFIG_LISTEN | CONFIG_PROCESS);
}

static void
test_class(void **state)
{
	(void)state;
	assert_int_equal(diff_of(DURABLE, "[task:t]\nclass = log-only\n"
	                                  "command = /bin/true a\n"),
	                 CONFIG_CLASS);
	/* A durable task's defaults differ from a per-request task's. */
	assert_true(diff_of(DURABLE, REQUEST) & CONFIG_CLASS);
}

/* A group list changed in the group database (between reloads). */
static void
test_groups(void **state)
{
	static const char text[] = DURABLE "user = root\n";
	struct manifest m[2];
	struct diag d = {0};
	gid_t other[] = {0, 4242};

	(void)state;
	for (int i = 0; i < 2; i++) {
		FILE *fp = fmemopen((void *)text, strlen(text), "r");
		assert_non_null(fp);
		assert_int_equal(manifest_read(fp, "t.ini", &m[i], &d), 0);
		fclose(fp);
	}
	assert_int_equal(config_diff(&m[0].tasks[0], &m[1].tasks[0]), 0);
	free(m[1].tasks[0].groups);
	m[1].tasks[0].groups = xcalloc(2, sizeof(gid_t));
	memcpy(m[1].tasks[0].groups, other, sizeof(other));
	m[1].tasks[0].ngroups = 2;
	assert_int_equal(config_diff(&m[0].tasks[0], &m[1].tasks[0]),
	                 CONFIG_PROCESS);
	manifest_free(&m[0]);
	manifest_free(&m[1]);
}

/* Another file for a file: output is another process; the same is none. */
static void
test_output_paths(void **state)
{
	(void)state;
	assert_int_equal(
	    diff_of(DURABLE "stdout = file:/a\n", DURABLE "stdout = file:/b\n"),
	    CONFIG_PROCESS);
	assert_int_equal(diff_of(DURABLE "stderr = file:/a\n",
	                         DURABLE "stderr = file:/a.log\n"),
	                 CONFIG_PROCESS);
	assert_int_equal(
	    diff_of(DURABLE "stdout = file:/a\n", DURABLE "stdout = file:/a\n"),
	    0);
	assert_int_equal(diff_of(DURABLE, DURABLE "log_max_size = 10M\n"
	                                          "log_backups = 5\n"),
	                 0);
	assert_int_equal(diff_of(DURABLE "stdout = file:/a\n",
	                         DURABLE "stdout = file:/a\n"
	                                 "log_max_size = 1\n"),
	                 CONFIG_POLICY);
}

/* The readiness and health keys are policy: applied in place. */
static void
test_readiness_keys(void **state)
{
	static const char *keys[] = {
	    "ready = notify\n",
	    "ready = tcp:127.0.0.1:5432\n",
	    "ready = unix:/run/db.sock\n",
	    "ready = exec:/bin/check\n",
	    "ready_timeout = 5s\n",
	    "health = tcp:127.0.0.1:80\n",
	    "health = exec:/bin/check -q\n",
	    "health_interval = 1s\n",
	    "health_timeout = 1s\n",
	    "health_retries = 1\n",
	};

	(void)state;
	assert_each_key(DURABLE, keys, NKEYS(keys), CONFIG_POLICY);
	/* the defaults spelt out change nothing */
	assert_int_equal(diff_of(DURABLE, DURABLE "ready = none\n"
	                                          "ready_timeout = 1m\n"
	                                          "health = none\n"
	                                          "health_interval = 30s\n"
	                                          "health_timeout = 5000ms\n"
	                                          "health_retries = 3\n"),
	                 0);
	/* another probe of the same kind, or the same probe */
	assert_int_equal(diff_of(DURABLE "ready = exec:/bin/check -q\n",
	                         DURABLE "ready = exec:/bin/check -v\n"),
	                 CONFIG_POLICY);
	assert_int_equal(diff_of(DURABLE "health = tcp:127.0.0.1:80\n",
	                         DURABLE "health = tcp:127.0.0.1:81\n"),
	                 CONFIG_POLICY);
	assert_int_equal(diff_of(DURABLE "health = tcp:127.0.0.1:80\n",
	                         DURABLE "health = tcp:127.0.0.1:80\n"),
	                 0);
	/* with a process change, both */
	assert_int_equal(diff_of(DURABLE, DURABLE_BARE "command = /bin/x\n"
	                                               "ready = notify\n"),
	                 CONFIG_PROCESS | CONFIG_POLICY);
}

/* The diff of the first task between two manifests of several tasks. */
static unsigned
diff_first(const char *before, const char *after)
{
	const char *texts[2] = {before, after};
	struct manifest m[2];
	struct diag d = {0};
	unsigned changes;

	for (int i = 0; i < 2; i++) {
		FILE *fp = fmemopen((void *)texts[i], strlen(texts[i]), "r");
		if (fp == NULL)
			fail_msg("fmemopen");
		if (manifest_read(fp, "t.ini", &m[i], &d) != 0) {
			diag_print(&d, stderr);
			fail_msg("manifest %d is invalid", i);
		}
		fclose(fp);
	}
	changes = config_diff(&m[0].tasks[0], &m[1].tasks[0]);
	manifest_free(&m[0]);
	manifest_free(&m[1]);
	diag_free(&d);
	return changes;
}

#define OTHERS                                              \
	"[task:a]\nclass = log-only\ncommand = /bin/true\n" \
	"[task:b]\nclass = per-request\ncommand = /bin/cat\n"

/* after is policy on every class; its names in any order are the same. */
static void
test_after(void **state)
{
	static const char *classes[] = {"durable", "log-only", "per-request"};
	char *base, *with, *other, *reordered, *split;

	(void)state;
	for (size_t i = 0; i < NKEYS(classes); i++) {
		base = xasprintf("[task:t]\nclass = %s\ncommand = /bin/t\n%s",
		                 classes[i], OTHERS);
		with = xasprintf("[task:t]\nclass = %s\ncommand = /bin/t\n"
		                 "after = a b\n%s",
		                 classes[i], OTHERS);
		other = xasprintf("[task:t]\nclass = %s\ncommand = /bin/t\n"
		                  "after = a\n%s",
		                  classes[i], OTHERS);
		reordered = xasprintf("[task:t]\nclass = %s\n"
		                      "command = /bin/t\nafter = b a\n%s",
		                      classes[i], OTHERS);
		split = xasprintf("[task:t]\nclass = %s\ncommand = /bin/t\n"
		                  "after = b\nafter = a b a\n%s",
		                  classes[i], OTHERS);
		assert_int_equal(diff_first(base, with), CONFIG_POLICY);
		assert_int_equal(diff_first(with, base), CONFIG_POLICY);
		assert_int_equal(diff_first(with, other), CONFIG_POLICY);
		assert_int_equal(diff_first(other, with), CONFIG_POLICY);
		assert_int_equal(diff_first(with, with), 0);
		assert_int_equal(diff_first(with, reordered), 0);
		assert_int_equal(diff_first(with, split), 0);
		free(base);
		free(with);
		free(other);
		free(reordered);
		free(split);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unchanged),
	    cmocka_unit_test(test_process_keys),
	    cmocka_unit_test(test_env_order_and_values),
	    cmocka_unit_test(test_policy_keys),
	    cmocka_unit_test(test_global_stop_timeout),
	    cmocka_unit_test(test_listen),
	    cmocka_unit_test(test_class),
	    cmocka_unit_test(test_groups),
	    cmocka_unit_test(test_output_paths),
	    cmocka_unit_test(test_readiness_keys),
	    cmocka_unit_test(test_after),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
