/*
 * sockfile.c: a listening unix socket file with its mode and owner set
 * before anyone can reach it, for the control socket and the listen
 * sockets of per-request tasks.
 *
 * The socket is bound in a private directory made beside the final path
 * (mode 0700, ours: nobody else can swap anything inside it), given its
 * mode and owner there, listening, and then renamed over the final path.
 * So no chmod or chown ever goes through a path that another user could
 * replace with a symlink (rename replaces a symlink, never its target),
 * and a socket made again replaces the old one with no moment between
 * when the path lacks one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tend.h"

/* The directory of path, where the private one is made. */
static char *
sockfile_tmpdir_template(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".tendd-XXXXXX");
	return xasprintf("%.*s/.tendd-XXXXXX", (int)(slash - path), path);
}

/* A private directory beside path: its fd, its name in tmpl; or -1. */
static int
sockfile_tmpdir(char *tmpl)
{
	struct stat st;
	int dfd;

	if (mkdtemp(tmpl) == NULL)
		return -1;
	/* Ours, and closed to others, or someone swapped it already. */
	dfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1 || fstat(dfd, &st) == -1 || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		if (dfd != -1)
			close(dfd);
		rmdir(tmpl); /* ours, or not a directory: then it fails */
		errno = EPERM;
		return -1;
	}
	return dfd;
}

/*
 * Bind fd to the name "s" in the directory dfd (named tmpdir), with mode:
 * through /proc/self/fd, which names dfd itself; without /proc, through
 * tmpdir, which the fchmodat that follows then finds or fails on.
 */
static int
sockfile_bind_in(int fd, int dfd, const char *tmpdir, mode_t mode)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	mode_t old = umask((mode_t)(~mode & 0777));
	int rc;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "/proc/self/fd/%d/s", dfd);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	if (rc == -1 && errno == ENOENT &&
	    strlen(tmpdir) + 2 < sizeof(sun.sun_path)) {
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", tmpdir);
		rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	}
	umask(old);
	return rc;
}

/*
 * A non-blocking listening socket at path with mode, uid and gid ((uid_t)-1
 * or (gid_t)-1: unchanged), renamed over whatever is there; its device and
 * inode in st. Returns the fd, or -1 with errno set.
 */
int
sockfile_make(const char *path, mode_t mode, uid_t uid, gid_t gid, int backlog,
              struct stat *st)
{
	char *tmpdir = sockfile_tmpdir_template(path);
	int dfd, fd = -1, saved;

	if ((dfd = sockfile_tmpdir(tmpdir)) == -1) {
		saved = errno;
		free(tmpdir);
		errno = saved;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || sockfile_bind_in(fd, dfd, tmpdir, mode) ||
	    fchownat(dfd, "s", uid, gid, AT_SYMLINK_NOFOLLOW) == -1 ||
	    fchmodat(dfd, "s", mode, 0) == -1 ||
	    fstatat(dfd, "s", st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    listen(fd, backlog) == -1 ||
	    renameat(dfd, "s", AT_FDCWD, path) == -1) {
		saved = errno;
		unlinkat(dfd, "s", 0);
		if (fd != -1)
			close(fd);
		fd = -1;
		errno = saved;
	}
	saved = errno;
	close(dfd);
	rmdir(tmpdir);
	free(tmpdir);
	errno = saved;
	return fd;
}
