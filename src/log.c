/*
 * log.c: tendd's one way to log. Lines go to syslog; with -e they are
 * mirrored on stderr; when no syslog socket answers they go to stderr
 * instead, and tendd says so once. Every byte of a line that is not
 * printable is escaped (escape.c), and no sink ever blocks (logsink.c).
 *
 * Why not syslog(3): libc keeps its own socket to /dev/log and sends on it
 * blocking, so a syslog daemon that stops reading stops tendd, and its API
 * has no way round that. So tendd sends the datagrams itself, on a
 * non-blocking socket of its own, in the form glibc sends them
 * ("<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG"): a task's output line with the
 * task's name and pid as its tag (SPEC section 3), tendd's own lines with
 * syslog_ident and tendd's pid.
 *
 * A task's output pipe is not read while a sink its lines go to is full
 * (log_wait_task, log_wait_console; logsink.c says how): the task waits for
 * a slow reader, as it would writing to a terminal.
 *
 * The console output of tasks goes to tendd's stdout and stderr through
 * sinks of the same kind, "NAME: LINE" with no timestamp (journald and
 * docker add theirs). When fd 1 and fd 2 are one file (2>&1), one sink
 * writes both, so that no line is cut by the other's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "tend.h"

#define SYSLOG_PATH "/dev/log"

static struct {
	bool open; /* until then, and after log_close: stderr, as is */
	bool to_syslog;
	bool to_stderr;
	bool starting; /* until log_started: errors reach the terminal too */
	bool debug;    /* debug lines on stderr: with -e only */
	const char *ident;
	int facility;
	long pid;
	struct logsink sys; /* /dev/log */
	struct logsink err; /* stderr */
	struct logsink out; /* stdout, for console output */
	bool out_is_err;    /* fd 1 is fd 2's file: the err sink writes it */
} logger = {.to_stderr = true, .ident = "tendd"};

static const char *
log_level_name(int prio)
{
	static const char *names[] = {"emerg",   "alert",  "crit", "err",
	                              "warning", "notice", "info", "debug"};

	return names[LOG_PRI(prio)];
}

/*
 * "IDENT: LEVEL: MSG", or for a task's line "IDENT: LEVEL: NAME[PID]: MSG";
 * a console line is "NAME: MSG", or "NAME[PID]: MSG" with a pid.
 */
static char *
log_format_stderr(const struct logsink *s, const struct logline *l, size_t *len)
{
	char *line;

	(void)s;
	if (l->console && l->pid > 0)
		line = xasprintf("%s[%ld]: %s\n", l->tag, l->pid, l->msg);
	else if (l->console)
		line = xasprintf("%s: %s\n", l->tag, l->msg);
	else if (l->tag != NULL)
		line =
		    xasprintf("%s: %s: %s[%ld]: %s\n", logger.ident,
		              log_level_name(l->prio), l->tag, l->pid, l->msg);
	else
		line = xasprintf("%s: %s: %s\n", logger.ident,
		                 log_level_name(l->prio), l->msg);
	*len = strlen(line);
	return line;
}

/*
 * "<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG" as glibc's syslog(3) sends it; on a
 * stream socket each message ends with a NUL, as glibc ends it.
 */
static char *
log_format_syslog(const struct logsink *s, const struct logline *l, size_t *len)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32] = "";
	char *msg;

	if (localtime_r(&now, &tm) != NULL)
		strftime(stamp, sizeof(stamp), "%h %e %T", &tm);
	msg = xasprintf("<%d>%s %s[%ld]: %s", logger.facility | l->prio, stamp,
	                l->tag ? l->tag : logger.ident,
	                l->tag ? l->pid : logger.pid, l->msg);
	*len = strlen(msg) + (s->stream ? 1 : 0); /* the NUL xasprintf wrote */
	return msg;
}

/*
 * Connect to /dev/log: a datagram socket, or a stream one where the syslog
 * daemon listens on one. Non-blocking both: a full receiver is EAGAIN.
 */
