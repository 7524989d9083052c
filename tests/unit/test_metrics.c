/*
 * test_metrics.c: the Prometheus exposition (metrics.c): each family
 * declared once before its samples, counters named _total, label values
 * escaped, each task's figures, and the same text however it is cut.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "tend.h"

#define NOW 1000.0

static struct task *
make_task(const char *name, enum task_class class)
{
	struct task_config *cfg = xcalloc(1, sizeof(*cfg));

	snprintf(cfg->name, sizeof(cfg->name), "%s", name);
	cfg->class = class;
	return task_new(cfg);
}

static void
free_tasks(struct task **tasks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tasks[i]->runs = NULL; /* the tests' own, on the stack */
		task_free(tasks[i]);
	}
	free(tasks);
}

/* n tasks, of the three classes in turn. */
static struct task **
make_tasks(size_t n)
{
	struct task **tasks = xcalloc(n ? n : 1, sizeof(*tasks));
	char name[32];

	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "task-%zu", i);
		tasks[i] = make_task(name, (enum task_class)(i % 3));
		tasks[i]->policy.restarts = i;
	}
	return tasks;
}

/* The whole exposition in one call; a string to free. */
static char *
whole(struct task **tasks, size_t n)
{
	struct buf b = {0};
	struct metrics_cursor cur = {0};

	assert_true(metrics_fill(&b, &cur, tasks, n, NOW, SIZE_MAX));
	buf_add(&b, "", 0);
	return b.data;
}

/* The exposition as the control socket writes it: low bytes at a time,
 * each part taken out of the buffer before the next. */
static char *
in_parts(struct task **tasks, size_t n, size_t low, size_t *calls)
{
	struct buf b = {0}, all = {0};
	struct metrics_cursor cur = {0};
	bool done;

	*calls = 0;
	do {
		done = metrics_fill(&b, &cur, tasks, n, NOW, low);
		(*calls)++;
		assert_true(b.len > 0); /* always gets on */
		buf_add(&all, b.data, b.len);
		buf_consume(&b, b.len);
	} while (!done);
	buf_free(&b);
	buf_add(&all, "", 0);
	return all.data;
}

/* The line of text that starts with prefix, or NULL. */
static const char *
line_starting(const char *text, const char *prefix)
{
	size_t len = strlen(prefix);

	for (const char *p = text; *p != '\0';) {
		if (strncmp(p, prefix, len) == 0)
			return p;
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	return NULL;
}

static size_t
count_lines_starting(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *p = text; *p != '\0';) {
		if (strncmp(p, prefix, len) == 0)
			n++;
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	return n;
}

/* The value of the sample that starts with series ("name{...} "). */
static const char *
value_of(const char *text, const char *series, char *out, size_t size)
{
	const char *line = line_starting(text, series);
	size_t len;

	if (line == NULL)
		return NULL;
	line += strlen(series);
	len = strcspn(line, "\n");
	if (len >= size)
		len = size - 1;
	memcpy(out, line, len);
	out[len] = '\0';
	return out;
}

struct declared {
	char name[80];
	char type[16];
};

/*
 * Check the format line by line: HELP then TYPE, once per family, before
 * any sample of it; a sample's family is the last one declared; counters
 * and only counters end with _total. Returns the families declared.
 */
static size_t
check_format(const char *text, struct declared *fam, size_t max)
{
	size_t n = 0;
	const char *p = text;

	assert_true(strlen(text) > 0);
	assert_int_equal(text[strlen(text) - 1], '\n');
	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		char line[512], name[80], type[16];

		assert_true(len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line, "# HELP %79s", name), 1);
			for (size_t i = 0; i < n; i++)
				assert_string_not_equal(fam[i].name, name);
			assert_true(n < max);
			snprintf(fam[n].name, sizeof(fam[n].name), "%s", name);
			fam[n].type[0] = '\0';
			n++;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(
			    sscanf(line, "# TYPE %79s %15s", name, type), 2);
			assert_true(n > 0);
			assert_string_equal(fam[n - 1].name, name);
			assert_string_equal(fam[n - 1].type, ""); /* once */
			snprintf(fam[n - 1].type, sizeof(fam[n - 1].type), "%s",
			         type);
			size_t nlen = strlen(name);
			bool total =
			    nlen > 6 && strcmp(name + nlen - 6, "_total") == 0;
			assert_int_equal(total, strcmp(type, "counter") == 0);
			continue;
		}
		assert_true(line[0] != '#');
		/* A sample: its family is the one declared last. */
		assert_true(n > 0);
		assert_string_not_equal(fam[n - 1].type, "");
		len = strcspn(line, "{ ");
		assert_int_equal(len, strlen(fam[n - 1].name));
		assert_memory_equal(line, fam[n - 1].name, len);
		char *value = strrchr(line, ' ');
		char *end;
		assert_non_null(value);
		strtod(value + 1, &end);
		assert_true(end != value + 1 && *end == '\0');
	}
	return n;
}

