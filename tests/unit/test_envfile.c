/*
 * test_envfile.c: the env files of env_file (envfile.c): the parser, and
 * the reading of real files in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tend.h"

/* text parses into exactly the entries of want (NULL-terminated). */
static void
assert_parses(const char *text, const char *const *want)
{
	struct envlist l = {0};
	char *copy = xstrdup(text);
	int line = -1;
	const char *why = envfile_parse(copy, &l, &line);
	size_t n = 0;

	if (why != NULL)
		fail_msg("line %d: %s", line, why);
	for (; want[n]; n++) {
		if (n >= l.n)
			fail_msg("entry %zu missing: want '%s'", n, want[n]);
		assert_string_equal(l.v[n], want[n]);
	}
	assert_int_equal(l.n, n);
	envlist_free(&l);
	free(copy);
}

/* text fails at line, for the reason want. */
static void
assert_fails(const char *text, int want_line, const char *want)
{
	struct envlist l = {0};
	char *copy = xstrdup(text);
	int line = -1;
	const char *why = envfile_parse(copy, &l, &line);

	if (why == NULL)
		fail_msg("'%s' parsed", text);
	assert_string_equal(why, want);
	assert_int_equal(line, want_line);
	envlist_free(&l);
	free(copy);
}

static void
test_plain(void **state)
{
	(void)state;
	assert_parses("", (const char *[]){NULL});
	assert_parses("A=1\nB=2", (const char *[]){"A=1", "B=2", NULL});
	assert_parses("A=1\r\nB=2\r\n", (const char *[]){"A=1", "B=2", NULL});
	assert_parses("EMPTY=\n", (const char *[]){"EMPTY=", NULL});
	assert_parses("  A  =  spaced  value  \n",
	              (const char *[]){"A=spaced  value", NULL});
	assert_parses("_x9=a=b\n", (const char *[]){"_x9=a=b", NULL});
	/* Not a comment after a value, as systemd reads it. */
	assert_parses("A=1 # 2 ; 3\n", (const char *[]){"A=1 # 2 ; 3", NULL});
	/* A later assignment is a later entry: the spawn keeps the last. */
	assert_parses("A=1\nA=2\n", (const char *[]){"A=1", "A=2", NULL});
}

static void
test_comments_and_blank_lines(void **state)
{
	(void)state;
	assert_parses("# c\n; c\n\n   \n\t# indented\nA=1\n#B=2\n",
	              (const char *[]){"A=1", NULL});
}

static void
test_export(void **state)
{
	(void)state;
	assert_parses("export A=1\nexport\tB=2\n",
	              (const char *[]){"A=1", "B=2", NULL});
	/* A variable named export, or starting so. */
	assert_parses("export=1\nexported=2\n",
	              (const char *[]){"export=1", "exported=2", NULL});
}

static void
test_quotes(void **state)
{
	(void)state;
	assert_parses("A='$x \\n \"q\" '\n",
	              (const char *[]){"A=$x \\n \"q\" ", NULL});
	assert_parses("A=\"\\\" \\\\ \\$ \\` \\n '\"\n",
	              (const char *[]){"A=\" \\ $ ` \\n '", NULL});
	assert_parses("A=\"a ; b\"\n", (const char *[]){"A=a ; b", NULL});
	assert_parses("A=\"\"\nB=''\n", (const char *[]){"A=", "B=", NULL});
	/*
	 * As systemd reads them: a quote opens only where the value starts
	 * or after a quoted part (blanks between skipped); in a bare run it
	 * is a byte like any other.
	 */
	assert_parses("A=x\"y z\"'w'v\n",
	              (const char *[]){"A=x\"y z\"'w'v", NULL});
	assert_parses(
	    "G=it's\nB=a\"b\"c\nC=\"x\" y\nD='a' \"b\"c\n",
	    (const char *[]){"G=it's", "B=a\"b\"c", "C=xy", "D=abc", NULL});
	/* Quoted blanks stay, bare ones at the end go. */
	assert_parses("A=\" a \"  \n", (const char *[]){"A= a ", NULL});
}

static void
test_multi_line(void **state)
{
	(void)state;
	assert_parses("A=\"one\ntwo\"\nB='x\ny'\nC=1\n",
	              (const char *[]){"A=one\ntwo", "B=x\ny", "C=1", NULL});
	assert_parses("A=one\\\ntwo\nB=\"x\\\ny\"\n",
	              (const char *[]){"A=onetwo", "B=xy", NULL});
	/* A bare backslash takes the next byte as it is. */
	assert_parses("A=a\\ b\\\\c\\#\n", (const char *[]){"A=a b\\c#", NULL});
}

