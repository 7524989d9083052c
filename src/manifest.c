/*
 * manifest.c: turn the entries of an INI file into a validated manifest.
 * Keys are table-driven: each knows the classes it applies to and how to
 * parse its value. Every problem is reported with its line; none stops the
 * others from being found.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

#define DURABLE     (1u << CLASS_DURABLE)
#define LOG_ONLY    (1u << CLASS_LOG_ONLY)
#define PER_REQUEST (1u << CLASS_PER_REQUEST)
#define ALL_CLASSES (DURABLE | LOG_ONLY | PER_REQUEST)

#define STOP_TIMEOUT_INHERIT (-1)
#define HEALTH_RETRIES_MAX   100

static const char *class_names[] = {
    [CLASS_DURABLE] = "durable",
    [CLASS_LOG_ONLY] = "log-only",
    [CLASS_PER_REQUEST] = "per-request",
};

const char *manifest_class_name(enum task_class class)
{
	return class_names[class];
}

/* Task keys. */

static const char *
key_class(struct task_config *t, const char *v)
{
	for (size_t i = 0; i < sizeof(class_names) / sizeof(*class_names); i++)
		if (strcmp(v, class_names[i]) == 0) {
			t->class = (enum task_class)i;
			return NULL;
		}
	return "not a class (durable, log-only or per-request)";
}

static const char *
key_command(struct task_config *t, const char *v)
{
	return cmdline_split(v, &t->argv, &t->argc);
}

static const char *
key_directory(struct task_config *t, const char *v)
{
	if (v[0] != '/')
		return "not an absolute path";
	t->directory = xstrdup(v);
	return NULL;
}

static bool
manifest_number(const char *v, long *n)
{
	return value_count(v, 0, INT32_MAX, n) == NULL;
}

static const char *
key_user(struct task_config *t, const char *v)
{
	struct passwd *pw;
	long n;

	errno = 0;
	pw = manifest_number(v, &n) ? getpwuid((uid_t)n) : getpwnam(v);
	if (pw != NULL) {
		t->uid = pw->pw_uid;
		if (!t->has_group)
			t->gid = pw->pw_gid;
		t->user = xstrdup(pw->pw_name);
	} else if (manifest_number(v, &n))
		t->uid = (uid_t)n; /* no passwd entry: group is required */
	else
		return "no such user";
	t->has_user = true;
	return NULL;
}

static const char *
key_group(struct task_config *t, const char *v)
{
	struct group *gr;
	long n;

	if (manifest_number(v, &n))
		t->gid = (gid_t)n;
	else if ((gr = getgrnam(v)) != NULL)
		t->gid = gr->gr_gid;
	else
		return "no such group";
	t->has_group = true;
	return NULL;
}

/*
 * With user, the supplementary groups the task gets: resolved here, when
 * the manifest is read (at start and at each reload), as this is an NSS
 * lookup (maybe LDAP) that must not run on the loop at every spawn. A bare
 * uid, with no passwd entry, gets its group alone.
 */
static void
task_groups(struct task_config *t)
{
	int n = 16, had;

	if (!t->has_user)
		return;
	t->groups = xcalloc((size_t)n, sizeof(gid_t));
	if (t->user == NULL) {
		t->groups[0] = t->gid;
		t->ngroups = 1;
		return;
	}
	for (;;) {
		had = n;
		if (getgrouplist(t->user, t->gid, t->groups, &n) != -1)
			break;
		if (n <= had) { /* no count to grow to: the group alone */
			t->groups[0] = t->gid;
			n = 1;
			break;
		}
		t->groups = xreallocarray(t->groups, (size_t)n, sizeof(gid_t));
	}
	t->ngroups = n;
}

static const char *
key_umask(struct task_config *t, const char *v)
{
	return value_mode(v, &t->umask);
}

static const char *
key_env(struct task_config *t, const char *v)
{
	const char *eq = strchr(v, '=');
	size_t keylen;

	if (eq == NULL || eq == v)
		return "not KEY=VALUE";
	keylen = (size_t)(eq - v);
	if (isdigit((unsigned char)v[0]))
		return "variable name starts with a digit";
	for (const char *p = v; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return "variable name is not [A-Za-z_][A-Za-z0-9_]*";
	for (size_t i = 0; i < t->nenv; i++)
		if (strncmp(t->env[i], v, keylen + 1) == 0)
			return "variable set twice";
	t->env = xreallocarray(t->env, t->nenv + 2, sizeof(*t->env));
	t->env[t->nenv++] = xstrdup(v);
	t->env[t->nenv] = NULL;
	return NULL;
}

static const char *
key_clear_env(struct task_config *t, const char *v)
{
	return value_bool(v, &t->clear_env);
}

/* Issue 15, process keys: env_file, limit_*, nice, oom_score_adj. */

/* env_file = [-]PATH: read at each spawn (envfile.c), so only kept here. */
static const char *
key_env_file(struct task_config *t, const char *v)
{
	if (v[v[0] == '-'] != '/')
		return "not an absolute path (with - before it: may be "
		       "missing)";
	for (size_t i = 0; i < t->nenv_files; i++)
		if (strcmp(t->env_files[i], v) == 0)
			return "file listed twice";
	t->env_files = xreallocarray(t->env_files, t->nenv_files + 2,
	                             sizeof(*t->env_files));
	t->env_files[t->nenv_files++] = xstrdup(v);
	t->env_files[t->nenv_files] = NULL;
	return NULL;
}

static const char *
manifest_limit(struct task_config *t, const char *v, enum task_limit_id id,
               enum limit_kind kind)
{
	struct task_limit *l = &t->limits[id];
	const char *why = value_limit(v, kind, &l->soft, &l->hard);

	l->set = why == NULL;
	return why;
}

#define LIMIT_KEY(name, id, kind)                                  \
	static const char *key_limit_##name(struct task_config *t, \
	                                    const char *v)         \
	{                                                          \
		return manifest_limit(t, v, id, kind);             \
	}
LIMIT_KEY(nofile, LIMIT_NOFILE, LIMIT_COUNT)
LIMIT_KEY(nproc, LIMIT_NPROC, LIMIT_COUNT)
LIMIT_KEY(core, LIMIT_CORE, LIMIT_BYTES)
LIMIT_KEY(as, LIMIT_AS, LIMIT_BYTES)
LIMIT_KEY(cpu, LIMIT_CPU, LIMIT_SECONDS)
LIMIT_KEY(fsize, LIMIT_FSIZE, LIMIT_BYTES)
LIMIT_KEY(memlock, LIMIT_MEMLOCK, LIMIT_BYTES)
LIMIT_KEY(stack, LIMIT_STACK, LIMIT_BYTES)

