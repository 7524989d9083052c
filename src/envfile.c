/*
 * envfile.c: the files of env_file, KEY=VALUE lines read at each spawn, as
 * systemd's EnvironmentFile reads them. The parser is pure and works in
 * place: every byte it writes replaces one it has read, so the entries
 * point into the file's own buffer. Reading happens in tendd, before the
 * fork, with tendd's privileges (a 0600 root file of secrets is fine).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tend.h"

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static char *
skip_blanks(char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

static void
envlist_push(struct envlist *l, char *entry)
{
	if (l->n + 1 >= l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = entry;
	l->v[l->n] = NULL;
}

void
envlist_free(struct envlist *l)
{
	free(l->v);
	*l = (struct envlist){0};
}

/* Parser state: where it reads, where it writes, which line it is on. */
struct cursor {
	char *r, *w;
	int line;
};

/*
 * '...': every byte as it is, newlines too. A quote left open at the end
 * of the file ends there, as systemd takes it.
 */
static void
parse_single(struct cursor *c)
{
	for (c->r++; *c->r != '\'' && *c->r != '\0'; *c->w++ = *c->r++)
		c->line += *c->r == '\n';
	if (*c->r == '\'')
		c->r++;
}

/* "...": \" \\ \$ \` stand for the byte, backslash-newline for nothing. */
static void
parse_double(struct cursor *c)
{
	for (c->r++; *c->r != '"' && *c->r != '\0';) {
		if (c->r[0] == '\\' && c->r[1] == '\n') {
			c->r += 2;
			c->line++;
		} else if (c->r[0] == '\\' && c->r[1] != '\0' &&
		           strchr("\"\\$`", c->r[1]) != NULL) {
			*c->w++ = c->r[1];
			c->r += 2;
		} else {
			c->line += *c->r == '\n';
			*c->w++ = *c->r++;
		}
	}
	if (*c->r == '"')
		c->r++;
}

/*
 * The value, from after '=' to the end of its line, as systemd reads it
 * (parse_env_file_internal): a quote opens a quoted part only where the
 * value starts or right after another quoted part, where blanks are
 * skipped ("x" "y" is xy); within an unquoted run a quote is a byte like
 * any other (it's, a"b"c). A backslash takes the next byte as it is, or
 * joins the next line; blanks after the last unquoted byte go.
 */
static void
parse_value(struct cursor *c)
{
	char *end = c->w; /* after the last byte that stays */
	bool quotes = true;

	while (*c->r != '\0' && *c->r != '\n') {
		if (quotes && is_blank(*c->r)) {
			c->r++;
			continue;
		}
		if (quotes && (*c->r == '\'' || *c->r == '"')) {
			if (*c->r == '\'')
				parse_single(c);
			else
				parse_double(c);
			end = c->w;
			continue;
		}
		quotes = false;
		if (c->r[0] == '\\' && c->r[1] == '\n') {
			c->r += 2;
			c->line++;
			continue;
		}
		if (c->r[0] == '\\' && c->r[1] != '\0') {
			*c->w++ = c->r[1];
			c->r += 2;
		} else if (is_blank(*c->r)) {
			*c->w++ = *c->r++;
			continue; /* kept only if something follows */
		} else
			*c->w++ = *c->r++;
		end = c->w;
	}
	if (*c->r == '\n') {
		c->r++;
		c->line++;
	}
	*end = '\0'; /* end <= w < r: the bytes still to read are intact */
}

/*
 * One assignment at c->r: [export ]KEY = VALUE. The entry, "KEY=VALUE",
 * is written from where KEY was read and added to out.
 */
