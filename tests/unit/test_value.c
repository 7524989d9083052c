/*
 * test_value.c: the scalar values of the manifest (value.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

#define DURATION_USAGE "not a duration (like 250ms, 1.5s, 5m, 1h or seconds)"
#define MODE_USAGE     "not an octal mode from 0 to 0777"

/* s is a duration of want milliseconds. */
static void
assert_duration(const char *s, int64_t want)
{
	int64_t ms = -42;
	const char *why = value_duration(s, &ms);

	if (why != NULL)
		fail_msg("value_duration(\"%s\"): %s", s, why);
	if (ms != want)
		fail_msg("value_duration(\"%s\") = %lld, want %lld", s,
		         (long long)ms, (long long)want);
}

/* s is not a duration, for the reason want; *ms is left alone. */
static void
assert_not_duration(const char *s, const char *want)
{
	int64_t ms = -42;
	const char *why = value_duration(s, &ms);

	if (why == NULL)
		fail_msg("value_duration(\"%s\") accepted as %lld", s,
		         (long long)ms);
	assert_string_equal(why, want);
}

static void
test_duration_units(void **state)
{
	(void)state;
	assert_duration("250ms", 250);
	assert_duration("1ms", 1);
	assert_duration("1s", 1000);
	assert_duration("1.5s", 1500);
	assert_duration("5m", 5 * 60 * 1000);
	assert_duration("1h", 3600 * 1000);
	assert_duration("90s", 90 * 1000);
	assert_duration("300s", 300 * 1000);
}

static void
test_duration_bare_seconds(void **state)
{
	(void)state;
	assert_duration("10", 10 * 1000);
	assert_duration("1", 1000);
	assert_duration("007", 7000);
	assert_duration("2.5", 2500);
	assert_duration("0.25", 250);
}

static void
test_duration_zero(void **state)
{
	(void)state;
	assert_duration("0", 0);
	assert_duration("0ms", 0);
	assert_duration("0s", 0);
	assert_duration("0m", 0);
	assert_duration("0h", 0);
	assert_duration("0.0", 0);
}

static void
test_duration_fractions(void **state)
{
	(void)state;
	assert_duration("0.5s", 500);
	assert_duration("0.001s", 1);
	assert_duration("0.001", 1);
	assert_duration("1.25m", 75 * 1000);
	assert_duration("0.5m", 30 * 1000);
	assert_duration("1.5h", 5400 * 1000);
	assert_duration("0.0001h", 360);
	assert_duration("2.0ms", 2);
	assert_duration("1.10s", 1100);
	/* nine decimals are allowed when they are whole milliseconds */
	assert_duration("0.100000000s", 100);
	assert_duration("1.000000000", 1000);
}

static void
test_duration_sub_millisecond(void **state)
{
	(void)state;
	assert_not_duration("0.0001s", "finer than a millisecond");
	assert_not_duration("0.0005", "finer than a millisecond");
	assert_not_duration("1.5ms", "finer than a millisecond");
	assert_not_duration("0.1ms", "finer than a millisecond");
	assert_not_duration("0.123456789s", "finer than a millisecond");
	assert_not_duration("0.00000001h", "finer than a millisecond");
	assert_not_duration("0.1234567891", "more than 9 decimals");
	assert_not_duration("1.0000000000s", "more than 9 decimals");
}

static void
test_duration_bad_units(void **state)
{
	(void)state;
	assert_not_duration("5d", DURATION_USAGE);
	assert_not_duration("5 s", DURATION_USAGE);
	assert_not_duration("5S", DURATION_USAGE);
	assert_not_duration("5MS", DURATION_USAGE);
	assert_not_duration("5sec", DURATION_USAGE);
	assert_not_duration("5us", DURATION_USAGE);
	assert_not_duration("5s ", DURATION_USAGE);
	assert_not_duration("1h30m", DURATION_USAGE);
	assert_not_duration("1e3", DURATION_USAGE);
	assert_not_duration("ms", DURATION_USAGE);
	assert_not_duration("s", DURATION_USAGE);
	assert_not_duration("abc", DURATION_USAGE);
}

