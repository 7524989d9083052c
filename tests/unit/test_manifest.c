/*
 * test_manifest.c: reading and validating the manifest (inifile.c,
 * manifest.c, diag.c). Manifests are parsed from strings; every problem
 * is checked by its exact "test.ini:LINE: message" text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <cmocka.h>

#include "tend.h"

#define FILE_NAME "test.ini"

#define OUTPUT_USAGE "not syslog, null, inherit, console or file:PATH"
#define SIZE_USAGE   "not a size (a number, then K, M or G)"

/* A task of class class with a command, then extra (lines 4 and on). */
#define TASK(class, extra) \
	"[task:t]\nclass = " class "\ncommand = /bin/true\n" extra

static void
dump(const struct diag *d)
{
	print_message("%zu problem(s):\n", d->count);
	for (size_t i = 0; i < d->count; i++)
		print_message("  %s\n", d->items[i].text);
}

/* Parse len bytes of text as test.ini into m, problems into d. */
static int
parse_len(const char *text, size_t len, struct manifest *m, struct diag *d)
{
	FILE *fp = fmemopen((void *)text, len, "r");
	int rc;

	assert_non_null(fp);
	memset(d, 0, sizeof(*d));
	rc = manifest_read(fp, FILE_NAME, m, d);
	fclose(fp);
	if (rc == 0 && d->count != 0) {
		dump(d);
		fail_msg("manifest_read returned 0 with problems");
	}
	if (rc == -1 && d->count == 0)
		fail_msg("manifest_read returned -1 with no problem");
	return rc;
}

static int
parse(const char *text, struct manifest *m, struct diag *d)
{
	return parse_len(text, strlen(text), m, d);
}

/* Parse text, which must be valid, into m. */
static void
parse_ok(const char *text, struct manifest *m)
{
	struct diag d;

	if (parse(text, m, &d) != 0) {
		dump(&d);
		fail_msg("manifest rejected");
	}
	diag_free(&d);
}

/* Problem number i of d is exactly want. */
static void
assert_diag(const struct diag *d, size_t i, const char *want)
{
	if (i >= d->count) {
		dump(d);
		fail_msg("no problem #%zu, want \"%s\"", i, want);
	}
	if (strcmp(d->items[i].text, want) != 0) {
		dump(d);
		fail_msg("problem #%zu is \"%s\", want \"%s\"", i,
		         d->items[i].text, want);
	}
}

/* d holds exactly the problems of want (NULL-terminated), in order. */
static void
assert_diags(const struct diag *d, const char *const *want)
{
	size_t n = 0;

	while (want[n] != NULL)
		n++;
	for (size_t i = 0; i < n; i++)
		assert_diag(d, i, want[i]);
	if (d->count != n) {
		dump(d);
		fail_msg("%zu problems, want %zu", d->count, n);
	}
}

/* text is invalid with exactly the problems of want, in order. */
static void
check_errors_len(const char *text, size_t len, const char *const *want)
{
	struct manifest m;
	struct diag d;

	assert_int_equal(parse_len(text, len, &m, &d), -1);
	assert_diags(&d, want);
	diag_free(&d);
	manifest_free(&m);
}

static void
check_errors(const char *text, const char *const *want)
{
	check_errors_len(text, strlen(text), want);
}

#define ERRORS(text, ...) \
	check_errors(text, (const char *const[]){__VA_ARGS__, NULL})

/* One problem, built with printf formats: for tables and long lines. */
static void check_error_fmt(const char *text, const char *fmt, ...)
    PRINTFLIKE(2, 3);

static void
check_error_fmt(const char *text, const char *fmt, ...)
{
	va_list ap;
	char *want;

	va_start(ap, fmt);
	want = xvasprintf(fmt, ap);
	va_end(ap);
	check_errors(text, (const char *const[]){want, NULL});
	free(want);
}

/* A string of n copies of c. */
static char *
repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* argv of t is exactly want (NULL-terminated). */
static void
assert_argv(const struct task_config *t, const char *const *want)
{
	int n = 0;

	while (want[n] != NULL)
		n++;
	assert_non_null(t->argv);
	assert_int_equal(t->argc, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(t->argv[i], want[i]);
	assert_null(t->argv[n]);
}

#define ARGV(t, ...) assert_argv(t, (const char *const[]){__VA_ARGS__, NULL})

/* The valid manifests. */

static void
test_empty_manifest(void **state)
{
	struct manifest m;
	char *sock = proto_default_socket();

	(void)state;
	parse_ok("", &m);
	assert_int_equal(m.ntasks, 0);
	assert_string_equal(m.path, FILE_NAME);
	assert_string_equal(m.control_socket, sock);
	assert_int_equal(m.socket_mode, 0600);
	assert_false(m.has_socket_group);
	assert_string_equal(m.syslog_ident, "tendd");
	assert_int_equal(m.syslog_facility, LOG_DAEMON);
	assert_null(m.pid_file);
	assert_false(m.subreaper);
	assert_int_equal(m.stop_timeout_ms, 10000);
	manifest_free(&m);
	free(sock);

	parse_ok("; only comments\n# and blank lines\n\n   \n\t\n", &m);
	assert_int_equal(m.ntasks, 0);
	manifest_free(&m);

	parse_ok("[tend]\n", &m);
	assert_int_equal(m.ntasks, 0);
	manifest_free(&m);
}

static void
test_default_socket(void **state)
{
	char *sock = proto_default_socket();

	(void)state;
	if (geteuid() == 0)
		assert_string_equal(sock, "/run/tend.sock");
	else
		assert_non_null(strstr(sock, "/tend.sock"));
	assert_int_equal(sock[0], '/');
	free(sock);
}

static void
test_task_defaults(void **state)
{
	struct manifest m;
	const struct task_config *t;

	(void)state;
	parse_ok("[task:a]\nclass = durable\ncommand = /bin/true\n", &m);
	assert_int_equal(m.ntasks, 1);
	t = &m.tasks[0];
	assert_string_equal(t->name, "a");
	assert_int_equal(t->line, 1);
	assert_int_equal(t->class, CLASS_DURABLE);
	ARGV(t, "/bin/true");
	assert_null(t->directory);
	assert_null(t->user);
	assert_false(t->has_user);
	assert_false(t->has_group);
	assert_int_equal(t->uid, geteuid());
	assert_int_equal(t->gid, getegid());
	assert_int_equal(t->umask, 022);
	assert_null(t->env);
	assert_int_equal(t->nenv, 0);
	assert_false(t->clear_env);
	assert_int_equal(t->out, OUTPUT_SYSLOG);
	assert_int_equal(t->err, OUTPUT_SYSLOG);
	assert_null(t->out_path);
	assert_null(t->err_path);
	assert_int_equal(t->log_max_size, 10 * 1024 * 1024);
	assert_int_equal(t->log_backups, 5);
	assert_int_equal(t->stop_signal, SIGTERM);
	assert_int_equal(t->stop_timeout_ms, 10000);
	assert_true(t->autostart);
	assert_false(t->essential);
	assert_int_equal(t->backoff_min_ms, 1000);
	assert_int_equal(t->backoff_max_ms, 60000);
	assert_int_equal(t->healthy_after_ms, 300000);
	assert_int_equal(t->listen.kind, ENDPOINT_NONE);
	assert_null(t->listen.text);
	assert_int_equal(t->max_instances, 64);
	assert_int_equal(t->timeout_ms, 0);
	manifest_free(&m);
}

static const char every_key[] =
    "; every key of every class\n"                /* 1 */
    "[tend]\n"                                    /* 2 */
    "control_socket = /tmp/tend-test.sock\n"      /* 3 */
    "socket_mode = 0660\n"                        /* 4 */
    "socket_group = root\n"                       /* 5 */
    "syslog_ident = tend-test\n"                  /* 6 */
    "syslog_facility = local3\n"                  /* 7 */
    "pid_file = /run/tend-test.pid\n"             /* 8 */
    "subreaper = yes\n"                           /* 9 */
    "stop_timeout = 2.5s\n"                       /* 10 */
    "\n"                                          /* 11 */
    "[task:web]\n"                                /* 12 */
    "class = durable\n"                           /* 13 */
    "command = /bin/web -p \"a b\" 'c d' e\\ f\n" /* 14 */
    "directory = /srv/web\n"                      /* 15 */
    "user = root\n"                               /* 16 */
    "group = root\n"                              /* 17 */
    "umask = 027\n"                               /* 18 */
    "env = A=1\n"                                 /* 19 */
    "env = B=two words\n"                         /* 20 */
    "env = EMPTY=\n"                              /* 21 */
    "clear_env = yes\n"                           /* 22 */
    "stdout = null\n"                             /* 23 */
    "stderr = inherit\n"                          /* 24 */
    "stop_signal = SIGINT\n"                      /* 25 */
    "stop_timeout = 250ms\n"                      /* 26 */
    "autostart = no\n"                            /* 27 */
    "essential = yes\n"                           /* 28 */
    "backoff_min = 0\n"                           /* 29 */
    "backoff_max = 1.5m\n"                        /* 30 */
    "healthy_after = 1h\n"                        /* 31 */
    "\n"                                          /* 32 */
    "[task:once]\n"                               /* 33 */
    "class = log-only\n"                          /* 34 */
    "command = /bin/echo hello\n"                 /* 35 */
    "directory = /\n"                             /* 36 */
    "user = 0\n"                                  /* 37 */
    "umask = 0\n"                                 /* 38 */
    "env = LANG=C\n"                              /* 39 */
    "clear_env = no\n"                            /* 40 */
    "stdout = inherit\n"                          /* 41 */
    "stderr = null\n"                             /* 42 */
    "stop_signal = 1\n"                           /* 43 */
    "autostart = yes\n"                           /* 44 */
    "essential = no\n"                            /* 45 */
    "\n"                                          /* 46 */
    "[task:req]\n"                                /* 47 */
    "class = per-request\n"                       /* 48 */
    "command = /usr/bin/handler -v\n"             /* 49 */
    "directory = /tmp\n"                          /* 50 */
    "group = 5\n"                                 /* 51 */
    "user = root\n"                               /* 52 */
    "umask = 077\n"                               /* 53 */
    "env = X_Y=z=w\n"                             /* 54 */
    "clear_env = true\n"                          /* 55 */
    "stdout = syslog\n"                           /* 56 */
    "stderr = syslog\n"                           /* 57 */
    "stop_signal = kill\n"                        /* 58 */
    "stop_timeout = 1m\n"                         /* 59 */
    "listen = tcp:127.0.0.1:7070\n"               /* 60 */
    "max_instances = 8\n"                         /* 61 */
    "timeout = 10s\n"                             /* 62 */
    "\n"                                          /* 63 */
    "[task:sock]\n"                               /* 64 */
    "class = per-request\n"                       /* 65 */
    "command = /usr/bin/handler\n"                /* 66 */
    "listen = unix:/run/sock.sock\n"              /* 67 */
    "timeout = 0\n";                              /* 68 */

static void
test_every_key(void **state)
{
	struct manifest m;
	const struct task_config *t;
	const struct sockaddr_in *sin;
	const struct sockaddr_un *sun;

	(void)state;
	parse_ok(every_key, &m);
	assert_string_equal(m.path, FILE_NAME);
	assert_string_equal(m.control_socket, "/tmp/tend-test.sock");
	assert_int_equal(m.socket_mode, 0660);
	assert_true(m.has_socket_group);
	assert_int_equal(m.socket_gid, 0);
	assert_string_equal(m.syslog_ident, "tend-test");
	assert_int_equal(m.syslog_facility, LOG_LOCAL3);
	assert_string_equal(m.pid_file, "/run/tend-test.pid");
	assert_true(m.subreaper);
	assert_int_equal(m.stop_timeout_ms, 2500);
	assert_int_equal(m.ntasks, 4);

	t = &m.tasks[0];
	assert_string_equal(t->name, "web");
	assert_int_equal(t->line, 12);
	assert_int_equal(t->class, CLASS_DURABLE);
	ARGV(t, "/bin/web", "-p", "a b", "c d", "e f");
	assert_string_equal(t->directory, "/srv/web");
	assert_string_equal(t->user, "root");
	assert_true(t->has_user);
	assert_true(t->has_group);
	assert_int_equal(t->uid, 0);
	assert_int_equal(t->gid, 0);
	assert_int_equal(t->umask, 027);
	assert_int_equal(t->nenv, 3);
	assert_string_equal(t->env[0], "A=1");
	assert_string_equal(t->env[1], "B=two words");
	assert_string_equal(t->env[2], "EMPTY=");
	assert_null(t->env[3]);
	assert_true(t->clear_env);
	assert_int_equal(t->out, OUTPUT_NULL);
	assert_int_equal(t->err, OUTPUT_INHERIT);
	assert_int_equal(t->stop_signal, SIGINT);
	assert_int_equal(t->stop_timeout_ms, 250);
	assert_false(t->autostart);
	assert_true(t->essential);
	assert_int_equal(t->backoff_min_ms, 0);
	assert_int_equal(t->backoff_max_ms, 90000);
	assert_int_equal(t->healthy_after_ms, 3600000);
	assert_int_equal(t->listen.kind, ENDPOINT_NONE);
	assert_int_equal(t->max_instances, 64);
	assert_int_equal(t->timeout_ms, 0);

	t = &m.tasks[1];
	assert_string_equal(t->name, "once");
	assert_int_equal(t->line, 33);
	assert_int_equal(t->class, CLASS_LOG_ONLY);
	ARGV(t, "/bin/echo", "hello");
	assert_string_equal(t->directory, "/");
	assert_string_equal(t->user, "root"); /* by uid */
	assert_true(t->has_user);
	assert_false(t->has_group);
	assert_int_equal(t->uid, 0);
	assert_int_equal(t->gid, 0); /* root's primary group */
	assert_int_equal(t->umask, 0);
	assert_int_equal(t->nenv, 1);
	assert_string_equal(t->env[0], "LANG=C");
	assert_null(t->env[1]);
	assert_false(t->clear_env);
	assert_int_equal(t->out, OUTPUT_INHERIT);
	assert_int_equal(t->err, OUTPUT_NULL);
	assert_int_equal(t->stop_signal, SIGHUP);
	assert_int_equal(t->stop_timeout_ms, 2500); /* from [tend] */
	assert_true(t->autostart);
	assert_false(t->essential);

	t = &m.tasks[2];
	assert_string_equal(t->name, "req");
	assert_int_equal(t->line, 47);
	assert_int_equal(t->class, CLASS_PER_REQUEST);
	ARGV(t, "/usr/bin/handler", "-v");
	assert_string_equal(t->directory, "/tmp");
	assert_string_equal(t->user, "root");
	assert_true(t->has_user);
	assert_true(t->has_group);
	assert_int_equal(t->uid, 0);
	assert_int_equal(t->gid, 5); /* group, set before user, is kept */
	assert_int_equal(t->umask, 077);
	assert_int_equal(t->nenv, 1);
	assert_string_equal(t->env[0], "X_Y=z=w");
	assert_true(t->clear_env);
	assert_int_equal(t->out, OUTPUT_SYSLOG);
	assert_int_equal(t->err, OUTPUT_SYSLOG);
	assert_int_equal(t->stop_signal, SIGKILL);
	assert_int_equal(t->stop_timeout_ms, 60000);
	assert_true(t->autostart);
	assert_int_equal(t->listen.kind, ENDPOINT_TCP);
	assert_string_equal(t->listen.text, "tcp:127.0.0.1:7070");
	sin = (const struct sockaddr_in *)&t->listen.addr;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 7070);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(t->max_instances, 8);
	assert_int_equal(t->timeout_ms, 10000);

	t = &m.tasks[3];
	assert_string_equal(t->name, "sock");
	assert_int_equal(t->line, 64);
	assert_int_equal(t->listen.kind, ENDPOINT_UNIX);
	assert_string_equal(t->listen.text, "unix:/run/sock.sock");
	sun = (const struct sockaddr_un *)&t->listen.addr;
	assert_int_equal(sun->sun_family, AF_UNIX);
	assert_string_equal(sun->sun_path, "/run/sock.sock");
	assert_int_equal(t->max_instances, 64);
	assert_int_equal(t->timeout_ms, 0);
	assert_int_equal(t->stop_timeout_ms, 2500);
	manifest_free(&m);
}

