/*
 * test_logring.c: the last lines of a task's output (logring.c): kept by
 * sequence number, bounded by LOGRING_LINES lines and LOGRING_BYTES of
 * memory however many lines are pushed, the oldest going first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

#define COST(len) LOGRING_LINE_COST(len)

/* Push "line N" for N in [from, to), by pid 100 + N, stdout when N even. */
static void
push_numbered(struct logring *r, int from, int to)
{
	char text[32];

	for (int i = from; i < to; i++) {
		int n = snprintf(text, sizeof(text), "line %d", i);
		logring_push(r, 100 + i, i % 2 ? STREAM_ERR : STREAM_OUT, text,
		             (size_t)n);
	}
}

/* Line seq is kept, and is "line N" as push_numbered wrote it. */
static void
assert_numbered(const struct logring *r, uint64_t seq, int n)
{
	const struct logring_line *l = logring_get(r, seq);
	char want[32];

	assert_non_null(l);
	snprintf(want, sizeof(want), "line %d", n);
	assert_int_equal(l->len, strlen(want));
	assert_memory_equal(l->data, want, l->len);
	assert_int_equal(l->pid, 100 + n);
	assert_int_equal(l->stream, n % 2 ? STREAM_ERR : STREAM_OUT);
}

/* The bytes counted are those of the lines kept, within the bound. */
static void
assert_accounted(const struct logring *r)
{
	size_t bytes = 0;

	for (uint64_t seq = r->first; seq < r->next; seq++)
		bytes += COST(logring_get(r, seq)->len);
	assert_int_equal(r->bytes, bytes);
	assert_true(r->bytes <= LOGRING_LINES_BYTES);
	assert_true(r->bytes + r->cap * sizeof(r->slots[0]) <= LOGRING_BYTES);
	assert_true(r->next - r->first <= LOGRING_LINES);
	assert_true(r->cap <= LOGRING_LINES);
}

static void
test_empty(void **state)
{
	struct logring r = {0};

	(void)state;
	assert_null(r.slots); /* nothing until the task prints */
	assert_null(logring_get(&r, 0));
	assert_int_equal(logring_back(&r, 0), 0);
	assert_int_equal(logring_back(&r, 50), 0);
	logring_free(&r);
}

/* Sequence numbers from 0, lines in order, content and origin exact. */
static void
test_sequence_numbers(void **state)
{
	struct logring r = {0};

	(void)state;
	push_numbered(&r, 0, 5);
	assert_int_equal(r.first, 0);
	assert_int_equal(r.next, 5);
	for (int i = 0; i < 5; i++)
		assert_numbered(&r, (uint64_t)i, i);
	assert_null(logring_get(&r, 5)); /* not yet */
	assert_accounted(&r);
	logring_free(&r);
	assert_null(r.slots);
	assert_int_equal(r.bytes, 0);
}

/* The slots double from 16 up, the lines staying where their seq says. */
static void
test_growth(void **state)
{
	struct logring r = {0};

	(void)state;
	push_numbered(&r, 0, 1);
	assert_int_equal(r.cap, 16);
	push_numbered(&r, 1, 17);
	assert_int_equal(r.cap, 32);
	push_numbered(&r, 17, 300);
	assert_int_equal(r.cap, 512);
	assert_int_equal(r.first, 0);
	for (int i = 0; i < 300; i++)
		assert_numbered(&r, (uint64_t)i, i);
	assert_accounted(&r);
	logring_free(&r);
}

/* Past LOGRING_LINES short lines, the oldest go; numbers go on. */
static void
test_eviction_by_lines(void **state)
{
	struct logring r = {0};
	int total = LOGRING_LINES + 500;

	(void)state;
	push_numbered(&r, 0, total);
	assert_int_equal(r.cap, LOGRING_LINES);
	assert_int_equal(r.next, (uint64_t)total);
	assert_int_equal(r.first, (uint64_t)(total - LOGRING_LINES));
	assert_null(logring_get(&r, r.first - 1)); /* not any more */
	for (int i = total - LOGRING_LINES; i < total; i++)
		assert_numbered(&r, (uint64_t)i, i);
	assert_accounted(&r);
	logring_free(&r);
}

