/*
 * value.c: the scalar values of the manifest (durations, booleans, octal
 * modes, counts). Each parser takes the whole string and returns NULL on
 * success or a short reason that the caller puts after the key's name.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"

static const struct {
	const char *suffix;
	int64_t ms;
} duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"", 1000},
};

/* Parse "250ms", "1.5s", "5m", "1h" or bare seconds into milliseconds. */
const char *
value_duration(const char *s, int64_t *ms)
{
	static const char *usage =
	    "not a duration (like 250ms, 1.5s, 5m, 1h or seconds)";
	int64_t whole = 0, frac = 0, scale = 1, unit = 0;
	const char *p = s;
	size_t i, digits = 0;

	while (isdigit((unsigned char)*p) && digits++ < 12)
		whole = whole * 10 + (*p++ - '0');
	if (digits == 0 || digits > 12)
		return digits ? "duration too long" : usage;
	if (*p == '.') {
		p++;
		for (digits = 0; isdigit((unsigned char)*p); digits++) {
			if (digits == 9)
				return "more than 9 decimals";
			frac = frac * 10 + (*p++ - '0');
			scale *= 10;
		}
		if (digits == 0)
			return usage;
	}
	for (i = 0; i < sizeof(duration_units) / sizeof(*duration_units); i++)
		if (strcmp(p, duration_units[i].suffix) == 0) {
			unit = duration_units[i].ms;
			break;
		}
	if (unit == 0)
		return usage;
	if (whole > DURATION_MAX_MS / unit)
		return "longer than 30 days";
	if ((frac * unit) % scale != 0)
		return "finer than a millisecond";
	*ms = whole * unit + frac * unit / scale;
	if (*ms > DURATION_MAX_MS)
		return "longer than 30 days";
	return NULL;
}

/*
 * A duration of the manifest written back exactly: "2m", "1m30s", "1.5s",
 * "1h0m0.25s" is "1h0.25s" (zero units left out), "250ms" below a second.
 */
char *
value_duration_text(int64_t ms, char *buf, size_t size)
{
	int64_t h, m, s, frac;
	int n = 0;

	if (ms < 1000 || size == 0) {
		snprintf(buf, size, "%lldms", (long long)(ms > 0 ? ms : 0));
		return buf;
	}
	h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
	frac = ms % 1000;
	buf[0] = '\0';
	if (h)
		n += snprintf(buf + n, size - (size_t)n, "%lldh", (long long)h);
	if (m && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, "%lldm", (long long)m);
	if ((s || frac) && (size_t)n < size) {
		char digits[8];
		size_t len;

		snprintf(digits, sizeof(digits), "%03lld", (long long)frac);
		for (len = 3; len > 0 && digits[len - 1] == '0'; len--)
			digits[len - 1] = '\0';
		snprintf(buf + n, size - (size_t)n, "%lld%s%ss", (long long)s,
		         len ? "." : "", digits);
	}
	return buf;
}

/* Parse yes/no, true/false, on/off, 1/0. */
const char *
value_bool(const char *s, bool *b)
{
	static const char *yes[] = {"yes", "true", "on", "1"};
	static const char *no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*b = true;
			return NULL;
		}
		if (strcmp(s, no[i]) == 0) {
			*b = false;
			return NULL;
		}
	}
	return "not a boolean (yes or no)";
}

/* Parse an octal permission mode such as 022 or 0600. */
const char *
value_mode(const char *s, mode_t *mode)
{
	unsigned long m = 0;
	const char *p;

	if (*s == '\0' || strlen(s) > 4)
		return "not an octal mode from 0 to 0777";
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '7')
			return "not an octal mode from 0 to 0777";
		m = m * 8 + (unsigned long)(*p - '0');
	}
	if (m > 0777)
		return "not an octal mode from 0 to 0777";
	*mode = (mode_t)m;
	return NULL;
}

/* A decimal integer between min and max, with a sign if sign allows. */
static const char *
value_integer(const char *s, bool sign, long min, long max, long *n)
{
	const char *digits = s + (sign && (*s == '-' || *s == '+'));
	char *end;
	long v;

	if (!isdigit((unsigned char)*digits))
		return "not a whole number";
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0')
		return "not a whole number";
	if (errno == ERANGE || v < min || v > max)
		return "out of range";
	*n = v;
	return NULL;
}