static void
test_errors(void **state)
{
	(void)state;
	assert_fails("A=1\n\nnot an assignment\n", 3, "not KEY=VALUE");
	assert_fails("A=1\nJUSTKEY\n", 2, "not KEY=VALUE");
	assert_fails("=1\n", 1, "not KEY=VALUE");
	assert_fails("1A=1\n", 1, "variable name starts with a digit");
	assert_fails("A-B=1\n", 1,
	             "variable name is not [A-Za-z_][A-Za-z0-9_]*");
	assert_fails("A.B=1\n", 1,
	             "variable name is not [A-Za-z_][A-Za-z0-9_]*");
}

/* A quote left open ends at the end of the file, as systemd takes it. */
static void
test_open_quote_ends_with_the_file(void **state)
{
	(void)state;
	assert_parses("A=1\nB=\"open\nmore\n",
	              (const char *[]){"A=1", "B=open\nmore\n", NULL});
	assert_parses("A='open\n", (const char *[]){"A=open\n", NULL});
}

/* A temporary directory, removed with what it holds after each test. */
static char dir[64];

static int
make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_envfile-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
remove_dir(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);

	(void)state;
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static char *
write_file(const char *name, const char *data, size_t len)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

/* envfile_load(spec): NULL and the entries, or the failure's words. */
static char *
load(const char *spec, struct envlist *l)
{
	char *text = NULL, *why = envfile_load(spec, l, &text);

	free(text); /* the entries point into it: only their count is kept */
	return why;
}

static void
test_load(void **state)
{
	struct envlist l = {0};
	char *path = write_file("a.env", "A=1\nB='2'\n", 10);
	char *text = NULL, *why;

	(void)state;
	why = envfile_load(path, &l, &text);
	assert_null(why);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0], "A=1");
	assert_string_equal(l.v[1], "B=2");
	assert_null(l.v[2]);
	free(text);
	envlist_free(&l);
	free(path);
}

static void
test_load_missing(void **state)
{
	struct envlist l = {0};
	char *path = xasprintf("%s/missing.env", dir);
	char *optional = xasprintf("-%s", path);
	char *why, *want;

	(void)state;
	why = load(path, &l);
	want = xasprintf("cannot read env file %s: No such file or directory",
	                 path);
	assert_string_equal(why, want);
	free(why);
	free(want);
	/* "-": a missing file is no error, and adds nothing. */
	assert_null(load(optional, &l));
	assert_int_equal(l.n, 0);
	free(optional);
	free(path);
}

static void
test_load_bad(void **state)
{
	struct envlist l = {0};
	static char big[ENVFILE_MAX + 1];
	char *path, *why, *want;

	(void)state;
	/* A bad line: the file and the line, whether or not optional. */
	path = write_file("bad.env", "A=1\nB\n", 6);
	why = load(path, &l);
	want = xasprintf("bad env file %s:2: not KEY=VALUE", path);
	assert_string_equal(why, want);
	free(why);
	free(want);
	free(path);
	envlist_free(&l);

	memset(big, '#', sizeof(big));
	path = write_file("big.env", big, sizeof(big));
	why = load(path, &l);
	want = xasprintf("cannot read env file %s: larger than 1 MiB", path);
	assert_string_equal(why, want);
	free(why);
	free(want);
	free(path);

	path = write_file("nul.env", "A=1\0B=2\n", 8);
	why = load(path, &l);
	want =
	    xasprintf("cannot read env file %s: not a regular text file", path);
	assert_string_equal(why, want);
	free(why);
	free(want);
	free(path);

	/* A directory, or a FIFO (whose open must not wait). */
	why = load(dir, &l);
	want =
	    xasprintf("cannot read env file %s: not a regular text file", dir);
	assert_string_equal(why, want);
	free(why);
	free(want);
	path = xasprintf("%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	why = load(path, &l);
	want =
	    xasprintf("cannot read env file %s: not a regular text file", path);
	assert_string_equal(why, want);
	free(why);
	free(want);
	free(path);
}

/* Exactly ENVFILE_MAX bytes is allowed. */
static void
test_load_at_the_bound(void **state)
{
	struct envlist l = {0};
	static char big[ENVFILE_MAX];
	char *path;

	(void)state;
	memset(big, '#', sizeof(big));
	memcpy(big + sizeof(big) - 6, "\nA=1\n", 5);
	big[sizeof(big) - 1] = '\n';
	path = write_file("max.env", big, sizeof(big));
	assert_null(load(path, &l));
	assert_int_equal(l.n, 1);
	free(path);
	envlist_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_comments_and_blank_lines),
	    cmocka_unit_test(test_export),
	    cmocka_unit_test(test_quotes),
	    cmocka_unit_test(test_multi_line),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_open_quote_ends_with_the_file),
	    cmocka_unit_test_setup_teardown(test_load, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_load_missing, make_dir,
	                                    remove_dir),
	    cmocka_unit_test_setup_teardown(test_load_bad, make_dir,
	                                    remove_dir),
	    cmocka_unit_test_setup_teardown(test_load_at_the_bound, make_dir,
	                                    remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
