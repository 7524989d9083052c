/*
 * test_probespec.c: the values of ready = and health = (probespec.c):
 * each kind, what is refused and why, notify for ready only, and the
 * comparison a reload makes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <cmocka.h>

#include "tend.h"

static void
test_none(void **state)
{
	struct probe_spec p;

	(void)state;
	memset(&p, 0xa5, sizeof(p)); /* overwritten whole */
	assert_null(probespec_parse("none", true, &p));
	assert_int_equal(p.kind, PROBE_NONE);
	assert_null(p.text);
	assert_null(p.argv);
	assert_null(p.addr.text);
	probespec_free(&p);
	assert_null(probespec_parse("none", false, &p));
	assert_int_equal(p.kind, PROBE_NONE);
	probespec_free(&p);
}

static void
test_notify(void **state)
{
	struct probe_spec p = {0};

	(void)state;
	assert_null(probespec_parse("notify", true, &p));
	assert_int_equal(p.kind, PROBE_NOTIFY);
	assert_string_equal(p.text, "notify");
	probespec_free(&p);
	assert_int_equal(p.kind, PROBE_NONE);
	assert_null(p.text);
	assert_string_equal(probespec_parse("notify", false, &p),
	                    "notify is for ready only");
	assert_int_equal(p.kind, PROBE_NONE);
}

static void
test_tcp(void **state)
{
	struct probe_spec p = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&p.addr.addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&p.addr.addr;

	(void)state;
	assert_null(probespec_parse("tcp:127.0.0.1:5432", false, &p));
	assert_int_equal(p.kind, PROBE_TCP);
	assert_int_equal(p.addr.kind, ENDPOINT_TCP);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 5432);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	assert_string_equal(p.text, "tcp:127.0.0.1:5432");
	assert_string_equal(p.addr.text, "tcp:127.0.0.1:5432");
	assert_null(p.argv);
	probespec_free(&p);

	assert_null(probespec_parse("tcp:[::1]:80", true, &p));
	assert_int_equal(p.kind, PROBE_TCP);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 80);
	probespec_free(&p);
}

static void
test_unix(void **state)
{
	struct probe_spec p = {0};
	struct sockaddr_un *sun = (struct sockaddr_un *)&p.addr.addr;

	(void)state;
	assert_null(probespec_parse("unix:/run/db.sock", true, &p));
	assert_int_equal(p.kind, PROBE_UNIX);
	assert_int_equal(p.addr.kind, ENDPOINT_UNIX);
	assert_int_equal(sun->sun_family, AF_UNIX);
	assert_string_equal(sun->sun_path, "/run/db.sock");
	assert_string_equal(p.text, "unix:/run/db.sock");
	probespec_free(&p);
}

static void
test_exec(void **state)
{
	struct probe_spec p = {0};

	(void)state;
	assert_null(probespec_parse(
	    "exec:/usr/bin/pg_isready -q -h 127.0.0.1 'a b'", false, &p));
	assert_int_equal(p.kind, PROBE_EXEC);
	assert_int_equal(p.argc, 5);
	assert_string_equal(p.argv[0], "/usr/bin/pg_isready");
	assert_string_equal(p.argv[1], "-q");
	assert_string_equal(p.argv[2], "-h");
	assert_string_equal(p.argv[3], "127.0.0.1");
	assert_string_equal(p.argv[4], "a b");
	assert_null(p.argv[5]);
	assert_string_equal(p.text,
	                    "exec:/usr/bin/pg_isready -q -h 127.0.0.1 'a b'");
	assert_int_equal(p.addr.kind, ENDPOINT_NONE);
	probespec_free(&p);

	/* split exactly as command is: leading blanks, quotes, backslashes */
	assert_null(probespec_parse("exec:  check\\ db \"x\\\"y\"", true, &p));
	assert_int_equal(p.argc, 2);
	assert_string_equal(p.argv[0], "check db");
	assert_string_equal(p.argv[1], "x\"y");
	probespec_free(&p);
}

