/*
 * test_linebuf.c: child output split into lines, overlong ones into pieces
 * of LINEBUF_MAX (linebuf.c). Split, never dropped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

/* What the callback was given, in order; owned by the test. */
struct line {
	char *data;
	size_t len;
};

struct lines {
	struct line *v;
	size_t count;
	size_t cap;
};

struct fixture {
	struct linebuf lb;
	struct lines got;
};

static void
collect(void *ctx, const char *line, size_t len)
{
	struct lines *got = ctx;
	struct line *l;

	assert_non_null(line);
	if (got->count == got->cap) {
		got->cap = got->cap ? got->cap * 2 : 16;
		got->v = realloc(got->v, got->cap * sizeof(*got->v));
		assert_non_null(got->v);
	}
	l = &got->v[got->count++];
	l->len = len;
	l->data = malloc(len + 1);
	assert_non_null(l->data);
	memcpy(l->data, line, len);
	l->data[len] = '\0';
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < f->got.count; i++)
		free(f->got.v[i].data);
	free(f->got.v);
	linebuf_free(&f->lb);
	free(f);
	return 0;
}

static void
feed(struct fixture *f, const char *data, size_t n)
{
	linebuf_feed(&f->lb, data, n, collect, &f->got);
}

static void
feed_str(struct fixture *f, const char *s)
{
	feed(f, s, strlen(s));
}

static void
flush(struct fixture *f)
{
	linebuf_flush(&f->lb, collect, &f->got);
}

/* Line i was exactly the string want. */
static void
assert_line(const struct fixture *f, size_t i, const char *want)
{
	if (i >= f->got.count)
		fail_msg("line %zu missing: only %zu lines", i, f->got.count);
	if (f->got.v[i].len != strlen(want) ||
	    memcmp(f->got.v[i].data, want, f->got.v[i].len) != 0)
		fail_msg("line %zu is \"%s\" (%zu bytes), want \"%s\"", i,
		         f->got.v[i].data, f->got.v[i].len, want);
}

/* Nothing kept between lines: an idle task costs no buffer. */
static void
assert_nothing_kept(const struct fixture *f)
{
	assert_null(f->lb.partial);
	assert_int_equal(f->lb.len, 0);
}

/* n bytes of a recognisable pattern, not containing '\n'. */
static char *
pattern(size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)('a' + (i * 7 + i / 26) % 26);
	s[n] = '\0';
	return s;
}

/* Every emitted line joined, in order. */
static char *
concatenation(const struct fixture *f, size_t *len)
{
	size_t total = 0;
	char *s, *p;

	for (size_t i = 0; i < f->got.count; i++)
		total += f->got.v[i].len;
	s = p = malloc(total + 1);
	assert_non_null(s);
	for (size_t i = 0; i < f->got.count; i++) {
		memcpy(p, f->got.v[i].data, f->got.v[i].len);
		p += f->got.v[i].len;
	}
	*p = '\0';
	*len = total;
	return s;
}

static void
test_one_line(void **state)
{
	struct fixture *f = *state;

	feed_str(f, "hello world\n");
	assert_int_equal(f->got.count, 1);
	assert_line(f, 0, "hello world");
	assert_nothing_kept(f);
	flush(f);
	assert_int_equal(f->got.count, 1);
}

static void
test_several_lines_in_one_feed(void **state)
{
	struct fixture *f = *state;

	feed_str(f, "one\ntwo\nthree\n");
	assert_int_equal(f->got.count, 3);
	assert_line(f, 0, "one");
	assert_line(f, 1, "two");
	assert_line(f, 2, "three");
	assert_nothing_kept(f);
}

static void
test_unfinished_line_waits(void **state)
{
	struct fixture *f = *state;

	feed_str(f, "one\ntw");
	assert_int_equal(f->got.count, 1);
	assert_line(f, 0, "one");
	assert_non_null(f->lb.partial);
	assert_int_equal(f->lb.len, 2);
	feed_str(f, "o\nthr");
	assert_int_equal(f->got.count, 2);
	assert_line(f, 1, "two");
	feed_str(f, "ee\n");
	assert_int_equal(f->got.count, 3);
	assert_line(f, 2, "three");
	assert_nothing_kept(f);
}

static void
test_line_over_many_feeds(void **state)
{
	struct fixture *f = *state;

	feed_str(f, "a ");
	feed_str(f, "line ");
	feed_str(f, "in ");
	feed_str(f, "");
	feed_str(f, "pieces");
	assert_int_equal(f->got.count, 0);
	feed_str(f, "\n");
	assert_int_equal(f->got.count, 1);
	assert_line(f, 0, "a line in pieces");
	assert_nothing_kept(f);
}

