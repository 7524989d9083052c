/*
 * test_include.c: include = GLOB expanded into files (include.c), in a
 * directory of its own whose name holds glob characters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tend.h"

/* A fresh directory "/tmp/tend-include-[*]-XXXXXX": its name is a glob. */
static char *
make_dir(void)
{
	char tmpl[] = "/tmp/tend-include-[*]-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static char *
touch(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fclose(fp);
	return path;
}

static void
remove_all(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* The base names of inc's files, space-separated. */
static char *
names(const struct include_files *inc)
{
	struct buf b = {0};

	buf_addf(&b, "%s", "");
	for (size_t i = 0; i < inc->n; i++)
		buf_addf(&b, "%s%s", i ? " " : "",
		         strrchr(inc->files[i].path, '/') + 1);
	return b.data;
}

/*
 * Relative globs are taken under the manifest's directory, glob characters
 * in its name taken literally; each glob sorted, globs in order, each file
 * once, the manifest itself never.
 */
static void
test_order_and_once(void **state)
{
	char *dir = make_dir(), *manifest = touch(dir, "tend.ini"), *got;
	struct include_files inc;
	struct diag d = {0};
	FILE *fp = fopen(manifest, "r");

	(void)state;
	free(touch(dir, "b.ini"));
	free(touch(dir, "a.ini"));
	free(touch(dir, "c.conf"));
	assert_non_null(fp);
	include_init(&inc, fp);
	assert_int_equal(include_expand(&inc, "*.conf", manifest, 1, &d), 0);
	assert_int_equal(include_expand(&inc, "*.ini", manifest, 2, &d), 0);
	assert_int_equal(include_expand(&inc, "?.ini", manifest, 3, &d), 0);
	assert_int_equal(include_expand(&inc, "none/*", manifest, 4, &d), 0);
	assert_int_equal(d.count, 0);
	got = names(&inc);
	assert_string_equal(got, "c.conf a.ini b.ini");
	free(got);
	include_free(&inc);
	fclose(fp);
	free(manifest);
	remove_all(dir);
	free(dir);
}

/* Past INCLUDE_FILES_MAX files: one problem at the include line. */
static void
test_bounded(void **state)
{
	char *dir = make_dir(), *manifest = xasprintf("%s/tend.ini", dir);
	struct include_files inc;
	struct diag d = {0};

	(void)state;
	for (int i = 0; i <= INCLUDE_FILES_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "%04d.ini", i);
		free(touch(dir, name));
	}
	include_init(&inc, NULL);
	assert_int_equal(include_expand(&inc, "*.ini", manifest, 7, &d), -1);
	assert_int_equal(inc.n, INCLUDE_FILES_MAX);
	assert_int_equal(d.count, 1);
	assert_int_equal(d.items[0].line, 7);
	assert_non_null(strstr(d.items[0].text, "more than 1000"));
	diag_free(&d);
	include_free(&inc);
	free(manifest);
	remove_all(dir);
	free(dir);
}

/* An empty glob, a missing plain path, a directory: problems. */
static void
test_problems(void **state)
{
	char *dir = make_dir(), *manifest = xasprintf("%s/tend.ini", dir);
	struct include_files inc;
	struct diag d = {0};

	(void)state;
	include_init(&inc, NULL);
	assert_int_equal(include_expand(&inc, "", manifest, 1, &d), -1);
	assert_int_equal(include_expand(&inc, "x.ini", manifest, 2, &d), -1);
	free(touch(dir, "d.ini"));
	assert_int_equal(include_expand(&inc, "d.ini", manifest, 3, &d), 0);
	{
		char *sub = xasprintf("%s/sub.ini", dir);
		assert_int_equal(mkdir(sub, 0700), 0);
		free(sub);
	}
	assert_int_equal(include_expand(&inc, "*.ini", manifest, 4, &d), -1);
	assert_int_equal(inc.n, 1);
	assert_int_equal(d.count, 3);
	assert_non_null(
	    strstr(d.items[0].text, ":1: include = : needs a glob"));
	assert_non_null(
	    strstr(d.items[1].text, ":2: include = x.ini: No such file"));
	assert_non_null(strstr(d.items[2].text, "sub.ini is not a regular"));
	diag_free(&d);
	include_free(&inc);
	free(manifest);
	remove_all(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_and_once),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_problems),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
