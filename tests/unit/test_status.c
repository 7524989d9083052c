/*
 * test_status.c: tendctl's rendering of a status answer (status.c): the
 * JSON object of SPEC section 6 and the aligned tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

#define NCOLS 7

/* A NULL-terminated list of keys and values. */
#define KV(...) ((const char *const[]){__VA_ARGS__})

/* A message as tendd sends it: type, then kv's keys and values. */
static void
wire_msg(struct proto_msg *m, const char *type, const char *const *kv)
{
	struct buf b = {0};
	const char *err;

	proto_begin(&b, type);
	for (; kv[0] != NULL; kv += 2)
		proto_add(&b, kv[0], kv[1]);
	proto_end(&b);
	err = proto_parse(b.data, b.len - 1, m);
	if (err != NULL)
		fail_msg("proto_parse(\"%s\"): %s", b.data, err);
	buf_free(&b);
}

static void
standard_daemon(struct proto_msg *d)
{
	wire_msg(d, "daemon",
	         KV("pid", "1234", "version", "0.1.0", "manifest",
	            "/etc/tend/tend.ini", "uptime", "12.500", "log_dropped",
	            "0", "notify_dropped", "0", NULL));
}

static void
free_msgs(struct proto_msg *d, struct proto_msg *tasks, size_t n)
{
	proto_msg_free(d);
	for (size_t i = 0; i < n; i++)
		proto_msg_free(&tasks[i]);
}

/* What status_print writes, as a string to free. */
static char *
render(const struct proto_msg *d, const struct proto_msg *tasks, size_t n,
       bool json)
{
	char *out = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&out, &size);

	assert_non_null(fp);
	status_print(d, tasks, n, json, fp);
	assert_int_equal(fclose(fp), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), size);
	return out;
}

/*
 * A small JSON reader (RFC 8259 grammar), enough to tell whether the output
 * is JSON at all; it appends "DEPTH:KEY " for every object member to keys.
 */
static const char *json_value(const char *, int, struct buf *);

static const char *
json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *
json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (;;) {
		unsigned char c = (unsigned char)*p++;

		if (c == '"')
			return p;
		if (c < 0x20)
			return NULL; /* a raw control byte, or the end */
		if (c != '\\')
			continue;
		c = (unsigned char)*p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++)
				if (!isxdigit((unsigned char)*p++))
					return NULL;
		} else if (c == '\0' || strchr("\"\\/bfnrt", c) == NULL)
			return NULL;
	}
}

static const char *
json_digits(const char *p)
{
	if (!isdigit((unsigned char)*p))
		return NULL;
	while (isdigit((unsigned char)*p))
		p++;
	return p;
}

static const char *
json_number_text(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if ((p = json_digits(p)) == NULL)
		return NULL;
	if (*p == '.' && (p = json_digits(p + 1)) == NULL)
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if ((p = json_digits(p)) == NULL)
			return NULL;
	}
	return p;
}

static const char *
json_members(const char *p, int depth, struct buf *keys, bool object)
{
	char close = object ? '}' : ']';

	p = json_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (object) {
			const char *key = p;

			if ((p = json_string(p)) == NULL)
				return NULL;
			buf_addf(keys, "%d:%.*s ", depth, (int)(p - key - 2),
			         key + 1);
			p = json_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		if ((p = json_value(p, depth, keys)) == NULL)
			return NULL;
		p = json_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = json_ws(p);
	}
}

static const char *
json_value(const char *p, int depth, struct buf *keys)
{
	p = json_ws(p);
	if (depth > 16)
		return NULL;
	switch (*p) {
	case '{':
		return json_members(p, depth + 1, keys, true);
	case '[':
		return json_members(p, depth + 1, keys, false);
	case '"':
		return json_string(p);
	case 't':
		return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
	case 'f':
		return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
	case 'n':
		return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
	default:
		return json_number_text(p);
	}
}

/* Fail unless s is one JSON value; returns its member keys (to free). */
static char *
json_check(const char *s)
{
	struct buf keys = {0};
	const char *end;

	buf_add(&keys, "", 0);
	end = json_value(s, 0, &keys);
	if (end == NULL || *json_ws(end) != '\0') {
		buf_free(&keys);
		fail_msg("not JSON: %s", s);
	}
	return keys.data;
}

static void
test_json_reader(void **state)
{
	static const char *good[] = {
	    "{}",
	    "[]",
	    "null",
	    "1",
	    "-0.5e+3",
	    "\"a\\u00e9\\n\"",
	    "{\"a\": [1, {\"b\": null}], \"c\": true}",
	};
	static const char *bad[] = {
	    "",        "{",    "{\"a\"}",    "[1,]",      "01",   "1.",
	    ".5",      "+1",   "inf",        "nan",       "0x10", "\"\x01\"",
	    "\"\\x\"", "\"ab", "{\"a\":1}x", "\"\\u12\"", "tru",
	};
	struct buf keys = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		free(json_check(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *end = json_value(bad[i], 0, &keys);

		if (end != NULL && *json_ws(end) == '\0')
			fail_msg("took \"%s\" for JSON", bad[i]);
	}
	buf_free(&keys);
}

/* The keys json_check reports for the daemon and n tasks of SPEC 6. */
static char *
spec_keys(const char **last_exit_keys, size_t n)
{
	struct buf b = {0};

	buf_addf(&b, "1:daemon 2:pid 2:version 2:manifest 2:uptime_s "
	             "2:log_dropped 2:notify_dropped "
	             "1:tasks ");
	for (size_t i = 0; i < n; i++) {
		buf_addf(&b,
		         "3:name 3:class 3:state 3:pid 3:uptime_s "
		         "3:restarts 3:next_start_in_s 3:last_exit %s"
		         "3:active 3:requests 3:failures 3:refused 3:ready "
		         "3:waiting_for 3:status_text 3:health "
		         "3:health_failures ",
		         last_exit_keys[i]);
	}
	return b.data;
}

/* Render tasks as JSON; check it is JSON of the SPEC shape and is want. */
static void
assert_json(const struct proto_msg *d, const struct proto_msg *tasks, size_t n,
            const char **last_exit_keys, const char *want)
{
	char *out = render(d, tasks, n, true);
	char *keys = json_check(out);
	char *want_keys = spec_keys(last_exit_keys, n);

	assert_string_equal(keys, want_keys);
	if (want != NULL)
		assert_string_equal(out, want);
	free(want_keys);
	free(keys);
	free(out);
}

/* The readiness members of a task row that has none of their fields. */
#define NO_READY                                                          \
	", \"ready\": null, \"waiting_for\": [], \"status_text\": null, " \
	"\"health\": null, \"health_failures\": null"

#define DAEMON_JSON                                                    \
	"{\"daemon\": {\"pid\": 1234, \"version\": \"0.1.0\", "        \
	"\"manifest\": \"/etc/tend/tend.ini\", \"uptime_s\": 12.500, " \
	"\"log_dropped\": 0, \"notify_dropped\": 0},\n \"tasks\": ["

static void
test_json_running_durable(void **state)
{
	struct proto_msg d, t[1];
	const char *le[] = {"4:code "};

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "web", "class", "durable", "state", "running",
	            "pid", "42", "uptime", "3.200", "restarts", "2", "code",
	            "1", "active", "0", "requests", "0", "failures", "0",
	            NULL));
	assert_json(
	    &d, t, 1, le,
	    DAEMON_JSON
	    "{\"name\": \"web\", \"class\": \"durable\", "
	    "\"state\": \"running\", \"pid\": 42, "
	    "\"uptime_s\": 3.200, \"restarts\": 2, "
	    "\"next_start_in_s\": null, "
	    "\"last_exit\": {\"code\": 1}, \"active\": 0, "
	    "\"requests\": 0, \"failures\": 0, \"refused\": null" NO_READY
	    "}]}\n");
	free_msgs(&d, t, 1);
}