static void
test_byte_by_byte(void **state)
{
	struct fixture *f = *state;
	const char *text = "first\n\nthird line\nlast";

	for (const char *p = text; *p; p++)
		feed(f, p, 1);
	assert_int_equal(f->got.count, 3);
	assert_line(f, 0, "first");
	assert_line(f, 1, "");
	assert_line(f, 2, "third line");
	assert_int_equal(f->lb.len, 4);
	flush(f);
	assert_int_equal(f->got.count, 4);
	assert_line(f, 3, "last");
	assert_nothing_kept(f);
}

static void
test_empty_lines(void **state)
{
	struct fixture *f = *state;

	feed_str(f, "\n");
	assert_int_equal(f->got.count, 1);
	assert_line(f, 0, "");
	feed_str(f, "\n\nx\n\n");
	assert_int_equal(f->got.count, 5);
	assert_line(f, 1, "");
	assert_line(f, 2, "");
	assert_line(f, 3, "x");
	assert_line(f, 4, "");
	assert_nothing_kept(f);
}

static void
test_nothing_fed(void **state)
{
	struct fixture *f = *state;

	feed(f, "", 0);
	flush(f);
	assert_int_equal(f->got.count, 0);
	assert_nothing_kept(f);
}

/* Bytes other than '\n' pass as they are, NUL and '\r' included. */
static void
test_binary_bytes_kept(void **state)
{
	struct fixture *f = *state;

	feed(f, "a\0b\r\n\0\n", 7);
	assert_int_equal(f->got.count, 2);
	assert_int_equal(f->got.v[0].len, 4);
	assert_memory_equal(f->got.v[0].data, "a\0b\r", 4);
	assert_int_equal(f->got.v[1].len, 1);
	assert_memory_equal(f->got.v[1].data, "\0", 1);
}

/* LINEBUF_MAX bytes and a newline are one line, not a piece and "". */
static void
test_exactly_max(void **state)
{
	struct fixture *f = *state;
	char *s = pattern(LINEBUF_MAX);
	char *with_nl = xasprintf("%s\nnext\n", s);

	feed_str(f, with_nl);
	assert_int_equal(f->got.count, 2);
	assert_line(f, 0, s);
	assert_line(f, 1, "next");
	assert_nothing_kept(f);
	flush(f);
	assert_int_equal(f->got.count, 2);
	free(with_nl);
	free(s);
}

/* The same, with the newline in a later feed. */
static void
test_exactly_max_then_newline(void **state)
{
	struct fixture *f = *state;
	char *s = pattern(LINEBUF_MAX);

	feed(f, s, LINEBUF_MAX);
	assert_int_equal(f->got.count, 0);
	feed_str(f, "\n");
	assert_int_equal(f->got.count, 1);
	assert_line(f, 0, s);
	assert_nothing_kept(f);

	/* And split in two before the newline. */
	feed(f, s, 1000);
	feed(f, s + 1000, LINEBUF_MAX - 1000);
	feed_str(f, "\n");
	assert_int_equal(f->got.count, 2);
	assert_line(f, 1, s);
	assert_nothing_kept(f);
	free(s);
}

/* LINEBUF_MAX + 1 bytes: a piece of LINEBUF_MAX, then the last byte. */
static void
test_max_plus_one(void **state)
{
	struct fixture *f = *state;
	char *s = pattern(LINEBUF_MAX + 1);
	char *with_nl = xasprintf("%s\n", s);

	feed_str(f, with_nl);
	assert_int_equal(f->got.count, 2);
	assert_int_equal(f->got.v[0].len, LINEBUF_MAX);
	assert_memory_equal(f->got.v[0].data, s, LINEBUF_MAX);
	assert_line(f, 1, s + LINEBUF_MAX);
	assert_nothing_kept(f);

	/* Byte by byte, the same pieces. */
	for (size_t i = 0; with_nl[i] != '\0'; i++)
		feed(f, &with_nl[i], 1);
	assert_int_equal(f->got.count, 4);
	assert_int_equal(f->got.v[2].len, LINEBUF_MAX);
	assert_memory_equal(f->got.v[2].data, s, LINEBUF_MAX);
	assert_line(f, 3, s + LINEBUF_MAX);
	assert_nothing_kept(f);
	free(with_nl);
	free(s);
}

/* Twice LINEBUF_MAX and a newline: two full pieces, no empty line. */
static void
test_twice_max(void **state)
{
	struct fixture *f = *state;
	char *s = pattern(2 * LINEBUF_MAX);
	char *with_nl = xasprintf("%s\nz\n", s);

	feed_str(f, with_nl);
	assert_int_equal(f->got.count, 3);
	assert_int_equal(f->got.v[0].len, LINEBUF_MAX);
	assert_memory_equal(f->got.v[0].data, s, LINEBUF_MAX);
	assert_line(f, 1, s + LINEBUF_MAX);
	assert_line(f, 2, "z");
	assert_nothing_kept(f);
	free(with_nl);
	free(s);
}