static int
log_syslog_connect(struct logsink *s)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
	int err = ENOENT;

	strcpy(sun.sun_path, SYSLOG_PATH);
	for (size_t i = 0; i < 2; i++) {
		int fd =
		    socket(AF_UNIX, types[i] | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd == -1) {
			err = errno;
			continue;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			s->fd = fd;
			s->stream = types[i] == SOCK_STREAM;
			s->socket = true;
			return 0;
		}
		err = errno;
		close(fd);
		if (err != EPROTOTYPE)
			break;
	}
	errno = err;
	return -1;
}

/*
 * The fd the stderr (or stdout) sink writes. O_NONBLOCK belongs to an open file
 * description, and fd 2's (fd 1's) is shared with whoever started tendd (a
 * terminal, a pipe to a parent that writes to it too): setting it there would
 * make their writes fail with EAGAIN. So a pipe or a terminal is opened anew
 * through /proc/self/fd/N, a description of tendd's own, non-blocking; a
 * socket is written with MSG_DONTWAIT; a regular file never makes a writer
 * wait for a reader and is written as it is (a description of its own
 * would have an offset of its own, and overwrite what the tasks that
 * inherit fd 2 write). Without /proc, the fd is written a PIPE_BUF at most,
 * only when poll says it is writable, which keeps a pipe from blocking.
 */
