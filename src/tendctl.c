/*
 * tendctl.c: the command-line client. It turns its arguments into one
 * request (proto.c), prints what tendd answers, and exits with the status
 * tendd gives ("end code=N"), or 4 when tendd cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tend.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	        "usage: tendctl [-s SOCKET] COMMAND [ARGS]\n"
	        "  status [NAME...] [--json]   start NAME...    stop NAME...\n"
	        "  restart NAME...             signal SIG NAME...\n"
	        "  run NAME [--wait]           reload [--dry-run]\n"
	        "  log NAME [-n N] [-f]        metrics          shutdown\n");
}

static int fail_usage(const char *fmt, ...) PRINTFLIKE(1, 2);

static int
fail_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tendctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return EXIT_ERROR;
}

/* Parse the command's own arguments into r; returns 0 or an exit status. */
static int
parse_command(int argc, char **argv, struct proto_request *r)
{
	int c;

	if ((c = proto_cmd_parse(argv[0])) < 0)
		return fail_usage("unknown command '%s'", argv[0]);
	r->cmd = (enum proto_cmd)c;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0 && r->cmd == CMD_STATUS)
			r->json = true;
		else if (strcmp(a, "--wait") == 0 && r->cmd == CMD_RUN)
			r->wait = true;
		else if (strcmp(a, "--dry-run") == 0 && r->cmd == CMD_RELOAD)
			r->dry_run = true;
		else if (strcmp(a, "-f") == 0 && r->cmd == CMD_LOG)
			r->follow = true;
		else if (strcmp(a, "-n") == 0 && r->cmd == CMD_LOG) {
			if (++i == argc ||
			    value_count(argv[i], 1, 1000000, &r->lines) != NULL)
				return fail_usage("-n takes a number of lines");
		} else if (a[0] == '-' && a[1] != '\0')
			return fail_usage("unknown option '%s'", a);
		else if (r->cmd == CMD_SIGNAL && r->signal == NULL)
			r->signal = a;
		else if (r->ntasks == PROTO_TASKS_MAX)
			return fail_usage("too many names (at most %d)",
			                  PROTO_TASKS_MAX);
		else
			r->tasks[r->ntasks++] = a;
	}
	switch (r->cmd) {
	case CMD_START:
	case CMD_STOP:
	case CMD_RESTART:
		if (r->ntasks == 0)
			return fail_usage("%s needs a task name", argv[0]);
		break;
	case CMD_SIGNAL:
		if (r->signal == NULL || r->ntasks == 0)
			return fail_usage("usage: signal SIG NAME...");
		if (signame_parse(r->signal) == -1)
			return fail_usage("unknown signal '%s'", r->signal);
		break;
	case CMD_RUN:
	case CMD_LOG:
		if (r->ntasks != 1)
			return fail_usage("%s takes one task name", argv[0]);
		break;
	case CMD_RELOAD:
	case CMD_METRICS:
	case CMD_SHUTDOWN:
		if (r->ntasks != 0)
			return fail_usage("%s takes no task name", argv[0]);
		break;
	case CMD_STATUS:
		break;
	}
	return 0;
}

static int
control_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Status rows, kept until the answer is complete. */
struct status {
	struct proto_msg daemon;
	struct proto_msg *tasks;
	size_t ntasks;
};

static void
status_keep(struct status *st, struct proto_msg *m)
{
	if (strcmp(m->type, "daemon") == 0) {
		proto_msg_free(&st->daemon);
		st->daemon = *m;
		return;
	}
	st->tasks = xreallocarray(st->tasks, st->ntasks + 1, sizeof(*m));
	st->tasks[st->ntasks++] = *m;
}

/* Print one message of the answer; returns the exit status at "end". */
static int
answer_line(struct status *st, const char *line, size_t len, bool *ended)
{
	struct proto_msg m;
	const char *text;
	size_t n;
	long code;

	if (proto_parse(line, len, &m) != NULL) {
		fprintf(stderr, "tendctl: malformed answer from tendd\n");
		*ended = true;
		return EXIT_ERROR;
	}
	text = proto_get(&m, "text");
	if (strcmp(m.type, "end") == 0) {
		*ended = true;
		text = proto_get(&m, "code");
		code = EXIT_ERROR;
		if (text == NULL || value_count(text, 0, 255, &code) != NULL)
			code = EXIT_ERROR;
		proto_msg_free(&m);
		return (int)code;
	}
	if (strcmp(m.type, "text") == 0 &&
	    (text = proto_get_bytes(&m, "data", &n)) != NULL)
		fwrite(text, 1, n, stdout); /* as it is: metrics */
	else if (strcmp(m.type, "msg") == 0 && text)
		printf("%s\n", text);
	else if (strcmp(m.type, "err") == 0 && text)
		fprintf(stderr, "tendctl: %s\n", text);
	else if (strcmp(m.type, "problem") == 0 && text)
		fprintf(stderr, "%s\n", text); /* FILE:LINE: message */
	else if (strcmp(m.type, "daemon") == 0 || strcmp(m.type, "task") == 0) {
		status_keep(st, &m);
		return 0;
	}
	proto_msg_free(&m);
	return 0;
}

/* Read the whole answer; returns tendctl's exit status. */
static int
read_answer(int fd, struct status *st)
{
	struct buf in = {0};
	char chunk[65536], *nl, *line;
	bool ended = false;
	int code = EXIT_ERROR;
	ssize_t n;

	while (!ended) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_add(&in, chunk, (size_t)n);
		line = in.data;
		while (!ended &&
		       (nl = memchr(line, '\n',
		                    in.len - (size_t)(line - in.data)))) {
			code =
			    answer_line(st, line, (size_t)(nl - line), &ended);
			line = nl + 1;
		}
		buf_consume(&in, (size_t)(line - in.data));
	}
	buf_free(&in);
	if (!ended) {
		fprintf(stderr, "tendctl: tendd closed the connection without "
		                "an answer\n");
		return EXIT_ERROR;
	}
	return code;
}

int
main(int argc, char **argv)
{
	const char *env = getenv("TEND_SOCKET");
	struct proto_request req = {0};
	struct status st = {0};
	struct buf out = {0};
	char *socket_path = NULL;
	int ch, fd, code;

	while ((ch = getopt(argc, argv, "+s:hV")) != -1)
		switch (ch) {
		case 's':
			free(socket_path);
			socket_path = xstrdup(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tendctl %s\n", TEND_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_ERROR;
		}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if ((code = parse_command(argc - optind, argv + optind, &req)) != 0) {
		free(socket_path);
		return code;
	}
	if (socket_path == NULL)
		socket_path =
		    env && *env ? xstrdup(env) : proto_default_socket();
	if ((fd = control_connect(socket_path)) == -1) {
		fprintf(stderr, "tendctl: cannot reach tendd at %s: %s\n",
		        socket_path, strerror(errno));
		free(socket_path);
		return EXIT_UNREACHABLE;
	}
	proto_request_encode(&out, &req);
	if (send_all(fd, out.data, out.len) == -1) {
		fprintf(stderr, "tendctl: cannot send to tendd at %s: %s\n",
		        socket_path, strerror(errno));
		code = EXIT_UNREACHABLE;
	} else
		code = read_answer(fd, &st);
	close(fd);
	buf_free(&out);
	if (st.daemon.type != NULL)
		status_print(&st.daemon, st.tasks, st.ntasks, req.json, stdout);
	proto_msg_free(&st.daemon);
	for (size_t i = 0; i < st.ntasks; i++)
		proto_msg_free(&st.tasks[i]);
	free(st.tasks);
	free(socket_path);
	return code;
}