/* Each refused value, for ready (notify allowed) and health. */
static void
test_bad_values(void **state)
{
	static const struct {
		const char *value, *why;
	} cases[] = {
	    {"exec:", "exec: needs a command"},
	    {"exec:   ", "exec: needs a command"},
	    {"exec:/bin/x 'abc", "unterminated single quote"},
	    {"exec:/bin/x \"abc", "unterminated double quote"},
	    {"exec:/bin/x abc\\", "ends with a backslash"},
	    {"exec:'' -x", "empty program name"},
	    {"tcp:localhost:80",
	     "HOST must be an IPv4 address or an IPv6 address in brackets "
	     "(host names are not resolved)"},
	    {"tcp:127.0.0.1:0", "port must be a number from 1 to 65535"},
	    {"tcp:127.0.0.1", "expected tcp:HOST:PORT"},
	    {"tcp:80", "expected tcp:HOST:PORT"},
	    {"unix:run/x.sock", "unix socket path must be absolute"},
	    {"unix:", "unix socket path must be absolute"},
	};
	struct probe_spec p = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		for (int notify = 0; notify < 2; notify++) {
			const char *why =
			    probespec_parse(cases[i].value, notify, &p);
			if (why == NULL || strcmp(why, cases[i].why) != 0)
				fail_msg("%s: \"%s\", want \"%s\"",
				         cases[i].value, why ? why : "(ok)",
				         cases[i].why);
			assert_int_equal(p.kind, PROBE_NONE); /* untouched */
			assert_null(p.text);
		}
}

static void
test_unknown_kind(void **state)
{
	static const char *values[] = {
	    "None", "NOTIFY", "",      "yes",     "http://127.0.0.1/",
	    "tcp",  "exec",   " none", "notify ", "udp:127.0.0.1:53",
	};
	struct probe_spec p = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
		assert_string_equal(probespec_parse(values[i], true, &p),
		                    "not none, notify, tcp:HOST:PORT, "
		                    "unix:PATH or exec:COMMAND");
		assert_string_equal(probespec_parse(values[i], false, &p),
		                    "not none, tcp:HOST:PORT, unix:PATH or "
		                    "exec:COMMAND");
		assert_int_equal(p.kind, PROBE_NONE);
	}
	/* a long value is refused whole, not truncated or overrun */
	char *long_value = xmalloc(70000);
	memset(long_value, 'x', 69999);
	long_value[69999] = '\0';
	assert_non_null(probespec_parse(long_value, true, &p));
	memcpy(long_value, "unix:/", 6);
	assert_string_equal(probespec_parse(long_value, true, &p),
	                    "unix socket path longer than 107 bytes");
	memcpy(long_value, "exec:/", 6);
	assert_null(probespec_parse(long_value, true, &p));
	assert_int_equal(p.kind, PROBE_EXEC);
	assert_int_equal(p.argc, 1);
	assert_int_equal(strlen(p.argv[0]), 69999 - 5);
	probespec_free(&p);
	free(long_value);
}

static bool
same(const char *a, const char *b)
{
	struct probe_spec pa = {0}, pb = {0};
	bool answer;

	assert_null(probespec_parse(a, true, &pa));
	assert_null(probespec_parse(b, true, &pb));
	answer = probespec_same(&pa, &pb);
	assert_true(probespec_same(&pb, &pa) == answer);
	probespec_free(&pa);
	probespec_free(&pb);
	return answer;
}

/* The same as written: a reload that changes nothing changes nothing. */
static void
test_same(void **state)
{
	(void)state;
	assert_true(same("none", "none"));
	assert_true(same("notify", "notify"));
	assert_true(same("tcp:127.0.0.1:80", "tcp:127.0.0.1:80"));
	assert_true(same("unix:/a", "unix:/a"));
	assert_true(same("exec:/bin/x -q", "exec:/bin/x -q"));
	assert_false(same("none", "notify"));
	assert_false(same("tcp:127.0.0.1:80", "tcp:127.0.0.1:81"));
	assert_false(same("tcp:127.0.0.1:80", "unix:/a"));
	assert_false(same("unix:/a", "unix:/b"));
	assert_false(same("exec:/bin/x -q", "exec:/bin/x -v"));
	assert_false(same("exec:/bin/x", "none"));

	struct probe_spec zero = {0}, none = {0};
	assert_null(probespec_parse("none", true, &none));
	assert_true(probespec_same(&zero, &none)); /* the default is none */
}

/* Freed twice, or never parsed: no harm. */
static void
test_free_twice(void **state)
{
	struct probe_spec p = {0};

	(void)state;
	probespec_free(&p);
	assert_null(probespec_parse("exec:/bin/true", true, &p));
	probespec_free(&p);
	probespec_free(&p);
	assert_int_equal(p.kind, PROBE_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none),
	    cmocka_unit_test(test_notify),
	    cmocka_unit_test(test_tcp),
	    cmocka_unit_test(test_unix),
	    cmocka_unit_test(test_exec),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_unknown_kind),
	    cmocka_unit_test(test_same),
	    cmocka_unit_test(test_free_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