static void
log_stdio_open(struct logsink *s, int fd)
{
	char path[32];
	struct stat st;

	s->fd = fd;
	s->stream = true;
	if (fstat(fd, &st) == -1 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return;
	if (S_ISSOCK(st.st_mode)) {
		s->socket = true;
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	s->fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (s->fd == -1) {
		s->fd = fd;
		s->gated = true;
	}
}

/* Whether fds 1 and 2 are one file: a pipe, a terminal, a file. */
static bool
log_same_stdio(void)
{
	struct stat a, b;

	return fstat(1, &a) == 0 && fstat(2, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* The sinks of fds 1 and 2, opened anew. */
static void
log_stdio_reopen(void)
{
	logsink_close(&logger.err);
	logsink_close(&logger.out);
	logsink_init(&logger.err, log_format_stderr, NULL);
	logsink_init(&logger.out, log_format_stderr, NULL);
	log_stdio_open(&logger.err, 2);
	logger.out_is_err = log_same_stdio();
	if (!logger.out_is_err)
		log_stdio_open(&logger.out, 1);
}

/*
 * Open the log. ident must outlive the log (it is the manifest's).
 * mirror: also write every line to stderr (-e).
 */
void
log_open(const char *ident, int facility, bool mirror)
{
	logsink_init(&logger.sys, log_format_syslog, log_syslog_connect);
	logsink_init(&logger.err, log_format_stderr, NULL);
	logsink_init(&logger.out, log_format_stderr, NULL);
	logger.open = true;
	logger.ident = ident;
	logger.facility = facility;
	logger.pid = (long)getpid();
	logger.starting = true;
	logger.to_syslog = log_syslog_connect(&logger.sys) == 0;
	logger.to_stderr = mirror || !logger.to_syslog;
	logger.debug = mirror;
	if (!logger.to_syslog)
		fprintf(stderr, "%s: no syslog at %s (%s): logging to stderr\n",
		        ident, SYSLOG_PATH, strerror(errno));
	log_stdio_reopen();
}

/* A reload's syslog_ident and syslog_facility; ident must outlive the log. */
void
log_retarget(const char *ident, int facility)
{
	logger.ident = ident;
	logger.facility = facility;
}

/* Start-up is over: from now on, stderr only with -e or without syslog. */
void
log_started(void)
{
	logger.starting = false;
}

/*
 * Let go of stderr (a detached tendd without -e, once running): fd 2
 * becomes /dev/null, and so does what the stderr sink writes.
 */
void
log_release_stderr(void)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd == -1)
		return;
	dup2(fd, 2);
	close(fd);
	log_stdio_reopen();
}

/* Write what the sinks take now, and go back to plain stderr. */
void
log_close(void)
{
	if (!logger.open)
		return;
	logsink_close(&logger.sys);
	logsink_close(&logger.err);
	logsink_close(&logger.out);
	logger.open = false;
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

/* A line, escaped, to every sink that takes it. */
static void
log_emit(int prio, const char *tag, long pid, const char *text, size_t len)
{
	char *msg = xmalloc(ESCAPE_SIZE(len));
	struct logline l = {.prio = prio, .tag = tag, .pid = pid, .msg = msg};

	escape_bytes(msg, text, len);
	if (!logger.open) {
		char *line = log_format_stderr(NULL, &l, &len);
		fputs(line, stderr);
		free(line);
	} else {
		if (logger.to_syslog)
			logsink_put(&logger.sys, &l);
		if (log_to_stderr(prio))
			logsink_put(&logger.err, &l);
	}
	free(msg);
}

void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	char *text;

	if (!log_wanted(prio))
		return;
	text = xvasprintf(fmt, ap);
	log_emit(prio, NULL, 0, text, strlen(text));
	free(text);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

/* A line of a task's output: NAME[PID] is its tag. */
void
log_task_line(int prio, const char *name, pid_t pid, const char *line,
              size_t len)
{
	if (log_wanted(prio))
		log_emit(prio, name, (long)pid, line, len);
}

/*
 * A line of a task's console output, to tendd's stdout (STREAM_OUT) or
 * stderr, "NAME: LINE"; with pid > 0 "NAME[PID]: LINE".
 */
void
log_console_line(int stream, const char *name, pid_t pid, const char *line,
                 size_t len)
{
	char *msg = xmalloc(ESCAPE_SIZE(len));
	struct logline l = {
	    .tag = name, .pid = (long)pid, .msg = msg, .console = true};
	FILE *fp = stream == STREAM_OUT ? stdout : stderr;

	escape_bytes(msg, line, len);
	if (!logger.open) {
		char *text = log_format_stderr(NULL, &l, &len);
		fputs(text, fp);
		free(text);
	} else if (stream == STREAM_OUT && !logger.out_is_err) {
		logsink_put(&logger.out, &l);
	} else {
		logsink_put(&logger.err, &l);
	}
	free(msg);
}

/* If s is full, w waits for it (w NULL: only say). */
static bool
log_wait_sink(struct logsink *s, struct logwaiter *w)
{
	if (!logsink_full(s))
		return false;
	if (w != NULL)
		logsink_wait(s, w);
	return true;
}

/*
 * Whether the lines of a task's syslog output at prio are to wait: then w
 * waits for the full sink they go to, and is told once it has room; with
 * w NULL, whether they would.
 */
bool
log_wait_task(int prio, struct logwaiter *w)
{
	if (!logger.open)
		return false;
	return (logger.to_syslog && log_wait_sink(&logger.sys, w)) ||
	       (log_to_stderr(prio) && log_wait_sink(&logger.err, w));
}

/* The same for a task's console output to stream. */
bool
log_wait_console(int stream, struct logwaiter *w)
{
	if (!logger.open)
		return false;
	if (stream == STREAM_OUT && !logger.out_is_err)
		return log_wait_sink(&logger.out, w);
	return log_wait_sink(&logger.err, w);
}

/* Lines still queued for a sink that can take them (its fd is there). */
size_t
log_backlog(void)
{
	const struct logsink *sinks[] = {&logger.sys, &logger.err, &logger.out};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++)
		if (sinks[i]->fd >= 0)
			n += sinks[i]->q.count;
	return n;
}

/* When a sink last wrote a byte (clock_now()), or 0: never. */
double
log_last_progress(void)
{
	double last = logger.sys.progress;

	if (logger.err.progress > last)
		last = logger.err.progress;
	if (logger.out.progress > last)
		last = logger.out.progress;
	return last;
}

/* Lines lost since start, by any sink: full, or failing. */
unsigned long
log_dropped(void)
{
	return logger.sys.q.dropped_total + logger.err.q.dropped_total +
	       logger.out.q.dropped_total;
}