static void
test_json_backoff_signal_core(void **state)
{
	struct proto_msg d, t[1];
	const char *le[] = {"4:signal 4:core "};

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "api", "class", "durable", "state", "backoff",
	            "restarts", "3", "next_start", "2.000", "signal", "SIGSEGV",
	            "signo", "11", "core", "1", "active", "0", "requests", "0",
	            "failures", "0", NULL));
	assert_json(
	    &d, t, 1, le,
	    DAEMON_JSON
	    "{\"name\": \"api\", \"class\": \"durable\", "
	    "\"state\": \"backoff\", \"pid\": null, "
	    "\"uptime_s\": null, \"restarts\": 3, "
	    "\"next_start_in_s\": 2.000, "
	    "\"last_exit\": {\"signal\": \"SIGSEGV\", "
	    "\"core\": true}, \"active\": 0, "
	    "\"requests\": 0, \"failures\": 0, \"refused\": null" NO_READY
	    "}]}\n");
	free_msgs(&d, t, 1);
}

static void
test_json_signal_without_core(void **state)
{
	struct proto_msg d, t[1];
	const char *le[] = {"4:signal 4:core "};

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "web", "class", "durable", "state", "stopped",
	            "restarts", "0", "signal", "SIGTERM", "signo", "15",
	            "active", "0", "requests", "0", "failures", "0", NULL));
	assert_json(
	    &d, t, 1, le,
	    DAEMON_JSON
	    "{\"name\": \"web\", \"class\": \"durable\", "
	    "\"state\": \"stopped\", \"pid\": null, "
	    "\"uptime_s\": null, \"restarts\": 0, "
	    "\"next_start_in_s\": null, "
	    "\"last_exit\": {\"signal\": \"SIGTERM\", "
	    "\"core\": false}, \"active\": 0, "
	    "\"requests\": 0, \"failures\": 0, \"refused\": null" NO_READY
	    "}]}\n");
	free_msgs(&d, t, 1);
}

static void
test_json_per_request_and_several(void **state)
{
	struct proto_msg d, t[3];
	const char *le[] = {"", "4:code ", "4:signal 4:core "};

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "echo", "class", "per-request", "state",
	            "listening", "restarts", "0", "active", "3", "requests",
	            "120", "failures", "4", NULL));
	wire_msg(&t[1], "task",
	         KV("name", "batch", "class", "log-only", "state", "done",
	            "restarts", "0", "code", "0", "active", "0", "requests",
	            "0", "failures", "0", NULL));
	wire_msg(&t[2], "task",
	         KV("name", "cgi", "class", "per-request", "state", "idle",
	            "restarts", "0", "signal", "unnamed", "signo", "40",
	            "active", "0", "requests", "7", "failures", "7", NULL));
	assert_json(
	    &d, t, 3, le,
	    DAEMON_JSON
	    "{\"name\": \"echo\", \"class\": \"per-request\", "
	    "\"state\": \"listening\", \"pid\": null, \"uptime_s\": null, "
	    "\"restarts\": 0, \"next_start_in_s\": null, \"last_exit\": null, "
	    "\"active\": 3, \"requests\": 120, \"failures\": 4, \"refused\": "
	    "null" NO_READY "},\n"
	    "  {\"name\": \"batch\", \"class\": \"log-only\", "
	    "\"state\": \"done\", \"pid\": null, \"uptime_s\": null, "
	    "\"restarts\": 0, \"next_start_in_s\": null, "
	    "\"last_exit\": {\"code\": 0}, "
	    "\"active\": 0, \"requests\": 0, \"failures\": 0, \"refused\": "
	    "null" NO_READY "},\n"
	    "  {\"name\": \"cgi\", \"class\": \"per-request\", "
	    "\"state\": \"idle\", \"pid\": null, \"uptime_s\": null, "
	    "\"restarts\": 0, \"next_start_in_s\": null, "
	    "\"last_exit\": {\"signal\": \"unnamed\", \"core\": false}, "
	    "\"active\": 0, \"requests\": 7, \"failures\": 7, \"refused\": "
	    "null" NO_READY "}]}\n");
	free_msgs(&d, t, 3);
}

static void
test_json_no_tasks(void **state)
{
	struct proto_msg d;

	(void)state;
	standard_daemon(&d);
	assert_json(&d, NULL, 0, NULL, DAEMON_JSON "]}\n");
	proto_msg_free(&d);
}

