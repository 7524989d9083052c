/*
 * logfile.c: the files of file:PATH outputs, rotated by size as supervisord
 * rotates them. Every output naming one PATH (stdout and stderr of a task,
 * or of several tasks) shares one open file and one size count, so that
 * rotation sees every byte; a file is open while some run writes to it.
 *
 * A regular file never makes its writer wait for a reader, so lines are
 * written whole, each with its newline, as soon as the pipe read that
 * brought them is done: gathered meanwhile, one write(2) per read, not one
 * per line (logfile_flush). Someone may move the file
 * away under tendd (logrotate without copytruncate) or delete it: at most
 * once a second tendd compares the path with its fd and reopens the path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

#define LOGFILE_MODE   0640
#define CHECK_INTERVAL 1.0  /* seconds between looks at the path */
#define ERROR_INTERVAL 60.0 /* seconds between two error lines of a file */
#define PENDING_MAX    (64 * 1024) /* bytes gathered before a write */

struct logfile {
	char *path;
	int fd;
	off_t size; /* as tendd counts it; refreshed at each check */
	dev_t dev;
	ino_t ino;
	uid_t uid; /* of a file tendd creates, or -1 */
	gid_t gid;
	unsigned refs;
	double checked;     /* clock_now() of the last look at the path */
	double complaint;   /* of the last error logged, or 0 */
	struct buf pending; /* lines not yet written, counted in size */
	struct logfile *next;
};

static struct logfile *files;

/* Log a failure on f at most once every ERROR_INTERVAL. */
static void
logfile_complain(struct logfile *f, const char *what, int err)
{
	double now = clock_now();

	if (f->complaint != 0 && now - f->complaint < ERROR_INTERVAL)
		return;
	f->complaint = now;
	log_msg(LOG_ERR, "cannot %s %s: %s (task output lost)", what, f->path,
	        strerror(err));
}

/*
 * Open f->path for appending. A file tendd creates is made 0640 whatever
 * tendd's umask, and given to the task's user. O_NONBLOCK only keeps a
 * FIFO at PATH from blocking the open; a regular file is all that is taken.
 */
