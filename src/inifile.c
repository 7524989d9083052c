/*
 * inifile.c: read an INI file through libinih, keeping what libinih loses.
 *
 * Debian's libinih gives its handler no line numbers, keeps only 49 bytes of
 * a section name, and reads lines through a 200-byte buffer that silently
 * splits a longer line in two. So libinih reads through our own reader
 * (ini_parse_stream), which sees each physical line whole first:
 *
 *  - it counts lines, so every entry and problem has its exact line;
 *  - it parses section headers itself, whole, and hands libinih "[s]" so
 *    that libinih still ends the previous key's continuation lines;
 *  - it blanks comment lines, whatever their length;
 *  - a key or continuation line too long for libinih's buffer is reported,
 *    and libinih sees only its "KEY =" part, so the key is known but its
 *    value is marked lost (NULL) and never used, never truncated;
 *  - a key line for which libinih never calls the handler is one libinih
 *    rejected (no '=' or ':'), and is reported with its line;
 *  - a key with a blank inside is a line whose '=' is missing and that
 *    libinih split at a later ':', as in "listen tcp:1.2.3.4:80".
 *
 * libinih still does what it is for: splitting KEY = VALUE, inline comments
 * (" ;"), and continuation lines (an indented line continues the value of
 * the key above it; we join the pieces with one space, up to
 * INIFILE_VALUE_MAX bytes: a longer value is refused, not truncated).
 */
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"

/*
 * Room for one more in an array of n: its size doubles at each power of
 * two, so that a manifest of 10,000 tasks is not copied 10,000 times.
 */
static void *
inifile_grow(void *array, size_t n, size_t size)
{
	if (n > 0 && (n & (n - 1)) != 0)
		return array; /* room up to the next power of two */
	return xreallocarray(array, n > 0 ? 2 * n : 1, size);
}

enum line_kind {
	LINE_BLANK,
	LINE_COMMENT,
	LINE_SECTION,
	LINE_KEY,
	LINE_CONTINUATION,
};

#define SECTION_BROKEN (-2) /* after a malformed header: drop its keys */

struct reader {
	FILE *fp;
	const char *filename;
	struct inifile *ini;
	struct diag *diag;
	char *buf; /* the current physical line, without its newline */
	size_t bufcap;
	int lineno;
	enum line_kind kind;
	bool too_long;           /* the current line's value is lost */
	bool handled;            /* libinih called the handler for it */
	const char *const *keys; /* known keys, to catch indented ones */
	int section;             /* current section, -1 before the first */
	bool have_key;    /* libinih's prev_name: a key since the header */
	long last_entry;  /* the entry continuation lines extend, or -1 */
	size_t value_len; /* of its value, which has room for value_cap */
	size_t value_cap;
};

static bool
inifile_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static enum line_kind
inifile_classify(const struct reader *r, const char *line)
{
	const char *start = line;

	while (inifile_blank(*start))
		start++;
	if (*start == '\0')
		return LINE_BLANK;
	if (*start == ';' || *start == '#')
		return LINE_COMMENT;
	if (start > line && r->have_key)
		return LINE_CONTINUATION;
	if (*start == '[')
		return LINE_SECTION;
	return LINE_KEY;
}

/* Record a "[name]" header, whole; only a comment may follow it. */
static void
inifile_section(struct reader *r, const char *line)
{
	struct inifile *ini = r->ini;
	const char *open = strchr(line, '['), *close = strchr(line, ']');
	const char *p;

	r->section = SECTION_BROKEN;
	if (close == NULL) {
		diag_add(r->diag, r->filename, r->lineno,
		         "section header has no closing ']'");
		return;
	}
	for (p = close + 1; inifile_blank(*p); p++)
		;
	if (*p != '\0' && *p != ';' && *p != '#') {
		diag_add(r->diag, r->filename, r->lineno,
		         "unexpected text after section header");
		return;
	}
	ini->sections =
	    inifile_grow(ini->sections, ini->nsections, sizeof(*ini->sections));
	ini->sections[ini->nsections].name =
	    strndup(open + 1, (size_t)(close - open - 1));
	if (ini->sections[ini->nsections].name == NULL)
		ini->sections[ini->nsections].name = xstrdup("");
	ini->sections[ini->nsections].line = r->lineno;
	ini->sections[ini->nsections].first_entry = ini->nentries;
	ini->sections[ini->nsections].nentries = 0;
	r->section = (int)ini->nsections++;
}