static void
test_families_once_in_order(void **state)
{
	static const char *const want[] = {
	    "tend_up",
	    "tend_build_info",
	    "tend_log_dropped_total",
	    "tend_notify_dropped_total",
	    "tend_task_up",
	    "tend_task_restarts_total",
	    "tend_task_last_exit_code",
	    "tend_task_uptime_seconds",
	    "tend_task_next_start_seconds",
	    "tend_task_requests_total",
	    "tend_task_failures_total",
	    "tend_task_active",
	    "tend_task_refused_total",
	    "tend_task_ready",
	    "tend_task_health_failures_total",
	};
	size_t nwant = sizeof(want) / sizeof(want[0]);
	struct task **tasks = make_tasks(5);
	struct declared fam[32];
	char *text = whole(tasks, 5);
	size_t n;

	(void)state;
	n = check_format(text, fam, 32);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_string_equal(fam[i].name, want[i]);
	/* One sample per task in each task family (none exited yet). */
	assert_int_equal(count_lines_starting(text, "tend_task_up{"), 5);
	assert_int_equal(
	    count_lines_starting(text, "tend_task_health_failures_total{"), 5);
	assert_int_equal(
	    count_lines_starting(text, "tend_task_last_exit_code{"), 0);
	assert_non_null(line_starting(text, "tend_up 1\n"));
	assert_non_null(line_starting(
	    text, "tend_build_info{version=\"" TEND_VERSION "\"} 1\n"));
	assert_non_null(line_starting(text, "tend_log_dropped_total 0\n"));
	assert_non_null(line_starting(text, "tend_notify_dropped_total 0\n"));
	assert_non_null(
	    line_starting(text, "# TYPE tend_notify_dropped_total counter\n"));
	free(text);
	free_tasks(tasks, 5);
}

static void
test_no_tasks(void **state)
{
	struct declared fam[32];
	char *text = whole(NULL, 0);

	(void)state;
	assert_int_equal(check_format(text, fam, 32), 15);
	assert_null(line_starting(text, "tend_task_up{"));
	free(text);
}