static const char *
parse_assignment(struct cursor *c, struct envlist *out)
{
	char *key, *after;

	if (strncmp(c->r, "export", 6) == 0 && is_blank(c->r[6]))
		c->r = skip_blanks(c->r + 6);
	key = c->r;
	if (isdigit((unsigned char)*key))
		return "variable name starts with a digit";
	while (isalnum((unsigned char)*c->r) || *c->r == '_')
		c->r++;
	after = c->r;
	c->r = skip_blanks(c->r);
	if (after == key || *c->r != '=')
		return after == key || is_blank(*after) || *after == '\n' ||
		               *after == '\0'
		           ? "not KEY=VALUE"
		           : "variable name is not [A-Za-z_][A-Za-z0-9_]*";
	c->r = skip_blanks(c->r + 1);
	c->w = after;
	*c->w++ = '=';
	parse_value(c);
	envlist_push(out, key);
	return NULL;
}

/*
 * Parse text (NUL-terminated, changed in place) into out's entries, in
 * the file's order. Returns NULL, or why not with *line the line of the
 * assignment at fault; entries already added stay in out.
 */
const char *
envfile_parse(char *text, struct envlist *out, int *line)
{
	struct cursor c = {.r = text, .w = text, .line = 1};
	const char *why;

	for (;;) {
		c.r = skip_blanks(c.r);
		if (*c.r == '\0')
			return NULL;
		if (*c.r == '\n') {
			c.r++;
			c.line++;
			continue;
		}
		if (*c.r == '#' || *c.r == ';') {
			c.r += strcspn(c.r, "\n");
			continue;
		}
		*line = c.line;
		if ((why = parse_assignment(&c, out)) != NULL)
			return why;
	}
}

/*
 * Read path whole into *text (NUL-terminated, the caller's to free).
 * Returns 0, or -1 with errno set: EFBIG past ENVFILE_MAX, EINVAL for
 * what is not a regular file or holds a NUL byte.
 */
static int
envfile_read(const char *path, char **text)
{
	struct stat st;
	size_t len = 0, cap;
	ssize_t n = 0;
	char *buf;
	int fd, err = 0;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL;
	else if (st.st_size > ENVFILE_MAX)
		err = EFBIG;
	cap = err ? 0 : (size_t)st.st_size + 2;
	buf = err ? NULL : xmalloc(cap);
	/* Until EOF, growing if the file grew: one byte past the bound tells.
	 */
	while (err == 0 && len <= ENVFILE_MAX) {
		if (len + 1 == cap) {
			cap = 2 * cap > ENVFILE_MAX + 2 ? ENVFILE_MAX + 2
			                                : 2 * cap;
			buf = xreallocarray(buf, cap, 1);
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err = errno;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (err == 0 && len > ENVFILE_MAX)
		err = EFBIG;
	if (err == 0 && memchr(buf, '\0', len) != NULL)
		err = EINVAL;
	close(fd);
	if (err != 0) {
		free(buf);
		errno = err;
		return -1;
	}
	buf[len] = '\0';
	*text = buf;
	return 0;
}

/*
 * Load one env_file, "[-]PATH", adding its entries to out. *text is the
 * buffer they point into (the caller frees it once done with them), or
 * NULL. Returns NULL, or the failure in words (the caller frees it)
 * with errno set.
 */
char *
envfile_load(const char *spec, struct envlist *out, char **text)
{
	bool optional = spec[0] == '-';
	const char *path = spec + optional, *why;
	char *failed;
	int line = 0, err;

	*text = NULL;
	if (envfile_read(path, text) == -1) {
		err = errno;
		if (optional && err == ENOENT)
			return NULL;
		if (err == EFBIG)
			failed = xasprintf("cannot read env file %s: larger "
			                   "than 1 MiB",
			                   path);
		else if (err == EINVAL)
			failed = xasprintf("cannot read env file %s: not a "
			                   "regular text file",
			                   path);
		else
			failed = xasprintf("cannot read env file %s: %s", path,
			                   strerror(err));
		errno = err;
		return failed;
	}
	if ((why = envfile_parse(*text, out, &line)) == NULL)
		return NULL;
	failed = xasprintf("bad env file %s:%d: %s", path, line, why);
	errno = EINVAL;
	return failed;
}
