/*
 * test_proto.c: the control protocol codec (proto.c): buffers, messages,
 * requests and commands.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tend.h"

#define NCMDS (CMD_SHUTDOWN + 1)

/* Buffers. */

static void
assert_buf_invariants(const struct buf *b)
{
	assert_non_null(b->data);
	assert_true(b->cap >= b->len + 1);
	assert_int_equal(b->data[b->len], '\0');
}

static void
test_buf_add_grows(void **state)
{
	struct buf b = {0};
	char big[10000];

	(void)state;
	for (size_t i = 0; i < 1000; i++) {
		char c = (char)('a' + i % 26);

		buf_add(&b, &c, 1);
		assert_int_equal(b.len, i + 1);
		assert_buf_invariants(&b);
	}
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);

	memset(big, 'x', sizeof(big));
	buf_add(&b, big, sizeof(big));
	assert_int_equal(b.len, 1000 + sizeof(big));
	assert_buf_invariants(&b);
	assert_int_equal(b.data[999], 'a' + 999 % 26);
	assert_int_equal(b.data[1000], 'x');
	assert_int_equal(b.data[b.len - 1], 'x');
	buf_free(&b);
}

static void
test_buf_add_binary_and_empty(void **state)
{
	struct buf b = {0};

	(void)state;
	/* Adding nothing still yields a NUL-terminated empty string. */
	buf_add(&b, "", 0);
	assert_int_equal(b.len, 0);
	assert_buf_invariants(&b);
	assert_string_equal(b.data, "");

	/* NUL bytes are data like any other. */
	buf_add(&b, "a\0b", 3);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 4);
	assert_buf_invariants(&b);

	/* Exactly filling the first allocation. */
	buf_free(&b);
	for (int i = 0; i < 255; i++)
		buf_add(&b, "z", 1);
	assert_int_equal(b.len, 255);
	assert_buf_invariants(&b);
	buf_add(&b, "z", 1);
	assert_int_equal(b.len, 256);
	assert_buf_invariants(&b);
	buf_free(&b);
}

static void
test_buf_addf(void **state)
{
	struct buf b = {0};
	char want[1200];

	(void)state;
	buf_addf(&b, "%s=%d", "pid", 42);
	assert_string_equal(b.data, "pid=42");
	assert_int_equal(b.len, 6);
	buf_addf(&b, " %.3f %c%%", 1.5, 'x');
	assert_string_equal(b.data, "pid=42 1.500 x%");
	assert_int_equal(b.len, strlen("pid=42 1.500 x%"));
	buf_addf(&b, "%s", "");
	assert_int_equal(b.len, strlen("pid=42 1.500 x%"));
	assert_buf_invariants(&b);
	buf_free(&b);

	/* Longer than the first allocation. */
	memset(want, 'q', 1000);
	want[1000] = '\0';
	buf_addf(&b, "<%s>", want);
	assert_int_equal(b.len, 1002);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[1001], '>');
	assert_memory_equal(b.data + 1, want, 1000);
	assert_buf_invariants(&b);
	buf_free(&b);
}

static void
test_buf_consume(void **state)
{
	struct buf b = {0};

	(void)state;
	/* On a buffer that never held anything. */
	buf_consume(&b, 0);
	buf_consume(&b, 10);
	assert_null(b.data);
	assert_int_equal(b.len, 0);

	buf_add(&b, "hello world", 11);
	buf_consume(&b, 0);
	assert_string_equal(b.data, "hello world");
	assert_int_equal(b.len, 11);

	buf_consume(&b, 6);
	assert_string_equal(b.data, "world");
	assert_int_equal(b.len, 5);
	assert_buf_invariants(&b);

	buf_consume(&b, 4);
	assert_string_equal(b.data, "d");
	assert_int_equal(b.len, 1);

	/* All of it. */
	buf_consume(&b, 1);
	assert_string_equal(b.data, "");
	assert_int_equal(b.len, 0);
	assert_buf_invariants(&b);

	/* More than there is. */
	buf_add(&b, "abc", 3);
	buf_consume(&b, 100);
	assert_string_equal(b.data, "");
	assert_int_equal(b.len, 0);

	/* Still usable afterwards. */
	buf_add(&b, "line one\nline two\n", 18);
	buf_consume(&b, strlen("line one\n"));
	assert_string_equal(b.data, "line two\n");
	buf_addf(&b, "%s", "three");
	assert_string_equal(b.data, "line two\nthree");
	assert_buf_invariants(&b);
	buf_free(&b);
}