static void
test_stop_timeout_inherited(void **state)
{
	struct manifest m;

	(void)state;
	/* [tend] may come after the tasks that inherit from it */
	parse_ok("[task:a]\nclass = durable\ncommand = /bin/true\n"
	         "[task:b]\nclass = log-only\ncommand = /bin/true\n"
	         "stop_timeout = 3s\n"
	         "[tend]\nstop_timeout = 1500ms\n",
	         &m);
	assert_int_equal(m.stop_timeout_ms, 1500);
	assert_int_equal(m.ntasks, 2);
	assert_int_equal(m.tasks[0].stop_timeout_ms, 1500);
	assert_int_equal(m.tasks[1].stop_timeout_ms, 3000);
	manifest_free(&m);
}

static void
test_class_after_keys(void **state)
{
	struct manifest m;

	(void)state;
	/* the class decides which keys apply wherever it is written */
	parse_ok("[task:a]\nlisten = tcp:127.0.0.1:1\ntimeout = 1s\n"
	         "command = /bin/cat\nclass = per-request\n",
	         &m);
	assert_int_equal(m.tasks[0].class, CLASS_PER_REQUEST);
	assert_int_equal(m.tasks[0].timeout_ms, 1000);
	manifest_free(&m);
	ERRORS("[task:a]\nbackoff_min = 1s\ncommand = /bin/cat\n"
	       "class = per-request\n",
	       "test.ini:2: key 'backoff_min' does not apply to a per-request "
	       "task");
}

static void
test_user_and_group(void **state)
{
	struct manifest m;

	(void)state;
	parse_ok(TASK("durable", "user = root\ngroup = 7\n"), &m);
	assert_int_equal(m.tasks[0].uid, 0);
	assert_int_equal(m.tasks[0].gid, 7);
	assert_true(m.tasks[0].has_group);
	manifest_free(&m);

	/* a uid without a passwd entry needs a group */
	parse_ok(TASK("durable", "user = 4000000\ngroup = root\n"), &m);
	assert_int_equal(m.tasks[0].uid, 4000000);
	assert_int_equal(m.tasks[0].gid, 0);
	assert_null(m.tasks[0].user);
	assert_true(m.tasks[0].has_user);
	manifest_free(&m);
	ERRORS(TASK("durable", "umask = 022\nuser = 4000000\n"),
	       "test.ini:5: user 4000000 has no passwd entry: set group too");

	parse_ok("[tend]\nsocket_group = 0\n", &m);
	assert_true(m.has_socket_group);
	assert_int_equal(m.socket_gid, 0);
	manifest_free(&m);
	parse_ok("[tend]\nsocket_group =\npid_file =\n", &m);
	assert_false(m.has_socket_group);
	assert_null(m.pid_file);
	manifest_free(&m);
}

static void
test_task_names(void **state)
{
	struct manifest m;
	char *name64 = repeat('n', 64), *text;

	(void)state;
	parse_ok("[task:A-z_0.9]\nclass = durable\ncommand = /bin/true\n"
	         "[task:-]\nclass = durable\ncommand = /bin/true\n"
	         "[task:...]\nclass = durable\ncommand = /bin/true\n",
	         &m);
	assert_int_equal(m.ntasks, 3);
	assert_string_equal(m.tasks[0].name, "A-z_0.9");
	assert_string_equal(m.tasks[1].name, "-");
	assert_string_equal(m.tasks[2].name, "...");
	manifest_free(&m);

	/* 64 characters: the longest name, kept whole */
	name64[63] = 'X';
	text = xasprintf("[task:%s]\nclass = durable\ncommand = /bin/true\n",
	                 name64);
	parse_ok(text, &m);
	assert_int_equal(m.ntasks, 1);
	assert_string_equal(m.tasks[0].name, name64);
	manifest_free(&m);
	free(text);
	free(name64);
}

/*
 * libinih keeps only 49 bytes of a section name: names that differ after
 * that must still be different tasks, and equal ones still duplicates.
 */
static void
test_long_task_names_whole(void **state)
{
	struct manifest m;
	char *a = repeat('a', 60), *b = repeat('a', 60), *text;

	(void)state;
	b[59] = 'b';
	text = xasprintf("[task:%s]\nclass = durable\ncommand = /bin/a\n"
	                 "[task:%s]\nclass = log-only\ncommand = /bin/b\n",
	                 a, b);
	parse_ok(text, &m);
	assert_int_equal(m.ntasks, 2);
	assert_string_equal(m.tasks[0].name, a);
	assert_string_equal(m.tasks[1].name, b);
	assert_int_equal(m.tasks[0].class, CLASS_DURABLE);
	assert_int_equal(m.tasks[1].class, CLASS_LOG_ONLY);
	ARGV(&m.tasks[0], "/bin/a");
	ARGV(&m.tasks[1], "/bin/b");
	manifest_free(&m);
	free(text);

	text = xasprintf("[task:%s]\nclass = durable\ncommand = /bin/a\n"
	                 "[task:%s]\nclass = log-only\ncommand = /bin/b\n",
	                 a, a);
	check_error_fmt(text,
	                "test.ini:4: duplicate task '%s' (first at line 1)", a);
	free(text);
	free(a);
	free(b);
}

/* The errors, one kind at a time. */

static void
test_unknown_section(void **state)
{
	(void)state;
	ERRORS("[foo]\nx = 1\n", "test.ini:1: unknown section [foo]: expected "
	                         "[tend] or [task:NAME]");
	ERRORS("; c\n[Tend]\n",
	       "test.ini:2: unknown section [Tend] (did you mean [tend]?)");
	ERRORS("[ tend ]\n", "test.ini:1: unknown section [ tend ]: expected "
	                     "[tend] or [task:NAME]");
	ERRORS("[task]\n",
	       "test.ini:1: unknown section [task]: expected [tend] or "
	       "[task:NAME]");
	ERRORS("[Task:a]\n",
	       "test.ini:1: unknown section [Task:a] (did you mean [task:a]?)");
	ERRORS("[taks:a]\n",
	       "test.ini:1: unknown section [taks:a] (did you mean [task:a]?)");
	ERRORS("[tsk:web]\n", "test.ini:1: unknown section [tsk:web] (did you "
	                      "mean [task:web]?)");
	ERRORS("[tnd]\n",
	       "test.ini:1: unknown section [tnd] (did you mean [tend]?)");
	ERRORS("[service:x]\n",
	       "test.ini:1: unknown section [service:x]: expected [tend] or "
	       "[task:NAME]");
	ERRORS(
	    "[]\n",
	    "test.ini:1: unknown section []: expected [tend] or [task:NAME]");
}

static void
test_unknown_key(void **state)
{
	(void)state;
	ERRORS("[tend]\nstop_timeout = 1s\nbogus = 1\n",
	       "test.ini:3: unknown key 'bogus' in [tend]");
	ERRORS("[tend]\nclass = durable\n",
	       "test.ini:2: unknown key 'class' in [tend]");
	ERRORS(TASK("durable", "bogus = 1\n"),
	       "test.ini:4: unknown key 'bogus' in task t");
	ERRORS(TASK("durable", "Command = /bin/true\n"),
	       "test.ini:4: unknown key 'Command' in task t (did you mean "
	       "'command'?)");
	ERRORS(TASK("durable", "control_socket = /x\n"),
	       "test.ini:4: unknown key 'control_socket' in task t");
}

/* An unknown key names the known key of its section nearest to it. */
static void
test_unknown_key_hint(void **state)
{
	(void)state;
	ERRORS(TASK("durable", "stop_timout = 1s\n"),
	       "test.ini:4: unknown key 'stop_timout' in task t (did you mean "
	       "'stop_timeout'?)");
	ERRORS(TASK("durable", "stop_tiemout = 1s\n"), /* a swap */
	       "test.ini:4: unknown key 'stop_tiemout' in task t (did you "
	       "mean 'stop_timeout'?)");
	ERRORS(TASK("durable", "backof_mim = 1s\n"), /* two edits */
	       "test.ini:4: unknown key 'backof_mim' in task t (did you mean "
	       "'backoff_min'?)");
	ERRORS(TASK("durable", "bakof_mim = 1s\n"), /* three: too far */
	       "test.ini:4: unknown key 'bakof_mim' in task t");
	ERRORS(TASK("durable", "usr = x\n"), /* short: one edit */
	       "test.ini:4: unknown key 'usr' in task t (did you mean "
	       "'user'?)");
	ERRORS(TASK("durable", "uzr = x\n"),
	       "test.ini:4: unknown key 'uzr' in task t");
	ERRORS(TASK("durable", "envv = A=1\n"),
	       "test.ini:4: unknown key 'envv' in task t (did you mean "
	       "'env'?)");
	ERRORS("[tend]\nstop_timout = 1s\n",
	       "test.ini:2: unknown key 'stop_timout' in [tend] (did you "
	       "mean 'stop_timeout'?)");
	ERRORS("[tend]\ncontrol_sockt = /x\n",
	       "test.ini:2: unknown key 'control_sockt' in [tend] (did you "
	       "mean 'control_socket'?)");
	/* only the section's own keys are offered */
	ERRORS("[tend]\nclas = durable\n",
	       "test.ini:2: unknown key 'clas' in [tend]");
	/* a key that does not apply to the class keeps its message */
	ERRORS(TASK("durable", "listen = tcp:127.0.0.1:80\n"),
	       "test.ini:4: key 'listen' does not apply to a durable task");
	/* a key longer than any known one is no trouble */
	{
		char *key = repeat('k', 150), *text, *want;
		text = xasprintf(TASK("durable", "%s = 1\n"), key);
		want = xasprintf("test.ini:4: unknown key '%s' in task t", key);
		check_errors(text, (const char *const[]){want, NULL});
		free(want);
		free(text);
		free(key);
	}
}

static void
test_key_outside_section(void **state)
{
	(void)state;
	ERRORS("class = durable\n[tend]\n",
	       "test.ini:1: key 'class' outside any section");
	ERRORS("; comment\n\nstop_timeout = 1s\n[task:a]\nclass = durable\n"
	       "command = /bin/true\n",
	       "test.ini:3: key 'stop_timeout' outside any section");
}

static void
test_duplicate_task(void **state)
{
	(void)state;
	ERRORS("[task:a]\nclass = durable\ncommand = /bin/true\n"
	       "[task:a]\nclass = log-only\ncommand = /bin/true\n",
	       "test.ini:4: duplicate task 'a' (first at line 1)");
	/* a duplicate is still checked, key by key */
	ERRORS("[task:a]\nclass = durable\ncommand = /bin/true\n"
	       "[task:b]\nclass = durable\ncommand = /bin/true\n"
	       "[task:a]\nclass = durable\nbogus = 1\n",
	       "test.ini:7: duplicate task 'a' (first at line 1)",
	       "test.ini:7: task a: missing required key 'command'",
	       "test.ini:9: unknown key 'bogus' in task a");
}

