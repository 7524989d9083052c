/*
 * dgramsink.c: a /dev/log for bench/operate.py that reads as fast as a
 * syslog daemon could: counts the datagrams that contain a pattern.
 *
 *     dgramsink PATH PATTERN EXPECTED IDLE_MS
 *
 * Binds a datagram socket at PATH, then reads until EXPECTED datagrams
 * matched, or none came for IDLE_MS after the first match. Prints
 * "COUNT LAST" where LAST is the CLOCK_MONOTONIC time of the last match,
 * in seconds.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[8192];
	unsigned long count = 0, expected;
	double last = 0;
	int fd, size = 64 << 20, idle_ms;

	if (argc != 5 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: dgramsink PATH PATTERN EXPECTED "
		                "IDLE_MS\n");
		return 2;
	}
	expected = strtoul(argv[3], NULL, 10);
	idle_ms = atoi(argv[4]);
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("dgramsink");
		return 1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	while (count < expected) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, count > 0 ? idle_ms : -1) == 0)
			break; /* idle: the rest was dropped */
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, argv[2]) != NULL) {
			count++;
			last = now();
		}
	}
	printf("%lu %.6f\n", count, last);
	return 0;
}
