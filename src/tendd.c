/*
 * tendd.c: the daemon's entry point: options, the manifest, and (until the
 * supervision engine lands) a summary of what it would supervise.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"

#define EXIT_INVALID 1

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: tendd [-f MANIFEST] [-s SOCKET] [-d] [-e] [--check] "
		    "[-V] [-h]\n");
}

struct options {
	const char *manifest;
	const char *socket;
	bool detach;
	bool log_stderr;
	bool check;
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
			o->socket = optarg;
			break;
		case 'd':
			o->detach = true;
			break;
		case 'e':
			o->log_stderr = true;
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

static void
summary(const struct manifest *m, const char *socket)
{
	printf("%s: %zu task%s, control socket %s\n", m->path, m->ntasks,
	    m->ntasks == 1 ? "" : "s", socket ? socket : m->control_socket);
	for (size_t i = 0; i < m->ntasks; i++)
		printf("  %-20s %-12s %s\n", m->tasks[i].name,
		    manifest_class_name(m->tasks[i].class),
		    m->tasks[i].argv ? m->tasks[i].argv[0] : "");
}

int
main(int argc, char **argv)
{
	struct options o = {0};
	struct manifest m;
	struct diag diag = {0};
	int rc;

	options_parse(argc, argv, &o);
	rc = manifest_load(o.manifest, &m, &diag);
	diag_print(&diag, stderr);
	diag_free(&diag);
	if (rc == -1) {
		manifest_free(&m);
		return EXIT_INVALID;
	}
	if (!o.check) {
		summary(&m, o.socket);
		fprintf(stderr, "tendd: the supervision engine is not built yet; "
				"exiting after the check\n");
	}
	manifest_free(&m);
	return 0;
}
