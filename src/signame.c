/*
 * signame.c: signal names for the manifest (stop_signal), tendctl signal,
 * and the log ("killed by signal 11 (SIGSEGV)"). One table both ways.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tend.h"

static const struct {
	const char *name;
	int signo;
} signames[] = {
    {"SIGHUP", SIGHUP},       {"SIGINT", SIGINT},       {"SIGQUIT", SIGQUIT},
    {"SIGILL", SIGILL},       {"SIGTRAP", SIGTRAP},     {"SIGABRT", SIGABRT},
    {"SIGBUS", SIGBUS},       {"SIGFPE", SIGFPE},       {"SIGKILL", SIGKILL},
    {"SIGUSR1", SIGUSR1},     {"SIGSEGV", SIGSEGV},     {"SIGUSR2", SIGUSR2},
    {"SIGPIPE", SIGPIPE},     {"SIGALRM", SIGALRM},     {"SIGTERM", SIGTERM},
    {"SIGSTKFLT", SIGSTKFLT}, {"SIGCHLD", SIGCHLD},     {"SIGCONT", SIGCONT},
    {"SIGSTOP", SIGSTOP},     {"SIGTSTP", SIGTSTP},     {"SIGTTIN", SIGTTIN},
    {"SIGTTOU", SIGTTOU},     {"SIGURG", SIGURG},       {"SIGXCPU", SIGXCPU},
    {"SIGXFSZ", SIGXFSZ},     {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF},
    {"SIGWINCH", SIGWINCH},   {"SIGIO", SIGIO},         {"SIGPWR", SIGPWR},
    {"SIGSYS", SIGSYS},
};

#define NSIGNAMES (sizeof(signames) / sizeof(*signames))

/*
 * Parse "TERM", "SIGTERM" (any case) or a number from 1 to the last
 * real-time signal. Returns the signal number, or -1.
 */
int
signame_parse(const char *s)
{
	char *end;
	long n;

	if (*s >= '0' && *s <= '9') {
		n = strtol(s, &end, 10);
		if (*end != '\0' || n < 1 || n > SIGRTMAX)
			return -1;
		return (int)n;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < NSIGNAMES; i++)
		if (strcasecmp(s, signames[i].name + 3) == 0)
			return signames[i].signo;
	return -1;
}

/* The name of signo with its SIG prefix ("SIGTERM"), or NULL if unnamed. */
const char *
signame_name(int signo)
{
	for (size_t i = 0; i < NSIGNAMES; i++)
		if (signames[i].signo == signo)
			return signames[i].name;
	return NULL;
}