static void
test_escape(void **state)
{
	struct buf b = {0};

	(void)state;
	metrics_escape(&b, "a\\b\"c\nd");
	assert_string_equal(b.data, "a\\\\b\\\"c\\nd");
	buf_consume(&b, b.len);
	metrics_escape(&b, "\\\\\"\n\n");
	assert_string_equal(b.data, "\\\\\\\\\\\"\\n\\n");
	buf_consume(&b, b.len);
	metrics_escape(&b, "plain.name-1_x\ttab");
	assert_string_equal(b.data, "plain.name-1_x\ttab");
	buf_consume(&b, b.len);
	metrics_escape(&b, "");
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_labels(void **state)
{
	struct task *t = make_task("web.1_a-b", CLASS_PER_REQUEST);
	char *text = whole(&t, 1);

	(void)state;
	assert_non_null(line_starting(
	    text, "tend_task_up{task=\"web.1_a-b\",class=\"per-request\"} "));
	free(text);
	t->runs = NULL;
	task_free(t);
}

/* A durable task running, one backing off, one whose exec failed. */
static void
test_durable_figures(void **state)
{
	struct task *t[3] = {
	    make_task("up", CLASS_DURABLE),
	    make_task("off", CLASS_DURABLE),
	    make_task("bad", CLASS_DURABLE),
	};
	struct run run = {.started = NOW - 12.25};
	char v[64], *text;

	(void)state;
	t[0]->policy.state = STATE_RUNNING;
	t[0]->runs = &run;
	t[0]->policy.restarts = 7;
	t[0]->has_last_exit = true;
	t[0]->last_wstatus = SIGSEGV | 0x80; /* core dumped */
	t[1]->policy.state = STATE_BACKOFF;
	t[1]->next_start = NOW + 2.5;
	t[1]->has_last_exit = true;
	t[1]->last_wstatus = 3 << 8;
	t[2]->policy.state = STATE_BACKOFF;
	t[2]->next_start = NOW - 1; /* overdue */
	t[2]->has_last_exit = true;
	t[2]->last_wstatus = 127 << 8;
	text = whole(t, 3);

#define SERIES(f, n) f "{task=\"" n "\",class=\"durable\"} "
	assert_string_equal(value_of(text, SERIES("tend_task_up", "up"), v, 64),
	                    "1");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_ready", "up"), v, 64), "1");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_uptime_seconds", "up"), v, 64),
	    "12.250");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_restarts_total", "up"), v, 64),
	    "7");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_last_exit_code", "up"), v, 64),
	    "139");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_next_start_seconds", "up"), v, 64),
	    "0.000");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_up", "off"), v, 64), "0");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_ready", "off"), v, 64), "0");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_uptime_seconds", "off"), v, 64),
	    "0.000");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_next_start_seconds", "off"), v,
	             64),
	    "2.500");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_last_exit_code", "off"), v, 64),
	    "3");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_next_start_seconds", "bad"), v,
	             64),
	    "0.000");
	assert_string_equal(
	    value_of(text, SERIES("tend_task_last_exit_code", "bad"), v, 64),
	    "127");
#undef SERIES
	free(text);
	for (size_t i = 0; i < 3; i++) {
		t[i]->runs = NULL;
		task_free(t[i]);
	}
}

/* A run whose exec failed is no process: not up, not ready. */
static void
test_exec_failed_run_is_not_up(void **state)
{
	struct task *t = make_task("x", CLASS_DURABLE);
	struct run run = {.started = NOW - 1, .exec_failed = true};
	char v[64], *text;

	(void)state;
	/* The engine keeps a run whose exec failed starting, until reaped. */
	t->policy.state = STATE_STARTING;
	t->runs = &run;
	text = whole(&t, 1);
	assert_string_equal(
	    value_of(text, "tend_task_up{task=\"x\",class=\"durable\"} ", v,
	             64),
	    "0");
	assert_string_equal(
	    value_of(text, "tend_task_ready{task=\"x\",class=\"durable\"} ", v,
	             64),
	    "0");
	free(text);
	t->runs = NULL;
	task_free(t);
}