static void
test_duplicate_key(void **state)
{
	(void)state;
	ERRORS("[task:a]\nclass = durable\ncommand = /bin/true\n"
	       "command = /bin/false\n",
	       "test.ini:4: duplicate key 'command' (first at line 3)");
	ERRORS("[task:a]\nclass = durable\ncommand = /bin/true\n"
	       "class = log-only\n",
	       "test.ini:4: duplicate key 'class' (first at line 2)");
	ERRORS(TASK("per-request", "timeout = 1s\n\n; again\ntimeout = 2s\n"),
	       "test.ini:7: duplicate key 'timeout' (first at line 4)");
	ERRORS("[tend]\nstop_timeout = 1s\nsocket_mode = 0600\n"
	       "stop_timeout = 2s\n",
	       "test.ini:4: duplicate key 'stop_timeout' (first at line 2)");
	/* the same key, three times: each repeat is reported */
	ERRORS("[tend]\nsubreaper = no\nsubreaper = yes\nsubreaper = no\n",
	       "test.ini:3: duplicate key 'subreaper' (first at line 2)",
	       "test.ini:4: duplicate key 'subreaper' (first at line 2)");
	/* env is repeatable, but not for the same variable */
	ERRORS(TASK("durable", "env = A=1\nenv = B=2\nenv = A=3\n"),
	       "test.ini:6: env = A=3: variable set twice");
}

static void
test_duplicate_value_not_used(void **state)
{
	struct manifest m;
	struct diag d;

	(void)state;
	assert_int_equal(
	    parse(TASK("durable", "command = /bin/false\n"), &m, &d), -1);
	assert_diags(&d, (const char *const[]){
	                     "test.ini:4: duplicate key 'command' (first at "
	                     "line 3)",
	                     NULL});
	ARGV(&m.tasks[0], "/bin/true");
	diag_free(&d);
	manifest_free(&m);
}

static void
test_duplicate_tend(void **state)
{
	(void)state;
	ERRORS("[tend]\nstop_timeout = 1s\n[tend]\nsubreaper = yes\n",
	       "test.ini:3: duplicate section [tend] (first at line 1)");
	ERRORS("[tend]\n[task:a]\nclass = durable\ncommand = /bin/true\n"
	       "[tend]\n[tend]\n",
	       "test.ini:5: duplicate section [tend] (first at line 1)",
	       "test.ini:6: duplicate section [tend] (first at line 1)");
}

/* The keys of a duplicate [tend] are checked all the same. */
static void
test_duplicate_tend_keys_checked(void **state)
{
	(void)state;
	ERRORS("[tend]\nstop_timeout = 1s\n[tend]\nbogus = 1\n"
	       "stop_timeout = never\n",
	       "test.ini:3: duplicate section [tend] (first at line 1)",
	       "test.ini:4: unknown key 'bogus' in [tend]",
	       "test.ini:5: stop_timeout = never: not a duration (like 250ms, "
	       "1.5s, 5m, 1h or seconds)");
}

/* pid_file in each of two [tend] sections: the first must not leak. */
static void
test_duplicate_tend_pid_file_no_leak(void **state)
{
	(void)state;
	ERRORS("[tend]\npid_file = /run/a.pid\n[tend]\npid_file = /run/b.pid\n",
	       "test.ini:3: duplicate section [tend] (first at line 1)");
}

static void
test_bad_task_name(void **state)
{
	char *name65 = repeat('x', 65), *text;

	(void)state;
	text = xasprintf("[task:%s]\nclass = durable\ncommand = /bin/true\n",
	                 name65);
	check_error_fmt(
	    text,
	    "test.ini:1: bad task name '%s': 1 to 64 of A-Z a-z 0-9 _ . -",
	    name65);
	free(text);
	free(name65);

	ERRORS("[task:]\nclass = durable\ncommand = /bin/true\n",
	       "test.ini:1: bad task name '': 1 to 64 of A-Z a-z 0-9 _ . -");
	ERRORS("[task:a b]\nclass = durable\ncommand = /bin/true\n",
	       "test.ini:1: bad task name 'a b': 1 to 64 of A-Z a-z 0-9 _ . -");
	ERRORS("[task:a/b]\nclass = durable\ncommand = /bin/true\n",
	       "test.ini:1: bad task name 'a/b': 1 to 64 of A-Z a-z 0-9 _ . -");
	ERRORS("[task:a:b]\nclass = durable\ncommand = /bin/true\n",
	       "test.ini:1: bad task name 'a:b': 1 to 64 of A-Z a-z 0-9 _ . -");
	ERRORS(
	    "[task:caf\xc3\xa9]\nclass = durable\ncommand = /bin/true\n",
	    "test.ini:1: bad task name 'caf\xc3\xa9': 1 to 64 of A-Z a-z 0-9 _ "
	    ". -");
	ERRORS("[task:a*]\nclass = durable\ncommand = /bin/true\n",
	       "test.ini:1: bad task name 'a*': 1 to 64 of A-Z a-z 0-9 _ . -");
	/* a task with a bad name is still checked, then dropped */
	ERRORS("[task:a b]\nclass = durable\n",
	       "test.ini:1: bad task name 'a b': 1 to 64 of A-Z a-z 0-9 _ . -",
	       "test.ini:1: task a b: missing required key 'command'");
}

static void
test_bad_task_dropped(void **state)
{
	struct manifest m;
	struct diag d;

	(void)state;
	assert_int_equal(parse("[task:a]\nclass = durable\ncommand = /bin/a\n"
	                       "[task:b!]\nclass = durable\ncommand = /bin/b\n"
	                       "[task:a]\nclass = durable\ncommand = /bin/c\n",
	                       &m, &d),
	                 -1);
	assert_int_equal(d.count, 2);
	assert_int_equal(m.ntasks, 1);
	ARGV(&m.tasks[0], "/bin/a");
	diag_free(&d);
	manifest_free(&m);
}

static void
test_missing_class(void **state)
{
	(void)state;
	ERRORS("[task:a]\ncommand = /bin/true\n",
	       "test.ini:1: task a: missing required key 'class'");
	ERRORS("[task:a]\n", "test.ini:1: task a: missing required key 'class'",
	       "test.ini:1: task a: missing required key 'command'");
}

static void
test_missing_command(void **state)
{
	(void)state;
	ERRORS("[tend]\n\n[task:a]\nclass = log-only\n",
	       "test.ini:3: task a: missing required key 'command'");
}

static void
test_bad_class(void **state)
{
	(void)state;
	ERRORS("[task:a]\nclass = daemon\ncommand = /bin/true\n",
	       "test.ini:2: class = daemon: not a class (durable, log-only or "
	       "per-request)");
	ERRORS("[task:a]\nclass = Durable\ncommand = /bin/true\n",
	       "test.ini:2: class = Durable: not a class (durable, log-only or "
	       "per-request)");
	ERRORS(
	    "[task:a]\nclass = log_only\ncommand = /bin/true\n",
	    "test.ini:2: class = log_only: not a class (durable, log-only or "
	    "per-request)");
	ERRORS("[task:a]\nclass =\ncommand = /bin/true\n",
	       "test.ini:2: class = : not a class (durable, log-only or "
	       "per-request)");
}

/* Each class-specific key, on each class it does not apply to. */
static void
test_key_wrong_class(void **state)
{
	static const struct {
		const char *key, *value, *class;
	} cases[] = {
	    {"autostart", "yes", "per-request"},
	    {"essential", "yes", "per-request"},
	    {"backoff_min", "1s", "log-only"},
	    {"backoff_min", "1s", "per-request"},
	    {"backoff_max", "1s", "log-only"},
	    {"backoff_max", "1s", "per-request"},
	    {"healthy_after", "1s", "log-only"},
	    {"healthy_after", "1s", "per-request"},
	    {"listen", "tcp:127.0.0.1:80", "durable"},
	    {"listen", "tcp:127.0.0.1:80", "log-only"},
	    {"max_instances", "8", "durable"},
	    {"max_instances", "8", "log-only"},
	    {"timeout", "1s", "durable"},
	    {"timeout", "1s", "log-only"},
	    /* a bad value is not even parsed */
	    {"listen", "garbage", "durable"},
	    {"backoff_max", "0", "per-request"},
	};
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		text = xasprintf("[task:t]\nclass = %s\ncommand = /bin/true\n"
		                 "%s = %s\n",
		                 cases[i].class, cases[i].key, cases[i].value);
		check_error_fmt(
		    text, "test.ini:4: key '%s' does not apply to a %s task",
		    cases[i].key, cases[i].class);
		free(text);
	}
}

#define DURATION_USAGE "not a duration (like 250ms, 1.5s, 5m, 1h or seconds)"

/* Each kind of bad value of a task key: "KEY = VALUE: why". */
static void
test_bad_task_values(void **state)
{
	static const struct {
		const char *class, *key, *value, *why;
	} cases[] = {
	    {"durable", "command", "/bin/echo 'abc",
	     "unterminated single quote"},
	    {"durable", "command", "/bin/echo \"abc",
	     "unterminated double quote"},
	    {"durable", "command", "/bin/echo abc\\", "ends with a backslash"},
	    {"durable", "command", "'' -x", "empty program name"},
	    {"durable", "command", "\"\"", "empty program name"},
	    {"durable", "directory", "srv/web", "not an absolute path"},
	    {"durable", "directory", "~/web", "not an absolute path"},
	    {"durable", "user", "no-such-user-tend", "no such user"},
	    {"durable", "user", "-1", "no such user"},
	    {"durable", "group", "no-such-group-tend", "no such group"},
	    {"durable", "umask", "0800", "not an octal mode from 0 to 0777"},
	    {"durable", "umask", "1777", "not an octal mode from 0 to 0777"},
	    {"durable", "umask", "u=rwx", "not an octal mode from 0 to 0777"},
	    {"durable", "env", "NOEQUALS", "not KEY=VALUE"},
	    {"durable", "env", "=value", "not KEY=VALUE"},
	    {"durable", "env", "1A=x", "variable name starts with a digit"},
	    {"durable", "env", "A-B=x",
	     "variable name is not [A-Za-z_][A-Za-z0-9_]*"},
	    {"durable", "env", "A B=x",
	     "variable name is not [A-Za-z_][A-Za-z0-9_]*"},
	    {"durable", "clear_env", "maybe", "not a boolean (yes or no)"},
	    {"durable", "stdout", "file", OUTPUT_USAGE},
	    {"durable", "stdout", "Syslog", OUTPUT_USAGE},
	    {"durable", "stderr", "/dev/null", OUTPUT_USAGE},
	    {"durable", "stdout", "Console", OUTPUT_USAGE},
	    {"durable", "stdout", "file:", "file: needs an absolute path"},
	    {"durable", "stdout", "file:log/x.log",
	     "file: needs an absolute path"},
	    {"per-request", "stderr", "file:~/x.log",
	     "file: needs an absolute path"},
	    {"durable", "stderr", "file:/var/log/", "file: names a directory"},
	    {"durable", "log_max_size", "10MB", SIZE_USAGE},
	    {"durable", "log_max_size", "-1", SIZE_USAGE},
	    {"durable", "log_max_size", "M", SIZE_USAGE},
	    {"log-only", "log_max_size", "1.5M", SIZE_USAGE},
	    {"durable", "log_max_size", "1025G", "too large (1T at most)"},
	    {"durable", "log_max_size", "1099511627777",
	     "too large (1T at most)"},
	    {"durable", "log_max_size", "99999999999999999999999",
	     "too large (1T at most)"},
	    {"durable", "log_backups", "-1", "not a number from 0 to 1000"},
	    {"per-request", "log_backups", "1001",
	     "not a number from 0 to 1000"},
	    {"durable", "log_backups", "five", "not a number from 0 to 1000"},
	    {"durable", "stop_signal", "NOPE", "not a signal name or number"},
	    {"durable", "stop_signal", "0", "not a signal name or number"},
	    {"durable", "stop_signal", "65", "not a signal name or number"},
	    {"durable", "stop_timeout", "0", "must be longer than 0"},
	    {"durable", "stop_timeout", "0ms", "must be longer than 0"},
	    {"durable", "stop_timeout", "10 s", DURATION_USAGE},
	    {"durable", "stop_timeout", "721h", "longer than 30 days"},
	    {"durable", "autostart", "2", "not a boolean (yes or no)"},
	    {"log-only", "autostart", "Yes", "not a boolean (yes or no)"},
	    {"durable", "essential", "nope", "not a boolean (yes or no)"},
	    {"durable", "backoff_min", "-1s", DURATION_USAGE},
	    {"durable", "backoff_min", "0.5ms", "finer than a millisecond"},
	    {"durable", "backoff_max", "0", "must be longer than 0"},
	    {"durable", "backoff_max", "0.0s", "must be longer than 0"},
	    {"durable", "backoff_max", "1d", DURATION_USAGE},
	    {"durable", "healthy_after", "31d", DURATION_USAGE},
	    {"durable", "healthy_after", "2592001", "longer than 30 days"},
	    {"per-request", "listen", "tcp:localhost:80",
	     "HOST must be an IPv4 address or an IPv6 address in brackets "
	     "(host names are not resolved)"},
	    {"per-request", "listen", "tcp:127.0.0.1:65536",
	     "port must be a number from 1 to 65535"},
	    {"per-request", "listen", "tcp:127.0.0.1:0",
	     "port must be a number from 1 to 65535"},
	    {"per-request", "listen", "unix:run/x.sock",
	     "unix socket path must be absolute"},
	    {"per-request", "listen", "/run/x.sock",
	     "expected tcp:HOST:PORT or unix:PATH"},
	    {"per-request", "max_instances", "0",
	     "not a number from 1 to 100000"},
	    {"per-request", "max_instances", "100001",
	     "not a number from 1 to 100000"},
	    {"per-request", "max_instances", "many",
	     "not a number from 1 to 100000"},
	    {"per-request", "timeout", "1.0001s", "finer than a millisecond"},
	    {"per-request", "timeout", "-5", DURATION_USAGE},
	};
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		/* line 3 holds the command, or nothing when it is tested */
		text = xasprintf(
		    "[task:t]\nclass = %s\n%s\n%s = %s\n", cases[i].class,
		    strcmp(cases[i].key, "command") ? "command = /bin/true"
		                                    : "",
		    cases[i].key, cases[i].value);
		check_error_fmt(text, "test.ini:4: %s = %s: %s", cases[i].key,
		                cases[i].value, cases[i].why);
		free(text);
	}
}

