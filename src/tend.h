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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <ev.h>

#include "proto.h"

#define TEND_VERSION "0.1.0"

#define TASK_NAME_MAX    64                    /* SPEC: [A-Za-z0-9_.-]{1,64} */
#define DURATION_MAX_MS  (30LL * 86400 * 1000) /* 30 days */
#define INSTANCES_MAX    100000
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
	unsigned file; /* 0: the first file; diag_move numbers the next */
	int line;      /* 0: about the whole file */
	char *text;
};

struct diag {
	struct diag_item *items; /* in file, then line order */
	size_t count;
	size_t cap;
	struct diag_item *notes; /* not problems: the manifest is valid */
	size_t nnotes;
	size_t notes_cap;
	unsigned files; /* files moved in: the last one's number */
};

void diag_add(struct diag *, const char *file, int line, const char *fmt, ...)
    PRINTFLIKE(4, 5);
void diag_note(struct diag *, const char *file, int line, const char *fmt, ...)
    PRINTFLIKE(4, 5);
void diag_print(const struct diag *, FILE *);
void diag_move(struct diag *to, struct diag *from);
void diag_free(struct diag *);

/* value.c: scalar values of the manifest; each returns NULL or why not. */
const char *value_duration(const char *, int64_t *ms);
char *value_duration_text(int64_t ms, char *buf, size_t size);
const char *value_bool(const char *, bool *);
const char *value_mode(const char *, mode_t *);
const char *value_count(const char *, long min, long max, long *);
const char *value_signed(const char *, long min, long max, long *);

/* What a resource limit counts: its units in the manifest. */
enum limit_kind {
	LIMIT_COUNT,   /* a bare number */
	LIMIT_BYTES,   /* a number, then K, M or G */
	LIMIT_SECONDS, /* a bare number, or a duration of whole seconds */
};

const char *value_limit(const char *, enum limit_kind, rlim_t *soft,
                        rlim_t *hard);

/* cmdline.c: split a command like a POSIX shell splits words. */
const char *cmdline_split(const char *, char ***argv, int *argc);

/* signame.c: signal names and numbers. */
int signame_parse(const char *);
const char *signame_name(int signo);

/* clock.c: the monotonic clock of every duration (uptimes, runs, backoff). */
double clock_now(void);

/* describe.c: durations and exit statuses in words. */
#define DESCRIBE_DURATION_MAX (100 * 366 * 86400.0) /* 100 years, seconds */
char *describe_duration(double seconds, char *buf, size_t size);
char *describe_wait_status(int status, char *buf, size_t size);
int describe_exit_code(int status);

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
#define INIFILE_VALUE_MAX 65536 /* bytes of a joined value (SPEC: 64 KiB) */
struct ini_section {
	char *name; /* whole, however long */
	int line;
	size_t first_entry; /* its entries are contiguous */
	size_t nentries;
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

int inifile_read(FILE *, const char *filename, const char *const *keys,
                 struct inifile *, struct diag *);
void inifile_free(struct inifile *);

/* include.c: the files that include = GLOB names, each once, in order. */
#define INCLUDE_FILES_MAX 1000 /* included files of one manifest */

struct include_file {
	char *path; /* as the glob matched it */
	dev_t dev;
	ino_t ino;
};

struct include_files {
	struct include_file *files; /* in reading order */
	size_t n;
	bool has_main; /* the manifest's own file, never included */
	dev_t main_dev;
	ino_t main_ino;
};

void include_init(struct include_files *, FILE *main);
int include_expand(struct include_files *, const char *pattern,
                   const char *file, int line, struct diag *);
void include_free(struct include_files *);

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
	OUTPUT_CONSOLE, /* tendd's stdout or stderr, "NAME: " first */
	OUTPUT_FILE,    /* out_path or err_path, rotated by size */
};

#define LOG_MAX_SIZE_MAX (1024LL * 1024 * 1024 * 1024) /* 1T */

/* probespec.c: ready = and health = (SPEC section 8), parsed. */
enum probe_kind {
	PROBE_NONE,
	PROBE_NOTIFY, /* ready only: READY=1 on tendd's notify socket */
	PROBE_TCP,    /* a connection to addr succeeds */
	PROBE_UNIX,
	PROBE_EXEC, /* argv, run as the task, exits 0 */
};

struct probe_spec {
	enum probe_kind kind;
	struct endpoint addr; /* PROBE_TCP, PROBE_UNIX */
	char **argv; /* PROBE_EXEC: split as command is, one allocation */
	int argc;
	char *text; /* as written; NULL for PROBE_NONE */
};

const char *probespec_parse(const char *, bool notify_allowed,
                            struct probe_spec *);
bool probespec_same(const struct probe_spec *, const struct probe_spec *);
void probespec_free(struct probe_spec *);
#define LOG_BACKUPS_MAX 1000

/* The limit_* keys, in the order of the manifest's table. */
enum task_limit_id {
	LIMIT_NOFILE,
	LIMIT_NPROC,
	LIMIT_CORE,
	LIMIT_AS,
	LIMIT_CPU,
	LIMIT_FSIZE,
	LIMIT_MEMLOCK,
	LIMIT_STACK,
	NLIMITS
};

