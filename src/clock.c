/*
 * clock.c: the clock every duration of tendd is measured on. It is
 * CLOCK_MONOTONIC, never the wall clock: a step of the wall clock (ntp,
 * date -s) must neither reset a crash loop's backoff through healthy_after
 * nor skew an uptime. libev's ev_now() and ev_time() are wall-clock times;
 * its timers already run on the monotonic clock.
 */
#include <time.h>

#include "tend.h"

/* Seconds on the monotonic clock, from an arbitrary origin. */
double
clock_now(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