/* A rejected value leaves the default in place. */
static void
test_rejected_value_unset(void **state)
{
	struct manifest m;
	struct diag d;

	(void)state;
	assert_int_equal(
	    parse("[tend]\nstop_timeout = 0\n"
	          "[task:a]\nclass = durable\ncommand = /bin/true\n"
	          "backoff_max = 0\n"
	          "[task:b]\nclass = durable\ncommand = /bin/true\n"
	          "stop_timeout = 0ms\nbackoff_min = 2x\n",
	          &m, &d),
	    -1);
	assert_diags(
	    &d, (const char *const[]){
	            "test.ini:2: stop_timeout = 0: must be longer than 0",
	            "test.ini:6: backoff_max = 0: must be longer than 0",
	            "test.ini:10: stop_timeout = 0ms: must be longer "
	            "than 0",
	            "test.ini:11: backoff_min = 2x: " DURATION_USAGE, NULL});
	assert_int_equal(m.stop_timeout_ms, 10000);
	assert_int_equal(m.ntasks, 2);
	assert_int_equal(m.tasks[0].backoff_max_ms, 60000);
	assert_int_equal(m.tasks[0].stop_timeout_ms, 10000);
	assert_int_equal(m.tasks[1].stop_timeout_ms, 10000);
	assert_int_equal(m.tasks[1].backoff_min_ms, 1000);
	diag_free(&d);
	manifest_free(&m);
}

/* Each kind of bad value of a [tend] key. */
static void
test_bad_global_values(void **state)
{
	static const struct {
		const char *key, *value, *why;
	} cases[] = {
	    {"control_socket", "tend.sock", "not an absolute path"},
	    {"control_socket", "", "not an absolute path"},
	    {"socket_mode", "0800", "not an octal mode from 0 to 0777"},
	    {"socket_mode", "", "not an octal mode from 0 to 0777"},
	    {"socket_group", "no-such-group-tend", "no such group"},
	    {"syslog_ident", "", "must be 1 to 64 characters"},
	    {"syslog_facility", "kern", "not daemon, user or local0 to local7"},
	    {"syslog_facility", "local8",
	     "not daemon, user or local0 to local7"},
	    {"syslog_facility", "LOCAL0",
	     "not daemon, user or local0 to local7"},
	    {"pid_file", "run/tend.pid", "not an absolute path"},
	    {"subreaper", "sometimes", "not a boolean (yes or no)"},
	    {"subreaper", "", "not a boolean (yes or no)"},
	    {"stop_timeout", "0", "must be longer than 0"},
	    {"stop_timeout", "forever", DURATION_USAGE},
	    {"stop_timeout", "", DURATION_USAGE},
	};
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		text = xasprintf("[tend]\n; line 2\n%s = %s\n", cases[i].key,
		                 cases[i].value);
		check_error_fmt(text, "test.ini:3: %s = %s: %s", cases[i].key,
		                cases[i].value, cases[i].why);
		free(text);
	}
}

static void
test_global_lengths(void **state)
{
	struct manifest m;
	char *path = repeat('s', 107), *ident = repeat('i', 65), *text;

	(void)state;
	/* control_socket must fit sun_path: 107 bytes and its NUL */
	path[0] = '/';
	text = xasprintf("[tend]\ncontrol_socket = %s\n", path);
	parse_ok(text, &m);
	assert_string_equal(m.control_socket, path);
	manifest_free(&m);
	free(text);
	free(path);
	path = repeat('s', 108);
	path[0] = '/';
	text = xasprintf("[tend]\ncontrol_socket = %s\n", path);
	check_error_fmt(
	    text, "test.ini:2: control_socket = %s: longer than 107 bytes",
	    path);
	free(text);
	free(path);

	text = xasprintf("[tend]\nsyslog_ident = %s\n", ident);
	check_error_fmt(
	    text, "test.ini:2: syslog_ident = %s: must be 1 to 64 characters",
	    ident);
	free(text);
	ident[64] = '\0';
	text = xasprintf("[tend]\nsyslog_ident = %s\n", ident);
	parse_ok(text, &m);
	assert_string_equal(m.syslog_ident, ident);
	manifest_free(&m);
	free(text);
	free(ident);
}

/* An empty value is an error for every task key. */
static void
test_empty_value(void **state)
{
	static const struct {
		const char *class, *key;
	} cases[] = {
	    {"durable", "directory"},
	    {"durable", "user"},
	    {"durable", "group"},
	    {"durable", "umask"},
	    {"durable", "env"},
	    {"durable", "clear_env"},
	    {"durable", "stdout"},
	    {"durable", "stderr"},
	    {"durable", "stop_signal"},
	    {"durable", "stop_timeout"},
	    {"durable", "autostart"},
	    {"durable", "essential"},
	    {"durable", "backoff_min"},
	    {"durable", "backoff_max"},
	    {"durable", "healthy_after"},
	    {"per-request", "listen"},
	    {"per-request", "max_instances"},
	    {"per-request", "timeout"},
	};
	char *text;

	(void)state;
	ERRORS("[task:t]\nclass = durable\ncommand =\n",
	       "test.ini:3: command = : needs a value");
	/* blanks only, or a comment only, are empty too */
	ERRORS("[task:t]\nclass = durable\ncommand =    \t\n",
	       "test.ini:3: command = : needs a value");
	ERRORS("[task:t]\nclass = durable\ncommand = ; none\n",
	       "test.ini:3: command = : needs a value");
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		text = xasprintf("[task:t]\nclass = %s\ncommand = /bin/true\n"
		                 "%s =\n",
		                 cases[i].class, cases[i].key);
		check_error_fmt(text, "test.ini:4: %s = : needs a value",
		                cases[i].key);
		free(text);
	}
}

static void
test_missing_key_name(void **state)
{
	(void)state;
	ERRORS(TASK("durable", "= value\n"), "test.ini:4: missing key name");
	ERRORS("[tend]\n  = value\n", "test.ini:2: missing key name");
}

static void
test_line_without_equals(void **state)
{
	(void)state;
	/* a line that starts with a known key lacks its '=' */
	ERRORS(TASK("durable", "autostart\n"),
	       "test.ini:4: missing '=' after 'autostart'");
	ERRORS("[tend]\nsubreaper yes\n[task:a]\nclass = durable\n"
	       "command /bin/true\ncommand = /bin/true\n",
	       "test.ini:2: missing '=' after 'subreaper'",
	       "test.ini:5: missing '=' after 'command'");
	ERRORS("\xef\xbb\xbfstop_timeout\t1s\n",
	       "test.ini:1: missing '=' after 'stop_timeout'");
	/* the last line, without a newline */
	ERRORS("[tend]\nsubreaper = no\njunk",
	       "test.ini:3: expected KEY = VALUE, a [section] or a comment");
	ERRORS("just words\n",
	       "test.ini:1: expected KEY = VALUE, a [section] or a comment");
	/* not a key: the whole first word must be one */
	ERRORS("[tend]\nsubreapers yes\n",
	       "test.ini:2: expected KEY = VALUE, a [section] or a comment");
	/* a comment before the '=' leaves no '=' */
	ERRORS("[tend]\nsubreaper ; = yes\n",
	       "test.ini:2: missing '=' after 'subreaper'");
}

/*
 * libinih also splits KEY: VALUE at the first ':', so a line without its
 * '=' but with a ':' later has a key with a blank in it: the '=' is missing.
 */
static void
test_key_with_blank(void **state)
{
	(void)state;
	ERRORS(TASK("per-request", "listen tcp:1.2.3.4:80\n"),
	       "test.ini:4: missing '=' after 'listen'");
	ERRORS("[tend]\ncontrol_socket\t/run/x:y\n",
	       "test.ini:2: missing '=' after 'control_socket'");
	ERRORS("[tend]\nsome thing: 1\n",
	       "test.ini:2: missing '=' after 'some'");
	/* its continuation lines go with it */
	ERRORS(TASK("durable", "env A: 1\n  more\n"),
	       "test.ini:4: missing '=' after 'env'");
}

static void
test_bad_section_header(void **state)
{
	(void)state;
	ERRORS("[tend\nstop_timeout = 1s\n",
	       "test.ini:1: section header has no closing ']'");
	ERRORS("[tend]\nsubreaper = no\n[task:a\nclass = durable\n",
	       "test.ini:3: section header has no closing ']'");
	ERRORS("[task:a] class = durable\ncommand = /bin/true\n",
	       "test.ini:1: unexpected text after section header");
	ERRORS("[tend]x\n", "test.ini:1: unexpected text after section header");
	ERRORS("[tend]]\n", "test.ini:1: unexpected text after section header");
	/* a comment may follow the header */
	ERRORS("[tend] ; the daemon\n[tend] # again\n[tend];x\n",
	       "test.ini:2: duplicate section [tend] (first at line 1)",
	       "test.ini:3: duplicate section [tend] (first at line 1)");
	/* the keys of a broken header are dropped, not reported as loose */
	ERRORS("[task:a\nclass = durable\ncommand = /bin/true\n"
	       "[task:b]\nclass = durable\ncommand = /bin/true\n",
	       "test.ini:1: section header has no closing ']'");
}

static void
test_backoff_order(void **state)
{
	struct manifest m;

	(void)state;
	ERRORS(TASK("durable", "backoff_min = 10s\nbackoff_max = 5s\n"),
	       "test.ini:4: backoff_min (10s) is longer than backoff_max (5s)");
	ERRORS(TASK("durable", "backoff_max = 5s\numask = 0\n"
	                       "backoff_min = 10s\n"),
	       "test.ini:6: backoff_min (10s) is longer than backoff_max (5s)");
	/* against the default backoff_max of 60s */
	ERRORS(TASK("durable", "backoff_min = 61s\n"),
	       "test.ini:4: backoff_min (1m1s) is longer than backoff_max "
	       "(1m)");
	/* against the default backoff_min of 1s */
	ERRORS(TASK("durable", "umask = 0\nbackoff_max = 500ms\n"),
	       "test.ini:5: backoff_min (1s) is longer than backoff_max "
	       "(500ms)");
	/* durations said as they are written, not in milliseconds */
	ERRORS(TASK("durable", "backoff_min = 2m\nbackoff_max = 90\n"),
	       "test.ini:4: backoff_min (2m) is longer than backoff_max "
	       "(1m30s)");
	ERRORS(TASK("durable", "backoff_min = 1.5s\nbackoff_max = 1.25s\n"),
	       "test.ini:4: backoff_min (1.5s) is longer than backoff_max "
	       "(1.25s)");
	/* backoff_max must be more than 0, even after backoff_min = 0 */
	ERRORS(TASK("durable", "backoff_min = 0\nbackoff_max = 0\n"),
	       "test.ini:5: backoff_max = 0: must be longer than 0");
	parse_ok(TASK("durable", "backoff_min = 5s\nbackoff_max = 5s\n"), &m);
	assert_int_equal(m.tasks[0].backoff_min_ms, 5000);
	assert_int_equal(m.tasks[0].backoff_max_ms, 5000);
	manifest_free(&m);
	parse_ok(TASK("durable", "backoff_min = 0\nbackoff_max = 1ms\n"), &m);
	assert_int_equal(m.tasks[0].backoff_min_ms, 0);
	assert_int_equal(m.tasks[0].backoff_max_ms, 1);
	manifest_free(&m);
}

/* Line length: up to INIFILE_VALUE_MAX bytes, whatever libinih's buffer. */

/* A key line of exactly len bytes: "command = /bin/echo xxx...". */
static char *
command_line(size_t len)
{
	char *line = repeat('x', len);

	memcpy(line, "command = /bin/echo ", 20);
	return line;
}

/* text is valid, with exactly the notes of want (NULL-terminated). */
static void
parse_notes(const char *text, struct manifest *m, const char *const *want)
{
	struct diag d;
	size_t n = 0;

	if (parse(text, m, &d) != 0) {
		dump(&d);
		fail_msg("manifest rejected");
	}
	for (; want[n] != NULL; n++) {
		if (n >= d.nnotes)
			fail_msg("no note #%zu, want \"%s\"", n, want[n]);
		assert_string_equal(d.notes[n].text, want[n]);
	}
	if (d.nnotes != n)
		fail_msg("%zu notes (first: %s), want %zu", d.nnotes,
		         d.notes[0].text, n);
	diag_free(&d);
}

#define NOTES(text, m, ...) \
	parse_notes(text, m, (const char *const[]){__VA_ARGS__, NULL})

static void
test_long_line(void **state)
{
	struct manifest m;
	char *line = command_line(250), *text;

	(void)state;
	/* longer than libinih's buffer: taken whole, not split in two */
	text = xasprintf("[task:a]\nclass = durable\n%s\numask = 077\n", line);
	parse_ok(text, &m);
	ARGV(&m.tasks[0], "/bin/echo", line + 20);
	assert_int_equal(m.tasks[0].umask, 077);
	manifest_free(&m);
	free(text);
	free(line);
}