/* Parse a decimal integer between min and max. */
const char *
value_count(const char *s, long min, long max, long *n)
{
	return value_integer(s, false, min, max, n);
}

/* Parse a decimal integer, with an optional sign, between min and max. */
const char *
value_signed(const char *s, long min, long max, long *n)
{
	return value_integer(s, true, min, max, n);
}

/* The largest limit written as a number: RLIM_INFINITY is "unlimited". */
#define LIMIT_MAX ((rlim_t)INT64_MAX)

/* A byte size: digits, then an optional K, M or G (powers of 1024). */
static const char *
limit_bytes(const char *s, rlim_t *n)
{
	static const char units[] = "KMG";
	const char *p = s, *u;
	rlim_t v = 0;

	for (; isdigit((unsigned char)*p); p++) {
		if (v > (LIMIT_MAX - 9) / 10)
			return "too large";
		v = v * 10 + (rlim_t)(*p - '0');
	}
	if (p == s)
		return "not a size (a number, then K, M or G)";
	if (*p != '\0') {
		if (p[1] != '\0' || (u = strchr(units, toupper(*p))) == NULL)
			return "not a size (a number, then K, M or G)";
		for (ptrdiff_t i = 0; i <= u - units; i++) {
			if (v > LIMIT_MAX / 1024)
				return "too large";
			v *= 1024;
		}
	}
	*n = v;
	return NULL;
}

/* A count: digits only. */
static const char *
limit_count(const char *s, rlim_t *n)
{
	const char *p = s;
	rlim_t v = 0;

	for (; isdigit((unsigned char)*p); p++) {
		if (v > (LIMIT_MAX - 9) / 10)
			return "too large";
		v = v * 10 + (rlim_t)(*p - '0');
	}
	if (p == s || *p != '\0')
		return "not a whole number";
	*n = v;
	return NULL;
}

/* Seconds of CPU: a bare number, or a duration of whole seconds. */
static const char *
limit_seconds(const char *s, rlim_t *n)
{
	int64_t ms;

	if (limit_count(s, n) == NULL)
		return NULL;
	if (value_duration(s, &ms) != NULL)
		return "not seconds (a number, or like 90s, 5m, 1h)";
	if (ms % 1000 != 0)
		return "finer than a second";
	*n = (rlim_t)(ms / 1000);
	return NULL;
}

/* One side of a limit: "unlimited" (or "infinity"), else by kind. */
static const char *
limit_side(const char *s, enum limit_kind kind, rlim_t *n)
{
	if (strcmp(s, "unlimited") == 0 || strcmp(s, "infinity") == 0) {
		*n = RLIM_INFINITY;
		return NULL;
	}
	switch (kind) {
	case LIMIT_BYTES:
		return limit_bytes(s, n);
	case LIMIT_SECONDS:
		return limit_seconds(s, n);
	case LIMIT_COUNT:
	default:
		return limit_count(s, n);
	}
}

/*
 * Parse a resource limit: "N" (soft and hard), "SOFT:HARD", each side a
 * value of kind or "unlimited"; the soft limit may not be above the hard.
 */
const char *
value_limit(const char *s, enum limit_kind kind, rlim_t *soft, rlim_t *hard)
{
	const char *colon = strchr(s, ':'), *why;
	char left[64];
	rlim_t a, b;

	if (colon == NULL) {
		if ((why = limit_side(s, kind, &a)) != NULL)
			return why;
		*soft = *hard = a;
		return NULL;
	}
	if ((size_t)(colon - s) >= sizeof(left))
		return "soft limit too long";
	memcpy(left, s, (size_t)(colon - s));
	left[colon - s] = '\0';
	if ((why = limit_side(left, kind, &a)) != NULL ||
	    (why = limit_side(colon + 1, kind, &b)) != NULL)
		return why;
	if (a > b) /* RLIM_INFINITY is the largest rlim_t */
		return "soft limit above the hard limit";
	*soft = a;
	*hard = b;
	return NULL;
}
