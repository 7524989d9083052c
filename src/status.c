/*
 * status.c: how tendctl shows a status answer: an aligned table for people,
 * or the JSON object of SPEC section 6 for programs. The daemon sends the
 * figures (proto.c); only their presentation is decided here.
 */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

/*
 * The length of the UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not one.
 */
static size_t
utf8_length(const unsigned char *p)
{
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */

	if (*p < 0x80)
		return 1;
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef) {
		n = 3;
		lo = *p == 0xe0 ? 0xa0 : 0x80;
		hi = *p == 0xed ? 0x9f : 0xbf;
	} else if (*p >= 0xf0 && *p <= 0xf4) {
		n = 4;
		lo = *p == 0xf0 ? 0x90 : 0x80;
		hi = *p == 0xf4 ? 0x8f : 0xbf;
	} else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * A JSON string literal for s, quotes included. Control bytes are
 * escaped; a byte that is not part of valid UTF-8 (a task's STATUS= may
 * hold any) becomes U+FFFD, so that the output is always valid JSON.
 */
char *
status_json_string(const char *s)
{
	struct buf b = {0};
	size_t n;

	buf_add(&b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p += n) {
		n = utf8_length(p);
		if (*p == '"' || *p == '\\')
			buf_addf(&b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_addf(&b, "\\u%04x", *p);
		else if (n == 0) {
			buf_add(&b, "\\ufffd", 6);
			n = 1;
		} else
			buf_add(&b, p, n);
	}
	buf_add(&b, "\"", 1);
	return b.data;
}

static const char *
skip_digits(const char *s)
{
	while (*s >= '0' && *s <= '9')
		s++;
	return s;
}

/* Whether s is a number as JSON writes them: -?(0|[1-9]d*)(.d+)?(e[+-]?d+)? */
static bool
json_is_number(const char *s)
{
	const char *p;

	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		s = skip_digits(s);
	else
		return false;
	if (*s == '.') {
		if ((p = skip_digits(s + 1)) == s + 1)
			return false;
		s = p;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if ((p = skip_digits(s)) == s)
			return false;
		s = p;
	}
	return *s == '\0';
}

/* A field as a JSON number, or null when absent or not a number. */
static void
json_number(FILE *fp, const struct proto_msg *m, const char *key)
{
	const char *v = proto_get(m, key);

	fputs(v != NULL && json_is_number(v) ? v : "null", fp);
}

static void
json_string_field(FILE *fp, const struct proto_msg *m, const char *key)
{
	const char *v = proto_get(m, key);
	char *s;

	if (v == NULL) {
		fputs("null", fp);
		return;
	}
	s = status_json_string(v);
	fputs(s, fp);
	free(s);
}

static void
json_last_exit(FILE *fp, const struct proto_msg *t)
{
	const char *sig = proto_get(t, "signal");

	if (sig != NULL) {
		fputs("{\"signal\": ", fp);
		json_string_field(fp, t, "signal");
		fprintf(fp, ", \"core\": %s}",
		        proto_get(t, "core") ? "true" : "false");
	} else if (proto_get(t, "code") != NULL) {
		fputs("{\"code\": ", fp);
		json_number(fp, t, "code");
		fputs("}", fp);
	} else
		fputs("null", fp);
}

static void
json_bool(FILE *fp, const struct proto_msg *m, const char *key)
{
	const char *v = proto_get(m, key);

	if (v != NULL && strcmp(v, "1") == 0)
		fputs("true", fp);
	else if (v != NULL && strcmp(v, "0") == 0)
		fputs("false", fp);
	else
		fputs("null", fp);
}

/* Every value of a repeated field, as an array of strings ([] for none). */
static void
json_strings(FILE *fp, const struct proto_msg *m, const char *key)
{
	const char *v;

	fputs("[", fp);
	for (int i = 0; (v = proto_get_nth(m, key, i)) != NULL; i++) {
		char *s = status_json_string(v);

		fprintf(fp, "%s%s", i ? ", " : "", s);
		free(s);
	}
	fputs("]", fp);
}

enum json_kind {
	JSON_NUMBER,
	JSON_STRING,
	JSON_BOOL,
	JSON_STRINGS,   /* a repeated field */
	JSON_LAST_EXIT, /* from code=, or signal= and core= */
};

/* One JSON member of an object, from a wire field. */
struct json_field {
	const char *json; /* the SPEC name */
	const char *wire; /* the field tendd sends */
	enum json_kind kind;
};

static const struct json_field daemon_fields[] = {
    {"pid", "pid", JSON_NUMBER},
    {"version", "version", JSON_STRING},
    {"manifest", "manifest", JSON_STRING},
    {"uptime_s", "uptime", JSON_NUMBER},
    {"log_dropped", "log_dropped", JSON_NUMBER},
    {"notify_dropped", "notify_dropped", JSON_NUMBER},
};

/* A task object, in SPEC section 6's order. */
static const struct json_field task_fields[] = {
    {"name", "name", JSON_STRING},
    {"class", "class", JSON_STRING},
    {"state", "state", JSON_STRING},
    {"pid", "pid", JSON_NUMBER},
    {"uptime_s", "uptime", JSON_NUMBER},
    {"restarts", "restarts", JSON_NUMBER},
    {"next_start_in_s", "next_start", JSON_NUMBER},
    {"last_exit", NULL, JSON_LAST_EXIT},
    {"active", "active", JSON_NUMBER},
    {"requests", "requests", JSON_NUMBER},
    {"failures", "failures", JSON_NUMBER},
    {"refused", "refused", JSON_NUMBER},
    {"ready", "ready", JSON_BOOL},
    {"waiting_for", "waiting_for", JSON_STRINGS},
    {"status_text", "status_text", JSON_STRING},
    {"health", "health", JSON_STRING},
    {"health_failures", "health_failures", JSON_NUMBER},
};

static void
json_object(FILE *fp, const struct proto_msg *m, const struct json_field *f,
            size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(fp, "%s\"%s\": ", i ? ", " : "{", f[i].json);
		switch (f[i].kind) {
		case JSON_LAST_EXIT:
			json_last_exit(fp, m);
			break;
		case JSON_STRING:
			json_string_field(fp, m, f[i].wire);
			break;
		case JSON_BOOL:
			json_bool(fp, m, f[i].wire);
			break;
		case JSON_STRINGS:
			json_strings(fp, m, f[i].wire);
			break;
		case JSON_NUMBER:
		default:
			json_number(fp, m, f[i].wire);
			break;
		}
	}
	fputs("}", fp);
}

