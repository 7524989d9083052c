/*
 * test_cmdline.c: splitting a command into words (cmdline.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

/* cmd splits into exactly the words of want (NULL-terminated). */
static void
check_split(const char *cmd, const char *const *want)
{
	char **argv = NULL;
	int argc = -1, n = 0;
	const char *why = cmdline_split(cmd, &argv, &argc);

	if (why != NULL)
		fail_msg("cmdline_split(\"%s\"): %s", cmd, why);
	while (want[n] != NULL)
		n++;
	assert_non_null(argv);
	if (argc != n)
		fail_msg("cmdline_split(\"%s\"): %d words, want %d", cmd, argc,
		         n);
	for (int i = 0; i < n; i++)
		if (argv[i] == NULL || strcmp(argv[i], want[i]) != 0)
			fail_msg("cmdline_split(\"%s\"): argv[%d] is \"%s\", "
			         "want \"%s\"",
			         cmd, i, argv[i] ? argv[i] : "(null)", want[i]);
	assert_null(argv[argc]);
	free(argv); /* one allocation: LeakSanitizer checks this frees all */
}

#define SPLIT(cmd, ...) \
	check_split(cmd, (const char *const[]){__VA_ARGS__, NULL})

/* cmd is rejected for the reason want, and argv/argc are left alone. */
static void
check_reject(const char *cmd, const char *want)
{
	char *sentinel[] = {NULL};
	char **argv = sentinel;
	int argc = -7;
	const char *why = cmdline_split(cmd, &argv, &argc);

	if (why == NULL)
		fail_msg("cmdline_split(\"%s\") accepted, %d words", cmd, argc);
	assert_string_equal(why, want);
	assert_ptr_equal(argv, sentinel);
	assert_int_equal(argc, -7);
}

static void
test_plain_words(void **state)
{
	(void)state;
	SPLIT("/bin/true", "/bin/true");
	SPLIT("/bin/echo hello world", "/bin/echo", "hello", "world");
	SPLIT("a b c d e f g h i j", "a", "b", "c", "d", "e", "f", "g", "h",
	      "i", "j");
	SPLIT("/usr/bin/env -i FOO=bar prog --flag=x,y", "/usr/bin/env", "-i",
	      "FOO=bar", "prog", "--flag=x,y");
}

static void
test_runs_of_blanks(void **state)
{
	(void)state;
	SPLIT("  /bin/echo   a  \t b\t\tc   ", "/bin/echo", "a", "b", "c");
	SPLIT("\t/bin/true\t", "/bin/true");
	SPLIT("a\nb", "a", "b");
	SPLIT("x y", "x", "y");
}

static void
test_single_quotes(void **state)
{
	(void)state;
	SPLIT("echo 'hello world'", "echo", "hello world");
	SPLIT("echo 'a \"b\" c'", "echo", "a \"b\" c");
	/* a backslash is literal inside single quotes, even before ' */
	SPLIT("echo 'a\\b' 'c\\'", "echo", "a\\b", "c\\");
	SPLIT("echo '$HOME `x` \\$'", "echo", "$HOME `x` \\$");
	SPLIT("echo '  spaced  '", "echo", "  spaced  ");
	SPLIT("echo 'tab\there'", "echo", "tab\there");
}

static void
test_double_quotes(void **state)
{
	(void)state;
	SPLIT("echo \"hello world\"", "echo", "hello world");
	SPLIT("echo \"it's\"", "echo", "it's");
	/* \\ \" \$ \` lose their backslash */
	SPLIT("echo \"a\\\\b\"", "echo", "a\\b");
	SPLIT("echo \"say \\\"hi\\\"\"", "echo", "say \"hi\"");
	SPLIT("echo \"\\$HOME\"", "echo", "$HOME");
	SPLIT("echo \"\\`cmd\\`\"", "echo", "`cmd`");
	SPLIT("echo \"\\\\\\\"\\$\\`\"", "echo", "\\\"$`");
	/* before any other character the backslash is kept */
	SPLIT("echo \"a\\nb\"", "echo", "a\\nb");
	SPLIT("echo \"\\a\\'\\ \\x\"", "echo", "\\a\\'\\ \\x");
	SPLIT("echo \"C:\\dir\\file\"", "echo", "C:\\dir\\file");
	/* a backslash escaping a backslash does not escape what follows */
	SPLIT("echo \"a\\\\\" b", "echo", "a\\", "b");
}

static void
test_backslash_outside_quotes(void **state)
{
	(void)state;
	SPLIT("echo a\\ b", "echo", "a b");
	SPLIT("echo \\'x\\'", "echo", "'x'");
	SPLIT("echo \\\"x\\\"", "echo", "\"x\"");
	SPLIT("echo \\\\", "echo", "\\");
	SPLIT("echo \\n\\t", "echo", "nt");
	SPLIT("echo \\$HOME", "echo", "$HOME");
	SPLIT("echo a\\\tb", "echo", "a\tb");
	SPLIT("\\/bin/true", "/bin/true");
}