/* Long lines: LOGRING_BYTES binds first; the newest are kept. */
static void
test_eviction_by_bytes(void **state)
{
	struct logring r = {0};
	size_t len = 1000, keep = LOGRING_LINES_BYTES / COST(len);
	char *line = malloc(len);

	(void)state;
	assert_true(keep < LOGRING_LINES);
	for (int i = 0; i < 500; i++) {
		memset(line, 'a' + i % 26, len);
		logring_push(&r, 1, STREAM_OUT, line, len);
		assert_accounted(&r);
	}
	assert_int_equal(r.next, 500);
	assert_int_equal(r.next - r.first, keep);
	for (uint64_t seq = r.first; seq < r.next; seq++) {
		const struct logring_line *l = logring_get(&r, seq);
		assert_int_equal(l->len, len);
		assert_int_equal(l->data[0], 'a' + (int)(seq % 26));
		assert_int_equal(l->data[len - 1], 'a' + (int)(seq % 26));
	}
	/* Short lines after long ones: the long ones go as the bound says. */
	push_numbered(&r, 0, LOGRING_LINES);
	assert_accounted(&r);
	assert_int_equal(r.next - r.first, LOGRING_LINES);
	assert_numbered(&r, r.next - 1, LOGRING_LINES - 1);
	free(line);
	logring_free(&r);
}

/* Memory stays bounded whatever is pushed: mixed sizes, many lines. */
static void
test_bounded_flood(void **state)
{
	struct logring r = {0};
	char line[LOGRING_LINE_MAX];

	(void)state;
	memset(line, 'x', sizeof(line));
	for (size_t i = 0; i < 20000; i++) {
		logring_push(&r, 7, STREAM_ERR, line,
		             (i * 7919) % sizeof(line));
		if (i % 997 == 0)
			assert_accounted(&r);
	}
	assert_int_equal(r.next, 20000);
	assert_accounted(&r);
	logring_free(&r);
}

/* logring_back: the n-th newest line's number, the oldest at most. */
static void
test_back(void **state)
{
	struct logring r = {0};

	(void)state;
	push_numbered(&r, 0, 10);
	assert_int_equal(logring_back(&r, 0), 10);
	assert_int_equal(logring_back(&r, 1), 9);
	assert_int_equal(logring_back(&r, 10), 0);
	assert_int_equal(logring_back(&r, 11), 0);
	assert_int_equal(logring_back(&r, UINT64_MAX), 0);
	push_numbered(&r, 10, LOGRING_LINES + 10);
	assert_int_equal(r.first, 10);
	assert_int_equal(logring_back(&r, 3), LOGRING_LINES + 7);
	assert_int_equal(logring_back(&r, LOGRING_LINES), 10);
	assert_int_equal(logring_back(&r, LOGRING_LINES + 1), 10);
	assert_numbered(&r, logring_back(&r, 1), LOGRING_LINES + 9);
	logring_free(&r);
}

/* A line of LOGRING_LINE_MAX bytes is kept whole; a longer one is cut. */
static void
test_line_max(void **state)
{
	struct logring r = {0};
	char line[LOGRING_LINE_MAX + 10];
	const struct logring_line *l;

	(void)state;
	for (size_t i = 0; i < sizeof(line); i++)
		line[i] = (char)('0' + i % 10);
	logring_push(&r, 1, STREAM_OUT, line, LOGRING_LINE_MAX);
	logring_push(&r, 1, STREAM_OUT, line, sizeof(line));
	logring_push(&r, 1, STREAM_OUT, "", 0);
	l = logring_get(&r, 0);
	assert_int_equal(l->len, LOGRING_LINE_MAX);
	assert_memory_equal(l->data, line, LOGRING_LINE_MAX);
	l = logring_get(&r, 1);
	assert_int_equal(l->len, LOGRING_LINE_MAX);
	assert_memory_equal(l->data, line, LOGRING_LINE_MAX);
	assert_int_equal(logring_get(&r, 2)->len, 0); /* an empty line is one */
	assert_accounted(&r);
	logring_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_sequence_numbers),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_eviction_by_lines),
	    cmocka_unit_test(test_eviction_by_bytes),
	    cmocka_unit_test(test_bounded_flood),
	    cmocka_unit_test(test_back),
	    cmocka_unit_test(test_line_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
