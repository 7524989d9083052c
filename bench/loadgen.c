/*
 * loadgen.c: N connections to 127.0.0.1:PORT, C at a time (one thread
 * each), each read to EOF. Prints connections per second and the p50 and
 * p99 latency (connect to EOF), as one line:
 *
 *   loadgen PORT N C  ->  "conns N ok N rate R p50_ms X p99_ms Y"
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, total, per_thread;
static double *lat;
static int ok_count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
worker(void *arg)
{
	int base = (int)(long)arg;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char buf[256];

	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < per_thread; i++) {
		double t0 = now();
		int fd = socket(AF_INET, SOCK_STREAM, 0), got = 0;
		ssize_t n;

		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			while ((n = read(fd, buf, sizeof(buf))) > 0)
				got += (int)n;
		close(fd);
		lat[base + i] = now() - t0;
		if (got > 0) {
			pthread_mutex_lock(&lock);
			ok_count++;
			pthread_mutex_unlock(&lock);
		}
	}
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	int conc;
	pthread_t *th;
	double t0, elapsed;

	if (argc != 4)
		return 2;
	port = atoi(argv[1]);
	total = atoi(argv[2]);
	conc = atoi(argv[3]);
	per_thread = total / conc;
	total = per_thread * conc;
	lat = calloc((size_t)total, sizeof(double));
	th = calloc((size_t)conc, sizeof(pthread_t));
	t0 = now();
	for (int i = 0; i < conc; i++)
		pthread_create(&th[i], NULL, worker, (void *)(long)(i * per_thread));
	for (int i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	elapsed = now() - t0;
	qsort(lat, (size_t)total, sizeof(double), cmp);
	printf("conns %d ok %d rate %.0f p50_ms %.3f p99_ms %.3f\n", total,
	    ok_count, total / elapsed, lat[total / 2] * 1000,
	    lat[(int)(total * 0.99)] * 1000);
	return ok_count == total ? 0 : 1;
}