static void
test_long_line_boundary(void **state)
{
	struct manifest m;
	struct diag d;
	char *line, *text;

	(void)state;
	/* the longest line, read whole, with a CRLF ending not counted */
	line = command_line(INIFILE_VALUE_MAX);
	text = xasprintf("[task:a]\r\nclass = durable\r\n%s\r\n", line);
	parse_ok(text, &m);
	ARGV(&m.tasks[0], "/bin/echo", line + 20);
	assert_int_equal(strlen(m.tasks[0].argv[1]), INIFILE_VALUE_MAX - 20);
	manifest_free(&m);
	free(text);
	free(line);

	/* one byte more is refused, the value never used, never cut */
	line = command_line(INIFILE_VALUE_MAX + 1);
	text = xasprintf("[task:a]\nclass = durable\n%s\n", line);
	assert_int_equal(parse(text, &m, &d), -1);
	assert_diags(&d, (const char *const[]){
	                     "test.ini:3: line too long (65537 bytes; at most "
	                     "65536, 64 KiB)",
	                     NULL});
	/* the key is known (no "missing command"), its value never used */
	assert_int_equal(m.ntasks, 1);
	assert_null(m.tasks[0].argv);
	diag_free(&d);
	manifest_free(&m);
	free(text);
	free(line);
}

static void
test_long_line_numbers(void **state)
{
	char *line = command_line(70000), *text;

	(void)state;
	/* later lines keep their numbers: nothing is read as a new line */
	text = xasprintf("[tend]\n\n[task:a]\n; c\nclass = durable\n\n%s\n"
	                 "umask = 999\n\n[tend]\n",
	                 line);
	ERRORS(text,
	       "test.ini:7: line too long (70000 bytes; at most 65536, 64 KiB)",
	       "test.ini:8: umask = 999: not an octal mode from 0 to 0777",
	       "test.ini:10: duplicate section [tend] (first at line 1)");
	free(text);
	free(line);
}

static void
test_long_line_in_tend(void **state)
{
	struct manifest m;
	struct diag d;
	char *path = repeat('p', 70000), *text;
	char *sock = proto_default_socket();

	(void)state;
	path[0] = '/';
	text = xasprintf("[tend]\ncontrol_socket = %s\n", path);
	assert_int_equal(parse(text, &m, &d), -1);
	assert_diags(&d, (const char *const[]){
	                     "test.ini:2: line too long (70017 bytes; at most "
	                     "65536, 64 KiB)",
	                     NULL});
	assert_string_equal(m.control_socket, sock); /* untouched */
	diag_free(&d);
	manifest_free(&m);
	free(text);
	free(path);
	free(sock);
}

static void
test_long_key(void **state)
{
	char *key = repeat('k', 250), *text;

	(void)state;
	/* libinih must find the '=' in what it is given of the line */
	text = xasprintf("[task:a]\nclass = durable\ncommand = /bin/true\n"
	                 "%s = 1\n",
	                 key);
	check_error_fmt(text, "test.ini:4: expected KEY = VALUE, with the '=' "
	                      "within the first 197 bytes");
	free(text);
	/* the key of a long line is checked */
	memcpy(key, "bogus = ", 8);
	text = xasprintf("[task:a]\nclass = durable\ncommand = /bin/true\n"
	                 "%s\n",
	                 key);
	ERRORS(text, "test.ini:4: unknown key 'bogus' in task a");
	free(text);
	free(key);
}

static void
test_long_continuation_line(void **state)
{
	struct manifest m;
	char *piece = repeat('y', 240), *text, *want;

	(void)state;
	piece[0] = piece[1] = ' ';
	text = xasprintf("[task:a]\nclass = durable\ncommand = /bin/true\n"
	                 "env = A=a\n%s\n  b\numask = 0\n",
	                 piece);
	parse_ok(text, &m);
	want = xasprintf("A=a %s b", piece + 2);
	assert_string_equal(m.tasks[0].env[0], want);
	assert_int_equal(m.tasks[0].umask, 0);
	manifest_free(&m);
	free(want);
	free(text);

	/* past the limit, the whole value is lost, not the part before */
	free(piece);
	piece = repeat('y', 70000);
	piece[0] = piece[1] = ' ';
	text =
	    xasprintf("[task:a]\nclass = durable\ncommand = /bin/echo a\n%s\n"
	              "  b\numask = 0\n",
	              piece);
	ERRORS(
	    text,
	    "test.ini:4: line too long (70000 bytes; at most 65536, 64 KiB)");
	free(text);
	free(piece);
}

static void
test_long_line_then_continuation(void **state)
{
	struct manifest m;
	char *line = command_line(300), *text;

	(void)state;
	text = xasprintf("[task:a]\nclass = durable\n%s\n  more words\n"
	                 "umask = 077\n",
	                 line);
	parse_ok(text, &m);
	ARGV(&m.tasks[0], "/bin/echo", line + 20, "more", "words");
	assert_int_equal(m.tasks[0].umask, 077);
	manifest_free(&m);
	free(text);
	free(line);
}

static void
test_long_env_value(void **state)
{
	struct manifest m;
	char *cp = repeat('j', 60 * 1024), *text, *want;

	(void)state;
	for (size_t i = 50; i < 60 * 1024; i += 50)
		cp[i] = ':';
	/* a 60 KiB CLASSPATH on one line, its ';' without blank kept */
	cp[100] = ';';
	text = xasprintf("[task:a]\nclass = durable\ncommand = /bin/true\n"
	                 "env = CLASSPATH=%s ; the jars\nenv = B=1\n",
	                 cp);
	want = xasprintf("CLASSPATH=%s", cp);
	NOTES(text, &m,
	      "test.ini:4: note: env: text after ' ;' is a comment, not part "
	      "of the value: '; the jars'");
	assert_int_equal(m.tasks[0].nenv, 2);
	assert_string_equal(m.tasks[0].env[0], want);
	assert_string_equal(m.tasks[0].env[1], "B=1");
	manifest_free(&m);
	free(want);
	free(text);
	free(cp);
}

static void
test_long_comment_and_header(void **state)
{
	struct manifest m;
	char *junk = repeat('c', 500), *name = repeat('n', 300), *text;

	(void)state;
	/* a long comment after a value is cut, whatever its length */
	text = xasprintf(";%s\n#%s\n   ;%s\n[task:a] ;%s\nclass = durable ;%s\n"
	                 "command = /bin/true\n  ; %s\n\t# %s\n",
	                 junk, junk, junk, junk, junk, junk, junk);
	parse_ok(text, &m);
	assert_int_equal(m.ntasks, 1);
	assert_string_equal(m.tasks[0].name, "a");
	assert_int_equal(m.tasks[0].class, CLASS_DURABLE);
	ARGV(&m.tasks[0], "/bin/true");
	manifest_free(&m);
	free(text);

	/* a long header is read whole: its name is what is wrong */
	text = xasprintf("[task:%s]\nclass = durable\ncommand = /bin/true\n",
	                 name);
	check_error_fmt(
	    text,
	    "test.ini:1: bad task name '%s': 1 to 64 of A-Z a-z 0-9 _ . -",
	    name);
	free(text);
	free(name);
	free(junk);
}

static void
test_continued_long_command(void **state)
{
	struct manifest m;
	char *text, *line;
	size_t len = 0;

	(void)state;
	/* a command longer than any line, split over indented lines */
	line = xstrdup("[task:a]\nclass = durable\ncommand = /bin/echo\n");
	for (int i = 0; i < 40; i++) {
		text = xasprintf("%s    word%02d-%s\n", line, i,
		                 "abcdefghijklmnopqrstuvwxyz");
		free(line);
		line = text;
	}
	parse_ok(line, &m);
	assert_int_equal(m.tasks[0].argc, 41);
	assert_string_equal(m.tasks[0].argv[0], "/bin/echo");
	for (int i = 0; i < 40; i++) {
		char want[64];

		snprintf(want, sizeof(want), "word%02d-%s", i,
		         "abcdefghijklmnopqrstuvwxyz");
		assert_string_equal(m.tasks[0].argv[i + 1], want);
		len += strlen(want) + 1;
	}
	assert_true(len > 1000);
	manifest_free(&m);
	free(line);
}

/*
 * A manifest whose command, "/bin/echo" continued over indented lines of at
 * most 100 bytes, joins to exactly total bytes (total > 10); *lines is the
 * number of its last line.
 */
static char *
continued_command(size_t total, int *lines)
{
	static const char head[] = "[task:a]\nclass = durable\n"
	                           "command = /bin/echo\n";
	size_t left = total - strlen("/bin/echo"), cap = total * 2 + 100;
	char *text = xmalloc(cap), *p = text;

	p += snprintf(p, cap, "%s", head);
	*lines = 3;
	while (left > 0) {
		/* a piece adds a space and its bytes to the value */
		size_t n = left - 1 > 100 ? 100 : left - 1;
		if (left - 1 - n == 1)
			n--; /* no piece may be left with no byte */
		*p++ = ' ';
		memset(p, 'a', n);
		p += n;
		*p++ = '\n';
		left -= n + 1;
		++*lines;
	}
	*p = '\0';
	return text;
}

/* A joined value takes 64 KiB whole; a byte more is refused, whole. */
static void
test_continuation_cap(void **state)
{
	struct manifest m;
	char *text;
	int last;

	(void)state;
	text = continued_command(INIFILE_VALUE_MAX, &last);
	parse_ok(text, &m);
	assert_int_equal(INIFILE_VALUE_MAX, 65536);
	assert_string_equal(m.tasks[0].argv[0], "/bin/echo");
	{
		size_t len = m.tasks[0].argc - 1; /* the spaces */
		for (int i = 0; i < m.tasks[0].argc; i++)
			len += strlen(m.tasks[0].argv[i]);
		assert_int_equal(len, 65536);
	}
	manifest_free(&m);
	free(text);

	text = continued_command(INIFILE_VALUE_MAX + 1, &last);
	check_error_fmt(text,
	                "test.ini:3: value of 'command' is longer than 65536 "
	                "bytes (64 KiB), past it at line %d",
	                last);
	free(text);
}

/* Past the cap, later pieces are skipped: still one problem, then on. */
static void
test_continuation_cap_then_more(void **state)
{
	char *text, *more, *second;
	int last;

	(void)state;
	text = continued_command(3 * INIFILE_VALUE_MAX, &last);
	more = xasprintf("%sstop_timeout = x\n", text);
	second = xasprintf("test.ini:%d: stop_timeout = x: not a duration "
	                   "(like 250ms, 1.5s, 5m, 1h or seconds)",
	                   last + 1);
	ERRORS(more,
	       "test.ini:3: value of 'command' is longer than 65536 bytes (64 "
	       "KiB), past it at line 652",
	       second);
	free(second);
	free(more);
	free(text);
}

static void
test_inline_comment(void **state)
{
	struct manifest m;

	(void)state;
	parse_ok("[tend] ; the daemon\nstop_timeout = 2s ; two seconds\n"
	         "syslog_ident = x\t; tab before\n"
	         "[task:a]\nclass = durable ; always\n"
	         "command = /bin/echo a b ; c d\n",
	         &m);
	assert_int_equal(m.stop_timeout_ms, 2000);
	assert_string_equal(m.syslog_ident, "x");
	assert_int_equal(m.tasks[0].class, CLASS_DURABLE);
	ARGV(&m.tasks[0], "/bin/echo", "a", "b");
	manifest_free(&m);
}

static void
test_inline_comment_in_quotes(void **state)
{
	struct manifest m;

	(void)state;
	/* in command, quotes and backslashes keep a ' ;', as sh would */
	NOTES("[task:a]\nclass = durable\n"
	      "command = /bin/sh -c 'echo a ; echo b' \"x ;y\" z\\ ;w \\;\n",
	      &m, NULL);
	ARGV(&m.tasks[0], "/bin/sh", "-c", "echo a ; echo b", "x ;y", "z ;w",
	     ";");
	manifest_free(&m);
	/* inside double quotes \" does not end them; '\'' ends single */
	NOTES("[task:a]\nclass = durable\n"
	      "command = /bin/echo \"a\\\" ;b\" 'c\\' ;d\n",
	      &m,
	      "test.ini:3: note: command: text after ' ;' is a comment, not "
	      "part of the value: ';d' (to keep it, quote it or write \\;)");
	ARGV(&m.tasks[0], "/bin/echo", "a\" ;b", "c\\");
	manifest_free(&m);
	/* a quote open at the end of a line stays open on the next */
	NOTES("[task:a]\nclass = durable\ncommand = /bin/echo 'a ;b\n"
	      "   c ;d' e ; f\n",
	      &m,
	      "test.ini:4: note: command: text after ' ;' is a comment, not "
	      "part of the value: '; f' (to keep it, quote it or write \\;)");
	ARGV(&m.tasks[0], "/bin/echo", "a ;b c ;d", "e");
	manifest_free(&m);
	/* elsewhere quotes do not protect: env is taken as written */
	NOTES("[task:a]\nclass = durable\ncommand = /bin/true\n"
	      "env = A='x ;y'\n",
	      &m,
	      "test.ini:4: note: env: text after ' ;' is a comment, not part "
	      "of the value: ';y''");
	assert_string_equal(m.tasks[0].env[0], "A='x");
	manifest_free(&m);
	/* an unterminated quote keeps the rest of the line */
	ERRORS("[task:a]\nclass = durable\ncommand = /bin/echo 'a ;b\n",
	       "test.ini:3: command = /bin/echo 'a ;b: unterminated single "
	       "quote");
}