static const char *
key_nice(struct task_config *t, const char *v)
{
	long n;

	if (value_signed(v, -20, 19, &n) != NULL)
		return "not a number from -20 to 19";
	t->nice = (int)n;
	t->has_nice = true;
	return NULL;
}

static const char *
key_oom_score_adj(struct task_config *t, const char *v)
{
	long n;

	if (value_signed(v, -1000, 1000, &n) != NULL)
		return "not a number from -1000 to 1000";
	t->oom_score_adj = (int)n;
	t->has_oom_score_adj = true;
	return NULL;
}

/* syslog | null | inherit | console | file:PATH, PATH absolute. */
static const char *
manifest_output(const char *v, enum output_mode *mode, char **path)
{
	free(*path);
	*path = NULL;
	if (strcmp(v, "syslog") == 0)
		*mode = OUTPUT_SYSLOG;
	else if (strcmp(v, "null") == 0)
		*mode = OUTPUT_NULL;
	else if (strcmp(v, "inherit") == 0)
		*mode = OUTPUT_INHERIT;
	else if (strcmp(v, "console") == 0)
		*mode = OUTPUT_CONSOLE;
	else if (strncmp(v, "file:", 5) == 0) {
		if (v[5] != '/')
			return "file: needs an absolute path";
		if (v[strlen(v) - 1] == '/')
			return "file: names a directory";
		*mode = OUTPUT_FILE;
		*path = xstrdup(v + 5);
	} else
		return "not syslog, null, inherit, console or file:PATH";
	return NULL;
}

static const char *
key_stdout(struct task_config *t, const char *v)
{
	return manifest_output(v, &t->out, &t->out_path);
}

static const char *
key_stderr(struct task_config *t, const char *v)
{
	return manifest_output(v, &t->err, &t->err_path);
}

/* A size in bytes: digits, then K, M or G (powers of 1024), up to 1T. */
static const char *
key_log_max_size(struct task_config *t, const char *v)
{
	static const char units[] = "KMG";
	unsigned long long n = 0;
	const char *p = v, *u;

	if (!isdigit((unsigned char)*p))
		return "not a size (a number, then K, M or G)";
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (unsigned long long)(*p - '0');
		if (n > LOG_MAX_SIZE_MAX)
			return "too large (1T at most)";
	}
	if (*p != '\0') {
		if (p[1] != '\0' || (u = strchr(units, toupper(*p))) == NULL)
			return "not a size (a number, then K, M or G)";
		for (ptrdiff_t i = 0; i <= u - units; i++)
			n *= 1024;
	}
	if (n > LOG_MAX_SIZE_MAX)
		return "too large (1T at most)";
	t->log_max_size = (int64_t)n;
	return NULL;
}

static const char *
key_log_backups(struct task_config *t, const char *v)
{
	if (value_count(v, 0, LOG_BACKUPS_MAX, &t->log_backups) != NULL)
		return "not a number from 0 to 1000";
	return NULL;
}

static const char *
key_stop_signal(struct task_config *t, const char *v)
{
	if ((t->stop_signal = signame_parse(v)) == -1)
		return "not a signal name or number";
	return NULL;
}

/* A duration that must be more than 0; *ms is set only when valid. */
static const char *
manifest_positive_duration(const char *v, int64_t *ms)
{
	int64_t parsed;
	const char *why = value_duration(v, &parsed);

	if (why == NULL && parsed == 0)
		return "must be longer than 0";
	if (why == NULL)
		*ms = parsed;
	return why;
}

static const char *
key_stop_timeout(struct task_config *t, const char *v)
{
	return manifest_positive_duration(v, &t->stop_timeout_ms);
}

static const char *
key_autostart(struct task_config *t, const char *v)
{
	return value_bool(v, &t->autostart);
}

static const char *
key_essential(struct task_config *t, const char *v)
{
	return value_bool(v, &t->essential);
}

static const char *
key_backoff_min(struct task_config *t, const char *v)
{
	return value_duration(v, &t->backoff_min_ms);
}

static const char *
key_backoff_max(struct task_config *t, const char *v)
{
	return manifest_positive_duration(v, &t->backoff_max_ms);
}

static const char *
key_healthy_after(struct task_config *t, const char *v)
{
	return value_duration(v, &t->healthy_after_ms);
}

static const char *
key_listen(struct task_config *t, const char *v)
{
	return endpoint_parse(v, &t->listen);
}

static const char *
key_max_instances(struct task_config *t, const char *v)
{
	if (value_count(v, 1, INSTANCES_MAX, &t->max_instances) != NULL)
		return "not a number from 1 to 100000";
	return NULL;
}

/* listen_mode, listen_user, listen_group: the unix socket file (issue 15). */
static const char *
key_listen_mode(struct task_config *t, const char *v)
{
	return value_mode(v, &t->listen_mode);
}

static const char *
key_listen_user(struct task_config *t, const char *v)
{
	struct passwd *pw;
	long n;

	if (manifest_number(v, &n))
		t->listen_uid = (uid_t)n;
	else if ((pw = getpwnam(v)) != NULL)
		t->listen_uid = pw->pw_uid;
	else
		return "no such user";
	t->has_listen_user = true;
	return NULL;
}

static const char *
key_listen_group(struct task_config *t, const char *v)
{
	struct task_config scratch = {.has_group = false};
	const char *why = key_group(&scratch, v);

	if (why == NULL) {
		t->listen_gid = scratch.gid;
		t->has_listen_group = true;
	}
	return why;
}

static const char *
key_max_per_source(struct task_config *t, const char *v)
{
	if (value_count(v, 0, INSTANCES_MAX, &t->max_per_source) != NULL)
		return "not a number from 0 to 100000";
	return NULL;
}

static const char *
key_timeout(struct task_config *t, const char *v)
{
	return value_duration(v, &t->timeout_ms);
}

static bool task_name_valid(const char *);