static void
test_buf_free(void **state)
{
	struct buf b = {0};

	(void)state;
	buf_free(&b); /* on an empty buffer */
	assert_null(b.data);

	buf_add(&b, "data", 4);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	buf_free(&b); /* twice */

	/* Reusable after a free. */
	buf_add(&b, "again", 5);
	assert_string_equal(b.data, "again");
	buf_free(&b);
}

/* Messages. */

/* Check that b holds one well-formed wire line; returns its length. */
static size_t
assert_one_line(const struct buf *b)
{
	assert_true(b->len > 0);
	assert_int_equal(b->data[b->len - 1], '\n');
	for (size_t i = 0; i + 1 < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];

		if (c < ' ' || c == 0x7f)
			fail_msg("raw byte 0x%02x at %zu in \"%s\"", c, i,
			         b->data);
	}
	return b->len - 1;
}

static void
parse_ok(const struct buf *b, struct proto_msg *m)
{
	const char *err = proto_parse(b->data, assert_one_line(b), m);

	if (err != NULL)
		fail_msg("proto_parse(\"%s\"): %s", b->data, err);
}

static void
assert_value_round_trip(const char *value)
{
	struct buf b = {0};
	struct proto_msg m;
	size_t spaces = 0;

	proto_begin(&b, "msg");
	proto_add(&b, "before", "1");
	proto_add(&b, "text", value);
	proto_add(&b, "after", "2");
	proto_end(&b);
	for (size_t i = 0; i < b.len; i++)
		spaces += b.data[i] == ' ';
	assert_int_equal(spaces, 3);
	parse_ok(&b, &m);
	assert_string_equal(m.type, "msg");
	assert_int_equal(m.nfields, 3);
	assert_string_equal(m.fields[0].key, "before");
	assert_string_equal(m.fields[1].key, "text");
	assert_string_equal(m.fields[2].key, "after");
	if (strcmp(proto_get(&m, "text"), value) != 0)
		fail_msg("\"%s\" came back as \"%s\"", value,
		         proto_get(&m, "text"));
	assert_string_equal(proto_get(&m, "before"), "1");
	assert_string_equal(proto_get(&m, "after"), "2");
	proto_msg_free(&m);
	buf_free(&b);
}

static void
test_round_trip_values(void **state)
{
	static const char *values[] = {
	    "plain",
	    "",
	    "two words",
	    "  leading and trailing  ",
	    "a=b",
	    "=",
	    "key=value=more",
	    "100%",
	    "%",
	    "%%",
	    "%20",
	    "%zz",
	    "line one\nline two\n",
	    "\r\n",
	    "tab\there",
	    "\t",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "\x80\xff\xfe",
	    "\x01\x1f\x7f",
	    "quote\" back\\slash",
	    "/etc/tend/tend.ini",
	};
	char all[256];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++)
		assert_value_round_trip(values[i]);

	/* Every byte but NUL. */
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	assert_value_round_trip(all);
}

static void
test_encoding_exact(void **state)
{
	struct buf b = {0};

	(void)state;
	proto_begin(&b, "msg");
	proto_add(&b, "text", "a b=c%d\n\t\x7f\xc3\xa9");
	proto_add(&b, "empty", "");
	proto_addf(&b, "code", "%d", 3);
	proto_end(&b);
	assert_string_equal(b.data, "msg text=a%20b%3Dc%25d%0A%09%7F\xc3\xa9"
	                            " empty= code=3\n");
	buf_free(&b);

	/* A message without fields. */
	proto_begin(&b, "end");
	proto_end(&b);
	assert_string_equal(b.data, "end\n");
	buf_free(&b);
}

static void
test_parse_fields(void **state)
{
	struct proto_msg m;
	const char *line = "end code=0";

	(void)state;
	assert_null(proto_parse("end", 3, &m));
	assert_string_equal(m.type, "end");
	assert_int_equal(m.nfields, 0);
	assert_null(proto_get(&m, "code"));
	proto_msg_free(&m);

	/* Lower-case escapes are read too. */
	assert_null(proto_parse("msg t=%2a%2A%c3%A9", 18, &m));
	assert_string_equal(proto_get(&m, "t"), "**\xc3\xa9");
	proto_msg_free(&m);

	/* Only len bytes are read; the message keeps its own copy. */
	assert_null(proto_parse(line, 9, &m));
	assert_string_equal(m.type, "end");
	assert_string_equal(proto_get(&m, "code"), "");
	assert_true(m.fields[0].value < line || m.fields[0].value > line + 10);
	proto_msg_free(&m);
	assert_null(m.type);
	assert_null(m.fields);
	assert_null(m.storage);
	assert_int_equal(m.nfields, 0);

	/* Keys are taken as they are; a value may itself hold '='. */
	assert_null(proto_parse("x a_b.c-D=1=2", 13, &m));
	assert_string_equal(proto_get(&m, "a_b.c-D"), "1=2");
	proto_msg_free(&m);
}