static void
status_json(const struct proto_msg *d, const struct proto_msg *tasks, size_t n,
            FILE *fp)
{
	fputs("{\"daemon\": ", fp);
	json_object(fp, d, daemon_fields,
	            sizeof(daemon_fields) / sizeof(*daemon_fields));
	fputs(",\n \"tasks\": [", fp);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",\n  " : "", fp);
		json_object(fp, &tasks[i], task_fields,
		            sizeof(task_fields) / sizeof(*task_fields));
	}
	fputs("]}\n", fp);
}

/*
 * Seconds from an answer, in words; "-" for what is not a plain number
 * ("nan", "inf", "0x10") or is absurdly long (describe_duration refuses it).
 */
static char *
cell_duration(const char *v, char *buf, size_t size)
{
	if (v == NULL || !json_is_number(v))
		return strcpy(buf, "-");
	return describe_duration(strtod(v, NULL), buf, size);
}

/*
 * The STATE cell: the state, with the delay of a backoff ("backoff 4s"),
 * what a waiting task waits for ("waiting (for db, migrate)"), and a mark
 * while its health check fails ("running (health failing)").
 */
static char *
cell_state(const struct proto_msg *t)
{
	struct buf b = {0};
	const char *v = proto_get(t, "state");
	char dur[32];

	buf_addf(&b, "%s", v ? v : "-");
	if ((v = proto_get(t, "next_start")) != NULL)
		buf_addf(&b, " %s", cell_duration(v, dur, sizeof(dur)));
	for (int i = 0; (v = proto_get_nth(t, "waiting_for", i)) != NULL; i++)
		buf_addf(&b, "%s%s", i ? ", " : " (for ", v);
	if (proto_get(t, "waiting_for") != NULL)
		buf_add(&b, ")", 1);
	if ((v = proto_get(t, "health")) != NULL && strcmp(v, "failing") == 0)
		buf_addf(&b, " (health failing)");
	return b.data;
}