/* Fields tendd did not send are null, never left out. */
static void
test_json_missing_fields(void **state)
{
	struct proto_msg d = {0}, t[1];
	const char *le[] = {""};

	(void)state;
	/* No daemon line at all, as tendctl keeps it then. */
	wire_msg(&t[0], "task",
	         KV("name", "x", "class", "durable", "state", "stopped", NULL));
	assert_json(&d, t, 1, le,
	            "{\"daemon\": {\"pid\": null, \"version\": null, "
	            "\"manifest\": null, \"uptime_s\": null, "
	            "\"log_dropped\": null, \"notify_dropped\": null},\n"
	            " \"tasks\": [{\"name\": \"x\", \"class\": \"durable\", "
	            "\"state\": \"stopped\", \"pid\": null, "
	            "\"uptime_s\": null, \"restarts\": null, "
	            "\"next_start_in_s\": null, \"last_exit\": null, "
	            "\"active\": null, \"requests\": null, "
	            "\"failures\": null, \"refused\": null" NO_READY "}]}\n");
	free_msgs(&d, t, 1);

	/* Empty or non-numeric figures. */
	wire_msg(&d, "daemon",
	         KV("pid", "", "version", "", "manifest", "", "uptime", "soon",
	            NULL));
	assert_json(&d, NULL, 0, NULL,
	            "{\"daemon\": {\"pid\": null, \"version\": \"\", "
	            "\"manifest\": \"\", \"uptime_s\": null, "
	            "\"log_dropped\": null, \"notify_dropped\": null},\n"
	            " \"tasks\": []}\n");
	proto_msg_free(&d);
}

static void
test_json_escaping(void **state)
{
	struct proto_msg d, t[1];
	const char *le[] = {"4:code "};

	(void)state;
	wire_msg(&d, "daemon",
	         KV("pid", "1", "version", "0.1.0-\"rc\"\x01\x7f", "manifest",
	            "/srv/my \"tend\"\\conf\n\t\r.ini \xc3\xa9", "uptime",
	            "0.000", NULL));
	wire_msg(&t[0], "task",
	         KV("name", "a.b-c_d", "class", "durable", "state", "running",
	            "pid", "7", "uptime", "0.010", "restarts", "0", "code",
	            "-1", "active", "0", "requests", "0", "failures", "0",
	            NULL));
	assert_json(&d, t, 1, le,
	            "{\"daemon\": {\"pid\": 1, "
	            "\"version\": \"0.1.0-\\\"rc\\\"\\u0001\\u007f\", "
	            "\"manifest\": \"/srv/my \\\"tend\\\"\\\\conf\\u000a"
	            "\\u0009\\u000d.ini \xc3\xa9\", \"uptime_s\": 0.000, "
	            "\"log_dropped\": null, \"notify_dropped\": null},\n"
	            " \"tasks\": [{\"name\": \"a.b-c_d\", \"class\": "
	            "\"durable\", \"state\": \"running\", \"pid\": 7, "
	            "\"uptime_s\": 0.010, \"restarts\": 0, "
	            "\"next_start_in_s\": null, \"last_exit\": {\"code\": -1}, "
	            "\"active\": 0, \"requests\": 0, \"failures\": 0, "
	            "\"refused\": null" NO_READY "}]}\n");
	free_msgs(&d, t, 1);
}

/* The readiness members, each from its wire field, in SPEC order. */
static void
test_json_readiness(void **state)
{
	struct proto_msg d, t[4];
	const char *le[] = {"", "", "", "4:code "};

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "web", "class", "durable", "state", "starting",
	            "pid", "42", "uptime", "0.500", "restarts", "0", "active",
	            "0", "requests", "0", "failures", "0", "ready", "0",
	            "status_text", "loading 3/7", "health_failures", "0",
	            NULL));
	wire_msg(&t[1], "task",
	         KV("name", "app", "class", "durable", "state", "waiting",
	            "restarts", "0", "active", "0", "requests", "0", "failures",
	            "0", "ready", "0", "waiting_for", "db", "waiting_for",
	            "migrate", "health_failures", "0", NULL));
	wire_msg(&t[2], "task",
	         KV("name", "api", "class", "durable", "state", "running",
	            "pid", "43", "uptime", "60.000", "restarts", "0", "active",
	            "0", "requests", "0", "failures", "0", "ready", "1",
	            "health", "failing", "health_failures", "7", NULL));
	wire_msg(&t[3], "task",
	         KV("name", "migrate", "class", "log-only", "state", "waiting",
	            "restarts", "0", "code", "0", "active", "0", "requests",
	            "0", "failures", "0", "ready", "0", "waiting_for", "db",
	            "health_failures", "0", NULL));
	assert_json(
	    &d, t, 4, le,
	    DAEMON_JSON
	    "{\"name\": \"web\", \"class\": \"durable\", "
	    "\"state\": \"starting\", \"pid\": 42, \"uptime_s\": 0.500, "
	    "\"restarts\": 0, \"next_start_in_s\": null, \"last_exit\": null, "
	    "\"active\": 0, \"requests\": 0, \"failures\": 0, \"refused\": "
	    "null, "
	    "\"ready\": false, \"waiting_for\": [], "
	    "\"status_text\": \"loading 3/7\", \"health\": null, "
	    "\"health_failures\": 0},\n"
	    "  {\"name\": \"app\", \"class\": \"durable\", "
	    "\"state\": \"waiting\", \"pid\": null, \"uptime_s\": null, "
	    "\"restarts\": 0, \"next_start_in_s\": null, \"last_exit\": null, "
	    "\"active\": 0, \"requests\": 0, \"failures\": 0, \"refused\": "
	    "null, "
	    "\"ready\": false, \"waiting_for\": [\"db\", \"migrate\"], "
	    "\"status_text\": null, \"health\": null, "
	    "\"health_failures\": 0},\n"
	    "  {\"name\": \"api\", \"class\": \"durable\", "
	    "\"state\": \"running\", \"pid\": 43, \"uptime_s\": 60.000, "
	    "\"restarts\": 0, \"next_start_in_s\": null, \"last_exit\": null, "
	    "\"active\": 0, \"requests\": 0, \"failures\": 0, \"refused\": "
	    "null, "
	    "\"ready\": true, \"waiting_for\": [], \"status_text\": null, "
	    "\"health\": \"failing\", \"health_failures\": 7},\n"
	    "  {\"name\": \"migrate\", \"class\": \"log-only\", "
	    "\"state\": \"waiting\", \"pid\": null, \"uptime_s\": null, "
	    "\"restarts\": 0, \"next_start_in_s\": null, "
	    "\"last_exit\": {\"code\": 0}, "
	    "\"active\": 0, \"requests\": 0, \"failures\": 0, \"refused\": "
	    "null, "
	    "\"ready\": false, \"waiting_for\": [\"db\"], "
	    "\"status_text\": null, \"health\": null, "
	    "\"health_failures\": 0}]}\n");
	free_msgs(&d, t, 4);
}

