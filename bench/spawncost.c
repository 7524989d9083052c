#define _GNU_SOURCE
/*
 * spawncost.c: what a session of its own costs one spawn. N times each,
 * vfork, exec HANDLER with stdout on /dev/null, and wait, the child
 * calling nothing first, setsid(), or setpgid(0, 0), the three interleaved
 * spawn by spawn so that the machine's drift falls on all three alike.
 * Prints, per kind, the mean and quartiles of a spawn's round trip in
 * microseconds.
 *
 *   spawncost HANDLER N
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

enum { PLAIN, SETSID, SETPGID, KINDS };

static const char *const kind_name[KINDS] = {"plain", "setsid", "setpgid"};
static char *hargv[2];
static char path_env[] = "PATH=/usr/bin:/bin";
static char *envp[] = {path_env, NULL};

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double
spawn_once(int kind, int out)
{
	double start = now_us();
	int status;
	pid_t pid = vfork();

	if (pid == 0) {
		if (kind == SETSID)
			setsid();
		else if (kind == SETPGID)
			setpgid(0, 0);
		dup2(out, 1);
		execve(hargv[0], hargv, envp);
		_exit(127);
	}
	if (pid == -1 || waitpid(pid, &status, 0) != pid || status != 0)
		exit(1);
	return now_us() - start;
}

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	int n = argc == 3 ? atoi(argv[2]) : 0;
	int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	double *us[KINDS];

	if (n < 4 || out == -1)
		return 2;
	hargv[0] = argv[1];
	for (int k = 0; k < KINDS; k++)
		if ((us[k] = malloc(sizeof(double) * (size_t)n)) == NULL)
			return 1;
	for (int i = 0; i < n * KINDS; i++)
		us[i % KINDS][i / KINDS] = spawn_once(i % KINDS, out);
	for (int k = 0; k < KINDS; k++) {
		double sum = 0;

		for (int i = 0; i < n; i++)
			sum += us[k][i];
		qsort(us[k], (size_t)n, sizeof(double), by_value);
		printf("%-8s mean %6.1f us  p25 %6.1f  p50 %6.1f  p75 %6.1f\n",
		       kind_name[k], sum / n, us[k][n / 4], us[k][n / 2],
		       us[k][3 * n / 4]);
	}
	return 0;
}