/* n bytes with no newline, fed chunk bytes at a time, then flushed. */
static void
check_long_line(struct fixture *f, size_t n, size_t chunk)
{
	char *s = pattern(n);
	char *joined;
	size_t len;

	for (size_t off = 0; off < n; off += chunk)
		feed(f, s + off, n - off < chunk ? n - off : chunk);
	assert_true(f->lb.len <= LINEBUF_MAX);
	assert_int_equal(f->got.count, (n - 1) / LINEBUF_MAX);
	flush(f);
	assert_nothing_kept(f);
	assert_int_equal(f->got.count, (n + LINEBUF_MAX - 1) / LINEBUF_MAX);
	for (size_t i = 0; i + 1 < f->got.count; i++)
		assert_int_equal(f->got.v[i].len, LINEBUF_MAX);
	assert_true(f->got.v[f->got.count - 1].len > 0);
	joined = concatenation(f, &len);
	assert_int_equal(len, n);
	assert_memory_equal(joined, s, n);
	free(joined);
	free(s);
}

/* 100 kB and no newline: whole, as consecutive pieces of LINEBUF_MAX. */
static void
test_long_line_in_one_feed(void **state)
{
	check_long_line(*state, 100000, 100000);
}

static void
test_long_line_in_odd_feeds(void **state)
{
	check_long_line(*state, 100000, 999);
}

static void
test_long_line_in_big_feeds(void **state)
{
	check_long_line(*state, 100000, 4096);
}

static void
test_long_line_byte_by_byte(void **state)
{
	check_long_line(*state, 100000, 1);
}

static void
test_long_line_of_whole_pieces(void **state)
{
	check_long_line(*state, 100 * LINEBUF_MAX, 3000);
}

/* A long line, then short ones: the pieces, then each line. */
static void
test_long_line_then_newline(void **state)
{
	struct fixture *f = *state;
	size_t n = 100000;
	char *s = pattern(n);
	char *joined;
	size_t len;

	feed(f, s, n);
	feed_str(f, "\nafter\n");
	assert_int_equal(f->got.count, (n + LINEBUF_MAX - 1) / LINEBUF_MAX + 1);
	assert_line(f, f->got.count - 1, "after");
	f->got.count--;
	free(f->got.v[f->got.count].data);
	joined = concatenation(f, &len);
	assert_int_equal(len, n);
	assert_memory_equal(joined, s, n);
	assert_nothing_kept(f);
	free(joined);
	free(s);
}

static void
test_flush_unfinished(void **state)
{
	struct fixture *f = *state;

	feed_str(f, "done\nno newline");
	assert_int_equal(f->got.count, 1);
	flush(f);
	assert_int_equal(f->got.count, 2);
	assert_line(f, 1, "no newline");
	assert_nothing_kept(f);
	/* Flushing again emits nothing more. */
	flush(f);
	assert_int_equal(f->got.count, 2);
}

static void
test_flush_empty(void **state)
{
	struct fixture *f = *state;

	flush(f);
	assert_int_equal(f->got.count, 0);
	feed_str(f, "line\n");
	flush(f);
	assert_int_equal(f->got.count, 1);
	assert_nothing_kept(f);
}

/* A partial line is freed by linebuf_free; the buffer is reusable. */
static void
test_free_partial(void **state)
{
	struct fixture *f = *state;

	feed_str(f, "partial");
	assert_non_null(f->lb.partial);
	linebuf_free(&f->lb);
	assert_nothing_kept(f);
	feed_str(f, "again\n");
	assert_int_equal(f->got.count, 1);
	assert_line(f, 0, "again");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_one_line),
	    T(test_several_lines_in_one_feed),
	    T(test_unfinished_line_waits),
	    T(test_line_over_many_feeds),
	    T(test_byte_by_byte),
	    T(test_empty_lines),
	    T(test_nothing_fed),
	    T(test_binary_bytes_kept),
	    T(test_exactly_max),
	    T(test_exactly_max_then_newline),
	    T(test_max_plus_one),
	    T(test_twice_max),
	    T(test_long_line_in_one_feed),
	    T(test_long_line_in_odd_feeds),
	    T(test_long_line_in_big_feeds),
	    T(test_long_line_byte_by_byte),
	    T(test_long_line_of_whole_pieces),
	    T(test_long_line_then_newline),
	    T(test_flush_unfinished),
	    T(test_flush_empty),
	    T(test_free_partial),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
