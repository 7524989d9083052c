/*
 * test_signame.c: signal names and numbers (signame.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

static void
test_names_with_and_without_sig(void **state)
{
	(void)state;
	assert_int_equal(signame_parse("TERM"), SIGTERM);
	assert_int_equal(signame_parse("SIGTERM"), SIGTERM);
	assert_int_equal(signame_parse("KILL"), SIGKILL);
	assert_int_equal(signame_parse("SIGKILL"), SIGKILL);
	assert_int_equal(signame_parse("HUP"), SIGHUP);
	assert_int_equal(signame_parse("INT"), SIGINT);
	assert_int_equal(signame_parse("QUIT"), SIGQUIT);
	assert_int_equal(signame_parse("USR1"), SIGUSR1);
	assert_int_equal(signame_parse("SIGUSR2"), SIGUSR2);
	assert_int_equal(signame_parse("WINCH"), SIGWINCH);
	assert_int_equal(signame_parse("SIGCHLD"), SIGCHLD);
	assert_int_equal(signame_parse("STKFLT"), SIGSTKFLT);
	assert_int_equal(signame_parse("VTALRM"), SIGVTALRM);
	assert_int_equal(signame_parse("SYS"), SIGSYS);
}

static void
test_any_case(void **state)
{
	(void)state;
	assert_int_equal(signame_parse("term"), SIGTERM);
	assert_int_equal(signame_parse("sigterm"), SIGTERM);
	assert_int_equal(signame_parse("Term"), SIGTERM);
	assert_int_equal(signame_parse("SigTerm"), SIGTERM);
	assert_int_equal(signame_parse("sIgHuP"), SIGHUP);
	assert_int_equal(signame_parse("usr1"), SIGUSR1);
	assert_int_equal(signame_parse("Sigkill"), SIGKILL);
}

static void
test_numbers(void **state)
{
	(void)state;
	assert_int_equal(signame_parse("1"), 1);
	assert_int_equal(signame_parse("9"), SIGKILL);
	assert_int_equal(signame_parse("15"), SIGTERM);
	assert_int_equal(signame_parse("31"), 31);
	assert_int_equal(signame_parse("34"), 34);
	assert_int_equal(signame_parse("015"), 15);
	/* real-time signals are numbers only */
	assert_int_equal(signame_parse("64"), SIGRTMAX);
	assert_int_equal(SIGRTMAX, 64);
}

static void
test_rejected(void **state)
{
	const char *bad[] = {
	    "0",        "00",         "65",       "100",
	    "-1",       "+15",        "15 ",      " 15",
	    "15x",      "1.5",        "0x0f",     "99999999999999999999999",
	    "",         "SIG",        "sig",      "TERMX",
	    "SIGTERMX", "SIGSIGTERM", "TER",      "ERM",
	    " TERM",    "TERM ",      "SIG TERM", "SIG_TERM",
	    "garbage",  "NOSUCH",     "SIG15",    "RTMIN",
	    "SIGRTMAX",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (signame_parse(bad[i]) != -1)
			fail_msg("signame_parse(\"%s\") = %d, want -1", bad[i],
			         signame_parse(bad[i]));
}

static void
test_name(void **state)
{
	(void)state;
	assert_string_equal(signame_name(SIGTERM), "SIGTERM");
	assert_string_equal(signame_name(SIGKILL), "SIGKILL");
	assert_string_equal(signame_name(SIGSEGV), "SIGSEGV");
	assert_string_equal(signame_name(SIGHUP), "SIGHUP");
	assert_null(signame_name(0));
	assert_null(signame_name(-1));
	assert_null(signame_name(SIGRTMIN));
	assert_null(signame_name(SIGRTMAX));
	assert_null(signame_name(65));
}

/* Every classic signal has a name, and each name parses back to it. */
static void
test_round_trip(void **state)
{
	char buf[32];

	(void)state;
	for (int signo = 1; signo < 32; signo++) {
		const char *name = signame_name(signo);

		if (name == NULL) {
			fail_msg("signal %d (%s) has no name", signo,
			         strsignal(signo));
			continue;
		}
		assert_int_equal(strncmp(name, "SIG", 3), 0);
		assert_int_equal(signame_parse(name), signo);
		assert_int_equal(signame_parse(name + 3), signo);
		snprintf(buf, sizeof(buf), "%s", name);
		for (char *p = buf; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		assert_int_equal(signame_parse(buf), signo);
		snprintf(buf, sizeof(buf), "%d", signo);
		assert_int_equal(signame_parse(buf), signo);
	}
	for (int signo = 32; signo <= SIGRTMAX; signo++) {
		snprintf(buf, sizeof(buf), "%d", signo);
		assert_int_equal(signame_parse(buf), signo);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_with_and_without_sig),
	    cmocka_unit_test(test_any_case),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_rejected),
	    cmocka_unit_test(test_name),
	    cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
