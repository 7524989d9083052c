/*
 * tendd.c: the daemon's entry point: options, the manifest, the process
 * hygiene a supervisor (maybe PID 1) needs, then the supervisor's loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "tend.h"

#define EXIT_INVALID 1

static void
usage(FILE *fp)
{
	fprintf(fp,
	        "usage: tendd [-f MANIFEST] [-s SOCKET] [-d] [-e] [--check] "
	        "[-V] [-h]\n");
}

/* SIGHUP: reload, logging what changes or why it cannot. */
static void
tendd_reload(void)
{
	struct diag errors = {0};
	unsigned long serial;

	reload_manifest(false, NULL, NULL, &errors, &serial);
	diag_free(&errors);
}

struct options {
	const char *manifest;
	bool check;
	struct supervisor_options sv;
};

static void
options_parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"check", no_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *env = getenv("TEND_MANIFEST");
	int ch;

	o->manifest = env && *env ? env : "/etc/tend/tend.ini";
	while ((ch = getopt_long(argc, argv, "f:s:deVh", longopts, NULL)) != -1)
		switch (ch) {
		case 'f':
			o->manifest = optarg;
			break;
		case 's':
			o->sv.socket = optarg;
			break;
		case 'd':
			o->sv.detach = true;
			break;
		case 'e':
			o->sv.log_stderr = true;
			break;
		case 'c':
			o->check = true;
			break;
		case 'V':
			printf("tendd %s\n", TEND_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(EXIT_INVALID);
		}
	if (optind != argc) {
		usage(stderr);
		exit(EXIT_INVALID);
	}
}

/*
 * Signals as tendd needs them, whatever its parent left (exec keeps
 * SIG_IGN and the mask): an inherited SIGCHLD = SIG_IGN has the kernel
 * reap the tasks before tendd can see them go. The signals tendd handles
 * at their default (libev reads them from a signalfd and blocks them
 * itself), SIGPIPE ignored (a write to a closed pipe or socket is an
 * error, not a death), none of them blocked.
 */
static void
signals_reset(void)
{
	static const int dfl[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++) {
		sigaction(dfl[i], &sa, NULL);
		sigaddset(&set, dfl[i]);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/*
 * Make sure fds 0-2 are open (so no file of ours lands there and is handed
 * to a child as its stdio), and that nothing tendd inherited above them
 * leaks into the tasks.
 */
static void
fds_sanitize(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	fds_cloexec_from(3, FDS_RANGE);
}

/*
 * Fork, and end the parent: at once, or with ready (a pipe), once the
 * child writes a byte to it (exit 0) or closes it unwritten (exit 1).
 */
static int
fork_and_leave(const int *ready)
{
	char c;

	switch (fork()) {
	case -1:
		return -1;
	case 0:
		return 0;
	}
	if (ready == NULL)
		_exit(0);
	close(ready[1]);
	_exit(read(ready[0], &c, 1) == 1 ? 0 : EXIT_INVALID);
}

/*
 * -d: fork twice into a new session, stdin and stdout to /dev/null. The
 * first process waits on a pipe and exits 0 once the daemon says it is
 * ready (supervisor_options.ready_fd), or 1 if the daemon dies before:
 * so "tendd -d" fails visibly, and returns after the pid file exists.
 */
static int
daemonize(int *ready_fd)
{
	int pfd[2], fd;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		return -1;
	if (fork_and_leave(pfd) == -1)
		return -1;
	close(pfd[0]);
	if (setsid() == -1 || fork_and_leave(NULL) == -1)
		return -1;
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	dup2(fd, 0);
	dup2(fd, 1);
	close(fd);
	umask(022);
	*ready_fd = pfd[1];
	return chdir("/");
}

/*
 * path, taken from the working directory when relative: -d changes to /,
 * which must not move the socket that -s names. NULL when getcwd fails.
 */
static char *
path_absolute(const char *path)
{
	char *cwd, *abs;

	if (path[0] == '/')
		return xstrdup(path);
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return NULL;
	abs = xasprintf("%s/%s", cwd, path);
	free(cwd);
	return abs;
}

int
main(int argc, char **argv)
{
	struct options o = {.sv.ready_fd = -1};
	char *abs_manifest = NULL, *abs_socket = NULL;
	struct manifest m;
	struct diag diag = {0};
	int rc;

	options_parse(argc, argv, &o);
	signals_reset();
	fds_sanitize();
	rc = manifest_load(o.manifest, &m, &diag);
	/* Messages name the file as given; -d's chdir("/") needs it whole. */
	if ((abs_manifest = realpath(o.manifest, NULL)) != NULL) {
		free(m.path);
		m.path = xstrdup(abs_manifest);
	}
	diag_print(&diag, stderr);
	diag_free(&diag);
	if (rc == -1 || o.check) {
		manifest_free(&m);
		free(abs_manifest);
		return rc == -1 ? EXIT_INVALID : 0;
	}
	if (o.sv.detach && o.sv.socket != NULL) {
		if ((abs_socket = path_absolute(o.sv.socket)) == NULL) {
			fprintf(stderr, "tendd: cannot resolve -s %s: %s\n",
			        o.sv.socket, strerror(errno));
			manifest_free(&m);
			free(abs_manifest);
			return EXIT_INVALID;
		}
		o.sv.socket = abs_socket;
	}
	if (o.sv.detach && daemonize(&o.sv.ready_fd) == -1) {
		fprintf(stderr, "tendd: cannot detach: %s\n", strerror(errno));
		manifest_free(&m);
		free(abs_manifest);
		free(abs_socket);
		return EXIT_INVALID;
	}
	log_open(m.syslog_ident, m.syslog_facility, o.sv.log_stderr);
	o.sv.socket_open = control_open;
	o.sv.socket_move = control_reconfigure;
	o.sv.socket_close = control_close;
	o.sv.reload = tendd_reload;
	rc = supervisor_run(&m, &o.sv);
	log_close();
	manifest_free(&m);
	free(abs_manifest);
	free(abs_socket);
	return rc;
}