static void
test_repeated_keys(void **state)
{
	struct buf b = {0};
	struct proto_msg m;

	(void)state;
	proto_begin(&b, "request");
	proto_add(&b, "task", "web");
	proto_add(&b, "v", "1");
	proto_add(&b, "task", "api server");
	proto_add(&b, "task", "");
	proto_add(&b, "task", "db");
	proto_end(&b);
	parse_ok(&b, &m);
	assert_int_equal(m.nfields, 5);
	assert_string_equal(proto_get(&m, "task"), "web");
	assert_string_equal(proto_get_nth(&m, "task", 0), "web");
	assert_string_equal(proto_get_nth(&m, "task", 1), "api server");
	assert_string_equal(proto_get_nth(&m, "task", 2), "");
	assert_string_equal(proto_get_nth(&m, "task", 3), "db");
	assert_null(proto_get_nth(&m, "task", 4));
	assert_null(proto_get_nth(&m, "task", 100));
	assert_string_equal(proto_get_nth(&m, "v", 0), "1");
	assert_null(proto_get_nth(&m, "v", 1));
	assert_null(proto_get(&m, "missing"));
	assert_null(proto_get_nth(&m, "missing", 0));
	assert_null(proto_get(&m, "tas"));
	assert_null(proto_get(&m, "tasks"));
	proto_msg_free(&m);
	buf_free(&b);
}

static void
assert_parse_fails(const char *line, size_t len)
{
	struct proto_msg m;

	memset(&m, 0xa5, sizeof(m));
	if (proto_parse(line, len, &m) == NULL) {
		proto_msg_free(&m);
		fail_msg("proto_parse accepted \"%.*s\"", (int)len, line);
	}
	/* Nothing is kept, and freeing again is harmless. */
	assert_null(m.type);
	assert_null(m.fields);
	assert_null(m.storage);
	assert_int_equal(m.nfields, 0);
	proto_msg_free(&m);
}

#define PARSE_FAILS(s) assert_parse_fails(s, sizeof(s) - 1)

static void
test_parse_rejects(void **state)
{
	(void)state;
	/* empty */
	assert_parse_fails("", 0);
	assert_parse_fails("request", 0);
	/* a NUL byte inside */
	PARSE_FAILS("request\0 v=1");
	PARSE_FAILS("request v=1\0");
	PARSE_FAILS("\0");
	PARSE_FAILS("request v=a\0b");
	/* type */
	PARSE_FAILS("Request v=1");
	PARSE_FAILS("REQUEST");
	PARSE_FAILS("request2 v=1");
	PARSE_FAILS("2");
	PARSE_FAILS("re-quest");
	PARSE_FAILS("re_quest");
	PARSE_FAILS("type=x");
	PARSE_FAILS("\xc3\xa9t\xc3\xa9");
	PARSE_FAILS(" v=1");
	PARSE_FAILS(" ");
	/* a word without '=' */
	PARSE_FAILS("request v=1 cmd");
	PARSE_FAILS("request v");
	PARSE_FAILS("request v=1  cmd=status"); /* empty word */
	PARSE_FAILS("request v=1 ");            /* trailing space */
	PARSE_FAILS("request\tv=1");
	/* empty key */
	PARSE_FAILS("request =1");
	PARSE_FAILS("request v=1 =");
	PARSE_FAILS("request v=1 ==");
	/* bad escapes */
	PARSE_FAILS("msg text=%G1");
	PARSE_FAILS("msg text=%1G");
	PARSE_FAILS("msg text=%1");
	PARSE_FAILS("msg text=a%1");
	PARSE_FAILS("msg text=%");
	PARSE_FAILS("msg text=abc%");
	PARSE_FAILS("msg text=%% next=1");
	PARSE_FAILS("msg text=% 1");
	PARSE_FAILS("msg text=%-1");
	PARSE_FAILS("msg ok=%20 text=%2");
}

/* A message of type "m" with n fields "kI=I". */
static void
many_fields(struct buf *b, int n)
{
	proto_begin(b, "m");
	for (int i = 0; i < n; i++)
		proto_addf(b, "k", "%d", i);
}

