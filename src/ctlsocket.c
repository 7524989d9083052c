/*
 * ctlsocket.c: claiming the control socket's path and making the socket.
 *
 * A lock file beside the socket (SOCKET.lock, flock) says which tendd owns
 * the path: two tendds starting at once cannot both replace a stale socket
 * and bind. The lock file stays when tendd exits: removing it would let a
 * third tendd lock a new file while a second holds the unlinked one.
 *
 * The socket file itself is sockfile.c's: made with its mode and group in
 * a private directory and renamed over the path, so a reload that makes it
 * again never leaves the path without one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

#define CTLSOCKET_BACKLOG 128

/* Lock path.lock for tendd's life; the lock fd, or -1 (logged). */
static int
ctlsocket_lock(const char *path)
{
	char *lock = xasprintf("%s.lock", path);
	struct stat st;
	int fd;

	fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		log_msg(LOG_ERR, "cannot open %s: %s", lock, strerror(errno));
		free(lock);
		return -1;
	}
	/* Another user's file could be held by them to keep tendd out. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		log_msg(LOG_ERR, "%s is not a regular file of ours", lock);
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			log_msg(LOG_ERR,
			        "another tendd is running on %s "
			        "(it holds %s)",
			        path, lock);
		else
			log_msg(LOG_ERR, "cannot lock %s: %s", lock,
			        strerror(errno));
		goto fail;
	}
	free(lock);
	return fd;
fail:
	close(fd);
	free(lock);
	return -1;
}

/*
 * Whether path may be taken: nobody answers on it (a tendd without the
 * lock, say an older one), and it is a socket or nothing. The probe does
 * not block: a server with a full backlog is as good as there.
 */
static int
ctlsocket_probe(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct stat st;
	int rc;

	if (fd == -1)
		return -1;
	strcpy(sun.sun_path, path); /* its length is checked */
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	if (rc == -1 && errno == EAGAIN)
		rc = 0; /* someone is there, only busy */
	close(fd);
	if (rc == 0) {
		log_msg(LOG_ERR, "another tendd is running on %s", path);
		return -1;
	}
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_msg(LOG_ERR, "%s exists and is not a socket", path);
		return -1;
	}
	return 0;
}

/*
 * A listening socket with m's mode and group, renamed over path; its
 * device and inode in s. Returns the fd, or -1 (errno set).
 */
static int
ctlsocket_make(struct ctlsocket *s, const char *path, const struct manifest *m)
{
	gid_t gid = m->has_socket_group ? m->socket_gid : getegid();
	struct stat st;
	int fd = sockfile_make(path, m->socket_mode, (uid_t)-1, gid,
	                       CTLSOCKET_BACKLOG, &st);

	if (fd != -1) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	return fd;
}

/*
 * Claim path and listen there with m's socket_mode and socket_group.
 * Returns 0 and fills s, or -1 (logged): another tendd owns the path, or
 * the socket cannot be made.
 */
int
ctlsocket_open(struct ctlsocket *s, const char *path, const struct manifest *m)
{
	struct sockaddr_un sun;
	struct ctlsocket n = {.fd = -1, .lock = -1};

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_msg(LOG_ERR, "control socket path too long: %s", path);
		return -1;
	}
	if ((n.lock = ctlsocket_lock(path)) == -1)
		return -1;
	if (ctlsocket_probe(path) == -1) {
		close(n.lock);
		return -1;
	}
	if ((n.fd = ctlsocket_make(&n, path, m)) == -1) {
		log_msg(LOG_ERR, "control socket %s: %s", path,
		        strerror(errno));
		close(n.lock);
		return -1;
	}
	n.path = xstrdup(path);
	*s = n;
	return 0;
}

/*
 * Make s's socket again with m's mode and group, in place: the new one
 * replaces the file at once. Returns the new listening fd (s's old one is
 * the caller's to drain and close), or -1 (logged).
 */
int
ctlsocket_remake(struct ctlsocket *s, const struct manifest *m)
{
	struct ctlsocket n = *s;
	int fd = ctlsocket_make(&n, s->path, m);

	if (fd == -1) {
		log_msg(LOG_ERR, "control socket %s: %s", s->path,
		        strerror(errno));
		return -1;
	}
	s->dev = n.dev;
	s->ino = n.ino;
	return fd;
}

/* Whether path names s's socket file, spelt otherwise maybe. */
bool
ctlsocket_is(const struct ctlsocket *s, const char *path)
{
	struct stat st;

	if (strcmp(path, s->path) == 0)
		return true;
	return stat(path, &st) == 0 && st.st_dev == s->dev &&
	       st.st_ino == s->ino;
}

/*
 * Stop listening, remove the socket file if it is still the one we made
 * (not what someone put in its place), and release the lock.
 */
void
ctlsocket_close(struct ctlsocket *s)
{
	struct stat st;

	if (s->fd != -1)
		close(s->fd);
	if (s->path && lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
	if (s->lock != -1)
		close(s->lock);
	free(s->path);
	*s = (struct ctlsocket){.fd = -1, .lock = -1};
}