/* ready: true for 1, false for 0, null for anything else. */
static void
test_json_ready_values(void **state)
{
	static const struct {
		const char *wire, *json;
	} cases[] = {
	    {"1", "true"}, {"0", "false"}, {"yes", "null"},
	    {"", "null"},  {"10", "null"}, {"true", "null"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct proto_msg d, t[1];
		char want[64], *out, *keys;

		standard_daemon(&d);
		wire_msg(&t[0], "task",
		         KV("name", "x", "class", "durable", "state", "running",
		            "ready", cases[i].wire, "health", "ok", NULL));
		out = render(&d, t, 1, true);
		keys = json_check(out);
		snprintf(want, sizeof(want), "\"ready\": %s, ", cases[i].json);
		if (strstr(out, want) == NULL)
			fail_msg("ready=%s: no %s in %s", cases[i].wire, want,
			         out);
		assert_non_null(strstr(out, "\"health\": \"ok\", "));
		free(keys);
		free(out);
		free_msgs(&d, t, 1);
	}
}

/*
 * A task's STATUS= text is its own bytes: quotes, backslashes, control
 * bytes, UTF-8 and bytes that are not UTF-8 all come out as valid JSON,
 * through the wire as tendd sends them.
 */
static void
test_json_status_text(void **state)
{
	static const struct {
		const char *text, *json;
	} cases[] = {
	    {"say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\""},
	    {"a\tb\nc\x01\x1b[0m\x7f", "\"a\\u0009b\\u000ac\\u0001\\u001b[0m"
	                               "\\u007f\""},
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
	    {"bad \xff\xc3 end", "\"bad \\ufffd\\ufffd end\""},
	    {"100% = done ", "\"100% = done \""},
	    {"", "\"\""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct proto_msg d, t[1];
		struct buf b = {0};
		char *out, *keys;

		standard_daemon(&d);
		proto_begin(&b, "task");
		proto_add(&b, "name", "n");
		proto_add(&b, "status_text", cases[i].text);
		proto_end(&b);
		assert_null(memchr(b.data, '\t', b.len));
		assert_ptr_equal(strchr(b.data, '\n'), b.data + b.len - 1);
		assert_null(proto_parse(b.data, b.len - 1, &t[0]));
		buf_free(&b);
		out = render(&d, t, 1, true);
		keys = json_check(out);
		buf_addf(&b, "\"status_text\": %s, \"health\"", cases[i].json);
		if (strstr(out, b.data) == NULL)
			fail_msg("case %zu: no %s in %s", i, b.data, out);
		buf_free(&b);
		free(keys);
		free(out);
		free_msgs(&d, t, 1);
	}
}

/*
 * json_number's contract: "a JSON number, or null when absent or not a
 * number". strtod() takes more than JSON does.
 */
static void
test_json_number_strict(void **state)
{
	static const char *not_json[] = {
	    "inf", "nan", "0x10", "+1", ".5", "1.", "007", "infinity",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(not_json) / sizeof(*not_json); i++) {
		struct proto_msg d;

		wire_msg(&d, "daemon",
		         KV("pid", not_json[i], "version", "v", "manifest", "m",
		            "uptime", "1", NULL));
		assert_json(
		    &d, NULL, 0, NULL,
		    "{\"daemon\": {\"pid\": null, \"version\": \"v\", "
		    "\"manifest\": \"m\", \"uptime_s\": 1, "
		    "\"log_dropped\": null, \"notify_dropped\": null},\n"
		    " \"tasks\": []}\n");
		proto_msg_free(&d);
	}
}

static void
assert_json_string(const char *in, const char *want)
{
	char *got = status_json_string(in);
	char *keys = json_check(got);

	assert_string_equal(got, want);
	free(keys);
	free(got);
}

static void
test_json_string(void **state)
{
	char all[128], *s, *keys;

	(void)state;
	assert_json_string("", "\"\"");
	assert_json_string("plain", "\"plain\"");
	assert_json_string("\"", "\"\\\"\"");
	assert_json_string("\\", "\"\\\\\"");
	assert_json_string("\\\"", "\"\\\\\\\"\"");
	assert_json_string("a\"b\\c", "\"a\\\"b\\\\c\"");
	assert_json_string("\n", "\"\\u000a\"");
	assert_json_string("\t\r\b\f", "\"\\u0009\\u000d\\u0008\\u000c\"");
	assert_json_string("\x01", "\"\\u0001\"");
	assert_json_string("\x1f", "\"\\u001f\"");
	assert_json_string("\x7f", "\"\\u007f\"");
	assert_json_string(" ", "\" \"");
	assert_json_string("/", "\"/\"");
	assert_json_string("'", "\"'\"");
	assert_json_string("caf\xc3\xa9 \xe2\x82\xac",
	                   "\"caf\xc3\xa9 \xe2\x82\xac\"");
	assert_json_string("\\u0041", "\"\\\\u0041\"");

	/* Not UTF-8: each byte that does not belong to a sequence. */
	assert_json_string("\xff", "\"\\ufffd\"");
	assert_json_string("\x80x", "\"\\ufffdx\"");
	assert_json_string("\xc3", "\"\\ufffd\"");            /* cut short */
	assert_json_string("\xc0\xaf", "\"\\ufffd\\ufffd\""); /* overlong */
	assert_json_string("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	assert_json_string("\xed\xa0\x80", /* a surrogate */
	                   "\"\\ufffd\\ufffd\\ufffd\"");
	assert_json_string("\xf4\x90\x80\x80", /* above U+10FFFF */
	                   "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	assert_json_string("\xe2\x82\"", "\"\\ufffd\\ufffd\\\"\"");
	assert_json_string("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");
	assert_json_string("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");

	/* Every ASCII character gives valid JSON. */
	for (int i = 1; i < 128; i++)
		all[i - 1] = (char)i;
	all[127] = '\0';
	s = status_json_string(all);
	keys = json_check(s);
	/* quotes, 32 control characters, '"' and '\\', 93 others */
	assert_int_equal(strlen(s), 2 + 32 * 6 + 2 * 2 + 93);
	free(keys);
	free(s);
}

/* Tables. */

/* The output split into lines (no newlines), NULL-terminated, to free. */
static char **
split_lines(char *out)
{
	size_t n = 0, len = strlen(out);
	char **lines = calloc(len + 2, sizeof(char *));

	assert_non_null(lines);
	assert_true(len == 0 || out[len - 1] == '\n');
	for (char *p = out; *p; n++) {
		char *nl = strchr(p, '\n');

		lines[n] = p;
		*nl = '\0';
		p = nl + 1;
	}
	lines[n] = NULL;
	return lines;
}

/*
 * Check that header is exactly the column names, each at its offset, and
 * that row has its cells at the same offsets, two spaces at least apart.
 */
static void
assert_row(const char *header, const char *row, const char *const *want)
{
	size_t off[NCOLS] = {0}, n = 0;

	for (size_t i = 0; header[i]; i++)
		if (header[i] != ' ' && (i == 0 || header[i - 1] == ' ')) {
			assert_true(n < NCOLS);
			off[n++] = i;
		}
	assert_int_equal(n, NCOLS);
	for (size_t c = 0; c < NCOLS; c++) {
		size_t end = c + 1 < NCOLS ? off[c + 1] : strlen(row);
		size_t len = strlen(want[c]);

		if (strlen(row) < end || end < off[c] || len > end - off[c] ||
		    strncmp(row + off[c], want[c], len) != 0)
			fail_msg("column %zu of \"%s\" is not \"%s\" at %zu "
			         "(header \"%s\")",
			         c, row, want[c], off[c], header);
		if (c + 1 < NCOLS) {
			/* The rest of the cell is padding. */
			assert_true(len + 2 <= end - off[c]);
			for (size_t i = off[c] + len; i < end; i++)
				if (row[i] != ' ')
					fail_msg("\"%s\": junk after cell %zu",
					         row, c);
		} else {
			assert_int_equal(len, end - off[c]);
		}
	}
}

static const char *const durable_header[] = {
    "NAME", "CLASS", "STATE", "PID", "UPTIME", "RESTARTS", "LAST-EXIT",
};
static const char *const request_header[] = {
    "NAME", "CLASS", "STATE", "ACTIVE", "REQUESTS", "FAILURES", "LAST-EXIT",
};

/* Check a whole table: header, then one row of want per task. */
static void
assert_table(char **lines, const char *const *header,
             const char *const (*want)[NCOLS], size_t nrows)
{
	assert_non_null(lines[0]);
	assert_row(lines[0], lines[0], header);
	for (size_t r = 0; r < nrows; r++) {
		assert_non_null(lines[1 + r]);
		assert_row(lines[0], lines[1 + r], want[r]);
	}
}

static void
test_table_exact(void **state)
{
	struct proto_msg d, t[5];
	char *out;

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "web", "class", "durable", "state", "running",
	            "pid", "42", "uptime", "192.000", "restarts", "2", "code",
	            "1", "active", "0", "requests", "0", "failures", "0",
	            NULL));
	wire_msg(&t[1], "task",
	         KV("name", "echo", "class", "per-request", "state",
	            "listening", "restarts", "0", "active", "3", "requests",
	            "120", "failures", "4", NULL));
	wire_msg(&t[2], "task",
	         KV("name", "api", "class", "durable", "state", "backoff",
	            "restarts", "3", "next_start", "2.000", "signal", "SIGSEGV",
	            "signo", "11", "core", "1", "active", "0", "requests", "0",
	            "failures", "0", NULL));
	wire_msg(&t[3], "task",
	         KV("name", "cgi", "class", "per-request", "state", "idle",
	            "restarts", "0", "signal", "SIGTERM", "signo", "15",
	            "active", "0", "requests", "0", "failures", "0", NULL));
	wire_msg(&t[4], "task",
	         KV("name", "batch", "class", "log-only", "state", "done",
	            "restarts", "0", "code", "0", "active", "0", "requests",
	            "0", "failures", "0", NULL));
	out = render(&d, t, 5, false);
	assert_string_equal(
	    out,
	    "NAME   CLASS     STATE         PID  UPTIME  RESTARTS  LAST-EXIT\n"
	    "web    durable   running       42   3m12s   2         exit 1\n"
	    "api    durable   backoff 2.0s  -    -       3         "
	    "SIGSEGV (core)\n"
	    "batch  log-only  done          -    -       0         exit 0\n"
	    "\n"
	    "NAME  CLASS        STATE      ACTIVE  REQUESTS  FAILURES  "
	    "LAST-EXIT\n"
	    "echo  per-request  listening  3       120       4         -\n"
	    "cgi   per-request  idle       0       0         0         "
	    "SIGTERM\n");
	free(out);
	free_msgs(&d, t, 5);
}

