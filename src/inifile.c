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
 *  - it gives libinih at most a buffer's worth of a key line (from its
 *    first non-blank) and maps what libinih split back onto the whole line:
 *    the key is libinih's, the value starts after the '=' or ':' libinih
 *    found, and runs to the end of the whole line, so a value of any length
 *    (up to INIFILE_VALUE_MAX) is taken whole, never split or truncated;
 *  - a continuation line is handed over the same way, as " " and its text;
 *  - a line longer than INIFILE_VALUE_MAX is reported, and its value (or
 *    the value it continues) is marked lost (NULL), never used;
 *  - a key line for which libinih never calls the handler is one libinih
 *    rejected (no '=' or ':'), and is reported with its line;
 *  - a key with a blank inside is a line whose '=' is missing and that
 *    libinih split at a later ':', as in "listen tcp:1.2.3.4:80".
 *
 * Inline comments follow libinih's rule (a ';' after a blank), applied to
 * the whole line, except that in command a ';' inside quotes or after a
 * backslash is part of the value (as cmdline.c reads quotes); a comment
 * cut from a command or env value is noted (diag_note), so that
 * "-exec echo {} ;" is never cut silently. An indented line continues the
 * value of the key above it; we join the pieces with one space, up to
 * INIFILE_VALUE_MAX bytes: a longer value is refused, not truncated.
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

#define NOTE_SHOWN 60 /* bytes of a cut comment shown in a note */

/* Where a scan of a value stands among quotes, as cmdline.c reads them. */
enum quote {
	QUOTE_NONE,
	QUOTE_SINGLE,
	QUOTE_DOUBLE,
};

/*
 * Keys whose comments are noted: a ' ;' that ends a command or an env value
 * is more often a typo than a comment. In command, quotes and backslashes
 * also protect a ';' (sh -c 'a ; b'), as they do when it is split.
 */
static const struct value_rule {
	const char *key;
	bool quotes;
} value_rules[] = {
    {"command", true},
    {"env", false},
};

struct reader {
	FILE *fp;
	const char *filename;
	struct inifile *ini;
	struct diag *diag;
	char *buf; /* the current physical line, without its newline */
	size_t bufcap;
	const char *start; /* its first non-blank */
	const char *given; /* what libinih was given of it: its line buffer */
	size_t given_len;  /* bytes of it given */
	bool cut;          /* libinih was given only the start of it */
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
	const struct value_rule *rule; /* of its key, or NULL */
	enum quote quote;              /* at the end of its value so far */
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

