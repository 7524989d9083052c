/*
 * ping.c: the task the benchmarks supervise. It writes "PID NANOSECONDS\n"
 * (CLOCK_MONOTONIC, taken as soon as it runs) to the FIFO named by
 * $BENCH_FIFO, then waits for a signal, or exits at once with "exit N".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec ts;
	const char *fifo = getenv("BENCH_FIFO");
	char line[64];
	int fd, len;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (argc == 3 && strcmp(argv[1], "exit") == 0)
		return atoi(argv[2]);
	if (fifo != NULL && (fd = open(fifo, O_WRONLY)) >= 0) {
		len = snprintf(line, sizeof(line), "%ld %lld\n", (long)getpid(),
		    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
		if (write(fd, line, (size_t)len) != len)
			return 1;
		close(fd);
	}
	for (;;)
		pause();
}