static void
test_table_two_tables(void **state)
{
	static const char *const durable[][NCOLS] = {
	    {"a-rather-long-task-name", "durable", "running", "123456", "1h01m",
	     "12345", "-"},
	    {"l", "log-only", "failed", "-", "-", "0", "exit 255"},
	};
	static const char *const request[][NCOLS] = {
	    {"p", "per-request", "listening", "100000", "9", "0", "-"},
	};
	struct proto_msg d, t[3];
	char *out, **lines;

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "p", "class", "per-request", "state", "listening",
	            "restarts", "0", "active", "100000", "requests", "9",
	            "failures", "0", NULL));
	wire_msg(&t[1], "task",
	         KV("name", "a-rather-long-task-name", "class", "durable",
	            "state", "running", "pid", "123456", "uptime", "3700.5",
	            "restarts", "12345", "active", "0", "requests", "0",
	            "failures", "0", NULL));
	wire_msg(&t[2], "task",
	         KV("name", "l", "class", "log-only", "state", "failed",
	            "restarts", "0", "code", "255", "active", "0", "requests",
	            "0", "failures", "0", NULL));
	out = render(&d, t, 3, false);
	lines = split_lines(out);
	assert_table(lines, durable_header, durable, 2);
	assert_string_equal(lines[3], "");
	assert_table(lines + 4, request_header, request, 1);
	assert_null(lines[6]);
	free(lines);
	free(out);
	free_msgs(&d, t, 3);
}

