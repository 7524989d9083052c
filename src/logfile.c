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
 *
 * tendd runs as root and PATH may pass through directories the task's user
 * owns, so root never resolves PATH as the kernel would: the directory is
 * walked one component at a time, a symbolic link followed only where root
 * alone could have put it (logfile_walk), and every later open, look and
 * rename is relative to the directory fd that walk gave.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
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
#define LINKS_MAX      32          /* symbolic links followed in a walk */

struct logfile {
	char *path;
	const char *base; /* PATH's last component, in path */
	int dir;          /* O_PATH fd of PATH's directory, or -1 */
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

/* Why the last walk or open failed, when strerror would not say; or "". */
static char why[PATH_MAX + 128];

/* Note why an open failed and return -1 with errno err. */
static int __attribute__((format(printf, 2, 3)))
logfile_refuse(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	errno = err;
	return -1;
}

/* Why the last open failed with err, in words. */
const char *
logfile_error(int err)
{
	return why[0] != '\0' ? why : strerror(err);
}

/* Log a failure on f at most once every ERROR_INTERVAL. */
static void
logfile_complain(struct logfile *f, const char *what, int err)
{
	double now = clock_now();

	if (f->complaint == 0 || now - f->complaint >= ERROR_INTERVAL) {
		f->complaint = now;
		log_msg(LOG_ERR, "cannot %s %s: %s (task output lost)", what,
		        f->path, logfile_error(err));
	}
	why[0] = '\0';
}

/*
 * Who besides root and tendd's own user can write the directory dir, as
 * words for a message; NULL when none can, so that the names it holds were
 * put there by root or by tendd's user, who could write the log anyway.
 * Numbers, not names: a passwd lookup may block the loop.
 */
static const char *
logfile_writers(int dir)
{
	static char who[64];
	struct stat st;

	if (fstat(dir, &st) == -1)
		return "someone"; /* cannot tell: trust nothing */
	if (st.st_mode & S_IWOTH)
		return "every user";
	if (st.st_uid != 0 && st.st_uid != geteuid())
		snprintf(who, sizeof(who), "uid %ld", (long)st.st_uid);
	else if (st.st_mode & S_IWGRP)
		snprintf(who, sizeof(who), "group %ld", (long)st.st_gid);
	else
		return NULL;
	return who;
}

/* Append "/name" to the path walked so far, for messages only. */
static void
logfile_walked(char *walked, const char *name)
{
	size_t len = strlen(walked);

	if (len < PATH_MAX)
		snprintf(walked + len, PATH_MAX + 1 - len, "/%s", name);
}

/*
 * One step of a walk from the directory *fd into name: *fd becomes the
 * directory, or *todo the link's target before the rest of the walk. 0,
 * or -1 with errno set and why noted.
 */
static int
logfile_step(int *fd, const char *name, char *walked, char **todo, int *links)
{
	char target[PATH_MAX], *rest;
	const char *who;
	struct stat st;
	ssize_t n;
	int next;

	if (strcmp(name, "..") == 0 && (who = logfile_writers(*fd)) != NULL)
		return logfile_refuse(EACCES,
		                      "%s/.. leaves a directory that %s can "
		                      "write (and move)",
		                      walked, who);
	next = openat(*fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (next == -1)
		return -1;
	if (fstat(next, &st) == -1)
		st.st_mode = 0; /* ENOTDIR, as for a file */
	if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
		close(next);
		errno = ENOTDIR;
		return -1;
	}
	logfile_walked(walked, name);
	if (S_ISDIR(st.st_mode)) {
		close(*fd);
		*fd = next;
		return 0;
	}
	n = readlinkat(next, "", target, sizeof(target) - 1);
	close(next);
	if ((who = logfile_writers(*fd)) != NULL)
		return logfile_refuse(
		    ELOOP,
		    "%s is a symbolic link in a directory that "
		    "%s can write (not followed)",
		    walked, who);
	if (++*links > LINKS_MAX)
		return logfile_refuse(ELOOP, "more than %d symbolic links",
		                      LINKS_MAX);
	if (n == -1)
		return -1;
	target[n] = '\0';
	rest = xmalloc((size_t)n + strlen(*todo) + 2);
	sprintf(rest, "%s/%s", target, *todo);
	free(*todo);
	*todo = rest;
	if (target[0] == '/') {
		walked[0] = '\0';
		close(*fd);
		if ((*fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
			return -1;
	}
	return 0;
}

/*
 * An O_PATH fd of f->path's directory, walked from "/" a component at a
 * time; a symbolic link is followed only in a directory root alone can
 * write (so /var/run -> /run is, a link the task's user planted in its own
 * directory is not), and ".." only out of such a directory. -1 with errno
 * set and why noted.
 */
static int
logfile_walk(const struct logfile *f)
{
	char walked[PATH_MAX + 1] = "", name[NAME_MAX + 1];
	char *todo = xstrdup(f->path), *p;
	int fd, links = 0, err = 0;
	size_t n;

	todo[f->base - f->path] = '\0';
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (p = todo; fd >= 0 && err == 0;) {
		p += strspn(p, "/");
		if (*p == '\0')
			break;
		n = strcspn(p, "/");
		if (n > NAME_MAX) {
			err = ENAMETOOLONG;
			break;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		if (strcmp(name, ".") == 0)
			continue;
		/* todo is what is left, for a link's target to precede */
		memmove(todo, p, strlen(p) + 1);
		if (logfile_step(&fd, name, walked, &todo, &links) == -1)
			err = errno;
		p = todo;
	}
	if (fd == -1 && err == 0)
		err = errno;
	free(todo);
	if (err != 0) {
		if (fd >= 0)
			close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/*
 * Open the existing file base of f->dir for appending, whose O_PATH fd is
 * at and stat st: only a regular file with one link, checked before any
 * open for writing, as a device may act when opened and a hard link may
 * name a file of root's elsewhere; a FIFO is not opened either (its
 * reader would see a writer come and go). The open goes through /proc/self/fd,
 * the very inode checked; without /proc, through the name again, checked to be
 * the same inode.
 */
static int
logfile_open_existing(const struct logfile *f, int at, const struct stat *st)
{
	int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	char proc[64];
	struct stat now;
	int fd;

	if (S_ISLNK(st->st_mode))
		return logfile_refuse(ELOOP, "a symbolic link (not followed)");
	if (!S_ISREG(st->st_mode)) /* a FIFO, a device: not a log file */
		return logfile_refuse(EINVAL, "not a regular file");
	if (st->st_nlink != 1)
		return logfile_refuse(EMLINK,
		                      "%ld hard links (taken only with one)",
		                      (long)st->st_nlink);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", at);
	fd = open(proc, flags);
	if (fd == -1 && errno == ENOENT)
		fd = openat(f->dir, f->base, flags | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	if (fstat(fd, &now) == -1 || now.st_dev != st->st_dev ||
	    now.st_ino != st->st_ino || !S_ISREG(now.st_mode)) {
		close(fd);
		return logfile_refuse(EAGAIN, "changed while opened");
	}
	return fd;
}

/*
 * Open base in f->dir for appending, an existing file or a new one. A file
 * tendd creates (O_EXCL: never one planted meanwhile) is made 0640 whatever
 * tendd's umask, and given to the task's user.
 */
static int
logfile_open_at(struct logfile *f)
{
	int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW;
	bool created = false;
	struct stat st;
	int at, fd = -1, err;

	why[0] = '\0';
	for (int tries = 0; fd == -1 && tries < 3; tries++) {
		at = openat(f->dir, f->base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (at >= 0) {
			fd = fstat(at, &st) == -1
			         ? -1
			         : logfile_open_existing(f, at, &st);
			err = errno;
			close(at);
			errno = err;
			if (fd == -1)
				return -1;
		} else if (errno != ENOENT)
			return -1;
		else if ((fd = openat(f->dir, f->base, flags | O_CREAT | O_EXCL,
		                      LOGFILE_MODE)) >= 0)
			created = true;
		else if (errno != EEXIST)
			return -1; /* EEXIST: made meanwhile, looked at again */
	}
	if (fd == -1 || fstat(fd, &st) == -1) {
		err = errno;
		if (fd >= 0)
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

/* Walk f->path anew and open it; f is left as it was on failure. */
static int
logfile_open_path(struct logfile *f)
{
	int dir, old = f->dir, err;

	why[0] = '\0';
	if ((dir = logfile_walk(f)) == -1)
		return -1;
	f->dir = dir;
	if (logfile_open_at(f) == -1) {
		err = errno;
		f->dir = old;
		close(dir);
		errno = err;
		return -1;
	}
	if (old >= 0)
		close(old);
	return 0;
}

/*
 * The file of path, opened if no output has it open yet; cfg's user owns
 * it when tendd creates it as root. NULL with errno set when it cannot be
 * opened: logfile_error says why.
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
	f->base = strrchr(f->path, '/') + 1; /* absolute: see manifest.c */
	f->dir = f->fd = -1;
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

/*
 * Whether f->path still names f's file, walked anew (a directory on the
 * way may have been moved or replaced); refreshes the size count.
 */
static bool
logfile_still_there(struct logfile *f)
{
	struct stat st;
	int dir = logfile_walk(f);

	if (dir == -1)
		return false;
	if (fstatat(dir, f->base, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_dev != f->dev || st.st_ino != f->ino) {
		close(dir);
		return false;
	}
	close(f->dir);
	f->dir = dir;
	f->size = st.st_size; /* truncated by copytruncate, or by hand */
	return true;
}

/* PATH.(N-1) to PATH.N, ..., PATH to PATH.1 in f->dir: the oldest goes. */
static void
logfile_shift(struct logfile *f, long backups)
{
	size_t size = strlen(f->base) + 24;
	char *from = xmalloc(size), *to = xmalloc(size);

	for (long i = backups; i >= 1; i--) {
		snprintf(to, size, "%s.%ld", f->base, i);
		if (i == 1)
			snprintf(from, size, "%s", f->base);
		else
			snprintf(from, size, "%s.%ld", f->base, i - 1);
		if (renameat(f->dir, from, f->dir, to) == -1 && errno != ENOENT)
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
	if (logfile_open_at(f) == -1) { /* in the directory just rotated */
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
	close(f->dir);
	buf_free(&f->pending);
	free(f->path);
	free(f);
}