	if (r->cut) {
		diag_add(r->diag, r->filename, r->lineno,
		         "expected KEY = VALUE, with the '=' within the first "
		         "%zu bytes",
		         r->given_len);
		return;
	}
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
 * Give libinih in str (num bytes) what it should see of the key or
 * continuation line in r: from its first non-blank, as much as fits.
 */
static void
inifile_give(struct reader *r, char *str, int num)
{
	size_t room = num > 3 ? (size_t)num - 3 : 0; /* for \r\n\0 */
	size_t at = 0, len = strlen(r->start);
	const char *from = r->start;

	if (r->kind == LINE_CONTINUATION && room > 0)
		str[at++] =
		    ' '; /* libinih knows a continuation by its indent */
	if (r->kind == LINE_KEY && len > room) {
		/*
		 * Blanks between the key and its '=' count for nothing:
		 * libinih gets the key, one blank and the '=' on, so that
		 * "key   ...   = value" is not cut before its '='.
		 */
		size_t sep = strcspn(r->start, "=:"), key = sep;
		while (key > 0 && inifile_blank(r->start[key - 1]))
			key--;
		if (r->start[sep] != '\0' && key < sep && key + 1 < room) {
			memcpy(str, r->start, key);
			str[key] = ' ';
			at = key + 1;
			from = r->start + sep;
			len = strlen(from);
		}
	}
	r->cut = len > room - at;
	if (r->cut)
		len = room - at;
	memcpy(str + at, from, len);
	memcpy(str + at + len, "\n", 2);
	r->given = str;
	r->given_len = at + len;
}

/*
 * Check that libinih handled the previous line, read the next one whole and
 * give libinih what it should see of it in str (num bytes).
 */
static char *
inifile_next(char *str, int num, void *stream)
{
	struct reader *r = stream;
	ssize_t len;
	char *line;

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
	r->handled = r->too_long = r->cut = false;
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
	r->start = line + strspn(line, " \t\r\f\v");
	r->kind = inifile_classify(r, line);
	if (len > INIFILE_VALUE_MAX) {
		r->too_long = true;
		diag_add(r->diag, r->filename, r->lineno,
		         "line too long (%zd bytes; at most %d, %d KiB)", len,
		         INIFILE_VALUE_MAX, INIFILE_VALUE_MAX / 1024);
	}

	switch (r->kind) {
	case LINE_BLANK:
	case LINE_COMMENT:
		strcpy(str, "\n");
		return str;
	case LINE_SECTION:
		inifile_section(r, line);
		if (r->too_long)
			r->section = SECTION_BROKEN;
		r->have_key = false;
		strcpy(str, "[s]\n");
		return str;
	case LINE_CONTINUATION:
		if (r->too_long) {
			if (r->last_entry >= 0) {
				free(r->ini->entries[r->last_entry].value);
				r->ini->entries[r->last_entry].value = NULL;
			}
			strcpy(str, "\n");
			return str;
		}
		break;
	case LINE_KEY:
		break;
	}
	inifile_give(r, str, num);
	return str;
}

/*
 * Where the comment in s starts (a ';' after a blank), or its end. With
 * quotes, a ';' inside quotes or after a backslash is no comment; *q is
 * where quotes stand at the start of s and at the end of what was scanned.
 */
static const char *
inifile_comment(const char *s, bool quotes, enum quote *q)
{
	bool after_blank = false;

	for (; *s; s++) {
		if (*q == QUOTE_NONE && *s == ';' && after_blank)
			return s;
		after_blank = false;
		if (!quotes) {
			after_blank = inifile_blank(*s);
			continue;
		}
		switch (*q) {
		case QUOTE_NONE:
			if (*s == '\\' && s[1] != '\0')
				s++;
			else if (*s == '\'')
				*q = QUOTE_SINGLE;
			else if (*s == '"')
				*q = QUOTE_DOUBLE;
			else
				after_blank = inifile_blank(*s);
			break;
		case QUOTE_SINGLE:
			if (*s == '\'')
				*q = QUOTE_NONE;
			break;
		case QUOTE_DOUBLE:
			if (*s == '\\' && s[1] != '\0' &&
			    strchr("\\\"$`", s[1]))
				s++;
			else if (*s == '"')
				*q = QUOTE_NONE;
			break;
		}
	}
	return s;
}

/* The rule for key, or NULL. */
static const struct value_rule *
inifile_rule(const char *key)
{
	for (size_t i = 0; i < sizeof(value_rules) / sizeof(*value_rules); i++)
		if (strcmp(key, value_rules[i].key) == 0)
			return &value_rules[i];
	return NULL;
}

/*
 * The length of text without its comment, if any, and trailing blanks; a
 * comment cut from the value of a key with a rule is noted.
 */
static size_t
inifile_cut(struct reader *r, const char *key, const char *text)
{
	const struct value_rule *rule = r->rule;
	const char *end =
	    inifile_comment(text, rule != NULL && rule->quotes, &r->quote);
	size_t shown;

	if (*end != '\0' && rule != NULL) {
		for (shown = strlen(end); inifile_blank(end[shown - 1]);)
			shown--;
		diag_note(r->diag, r->filename, r->lineno,
		          "%s: text after ' ;' is a comment, not part of the "
		          "value: '%.*s%s'%s",
		          key, (int)(shown > NOTE_SHOWN ? NOTE_SHOWN : shown),
		          end, shown > NOTE_SHOWN ? "..." : "",
		          rule->quotes ? " (to keep it, quote it or write \\;)"
		                       : "");
	}
	while (end > text && inifile_blank(end[-1]))
		end--;
	return (size_t)(end - text);
}

/*
 * The value of the key line libinih split at name: whatever follows the
 * '=' or ':' after name on the whole line, without its comment.
 */
static char *
inifile_value(struct reader *r, const char *name, const char *value)
{
	size_t at = (size_t)(name - r->given);
	const char *sep, *from;
	size_t len;
	char *v;

	if (name < r->given || at > strlen(r->start))
		return xstrdup(value); /* not in our line: cannot happen */
	for (sep = r->start + at + strlen(name); inifile_blank(*sep); sep++)
		;
	if (*sep != '=' && *sep != ':')
		return xstrdup(value);
	len = inifile_cut(r, name, sep + 1);
	for (from = sep + 1; from < sep + 1 + len && inifile_blank(*from);)
		from++;
	len -= (size_t)(from - (sep + 1));
	v = xmalloc(len + 1);
	memcpy(v, from, len);
	v[len] = '\0';
	return v;
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
inifile_continue(struct reader *r)
{
	const char *piece = r->start;
	struct ini_entry *e;
	const char *key;

	if (r->last_entry < 0 || r->ini->entries[r->last_entry].value == NULL)
		return;
	e = &r->ini->entries[r->last_entry];
	if ((key = inifile_indented_key(r, piece)) != NULL) {
		diag_add(
		    r->diag, r->filename, r->lineno,
		    "indented line continues the value of '%s'; to set '%s', "
		    "start the line in the first column",
		    e->key, key);
		free(e->value);
		e->value = NULL;
		return;
	}
	inifile_append(r, e, piece, inifile_cut(r, e->key, piece));
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
		inifile_continue(r);
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
	r->rule = inifile_rule(name);
	r->quote = QUOTE_NONE;
	e->value = r->too_long ? NULL : inifile_value(r, name, value);
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