static void
test_table_durable_only(void **state)
{
	static const char *const want[][NCOLS] = {
	    {"web", "durable", "running", "42", "250ms", "0", "-"},
	    {"job", "log-only", "running", "43", "5.5s", "1", "exit 2"},
	    {"db", "durable", "stopping", "44", "1d01h", "0", "SIGKILL"},
	};
	struct proto_msg d, t[3];
	char *out, **lines;

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "web", "class", "durable", "state", "running",
	            "pid", "42", "uptime", "0.250", "restarts", "0", "active",
	            "0", "requests", "0", "failures", "0", NULL));
	wire_msg(&t[1], "task",
	         KV("name", "job", "class", "log-only", "state", "running",
	            "pid", "43", "uptime", "5.500", "restarts", "1", "code",
	            "2", "active", "0", "requests", "0", "failures", "0",
	            NULL));
	wire_msg(&t[2], "task",
	         KV("name", "db", "class", "durable", "state", "stopping",
	            "pid", "44", "uptime", "90061.000", "restarts", "0",
	            "signal", "SIGKILL", "signo", "9", "active", "0",
	            "requests", "0", "failures", "0", NULL));
	out = render(&d, t, 3, false);
	lines = split_lines(out);
	assert_string_equal(lines[0], "NAME  CLASS     STATE     PID  UPTIME  "
	                              "RESTARTS  LAST-EXIT");
	assert_table(lines, durable_header, want, 3);
	assert_null(lines[4]); /* no blank line, no second table */
	free(lines);
	free(out);
	free_msgs(&d, t, 3);
}

static void
test_table_per_request_only(void **state)
{
	static const char *const want[][NCOLS] = {
	    {"echo", "per-request", "listening", "3", "120", "4", "-"},
	    {"cgi", "per-request", "stopped", "0", "12", "1", "SIGABRT (core)"},
	};
	struct proto_msg d, t[2];
	char *out, **lines;

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "echo", "class", "per-request", "state",
	            "listening", "restarts", "0", "active", "3", "requests",
	            "120", "failures", "4", NULL));
	wire_msg(&t[1], "task",
	         KV("name", "cgi", "class", "per-request", "state", "stopped",
	            "restarts", "0", "signal", "SIGABRT", "signo", "6", "core",
	            "1", "active", "0", "requests", "12", "failures", "1",
	            NULL));
	out = render(&d, t, 2, false);
	lines = split_lines(out);
	assert_table(lines, request_header, want, 2);
	assert_null(lines[3]);
	free(lines);
	free(out);
	free_msgs(&d, t, 2);
}

/* Lines tendd dropped are told after the tables; none, nothing is said. */
static void
test_table_log_dropped(void **state)
{
	struct proto_msg d, t[1];
	char *out;

	(void)state;
	wire_msg(&d, "daemon",
	         KV("pid", "1", "version", "v", "manifest", "m", "uptime", "1",
	            "log_dropped", "17", NULL));
	wire_msg(&t[0], "task",
	         KV("name", "web", "class", "durable", "state", "running",
	            "pid", "42", "uptime", "1.000", "restarts", "0", NULL));
	out = render(&d, t, 1, false);
	assert_non_null(strstr(out, "web "));
	assert_string_equal(strstr(out, "\n\ntendd dropped"),
	                    "\n\ntendd dropped 17 log lines\n");
	free(out);
	free_msgs(&d, t, 1);

	standard_daemon(&d); /* log_dropped=0 */
	wire_msg(&t[0], "task",
	         KV("name", "web", "class", "durable", "state", "running",
	            "pid", "42", "uptime", "1.000", "restarts", "0", NULL));
	out = render(&d, t, 1, false);
	assert_null(strstr(out, "dropped"));
	free(out);
	free_msgs(&d, t, 1);
}

static void
test_table_backoff_and_durations(void **state)
{
	static const char *const want[][NCOLS] = {
	    {"a", "durable", "backoff 2.0s", "-", "-", "1", "exit 1"},
	    {"b", "durable", "backoff 3m12s", "-", "-", "9", "SIGSEGV (core)"},
	    {"c", "durable", "backoff 0ms", "-", "-", "2", "SIGSEGV"},
	    {"d", "durable", "running", "9", "59.9s", "0", "-"},
	    {"e", "durable", "running", "10", "1m00s", "0", "-"},
	};
	struct proto_msg d, t[5];
	char *out, **lines;

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "a", "class", "durable", "state", "backoff",
	            "restarts", "1", "next_start", "2.000", "code", "1",
	            "active", "0", "requests", "0", "failures", "0", NULL));
	wire_msg(&t[1], "task",
	         KV("name", "b", "class", "durable", "state", "backoff",
	            "restarts", "9", "next_start", "192.000", "signal",
	            "SIGSEGV", "signo", "11", "core", "1", "active", "0",
	            "requests", "0", "failures", "0", NULL));
	wire_msg(&t[2], "task",
	         KV("name", "c", "class", "durable", "state", "backoff",
	            "restarts", "2", "next_start", "0.000", "signal", "SIGSEGV",
	            "signo", "11", "active", "0", "requests", "0", "failures",
	            "0", NULL));
	wire_msg(&t[3], "task",
	         KV("name", "d", "class", "durable", "state", "running", "pid",
	            "9", "uptime", "59.900", "restarts", "0", "active", "0",
	            "requests", "0", "failures", "0", NULL));
	wire_msg(&t[4], "task",
	         KV("name", "e", "class", "durable", "state", "running", "pid",
	            "10", "uptime", "60.000", "restarts", "0", "active", "0",
	            "requests", "0", "failures", "0", NULL));
	out = render(&d, t, 5, false);
	lines = split_lines(out);
	assert_table(lines, durable_header, want, 5);
	assert_null(lines[6]);
	free(lines);
	free(out);
	free_msgs(&d, t, 5);
}

/*
 * Seconds in an answer that are no duration are shown as "-", never
 * converted to an integer (undefined for NaN, infinities and 1e300).
 */