static void
test_log_only_and_per_request(void **state)
{
	struct task *t[4] = {
	    make_task("ok", CLASS_LOG_ONLY),
	    make_task("ko", CLASS_LOG_ONLY),
	    make_task("srv", CLASS_PER_REQUEST),
	    make_task("off", CLASS_PER_REQUEST),
	};
	char v[64], *text;

	(void)state;
	t[0]->policy.state = STATE_DONE;
	t[0]->has_last_exit = true;
	t[0]->last_wstatus = 0;
	t[1]->policy.state = STATE_FAILED;
	t[1]->has_last_exit = true;
	t[1]->last_wstatus = SIGTERM;
	t[2]->policy.state = STATE_LISTENING;
	t[2]->policy.active = 2;
	t[2]->requests = 40;
	t[2]->failures = 3;
	t[3]->policy.state = STATE_STOPPED;
	text = whole(t, 4);

#define LO(f, n) f "{task=\"" n "\",class=\"log-only\"} "
#define PR(f, n) f "{task=\"" n "\",class=\"per-request\"} "
	assert_string_equal(value_of(text, LO("tend_task_ready", "ok"), v, 64),
	                    "1");
	assert_string_equal(value_of(text, LO("tend_task_up", "ok"), v, 64),
	                    "0");
	assert_string_equal(
	    value_of(text, LO("tend_task_last_exit_code", "ok"), v, 64), "0");
	assert_string_equal(value_of(text, LO("tend_task_ready", "ko"), v, 64),
	                    "0");
	assert_string_equal(
	    value_of(text, LO("tend_task_last_exit_code", "ko"), v, 64), "143");
	assert_string_equal(value_of(text, PR("tend_task_up", "srv"), v, 64),
	                    "1");
	assert_string_equal(value_of(text, PR("tend_task_ready", "srv"), v, 64),
	                    "1");
	assert_string_equal(
	    value_of(text, PR("tend_task_active", "srv"), v, 64), "2");
	assert_string_equal(
	    value_of(text, PR("tend_task_requests_total", "srv"), v, 64), "40");
	assert_string_equal(
	    value_of(text, PR("tend_task_failures_total", "srv"), v, 64), "3");
	assert_string_equal(
	    value_of(text, PR("tend_task_refused_total", "srv"), v, 64), "0");
	assert_string_equal(value_of(text, PR("tend_task_up", "off"), v, 64),
	                    "0");
	assert_string_equal(value_of(text, PR("tend_task_ready", "off"), v, 64),
	                    "0");
#undef LO
#undef PR
	free(text);
	for (size_t i = 0; i < 4; i++)
		task_free(t[i]);
}