/* Whether t's after list already holds name. */
static bool
after_has(const struct task_config *t, const char *name, size_t len)
{
	for (size_t i = 0; i < t->nafter; i++)
		if (strlen(t->after[i]) == len &&
		    strncmp(t->after[i], name, len) == 0)
			return true;
	return false;
}

/*
 * after = NAME ...: whitespace-separated task names, appended to those of
 * an earlier after key, each once. Whether each names a task is known only
 * once the whole manifest is read (manifest_check_after).
 */
static const char *
key_after(struct task_config *t, const char *v)
{
	static char why[TASK_NAME_MAX + 64];
	const char *p = v;
	char name[TASK_NAME_MAX + 1];
	size_t len;

	for (p += strspn(p, " \t"); *p; p += len, p += strspn(p, " \t")) {
		len = strcspn(p, " \t");
		snprintf(name, sizeof(name), "%.*s", (int)len, p);
		if (len > TASK_NAME_MAX || !task_name_valid(name)) {
			snprintf(why, sizeof(why),
			         "'%.*s%s' is not a task name (1 to 64 of "
			         "A-Z a-z 0-9 _ . -)",
			         (int)(len > 32 ? 32 : len), p,
			         len > 32 ? "..." : "");
			return why;
		}
	}
	for (p = v + strspn(v, " \t"); *p; p += len, p += strspn(p, " \t")) {
		len = strcspn(p, " \t");
		if (after_has(t, p, len))
			continue;
		t->after =
		    xreallocarray(t->after, t->nafter + 2, sizeof(*t->after));
		t->after[t->nafter] = xmalloc(len + 1);
		memcpy(t->after[t->nafter], p, len);
		t->after[t->nafter][len] = '\0';
		t->after[++t->nafter] = NULL;
	}
	return NULL;
}

static const char *
key_ready(struct task_config *t, const char *v)
{
	return probespec_parse(v, true, &t->ready);
}

static const char *
key_ready_timeout(struct task_config *t, const char *v)
{
	return manifest_positive_duration(v, &t->ready_timeout_ms);
}

static const char *
key_health(struct task_config *t, const char *v)
{
	return probespec_parse(v, false, &t->health);
}

static const char *
key_health_interval(struct task_config *t, const char *v)
{
	return manifest_positive_duration(v, &t->health_interval_ms);
}

static const char *
key_health_timeout(struct task_config *t, const char *v)
{
	return manifest_positive_duration(v, &t->health_timeout_ms);
}

static const char *
key_health_retries(struct task_config *t, const char *v)
{
	if (value_count(v, 1, HEALTH_RETRIES_MAX, &t->health_retries) != NULL)
		return "not a number from 1 to 100";
	return NULL;
}

enum task_key_id {
	KEY_CLASS,
	KEY_COMMAND,
	KEY_DIRECTORY,
	KEY_USER,
	KEY_GROUP,
	KEY_UMASK,
	KEY_ENV,
	KEY_CLEAR_ENV,
	KEY_STDOUT,
	KEY_STDERR,
	KEY_LOG_MAX_SIZE,
	KEY_LOG_BACKUPS,
	KEY_STOP_SIGNAL,
	KEY_STOP_TIMEOUT,
	KEY_AUTOSTART,
	KEY_ESSENTIAL,
	KEY_AFTER,
	KEY_BACKOFF_MIN,
	KEY_BACKOFF_MAX,
	KEY_HEALTHY_AFTER,
	KEY_READY,
	KEY_READY_TIMEOUT,
	KEY_HEALTH,
	KEY_HEALTH_INTERVAL,
	KEY_HEALTH_TIMEOUT,
	KEY_HEALTH_RETRIES,
	KEY_LISTEN,
	KEY_MAX_INSTANCES,
	KEY_TIMEOUT,
	/* issue 15, process keys */
	KEY_ENV_FILE,
	KEY_LIMIT_NOFILE,
	KEY_LIMIT_NPROC,
	KEY_LIMIT_CORE,
	KEY_LIMIT_AS,
	KEY_LIMIT_CPU,
	KEY_LIMIT_FSIZE,
	KEY_LIMIT_MEMLOCK,
	KEY_LIMIT_STACK,
	KEY_NICE,
	KEY_OOM_SCORE_ADJ,
	KEY_LISTEN_MODE,
	KEY_LISTEN_USER,
	KEY_LISTEN_GROUP,
	KEY_MAX_PER_SOURCE,
	NTASK_KEYS
};

