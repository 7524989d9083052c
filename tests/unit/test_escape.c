/*
 * test_escape.c: task output made safe for a terminal or a syslog file
 * (escape.c): control bytes but TAB, and DEL, as \xHH, NUL as \0; the
 * rest, UTF-8 and backslashes included, as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

/* Escape len bytes of in; check the text and the length returned. */
static void
check(const char *in, size_t len, const char *want)
{
	char *out = malloc(ESCAPE_SIZE(len));
	size_t n;

	assert_non_null(out);
	n = escape_bytes(out, in, len);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
	free(out);
}

static void
test_plain_text_unchanged(void **state)
{
	(void)state;
	check("GET / 200", 9, "GET / 200");
	check("", 0, "");
}

static void
test_tab_and_space_kept(void **state)
{
	(void)state;
	check("a\tb c", 5, "a\tb c");
}

static void
test_escape_and_carriage_return(void **state)
{
	(void)state;
	check("\x1b[31mred\rover", 13, "\\x1b[31mred\\x0dover");
}

static void
test_nul_does_not_cut(void **state)
{
	(void)state;
	check("before\0after", 12, "before\\0after");
	check("\0", 1, "\\0");
}

static void
test_every_control_byte(void **state)
{
	char in[33], want[33 * 4 + 1], *w = want;

	(void)state;
	for (int c = 0; c < 32; c++) {
		in[c] = (char)c;
		if (c == '\t')
			*w++ = '\t';
		else if (c == 0)
			w += sprintf(w, "\\0");
		else
			w += sprintf(w, "\\x%02x", c);
	}
	in[32] = 0x7f;
	strcpy(w, "\\x7f");
	check(in, sizeof(in), want);
}

static void
test_utf8_and_high_bytes_pass(void **state)
{
	(void)state;
	check("caf\xc3\xa9 \xe2\x82\xac \xff", 11,
	      "caf\xc3\xa9 \xe2\x82\xac \xff");
}

static void
test_backslash_kept(void **state)
{
	(void)state;
	check("{\"a\": \"x\\ny\"} C:\\x1b", 20, "{\"a\": \"x\\ny\"} C:\\x1b");
}

/* The worst case fills ESCAPE_SIZE exactly (ASan checks the bound). */
static void
test_worst_case_fits(void **state)
{
	char in[LINEBUF_MAX];
	char *out = malloc(ESCAPE_SIZE(sizeof(in)));

	(void)state;
	assert_non_null(out);
	memset(in, 0x1b, sizeof(in));
	assert_int_equal(escape_bytes(out, in, sizeof(in)), 4 * sizeof(in));
	assert_memory_equal(out + 4 * (sizeof(in) - 1), "\\x1b", 5);
	free(out);
}

int
main(void)
{
#define T(f) cmocka_unit_test(f)
	const struct CMUnitTest tests[] = {
	    T(test_plain_text_unchanged),
	    T(test_tab_and_space_kept),
	    T(test_escape_and_carriage_return),
	    T(test_nul_does_not_cut),
	    T(test_every_control_byte),
	    T(test_utf8_and_high_bytes_pass),
	    T(test_backslash_kept),
	    T(test_worst_case_fits),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
