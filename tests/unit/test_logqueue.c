/*
 * test_logqueue.c: the lines waiting for a log sink (logqueue.c): bounded
 * in lines and in bytes, new lines dropped and counted when full, notes
 * of dropped lines counted again when they are lost themselves; the
 * high- and low-water marks of backpressure, in lines and in bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

static struct logqueue *
new_queue(void)
{
	struct logqueue *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	return q;
}

static void
free_queue(struct logqueue *q)
{
	logqueue_clear(q);
	free(q);
}

static bool
push(struct logqueue *q, const char *text)
{
	return logqueue_push(q, strdup(text), strlen(text), 0);
}

static void
test_fifo_order(void **state)
{
	struct logqueue *q = new_queue();

	(void)state;
	assert_true(push(q, "one"));
	assert_true(push(q, "two"));
	assert_int_equal(q->count, 2);
	assert_int_equal(q->bytes, 6);
	assert_string_equal(logqueue_peek(q, 0)->data, "one");
	assert_string_equal(logqueue_peek(q, 1)->data, "two");
	logqueue_pop(q);
	assert_string_equal(logqueue_peek(q, 0)->data, "two");
	assert_int_equal(q->bytes, 3);
	logqueue_pop(q);
	assert_int_equal(q->count, 0);
	assert_int_equal(q->bytes, 0);
	assert_int_equal(q->dropped_total, 0);
	free_queue(q);
}

static void
test_full_in_lines_drops_new(void **state)
{
	struct logqueue *q = new_queue();
	char text[16];

	(void)state;
	for (int i = 0; i < LOGQUEUE_LINES; i++) {
		snprintf(text, sizeof(text), "%d", i);
		assert_true(push(q, text));
	}
	assert_false(push(q, "late"));
	assert_false(push(q, "later"));
	assert_int_equal(q->count, LOGQUEUE_LINES);
	assert_int_equal(q->dropped, 2);
	assert_int_equal(q->dropped_total, 2);
	/* The oldest are kept: what was queued is sent as it was. */
	assert_string_equal(logqueue_peek(q, 0)->data, "0");
	logqueue_pop(q);
	assert_true(push(q, "room"));
	assert_string_equal(logqueue_peek(q, LOGQUEUE_LINES - 1)->data, "room");
	free_queue(q);
}

static void
test_full_in_bytes_drops_new(void **state)
{
	struct logqueue *q = new_queue();
	size_t half = LOGQUEUE_BYTES / 2;

	(void)state;
	assert_true(logqueue_push(q, calloc(1, half), half, 0));
	assert_true(logqueue_push(q, calloc(1, half - 1), half - 1, 0));
	assert_true(logqueue_fits(q, 1));
	assert_false(logqueue_fits(q, 2));
	assert_false(push(q, "xy"));
	assert_true(push(q, "x"));
	assert_int_equal(q->bytes, LOGQUEUE_BYTES);
	assert_int_equal(q->dropped_total, 1);
	free_queue(q);
}

static void
test_note_resets_dropped_not_total(void **state)
{
	struct logqueue *q = new_queue();

	(void)state;
	q->dropped = q->dropped_total = 5;
	assert_true(logqueue_push(q, strdup("5 lost"), 6, 5));
	assert_int_equal(q->dropped, 0);
	assert_int_equal(q->dropped_total, 5);
	assert_int_equal(logqueue_peek(q, 0)->note, 5);
	free_queue(q);
}

static void
test_drop_head_counts_a_line(void **state)
{
	struct logqueue *q = new_queue();

	(void)state;
	push(q, "a");
	push(q, "b");
	logqueue_drop_head(q);
	assert_int_equal(q->count, 1);
	assert_int_equal(q->dropped, 1);
	assert_int_equal(q->dropped_total, 1);
	assert_string_equal(logqueue_peek(q, 0)->data, "b");
	free_queue(q);
}

/* A lost note's lines are told of by the next note, and counted once. */
static void
test_drop_head_of_a_note_counts_its_lines_again(void **state)
{
	struct logqueue *q = new_queue();

	(void)state;
	q->dropped = q->dropped_total = 3;
	logqueue_push(q, strdup("3 lost"), 6, 3);
	q->dropped = 1;
	q->dropped_total = 4;
	logqueue_drop_head(q);
	assert_int_equal(q->dropped, 4);
	assert_int_equal(q->dropped_total, 4);
	free_queue(q);
}

static void
test_ring_wraps(void **state)
{
	struct logqueue *q = new_queue();
	char text[16];

	(void)state;
	for (int i = 0; i < 3 * LOGQUEUE_LINES; i++) {
		snprintf(text, sizeof(text), "%d", i);
		assert_true(push(q, text));
		if (q->count == 10) {
			snprintf(text, sizeof(text), "%d", i - 9);
			assert_string_equal(logqueue_peek(q, 0)->data, text);
			logqueue_pop(q);
		}
	}
	assert_int_equal(q->count, 9);
	assert_int_equal(q->dropped_total, 0);
	free_queue(q);
}

/* Tasks wait from the high mark on, below the bound; go on at the low. */
static void
test_watermarks_in_lines(void **state)
{
	struct logqueue *q = new_queue();

	(void)state;
	assert_false(logqueue_high(q));
	assert_true(logqueue_low(q));
	while (q->count < LOGQUEUE_HIGH_LINES - 1)
		assert_true(push(q, "x"));
	assert_false(logqueue_high(q));
	assert_true(push(q, "x"));
	assert_true(logqueue_high(q));
	assert_true(logqueue_fits(q, 1)); /* room kept past the high mark */
	/* Between the marks: neither. */
	while (q->count > LOGQUEUE_LOW_LINES + 1) {
		logqueue_pop(q);
		assert_false(logqueue_high(q));
		assert_false(logqueue_low(q));
	}
	logqueue_pop(q);
	assert_true(logqueue_low(q));
	assert_int_equal(q->dropped_total, 0);
	free_queue(q);
}

static void
test_watermarks_in_bytes(void **state)
{
	struct logqueue *q = new_queue();
	size_t big = 1000;

	(void)state;
	while (q->bytes + big < LOGQUEUE_HIGH_BYTES) {
		assert_true(logqueue_push(q, calloc(1, big), big, 0));
		assert_false(logqueue_high(q));
	}
	assert_true(logqueue_push(q, calloc(1, big), big, 0));
	assert_true(q->count < LOGQUEUE_HIGH_LINES);
	assert_true(logqueue_high(q));
	while (q->bytes > LOGQUEUE_LOW_BYTES) {
		assert_false(logqueue_low(q));
		logqueue_pop(q);
	}
	assert_true(q->count > 0 && q->count <= LOGQUEUE_LOW_LINES);
	assert_true(logqueue_low(q));
	free_queue(q);
}

int
main(void)
{
#define T(f) cmocka_unit_test(f)
	const struct CMUnitTest tests[] = {
	    T(test_fifo_order),
	    T(test_full_in_lines_drops_new),
	    T(test_full_in_bytes_drops_new),
	    T(test_note_resets_dropped_not_total),
	    T(test_drop_head_counts_a_line),
	    T(test_drop_head_of_a_note_counts_its_lines_again),
	    T(test_ring_wraps),
	    T(test_watermarks_in_lines),
	    T(test_watermarks_in_bytes),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