static const struct task_key {
	const char *name;
	unsigned classes;
	const char *(*parse)(struct task_config *, const char *);
} task_keys[NTASK_KEYS] = {
    [KEY_CLASS] = {"class", ALL_CLASSES, key_class},
    [KEY_COMMAND] = {"command", ALL_CLASSES, key_command},
    [KEY_DIRECTORY] = {"directory", ALL_CLASSES, key_directory},
    [KEY_USER] = {"user", ALL_CLASSES, key_user},
    [KEY_GROUP] = {"group", ALL_CLASSES, key_group},
    [KEY_UMASK] = {"umask", ALL_CLASSES, key_umask},
    [KEY_ENV] = {"env", ALL_CLASSES, key_env},
    [KEY_CLEAR_ENV] = {"clear_env", ALL_CLASSES, key_clear_env},
    [KEY_STDOUT] = {"stdout", ALL_CLASSES, key_stdout},
    [KEY_STDERR] = {"stderr", ALL_CLASSES, key_stderr},
    [KEY_LOG_MAX_SIZE] = {"log_max_size", ALL_CLASSES, key_log_max_size},
    [KEY_LOG_BACKUPS] = {"log_backups", ALL_CLASSES, key_log_backups},
    [KEY_STOP_SIGNAL] = {"stop_signal", ALL_CLASSES, key_stop_signal},
    [KEY_STOP_TIMEOUT] = {"stop_timeout", ALL_CLASSES, key_stop_timeout},
    [KEY_AUTOSTART] = {"autostart", DURABLE | LOG_ONLY, key_autostart},
    [KEY_ESSENTIAL] = {"essential", DURABLE | LOG_ONLY, key_essential},
    [KEY_AFTER] = {"after", ALL_CLASSES, key_after},
    [KEY_BACKOFF_MIN] = {"backoff_min", DURABLE, key_backoff_min},
    [KEY_BACKOFF_MAX] = {"backoff_max", DURABLE, key_backoff_max},
    [KEY_HEALTHY_AFTER] = {"healthy_after", DURABLE, key_healthy_after},
    [KEY_READY] = {"ready", DURABLE, key_ready},
    [KEY_READY_TIMEOUT] = {"ready_timeout", DURABLE, key_ready_timeout},
    [KEY_HEALTH] = {"health", DURABLE, key_health},
    [KEY_HEALTH_INTERVAL] = {"health_interval", DURABLE, key_health_interval},
    [KEY_HEALTH_TIMEOUT] = {"health_timeout", DURABLE, key_health_timeout},
    [KEY_HEALTH_RETRIES] = {"health_retries", DURABLE, key_health_retries},
    [KEY_LISTEN] = {"listen", PER_REQUEST, key_listen},
    [KEY_MAX_INSTANCES] = {"max_instances", PER_REQUEST, key_max_instances},
    [KEY_TIMEOUT] = {"timeout", PER_REQUEST, key_timeout},
    [KEY_ENV_FILE] = {"env_file", ALL_CLASSES, key_env_file},
    [KEY_LIMIT_NOFILE] = {"limit_nofile", ALL_CLASSES, key_limit_nofile},
    [KEY_LIMIT_NPROC] = {"limit_nproc", ALL_CLASSES, key_limit_nproc},
    [KEY_LIMIT_CORE] = {"limit_core", ALL_CLASSES, key_limit_core},
    [KEY_LIMIT_AS] = {"limit_as", ALL_CLASSES, key_limit_as},
    [KEY_LIMIT_CPU] = {"limit_cpu", ALL_CLASSES, key_limit_cpu},
    [KEY_LIMIT_FSIZE] = {"limit_fsize", ALL_CLASSES, key_limit_fsize},
    [KEY_LIMIT_MEMLOCK] = {"limit_memlock", ALL_CLASSES, key_limit_memlock},
    [KEY_LIMIT_STACK] = {"limit_stack", ALL_CLASSES, key_limit_stack},
    [KEY_NICE] = {"nice", ALL_CLASSES, key_nice},
    [KEY_OOM_SCORE_ADJ] = {"oom_score_adj", ALL_CLASSES, key_oom_score_adj},
    [KEY_LISTEN_MODE] = {"listen_mode", PER_REQUEST, key_listen_mode},
    [KEY_LISTEN_USER] = {"listen_user", PER_REQUEST, key_listen_user},
    [KEY_LISTEN_GROUP] = {"listen_group", PER_REQUEST, key_listen_group},
    [KEY_MAX_PER_SOURCE] = {"max_per_source", PER_REQUEST, key_max_per_source},
};

/* Global keys. */

static const char *
key_control_socket(struct manifest *m, const char *v)
{
	if (v[0] != '/')
		return "not an absolute path";
	if (strlen(v) >= 108)
		return "longer than 107 bytes";
	free(m->control_socket);
	m->control_socket = xstrdup(v);
	return NULL;
}

static const char *
key_socket_mode(struct manifest *m, const char *v)
{
	return value_mode(v, &m->socket_mode);
}

static const char *
key_socket_group(struct manifest *m, const char *v)
{
	struct task_config scratch = {.has_group = false};
	const char *why;

	if (*v == '\0')
		return NULL;
	if ((why = key_group(&scratch, v)) == NULL) {
		m->has_socket_group = true;
		m->socket_gid = scratch.gid;
	}
	return why;
}

static const char *
key_syslog_ident(struct manifest *m, const char *v)
{
	if (*v == '\0' || strlen(v) > SYSLOG_IDENT_MAX)
		return "must be 1 to 64 characters";
	free(m->syslog_ident);
	m->syslog_ident = xstrdup(v);
	return NULL;
}

