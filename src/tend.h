/*
 * tend.h: what tendd's modules share. One section per file, in the order
 * the data flows: diagnostics, value parsers, the INI reader, the manifest.
 */
#ifndef TEND_H
#define TEND_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#define TEND_VERSION "0.1.0"

#define TASK_NAME_MAX	 64	       /* SPEC: [A-Za-z0-9_.-]{1,64} */
#define DURATION_MAX_MS	 (30LL * 86400 * 1000) /* 30 days */
#define INSTANCES_MAX	 100000
#define SYSLOG_IDENT_MAX 64

#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))

/* xmalloc.c: allocation that cannot fail (it exits on exhaustion). */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xasprintf(const char *, ...) PRINTFLIKE(1, 2);
char *xvasprintf(const char *, va_list) PRINTFLIKE(1, 0);

/* diag.c: problems found in a manifest, each "FILE:LINE: message". */
struct diag_item {
	int line; /* 0: about the whole file */
	char *text;
};

struct diag {
	struct diag_item *items; /* in line order */
	size_t count;
	size_t cap;
};

void diag_add(struct diag *, const char *file, int line, const char *fmt, ...)
    PRINTFLIKE(4, 5);
void diag_print(const struct diag *, FILE *);
void diag_free(struct diag *);

/* value.c: scalar values of the manifest; each returns NULL or why not. */
const char *value_duration(const char *, int64_t *ms);
const char *value_bool(const char *, bool *);
const char *value_mode(const char *, mode_t *);
const char *value_count(const char *, long min, long max, long *);

/* cmdline.c: split a command like a POSIX shell splits words. */
const char *cmdline_split(const char *, char ***argv, int *argc);

/* signame.c: signal names and numbers. */
int signame_parse(const char *);
const char *signame_name(int signo);

/* endpoint.c: listen = tcp:HOST:PORT | unix:PATH. */
enum endpoint_kind {
	ENDPOINT_NONE,
	ENDPOINT_TCP,
	ENDPOINT_UNIX,
};

struct endpoint {
	enum endpoint_kind kind;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char *text; /* as written in the manifest */
};

const char *endpoint_parse(const char *, struct endpoint *);
void endpoint_free(struct endpoint *);

/* inifile.c: an INI file read through libinih with exact line numbers. */
struct ini_section {
	char *name; /* whole, however long */
	int line;
};

struct ini_entry {
	int section; /* index into sections, -1 before the first */
	char *key;
	char *value; /* continuation lines joined with one space */
	int line;    /* of the key */
};

struct inifile {
	struct ini_section *sections;
	size_t nsections;
	struct ini_entry *entries;
	size_t nentries;
};

int inifile_read(FILE *, const char *filename, struct inifile *,
    struct diag *);
void inifile_free(struct inifile *);

/* manifest.c: the manifest, validated. */
enum task_class {
	CLASS_DURABLE,
	CLASS_LOG_ONLY,
	CLASS_PER_REQUEST,
};

enum output_mode {
	OUTPUT_SYSLOG,
	OUTPUT_NULL,
	OUTPUT_INHERIT,
};

struct task_config {
	char name[TASK_NAME_MAX + 1];
	int line; /* of the [task:NAME] header */
	enum task_class class;
	char **argv; /* NULL-terminated; one allocation */
	int argc;
	char *directory;
	char *user; /* NULL: the daemon's own */
	uid_t uid;
	gid_t gid; /* the user's primary group unless group is set */
	bool has_user;
	bool has_group;
	mode_t umask;
	char **env; /* "KEY=VALUE", NULL-terminated */
	size_t nenv;
	bool clear_env;
	enum output_mode out;
	enum output_mode err;
	int stop_signal;
	int64_t stop_timeout_ms;
	bool autostart;
	bool essential;
	int64_t backoff_min_ms;
	int64_t backoff_max_ms;
	int64_t healthy_after_ms;
	struct endpoint listen;
	long max_instances;
	int64_t timeout_ms; /* 0: none */
};

struct manifest {
	char *path;
	char *control_socket;
	mode_t socket_mode;
	bool has_socket_group;
	gid_t socket_gid;
	char *syslog_ident;
	int syslog_facility;
	char *pid_file; /* NULL: none */
	bool subreaper;
	int64_t stop_timeout_ms;
	struct task_config *tasks;
	size_t ntasks;
};

int manifest_load(const char *path, struct manifest *, struct diag *);
int manifest_read(FILE *, const char *path, struct manifest *,
    struct diag *);
void manifest_free(struct manifest *);
const char *manifest_class_name(enum task_class);
char *manifest_default_socket(void);

#endif
