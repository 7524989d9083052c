/*
 * proto.c: the control protocol between tendctl and tendd, the one place
 * that knows the wire format. Both binaries link it.
 *
 * Every message is one line: a type word, then KEY=VALUE fields separated
 * by single spaces. Values are escaped (%XX for '%', blanks, '=', control
 * bytes), so any text fits on one line. A keyed field may repeat (task=).
 *
 *   client: request v=1 cmd=stop task=web task=api
 *   daemon: msg text=stopped%20web
 *           end code=0
 *
 * A request is one line of at most PROTO_LINE_MAX bytes; the daemon answers
 * with any number of lines and ends with "end code=N", N being tendctl's
 * exit status. Answer lines: "msg" (for stdout), "err" (an error, for
 * stderr), "problem" (a manifest's FILE:LINE: message, for stderr as it
 * is), "daemon" and "task" (status), "text" (data= bytes for stdout as
 * they are: metrics). See proto.h for the limits.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"

static const char *cmd_names[] = {
    [CMD_STATUS] = "status",   [CMD_START] = "start",
    [CMD_STOP] = "stop",       [CMD_RESTART] = "restart",
    [CMD_SIGNAL] = "signal",   [CMD_RUN] = "run",
    [CMD_RELOAD] = "reload",   [CMD_LOG] = "log",
    [CMD_METRICS] = "metrics", [CMD_SHUTDOWN] = "shutdown",
};

const char *
proto_cmd_name(enum proto_cmd cmd)
{
	return cmd_names[cmd];
}

int
proto_cmd_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(cmd_names) / sizeof(*cmd_names); i++)
		if (strcmp(name, cmd_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Whether the command changes state (only root and tendd's uid may). */
bool
proto_cmd_changes_state(enum proto_cmd cmd)
{
	return cmd != CMD_STATUS && cmd != CMD_LOG && cmd != CMD_METRICS;
}

/*
 * The default control socket (SPEC section 3): /run/tend.sock for root,
 * else $XDG_RUNTIME_DIR/tend.sock, or /run/user/UID/tend.sock without it.
 */
char *
proto_default_socket(void)
{
	const char *dir = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		return xstrdup("/run/tend.sock");
	if (dir != NULL && dir[0] == '/')
		return xasprintf("%s/tend.sock", dir);
	return xasprintf("/run/user/%u/tend.sock", (unsigned)geteuid());
}

/* Growable buffers. */

/* Room for n more bytes and the NUL. */
static void
buf_reserve(struct buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;

	if (b->len + n + 1 <= b->cap)
		return;
	while (cap < b->len + n + 1)
		cap *= 2;
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
}

void
buf_add(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_add(b, s, strlen(s));
	free(s);
}

/* Drop the first n bytes. */
void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Writing messages. */

static bool
proto_plain(unsigned char c)
{
	return c > ' ' && c != '%' && c != '=' && c != 0x7f;
}

void
proto_begin(struct buf *b, const char *type)
{
	buf_add(b, type, strlen(type));
}

/*
 * Add " key=value", the len bytes of value escaped (a NUL byte too), in
 * one pass: answers can be long.
 */
void
proto_add_bytes(struct buf *b, const char *key, const void *value, size_t vlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = value, *end = p + vlen;
	size_t klen = strlen(key);
	char *d;

	buf_reserve(b, klen + 2 + 3 * vlen);
	d = b->data + b->len;
	*d++ = ' ';
	memcpy(d, key, klen);
	d += klen;
	*d++ = '=';
	for (; p < end; p++) {
		if (proto_plain(*p)) {
			*d++ = (char)*p;
			continue;
		}
		*d++ = '%';
		*d++ = hex[*p >> 4];
		*d++ = hex[*p & 15];
	}
	*d = '\0';
	b->len = (size_t)(d - b->data);
}

/* Add " key=value" for a string. */
void
proto_add(struct buf *b, const char *key, const char *value)
{
	proto_add_bytes(b, key, value, strlen(value));
}

/* Add " key=S.mmm" for a time in seconds, to the millisecond. */
void
proto_add_seconds(struct buf *b, const char *key, double seconds)
{
	long long ms = seconds > 0 ? (long long)(seconds * 1000 + 0.5) : 0;
	char text[32], *p = text + sizeof(text);

	*--p = '\0';
	for (int i = 0; i < 3; i++, ms /= 10)
		*--p = (char)('0' + ms % 10);
	*--p = '.';
	do
		*--p = (char)('0' + ms % 10);
	while ((ms /= 10) != 0);
	proto_add(b, key, p);
}

/* Add " key=N" without printf: status answers carry thousands. */
void
proto_add_num(struct buf *b, const char *key, long long n)
{
	char digits[24], *p = digits + sizeof(digits);
	unsigned long long u =
	    n < 0 ? 0 - (unsigned long long)n : (unsigned long long)n;

	*--p = '\0';
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (n < 0)
		*--p = '-';
	proto_add(b, key, p);
}

void
proto_addf(struct buf *b, const char *key, const char *fmt, ...)
{
	char small[64], *heap = NULL;
	va_list ap;
	int n;

	/* Most values are numbers: no allocation for them. */
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		va_start(ap, fmt);
		heap = xvasprintf(fmt, ap);
		va_end(ap);
	}
	proto_add(b, key, heap ? heap : small);
	free(heap);
}

void
proto_end(struct buf *b)
{
	buf_add(b, "\n", 1);
}

/* Reading messages. */

static int
proto_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Unescape s in place; returns its length (it may hold NUL bytes), or -1
 * on a malformed escape.
 */