static const char *
key_syslog_facility(struct manifest *m, const char *v)
{
	static const struct {
		const char *name;
		int facility;
	} facilities[] = {
	    {"daemon", LOG_DAEMON}, {"user", LOG_USER},
	    {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
	    {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
	    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	    {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
	};

	for (size_t i = 0; i < sizeof(facilities) / sizeof(*facilities); i++)
		if (strcmp(v, facilities[i].name) == 0) {
			m->syslog_facility = facilities[i].facility;
			return NULL;
		}
	return "not daemon, user or local0 to local7";
}

static const char *
key_pid_file(struct manifest *m, const char *v)
{
	if (*v == '\0')
		return NULL;
	if (v[0] != '/')
		return "not an absolute path";
	free(m->pid_file);
	m->pid_file = xstrdup(v);
	return NULL;
}

static const char *
key_subreaper(struct manifest *m, const char *v)
{
	return value_bool(v, &m->subreaper);
}

static const char *
key_global_stop_timeout(struct manifest *m, const char *v)
{
	return manifest_positive_duration(v, &m->stop_timeout_ms);
}

static const struct global_key {
	const char *name;
	const char *(*parse)(struct manifest *, const char *);
} global_keys[] = {
    {"control_socket", key_control_socket},
    {"socket_mode", key_socket_mode},
    {"socket_group", key_socket_group},
    {"syslog_ident", key_syslog_ident},
    {"syslog_facility", key_syslog_facility},
    {"pid_file", key_pid_file},
    {"subreaper", key_subreaper},
    {"stop_timeout", key_global_stop_timeout},
    {"include", NULL}, /* repeatable: include.c, from global_build */
};

#define NGLOBAL_KEYS (sizeof(global_keys) / sizeof(*global_keys))

static void
manifest_defaults(struct manifest *m, const char *path)
{
	memset(m, 0, sizeof(*m));
	m->path = xstrdup(path);
	m->control_socket = proto_default_socket();
	m->socket_mode = 0600;
	m->syslog_ident = xstrdup("tendd");
	m->syslog_facility = LOG_DAEMON;
	m->stop_timeout_ms = 10 * 1000;
}

static void
task_defaults(struct task_config *t, const char *name, int line)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->line = line;
	t->gid = getegid();
	t->uid = geteuid();
	t->umask = 022;
	t->out = t->err = OUTPUT_SYSLOG;
	t->log_max_size = 10 * 1024 * 1024;
	t->log_backups = 5;
	t->stop_signal = SIGTERM;
	t->stop_timeout_ms = STOP_TIMEOUT_INHERIT;
	t->autostart = true;
	t->backoff_min_ms = 1000;
	t->backoff_max_ms = 60 * 1000;
	t->healthy_after_ms = 300 * 1000;
	t->max_instances = 64;
	t->listen_mode = 0666;
	t->ready_timeout_ms = 60 * 1000;
	t->health_interval_ms = 30 * 1000;
	t->health_timeout_ms = 5 * 1000;
	t->health_retries = 3;
}

void
task_config_free(struct task_config *t)
{
	free(t->argv);
	free(t->directory);
	free(t->out_path);
	free(t->err_path);
	free(t->user);
	free(t->groups);
	for (size_t i = 0; i < t->nenv; i++)
		free(t->env[i]);
	free(t->env);
	for (size_t i = 0; i < t->nenv_files; i++)
		free(t->env_files[i]);
	free(t->env_files);
	endpoint_free(&t->listen);
	for (size_t i = 0; i < t->nafter; i++)
		free(t->after[i]);
	free(t->after);
	t->after = NULL;
	t->nafter = 0;
	probespec_free(&t->ready);
	probespec_free(&t->health);
}

/* One file read: the manifest (0) or an included file (include = ). */
struct mfile {
	const char *path;
	struct inifile ini;
	struct diag diag; /* its problems, in its line order */
};

/* Parsing state shared by the section handlers. */
struct build {
	const char *file; /* file, ini and diag: of the source being built */
	const struct inifile *ini;
	struct manifest *m;
	struct diag *diag;
	struct mfile *src; /* the manifest, then the included files */
	size_t nsrc;
	size_t cur;               /* the source being built */
	struct include_files inc; /* what the manifest's include keys name */
	size_t *task_src;         /* of each task kept: its source */
	size_t *names;    /* open addressing: task index + 1, 0 when free */
	size_t names_cap; /* a power of two, over twice the sections */
	int *sections;    /* of each task kept: its section's index */
	size_t tasks_cap; /* of m->tasks and sections */
};

static size_t
name_hash(const char *s)
{
	size_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * The task already named name, or NULL; with add, a new name is recorded as
 * the next task's. A hash, so that a manifest of 10 000 tasks reads fast.
 */
static const struct task_config *
name_find(struct build *b, const char *name, bool add)
{
	size_t i = name_hash(name) & (b->names_cap - 1);

	for (; b->names[i]; i = (i + 1) & (b->names_cap - 1))
		if (strcmp(b->m->tasks[b->names[i] - 1].name, name) == 0)
			return &b->m->tasks[b->names[i] - 1];
	if (add)
		b->names[i] = b->m->ntasks + 1;
	return NULL;
}

/* Room in the name hash for n tasks, keeping it under half full. */
static void
names_reserve(struct build *b, size_t n)
{
	size_t cap = b->names_cap, i;

	while (cap <= 2 * n)
		cap = cap ? cap * 2 : 16;
	if (cap == b->names_cap)
		return;
	free(b->names);
	b->names = xcalloc(cap, sizeof(*b->names));
	b->names_cap = cap;
	for (size_t t = 0; t < b->m->ntasks; t++) {
		i = name_hash(b->m->tasks[t].name) & (cap - 1);
		while (b->names[i])
			i = (i + 1) & (cap - 1);
		b->names[i] = t + 1;
	}
}

/* Make source i the one problems and entries are of. */
static void
build_enter(struct build *b, size_t i)
{
	b->cur = i;
	b->file = b->src[i].path;
	b->ini = &b->src[i].ini;
	b->diag = &b->src[i].diag;
}

static bool
task_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > TASK_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return false;
	return true;
}

/*
 * The edit distance between a and b (optimal string alignment: a letter
 * added, removed or replaced, or two neighbours swapped, each one edit), or
 * KEY_FAR when either is longer than any key.
 */
enum { KEY_FAR = 99, KEY_LEN_MAX = 31 };

static size_t
key_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[KEY_LEN_MAX + 1][KEY_LEN_MAX + 1];

	if (la > KEY_LEN_MAX || lb > KEY_LEN_MAX)
		return KEY_FAR;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

/* Keep name as *best if it is nearer to key than *best, and near enough. */
static void
key_consider(const char *key, const char *name, const char **best,
             size_t *best_distance)
{
	size_t near = strlen(key) >= 6 ? 2 : 1, dist = key_distance(key, name);

	if (dist <= near && dist < *best_distance) {
		*best = name;
		*best_distance = dist;
	}
}

/* " (did you mean 'KEY'?)" for the known key nearest to key, or "". */
static const char *
key_hint(const char *nearest, char *buf, size_t size)
{
	if (nearest == NULL)
		return "";
	snprintf(buf, size, " (did you mean '%s'?)", nearest);
	return buf;
}

static const char *
task_key_nearest(const char *key)
{
	const char *best = NULL;
	size_t dist = KEY_FAR;

	for (size_t i = 0; i < NTASK_KEYS; i++)
		key_consider(key, task_keys[i].name, &best, &dist);
	return best;
}

static const struct task_key *
task_key_find(const char *name)
{
	for (size_t i = 0; i < NTASK_KEYS; i++)
		if (strcmp(name, task_keys[i].name) == 0)
			return &task_keys[i];
	return NULL;
}

/*
 * Apply one entry to t. class_ok says whether t->class is known, so that
 * keys are checked against it.
 */
static void
task_apply(struct build *b, struct task_config *t, const struct ini_entry *e,
           bool class_ok, int *first_line)
{
	const struct task_key *k = task_key_find(e->key);
	size_t idx;
	const char *why;

	if (k == NULL) {
		char hint[64];
		diag_add(
		    b->diag, b->file, e->line, "unknown key '%s' in task %s%s",
		    e->key, t->name,
		    key_hint(task_key_nearest(e->key), hint, sizeof(hint)));
		return;
	}
	idx = (size_t)(k - task_keys);
	if (first_line[idx] && idx != KEY_ENV && idx != KEY_AFTER &&
	    idx != KEY_ENV_FILE) {
		diag_add(b->diag, b->file, e->line,
		         "duplicate key '%s' (first at line %d)", e->key,
		         first_line[idx]);
		return;
	}
	first_line[idx] = e->line;
	if (class_ok && !(k->classes & (1u << t->class))) {
		diag_add(b->diag, b->file, e->line,
		         "key '%s' does not apply to a %s task", e->key,
		         class_names[t->class]);
		return;
	}
	if (e->value == NULL) /* lost to a long line, already reported */
		return;
	if (idx == KEY_CLASS)
		return; /* done first, in task_build */
	if (*e->value == '\0')
		why = "needs a value";
	else
		why = k->parse(t, e->value);
	if (why != NULL)
		diag_add(b->diag, b->file, e->line, "%s = %s: %s", e->key,
		         e->value, why);
	else if (idx == KEY_AFTER)
		t->after_line = e->line;
}

/* The listen_* keys name a socket file: a unix listen's only. */
static void
task_check_listen(struct build *b, const struct task_config *t,
                  const int *first_line)
{
	static const int keys[] = {KEY_LISTEN_MODE, KEY_LISTEN_USER,
	                           KEY_LISTEN_GROUP};

	if (t->class != CLASS_PER_REQUEST || t->listen.kind == ENDPOINT_UNIX ||
	    (first_line[KEY_LISTEN] && t->listen.kind == ENDPOINT_NONE))
		return; /* said already: the class, or a bad listen */
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		if (first_line[keys[i]])
			diag_add(b->diag, b->file, first_line[keys[i]],
			         "%s applies to a unix listen socket only "
			         "(listen = unix:PATH)",
			         task_keys[keys[i]].name);
}

/* Checks that need the whole task. */
static void
task_check(struct build *b, struct task_config *t, const int *first_line)
{
	task_check_listen(b, t, first_line);
	if (!first_line[KEY_COMMAND])
		diag_add(b->diag, b->file, t->line,
		         "task %s: missing required key 'command'", t->name);
	if (t->has_user && t->user == NULL && !t->has_group)
		diag_add(b->diag, b->file, first_line[KEY_USER],
		         "user %u has no passwd entry: set group too",
		         (unsigned)t->uid);
	if (t->class == CLASS_DURABLE &&
	    t->backoff_min_ms > t->backoff_max_ms) {
		char min[32], max[32];
		diag_add(
		    b->diag, b->file,
		    first_line[KEY_BACKOFF_MIN] ? first_line[KEY_BACKOFF_MIN]
		                                : first_line[KEY_BACKOFF_MAX],
		    "backoff_min (%s) is longer than backoff_max (%s)",
		    value_duration_text(t->backoff_min_ms, min, sizeof(min)),
		    value_duration_text(t->backoff_max_ms, max, sizeof(max)));
	}
}

/*
 * Build the task of one [task:NAME] section. A task with a bad or duplicate
 * name is still checked, key by key, and then dropped.
 */
static void
task_build(struct build *b, int section, const char *name)
{
	const struct ini_section *s = &b->ini->sections[section];
	struct manifest *m = b->m;
	const struct task_config *first;
	struct task_config t;
	int first_line[NTASK_KEYS] = {0};
	bool class_ok = false, keep = true;
	const char *why;

	if (!task_name_valid(name)) {
		diag_add(b->diag, b->file, s->line,
		         "bad task name '%s': 1 to 64 of A-Z a-z 0-9 _ . -",
		         name);
		keep = false;
	} else if (strcmp(name, "all") == 0) {
		diag_add(b->diag, b->file, s->line,
		         "task name 'all' is reserved: tendctl takes it for "
		         "every task");
		keep = false;
	}
	if (keep && (first = name_find(b, name, false)) != NULL) {
		size_t at = b->task_src[first - m->tasks];
		if (at == b->cur)
			diag_add(b->diag, b->file, s->line,
			         "duplicate task '%s' (first at line %d)", name,
			         first->line);
		else
			diag_add(b->diag, b->file, s->line,
			         "task %s: already defined at %s:%d", name,
			         b->src[at].path, first->line);
		keep = false;
	}
	task_defaults(&t, name, s->line);

	/* The class decides which keys apply, so it goes first. */
	for (size_t i = s->first_entry; i < s->first_entry + s->nentries; i++) {
		const struct ini_entry *e = &b->ini->entries[i];
		if (strcmp(e->key, "class") != 0 || e->value == NULL)
			continue;
		if ((why = key_class(&t, e->value)) != NULL)
			diag_add(b->diag, b->file, e->line, "class = %s: %s",
			         e->value, why);
		else
			class_ok = true;
		break;
	}
	for (size_t i = s->first_entry; i < s->first_entry + s->nentries; i++)
		task_apply(b, &t, &b->ini->entries[i], class_ok, first_line);
	if (!first_line[KEY_CLASS])
		diag_add(b->diag, b->file, s->line,
		         "task %s: missing required key 'class'", t.name);
	task_check(b, &t, first_line);
	task_groups(&t);
	if (!keep) {
		task_config_free(&t);
		return;
	}
	name_find(b, t.name, true);
	if (m->ntasks == b->tasks_cap) { /* doubled: 10 000 tasks read fast */
		b->tasks_cap = b->tasks_cap ? 2 * b->tasks_cap : 16;
		m->tasks =
		    xreallocarray(m->tasks, b->tasks_cap, sizeof(*m->tasks));
		b->sections = xreallocarray(b->sections, b->tasks_cap,
		                            sizeof(*b->sections));
		b->task_src = xreallocarray(b->task_src, b->tasks_cap,
		                            sizeof(*b->task_src));
	}
	b->task_src[m->ntasks] = b->cur;
	b->sections[m->ntasks] = section;
	m->tasks[m->ntasks++] = t;
}

static void
global_unknown(struct build *b, const struct ini_entry *e)
{
	const char *best = NULL;
	size_t dist = KEY_FAR;
	char hint[64];

	for (size_t k = 0; k < NGLOBAL_KEYS; k++)
		key_consider(e->key, global_keys[k].name, &best, &dist);
	diag_add(b->diag, b->file, e->line, "unknown key '%s' in [tend]%s",
	         e->key, key_hint(best, hint, sizeof(hint)));
}

static void
global_build(struct build *b, int section)
{
	const struct ini_section *s = &b->ini->sections[section];
	int first_line[NGLOBAL_KEYS] = {0};
	const char *why;
	size_t k;

	for (size_t i = s->first_entry; i < s->first_entry + s->nentries; i++) {
		const struct ini_entry *e = &b->ini->entries[i];
		for (k = 0; k < NGLOBAL_KEYS; k++)
			if (strcmp(e->key, global_keys[k].name) == 0)
				break;
		if (k == NGLOBAL_KEYS) {
			global_unknown(b, e);
			continue;
		}
		if (global_keys[k].parse == NULL) {
			if (e->value != NULL)
				include_expand(&b->inc, e->value, b->file,
				               e->line, b->diag);
			continue;
		}
		if (first_line[k]) {
			diag_add(b->diag, b->file, e->line,
			         "duplicate key '%s' (first at line %d)",
			         e->key, first_line[k]);
			continue;
		}
		first_line[k] = e->line;
		if (e->value == NULL)
			continue;
		if ((why = global_keys[k].parse(b->m, e->value)) != NULL)
			diag_add(b->diag, b->file, e->line, "%s = %s: %s",
			         e->key, e->value, why);
	}
}

/* An unknown section, with the header meant if it is one edit away. */
static void
section_unknown(struct build *b, const struct ini_section *s)
{
	const char *colon = strchr(s->name, ':');
	char kind[8];

	if (colon != NULL && (size_t)(colon - s->name) < sizeof(kind)) {
		snprintf(kind, sizeof(kind), "%.*s", (int)(colon - s->name),
		         s->name);
		if (key_distance(kind, "task") <= 1) {
			diag_add(b->diag, b->file, s->line,
			         "unknown section [%s] (did you mean "
			         "[task:%s]?)",
			         s->name, colon + 1);
			return;
		}
	}
	if (key_distance(s->name, "tend") <= 1)
		diag_add(b->diag, b->file, s->line,
		         "unknown section [%s] (did you mean [tend]?)",
		         s->name);
	else
		diag_add(b->diag, b->file, s->line,
		         "unknown section [%s]: expected [tend] or [task:NAME]",
		         s->name);
}

/*
 * The line of task i's after key that names dep (a task may have several
 * after keys), for a problem of that edge.
 */
static int
after_line_of(const struct build *b, size_t i, const char *dep)
{
	const struct ini_section *s = &b->ini->sections[b->sections[i]];
	size_t len = strlen(dep), n;

	for (size_t k = s->first_entry; k < s->first_entry + s->nentries; k++) {
		const struct ini_entry *e = &b->ini->entries[k];
		if (strcmp(e->key, "after") != 0 || e->value == NULL)
			continue;
		for (const char *p = e->value; *p; p += n) {
			p += strspn(p, " \t");
			n = strcspn(p, " \t");
			if (n == len && strncmp(p, dep, len) == 0)
				return e->line;
		}
	}
	return b->m->tasks[i].after_line;
}

/* The tasks' after edges by index: task i's are dep[first[i] .. first[i+1]). */
struct graph {
	size_t *first;
	size_t *dep;
};

/* Resolve every after name to its task; a name of no task is a problem. */
static void
graph_build(struct build *b, struct graph *g)
{
	const struct manifest *m = b->m;
	const struct task_config *to;
	size_t nedges = 0, e = 0;

	for (size_t i = 0; i < m->ntasks; i++)
		nedges += m->tasks[i].nafter;
	g->first = xcalloc(m->ntasks + 1, sizeof(*g->first));
	g->dep = xcalloc(nedges ? nedges : 1, sizeof(*g->dep));
	for (size_t i = 0; i < m->ntasks; i++) {
		const struct task_config *t = &m->tasks[i];
		g->first[i] = e;
		build_enter(b, b->task_src[i]);
		for (size_t j = 0; j < t->nafter; j++) {
			if ((to = name_find(b, t->after[j], false)) != NULL)
				g->dep[e++] = (size_t)(to - m->tasks);
			else
				diag_add(b->diag, b->file,
				         after_line_of(b, i, t->after[j]),
				         "task %s: after: no task named '%s'",
				         t->name, t->after[j]);
		}
	}
	g->first[m->ntasks] = e;
}

/*
 * One cycle, path[0] after path[1] ... after path[len - 1] after path[0],
 * told from its task first in the manifest, at that task's after key.
 */
static void
cycle_report(struct build *b, const size_t *path, size_t len)
{
	const struct task_config *tasks = b->m->tasks;
	struct buf text = {0};
	size_t start = 0;

	for (size_t k = 1; k < len; k++)
		if (path[k] < path[start])
			start = k;
	for (size_t k = 0; k <= len; k++)
		buf_addf(&text, "%s%s", k ? " -> " : "",
		         tasks[path[(start + k) % len]].name);
	build_enter(b, b->task_src[path[start]]);
	diag_add(
	    b->diag, b->file,
	    after_line_of(b, path[start], tasks[path[(start + 1) % len]].name),
	    "task %s: after: cycle: %s", tasks[path[start]].name, text.data);
	buf_free(&text);
}

/* A depth-first search's state: the path from its root, and each task's. */
struct dfs {
	const struct graph *g;
	unsigned char *mark; /* DFS_* */
	size_t *path;
	size_t top;   /* tasks on path */
	size_t *next; /* a task's next edge to follow */
	size_t *at;   /* a task's place in path, while on it */
};

enum { DFS_UNSEEN, DFS_ON_PATH, DFS_DONE };

static void
dfs_push(struct dfs *d, size_t v)
{
	d->mark[v] = DFS_ON_PATH;
	d->at[v] = d->top;
	d->path[d->top++] = v;
	d->next[v] = d->g->first[v];
}

/*
 * Every cycle of after edges, one problem each: a depth-first search that
 * reports each edge back into its own path. Iterative, with a stack of
 * its own, so that a chain of 10 000 tasks costs no deeper C stack; each
 * task and edge is seen once.
 */
static void
graph_cycles(struct build *b, const struct graph *g)
{
	size_t n = b->m->ntasks, size = n ? n : 1;
	struct dfs d = {
	    .g = g,
	    .mark = xcalloc(size, 1),
	    .path = xcalloc(size, sizeof(size_t)),
	    .next = xcalloc(size, sizeof(size_t)),
	    .at = xcalloc(size, sizeof(size_t)),
	};

	for (size_t root = 0; root < n; root++) {
		if (d.mark[root] != DFS_UNSEEN)
			continue;
		dfs_push(&d, root);
		while (d.top > 0) {
			size_t v = d.path[d.top - 1], w;
			if (d.next[v] == g->first[v + 1]) {
				d.mark[v] = DFS_DONE;
				d.top--;
				continue;
			}
			w = g->dep[d.next[v]++];
			if (d.mark[w] == DFS_ON_PATH)
				cycle_report(b, d.path + d.at[w],
				             d.top - d.at[w]);
			else if (d.mark[w] == DFS_UNSEEN)
				dfs_push(&d, w);
		}
	}
	free(d.mark);
	free(d.path);
	free(d.next);
	free(d.at);
}

/* after = names tasks, and no task waits, through others, for itself. */
static void
manifest_check_after(struct build *b)
{
	struct graph g;

	graph_build(b, &g);
	graph_cycles(b, &g);
	free(g.first);
	free(g.dep);
}

/* A section an included file may not hold: it has tasks only. */
static void
section_not_included(struct build *b, const struct ini_section *s)
{
	diag_add(b->diag, b->file, s->line,
	         "[%s] in an included file, which holds [task:NAME] sections "
	         "only",
	         s->name);
}

/* Build the sections of source i. */
static void
manifest_build(struct build *b, size_t src)
{
	int tend_line = 0;

	build_enter(b, src);
	names_reserve(b, b->m->ntasks + b->ini->nsections);
	for (size_t i = 0; i < b->ini->nentries; i++)
		if (b->ini->entries[i].section < 0)
			diag_add(b->diag, b->file, b->ini->entries[i].line,
			         "key '%s' outside any section",
			         b->ini->entries[i].key);
	for (size_t i = 0; i < b->ini->nsections; i++) {
		const struct ini_section *s = &b->ini->sections[i];
		if (strncmp(s->name, "task:", 5) == 0)
			task_build(b, (int)i, s->name + 5);
		else if (src > 0)
			section_not_included(b, s);
		else if (strcmp(s->name, "tend") == 0) {
			if (tend_line)
				diag_add(
				    b->diag, b->file, s->line,
				    "duplicate section [tend] (first at line "
				    "%d)",
				    tend_line);
			global_build(b, (int)i); /* checked all the same */
			tend_line = tend_line ? tend_line : s->line;
		} else
			section_unknown(b, s);
	}
}

/*
 * Open a manifest file for reading, or NULL with errno set. Opened without
 * waiting, then looked at: a FIFO put in place of a file checked before
 * (an include's match, a manifest renamed over) must not hold tendd in
 * open(2) until someone writes to it. Only a regular file is read.
 */
static FILE *
manifest_open(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	FILE *fp = NULL;
	int err;

	if (fd == -1)
		return NULL;
	if (fstat(fd, &st) == -1)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL;
	else if (fcntl(fd, F_SETFL, 0) == -1 || (fp = fdopen(fd, "r")) == NULL)
		err = errno;
	else
		return fp;
	close(fd);
	errno = err;
	return NULL;
}

/* Read and build the files the include keys named, after the manifest. */
static void
manifest_includes(struct build *b, const char *const *keys)
{
	FILE *fp;

	b->src = xreallocarray(b->src, 1 + b->inc.n, sizeof(*b->src));
	memset(b->src + 1, 0, b->inc.n * sizeof(*b->src));
	for (size_t i = 0; i < b->inc.n; i++) {
		struct mfile *src = &b->src[b->nsrc++];
		src->path = b->inc.files[i].path;
		if ((fp = manifest_open(src->path)) == NULL) {
			diag_add(&src->diag, src->path, 0, "cannot open: %s",
			         errno == EINVAL ? "not a regular file"
			                         : strerror(errno));
			continue;
		}
		inifile_read(fp, src->path, keys, &src->ini, &src->diag);
		fclose(fp);
		manifest_build(b, b->nsrc - 1);
	}
}

/* What needs every file read: inherited defaults, the after graph. */
static void
manifest_finish(struct build *b)
{
	for (size_t i = 0; i < b->m->ntasks; i++)
		if (b->m->tasks[i].stop_timeout_ms == STOP_TIMEOUT_INHERIT)
			b->m->tasks[i].stop_timeout_ms = b->m->stop_timeout_ms;
	manifest_check_after(b);
}

/*
 * Read a manifest from fp, then the files its include keys name; path
 * names it in messages. Returns 0, or -1 with every problem in diag, file
 * by file. m is filled either way and must be freed.
 */
int
manifest_read(FILE *fp, const char *path, struct manifest *m, struct diag *diag)
{
	const char *keys[NTASK_KEYS + NGLOBAL_KEYS + 1];
	struct build b = {.m = m};
	size_t before = diag->count, n = 0;

	for (size_t i = 0; i < NTASK_KEYS; i++)
		keys[n++] = task_keys[i].name;
	for (size_t i = 0; i < NGLOBAL_KEYS; i++)
		keys[n++] = global_keys[i].name;
	keys[n] = NULL;
	manifest_defaults(m, path);
	include_init(&b.inc, fp);
	b.src = xcalloc(1, sizeof(*b.src));
	b.src[0].path = path;
	b.nsrc = 1;
	inifile_read(fp, path, keys, &b.src[0].ini, &b.src[0].diag);
	manifest_build(&b, 0);
	manifest_includes(&b, keys);
	manifest_finish(&b);
	for (size_t i = 0; i < b.nsrc; i++) {
		diag_move(diag, &b.src[i].diag);
		inifile_free(&b.src[i].ini);
	}
	free(b.src);
	free(b.names);
	free(b.sections);
	free(b.task_src);
	include_free(&b.inc);
	return diag->count == before ? 0 : -1;
}

/* Read the manifest at path. */
int
manifest_load(const char *path, struct manifest *m, struct diag *diag)
{
	FILE *fp = manifest_open(path);
	int rc;

	if (fp == NULL) {
		manifest_defaults(m, path);
		diag_add(diag, path, 0, "cannot open: %s",
		         errno == EINVAL ? "not a regular file"
		                         : strerror(errno));
		return -1;
	}
	rc = manifest_read(fp, path, m, diag);
	fclose(fp);
	return rc;
}

/*
 * Move task i out of m into an allocation of its own (a task keeps its
 * config across reloads; the manifest does not live that long).
 */
struct task_config *
manifest_take_task(struct manifest *m, size_t i)
{
	struct task_config *cfg = xmalloc(sizeof(*cfg));

	*cfg = m->tasks[i];
	memset(&m->tasks[i], 0, sizeof(m->tasks[i]));
	return cfg;
}

void
manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->ntasks; i++)
		task_config_free(&m->tasks[i]);
	free(m->tasks);
	free(m->path);
	free(m->control_socket);
	free(m->syslog_ident);
	free(m->pid_file);
	memset(m, 0, sizeof(*m));
}