static void
test_duration_malformed_numbers(void **state)
{
	(void)state;
	assert_not_duration("-1", DURATION_USAGE);
	assert_not_duration("-1s", DURATION_USAGE);
	assert_not_duration("+1s", DURATION_USAGE);
	assert_not_duration(" 1s", DURATION_USAGE);
	assert_not_duration(".5s", DURATION_USAGE);
	assert_not_duration("1.s", DURATION_USAGE);
	assert_not_duration("1.", DURATION_USAGE);
	assert_not_duration("1..5s", DURATION_USAGE);
	assert_not_duration("1.5.5s", DURATION_USAGE);
	assert_not_duration("0x10", DURATION_USAGE);
}

static void
test_duration_empty(void **state)
{
	(void)state;
	assert_not_duration("", DURATION_USAGE);
	assert_not_duration(".", DURATION_USAGE);
}

static void
test_duration_thirty_days(void **state)
{
	(void)state;
	assert_int_equal(DURATION_MAX_MS, 2592000000LL);
	assert_duration("2592000", DURATION_MAX_MS);
	assert_duration("2592000s", DURATION_MAX_MS);
	assert_duration("2592000000ms", DURATION_MAX_MS);
	assert_duration("43200m", DURATION_MAX_MS);
	assert_duration("720h", DURATION_MAX_MS);
	assert_duration("719.5h", DURATION_MAX_MS - 1800 * 1000);
	assert_duration("2591999.999", DURATION_MAX_MS - 1);
	assert_not_duration("2592001", "longer than 30 days");
	assert_not_duration("2592000001ms", "longer than 30 days");
	assert_not_duration("2592000.001", "longer than 30 days");
	assert_not_duration("2592000.001s", "longer than 30 days");
	assert_not_duration("43201m", "longer than 30 days");
	assert_not_duration("721h", "longer than 30 days");
	assert_not_duration("720.5h", "longer than 30 days");
	assert_not_duration("999999999999h", "longer than 30 days");
}

static void
test_duration_overflow(void **state)
{
	(void)state;
	/* more digits than any int64 arithmetic could take */
	assert_not_duration("9999999999999", "duration too long");
	assert_not_duration("99999999999999999999999999", "duration too long");
	assert_not_duration("9223372036854775808ms", "duration too long");
	assert_not_duration("18446744073709551617h", "duration too long");
	assert_not_duration("0000000000001s", "duration too long");
	/* twelve digits are read, then found too long */
	assert_not_duration("999999999999", "longer than 30 days");
	assert_not_duration("999999999999ms", "longer than 30 days");
	assert_duration("000000000001", 1000);
}

static void
assert_bool(const char *s, bool want)
{
	bool b = !want;
	const char *why = value_bool(s, &b);

	if (why != NULL)
		fail_msg("value_bool(\"%s\"): %s", s, why);
	assert_int_equal(b, want);
}

static void
assert_duration_text(int64_t ms, const char *want)
{
	char buf[32];
	int64_t back = -1;

	memset(buf, 'X', sizeof(buf));
	if (value_duration_text(ms, buf, sizeof(buf)) != buf)
		fail_msg("value_duration_text(%lld) does not return buf",
		         (long long)ms);
	if (strcmp(buf, want) != 0)
		fail_msg("value_duration_text(%lld) = \"%s\", want \"%s\"",
		         (long long)ms, buf, want);
	/* a single unit reads back as the same duration */
	if (strspn(buf, "0123456789.") + 2 >= strlen(buf) &&
	    (value_duration(buf, &back) != NULL || back != ms))
		fail_msg("\"%s\" does not read back as %lld", buf,
		         (long long)ms);
}

