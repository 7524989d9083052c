/*
 * test_fds.c: inherited fds marked close-on-exec (fds.c), each way: low
 * fds and fds above 1023 alike, the fds below the first left as they are.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "tend.h"

#define HIGH_FD 3000 /* above the 1023 where the old fallback stopped */

struct fds {
	int below; /* under low: must stay inheritable */
	int low;   /* the first fd to mark */
	int high;
};

/* Three inheritable fds: below, low and HIGH_FD (or skip the test). */
static void
fds_open(struct fds *f)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur <= HIGH_FD) {
		if (rl.rlim_max <= HIGH_FD)
			skip();
		rl.rlim_cur = rl.rlim_max;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	f->below = open("/dev/null", O_RDONLY);
	f->low = open("/dev/null", O_RDONLY);
	assert_true(f->below >= 0 && f->low > f->below);
	f->high = dup2(f->low, HIGH_FD);
	assert_int_equal(f->high, HIGH_FD);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fcntl((&f->below)[i], F_GETFD), 0);
}

static void
fds_check_and_close(const struct fds *f)
{
	assert_int_equal(fcntl(f->below, F_GETFD), 0);
	assert_int_equal(fcntl(f->low, F_GETFD), FD_CLOEXEC);
	assert_int_equal(fcntl(f->high, F_GETFD), FD_CLOEXEC);
	close(f->below);
	close(f->low);
	close(f->high);
}

static void
test_each_way(void **state)
{
	static const enum fds_way ways[] = {FDS_RANGE, FDS_PROC, FDS_LIMIT};

	(void)state;
	for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		struct fds f;
		enum fds_way used;

		fds_open(&f);
		used = fds_cloexec_from(f.low, ways[i]);
		/* close_range's flag may be missing (before Linux 5.11). */
		assert_true(used == ways[i] ||
		            (ways[i] == FDS_RANGE && used == FDS_PROC));
		fds_check_and_close(&f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_way),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
