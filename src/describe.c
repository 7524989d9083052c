/*
 * describe.c: durations and exit statuses in words, for the log and for
 * tendctl's table, so both say "3m12s" and "killed by signal 11 (SIGSEGV)"
 * the same way.
 */
#include <math.h>
#include <stdio.h>
#include <sys/wait.h>

#include "tend.h"

/*
 * "250ms", "2.5s", "3m12s", "2h05m", "3d04h"; "-" for what no clock gives
 * (NaN, infinite, over DESCRIBE_DURATION_MAX), which a long cannot hold.
 */
char *
describe_duration(double seconds, char *buf, size_t size)
{
	long s;

	if (!isfinite(seconds) || seconds > DESCRIBE_DURATION_MAX) {
		snprintf(buf, size, "-");
		return buf;
	}
	if (seconds < 0)
		seconds = 0; /* a clock that went backwards */
	s = (long)seconds;
	if (seconds < 1)
		snprintf(buf, size, "%ldms", (long)(seconds * 1000));
	else if (seconds < 60)
		snprintf(buf, size, "%.1fs", seconds);
	else if (s < 3600)
		snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%ldh%02ldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
	return buf;
}

/* "exit status 1" or "killed by signal 11 (SIGSEGV), core dumped". */
char *
describe_wait_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status)) {
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *name = signame_name(WTERMSIG(status));
		snprintf(buf, size, "killed by signal %d (%s)%s",
		         WTERMSIG(status), name ? name : "unnamed",
		         WCOREDUMP(status) ? ", core dumped" : "");
	} else
		snprintf(buf, size, "wait status %#x", status);
	return buf;
}

/* The exit code a wait status stands for: N, or 128+N for signal N. */
int
describe_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}