/* Durations said back to the user as they write them, not in ms. */
static void
test_duration_text(void **state)
{
	(void)state;
	assert_duration_text(0, "0ms");
	assert_duration_text(250, "250ms");
	assert_duration_text(999, "999ms");
	assert_duration_text(1000, "1s");
	assert_duration_text(1500, "1.5s");
	assert_duration_text(1250, "1.25s");
	assert_duration_text(1001, "1.001s");
	assert_duration_text(59999, "59.999s");
	assert_duration_text(60000, "1m");
	assert_duration_text(90000, "1m30s");
	assert_duration_text(120000, "2m");
	assert_duration_text(61500, "1m1.5s");
	assert_duration_text(3600000, "1h");
	assert_duration_text(5400000, "1h30m");
	assert_duration_text(3600250, "1h0.25s");
	assert_duration_text(3661001, "1h1m1.001s");
	assert_duration_text(DURATION_MAX_MS, "720h");
}

/* A short buffer is cut, still terminated. */
static void
test_duration_text_short_buffer(void **state)
{
	char buf[4];

	(void)state;
	assert_string_equal(value_duration_text(3661001, buf, sizeof(buf)),
	                    "1h1");
	assert_string_equal(value_duration_text(2, buf, 1), "");
	assert_string_equal(value_duration_text(1500, buf, 2), "1");
	assert_string_equal(value_duration_text(-5, buf, sizeof(buf)), "0ms");
}

static void
test_bool(void **state)
{
	const char *bad[] = {"",     "y",   "n",    "2",     "-1",
	                     "yes ", " no", "yess", "maybe", "00",
	                     "01",   "t",   "f",    "enable"};
	bool b;

	(void)state;
	assert_bool("yes", true);
	assert_bool("true", true);
	assert_bool("on", true);
	assert_bool("1", true);
	assert_bool("no", false);
	assert_bool("false", false);
	assert_bool("off", false);
	assert_bool("0", false);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		b = true;
		const char *why = value_bool(bad[i], &b);
		if (why == NULL)
			fail_msg("value_bool(\"%s\") accepted", bad[i]);
		assert_string_equal(why, "not a boolean (yes or no)");
		assert_true(b);
	}
}

static void
assert_mode(const char *s, mode_t want)
{
	mode_t mode = 01234;
	const char *why = value_mode(s, &mode);

	if (why != NULL)
		fail_msg("value_mode(\"%s\"): %s", s, why);
	assert_int_equal(mode, want);
}

static void
test_mode(void **state)
{
	const char *bad[] = {"",      "8",     "9",     "0778",   "1000",
	                     "7777",  "01000", "00000", "00644x", "-1",
	                     "+644",  " 644",  "644 ",  "0x1ff",  "rwx",
	                     "0o644", "06.4"};
	mode_t mode;

	(void)state;
	assert_mode("022", 022);
	assert_mode("0600", 0600);
	assert_mode("0", 0);
	assert_mode("0000", 0);
	assert_mode("7", 07);
	assert_mode("644", 0644);
	assert_mode("777", 0777);
	assert_mode("0777", 0777);
	assert_mode("0027", 027);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		mode = 01234;
		const char *why = value_mode(bad[i], &mode);
		if (why == NULL)
			fail_msg("value_mode(\"%s\") accepted", bad[i]);
		assert_string_equal(why, MODE_USAGE);
		assert_int_equal(mode, 01234);
	}
}