static void
test_comment_notes(void **state)
{
	struct manifest m;
	char *long_comment = repeat('c', 100), *text;

	(void)state;
	/* "-exec ... {} ;" is cut: noted, on the line of the piece */
	NOTES("[task:a]\nclass = durable\n"
	      "command = /usr/bin/find /x -exec echo {} ;\n"
	      "env = A=1 ;one\nenv = B=2\n  3 ; three  \n"
	      "directory = / ; no note: not a command or env\n"
	      "stop_signal = TERM ; nor here\n",
	      &m,
	      "test.ini:3: note: command: text after ' ;' is a comment, not "
	      "part of the value: ';' (to keep it, quote it or write \\;)",
	      "test.ini:4: note: env: text after ' ;' is a comment, not part "
	      "of the value: ';one'",
	      "test.ini:6: note: env: text after ' ;' is a comment, not part "
	      "of the value: '; three'");
	ARGV(&m.tasks[0], "/usr/bin/find", "/x", "-exec", "echo", "{}");
	assert_string_equal(m.tasks[0].env[0], "A=1");
	assert_string_equal(m.tasks[0].env[1], "B=2 3");
	manifest_free(&m);
	/* a long comment is shown in part */
	text = xasprintf("[task:a]\nclass = durable\ncommand = /bin/true ;%s\n",
	                 long_comment);
	NOTES(text, &m,
	      "test.ini:3: note: command: text after ' ;' is a comment, not "
	      "part of the value: ';ccccccccccccccccccccccccccccccccccccccccccc"
	      "cccccccccccccccc...' (to keep it, quote it or write \\;)");
	manifest_free(&m);
	free(text);
	free(long_comment);
	/* no note without a comment, or for a whole comment line */
	NOTES("[task:a]\nclass = durable\ncommand = /bin/echo a;b\n"
	      "  ; c\nenv = A=;\n",
	      &m, NULL);
	manifest_free(&m);
}

static void
test_semicolon_without_blank(void **state)
{
	struct manifest m;

	(void)state;
	parse_ok("[task:a]\nclass = durable\n"
	         "command = /bin/sh -c 'echo a;echo b' x;y \"p;q\"\n"
	         "env = A=x;y\nenv = B=;\n",
	         &m);
	ARGV(&m.tasks[0], "/bin/sh", "-c", "echo a;echo b", "x;y", "p;q");
	assert_string_equal(m.tasks[0].env[0], "A=x;y");
	assert_string_equal(m.tasks[0].env[1], "B=;");
	manifest_free(&m);
	/* '#' is a comment only at the start of a line */
	parse_ok("[task:a]\nclass = durable\ncommand = /bin/echo a #b c#d\n",
	         &m);
	ARGV(&m.tasks[0], "/bin/echo", "a", "#b", "c#d");
	manifest_free(&m);
}

static void
test_continuation_lines(void **state)
{
	struct manifest m;

	(void)state;
	parse_ok("[task:a]\nclass = durable\n"
	         "command = /bin/echo a\n"
	         "  b\n"
	         "\tc   d  \n"
	         "  ; an indented comment line is a comment\n"
	         "\t# so is this\n"
	         "  e ; an inline comment is cut\n"
	         "  'f;g' h\n"
	         "env = A=1\n"
	         "   2\n"
	         "env = B=x\n",
	         &m);
	ARGV(&m.tasks[0], "/bin/echo", "a", "b", "c", "d", "e", "f;g", "h");
	assert_int_equal(m.tasks[0].nenv, 2);
	assert_string_equal(m.tasks[0].env[0], "A=1 2");
	assert_string_equal(m.tasks[0].env[1], "B=x");
	manifest_free(&m);
}

static void
test_continuation_joins_one_space(void **state)
{
	struct manifest m;

	(void)state;
	parse_ok("[task:a]\nclass = durable\ncommand = /bin/echo\n"
	         "env = A=one\n     two   \n\t\tthree\nenv = B=\n  x\n",
	         &m);
	assert_int_equal(m.tasks[0].nenv, 2);
	assert_string_equal(m.tasks[0].env[0], "A=one two three");
	assert_string_equal(m.tasks[0].env[1], "B= x");
	manifest_free(&m);
	/* an empty first piece gets no leading space */
	parse_ok("[task:a]\nclass = durable\ncommand =\n  /bin/echo\n  x\n",
	         &m);
	ARGV(&m.tasks[0], "/bin/echo", "x");
	manifest_free(&m);
	parse_ok("[task:a]\nclass =\n   durable\ncommand = /bin/true\n", &m);
	assert_int_equal(m.tasks[0].class, CLASS_DURABLE);
	manifest_free(&m);
}

static void
test_continuation_scope(void **state)
{
	struct manifest m;

	(void)state;
	/* an indented first key of a section is a key, not a continuation */
	parse_ok("[tend]\nstop_timeout = 1s\n[task:a]\n  class = durable\n"
	         "command = /bin/true\n",
	         &m);
	assert_int_equal(m.stop_timeout_ms, 1000);
	assert_int_equal(m.tasks[0].class, CLASS_DURABLE);
	manifest_free(&m);
}

/*
 * An indented KEY = VALUE line after a key would continue that key's
 * value: for a known key that is reported, and the value is lost.
 */
static void
test_indented_key(void **state)
{
	struct manifest m;
	struct diag d;

	(void)state;
	ERRORS(
	    "[task:a]\nclass = durable\n  command = /bin/true\n",
	    "test.ini:1: task a: missing required key 'command'",
	    "test.ini:3: indented line continues the value of 'class'; to set "
	    "'command', start the line in the first column");
	ERRORS(
	    "[tend]\nstop_timeout = 1s\n\tsubreaper: yes\n",
	    "test.ini:3: indented line continues the value of 'stop_timeout'; "
	    "to set 'subreaper', start the line in the first column");
	assert_int_equal(parse("[task:a]\nclass = durable\n"
	                       "command = /bin/echo\n"
	                       "  a\n"
	                       "  umask   = 077\n"
	                       "  b\n"
	                       "env = A=1\n",
	                       &m, &d),
	                 -1);
	assert_diags(&d, (const char *const[]){
	                     "test.ini:5: indented line continues the value of "
	                     "'command'; to set 'umask', start the line in the "
	                     "first column",
	                     NULL});
	assert_null(m.tasks[0].argv); /* neither "/bin/echo a" nor more */
	assert_int_equal(m.tasks[0].umask, 022);
	assert_string_equal(m.tasks[0].env[0], "A=1");
	diag_free(&d);
	manifest_free(&m);
	/* words that merely start like a key, or unknown keys, continue */
	parse_ok("[task:a]\nclass = durable\ncommand = /bin/env\n"
	         "  envy=1\n  FOO=bar\n  user_name = x\n",
	         &m);
	ARGV(&m.tasks[0], "/bin/env", "envy=1", "FOO=bar", "user_name", "=",
	     "x");
	manifest_free(&m);
}

static void
test_several_errors(void **state)
{
	char *line = command_line(70000), *text;

	(void)state;
	text = xasprintf("stray = 1\n"                 /* 1 */
	                 "[task:a]\n"                  /* 2 */
	                 "class = durable\n"           /* 3 */
	                 "command = /bin/echo 'x\n"    /* 4 */
	                 "listen = tcp:127.0.0.1:80\n" /* 5 */
	                 "no equals here\n"            /* 6 */
	                 "[bogus]\n"                   /* 7 */
	                 "[task:b]\n"                  /* 8 */
	                 "class = log-only\n"          /* 9 */
	                 "%s\n"                        /* 10 */
	                 "umask = 8\n"                 /* 11 */
	                 "umask = 7\n"                 /* 12 */
	                 "[task:c]\n"                  /* 13 */
	                 "class = per-request\n"       /* 14 */
	                 "[tend]\n"                    /* 15 */
	                 "stop_timeout = 0\n"          /* 16 */
	                 "bogus = 1\n"                 /* 17 */
	                 "[task:a]\n"                  /* 18 */
	                 "class = durable\n"           /* 19 */
	                 "command = /bin/true\n"       /* 20 */
	                 "[tend\n",                    /* 21 */
	                 line);
	ERRORS(text, "test.ini:1: key 'stray' outside any section",
	       "test.ini:4: command = /bin/echo 'x: unterminated single quote",
	       "test.ini:5: key 'listen' does not apply to a durable task",
	       "test.ini:6: expected KEY = VALUE, a [section] or a comment",
	       "test.ini:7: unknown section [bogus]: expected [tend] or "
	       "[task:NAME]",
	       "test.ini:10: line too long (70000 bytes; at most 65536, 64 "
	       "KiB)",
	       "test.ini:11: umask = 8: not an octal mode from 0 to 0777",
	       "test.ini:12: duplicate key 'umask' (first at line 11)",
	       "test.ini:13: task c: missing required key 'command'",
	       "test.ini:16: stop_timeout = 0: must be longer than 0",
	       "test.ini:17: unknown key 'bogus' in [tend]",
	       "test.ini:18: duplicate task 'a' (first at line 2)",
	       "test.ini:21: section header has no closing ']'");
	free(text);
	free(line);
}

static void
test_crlf(void **state)
{
	struct manifest m;

	(void)state;
	parse_ok("; comment\r\n[tend]\r\nstop_timeout = 3s\r\n\r\n"
	         "[task:a]\r\nclass = durable\r\n"
	         "command = /bin/echo a \"b c\"\r\n  d\r\n"
	         "env = A=1\r\nstdout = null ; c\r\n",
	         &m);
	assert_int_equal(m.stop_timeout_ms, 3000);
	assert_int_equal(m.ntasks, 1);
	assert_string_equal(m.tasks[0].name, "a");
	ARGV(&m.tasks[0], "/bin/echo", "a", "b c", "d");
	assert_string_equal(m.tasks[0].env[0], "A=1");
	assert_int_equal(m.tasks[0].out, OUTPUT_NULL);
	manifest_free(&m);
	ERRORS(
	    "[tend]\r\nsubreaper = maybe\r\n[foo]\r\nx\r\n",
	    "test.ini:2: subreaper = maybe: not a boolean (yes or no)",
	    "test.ini:3: unknown section [foo]: expected [tend] or [task:NAME]",
	    "test.ini:4: expected KEY = VALUE, a [section] or a comment");
}

static void
test_utf8_bom(void **state)
{
	struct manifest m;

	(void)state;
	parse_ok("\xef\xbb\xbf[tend]\nstop_timeout = 4s\n", &m);
	assert_int_equal(m.stop_timeout_ms, 4000);
	manifest_free(&m);
	parse_ok("\xef\xbb\xbf[task:a]\r\nclass = durable\r\n"
	         "command = /bin/true\r\n",
	         &m);
	assert_string_equal(m.tasks[0].name, "a");
	manifest_free(&m);
	parse_ok("\xef\xbb\xbf; comment\n", &m);
	manifest_free(&m);
	ERRORS("\xef\xbb\xbf"
	       "stop_timeout = 1s\n",
	       "test.ini:1: key 'stop_timeout' outside any section");
	/* only on the first line */
	ERRORS("[tend]\n\xef\xbb\xbf[tend]\n",
	       "test.ini:2: expected KEY = VALUE, a [section] or a comment");
}

static void
test_nul_byte(void **state)
{
	static const char text[] = "[task:a]\nclass = durable\n"
	                           "command = /bin/true\0 rm -rf /\n";

	(void)state;
	check_errors_len(
	    text, sizeof(text) - 1,
	    (const char *const[]){
	        "test.ini:1: task a: missing required key 'command'",
	        "test.ini:3: line contains a NUL byte", NULL});
}

static void
test_no_newline_at_end(void **state)
{
	struct manifest m;

	(void)state;
	parse_ok("[task:a]\nclass = durable\ncommand = /bin/echo end", &m);
	ARGV(&m.tasks[0], "/bin/echo", "end");
	manifest_free(&m);
}

static void
test_colon_separator(void **state)
{
	struct manifest m;

	(void)state;
	/* libinih also takes KEY: VALUE; the value keeps later colons */
	parse_ok("[task:a]\nclass: per-request\ncommand = /bin/cat\n"
	         "listen = tcp:127.0.0.1:80\n",
	         &m);
	assert_int_equal(m.tasks[0].class, CLASS_PER_REQUEST);
	assert_string_equal(m.tasks[0].listen.text, "tcp:127.0.0.1:80");
	manifest_free(&m);
}

static void
test_load_missing_file(void **state)
{
	struct manifest m;
	struct diag d = {0};

	(void)state;
	assert_int_equal(
	    manifest_load("/nonexistent/tend-test/tend.ini", &m, &d), -1);
	assert_diags(&d, (const char *const[]){
	                     "/nonexistent/tend-test/tend.ini: cannot open: No "
	                     "such file or directory",
	                     NULL});
	assert_int_equal(d.items[0].line, 0);
	assert_string_equal(m.path, "/nonexistent/tend-test/tend.ini");
	assert_int_equal(m.ntasks, 0);
	diag_free(&d);
	manifest_free(&m);
}

static void
test_load_directory(void **state)
{
	struct manifest m;
	struct diag d = {0};

	(void)state;
	assert_int_equal(manifest_load("/", &m, &d), -1);
	assert_diags(&d, (const char *const[]){
	                     "/: cannot open: not a regular file", NULL});
	diag_free(&d);
	manifest_free(&m);
}