/*
 * Report the key line in r->buf that libinih rejected for having no '=' or
 * ':'; when it starts with a known key, say that the '=' is missing.
 */
static void
inifile_rejected(const struct reader *r)
{
	const char *line = r->buf;
	size_t len;

	if (r->lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3;
	len = strcspn(line, " \t\r\f\v");
	for (size_t i = 0; r->keys && r->keys[i]; i++)
		if (strlen(r->keys[i]) == len &&
		    strncmp(line, r->keys[i], len) == 0) {
			diag_add(r->diag, r->filename, r->lineno,
			         "missing '=' after '%s'", r->keys[i]);
			return;
		}
	diag_add(r->diag, r->filename, r->lineno,
	         "expected KEY = VALUE, a [section] or a comment");
}

/*
 * Check that libinih handled the previous line, read the next one whole and
 * give libinih what it should see of it in str (num bytes).
 */
static char *
inifile_next(char *str, int num, void *stream)
{
	struct reader *r = stream;
	size_t limit = num > 3 ? (size_t)num - 3 : 0; /* room for \r\n\0 */
	ssize_t len;
	char *line, *sep;

	if (r->kind == LINE_KEY && !r->handled && !r->too_long)
		inifile_rejected(r);
	len = getline(&r->buf, &r->bufcap, r->fp);
	if (len < 0) {
		if (ferror(r->fp))
			diag_add(r->diag, r->filename, 0, "cannot read: %s",
			         strerror(errno));
		r->kind = LINE_BLANK;
		return NULL;
	}
	r->lineno++;
	r->handled = r->too_long = false;
	line = r->buf;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (r->lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3, len -= 3;
	if (strlen(line) != (size_t)len) {
		diag_add(r->diag, r->filename, r->lineno,
		         "line contains a NUL byte");
		line[0] = '\0';
	}

	r->kind = inifile_classify(r, line);
	switch (r->kind) {
	case LINE_BLANK:
	case LINE_COMMENT:
		strcpy(str, "\n");
		return str;
	case LINE_SECTION:
		inifile_section(r, line);
		r->have_key = false;
		strcpy(str, "[s]\n");
		return str;
	case LINE_KEY:
	case LINE_CONTINUATION:
		break;
	}
	if ((size_t)len <= limit) {
		snprintf(str, (size_t)num, "%s\n", line);
		return str;
	}

	r->too_long = true;
	diag_add(
	    r->diag, r->filename, r->lineno,
	    "line too long (%zd bytes; libinih takes %zu): continue the value "
	    "on indented lines",
	    len, limit);
	if (r->kind == LINE_CONTINUATION) {
		if (r->last_entry >= 0) {
			free(r->ini->entries[r->last_entry].value);
			r->ini->entries[r->last_entry].value = NULL;
		}
		strcpy(str, "\n");
		return str;
	}
	/* Give libinih the key alone, so the key is still known. */
	sep = strpbrk(line, "=:");
	if (sep != NULL && (size_t)(sep - line) < limit)
		snprintf(str, (size_t)num, "%.*s\n", (int)(sep - line + 1),
		         line);
	else
		strcpy(str, "\n");
	return str;
}

/* Cut an inline comment (";" after a blank), as libinih does on key lines. */
static void
inifile_cut_comment(char *value)
{
	char *p, *end;

	for (p = value; *p; p++)
		if (*p == ';' && p > value && inifile_blank(p[-1])) {
			*p = '\0';
			break;
		}
	for (end = value + strlen(value);
	     end > value && inifile_blank(end[-1]);)
		*--end = '\0';
}

/*
 * Whether a continuation piece reads "KEY = ..." for a known KEY: an
 * indented key line, which libinih would silently fold into the value above.
 */
static const char *
inifile_indented_key(const struct reader *r, const char *piece)
{
	for (size_t i = 0; r->keys && r->keys[i]; i++) {
		size_t len = strlen(r->keys[i]);
		const char *p = piece + len;
		if (strncmp(piece, r->keys[i], len) != 0)
			continue;
		while (inifile_blank(*p))
			p++;
		if (*p == '=' || *p == ':')
			return r->keys[i];
	}
	return NULL;
}

/*
 * Append piece to the value of the entry continuation lines extend. The
 * value grows in place, its capacity doubling, so that joining n pieces
 * takes time linear in their length, not quadratic.
 */
static void
inifile_append(struct reader *r, struct ini_entry *e, const char *piece,
               size_t len)
{
	size_t need = r->value_len + (r->value_len ? 1 : 0) + len;

	if (need > INIFILE_VALUE_MAX) {
		diag_add(r->diag, r->filename, e->line,
		         "value of '%s' is longer than %d bytes (%d KiB), "
		         "past it at line %d",
		         e->key, INIFILE_VALUE_MAX, INIFILE_VALUE_MAX / 1024,
		         r->lineno);
		free(e->value); /* never kept truncated */
		e->value = NULL;
		return;
	}
	if (need + 1 > r->value_cap) {
		r->value_cap =
		    r->value_cap * 2 > need + 1 ? r->value_cap * 2 : need + 1;
		e->value = xreallocarray(e->value, r->value_cap, 1);
	}
	if (r->value_len)
		e->value[r->value_len++] = ' ';
	memcpy(e->value + r->value_len, piece, len);
	r->value_len += len;
	e->value[r->value_len] = '\0';
}

static void
inifile_continue(struct reader *r, const char *value)
{
	struct ini_entry *e;
	const char *key;
	char *piece;

	if (r->last_entry < 0 || r->ini->entries[r->last_entry].value == NULL)
		return;
	e = &r->ini->entries[r->last_entry];
	if ((key = inifile_indented_key(r, value)) != NULL) {
		diag_add(
		    r->diag, r->filename, r->lineno,
		    "indented line continues the value of '%s'; to set '%s', "
		    "start the line in the first column",
		    e->key, key);
		free(e->value);
		e->value = NULL;
		return;
	}
	piece = xstrdup(value);
	inifile_cut_comment(piece);
	inifile_append(r, e, piece, strlen(piece));
	free(piece);
}

static int
inifile_handler(void *user, const char *section, const char *name,
                const char *value)
{
	struct reader *r = user;
	struct inifile *ini = r->ini;
	struct ini_entry *e;

	(void)section; /* truncated by libinih; r->section is whole */
	r->handled = true;
	if (r->kind == LINE_CONTINUATION) {
		inifile_continue(r, value);
		return 1;
	}
	r->have_key = true;
	r->last_entry = -1;
	if (*name == '\0') {
		diag_add(r->diag, r->filename, r->lineno, "missing key name");
		return 1;
	}
	if (name[strcspn(name, " \t")] != '\0') {
		/* "listen tcp:1.2.3.4:80": libinih split at the ':' */
		diag_add(r->diag, r->filename, r->lineno,
		         "missing '=' after '%.*s'", (int)strcspn(name, " \t"),
		         name);
		return 1;
	}
	if (r->section == SECTION_BROKEN)
		return 1;
	ini->entries =
	    inifile_grow(ini->entries, ini->nentries, sizeof(*ini->entries));
	e = &ini->entries[ini->nentries];
	e->section = r->section;
	e->key = xstrdup(name);
	e->value = r->too_long ? NULL : xstrdup(value);
	r->value_len = e->value ? strlen(e->value) : 0;
	r->value_cap = r->value_len + 1;
	e->line = r->lineno;
	if (r->section >= 0)
		ini->sections[r->section].nentries++;
	r->last_entry = (long)ini->nentries++;
	return 1;
}

/*
 * Read fp into ini. keys (NULL-terminated, or NULL) are the key names an
 * indented line must not start with. Problems go to diag; returns 0 if there
 * were none here, else -1. ini is filled either way and must be freed.
 */
int
inifile_read(FILE *fp, const char *filename, const char *const *keys,
             struct inifile *ini, struct diag *diag)
{
	struct reader r = {
	    .fp = fp,
	    .keys = keys,
	    .filename = filename,
	    .ini = ini,
	    .diag = diag,
	    .kind = LINE_BLANK,
	    .section = -1,
	    .last_entry = -1,
	};
	size_t before = diag->count;
	int rc;

	memset(ini, 0, sizeof(*ini));
	rc = ini_parse_stream(inifile_next, &r, inifile_handler, &r);
	free(r.buf);
	if (rc == -2)
		diag_add(diag, filename, 0, "out of memory");
	else if (rc != 0 && diag->count == before)
		diag_add(diag, filename, rc, "cannot parse this line");
	return diag->count == before ? 0 : -1;
}

void
inifile_free(struct inifile *ini)
{
	for (size_t i = 0; i < ini->nsections; i++)
		free(ini->sections[i].name);
	for (size_t i = 0; i < ini->nentries; i++) {
		free(ini->entries[i].key);
		free(ini->entries[i].value);
	}
	free(ini->sections);
	free(ini->entries);
	memset(ini, 0, sizeof(*ini));
}