static void
test_count(void **state)
{
	long n;

	(void)state;
	n = -1;
	assert_null(value_count("0", 0, 10, &n));
	assert_int_equal(n, 0);
	assert_null(value_count("10", 0, 10, &n));
	assert_int_equal(n, 10);
	assert_null(value_count("1", 1, 1, &n));
	assert_int_equal(n, 1);
	assert_null(value_count("064", 1, 100, &n));
	assert_int_equal(n, 64); /* decimal, not octal */
	assert_null(value_count("100000", 1, INSTANCES_MAX, &n));
	assert_int_equal(n, 100000);
	assert_null(value_count("2147483647", 0, INT32_MAX, &n));
	assert_int_equal(n, INT32_MAX);

	n = 77;
	assert_string_equal(value_count("11", 0, 10, &n), "out of range");
	assert_string_equal(value_count("0", 1, 10, &n), "out of range");
	assert_string_equal(value_count("100001", 1, INSTANCES_MAX, &n),
	                    "out of range");
	assert_string_equal(value_count("2147483648", 0, INT32_MAX, &n),
	                    "out of range");
	assert_string_equal(
	    value_count("99999999999999999999999", 0, INT32_MAX, &n),
	    "out of range");
	assert_string_equal(value_count("", 0, 10, &n), "not a whole number");
	assert_string_equal(value_count("-1", 0, 10, &n), "not a whole number");
	assert_string_equal(value_count("+1", 0, 10, &n), "not a whole number");
	assert_string_equal(value_count(" 1", 0, 10, &n), "not a whole number");
	assert_string_equal(value_count("1 ", 0, 10, &n), "not a whole number");
	assert_string_equal(value_count("1.0", 0, 10, &n),
	                    "not a whole number");
	assert_string_equal(value_count("1e3", 0, 10000, &n),
	                    "not a whole number");
	assert_string_equal(value_count("0x10", 0, 100, &n),
	                    "not a whole number");
	assert_string_equal(value_count("ten", 0, 100, &n),
	                    "not a whole number");
	assert_int_equal(n, 77);
}

/* s is a limit of the given kind, soft:hard. */
static void
assert_limit(const char *s, enum limit_kind kind, rlim_t soft, rlim_t hard)
{
	rlim_t a = 42, b = 42;
	const char *why = value_limit(s, kind, &a, &b);

	if (why != NULL)
		fail_msg("value_limit(\"%s\"): %s", s, why);
	if (a != soft || b != hard)
		fail_msg("value_limit(\"%s\") = %llu:%llu, want %llu:%llu", s,
		         (unsigned long long)a, (unsigned long long)b,
		         (unsigned long long)soft, (unsigned long long)hard);
}

/* s is no limit of the kind, for the reason want; nothing is set. */
static void
assert_not_limit(const char *s, enum limit_kind kind, const char *want)
{
	rlim_t a = 42, b = 42;
	const char *why = value_limit(s, kind, &a, &b);

	if (why == NULL)
		fail_msg("value_limit(\"%s\") accepted", s);
	assert_string_equal(why, want);
	assert_true(a == 42 && b == 42);
}

static void
test_limit_forms(void **state)
{
	(void)state;
	assert_limit("1024", LIMIT_COUNT, 1024, 1024);
	assert_limit("0", LIMIT_COUNT, 0, 0);
	assert_limit("100:200", LIMIT_COUNT, 100, 200);
	assert_limit("unlimited", LIMIT_COUNT, RLIM_INFINITY, RLIM_INFINITY);
	assert_limit("infinity", LIMIT_BYTES, RLIM_INFINITY, RLIM_INFINITY);
	assert_limit("5:unlimited", LIMIT_COUNT, 5, RLIM_INFINITY);
	assert_limit("unlimited:unlimited", LIMIT_COUNT, RLIM_INFINITY,
	             RLIM_INFINITY);
	assert_limit("7:7", LIMIT_COUNT, 7, 7);
}

static void
test_limit_sizes(void **state)
{
	(void)state;
	assert_limit("512", LIMIT_BYTES, 512, 512);
	assert_limit("64K", LIMIT_BYTES, 64 << 10, 64 << 10);
	assert_limit("64k", LIMIT_BYTES, 64 << 10, 64 << 10);
	assert_limit("10M:1G", LIMIT_BYTES, 10 << 20, (rlim_t)1 << 30);
	assert_limit("4G:unlimited", LIMIT_BYTES, (rlim_t)4 << 30,
	             RLIM_INFINITY);
	assert_limit("8388608G", LIMIT_BYTES, (rlim_t)1 << 53, (rlim_t)1 << 53);
	assert_not_limit("1T", LIMIT_BYTES,
	                 "not a size (a number, then K, M or G)");
	assert_not_limit("1KB", LIMIT_BYTES,
	                 "not a size (a number, then K, M or G)");
	assert_not_limit("K", LIMIT_BYTES,
	                 "not a size (a number, then K, M or G)");
	assert_not_limit("99999999999G", LIMIT_BYTES, "too large");
	assert_not_limit("99999999999999999999", LIMIT_BYTES, "too large");
	/* A count takes no unit. */
	assert_not_limit("1K", LIMIT_COUNT, "not a whole number");
}