static ssize_t
proto_unescape(char *s)
{
	char *d = s, *start = s;

	for (; *s; s++) {
		if (*s != '%') {
			*d++ = *s;
			continue;
		}
		if (proto_hex(s[1]) < 0 || proto_hex(s[2]) < 0)
			return -1;
		*d++ = (char)(proto_hex(s[1]) * 16 + proto_hex(s[2]));
		s += 2;
	}
	*d = '\0';
	return d - start;
}

/*
 * Parse one line (without its newline) into m, which keeps a copy. Returns
 * NULL, or why the line is not a message.
 */
const char *
proto_parse(const char *line, size_t len, struct proto_msg *m)
{
	char *p, *word;
	size_t nspaces = 0;

	memset(m, 0, sizeof(*m));
	if (len == 0 || memchr(line, '\0', len) != NULL)
		return "empty line or NUL byte";
	for (size_t i = 0; i < len; i++)
		nspaces += line[i] == ' ';
	if (nspaces > PROTO_FIELDS_MAX)
		return "too many fields";
	m->fields = xcalloc(nspaces + 1, sizeof(*m->fields));
	m->storage = xmalloc(len + 1);
	memcpy(m->storage, line, len);
	m->storage[len] = '\0';
	p = m->storage;
	m->type = strsep(&p, " ");
	for (const char *t = m->type; *t; t++)
		if (!islower((unsigned char)*t))
			goto bad;
	if (*m->type == '\0')
		goto bad;
	while ((word = strsep(&p, " ")) != NULL) {
		char *eq = strchr(word, '=');
		ssize_t vlen;
		if (eq == NULL || eq == word)
			goto bad;
		*eq = '\0';
		if ((vlen = proto_unescape(eq + 1)) == -1)
			goto bad;
		m->fields[m->nfields].key = word;
		m->fields[m->nfields].len = (size_t)vlen;
		m->fields[m->nfields++].value = eq + 1;
	}
	return NULL;
bad:
	proto_msg_free(m);
	return "malformed message";
}

/* The value of the n-th field named key, or NULL. */
const char *
proto_get_nth(const struct proto_msg *m, const char *key, int n)
{
	for (int i = 0; i < m->nfields; i++)
		if (strcmp(m->fields[i].key, key) == 0 && n-- == 0)
			return m->fields[i].value;
	return NULL;
}

const char *
proto_get(const struct proto_msg *m, const char *key)
{
	return proto_get_nth(m, key, 0);
}

/*
 * The bytes of the first field named key and their number in *len (a NUL
 * byte among them too), or NULL.
 */
const char *
proto_get_bytes(const struct proto_msg *m, const char *key, size_t *len)
{
	for (int i = 0; i < m->nfields; i++)
		if (strcmp(m->fields[i].key, key) == 0) {
			*len = m->fields[i].len;
			return m->fields[i].value;
		}
	return NULL;
}

void
proto_msg_free(struct proto_msg *m)
{
	free(m->fields);
	free(m->storage);
	memset(m, 0, sizeof(*m));
}

/* Requests. */

void
proto_request_encode(struct buf *b, const struct proto_request *r)
{
	proto_begin(b, "request");
	proto_addf(b, "v", "%d", PROTO_VERSION);
	proto_add(b, "cmd", cmd_names[r->cmd]);
	for (int i = 0; i < r->ntasks; i++)
		proto_add(b, "task", r->tasks[i]);
	if (r->signal)
		proto_add(b, "signal", r->signal);
	if (r->json)
		proto_add(b, "json", "1");
	if (r->wait)
		proto_add(b, "wait", "1");
	if (r->dry_run)
		proto_add(b, "dry_run", "1");
	if (r->follow)
		proto_add(b, "follow", "1");
	if (r->lines)
		proto_addf(b, "lines", "%ld", r->lines);
	proto_end(b);
}

/* Whether s is 1 to max letters, digits or characters of extra. */
static bool
proto_word(const char *s, const char *extra, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

static bool
proto_flag(const struct proto_msg *m, const char *key)
{
	const char *v = proto_get(m, key);

	return v != NULL && strcmp(v, "1") == 0;
}

/*
 * Decode a parsed request; r points into m. Returns NULL, or what is wrong
 * with it (the daemon sends that back).
 */
const char *
proto_request_decode(const struct proto_msg *m, struct proto_request *r)
{
	const char *v = proto_get(m, "v"), *cmd = proto_get(m, "cmd"), *t;
	long lines = 0;
	int c;

	memset(r, 0, sizeof(*r));
	if (strcmp(m->type, "request") != 0)
		return "not a request";
	if (v == NULL || strcmp(v, PROTO_VERSION_STRING) != 0)
		return "unsupported protocol version (tendctl and tendd "
		       "differ)";
	if (cmd == NULL || (c = proto_cmd_parse(cmd)) < 0)
		return "unknown command";
	r->cmd = (enum proto_cmd)c;
	while ((t = proto_get_nth(m, "task", r->ntasks)) != NULL) {
		if (r->ntasks == PROTO_TASKS_MAX)
			return "too many tasks in one request";
		if (!proto_word(t, "_.-", PROTO_NAME_MAX))
			return "bad task name";
		r->tasks[r->ntasks++] = t;
	}
	r->signal = proto_get(m, "signal");
	if (r->signal && !proto_word(r->signal, "+", 16))
		return "bad signal name";
	r->json = proto_flag(m, "json");
	r->wait = proto_flag(m, "wait");
	r->dry_run = proto_flag(m, "dry_run");
	r->follow = proto_flag(m, "follow");
	if ((v = proto_get(m, "lines")) != NULL &&
	    value_count(v, 1, 1000000, &lines) != NULL)
		return "bad line count";
	r->lines = lines;
	return NULL;
}