static void
test_empty_words(void **state)
{
	(void)state;
	SPLIT("prog ''", "prog", "");
	SPLIT("prog \"\"", "prog", "");
	SPLIT("prog '' \"\" x", "prog", "", "", "x");
	SPLIT("prog '' ''", "prog", "", "");
	SPLIT("prog ''\"\"", "prog", "");
}

static void
test_adjacent_parts_join(void **state)
{
	(void)state;
	SPLIT("echo a'b'\"c\"d", "echo", "abcd");
	SPLIT("echo 'a b'\"c d\"", "echo", "a bc d");
	SPLIT("echo --opt='x y' z", "echo", "--opt=x y", "z");
	SPLIT("echo pre''post", "echo", "prepost");
	SPLIT("echo a\\ 'b c'\\ d", "echo", "a b c d");
	SPLIT("'/bin/my prog' arg", "/bin/my prog", "arg");
}

static void
test_unterminated_quotes(void **state)
{
	(void)state;
	check_reject("echo 'abc", "unterminated single quote");
	check_reject("echo '", "unterminated single quote");
	check_reject("echo 'a' 'b", "unterminated single quote");
	check_reject("'", "unterminated single quote");
	check_reject("echo \"abc", "unterminated double quote");
	check_reject("echo \"", "unterminated double quote");
	check_reject("echo \"abc\\\"", "unterminated double quote");
	check_reject("echo \"a\" \"b c", "unterminated double quote");
	check_reject("echo \"it's", "unterminated double quote");
	check_reject("echo 'say \"hi", "unterminated single quote");
}

static void
test_trailing_backslash(void **state)
{
	(void)state;
	check_reject("echo \\", "ends with a backslash");
	check_reject("echo abc\\", "ends with a backslash");
	check_reject("\\", "ends with a backslash");
	/* an escaped backslash at the end is fine */
	SPLIT("echo abc\\\\", "echo", "abc\\");
}

static void
test_empty_command(void **state)
{
	(void)state;
	check_reject("", "empty command");
	check_reject(" ", "empty command");
	check_reject(" \t \n ", "empty command");
}

static void
test_empty_program_name(void **state)
{
	(void)state;
	check_reject("''", "empty program name");
	check_reject("\"\"", "empty program name");
	check_reject("'' arg", "empty program name");
	check_reject("  \"\" a b", "empty program name");
}

static void
test_no_expansion(void **state)
{
	(void)state;
	SPLIT("echo $HOME ~ ~/x * ?.c [ab] {a,b}", "echo", "$HOME", "~", "~/x",
	      "*", "?.c", "[ab]", "{a,b}");
	SPLIT("echo a;b | c && d > e < f & g", "echo", "a;b", "|", "c", "&&",
	      "d", ">", "e", "<", "f", "&", "g");
	SPLIT("echo $(id) `id` ${X} #comment", "echo", "$(id)", "`id`", "${X}",
	      "#comment");
	SPLIT("echo \"$HOME\" \"~\" \"*\"", "echo", "$HOME", "~", "*");
	SPLIT("FOO=bar prog", "FOO=bar", "prog");
}

static void
test_many_short_words(void **state)
{
	char cmd[4096];
	size_t len = 0;
	char **argv = NULL;
	int argc = 0;

	(void)state;
	/* the densest input: one-byte words and '' words, single blanks */
	len += (size_t)snprintf(cmd, sizeof(cmd), "p");
	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " %s",
		                        i % 2 ? "''" : "x");
	assert_null(cmdline_split(cmd, &argv, &argc));
	assert_int_equal(argc, 1001);
	assert_string_equal(argv[0], "p");
	for (int i = 0; i < 1000; i++)
		assert_string_equal(argv[i + 1], i % 2 ? "" : "x");
	assert_null(argv[argc]);
	free(argv);

	SPLIT("a b", "a", "b");
	SPLIT("a b c", "a", "b", "c");
	SPLIT("a '' b", "a", "", "b");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_words),
	    cmocka_unit_test(test_runs_of_blanks),
	    cmocka_unit_test(test_single_quotes),
	    cmocka_unit_test(test_double_quotes),
	    cmocka_unit_test(test_backslash_outside_quotes),
	    cmocka_unit_test(test_empty_words),
	    cmocka_unit_test(test_adjacent_parts_join),
	    cmocka_unit_test(test_unterminated_quotes),
	    cmocka_unit_test(test_trailing_backslash),
	    cmocka_unit_test(test_empty_command),
	    cmocka_unit_test(test_empty_program_name),
	    cmocka_unit_test(test_no_expansion),
	    cmocka_unit_test(test_many_short_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