static void
test_limit_seconds(void **state)
{
	(void)state;
	assert_limit("90", LIMIT_SECONDS, 90, 90);
	assert_limit("90s:1h", LIMIT_SECONDS, 90, 3600);
	assert_limit("5m", LIMIT_SECONDS, 300, 300);
	assert_limit("100000000", LIMIT_SECONDS, 100000000, 100000000);
	assert_limit("1:unlimited", LIMIT_SECONDS, 1, RLIM_INFINITY);
	assert_not_limit("1.5s", LIMIT_SECONDS, "finer than a second");
	assert_not_limit("250ms", LIMIT_SECONDS, "finer than a second");
	assert_not_limit("1x", LIMIT_SECONDS,
	                 "not seconds (a number, or like 90s, 5m, 1h)");
}

static void
test_limit_malformed(void **state)
{
	(void)state;
	assert_not_limit("200:100", LIMIT_COUNT,
	                 "soft limit above the hard limit");
	assert_not_limit("unlimited:100", LIMIT_COUNT,
	                 "soft limit above the hard limit");
	assert_not_limit("", LIMIT_COUNT, "not a whole number");
	assert_not_limit(":", LIMIT_COUNT, "not a whole number");
	assert_not_limit("1:", LIMIT_COUNT, "not a whole number");
	assert_not_limit(":1", LIMIT_COUNT, "not a whole number");
	assert_not_limit("1:2:3", LIMIT_COUNT, "not a whole number");
	assert_not_limit("-1", LIMIT_COUNT, "not a whole number");
	assert_not_limit(" 1", LIMIT_COUNT, "not a whole number");
	assert_not_limit("Unlimited", LIMIT_COUNT, "not a whole number");
}

static void
test_signed(void **state)
{
	long n = 77;

	(void)state;
	assert_null(value_signed("-20", -20, 19, &n));
	assert_int_equal(n, -20);
	assert_null(value_signed("19", -20, 19, &n));
	assert_int_equal(n, 19);
	assert_null(value_signed("+3", -20, 19, &n));
	assert_int_equal(n, 3);
	assert_null(value_signed("0", -20, 19, &n));
	assert_int_equal(n, 0);
	n = 77;
	assert_string_equal(value_signed("-21", -20, 19, &n), "out of range");
	assert_string_equal(value_signed("20", -20, 19, &n), "out of range");
	assert_string_equal(value_signed("-", -20, 19, &n),
	                    "not a whole number");
	assert_string_equal(value_signed("--1", -20, 19, &n),
	                    "not a whole number");
	assert_string_equal(value_signed("1e3", -1000, 1000, &n),
	                    "not a whole number");
	assert_string_equal(value_signed("", -1, 1, &n), "not a whole number");
	assert_string_equal(value_signed("99999999999999999999", -1, 1, &n),
	                    "out of range");
	assert_int_equal(n, 77);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_units),
	    cmocka_unit_test(test_duration_bare_seconds),
	    cmocka_unit_test(test_duration_zero),
	    cmocka_unit_test(test_duration_fractions),
	    cmocka_unit_test(test_duration_sub_millisecond),
	    cmocka_unit_test(test_duration_bad_units),
	    cmocka_unit_test(test_duration_malformed_numbers),
	    cmocka_unit_test(test_duration_empty),
	    cmocka_unit_test(test_duration_thirty_days),
	    cmocka_unit_test(test_duration_overflow),
	    cmocka_unit_test(test_duration_text),
	    cmocka_unit_test(test_duration_text_short_buffer),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_mode),
	    cmocka_unit_test(test_count),
	    cmocka_unit_test(test_limit_forms),
	    cmocka_unit_test(test_limit_sizes),
	    cmocka_unit_test(test_limit_seconds),
	    cmocka_unit_test(test_limit_malformed),
	    cmocka_unit_test(test_signed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