/* STATE: starting, waiting on what, the health mark, backoff kept. */
static void
test_table_readiness_marks(void **state)
{
	static const char *const want[][NCOLS] = {
	    {"web", "durable", "starting", "42", "500ms", "0", "-"},
	    {"app", "durable", "waiting (for db, migrate)", "-", "-", "0", "-"},
	    {"one", "log-only", "waiting (for db)", "-", "-", "0", "-"},
	    {"bare", "durable", "waiting", "-", "-", "0", "-"},
	    {"api", "durable", "running (health failing)", "43", "1m00s", "0",
	     "-"},
	    {"ok", "durable", "running", "44", "1m00s", "0", "-"},
	    {"crash", "durable", "backoff 4.0s", "-", "-", "3", "exit 1"},
	};
	static const char *const want_request[][NCOLS] = {
	    {"cgi", "per-request", "waiting (for app)", "0", "0", "0", "-"},
	};
	struct proto_msg d, t[8];
	char *out, **lines;

	(void)state;
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", "web", "class", "durable", "state", "starting",
	            "pid", "42", "uptime", "0.500", "restarts", "0", "ready",
	            "0", "status_text", "loading", NULL));
	wire_msg(&t[1], "task",
	         KV("name", "app", "class", "durable", "state", "waiting",
	            "restarts", "0", "ready", "0", "waiting_for", "db",
	            "waiting_for", "migrate", NULL));
	wire_msg(&t[2], "task",
	         KV("name", "one", "class", "log-only", "state", "waiting",
	            "restarts", "0", "ready", "0", "waiting_for", "db", NULL));
	wire_msg(&t[3], "task",
	         KV("name", "bare", "class", "durable", "state", "waiting",
	            "restarts", "0", "ready", "0", NULL));
	wire_msg(&t[4], "task",
	         KV("name", "api", "class", "durable", "state", "running",
	            "pid", "43", "uptime", "60.000", "restarts", "0", "ready",
	            "1", "health", "failing", "health_failures", "2", NULL));
	wire_msg(&t[5], "task",
	         KV("name", "ok", "class", "durable", "state", "running", "pid",
	            "44", "uptime", "60.000", "restarts", "0", "ready", "1",
	            "health", "ok", "health_failures", "2", NULL));
	wire_msg(&t[6], "task",
	         KV("name", "crash", "class", "durable", "state", "backoff",
	            "restarts", "3", "next_start", "4.000", "code", "1",
	            "ready", "0", NULL));
	wire_msg(&t[7], "task",
	         KV("name", "cgi", "class", "per-request", "state", "waiting",
	            "restarts", "0", "active", "0", "requests", "0", "failures",
	            "0", "ready", "0", "waiting_for", "app", NULL));
	out = render(&d, t, 8, false);
	lines = split_lines(out);
	assert_table(lines, durable_header, want, 7);
	assert_string_equal(lines[8], "");
	assert_table(lines + 9, request_header, want_request, 1);
	assert_null(lines[11]);
	free(lines);
	free(out);
	free_msgs(&d, t, 8);
}

static void
test_table_bad_durations(void **state)
{
	static const char *const bad[] = {"nan",   "NaN",    "inf",  "-inf",
	                                  "1e300", "9.3e18", "0x10", "12s",
	                                  "",      "1e9999"};
	static const char *const want[][NCOLS] = {
	    {"a", "durable", "backoff -", "-", "-", "1", "-"},
	    {"b", "durable", "running", "9", "-", "0", "-"},
	};
	enum { NBAD = sizeof(bad) / sizeof(*bad) };

	(void)state;
	for (size_t i = 0; i < NBAD; i++) {
		struct proto_msg d, t[2];
		char *out, **lines;

		standard_daemon(&d);
		wire_msg(&t[0], "task",
		         KV("name", "a", "class", "durable", "state", "backoff",
		            "restarts", "1", "next_start", bad[i], "active",
		            "0", "requests", "0", "failures", "0", NULL));
		wire_msg(&t[1], "task",
		         KV("name", "b", "class", "durable", "state", "running",
		            "pid", "9", "uptime", bad[i], "restarts", "0",
		            "active", "0", "requests", "0", "failures", "0",
		            NULL));
		out = render(&d, t, 2, false);
		lines = split_lines(out);
		assert_table(lines, durable_header, want, 2);
		free(lines);
		free(out);
		free_msgs(&d, t, 2);
	}
}

/* The longest task name SPEC allows still lines up. */
static void
test_table_long_name(void **state)
{
	char name[TASK_NAME_MAX + 1];
	const char *want[1][NCOLS] = {
	    {name, "durable", "running", "2147483647", "3m12s",
	     "18446744073709551615", "exit 0"},
	};
	struct proto_msg d, t[2];
	char *out, **lines;

	(void)state;
	memset(name, 'x', TASK_NAME_MAX);
	name[TASK_NAME_MAX] = '\0';
	standard_daemon(&d);
	wire_msg(&t[0], "task",
	         KV("name", name, "class", "durable", "state", "running", "pid",
	            "2147483647", "uptime", "192.999", "restarts",
	            "18446744073709551615", "code", "0", "active", "0",
	            "requests", "0", "failures", "0", NULL));
	wire_msg(&t[1], "task",
	         KV("name", "short", "class", "per-request", "state", "idle",
	            "restarts", "0", "active", "0", "requests",
	            "18446744073709551615", "failures", "0", NULL));
	out = render(&d, t, 2, false);
	lines = split_lines(out);
	assert_table(lines, durable_header, (const char *const(*)[NCOLS])want,
	             1);
	assert_string_equal(lines[2], "");
	{
		static const char *const req[][NCOLS] = {
		    {"short", "per-request", "idle", "0",
		     "18446744073709551615", "0", "-"},
		};
		assert_table(lines + 3, request_header, req, 1);
	}
	free(lines);
	free(out);
	free_msgs(&d, t, 2);
}

static void
test_table_no_tasks(void **state)
{
	struct proto_msg d;
	char *out;

	(void)state;
	standard_daemon(&d);
	out = render(&d, NULL, 0, false);
	assert_string_equal(out, "");
	free(out);
	proto_msg_free(&d);
}

/* tendd's side (statusenc.c) to tendctl's (status.c), through the wire. */

static struct task *
make_task(const char *name, enum task_class class, enum task_state st)
{
	struct task_config *cfg = xcalloc(1, sizeof(*cfg));
	struct task *t;

	snprintf(cfg->name, sizeof(cfg->name), "%s", name);
	cfg->class = class;
	t = task_new(cfg);
	t->policy.state = st;
	return t;
}