static void
test_parse_field_limit(void **state)
{
	struct buf b = {0};
	struct proto_msg m;

	(void)state;
	many_fields(&b, PROTO_FIELDS_MAX - 1);
	assert_null(proto_parse(b.data, b.len, &m));
	assert_int_equal(m.nfields, PROTO_FIELDS_MAX - 1);
	assert_string_equal(proto_get_nth(&m, "k", PROTO_FIELDS_MAX - 2),
	                    "510");
	proto_msg_free(&m);
	buf_free(&b);

	many_fields(&b, PROTO_FIELDS_MAX + 1);
	assert_parse_fails(b.data, b.len);
	buf_free(&b);

	many_fields(&b, 4 * PROTO_FIELDS_MAX);
	assert_parse_fails(b.data, b.len);
	buf_free(&b);
}

/*
 * PROTO_FIELDS_MAX is "fields in one message": a message with exactly that
 * many fields is within the limit.
 */
static void
test_parse_field_limit_exact(void **state)
{
	struct buf b = {0};
	struct proto_msg m;

	(void)state;
	many_fields(&b, PROTO_FIELDS_MAX);
	assert_null(proto_parse(b.data, b.len, &m));
	assert_int_equal(m.nfields, PROTO_FIELDS_MAX);
	proto_msg_free(&m);
	buf_free(&b);
}

/* Commands. */

static void
test_cmd_names(void **state)
{
	static const struct {
		enum proto_cmd cmd;
		const char *name;
	} cmds[] = {
	    {CMD_STATUS, "status"},   {CMD_START, "start"},
	    {CMD_STOP, "stop"},       {CMD_RESTART, "restart"},
	    {CMD_SIGNAL, "signal"},   {CMD_RUN, "run"},
	    {CMD_RELOAD, "reload"},   {CMD_LOG, "log"},
	    {CMD_METRICS, "metrics"}, {CMD_SHUTDOWN, "shutdown"},
	};

	(void)state;
	assert_int_equal(sizeof(cmds) / sizeof(*cmds), NCMDS);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		assert_string_equal(proto_cmd_name(cmds[i].cmd), cmds[i].name);
		assert_int_equal(proto_cmd_parse(cmds[i].name), cmds[i].cmd);
	}
	for (int c = 0; c < NCMDS; c++)
		assert_int_equal(proto_cmd_parse(proto_cmd_name(c)), c);
}

