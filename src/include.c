/*
 * include.c: the files that "include = GLOB" keys name, in the order they
 * are read after the manifest: each glob's matches sorted, globs in the
 * order written, each file once (by device and inode, so a file reached
 * through two globs or a symlink, or the manifest itself, is read once).
 *
 * A glob that matches nothing is no error (an empty or missing conf.d is
 * normal); a directory the glob cannot read is one, since silently reading
 * fewer files would make a reload stop the tasks they define.
 */
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tend.h"

/* Start an empty list; main, when it can be stat'ed, is never included. */
void
include_init(struct include_files *inc, FILE *main)
{
	struct stat st;

	memset(inc, 0, sizeof(*inc));
	if (main != NULL && fileno(main) >= 0 &&
	    fstat(fileno(main), &st) == 0) {
		inc->has_main = true;
		inc->main_dev = st.st_dev;
		inc->main_ino = st.st_ino;
	}
}

/* Whether the file of st is the manifest or already listed. */
static bool
include_seen(const struct include_files *inc, const struct stat *st)
{
	if (inc->has_main && inc->main_dev == st->st_dev &&
	    inc->main_ino == st->st_ino)
		return true;
	for (size_t i = 0; i < inc->n; i++)
		if (inc->files[i].dev == st->st_dev &&
		    inc->files[i].ino == st->st_ino)
			return true;
	return false;
}

/*
 * The glob to expand: pattern itself when absolute, else pattern under the
 * directory of manifest, whose own glob characters are escaped. A
 * symlinked manifest counts from its target's directory, as tendd reloads
 * its real path: start and reload must read the same files.
 */
static char *
include_pattern(const char *pattern, const char *manifest)
{
	const char *slash;
	char *real = NULL;
	struct buf b = {0};
	struct stat st;

	if (pattern[0] == '/')
		return xstrdup(pattern);
	if (lstat(manifest, &st) == 0 && S_ISLNK(st.st_mode) &&
	    (real = realpath(manifest, NULL)) != NULL)
		manifest = real;
	if ((slash = strrchr(manifest, '/')) != NULL)
		for (const char *p = manifest; p <= slash; p++) {
			if (strchr("*?[]\\", *p) != NULL)
				buf_addf(&b, "\\");
			buf_addf(&b, "%c", *p);
		}
	buf_addf(&b, "%s", pattern);
	free(real);
	return b.data;
}

/*
 * glob(3)'s error callback has no argument of its own: the first directory
 * it could not read, and why, wait here until include_expand reports them.
 */
static char include_failed_dir[4096];
static int include_failed_errno;

static int
include_glob_error(const char *dir, int err)
{
	if (err == ENOENT || err == ENOTDIR)
		return 0; /* a directory that is not there matches nothing */
	if (include_failed_errno == 0) {
		snprintf(include_failed_dir, sizeof(include_failed_dir), "%s",
		         dir);
		include_failed_errno = err;
	}
	return 1;
}

/* Add one match, unless seen; -1 (reported) when it cannot be. */
static int
include_add(struct include_files *inc, const char *path, const char *file,
            int line, const char *pattern, struct diag *diag)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		diag_add(diag, file, line, "include = %s: %s: %s", pattern,
		         path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_add(diag, file, line,
		         "include = %s: %s is not a regular file", pattern,
		         path);
		return -1;
	}
	if (include_seen(inc, &st))
		return 0;
	if (inc->n == INCLUDE_FILES_MAX) {
		diag_add(diag, file, line,
		         "include = %s: more than %d included files", pattern,
		         INCLUDE_FILES_MAX);
		return -1;
	}
	inc->files = xreallocarray(inc->files, inc->n + 1, sizeof(*inc->files));
	inc->files[inc->n].path = xstrdup(path);
	inc->files[inc->n].dev = st.st_dev;
	inc->files[inc->n].ino = st.st_ino;
	inc->n++;
	return 0;
}

/*
 * Append the files that pattern, the value of an include key at
 * file:line of the manifest, matches. Returns 0, or -1 with the problems
 * in diag (the files found are kept).
 */
int
include_expand(struct include_files *inc, const char *pattern, const char *file,
               int line, struct diag *diag)
{
	char *full;
	glob_t g;
	int rc, ret = 0;

	if (*pattern == '\0') {
		diag_add(diag, file, line, "include = : needs a glob");
		return -1;
	}
	full = include_pattern(pattern, file);
	include_failed_errno = 0;
	rc = glob(full, 0, include_glob_error, &g);
	free(full);
	if (rc == GLOB_NOMATCH && strpbrk(pattern, "*?[") == NULL) {
		/* a plain path names one file, as in nginx: a typo shows */
		diag_add(diag, file, line, "include = %s: %s", pattern,
		         strerror(ENOENT));
		return -1;
	}
	if (rc == GLOB_NOMATCH)
		return 0;
	if (rc == GLOB_NOSPACE) {
		diag_add(diag, file, line, "include = %s: out of memory",
		         pattern);
		return -1;
	}
	if (rc == GLOB_ABORTED) {
		diag_add(diag, file, line, "include = %s: cannot read %s: %s",
		         pattern, include_failed_dir,
		         strerror(include_failed_errno ? include_failed_errno
		                                       : EIO));
		globfree(&g);
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (include_add(inc, g.gl_pathv[i], file, line, pattern,
		                diag) == -1) {
			ret = -1;
			if (inc->n == INCLUDE_FILES_MAX)
				break; /* reported once */
		}
	globfree(&g);
	return ret;
}

void
include_free(struct include_files *inc)
{
	for (size_t i = 0; i < inc->n; i++)
		free(inc->files[i].path);
	free(inc->files);
	memset(inc, 0, sizeof(*inc));
}
