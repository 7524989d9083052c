/*
 * proto.h: what tendd and tendctl must agree on: the protocol version, the
 * commands, the limits, and the one codec (proto.c) both link.
 */
#ifndef TEND_PROTO_H
#define TEND_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PROTO_VERSION        1
#define PROTO_VERSION_STRING "1"
#define PROTO_LINE_MAX       8192 /* a request line, newline included */
#define PROTO_FIELDS_MAX     512  /* fields in one message */
#define PROTO_TASKS_MAX      256  /* task names in one request */
#define PROTO_NAME_MAX       64   /* a task name: SPEC section 3 */

enum proto_cmd {
	CMD_STATUS,
	CMD_START,
	CMD_STOP,
	CMD_RESTART,
	CMD_SIGNAL,
	CMD_RUN,
	CMD_RELOAD,
	CMD_LOG,
	CMD_METRICS,
	CMD_SHUTDOWN,
};

/* Exit statuses of tendctl, also sent by tendd in "end code=N". */
#define EXIT_OK          0
#define EXIT_ERROR       1
#define EXIT_NOT_RUNNING 3
#define EXIT_UNREACHABLE 4

/* A growable byte buffer, always NUL-terminated. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_add(struct buf *, const void *, size_t);
void buf_addf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *, size_t);
void buf_free(struct buf *);

/* One message: a type and KEY=VALUE fields, unescaped. */
struct proto_field {
	char *key;
	char *value; /* NUL-terminated; len bytes, which may hold a NUL */
	size_t len;
};

struct proto_msg {
	char *type;
	struct proto_field *fields;
	int nfields;
	char *storage;
};

void proto_begin(struct buf *, const char *type);
void proto_add(struct buf *, const char *key, const char *value);
void proto_add_bytes(struct buf *, const char *key, const void *, size_t);
void proto_add_num(struct buf *, const char *key, long long);
void proto_add_seconds(struct buf *, const char *key, double);
void proto_addf(struct buf *, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void proto_end(struct buf *);
const char *proto_parse(const char *line, size_t len, struct proto_msg *);
const char *proto_get(const struct proto_msg *, const char *key);
const char *proto_get_nth(const struct proto_msg *, const char *key, int n);
const char *proto_get_bytes(const struct proto_msg *, const char *key,
                            size_t *len);
void proto_msg_free(struct proto_msg *);

/* status.c: tendctl's rendering of a status answer. */
void status_print(const struct proto_msg *daemon, const struct proto_msg *tasks,
                  size_t ntasks, bool json, FILE *);
char *status_json_string(const char *);

/* A request, as tendctl builds it and tendd reads it. */
struct proto_request {
	enum proto_cmd cmd;
	const char *tasks[PROTO_TASKS_MAX];
	int ntasks;
	const char *signal;
	bool json;
	bool wait;
	bool dry_run;
	bool follow;
	long lines;
};

char *proto_default_socket(void);
const char *proto_cmd_name(enum proto_cmd);
int proto_cmd_parse(const char *);
bool proto_cmd_changes_state(enum proto_cmd);
void proto_request_encode(struct buf *, const struct proto_request *);
const char *proto_request_decode(const struct proto_msg *,
                                 struct proto_request *);

#endif
