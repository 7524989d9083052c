/*
 * log.c: tendd's one way to log. Lines go to syslog(3); with -e they are
 * mirrored on stderr; when no syslog socket answers they go to stderr
 * instead, and tendd says so once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

#define SYSLOG_PATH "/dev/log"

static struct {
	bool to_syslog;
	bool to_stderr;
	bool starting; /* until log_started: errors reach the terminal too */
	bool debug;    /* debug lines on stderr: with -e only */
	const char *ident;
} logger = {.to_stderr = true, .ident = "tendd"};

static const char *
log_level_name(int prio)
{
	static const char *names[] = {"emerg",   "alert",  "crit", "err",
	                              "warning", "notice", "info", "debug"};

	return names[LOG_PRI(prio)];
}

/* Whether a syslog daemon listens on /dev/log (datagram or stream). */
static bool
log_syslog_reachable(int *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
	bool ok = false;

	strcpy(sun.sun_path, SYSLOG_PATH);
	for (size_t i = 0; i < 2 && !ok; i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		*err = errno;
		close(fd);
	}
	return ok;
}

/*
 * Open the log. ident must outlive the log (it is the manifest's).
 * mirror: also write every line to stderr (-e).
 */
void
log_open(const char *ident, int facility, bool mirror)
{
	int err = 0;

	logger.ident = ident;
	logger.starting = true;
	logger.to_syslog = log_syslog_reachable(&err);
	logger.to_stderr = mirror || !logger.to_syslog;
	logger.debug = mirror;
	if (logger.to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
	else
		fprintf(stderr, "%s: no syslog at %s (%s): logging to stderr\n",
		        ident, SYSLOG_PATH, strerror(err));
}

/* A reload's syslog_ident and syslog_facility; ident must outlive the log. */
void
log_retarget(const char *ident, int facility)
{
	logger.ident = ident;
	if (logger.to_syslog) {
		closelog();
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
	}
}

/* Start-up is over: from now on, stderr only with -e or without syslog. */
void
log_started(void)
{
	logger.starting = false;
}

void
log_close(void)
{
	if (logger.to_syslog)
		closelog();
	logger.to_syslog = false;
	logger.to_stderr = true;
}

/* Whether a line at prio goes to stderr. */
static bool
log_to_stderr(int prio)
{
	/* Without -e, a busy per-request task writes no line per request. */
	return (logger.to_stderr && (prio < LOG_DEBUG || logger.debug)) ||
	       (logger.starting && prio <= LOG_ERR);
}

/* Whether a line at prio goes anywhere: if not, it need not be composed. */
bool
log_wanted(int prio)
{
	return logger.to_syslog || log_to_stderr(prio);
}

void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	va_list copy;

	if (logger.to_syslog) {
		va_copy(copy, ap);
		vsyslog(prio, fmt, copy);
		va_end(copy);
	}
	if (log_to_stderr(prio)) {
		char *line = xvasprintf(fmt, ap);
		fprintf(stderr, "%s: %s: %s\n", logger.ident,
		        log_level_name(prio), line);
		free(line);
	}
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}