/* The text of one table cell. */
static char *
cell(const struct proto_msg *t, const char *column)
{
	const char *v;
	char dur[32];

	if (strcmp(column, "STATE") == 0)
		return cell_state(t);
	if (strcmp(column, "UPTIME") == 0)
		return xstrdup(
		    cell_duration(proto_get(t, "uptime"), dur, sizeof(dur)));
	if (strcmp(column, "LAST-EXIT") == 0) {
		if ((v = proto_get(t, "signal")) != NULL)
			return xasprintf("%s%s", v,
			                 proto_get(t, "core") ? " (core)" : "");
		v = proto_get(t, "code");
		return v ? xasprintf("exit %s", v) : xstrdup("-");
	}
	/* NAME CLASS STATE PID RESTARTS ACTIVE REQUESTS FAILURES */
	{
		char key[32];
		size_t i;
		for (i = 0; i < sizeof(key) - 1 && column[i]; i++)
			key[i] = (char)(column[i] >= 'A' && column[i] <= 'Z'
			                    ? column[i] - 'A' + 'a'
			                    : column[i]);
		key[i] = '\0';
		v = proto_get(t, key);
	}
	return xstrdup(v ? v : "-");
}

static void
table_row(FILE *fp, const char **texts, const size_t *width, int ncols)
{
	for (int c = 0; c < ncols - 1; c++)
		fprintf(fp, "%-*s  ", (int)width[c], texts[c]);
	fprintf(fp, "%s\n", texts[ncols - 1]);
}

/* One aligned table of the rows whose class matches (or not). */
static void
status_table(const struct proto_msg *tasks, size_t n, bool per_request,
             FILE *fp)
{
	static const char *durable_cols[] = {
	    "NAME", "CLASS", "STATE", "PID", "UPTIME", "RESTARTS", "LAST-EXIT"};
	static const char *request_cols[] = {"NAME",     "CLASS",    "STATE",
	                                     "ACTIVE",   "REQUESTS", "FAILURES",
	                                     "LAST-EXIT"};
	const char **cols = per_request ? request_cols : durable_cols;
	enum { NCOLS = 7 };
	size_t width[NCOLS], rows = 0;
	char **cells = xcalloc(n * NCOLS + 1, sizeof(char *));

	for (int c = 0; c < NCOLS; c++)
		width[c] = strlen(cols[c]);
	for (size_t i = 0; i < n; i++) {
		const char *class = proto_get(&tasks[i], "class");
		if (class == NULL ||
		    (strcmp(class, "per-request") == 0) != per_request)
			continue;
		for (int c = 0; c < NCOLS; c++) {
			char *s = cell(&tasks[i], cols[c]);
			cells[rows * NCOLS + (size_t)c] = s;
			if (strlen(s) > width[c])
				width[c] = strlen(s);
		}
		rows++;
	}
	if (rows > 0)
		table_row(fp, cols, width, NCOLS);
	for (size_t r = 0; r < rows; r++)
		table_row(fp, (const char **)cells + r * NCOLS, width, NCOLS);
	for (size_t i = 0; i < rows * NCOLS; i++)
		free(cells[i]);
	free(cells);
}

/* Print a status answer: JSON, or one table per kind of task. */
void
status_print(const struct proto_msg *d, const struct proto_msg *tasks, size_t n,
             bool json, FILE *fp)
{
	bool any_request = false, any_other = false;
	const char *v;

	if (json) {
		status_json(d, tasks, n, fp);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *class = proto_get(&tasks[i], "class");
		if (class && strcmp(class, "per-request") == 0)
			any_request = true;
		else
			any_other = true;
	}
	if (any_other)
		status_table(tasks, n, false, fp);
	if (any_other && any_request)
		fputc('\n', fp);
	if (any_request)
		status_table(tasks, n, true, fp);
	if ((v = proto_get(d, "log_dropped")) != NULL && strcmp(v, "0") != 0)
		fprintf(fp, "%stendd dropped %s log line%s\n",
		        any_other || any_request ? "\n" : "", v,
		        strcmp(v, "1") == 0 ? "" : "s");
}