static void
test_load_file(void **state)
{
	char path[] = "/tmp/tend-test-XXXXXX";
	struct manifest m;
	struct diag d = {0};
	FILE *fp;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs("[task:a]\nclass = log-only\ncommand = /bin/true\n"
	      "stdout = bad\n",
	      fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(manifest_load(path, &m, &d), -1);
	assert_int_equal(d.count, 1);
	assert_non_null(strstr(d.items[0].text, path));
	assert_non_null(
	    strstr(d.items[0].text, ":4: stdout = bad: " OUTPUT_USAGE));
	assert_string_equal(m.path, path);
	diag_free(&d);
	manifest_free(&m);
	unlink(path);
}

static void
test_diag_accumulates(void **state)
{
	struct manifest m;
	struct diag d = {0};
	FILE *fp;
	static const char good[] = "[tend]\n";

	(void)state;
	/* a second read returns 0 for its own text, keeping what came before */
	diag_add(&d, "other.ini", 3, "earlier problem %d", 1);
	fp = fmemopen((void *)good, strlen(good), "r");
	assert_non_null(fp);
	assert_int_equal(manifest_read(fp, FILE_NAME, &m, &d), 0);
	fclose(fp);
	assert_diags(
	    &d, (const char *const[]){"other.ini:3: earlier problem 1", NULL});
	diag_free(&d);
	manifest_free(&m);
}

static void
test_diag_order_and_print(void **state)
{
	struct diag d = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	diag_add(&d, "f", 9, "nine");
	diag_add(&d, "f", 2, "two");
	diag_add(&d, "f", 0, "whole %s", "file");
	diag_add(&d, "f", 9, "nine again");
	for (int i = 0; i < 20; i++)
		diag_add(&d, "f", 100 - i, "n%d", 100 - i);
	assert_int_equal(d.count, 24);
	assert_diag(&d, 0, "f: whole file");
	assert_diag(&d, 1, "f:2: two");
	assert_diag(&d, 2, "f:9: nine");
	assert_diag(&d, 3, "f:9: nine again");
	assert_diag(&d, 4, "f:81: n81");
	assert_diag(&d, 23, "f:100: n100");
	diag_free(&d);
	assert_int_equal(d.count, 0);

	diag_add(&d, "f", 2, "b");
	diag_add(&d, "f", 1, "a");
	/* notes are no problems, printed among them in line order */
	diag_note(&d, "f", 3, "c");
	diag_note(&d, "f", 2, "%s", "b2");
	diag_note(&d, "f", 0, "z");
	assert_int_equal(d.count, 2);
	assert_int_equal(d.nnotes, 3);
	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	diag_print(&d, fp);
	fclose(fp);
	assert_string_equal(buf, "f: note: z\nf:1: a\nf:2: b\nf:2: note: b2\n"
	                         "f:3: note: c\n");
	free(buf);
	diag_free(&d);
}

static void
test_class_names(void **state)
{
	(void)state;
	assert_string_equal(manifest_class_name(CLASS_DURABLE), "durable");
	assert_string_equal(manifest_class_name(CLASS_LOG_ONLY), "log-only");
	assert_string_equal(manifest_class_name(CLASS_PER_REQUEST),
	                    "per-request");
}

/* The groups of a task's user, as the group database says when read. */
static void
test_user_groups(void **state)
{
	struct manifest m;
	gid_t want[256];
	int n = 256;

	(void)state;
	assert_int_not_equal(getgrouplist("root", 7, want, &n), -1);
	parse_ok(TASK("durable", "user = root\ngroup = 7\n"), &m);
	assert_int_equal(m.tasks[0].ngroups, n);
	assert_memory_equal(m.tasks[0].groups, want, (size_t)n * sizeof(gid_t));
	assert_int_equal(m.tasks[0].groups[0], 7); /* the group comes first */
	manifest_free(&m);

	/* A bare uid: its group alone. */
	parse_ok(TASK("durable", "user = 4000000\ngroup = 9\n"), &m);
	assert_int_equal(m.tasks[0].ngroups, 1);
	assert_int_equal(m.tasks[0].groups[0], 9);
	manifest_free(&m);

	/* No user: no groups to take. */
	parse_ok(TASK("durable", "group = 9\n"), &m);
	assert_int_equal(m.tasks[0].ngroups, 0);
	assert_null(m.tasks[0].groups);
	manifest_free(&m);
}

/* console and file:PATH outputs, and the sizes of log_max_size. */
static void
test_output_keys(void **state)
{
	static const struct {
		const char *value;
		int64_t size;
	} sizes[] = {
	    {"0", 0},
	    {"1", 1},
	    {"512", 512},
	    {"4K", 4096},
	    {"4k", 4096},
	    {"10M", 10 * 1024 * 1024},
	    {"2G", 2LL << 30},
	    {"1024G", 1LL << 40},
	    {"1099511627776", 1LL << 40},
	};
	struct manifest m;
	struct task_config *t;
	char *text;

	(void)state;
	parse_ok(TASK("durable", "stdout = console\n"
	                         "stderr = file:/var/log/t.err\n"
	                         "log_max_size = 1M\nlog_backups = 0\n"),
	         &m);
	t = &m.tasks[0];
	assert_int_equal(t->out, OUTPUT_CONSOLE);
	assert_null(t->out_path);
	assert_int_equal(t->err, OUTPUT_FILE);
	assert_string_equal(t->err_path, "/var/log/t.err");
	assert_int_equal(t->log_max_size, 1024 * 1024);
	assert_int_equal(t->log_backups, 0);
	manifest_free(&m);

	/* Every class, with or without a file: output. */
	parse_ok(TASK("per-request", "stdout = file:/c\nstderr = file:/c\n"
	                             "log_backups = 1000\n"),
	         &m);
	t = &m.tasks[0];
	assert_int_equal(t->out, OUTPUT_FILE);
	assert_string_equal(t->out_path, "/c");
	assert_string_equal(t->err_path, "/c");
	assert_int_equal(t->log_backups, 1000);
	manifest_free(&m);
	parse_ok(TASK("log-only", "stdout = syslog\nlog_max_size = 1K\n"), &m);
	assert_int_equal(m.tasks[0].out, OUTPUT_SYSLOG);
	assert_null(m.tasks[0].out_path);
	manifest_free(&m);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		text = xasprintf(TASK("durable", "log_max_size = %s\n"),
		                 sizes[i].value);
		parse_ok(text, &m);
		if (m.tasks[0].log_max_size != sizes[i].size)
			fail_msg("%s: %lld", sizes[i].value,
			         (long long)m.tasks[0].log_max_size);
		manifest_free(&m);
		free(text);
	}
}

/* Readiness, order and health (SPEC sections 3 and 8). */

static void
test_readiness_defaults(void **state)
{
	static const char *classes[] = {"durable", "log-only", "per-request"};
	struct manifest m;
	char *text;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		const struct task_config *t;
		text = xasprintf("[task:t]\nclass = %s\ncommand = /bin/true\n",
		                 classes[i]);
		parse_ok(text, &m);
		t = &m.tasks[0];
		assert_null(t->after);
		assert_int_equal(t->nafter, 0);
		assert_int_equal(t->after_line, 0);
		assert_int_equal(t->ready.kind, PROBE_NONE);
		assert_null(t->ready.text);
		assert_int_equal(t->ready_timeout_ms, 60000);
		assert_int_equal(t->health.kind, PROBE_NONE);
		assert_null(t->health.text);
		assert_int_equal(t->health_interval_ms, 30000);
		assert_int_equal(t->health_timeout_ms, 5000);
		assert_int_equal(t->health_retries, 3);
		manifest_free(&m);
		free(text);
	}
}

static void
test_readiness_keys(void **state)
{
	struct manifest m;
	const struct task_config *t;

	(void)state;
	parse_ok("[task:db]\nclass = durable\ncommand = /bin/db\n"
	         "ready = exec:/usr/bin/pg_isready -q -h 127.0.0.1\n"
	         "ready_timeout = 2m\n"
	         "health = tcp:127.0.0.1:5432\n"
	         "health_interval = 10s\n"
	         "health_timeout = 250ms\n"
	         "health_retries = 5\n"
	         "[task:daemon]\nclass = durable\ncommand = /bin/d\n"
	         "ready = notify\nhealth = unix:/run/d.sock\n"
	         "health_retries = 1\n"
	         "[task:web]\nclass = durable\ncommand = /bin/web\n"
	         "ready = tcp:[::1]:8080\nhealth = exec:/bin/check\n"
	         "health_retries = 100\nafter = db daemon\n",
	         &m);
	assert_int_equal(m.ntasks, 3);
	t = &m.tasks[0];
	assert_int_equal(t->ready.kind, PROBE_EXEC);
	assert_string_equal(t->ready.text,
	                    "exec:/usr/bin/pg_isready -q -h 127.0.0.1");
	assert_int_equal(t->ready.argc, 4);
	assert_string_equal(t->ready.argv[0], "/usr/bin/pg_isready");
	assert_string_equal(t->ready.argv[3], "127.0.0.1");
	assert_null(t->ready.argv[4]);
	assert_int_equal(t->ready_timeout_ms, 120000);
	assert_int_equal(t->health.kind, PROBE_TCP);
	assert_int_equal(t->health.addr.kind, ENDPOINT_TCP);
	assert_string_equal(t->health.text, "tcp:127.0.0.1:5432");
	assert_int_equal(t->health_interval_ms, 10000);
	assert_int_equal(t->health_timeout_ms, 250);
	assert_int_equal(t->health_retries, 5);
	t = &m.tasks[1];
	assert_int_equal(t->ready.kind, PROBE_NOTIFY);
	assert_string_equal(t->ready.text, "notify");
	assert_int_equal(t->health.kind, PROBE_UNIX);
	assert_string_equal(t->health.text, "unix:/run/d.sock");
	assert_int_equal(t->health_retries, 1);
	t = &m.tasks[2];
	assert_int_equal(t->ready.kind, PROBE_TCP);
	assert_int_equal(t->health.kind, PROBE_EXEC);
	assert_string_equal(t->health.argv[0], "/bin/check");
	assert_int_equal(t->health_retries, 100);
	assert_int_equal(t->nafter, 2);
	assert_string_equal(t->after[0], "db");
	assert_string_equal(t->after[1], "daemon");
	assert_null(t->after[2]);
	assert_int_equal(t->after_line, 22);
	manifest_free(&m);

	/* none spelt out is the default */
	parse_ok(TASK("durable", "ready = none\nhealth = none\n"), &m);
	assert_int_equal(m.tasks[0].ready.kind, PROBE_NONE);
	assert_int_equal(m.tasks[0].health.kind, PROBE_NONE);
	manifest_free(&m);
}

/* after = on every class; repeatable, names appended, each once. */
static void
test_after_names(void **state)
{
	struct manifest m;
	const struct task_config *t;

	(void)state;
	parse_ok("[task:a]\nclass = log-only\ncommand = /bin/true\n" /* 1-3 */
	         "[task:b]\nclass = per-request\ncommand = /bin/true\n"
	         "after = a\n" /* 7 */
	         "[task:c]\nclass = durable\ncommand = /bin/true\n"
	         "after = a\tb  a\n" /* 11 */
	         "env = X=1\n"
	         "after = b c.d-e_f a\n" /* 13 */
	         "after = a\n    b\n"    /* 14, continued on 15 */
	         "[task:c.d-e_f]\nclass = log-only\ncommand = /bin/true\n",
	         &m);
	assert_int_equal(m.ntasks, 4);
	assert_int_equal(m.tasks[0].nafter, 0);
	t = &m.tasks[1];
	assert_int_equal(t->nafter, 1);
	assert_string_equal(t->after[0], "a");
	assert_int_equal(t->after_line, 7);
	t = &m.tasks[2];
	assert_int_equal(t->nafter, 3);
	assert_string_equal(t->after[0], "a");
	assert_string_equal(t->after[1], "b");
	assert_string_equal(t->after[2], "c.d-e_f");
	assert_null(t->after[3]);
	assert_int_equal(t->after_line, 14);
	manifest_free(&m);
}

static void
test_readiness_bad_values(void **state)
{
	static const struct {
		const char *key, *value, *why;
	} cases[] = {
	    {"ready", "yes",
	     "not none, notify, tcp:HOST:PORT, unix:PATH or exec:COMMAND"},
	    {"ready", "exec:", "exec: needs a command"},
	    {"ready", "exec:/bin/x 'a", "unterminated single quote"},
	    {"ready", "tcp:localhost:80",
	     "HOST must be an IPv4 address or an IPv6 address in brackets "
	     "(host names are not resolved)"},
	    {"ready", "unix:x.sock", "unix socket path must be absolute"},
	    {"health", "notify", "notify is for ready only"},
	    {"health", "http://x/",
	     "not none, tcp:HOST:PORT, unix:PATH or exec:COMMAND"},
	    {"health", "exec:", "exec: needs a command"},
	    {"health", "tcp:127.0.0.1:99999",
	     "port must be a number from 1 to 65535"},
	    {"ready_timeout", "0", "must be longer than 0"},
	    {"ready_timeout", "10x", DURATION_USAGE},
	    {"ready_timeout", "31d", DURATION_USAGE},
	    {"health_interval", "0ms", "must be longer than 0"},
	    {"health_interval", "721h", "longer than 30 days"},
	    {"health_timeout", "0s", "must be longer than 0"},
	    {"health_timeout", "-1", DURATION_USAGE},
	    {"health_retries", "0", "not a number from 1 to 100"},
	    {"health_retries", "101", "not a number from 1 to 100"},
	    {"health_retries", "-1", "not a number from 1 to 100"},
	    {"health_retries", "three", "not a number from 1 to 100"},
	    {"after", "a,b",
	     "'a,b' is not a task name (1 to 64 of A-Z a-z 0-9 _ . -)"},
	    {"after", "ok web/1",
	     "'web/1' is not a task name (1 to 64 of A-Z a-z 0-9 _ . -)"},
	    {"after",
	     "a123456789012345678901234567890123456789012345678901234567890123"
	     "4",
	     "'a1234567890123456789012345678901...' is not a task name (1 to "
	     "64 of A-Z a-z 0-9 _ . -)"},
	};
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		text = xasprintf(TASK("durable", "%s = %s\n"), cases[i].key,
		                 cases[i].value);
		check_error_fmt(text, "test.ini:4: %s = %s: %s", cases[i].key,
		                cases[i].value, cases[i].why);
		free(text);
	}
	ERRORS(TASK("durable", "after =\n"),
	       "test.ini:4: after = : needs a value");
}