struct task_limit {
	bool set;
	rlim_t soft, hard; /* RLIM_INFINITY: unlimited */
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
	gid_t *groups; /* with user: its supplementary groups, read at load */
	int ngroups;
	mode_t umask;
	char **env; /* "KEY=VALUE", NULL-terminated */
	size_t nenv;
	bool clear_env;
	enum output_mode out;
	enum output_mode err;
	char *out_path; /* OUTPUT_FILE: the file */
	char *err_path;
	int64_t log_max_size; /* bytes; 0: never rotated */
	long log_backups;     /* rotated files kept; 0: truncated */
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
	char **after;       /* task names, NULL-terminated, or NULL: none */
	size_t nafter;
	int after_line; /* of the (last) after key, for errors */
	struct probe_spec ready;
	int64_t ready_timeout_ms;
	struct probe_spec health;
	int64_t health_interval_ms;
	int64_t health_timeout_ms; /* also each ready probe's */
	long health_retries;
	/* issue 15, process keys: env_file, limit_*, nice, oom_score_adj */
	char **env_files; /* "[-]PATH" as written, NULL-terminated, or NULL */
	size_t nenv_files;
	struct task_limit limits[NLIMITS];
	bool has_nice;
	int nice;
	bool has_oom_score_adj;
	int oom_score_adj;
	/* Issue 15, listen: the unix socket file, and the per-client cap. */
	mode_t listen_mode; /* default 0666 */
	bool has_listen_user;
	uid_t listen_uid;
	bool has_listen_group;
	gid_t listen_gid;
	long max_per_source; /* 0: no cap */
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
int manifest_read(FILE *, const char *path, struct manifest *, struct diag *);
struct task_config *manifest_take_task(struct manifest *, size_t i);
void manifest_free(struct manifest *);
void task_config_free(struct task_config *);
const char *manifest_class_name(enum task_class);

/* configdiff.c: what changed in a task's config, for a reload. */
enum config_change {
	CONFIG_CLASS = 1 << 0,       /* another class: in effect a new task */
	CONFIG_PROCESS = 1 << 1,     /* command, directory, ids, env, output */
	CONFIG_LISTEN = 1 << 2,      /* per-request: another socket */
	CONFIG_LISTEN_FILE = 1 << 4, /* its socket file's mode, owner */
	CONFIG_POLICY = 1 << 3, /* stop_*, backoff_*, ...: applied in place */
};

unsigned config_diff(const struct task_config *old,
                     const struct task_config *new);

/* escape.c: control bytes of task output written as \xHH (NUL as \0). */
#define ESCAPE_SIZE(len) (4 * (len) + 1) /* the most escape_bytes writes */

size_t escape_bytes(char *out, const char *in, size_t len);

/* logqueue.c: the lines waiting for one log sink, bounded. */
#define LOGQUEUE_LINES 1024
#define LOGQUEUE_BYTES (256 * 1024)
/* Tasks wait above the high mark, and go on once down to the low one. */
#define LOGQUEUE_HIGH_LINES (LOGQUEUE_LINES * 3 / 4)
#define LOGQUEUE_HIGH_BYTES (LOGQUEUE_BYTES * 3 / 4)
#define LOGQUEUE_LOW_LINES  (LOGQUEUE_LINES / 4)
#define LOGQUEUE_LOW_BYTES  (LOGQUEUE_BYTES / 4)

struct logrec {
	char *data;
	size_t len;
	unsigned long note; /* a "N log lines dropped" line: that N, else 0 */
};

struct logqueue {
	struct logrec recs[LOGQUEUE_LINES]; /* a ring */
	size_t head;
	size_t count;
	size_t bytes;
	unsigned long dropped;       /* since the last note was queued */
	unsigned long dropped_total; /* ever */
};

bool logqueue_fits(const struct logqueue *, size_t len);
bool logqueue_high(const struct logqueue *);
bool logqueue_low(const struct logqueue *);
bool logqueue_push(struct logqueue *, char *data, size_t len,
                   unsigned long note);
const struct logrec *logqueue_peek(const struct logqueue *, size_t i);
void logqueue_pop(struct logqueue *);
void logqueue_drop_head(struct logqueue *);
void logqueue_clear(struct logqueue *);

/* logsink.c: one log destination, written without ever blocking. */
struct logline {
	int prio;
	const char *tag; /* a task's name, or NULL: tendd's own line */
	long pid;        /* the task's process, with tag */
	const char *msg; /* escaped */
	bool console;    /* a task's console line: "TAG: MSG", no level */
};

/*
 * Whoever waits for a full sink to drain (a task's output pipe, not read
 * meanwhile): in one sink's list at a time, told once with resume(data).
 */
struct logwaiter {
	struct logwaiter *prev, *next; /* NULL: waiting for no sink */
	void (*resume)(void *data);
	void *data;
};

struct logsink;
typedef char *logsink_format_fn(const struct logsink *, const struct logline *,
                                size_t *len);
typedef int logsink_reopen_fn(struct logsink *);

struct logsink {
	int fd;        /* -1: none (the syslog daemon went away) */
	bool stream;   /* bytes, written in part; else one datagram a line */
	bool socket;   /* written with send(MSG_DONTWAIT) */
	bool gated;    /* blocking fd: PIPE_BUF at most, once poll says so */
	size_t off;    /* stream: bytes of the head record already written */
	ev_io io;      /* armed while the fd is full */
	ev_timer wait; /* armed while the fd is gone, to reopen it */
	ev_tstamp reopen_at;
	struct logqueue q;
	logsink_format_fn *format;
	logsink_reopen_fn *reopen; /* NULL: the fd is never replaced */
	struct logwaiter waiters;  /* a ring's head: who waits for room */
	ev_timer stall;            /* armed while someone waits */
	ev_tstamp progress;        /* clock_now() when a byte last went out */
	ev_tstamp waited;          /* clock_now() when the first one waited */
	bool stalled; /* no progress for LOGSINK_STALL: drop, not wait */
};

#define LOGSINK_STALL 5.0 /* seconds without progress before tasks go on */

void logsink_init(struct logsink *, logsink_format_fn *, logsink_reopen_fn *);
void logsink_put(struct logsink *, const struct logline *);
void logsink_flush(struct logsink *);
void logsink_close(struct logsink *);
bool logsink_full(const struct logsink *);
void logsink_wait(struct logsink *, struct logwaiter *);
bool logwaiter_waiting(const struct logwaiter *);
void logwaiter_cancel(struct logwaiter *);

/* log.c: syslog, mirrored on stderr with -e or when syslog is absent. */
void log_open(const char *ident, int facility, bool mirror);
void log_retarget(const char *ident, int facility);
void log_started(void);
void log_release_stderr(void);
void log_close(void);
bool log_wanted(int prio);
void log_msg(int prio, const char *fmt, ...) PRINTFLIKE(2, 3);
void log_vmsg(int prio, const char *fmt, va_list) PRINTFLIKE(2, 0);
void log_task_line(int prio, const char *name, pid_t pid, const char *line,
                   size_t len);
void log_console_line(int stream, const char *name, pid_t pid, const char *line,
                      size_t len);
unsigned long log_dropped(void);
size_t log_backlog(void);
double log_last_progress(void);
bool log_wait_task(int prio, struct logwaiter *);
bool log_wait_console(int stream, struct logwaiter *);

/* linebuf.c: child output split into lines, overlong ones into pieces. */
#define LINEBUF_MAX 1024

struct linebuf {
	char *partial; /* an unfinished line, NULL when none */
	size_t len;
};

typedef void (*linebuf_emit_fn)(void *ctx, const char *line, size_t len);

void linebuf_feed(struct linebuf *, const char *, size_t, linebuf_emit_fn,
                  void *);
void linebuf_flush(struct linebuf *, linebuf_emit_fn, void *);
void linebuf_free(struct linebuf *);

/* logring.c: the last lines of a task's output, for tendctl log. */
#define LOGRING_LINES    1000
#define LOGRING_BYTES    (64 * 1024) /* all its memory: slots and lines */
#define LOGRING_LINE_MAX LINEBUF_MAX

enum log_stream {
	STREAM_OUT,
	STREAM_ERR,
};

struct logring_line {
	pid_t pid;  /* the run that wrote it */
	int stream; /* enum log_stream */
	size_t len;
	char data[]; /* as written, no newline */
};

struct logring {
	struct logring_line **slots; /* line seq in slots[seq % cap] */
	size_t cap;
	uint64_t first; /* the oldest line kept */
	uint64_t next;  /* the number the next line gets */
	size_t bytes;
};

/*
 * What one line costs: its allocation as malloc makes it (a size word, then
 * 16-byte chunks). The lines get what the slots, at their most, leave.
 */
#define LOGRING_LINE_COST(len)                                         \
	((sizeof(struct logring_line) + (len) + sizeof(size_t) + 15) & \
	 ~(size_t)15)
#define LOGRING_LINES_BYTES \
	(LOGRING_BYTES - LOGRING_LINES * sizeof(struct logring_line *))

void logring_push(struct logring *, pid_t, int stream, const char *, size_t);
const struct logring_line *logring_get(const struct logring *, uint64_t seq);
uint64_t logring_back(const struct logring *, uint64_t n);
void logring_free(struct logring *);

/* fds.c: inherited fds kept from the tasks. */
enum fds_way {
	FDS_RANGE, /* close_range(CLOSE_RANGE_CLOEXEC), Linux 5.11 */
	FDS_PROC,  /* each fd of /proc/self/fd */
	FDS_LIMIT, /* each number up to the open-file limit */
};

enum fds_way fds_cloexec_from(int low, enum fds_way way);

/* envfile.c: the KEY=VALUE files of env_file, read at each spawn. */
#define ENVFILE_MAX (1024 * 1024) /* bytes of one file */

struct envlist {
	char **v; /* "KEY=VALUE", NULL-terminated once n > 0 */
	size_t n, cap;
};

const char *envfile_parse(char *text, struct envlist *, int *line);
char *envfile_load(const char *spec, struct envlist *, char **text);
void envlist_free(struct envlist *);

/* spawn.c: fork and exec one process of a task. */
enum spawn_step {
	STEP_SETSID,
	STEP_DUP2,
	STEP_UMASK,
	STEP_CHDIR,
	STEP_SETGROUPS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_ENV_FILE,      /* found in tendd: spawned.why says more */
	STEP_RLIMIT,        /* which: the task_limit_id */
	STEP_NICE,          /* setpriority */
	STEP_OOM_SCORE_ADJ, /* /proc/self/oom_score_adj */
	STEP_EXEC,
};

/* What the child writes to the status pipe when a step fails. */
struct spawn_failure {
	int step;
	int err;
	int which; /* STEP_RLIMIT: which limit */
};

struct source;

struct spawn_io {
	int in;           /* stdin, or -1 for /dev/null */
	int out;          /* stdout, or -1 for the task's stdout key */
	char **extra_env; /* NULL-terminated "KEY=VALUE", or NULL */
	const struct source *source; /* a connection's client, or NULL */
};

struct spawned {
	pid_t pid;
	bool exec_failed; /* the child will exit 127; failure says why */
	struct spawn_failure failure;
	char *why;  /* a failure found before clone, in words, or NULL */
	int out_fd; /* read end of the stdout pipe, or -1 */
	int err_fd; /* read end of the stderr pipe, or -1 */
};

int spawn_process(const struct task_config *, const struct spawn_io *,
                  struct spawned *);
const char *spawn_step_name(int step);
const char *spawn_limit_name(int which);
void spawn_set_child_nofile(const struct rlimit *);

/*
 * sources.c: how many instances of a per-request task each client runs
 * (max_per_source): a hash of the clients that run one, no bigger than
 * the instances running.
 */
enum source_kind {
	SOURCE_NONE, /* no client: tendctl run */
	SOURCE_ADDR, /* tcp: the address, IPv4 as v4-mapped IPv6 */
	SOURCE_UID,  /* unix: the peer's uid */
};

struct source {
	int kind;
	unsigned char id[16]; /* the address, or the uid; zero-padded */
};

struct source_slot {
	struct source src;
	unsigned long count; /* 0: a free slot */
};

struct sources {
	struct source_slot *slots; /* NULL while no client runs one */
	size_t cap;                /* a power of two */
	size_t used;
};

#define SOURCE_TEXT_MAX 64

void source_of_addr(struct source *, const struct sockaddr_storage *);
void source_of_uid(struct source *, uid_t);
char *source_text(const struct source *, char *buf, size_t size);
unsigned long sources_count(const struct sources *, const struct source *);
void sources_add(struct sources *, const struct source *);
void sources_remove(struct sources *, const struct source *);
void sources_free(struct sources *);

/* policy.c: the task state machine's decisions, pure (no libev, no I/O). */
enum task_state {
	STATE_STOPPED,
	STATE_RUNNING, /* durable: and ready */
	STATE_BACKOFF,
	STATE_STOPPING,
	STATE_DONE,
	STATE_FAILED,
	STATE_IDLE,
	STATE_LISTENING,
	STATE_WAITING,  /* its after tasks are not all ready */
	STATE_STARTING, /* durable: spawned, not yet ready */
};

enum task_event {
	EVENT_START,        /* autostart, or a user's start */
	EVENT_STOP,         /* a user's stop, or shutdown */
	EVENT_EXIT,         /* a run ended: reaped and its output drained */
	EVENT_BACKOFF_OVER, /* the backoff timer fired */
	EVENT_RELEASE,      /* its after tasks are all ready now */
	EVENT_READY,        /* durable: the ready condition holds */
	EVENT_NOT_READY,    /* durable: ready_timeout passed first */
	EVENT_UNHEALTHY,    /* durable: health_retries probes failed */
};

/* What the engine must do after a decision, in this order. */
enum task_action {
	ACTION_CANCEL_BACKOFF = 1 << 0,
	ACTION_SIGNAL_STOP = 1 << 1, /* stop_signal to every run, kill timers */
	ACTION_SPAWN = 1 << 2,
	ACTION_ARM_BACKOFF = 1 << 3, /* for delay_ms */
	ACTION_ESSENTIAL = 1 << 4,   /* an essential task failed: shut down */
	ACTION_LISTEN = 1 << 5,      /* open the per-request listener */
	ACTION_UNLISTEN = 1 << 6,    /* close it */
};

/* The part of a task the policy reads and writes. */
struct task_policy {
	enum task_class class;
	enum task_state state;
	bool want_up;
	bool essential;
	bool has_listener; /* per-request: has a listen key */
	unsigned streak;   /* restarts since the last healthy run */
	unsigned long restarts;
	unsigned long active; /* runs not yet ended, this one excluded */
	bool blocked;         /* some after task is not ready: start waits */
	bool failing;         /* stopped by tend as a failed run: backs off */
	bool held;            /* its stop waits for others: no restart now */
	int64_t backoff_min_ms;
	int64_t backoff_max_ms;
	int64_t healthy_after_ms;
};

/* How a run ended, for EVENT_EXIT. */
struct run_end {
	bool success;      /* exit status 0 */
	bool spawn_failed; /* no process: fork or pipe failed in tendd */
	bool never_ready;  /* durable: the run never became ready */
	int64_t ran_ms;
};

struct decision {
	unsigned actions; /* enum task_action bits */
	int64_t delay_ms; /* with ACTION_ARM_BACKOFF */
};

#define SPAWN_RETRY_MS 1000 /* least wait after tendd itself failed to fork */

int64_t policy_backoff_delay(int64_t min_ms, int64_t max_ms, unsigned n);
struct decision policy_handle(struct task_policy *, enum task_event,
                              const struct run_end *);
const char *policy_state_name(enum task_state);

/* run.c: one process of a task, from fork until reaped and drained. */
struct run;
struct task;

struct output_rest;

struct run_output {
	ev_io io;
	struct linebuf lines;
	struct run *run;
	int prio;              /* LOG_INFO for stdout, LOG_WARNING for stderr */
	enum output_mode mode; /* as the run started */
	struct logfile *file;  /* OUTPUT_FILE */
	struct logwaiter waiter; /* paused: its log sink is full */
	char *pending;           /* read while paused, not yet routed */
	size_t pending_len;
	bool reaped;              /* lines that cannot wait: at the reap */
	struct output_rest *rest; /* a reaped run's lines that wait */
};

typedef void run_ended_fn(struct task *, struct run *);

struct run {
	struct task *task;
	run_ended_fn *ended; /* its task's: told once reaped and drained */
	pid_t pid;
	unsigned long serial; /* in start order */
	double started;       /* clock_now() at the spawn */
	ev_child child;
	struct run_output out;
	struct run_output err;
	ev_timer kill;      /* SIGKILL once stop_timeout is over */
	ev_timer timeout;   /* per-request: stop once timeout is over */
	int64_t timeout_ms; /* that timeout, as the run started with it */
	bool timed_out;
	bool exec_failed;
	char *failed;  /* with exec_failed: "cannot STEP WHAT: ERROR" */
	bool stopping; /* tend signalled it */
	int wstatus;
	struct source source; /* per-request: its client, for max_per_source */
	struct run *next_in_task;
	struct run *prev_all, *next_all; /* every run, for orphan checks */
	struct run *next_dead;           /* ended, waiting to be freed */
};

struct run *run_start(struct task *, const struct spawn_io *, run_ended_fn *);
void run_signal(struct run *, int signo);
void run_stop(struct run *, int signo, int64_t timeout_ms);
bool run_is_ours(pid_t);
unsigned long run_serial_last(void);
void run_reclaim(void);

/* logfile.c: the files of file:PATH outputs, shared by path, rotated. */
struct logfile;

struct logfile *logfile_open(const char *path, const struct task_config *);
void logfile_write(struct logfile *, const char *line, size_t len,
                   int64_t max_size, long backups);
const char *logfile_error(int err);
void logfile_flush(struct logfile *);
void logfile_release(struct logfile *);

/* output.c: one line of a task's output to its destination and its ring. */
int output_files_open(const struct task_config *, bool with_stdout,
                      struct logfile **out, struct logfile **err);
void output_line(struct run_output *, const char *line, size_t len);
bool output_wait_room(struct run_output *);
void output_rest_release(struct run_output *);
size_t output_rest_backlog(void);

/* outpipe.c: a run's stdout or stderr pipe, read and paused. */
void outpipe_open(struct run *, struct run_output *, int fd, int prio,
                  enum output_mode, struct logfile *);
void outpipe_drain(struct run_output *);
void outpipe_close(struct run_output *);

/* sockdiag.c: whether a unix socket file has a listener, without connecting. */
struct stat;
int sockdiag_unix_listening(const struct stat *);

/* sockfile.c: a unix socket file made with its mode and owner, renamed in. */
int sockfile_make(const char *path, mode_t, uid_t, gid_t, int backlog,
                  struct stat *);

/* listener.c: a per-request task's socket. */
struct listener_ops { /* its task's, which the listener serves */
	bool (*can_serve)(const struct task *);
	struct run *(*serve)(struct task *, const struct spawn_io *);
	void (*listening)(struct task *, bool bound);
};

struct listener {
	struct task *task;
	const struct listener_ops *ops;
	ev_io io; /* fd -1 until bound */
	ev_timer retry;
	ev_tstamp retry_delay;
	int held_fd; /* a connection accepted but not yet served, or -1 */
	struct sockaddr_storage held_addr;
	int lock_fd;     /* unix: the flock on lock_path, or -1 */
	char *lock_path; /* PATH.lock beside the socket */
	dev_t dev;       /* unix: the socket file made, to remove only it */
	ino_t ino;
	ev_timer refused_timer;      /* the next refusal line, when due */
	ev_tstamp refused_logged;    /* clock_now() at the last line */
	unsigned long refused_since; /* refusals not yet in a line */
	struct source refused_last;  /* the client of the last one */
};

struct listener *listener_open(struct task *, const struct listener_ops *);
void listener_resume(struct listener *);
void listener_restamp(struct listener *);
void listener_close(struct listener *);

/*
 * probe.c: one readiness or health probe in flight (SPEC section 8): a
 * connect that never blocks, or an exec'd command reaped on the loop, each
 * given up at its timeout. done is called once, from the loop (never from
 * probe_start), with ok and the result in words ("exit status 1",
 * "connect to 127.0.0.1:5432: Connection refused", "timed out after
 * 5.0s"). After done or probe_cancel the probe is no longer the caller's.
 */
struct probe;
typedef void probe_done_fn(void *data, bool ok, const char *result);

struct probe *probe_start(const struct probe_spec *, const struct task_config *,
                          int64_t timeout_ms, probe_done_fn *, void *data);
void probe_cancel(struct probe *);
bool probe_is_ours(pid_t);
size_t probe_processes(void);
void probe_reclaim(void);

/*
 * notifysock.c: the datagram socket of tasks with ready = notify (the
 * sd_notify protocol), and its messages. A datagram is taken only from a
 * process whose process group deliver() names a task of; the rest are
 * dropped and counted.
 */
#define NOTIFY_MSG_MAX    4096 /* bytes of one datagram; longer: dropped */
#define NOTIFY_STATUS_MAX 256  /* bytes of STATUS= kept */

struct notify_msg {
	bool ready;    /* READY=1 */
	bool stopping; /* STOPPING=1 */
	bool has_status;
	char status[NOTIFY_STATUS_MAX + 1]; /* STATUS=, control bytes as '?' */
};

typedef bool notify_deliver_fn(pid_t pgid, const struct notify_msg *);

/* fdcloser.c: the last close of fds others sent, in a thread, off the loop. */
#define FDCLOSER_MAX 4096

size_t fdcloser_room(void);
void fdcloser_give(int fd);
void fdcloser_when_room(void (*cb)(void));

const char *notify_parse(const char *data, size_t len, struct notify_msg *);
int notifysock_open(notify_deliver_fn *);
const char *notifysock_env(void);
unsigned long notifysock_dropped(void);
void notifysock_close(void);

/* task.c: a task's life, driven by the policy. */
enum health_state {
	HEALTH_NONE, /* no check, or no result yet this run */
	HEALTH_OK,
	HEALTH_FAILING, /* from a failed probe until one succeeds */
};

struct task {
	struct task_config *cfg; /* its own: replaced by a reload */
	struct task_policy policy;
	ev_timer backoff;
	double next_start; /* when the backoff ends, on clock_now() */
	struct run *runs;  /* not yet ended */
	bool has_last_exit;
	int last_wstatus;
	bool last_exec_failed;
	double last_started; /* of the newest run, on clock_now() */
	unsigned long requests;
	unsigned long failures;
	unsigned long refused;     /* connections over max_per_source */
	struct sources sources;    /* its running instances, per client */
	struct listener *listener; /* per-request with listen, once started */
	bool retired; /* removed by a reload: freed once its runs end */
	unsigned long reload_serial; /* the last reload that stopped it */
	struct task *next_retired;
	struct logring ring; /* its output, kept across runs */
	/* Order (order.c): its after tasks, and the tasks after it. */
	struct task **after;
	size_t nafter;
	struct task **before;
	size_t nbefore;
	bool stop_pending; /* a stop waits for the tasks after it (order.c) */
	bool wait_logged;  /* "waiting for a failed task" said once */
	bool order_queued; /* in order.c's queue of tasks to look at */
	struct task *order_next;
	size_t order_index; /* in order.c's dependencies-first order */
	/* Readiness and health (readiness.c). */
	ev_timer ready_timer; /* ready_timeout, from the spawn */
	ev_timer probe_timer; /* the next probe */
	struct probe *probe;  /* in flight, or NULL */
	int64_t probe_delay_ms;
	char *status_text; /* the last STATUS= of a notify task */
	enum health_state health;
	unsigned health_streak; /* failed probes in a row */
	unsigned long health_failures;
	char *probe_result;         /* the last probe's, in words */
	unsigned long ready_serial; /* the newest run that became ready */
	bool said_stopping;         /* STOPPING=1 logged, this run */
	/* Why its newest failed run failed, for start's answer. */
	char *why_failed;
	unsigned long why_serial; /* that run's serial */
};

struct task *task_new(struct task_config *);
bool task_restarts_on(const struct task *, unsigned changes);
void task_reconfigure(struct task *, struct task_config *, unsigned changes);
void task_unlisten(struct task *);
void task_handle(struct task *, enum task_event);
struct run *task_run(struct task *, const char **why);
struct run *task_run_instance(struct task *, const struct spawn_io *,
                              const char **why);
struct run *task_serve(struct task *, const struct spawn_io *);
void task_kill_now(struct task *);
bool task_can_serve(const struct task *);
bool task_has_run_before(const struct task *, unsigned long serial);
void task_listening(struct task *, bool);
void task_set_shutdown(void);
void task_init(void);
void task_free(struct task *);

/*
 * What readiness.c and order.c, below the engine, may ask of it: task.c's,
 * given by task_init, as a run is given the function to call at its end.
 */
struct engine_ops {
	void (*handle)(struct task *, enum task_event);
	void (*fail_run)(struct task *,
	                 const char *why); /* not ready, unwell */
};

/* readiness.c: when a task is ready, and a durable task's health checks. */
void readiness_init(const struct engine_ops *);
bool readiness_ready(const struct task *);
void readiness_spawned(struct task *, struct run *);
void readiness_stopped(struct task *);
void readiness_reconfigured(struct task *);
void readiness_notified(struct task *, const struct notify_msg *);
void readiness_free(struct task *);

/* order.c: after = (SPEC section 8): release in order, stop in reverse. */
void order_init(const struct engine_ops *);
void order_link(struct task *const *, struct task_config *const *cfgs,
                size_t n);
void order_unlink(struct task *);
void order_task_changed(struct task *);
void order_stop(struct task *const *, size_t n);
void order_cancel_stop(struct task *);
void order_retry_stops(struct task *const *, size_t n);
bool order_blocked(const struct task *);
bool order_all_settled(void);
void order_free(void);

/*
 * events.c: what the engine tells the layers above it: the supervisor
 * (observing first) and the control socket.
 */
struct observer {
	void (*task_changed)(struct task *); /* t may be freed in it */
	void (*essential_failed)(struct task *, int exit_code);
	void (*tasks_changed)(void);        /* some task changed state */
	void (*task_gone)(struct task *);   /* a retired task is being freed */
	void (*run_ended)(struct run *);    /* reaped, before the task reacts */
	void (*task_output)(struct task *); /* lines were added to its ring */
	void (*shutdown_done)(void);        /* every task is down; exiting */
};

void events_observe(const struct observer *);
void events_unobserve(const struct observer *);
void events_task_changed(struct task *);
void events_essential_failed(struct task *, int exit_code);
void events_tasks_changed(void);
void events_task_gone(struct task *);
void events_run_ended(struct run *);
void events_task_output(struct task *);
void events_shutdown_done(void);

/* notify.c: systemd's readiness protocol, when $NOTIFY_SOCKET is set. */
void notify_send(const char *state);

/* supervisor.c: the tasks of a manifest, signals and shutdown. */
typedef void reload_say_fn(void *ctx, const char *line);

struct supervisor_options {
	const char *socket;
	bool detach;
	bool log_stderr;
	int ready_fd; /* -d: written once running, then closed; or -1 */
	/*
	 * The layer above: the control socket, opened once the tasks exist
	 * (-1: tendd exits 1), moved by a reload (-1: it stays, the reload
	 * says so), closed at exit; and SIGHUP's reload.
	 */
	int (*socket_open)(const char *path, const struct manifest *);
	int (*socket_move)(const char *path, const struct manifest *);
	void (*socket_close)(void);
	void (*reload)(void);
};

int supervisor_run(struct manifest *, const struct supervisor_options *);
void supervisor_shutdown(int exit_code);
bool supervisor_shutting_down(void);
const struct manifest *supervisor_manifest(void);
struct task *const *supervisor_tasks(size_t *n);
struct task *supervisor_find(const char *name);
void supervisor_set_tasks(struct task **, struct task_config *const *cfgs,
                          size_t n);
void supervisor_retire(struct task *);
bool supervisor_reload_pending(unsigned long serial);
void supervisor_adopt(struct manifest *, bool dry_run, reload_say_fn *,
                      void *ctx);

/* orphans.c: children of tendd that no run owns (PID 1, subreaper). */
typedef bool orphans_owned_fn(pid_t);

void orphans_init(orphans_owned_fn *);
size_t orphans_stop(int64_t timeout_ms);
void orphans_kill_now(void);
void orphans_reaped(pid_t);
void orphans_free(void);
void orphans_hint(const struct run *);

/* reload.c: a new manifest applied to the running tasks (SPEC section 5). */
int reload_manifest(bool dry_run, reload_say_fn *say, void *ctx,
                    struct diag *errors, unsigned long *serial);

/* ctlsocket.c: the control socket's path, locked, and its listening socket. */
struct ctlsocket {
	int fd;   /* listening */
	int lock; /* SOCKET.lock, flocked */
	char *path;
	dev_t dev; /* of the socket file made, to remove only that */
	ino_t ino;
};

int ctlsocket_open(struct ctlsocket *, const char *path,
                   const struct manifest *);
int ctlsocket_remake(struct ctlsocket *, const struct manifest *);
bool ctlsocket_is(const struct ctlsocket *, const char *path);
void ctlsocket_close(struct ctlsocket *);

/*
 * taskview.c: what status and metrics show of a task, computed in one
 * place from struct task (the figures, not their presentation).
 */
struct taskview {
	bool has_pid;         /* durable, log-only: a run exists */
	pid_t pid;            /* its run's process */
	double uptime;        /* seconds, with has_pid */
	bool backoff;         /* in backoff: next_start holds */
	double next_start;    /* seconds until the restart, never negative */
	bool up;              /* a process runs; per-request: can serve */
	bool ready;           /* SPEC section 8 */
	unsigned long active; /* per-request instances running; else 0 */
	enum health_state health;
	unsigned long health_failures;
	const char *status_text;   /* the last STATUS=, or NULL */
	struct task *const *after; /* waiting: its after tasks; else NULL */
	size_t nafter;
};

void taskview_of(const struct task *, double now, struct taskview *);
const char *taskview_waiting_for(const struct taskview *, size_t *i);

/* statusenc.c: a status answer's task rows, tendd's side. */
#define STATUSENC_WAITING_MAX 256 /* names of waiting_for= in one row */
void statusenc_task(struct buf *, const struct task *, ev_tstamp now);
bool statusenc_unhealthy(const struct task *);

/* metrics.c: Prometheus text exposition 0.0.4 of tendd and its tasks. */
struct metrics_cursor {
	size_t family; /* the next metric family to write; 0 at first */
	size_t task;   /* its next task */
	bool headed;   /* its # HELP and # TYPE are written */
};

bool metrics_fill(struct buf *text, struct metrics_cursor *,
                  struct task *const *tasks, size_t ntasks, double now,
                  size_t low);
void metrics_escape(struct buf *, const char *label_value);

/*
 * ctlclient.c: one client of the control socket, as the verbs answer it.
 * What tendd holds for one: a long answer (status, metrics, log) is queued
 * a part at a time while less than CLIENT_OUT_LOW is, so a client that
 * reads slowly costs that much, not the whole answer. Other answers are
 * small; one bigger than CLIENT_OUT_MAX is dropped.
 */
#define CLIENT_IDLE    10.0 /* seconds to send a request, or to read */
#define CLIENT_OUT_LOW (16 << 10)
#define CLIENT_OUT_MAX (4 << 20)

enum client_wait {
	WAIT_NONE,
	WAIT_STATUS,    /* until the status answer is all queued */
	WAIT_METRICS,   /* until the metrics answer is all queued */
	WAIT_LOG,       /* until the log lines are queued, or (-f) ever */
	WAIT_STOPPED,   /* until the tasks have no process */
	WAIT_RESTARTED, /* until the tasks are no longer stopping */
	WAIT_RUN,       /* until one run ends */
	WAIT_RELOADED,  /* until what a reload stopped is down or up again */
	WAIT_SHUTDOWN,  /* until tendd exits */
};

struct client {
	int fd;
	ev_io rio;
	ev_io wio;
	ev_timer idle;
	struct buf in;
	struct buf out;
	struct ucred peer;
	bool privileged;
	bool dropped;   /* its answer grew too large: closed next */
	bool following; /* log -f: never idle; read only for its EOF */
	enum client_wait wait;
	struct task **tasks; /* what WAIT_* waits on */
	int ntasks;
	bool named;                    /* status: of tasks, not of every task */
	size_t status_next;            /* status: the next task to encode */
	bool unhealthy;                /* status: exit 3 */
	struct metrics_cursor metrics; /* metrics: where the text goes on */
	struct task *log_task;         /* log: whose lines */
	uint64_t log_next;             /* log: the next line's number */
	uint64_t log_end;              /* log without -f: where it stops */
	uint64_t log_skipped;          /* log: lines evicted before sent */
	struct client *log_prev;       /* log: the list of ctllog.c */
	struct client *log_later;
	struct run *run;
	unsigned long stop_serial;   /* stop waits for runs up to this one */
	unsigned long reload_serial; /* the reload it waits on */
	struct client *next;
};

void ctlclient_flush(struct client *);
void ctlclient_msg(struct client *, const char *type, const char *fmt, ...)
    PRINTFLIKE(3, 4);
void ctlclient_end(struct client *, int code);
bool ctlclient_wants_more(const struct client *);
void ctlclient_free(struct client *);

/* ctllog.c: "log NAME [-n N] [-f]", answered from the task's ring. */
void ctllog_start(struct client *, struct task *, const struct proto_request *);
void ctllog_more(struct client *, const struct task *);
void ctllog_output(const struct task *);
void ctllog_done(struct client *);
void ctllog_end(struct client *, const struct task *, const char *why);

/* verbs.c: what each request does, and the waits of the engine's events. */
void verbs_init(void);
void verbs_request(struct client *, const char *line, size_t len);
void verbs_drained(struct client *);
void verbs_tasks_changed(struct client *);
void verbs_task_gone(struct client *, struct task *);
void verbs_run_ended(struct client *, struct run *);
void verbs_shutdown_done(struct client *);

/* control.c: the control socket's machinery, tendd's side. */
int control_open(const char *path, const struct manifest *);
int control_reconfigure(const char *path, const struct manifest *);
void control_close(void);

#endif