/* tend_task_ready: task_ready's answer for every class and state. */
static void
test_ready_each_class_and_state(void **state)
{
	static const struct {
		enum task_class class;
		enum task_state state;
		bool with_run;     /* a process runs */
		bool has_listener; /* per-request: a listen key */
		const char *want;
	} cases[] = {
	    {CLASS_DURABLE, STATE_RUNNING, true, false, "1"},
	    {CLASS_DURABLE, STATE_STARTING, true, false, "0"},
	    {CLASS_DURABLE, STATE_WAITING, false, false, "0"},
	    {CLASS_DURABLE, STATE_BACKOFF, false, false, "0"},
	    {CLASS_DURABLE, STATE_STOPPING, true, false, "0"},
	    {CLASS_DURABLE, STATE_STOPPED, false, false, "0"},
	    {CLASS_LOG_ONLY, STATE_DONE, false, false, "1"},
	    {CLASS_LOG_ONLY, STATE_RUNNING, true, false, "0"},
	    {CLASS_LOG_ONLY, STATE_FAILED, false, false, "0"},
	    {CLASS_LOG_ONLY, STATE_WAITING, false, false, "0"},
	    {CLASS_LOG_ONLY, STATE_STOPPED, false, false, "0"},
	    {CLASS_PER_REQUEST, STATE_LISTENING, false, true, "1"},
	    {CLASS_PER_REQUEST, STATE_IDLE, false, false, "1"},
	    {CLASS_PER_REQUEST, STATE_IDLE, false, true, "0"},
	    {CLASS_PER_REQUEST, STATE_WAITING, false, true, "0"},
	    {CLASS_PER_REQUEST, STATE_STOPPING, false, true, "0"},
	    {CLASS_PER_REQUEST, STATE_STOPPED, false, false, "0"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct task *t = make_task("t", cases[i].class);
		struct run run = {.pid = 42, .started = NOW - 1};
		char series[128], v[64], *text;

		t->policy.state = cases[i].state;
		t->policy.has_listener = cases[i].has_listener;
		if (cases[i].with_run)
			t->runs = &run;
		text = whole(&t, 1);
		snprintf(series, sizeof(series),
		         "tend_task_ready{task=\"t\",class=\"%s\"} ",
		         manifest_class_name(cases[i].class));
		assert_non_null(value_of(text, series, v, sizeof(v)));
		if (strcmp(v, cases[i].want) != 0)
			fail_msg("case %zu (%s %s): ready %s, want %s", i,
			         manifest_class_name(cases[i].class),
			         policy_state_name(cases[i].state), v,
			         cases[i].want);
		free(text);
		t->runs = NULL;
		task_free(t);
	}
}

/* tend_task_health_failures_total: the task's count, 0 without a check. */
static void
test_health_failures(void **state)
{
	struct task *t[2] = {
	    make_task("sick", CLASS_DURABLE),
	    make_task("plain", CLASS_DURABLE),
	};
	struct run run = {.pid = 42, .started = NOW - 1};
	char v[64], *text;

	(void)state;
	t[0]->policy.state = STATE_RUNNING;
	t[0]->runs = &run;
	t[0]->health = HEALTH_FAILING;
	t[0]->health_failures = 12345;
	text = whole(t, 2);
	assert_string_equal(
	    value_of(text,
	             "tend_task_health_failures_total{task=\"sick\","
	             "class=\"durable\"} ",
	             v, 64),
	    "12345");
	assert_string_equal(
	    value_of(text,
	             "tend_task_health_failures_total{task=\"plain\","
	             "class=\"durable\"} ",
	             v, 64),
	    "0");
	/* Failing health does not make a running task not ready. */
	assert_string_equal(
	    value_of(text, "tend_task_ready{task=\"sick\",class=\"durable\"} ",
	             v, 64),
	    "1");
	free(text);
	for (size_t i = 0; i < 2; i++) {
		t[i]->runs = NULL;
		task_free(t[i]);
	}
}

/* 1000 tasks: the same text whether written whole or a byte at a time. */
static void
test_incremental_equals_whole(void **state)
{
	static const size_t lows[] = {1, 2, 100, 4096, 65536};
	struct task **tasks = make_tasks(1000);
	char *one = whole(tasks, 1000);
	size_t calls;

	(void)state;
	for (size_t i = 0; i < sizeof(lows) / sizeof(lows[0]); i++) {
		char *parts = in_parts(tasks, 1000, lows[i], &calls);

		assert_string_equal(parts, one);
		if (lows[i] == 1) /* a call per sample of 11 families */
			assert_true(calls > 10 * 1000);
		free(parts);
	}
	free(one);
	free_tasks(tasks, 1000);
}

/* Fewer tasks between two parts (a reload): the text still ends well. */
static void
test_tasks_removed_between_parts(void **state)
{
	struct task **tasks = make_tasks(10);
	struct buf b = {0};
	struct metrics_cursor cur = {0};
	struct declared fam[32];
	size_t n = 10;

	(void)state;
	while (!metrics_fill(&b, &cur, tasks, n, NOW, b.len + 1))
		if (cur.family > 4)
			n = 2;
	buf_add(&b, "", 0);
	assert_int_equal(check_format(b.data, fam, 32), 15);
	buf_free(&b);
	free_tasks(tasks, 10);
}

/*
 * The first task removed after a family's first sample, the cursor taken
 * back to it as verbs_task_gone does: the family's header is not written
 * twice.
 */
static void
test_cursor_taken_back_to_the_first_task(void **state)
{
	struct task **tasks = make_tasks(10);
	struct task *first = tasks[0];
	struct buf b = {0};
	struct metrics_cursor cur = {0};
	struct declared fam[32];
	size_t n = 10;
	bool moved = false;

	(void)state;
	while (!metrics_fill(&b, &cur, tasks, n, NOW, b.len + 1)) {
		if (!moved && cur.family == 5 && cur.task == 1) {
			memmove(&tasks[0], &tasks[1], 9 * sizeof(*tasks));
			n = 9;
			cur.task--;
			moved = true;
		}
	}
	assert_true(moved);
	buf_add(&b, "", 0);
	assert_int_equal(check_format(b.data, fam, 32), 15);
	buf_free(&b);
	tasks[9] = first;
	free_tasks(tasks, 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_families_once_in_order),
	    cmocka_unit_test(test_no_tasks),
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_labels),
	    cmocka_unit_test(test_durable_figures),
	    cmocka_unit_test(test_exec_failed_run_is_not_up),
	    cmocka_unit_test(test_log_only_and_per_request),
	    cmocka_unit_test(test_ready_each_class_and_state),
	    cmocka_unit_test(test_health_failures),
	    cmocka_unit_test(test_incremental_equals_whole),
	    cmocka_unit_test(test_tasks_removed_between_parts),
	    cmocka_unit_test(test_cursor_taken_back_to_the_first_task),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