static int
logfile_open_path(struct logfile *f)
{
	int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	            O_NONBLOCK;
	bool created = true;
	struct stat st;
	int fd, err;

	fd = open(f->path, flags | O_CREAT | O_EXCL, LOGFILE_MODE);
	if (fd == -1 && errno == EEXIST) {
		created = false;
		fd = open(f->path, flags);
	}
	if (fd == -1)
		return -1;
	err = fstat(fd, &st) == -1 ? errno : 0;
	if (err == 0 && !S_ISREG(st.st_mode))
		err = EINVAL; /* a FIFO, a device: not a log file */
	if (err != 0) {
		close(fd);
		errno = err;
		return -1;
	}
	if (created) {
		fchmod(fd, LOGFILE_MODE);
		if ((f->uid != (uid_t)-1 || f->gid != (gid_t)-1) &&
		    fchown(fd, f->uid, f->gid) == -1)
			log_msg(LOG_WARNING, "cannot give %s to uid %ld: %s",
			        f->path, (long)f->uid, strerror(errno));
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	f->size = st.st_size;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->checked = clock_now();
	return 0;
}

/*
 * The file of path, opened if no output has it open yet; cfg's user owns
 * it when tendd creates it as root. NULL with errno set when it cannot be
 * opened.
 */
struct logfile *
logfile_open(const char *path, const struct task_config *cfg)
{
	struct logfile *f;

	for (f = files; f; f = f->next)
		if (strcmp(f->path, path) == 0) {
			f->refs++;
			return f;
		}
	f = xcalloc(1, sizeof(*f));
	f->path = xstrdup(path);
	f->fd = -1;
	f->uid = f->gid = (uid_t)-1;
	if (geteuid() == 0 && (cfg->has_user || cfg->has_group)) {
		f->uid = cfg->has_user ? cfg->uid : (uid_t)-1;
		f->gid = cfg->gid;
	}
	if (logfile_open_path(f) == -1) {
		int err = errno;
		free(f->path);
		free(f);
		errno = err;
		return NULL;
	}
	f->refs = 1;
	f->next = files;
	files = f;
	return f;
}

/* Whether f->path still names f's file; refreshes the size count. */
static bool
logfile_still_there(struct logfile *f)
{
	struct stat st;

	if (stat(f->path, &st) == -1 || st.st_dev != f->dev ||
	    st.st_ino != f->ino)
		return false;
	f->size = st.st_size; /* truncated by copytruncate, or by hand */
	return true;
}

/* PATH.(N-1) to PATH.N, ..., PATH to PATH.1: the oldest is replaced. */
static void
logfile_shift(struct logfile *f, long backups)
{
	size_t size = strlen(f->path) + 24;
	char *from = xmalloc(size), *to = xmalloc(size);

	for (long i = backups; i >= 1; i--) {
		snprintf(to, size, "%s.%ld", f->path, i);
		if (i == 1)
			snprintf(from, size, "%s", f->path);
		else
			snprintf(from, size, "%s.%ld", f->path, i - 1);
		if (rename(from, to) == -1 && errno != ENOENT)
			logfile_complain(f, "rotate", errno);
	}
	free(from);
	free(to);
}

/* Start f anew: rotated to backups files, or truncated when none. */
static void
logfile_rotate(struct logfile *f, long backups)
{
	if (backups == 0) {
		if (ftruncate(f->fd, 0) == -1)
			logfile_complain(f, "truncate", errno);
		else
			f->size = 0;
		return;
	}
	logfile_shift(f, backups);
	if (logfile_open_path(f) == -1) {
		/*
		 * Not on with the old file, now PATH.1: each line would shift
		 * the backups again. Lines are lost until a reopen works.
		 */
		logfile_complain(f, "reopen", errno);
		close(f->fd);
		f->fd = -1;
	}
}

/* Write the lines gathered for f. */
void
logfile_flush(struct logfile *f)
{
	ssize_t n;

	while (f->pending.len > 0 && f->fd >= 0) {
		n = write(f->fd, f->pending.data, f->pending.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			logfile_complain(f, "write to", n == -1 ? errno : EIO);
			break;
		}
		buf_consume(&f->pending, (size_t)n);
	}
	buf_consume(&f->pending, f->pending.len); /* what failed is lost */
}

/*
 * One line (without its newline) to f, gathered until logfile_flush; the
 * file is rotated first when the line would take it past max_size (0:
 * never). A line longer than max_size goes whole into a file of its own.
 */
void
logfile_write(struct logfile *f, const char *line, size_t len, int64_t max_size,
              long backups)
{
	double now = clock_now();

	if (now - f->checked >= CHECK_INTERVAL) {
		f->checked = now;
		logfile_flush(f); /* to the file the lines were meant for */
		if ((f->fd < 0 || !logfile_still_there(f)) &&
		    logfile_open_path(f) == -1)
			logfile_complain(f, "reopen", errno);
	}
	if (f->fd < 0)
		return; /* lost: the file could not be reopened */
	if (max_size > 0 && f->size > 0 &&
	    f->size + (off_t)len + 1 > (off_t)max_size) {
		logfile_flush(f);
		logfile_rotate(f, backups);
	}
	if (f->pending.len + len + 1 > PENDING_MAX)
		logfile_flush(f);
	buf_add(&f->pending, line, len);
	buf_add(&f->pending, "\n", 1);
	f->size += (off_t)len + 1;
}

/* An output is done with f: the last one closes it. */
void
logfile_release(struct logfile *f)
{
	struct logfile **p;

	if (f == NULL || --f->refs > 0)
		return;
	for (p = &files; *p != f; p = &(*p)->next)
		;
	*p = f->next;
	logfile_flush(f);
	if (f->fd >= 0)
		close(f->fd);
	buf_free(&f->pending);
	free(f->path);
	free(f);
}