/* A rejected value leaves the default, and after's earlier names. */
static void
test_readiness_rejected_unset(void **state)
{
	struct manifest m;
	struct diag d;

	(void)state;
	assert_int_equal(
	    parse("[task:a]\nclass = durable\ncommand = /bin/true\n"
	          "ready = exec:'\nhealth = notify\nready_timeout = 0\n"
	          "health_interval = 0\nhealth_timeout = 0\n"
	          "health_retries = 0\nafter = b\nafter = b c/d\n"
	          "[task:b]\nclass = durable\ncommand = /bin/true\n",
	          &m, &d),
	    -1);
	assert_int_equal(d.count, 7);
	assert_int_equal(m.ntasks, 2);
	assert_int_equal(m.tasks[0].ready.kind, PROBE_NONE);
	assert_int_equal(m.tasks[0].health.kind, PROBE_NONE);
	assert_int_equal(m.tasks[0].ready_timeout_ms, 60000);
	assert_int_equal(m.tasks[0].health_interval_ms, 30000);
	assert_int_equal(m.tasks[0].health_timeout_ms, 5000);
	assert_int_equal(m.tasks[0].health_retries, 3);
	assert_int_equal(m.tasks[0].nafter, 1);
	assert_string_equal(m.tasks[0].after[0], "b");
	assert_int_equal(m.tasks[0].after_line, 10);
	diag_free(&d);
	manifest_free(&m);
}

/* ready* and health* are for durable tasks; after is for every class. */
static void
test_readiness_wrong_class(void **state)
{
	static const char *keys[][2] = {
	    {"ready", "notify"},       {"ready", "garbage"},
	    {"ready_timeout", "1s"},   {"health", "tcp:127.0.0.1:80"},
	    {"health_interval", "1s"}, {"health_timeout", "1s"},
	    {"health_retries", "2"},
	};
	static const char *classes[] = {"log-only", "per-request"};
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		for (size_t c = 0; c < 2; c++) {
			text = xasprintf("[task:t]\nclass = %s\ncommand = "
			                 "/bin/true\n%s = %s\n",
			                 classes[c], keys[i][0], keys[i][1]);
			check_error_fmt(
			    text,
			    "test.ini:4: key '%s' does not apply to "
			    "a %s task",
			    keys[i][0], classes[c]);
			free(text);
		}
}

/* Each of the keys once only (after may repeat). */
static void
test_readiness_duplicate_keys(void **state)
{
	(void)state;
	ERRORS(TASK("durable", "ready = notify\nready = none\n"),
	       "test.ini:5: duplicate key 'ready' (first at line 4)");
	ERRORS(TASK("durable", "health_retries = 1\nhealth_retries = 2\n"),
	       "test.ini:5: duplicate key 'health_retries' (first at line 4)");
	ERRORS(TASK("durable", "healt = none\n"),
	       "test.ini:4: unknown key 'healt' in task t (did you mean "
	       "'health'?)");
}

static void
test_after_unknown(void **state)
{
	(void)state;
	ERRORS("[task:web]\nclass = durable\ncommand = /bin/true\n"
	       "after = db\n",
	       "test.ini:4: task web: after: no task named 'db'");
	/* at the line of the key that names it; each unknown name */
	ERRORS("[task:web]\nclass = durable\ncommand = /bin/true\n"
	       "after = a\n"
	       "after = cache db\n"
	       "after = queue db\n"
	       "[task:a]\nclass = log-only\ncommand = /bin/true\n"
	       "after = all\n",
	       "test.ini:5: task web: after: no task named 'cache'",
	       "test.ini:5: task web: after: no task named 'db'",
	       "test.ini:6: task web: after: no task named 'queue'",
	       "test.ini:10: task a: after: no task named 'all'");
	/* a task dropped for its bad name is no task */
	ERRORS("[task:web]\nclass = durable\ncommand = /bin/true\n"
	       "after = db\n"
	       "[task:db]\nclass = durable\n",
	       "test.ini:5: task db: missing required key 'command'");
	ERRORS("[task:web]\nclass = durable\ncommand = /bin/true\n"
	       "after = x\n"
	       "[task:x y]\nclass = durable\ncommand = /bin/true\n",
	       "test.ini:4: task web: after: no task named 'x'",
	       "test.ini:5: bad task name 'x y': 1 to 64 of A-Z a-z 0-9 _ . "
	       "-");
}

static void
test_after_self(void **state)
{
	(void)state;
	ERRORS("[task:a]\nclass = durable\ncommand = /bin/true\n"
	       "after = a\n",
	       "test.ini:4: task a: after: cycle: a -> a");
	ERRORS("[task:a]\nclass = per-request\ncommand = /bin/true\n"
	       "after = b\nafter = c a\n"
	       "[task:b]\nclass = log-only\ncommand = /bin/true\n"
	       "[task:c]\nclass = log-only\ncommand = /bin/true\n",
	       "test.ini:5: task a: after: cycle: a -> a");
}

static void
test_after_cycles(void **state)
{
	(void)state;
	/* told from the task first in the manifest, wherever found */
	ERRORS("[task:a]\nclass = durable\ncommand = /bin/true\n"
	       "after = b\n"
	       "[task:b]\nclass = log-only\ncommand = /bin/true\n"
	       "after = c\n"
	       "[task:c]\nclass = per-request\ncommand = /bin/true\n"
	       "after = a\n",
	       "test.ini:4: task a: after: cycle: a -> b -> c -> a");
	ERRORS("[task:z]\nclass = durable\ncommand = /bin/true\n"
	       "after = c\n"
	       "[task:c]\nclass = durable\ncommand = /bin/true\n"
	       "after = b\n"
	       "[task:b]\nclass = durable\ncommand = /bin/true\n"
	       "after = x\nafter = a\n"
	       "[task:a]\nclass = durable\ncommand = /bin/true\n"
	       "after = c\n",
	       "test.ini:8: task c: after: cycle: c -> b -> a -> c",
	       "test.ini:12: task b: after: no task named 'x'");
	/* two cycles, one problem each; a task after a cycle is no cycle */
	ERRORS("[task:a]\nclass = durable\ncommand = /bin/true\n"
	       "after = b\n"
	       "[task:b]\nclass = durable\ncommand = /bin/true\n"
	       "after = a\n"
	       "[task:c]\nclass = durable\ncommand = /bin/true\n"
	       "after = d a\n"
	       "[task:d]\nclass = durable\ncommand = /bin/true\n"
	       "after = c\n",
	       "test.ini:4: task a: after: cycle: a -> b -> a",
	       "test.ini:12: task c: after: cycle: c -> d -> c");
	/* a diamond is no cycle */
	struct manifest m;
	parse_ok("[task:a]\nclass = durable\ncommand = /bin/true\n"
	         "after = b c\n"
	         "[task:b]\nclass = durable\ncommand = /bin/true\n"
	         "after = d\n"
	         "[task:c]\nclass = durable\ncommand = /bin/true\n"
	         "after = d\n"
	         "[task:d]\nclass = log-only\ncommand = /bin/true\n",
	         &m);
	manifest_free(&m);
}

/* n tasks t0 ... t(n-1), each after the next; the last after t0 if loop. */
static char *
chain(size_t n, bool loop)
{
	struct buf text = {0};

	for (size_t i = 0; i < n; i++) {
		buf_addf(&text,
		         "[task:t%zu]\nclass = durable\n"
		         "command = /bin/true\n",
		         i);
		if (i + 1 < n)
			buf_addf(&text, "after = t%zu\n", i + 1);
		else if (loop)
			buf_addf(&text, "after = t0\n");
	}
	return text.data;
}

/*
 * 10 000 tasks in one chain: no deep recursion, no quadratic time. Under
 * ASan, 2 000: inifile.c grows its arrays an entry at a time, and ASan's
 * realloc, which always copies, makes reading 10 000 sections take
 * seconds (0.05 s without).
 */
#ifdef __SANITIZE_ADDRESS__
#define CHAIN_TASKS 2000
#else
#define CHAIN_TASKS 10000
#endif

static void
test_after_long_chain(void **state)
{
	enum { N = CHAIN_TASKS };
	struct manifest m;
	struct diag d;
	char *text = chain(N, false);
	struct buf want = {0};
	clock_t began = clock();

	(void)state;
	parse_ok(text, &m);
	assert_int_equal(m.ntasks, N);
	assert_int_equal(m.tasks[N - 2].nafter, 1);
	assert_int_equal(m.tasks[N - 1].nafter, 0);
	manifest_free(&m);
	free(text);
	/* in CPU time, far below what a quadratic check takes (minutes) */
	assert_true(clock() - began < 10 * CLOCKS_PER_SEC);

	text = chain(N, true);
	assert_int_equal(parse(text, &m, &d), -1);
	assert_int_equal(d.count, 1);
	buf_addf(&want, "test.ini:4: task t0: after: cycle: t0");
	for (size_t i = 1; i < N; i++)
		buf_addf(&want, " -> t%zu", i);
	buf_addf(&want, " -> t0");
	assert_string_equal(d.items[0].text, want.data);
	buf_free(&want);
	diag_free(&d);
	manifest_free(&m);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_manifest),
	    cmocka_unit_test(test_default_socket),
	    cmocka_unit_test(test_task_defaults),
	    cmocka_unit_test(test_every_key),
	    cmocka_unit_test(test_stop_timeout_inherited),
	    cmocka_unit_test(test_class_after_keys),
	    cmocka_unit_test(test_user_and_group),
	    cmocka_unit_test(test_task_names),
	    cmocka_unit_test(test_long_task_names_whole),
	    cmocka_unit_test(test_unknown_section),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_unknown_key_hint),
	    cmocka_unit_test(test_key_outside_section),
	    cmocka_unit_test(test_duplicate_task),
	    cmocka_unit_test(test_duplicate_key),
	    cmocka_unit_test(test_duplicate_value_not_used),
	    cmocka_unit_test(test_duplicate_tend),
	    cmocka_unit_test(test_duplicate_tend_keys_checked),
	    cmocka_unit_test(test_duplicate_tend_pid_file_no_leak),
	    cmocka_unit_test(test_bad_task_name),
	    cmocka_unit_test(test_bad_task_dropped),
	    cmocka_unit_test(test_missing_class),
	    cmocka_unit_test(test_missing_command),
	    cmocka_unit_test(test_bad_class),
	    cmocka_unit_test(test_key_wrong_class),
	    cmocka_unit_test(test_bad_task_values),
	    cmocka_unit_test(test_rejected_value_unset),
	    cmocka_unit_test(test_bad_global_values),
	    cmocka_unit_test(test_global_lengths),
	    cmocka_unit_test(test_empty_value),
	    cmocka_unit_test(test_missing_key_name),
	    cmocka_unit_test(test_line_without_equals),
	    cmocka_unit_test(test_key_with_blank),
	    cmocka_unit_test(test_bad_section_header),
	    cmocka_unit_test(test_backoff_order),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_long_line_boundary),
	    cmocka_unit_test(test_long_line_numbers),
	    cmocka_unit_test(test_long_line_in_tend),
	    cmocka_unit_test(test_long_key),
	    cmocka_unit_test(test_long_continuation_line),
	    cmocka_unit_test(test_long_line_then_continuation),
	    cmocka_unit_test(test_long_env_value),
	    cmocka_unit_test(test_long_comment_and_header),
	    cmocka_unit_test(test_continued_long_command),
	    cmocka_unit_test(test_continuation_cap),
	    cmocka_unit_test(test_continuation_cap_then_more),
	    cmocka_unit_test(test_inline_comment),
	    cmocka_unit_test(test_inline_comment_in_quotes),
	    cmocka_unit_test(test_comment_notes),
	    cmocka_unit_test(test_semicolon_without_blank),
	    cmocka_unit_test(test_continuation_lines),
	    cmocka_unit_test(test_continuation_joins_one_space),
	    cmocka_unit_test(test_continuation_scope),
	    cmocka_unit_test(test_indented_key),
	    cmocka_unit_test(test_several_errors),
	    cmocka_unit_test(test_crlf),
	    cmocka_unit_test(test_utf8_bom),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_no_newline_at_end),
	    cmocka_unit_test(test_colon_separator),
	    cmocka_unit_test(test_load_missing_file),
	    cmocka_unit_test(test_load_directory),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_diag_accumulates),
	    cmocka_unit_test(test_diag_order_and_print),
	    cmocka_unit_test(test_class_names),
	    cmocka_unit_test(test_user_groups),
	    cmocka_unit_test(test_output_keys),
	    cmocka_unit_test(test_readiness_defaults),
	    cmocka_unit_test(test_readiness_keys),
	    cmocka_unit_test(test_after_names),
	    cmocka_unit_test(test_readiness_bad_values),
	    cmocka_unit_test(test_readiness_rejected_unset),
	    cmocka_unit_test(test_readiness_wrong_class),
	    cmocka_unit_test(test_readiness_duplicate_keys),
	    cmocka_unit_test(test_after_unknown),
	    cmocka_unit_test(test_after_self),
	    cmocka_unit_test(test_after_cycles),
	    cmocka_unit_test(test_after_long_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