static void
test_cmd_parse_rejects(void **state)
{
	static const char *bad[] = {
	    "",        "Status", "STATUS", "stat",    "statuss", " status",
	    "status ", "kill",   "help",   "dry-run", "0",       "status\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (proto_cmd_parse(bad[i]) != -1)
			fail_msg("proto_cmd_parse(\"%s\") = %d, want -1",
			         bad[i], proto_cmd_parse(bad[i]));
}

static void
test_cmd_changes_state(void **state)
{
	(void)state;
	assert_false(proto_cmd_changes_state(CMD_STATUS));
	assert_false(proto_cmd_changes_state(CMD_LOG));
	assert_false(proto_cmd_changes_state(CMD_METRICS));
	assert_true(proto_cmd_changes_state(CMD_START));
	assert_true(proto_cmd_changes_state(CMD_STOP));
	assert_true(proto_cmd_changes_state(CMD_RESTART));
	assert_true(proto_cmd_changes_state(CMD_SIGNAL));
	assert_true(proto_cmd_changes_state(CMD_RUN));
	assert_true(proto_cmd_changes_state(CMD_RELOAD));
	assert_true(proto_cmd_changes_state(CMD_SHUTDOWN));
}

/* Requests. */

/*
 * Encode r, check the line is well formed (and equals want, if given),
 * parse and decode it into out, which points into m.
 */
static void
request_through(const struct proto_request *r, const char *want,
                struct proto_msg *m, struct proto_request *out)
{
	struct buf b = {0};
	const char *err;

	proto_request_encode(&b, r);
	if (want != NULL)
		assert_string_equal(b.data, want);
	assert_true(b.len <= PROTO_LINE_MAX);
	parse_ok(&b, m);
	buf_free(&b);
	assert_string_equal(m->type, "request");
	assert_string_equal(proto_get(m, "v"), PROTO_VERSION_STRING);
	memset(out, 0xa5, sizeof(*out));
	err = proto_request_decode(m, out);
	if (err != NULL)
		fail_msg("proto_request_decode: %s", err);
}

static void
assert_request_equal(const struct proto_request *got,
                     const struct proto_request *want)
{
	assert_int_equal(got->cmd, want->cmd);
	assert_int_equal(got->ntasks, want->ntasks);
	for (int i = 0; i < want->ntasks; i++)
		assert_string_equal(got->tasks[i], want->tasks[i]);
	if (want->signal == NULL)
		assert_null(got->signal);
	else
		assert_string_equal(got->signal, want->signal);
	assert_int_equal(got->json, want->json);
	assert_int_equal(got->wait, want->wait);
	assert_int_equal(got->dry_run, want->dry_run);
	assert_int_equal(got->follow, want->follow);
	assert_int_equal(got->lines, want->lines);
}

static void
test_request_every_cmd(void **state)
{
	(void)state;
	for (int c = 0; c < NCMDS; c++) {
		struct proto_request r = {.cmd = c}, got;
		struct proto_msg m;
		char want[64];

		snprintf(want, sizeof(want), "request v=1 cmd=%s\n",
		         proto_cmd_name(c));
		request_through(&r, want, &m, &got);
		assert_request_equal(&got, &r);
		proto_msg_free(&m);
	}
}

static void
test_request_flags(void **state)
{
	static const struct {
		struct proto_request r;
		const char *line;
	} cases[] = {
	    {{.cmd = CMD_STATUS, .json = true},
	     "request v=1 cmd=status json=1\n"},
	    {{.cmd = CMD_STATUS,
	      .ntasks = 2,
	      .tasks = {"web", "api"},
	      .json = true},
	     "request v=1 cmd=status task=web task=api json=1\n"},
	    {{.cmd = CMD_RUN, .ntasks = 1, .tasks = {"job"}, .wait = true},
	     "request v=1 cmd=run task=job wait=1\n"},
	    {{.cmd = CMD_RELOAD, .dry_run = true},
	     "request v=1 cmd=reload dry_run=1\n"},
	    {{.cmd = CMD_LOG, .ntasks = 1, .tasks = {"web"}, .follow = true},
	     "request v=1 cmd=log task=web follow=1\n"},
	    {{.cmd = CMD_LOG, .ntasks = 1, .tasks = {"web"}, .lines = 50},
	     "request v=1 cmd=log task=web lines=50\n"},
	    {{.cmd = CMD_LOG, .ntasks = 1, .tasks = {"web"}, .lines = 1},
	     "request v=1 cmd=log task=web lines=1\n"},
	    {{.cmd = CMD_LOG,
	      .ntasks = 1,
	      .tasks = {"web"},
	      .follow = true,
	      .lines = 1000000},
	     "request v=1 cmd=log task=web follow=1 lines=1000000\n"},
	    {{.cmd = CMD_SIGNAL,
	      .ntasks = 1,
	      .tasks = {"web"},
	      .signal = "HUP"},
	     "request v=1 cmd=signal task=web signal=HUP\n"},
	    {{.cmd = CMD_SIGNAL,
	      .ntasks = 3,
	      .tasks = {"a", "b.c", "D_e-9"},
	      .signal = "SIGUSR1"},
	     "request v=1 cmd=signal task=a task=b.c task=D_e-9 "
	     "signal=SIGUSR1\n"},
	    {{.cmd = CMD_SIGNAL, .ntasks = 1, .tasks = {"web"}, .signal = "15"},
	     "request v=1 cmd=signal task=web signal=15\n"},
	    {{.cmd = CMD_SIGNAL,
	      .ntasks = 1,
	      .tasks = {"web"},
	      .signal = "RTMIN+3"},
	     "request v=1 cmd=signal task=web signal=RTMIN+3\n"},
	    {{.cmd = CMD_STOP, .ntasks = 4, .tasks = {"w1", "w2", "w3", "w4"}},
	     "request v=1 cmd=stop task=w1 task=w2 task=w3 task=w4\n"},
	    {{.cmd = CMD_STATUS,
	      .ntasks = 1,
	      .tasks = {"x"},
	      .signal = "TERM",
	      .json = true,
	      .wait = true,
	      .dry_run = true,
	      .follow = true,
	      .lines = 7},
	     "request v=1 cmd=status task=x signal=TERM json=1 wait=1 "
	     "dry_run=1 follow=1 lines=7\n"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct proto_request got;
		struct proto_msg m;

		request_through(&cases[i].r, cases[i].line, &m, &got);
		assert_request_equal(&got, &cases[i].r);
		proto_msg_free(&m);
	}
}

/* The names the daemon checks: [A-Za-z0-9_.-]{1,64}. */
static void
test_request_task_names(void **state)
{
	struct proto_request r = {.cmd = CMD_START}, got;
	struct proto_msg m;
	char longest[PROTO_NAME_MAX + 1];

	(void)state;
	memset(longest, 'n', PROTO_NAME_MAX);
	longest[PROTO_NAME_MAX] = '\0';
	r.tasks[0] = longest;
	r.tasks[1] = "ABCxyz0189_.-";
	r.tasks[2] = "-";
	r.tasks[3] = "x";
	r.ntasks = 4;
	request_through(&r, NULL, &m, &got);
	assert_request_equal(&got, &r);
	proto_msg_free(&m);
}

static void
test_request_most_tasks(void **state)
{
	static char names[PROTO_TASKS_MAX][8];
	struct proto_request r = {.cmd = CMD_RESTART}, got;
	struct proto_msg m;

	(void)state;
	for (int i = 0; i < PROTO_TASKS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "t%d", i);
		r.tasks[i] = names[i];
	}
	r.ntasks = PROTO_TASKS_MAX;
	request_through(&r, NULL, &m, &got);
	assert_request_equal(&got, &r);
	proto_msg_free(&m);
}

static void
test_request_flag_values(void **state)
{
	struct proto_request r;
	struct proto_msg m;
	const char *line = "request v=1 cmd=status json=0 wait=yes dry_run= "
	                   "follow=1";

	(void)state;
	/* Only "1" sets a flag. */
	assert_null(proto_parse(line, strlen(line), &m));
	assert_null(proto_request_decode(&m, &r));
	assert_false(r.json);
	assert_false(r.wait);
	assert_false(r.dry_run);
	assert_true(r.follow);
	assert_int_equal(r.lines, 0);
	assert_int_equal(r.ntasks, 0);
	assert_null(r.signal);
	proto_msg_free(&m);
}

/* A NULL-terminated list of keys and values. */
#define KV(...) ((const char *const[]){__VA_ARGS__})

/* Decode a message made of type and kv's keys and values. */
static const char *
decode_fields(const char *type, const char *const *kv)
{
	struct buf b = {0};
	struct proto_msg m;
	struct proto_request r;
	const char *err;

	proto_begin(&b, type);
	for (; kv[0] != NULL; kv += 2)
		proto_add(&b, kv[0], kv[1]);
	proto_end(&b);
	parse_ok(&b, &m);
	err = proto_request_decode(&m, &r);
	proto_msg_free(&m);
	buf_free(&b);
	return err;
}

#define NOT_REQUEST "not a request"
#define BAD_VERSION "unsupported protocol version (tendctl and tendd differ)"
#define BAD_CMD     "unknown command"
#define BAD_TASK    "bad task name"
#define BAD_SIGNAL  "bad signal name"
#define BAD_LINES   "bad line count"

static void
assert_decode_error(const char *got, const char *want)
{
	if (got == NULL)
		fail_msg("accepted, want \"%s\"", want);
	assert_string_equal(got, want);
}

static void
test_decode_rejects_header(void **state)
{
	(void)state;
	/* not a request */
	assert_decode_error(
	    decode_fields("msg", KV("v", "1", "cmd", "status", NULL)),
	    NOT_REQUEST);
	assert_decode_error(
	    decode_fields("requests", KV("v", "1", "cmd", "status", NULL)),
	    NOT_REQUEST);
	assert_decode_error(decode_fields("end", KV(NULL)), NOT_REQUEST);
	/* version */
	assert_decode_error(decode_fields("request", KV("cmd", "status", NULL)),
	                    BAD_VERSION);
	assert_decode_error(decode_fields("request", KV(NULL)), BAD_VERSION);
	assert_decode_error(
	    decode_fields("request", KV("v", "2", "cmd", "status", NULL)),
	    BAD_VERSION);
	assert_decode_error(
	    decode_fields("request", KV("v", "0", "cmd", "status", NULL)),
	    BAD_VERSION);
	assert_decode_error(
	    decode_fields("request", KV("v", "", "cmd", "status", NULL)),
	    BAD_VERSION);
	assert_decode_error(
	    decode_fields("request", KV("v", "01", "cmd", "status", NULL)),
	    BAD_VERSION);
	assert_decode_error(
	    decode_fields("request", KV("v", "1.0", "cmd", "status", NULL)),
	    BAD_VERSION);
	assert_decode_error(
	    decode_fields("request", KV("V", "1", "cmd", "status", NULL)),
	    BAD_VERSION);
	/* command */
	assert_decode_error(decode_fields("request", KV("v", "1", NULL)),
	                    BAD_CMD);
	assert_decode_error(
	    decode_fields("request", KV("v", "1", "task", "web", NULL)),
	    BAD_CMD);
	assert_decode_error(
	    decode_fields("request", KV("v", "1", "cmd", "", NULL)), BAD_CMD);
	assert_decode_error(
	    decode_fields("request", KV("v", "1", "cmd", "frobnicate", NULL)),
	    BAD_CMD);
	assert_decode_error(
	    decode_fields("request", KV("v", "1", "cmd", "STATUS", NULL)),
	    BAD_CMD);
	assert_decode_error(
	    decode_fields("request", KV("v", "1", "cmd", "status ", NULL)),
	    BAD_CMD);
	assert_decode_error(
	    decode_fields("request", KV("v", "1", "cmd", "2", NULL)), BAD_CMD);
	/* The first cmd= is the command. */
	assert_decode_error(
	    decode_fields("request",
	                  KV("v", "1", "cmd", "bogus", "cmd", "status", NULL)),
	    BAD_CMD);
	assert_null(decode_fields(
	    "request", KV("v", "1", "cmd", "status", "cmd", "bogus", NULL)));
}

static void
test_decode_rejects_too_many_tasks(void **state)
{
	struct buf b = {0};
	struct proto_msg m;
	struct proto_request r;

	(void)state;
	proto_begin(&b, "request");
	proto_add(&b, "v", "1");
	proto_add(&b, "cmd", "stop");
	for (int i = 0; i < PROTO_TASKS_MAX + 1; i++)
		proto_addf(&b, "task", "t%d", i);
	proto_end(&b);
	parse_ok(&b, &m);
	assert_decode_error(proto_request_decode(&m, &r),
	                    "too many tasks in one request");
	proto_msg_free(&m);
	buf_free(&b);
}

static void
test_decode_rejects_task_names(void **state)
{
	char name[PROTO_NAME_MAX + 2];
	static const char *bad[] = {
	    "",    "a/b", "/",   "..a/b", "a b", " ",        "web\n", "web\t",
	    "a=b", "a%b", "a:b", "a+b",   "a*",  "\xc3\xa9", "a\x7f", "~",
	};

	(void)state;
	memset(name, 'n', PROTO_NAME_MAX + 1);
	name[PROTO_NAME_MAX + 1] = '\0';
	assert_decode_error(
	    decode_fields("request",
	                  KV("v", "1", "cmd", "start", "task", name, NULL)),
	    BAD_TASK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_decode_error(
		    decode_fields("request", KV("v", "1", "cmd", "start",
		                                "task", bad[i], NULL)),
		    BAD_TASK);
	/* A bad name after good ones. */
	assert_decode_error(
	    decode_fields("request", KV("v", "1", "cmd", "start", "task", "web",
	                                "task", "api", "task", "../etc", NULL)),
	    BAD_TASK);
}

static void
test_decode_rejects_signal(void **state)
{
	static const char *bad[] = {
	    "",
	    "SIG TERM",
	    "TERM;",
	    "-9",
	    "SIG-TERM",
	    "TERM\n",
	    "SIG_TERM",
	    "9.0",
	    "%",
	    "$(id)",
	    "SIGTERMSIGTERMSIG",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_decode_error(
		    decode_fields("request",
		                  KV("v", "1", "cmd", "signal", "task", "web",
		                     "signal", bad[i], NULL)),
		    BAD_SIGNAL);
	/* 16 characters is the longest accepted. */
	assert_null(decode_fields("request",
	                          KV("v", "1", "cmd", "signal", "task", "web",
	                             "signal", "SIGTERMSIGTERMSI", NULL)));
}

static void
test_decode_rejects_lines(void **state)
{
	static const char *bad[] = {
	    "",
	    "0",
	    "-1",
	    "+5",
	    "abc",
	    "5x",
	    " 5",
	    "5 ",
	    "1e3",
	    "0x10",
	    "1.5",
	    "1000001",
	    "99999999999999999999999",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_decode_error(
		    decode_fields("request", KV("v", "1", "cmd", "log", "task",
		                                "web", "lines", bad[i], NULL)),
		    BAD_LINES);
}

/* Numbers and seconds are formatted without printf, exactly as printf. */
static void
test_add_num_and_seconds(void **state)
{
	static const long long nums[] = {0,
	                                 7,
	                                 -7,
	                                 42,
	                                 1000000007LL,
	                                 -9223372036854775807LL - 1,
	                                 9223372036854775807LL};
	static const struct {
		double seconds;
		const char *text;
	} secs[] = {
	    {0, "0.000"},    {0.0004, "0.000"},   {0.0005, "0.001"},
	    {1.5, "1.500"},  {12.3456, "12.346"}, {3600.25, "3600.250"},
	    {-3.0, "0.000"},
	};
	char want[64];

	(void)state;
	for (size_t i = 0; i < sizeof(nums) / sizeof(*nums); i++) {
		struct buf b = {0};
		proto_add_num(&b, "n", nums[i]);
		snprintf(want, sizeof(want), " n=%lld", nums[i]);
		assert_string_equal(b.data, want);
		buf_free(&b);
	}
	for (size_t i = 0; i < sizeof(secs) / sizeof(*secs); i++) {
		struct buf b = {0};
		proto_add_seconds(&b, "s", secs[i].seconds);
		snprintf(want, sizeof(want), " s=%s", secs[i].text);
		assert_string_equal(b.data, want);
		buf_free(&b);
	}
}

/* Bytes with a NUL, a tab, a newline and a non-UTF-8 byte round-trip. */
static void
test_bytes_round_trip(void **state)
{
	static const char raw[] = {'a', '\t', '\0', '\n', (char)0xff, '%', '='};
	struct buf b = {0};
	struct proto_msg m;
	const char *v;
	size_t len = 99;

	(void)state;
	proto_begin(&b, "line");
	proto_add_bytes(&b, "data", raw, sizeof(raw));
	proto_add(&b, "stream", "err");
	proto_end(&b);
	assert_null(memchr(b.data, '\0', b.len));
	assert_int_equal(strchr(b.data, '\n') - b.data, (long)b.len - 1);
	assert_null(proto_parse(b.data, b.len - 1, &m));
	v = proto_get_bytes(&m, "data", &len);
	assert_non_null(v);
	assert_int_equal(len, sizeof(raw));
	assert_memory_equal(v, raw, sizeof(raw));
	assert_string_equal(proto_get(&m, "stream"), "err");
	assert_null(proto_get_bytes(&m, "none", &len));
	v = proto_get_bytes(&m, "stream", &len);
	assert_int_equal(len, 3);
	proto_msg_free(&m);
	buf_free(&b);
}

/* An empty value is zero bytes. */
static void
test_bytes_empty(void **state)
{
	struct buf b = {0};
	struct proto_msg m;
	size_t len = 99;

	(void)state;
	proto_begin(&b, "text");
	proto_add_bytes(&b, "data", "", 0);
	proto_end(&b);
	assert_string_equal(b.data, "text data=\n");
	assert_null(proto_parse(b.data, b.len - 1, &m));
	assert_non_null(proto_get_bytes(&m, "data", &len));
	assert_int_equal(len, 0);
	proto_msg_free(&m);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_add_grows),
	    cmocka_unit_test(test_add_num_and_seconds),
	    cmocka_unit_test(test_buf_add_binary_and_empty),
	    cmocka_unit_test(test_buf_addf),
	    cmocka_unit_test(test_buf_consume),
	    cmocka_unit_test(test_buf_free),
	    cmocka_unit_test(test_round_trip_values),
	    cmocka_unit_test(test_encoding_exact),
	    cmocka_unit_test(test_parse_fields),
	    cmocka_unit_test(test_repeated_keys),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_parse_field_limit),
	    cmocka_unit_test(test_parse_field_limit_exact),
	    cmocka_unit_test(test_cmd_names),
	    cmocka_unit_test(test_cmd_parse_rejects),
	    cmocka_unit_test(test_cmd_changes_state),
	    cmocka_unit_test(test_request_every_cmd),
	    cmocka_unit_test(test_request_flags),
	    cmocka_unit_test(test_request_task_names),
	    cmocka_unit_test(test_request_most_tasks),
	    cmocka_unit_test(test_request_flag_values),
	    cmocka_unit_test(test_decode_rejects_header),
	    cmocka_unit_test(test_decode_rejects_too_many_tasks),
	    cmocka_unit_test(test_decode_rejects_task_names),
	    cmocka_unit_test(test_decode_rejects_signal),
	    cmocka_unit_test(test_decode_rejects_lines),
	    cmocka_unit_test(test_bytes_round_trip),
	    cmocka_unit_test(test_bytes_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