/* statusenc_task's row of t, parsed as tendctl parses it. */
static void
encode_row(const struct task *t, struct proto_msg *m)
{
	struct buf b = {0};
	const char *err;

	statusenc_task(&b, t, 100.0);
	assert_true(b.len > 0 && b.data[b.len - 1] == '\n');
	assert_ptr_equal(strchr(b.data, '\n'), b.data + b.len - 1);
	err = proto_parse(b.data, b.len - 1, m);
	if (err != NULL)
		fail_msg("proto_parse: %s", err);
	buf_free(&b);
}

static void
test_round_trip_readiness(void **state)
{
	struct task *db = make_task("db", CLASS_DURABLE, STATE_STARTING);
	struct task *ok = make_task("seed", CLASS_LOG_ONLY, STATE_DONE);
	struct task *mig = make_task("migrate", CLASS_LOG_ONLY, STATE_RUNNING);
	struct task *app = make_task("app", CLASS_DURABLE, STATE_WAITING);
	struct task *api = make_task("api", CLASS_DURABLE, STATE_RUNNING);
	struct task *after[] = {db, ok, mig};
	struct run run = {.pid = 4242, .started = 40.0};
	struct proto_msg d, t[2];
	char *out;

	(void)state;
	app->after = after;
	app->nafter = 3;
	api->runs = &run;
	api->health = HEALTH_FAILING;
	api->health_failures = 3;
	api->status_text = xstrdup("up \"1\"\x01 caf\xc3\xa9 \xff");
	standard_daemon(&d);
	encode_row(app, &t[0]);
	encode_row(api, &t[1]);
	out = render(&d, t, 2, true);
	free(json_check(out));
	assert_non_null(strstr(
	    out, "{\"name\": \"app\", \"class\": \"durable\", \"state\": "
	         "\"waiting\", \"pid\": null, \"uptime_s\": null, "
	         "\"restarts\": 0, \"next_start_in_s\": null, "
	         "\"last_exit\": null, \"active\": 0, \"requests\": 0, "
	         "\"failures\": 0, \"refused\": 0, \"ready\": false, "
	         "\"waiting_for\": [\"db\", \"migrate\"], "
	         "\"status_text\": null, \"health\": null, "
	         "\"health_failures\": 0}"));
	assert_non_null(strstr(
	    out,
	    "{\"name\": \"api\", \"class\": \"durable\", \"state\": "
	    "\"running\", \"pid\": 4242, \"uptime_s\": 60.000, "
	    "\"restarts\": 0, \"next_start_in_s\": null, "
	    "\"last_exit\": null, \"active\": 0, \"requests\": 0, "
	    "\"failures\": 0, \"refused\": 0, \"ready\": true, "
	    "\"waiting_for\": [], "
	    "\"status_text\": \"up \\\"1\\\"\\u0001 caf\xc3\xa9 \\ufffd\", "
	    "\"health\": \"failing\", \"health_failures\": 3}"));
	free(out);

	/* The table: what app waits for, and api's mark. */
	out = render(&d, t, 2, false);
	assert_non_null(strstr(out, "  waiting (for db, migrate)  "));
	assert_non_null(strstr(out, "  running (health failing)  "));
	free(out);
	free_msgs(&d, t, 2);

	/* Not waiting: no waiting_for, whatever its after tasks are. */
	app->policy.state = STATE_STOPPED;
	encode_row(app, &t[0]);
	assert_null(proto_get(&t[0], "waiting_for"));
	assert_string_equal(proto_get(&t[0], "ready"), "0");
	assert_null(proto_get(&t[0], "health"));
	proto_msg_free(&t[0]);
	api->health = HEALTH_OK;
	encode_row(api, &t[0]);
	assert_string_equal(proto_get(&t[0], "health"), "ok");
	proto_msg_free(&t[0]);

	free(api->status_text);
	api->status_text = NULL;
	api->runs = NULL;
	app->after = NULL;
	app->nafter = 0;
	task_free(app);
	task_free(api);
	task_free(db);
	task_free(ok);
	task_free(mig);
}

/* A task after very many: its row stays one that tendctl can read. */
static void
test_round_trip_many_after(void **state)
{
	enum { N = 600 };
	struct task **after = xcalloc(N, sizeof(*after));
	struct task *app = make_task("app", CLASS_PER_REQUEST, STATE_WAITING);
	struct proto_msg m;
	char name[32];
	int n = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "dep-%d", i);
		after[i] = make_task(name, CLASS_DURABLE, STATE_STOPPED);
	}
	app->after = after;
	app->nafter = N;
	encode_row(app, &m);
	while (proto_get_nth(&m, "waiting_for", n) != NULL)
		n++;
	assert_int_equal(n, STATUSENC_WAITING_MAX);
	assert_string_equal(proto_get_nth(&m, "waiting_for", 0), "dep-0");
	proto_msg_free(&m);
	app->after = NULL;
	app->nafter = 0;
	task_free(app);
	for (int i = 0; i < N; i++)
		task_free(after[i]);
	free(after);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_reader),
	    cmocka_unit_test(test_json_running_durable),
	    cmocka_unit_test(test_json_backoff_signal_core),
	    cmocka_unit_test(test_json_signal_without_core),
	    cmocka_unit_test(test_json_per_request_and_several),
	    cmocka_unit_test(test_json_no_tasks),
	    cmocka_unit_test(test_json_missing_fields),
	    cmocka_unit_test(test_json_escaping),
	    cmocka_unit_test(test_json_readiness),
	    cmocka_unit_test(test_json_ready_values),
	    cmocka_unit_test(test_json_status_text),
	    cmocka_unit_test(test_json_number_strict),
	    cmocka_unit_test(test_json_string),
	    cmocka_unit_test(test_table_exact),
	    cmocka_unit_test(test_table_two_tables),
	    cmocka_unit_test(test_table_durable_only),
	    cmocka_unit_test(test_table_per_request_only),
	    cmocka_unit_test(test_table_backoff_and_durations),
	    cmocka_unit_test(test_table_bad_durations),
	    cmocka_unit_test(test_table_readiness_marks),
	    cmocka_unit_test(test_round_trip_readiness),
	    cmocka_unit_test(test_round_trip_many_after),
	    cmocka_unit_test(test_table_log_dropped),
	    cmocka_unit_test(test_table_long_name),
	    cmocka_unit_test(test_table_no_tasks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
