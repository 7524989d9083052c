/*
 * fds.c: every file descriptor from a number up marked close-on-exec, so
 * that nothing tendd inherited leaks into its tasks. close_range does it
 * in one call since Linux 5.11; before, each fd listed in /proc/self/fd;
 * without /proc, each number up to the open-file limit.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tend.h"

/* The most numbers tried without /proc: the kernel's default nr_open. */
#define FDS_LIMIT_MAX (1 << 20)

static int
fds_by_range(int low)
{
	return close_range((unsigned)low, ~0U, CLOSE_RANGE_CLOEXEC);
}

static int
fds_by_proc(int low)
{
	DIR *dir = opendir("/proc/self/fd"); /* itself close-on-exec */
	struct dirent *de;
	char *end;
	long fd;

	if (dir == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		fd = strtol(de->d_name, &end, 10);
		if (end == de->d_name || *end != '\0' || fd < low ||
		    fd == dirfd(dir))
			continue;
		fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(dir);
	return 0;
}

/* Up to the soft limit: an fd above it can exist only if it was lowered. */
static int
fds_by_limit(int low)
{
	struct rlimit rl;
	rlim_t max = FDS_LIMIT_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < max)
		max = rl.rlim_cur;
	for (rlim_t fd = (rlim_t)low; fd < max; fd++)
		fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

/*
 * Mark every fd from low up close-on-exec: by way if it works, else by the
 * ways after it (the last always does). Returns the way that did.
 */
enum fds_way
fds_cloexec_from(int low, enum fds_way way)
{
	if (way <= FDS_RANGE && fds_by_range(low) == 0)
		return FDS_RANGE;
	if (way <= FDS_PROC && fds_by_proc(low) == 0)
		return FDS_PROC;
	fds_by_limit(low);
	return FDS_LIMIT;
}
