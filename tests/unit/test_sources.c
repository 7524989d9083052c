/*
 * test_sources.c: instances counted per client for max_per_source
 * (sources.c), against a plain array as the model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "tend.h"

static struct source
addr4(const char *text)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (void *)&ss;
	struct source s;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(1234);
	assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	source_of_addr(&s, &ss);
	return s;
}

static struct source
addr6(const char *text, unsigned port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *sin6 = (void *)&ss;
	struct source s;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	source_of_addr(&s, &ss);
	return s;
}

static struct source
uid(uid_t u)
{
	struct source s;

	source_of_uid(&s, u);
	return s;
}

/* The port is no part of a client; IPv4 and its v4-mapped form are one. */
static void
test_what_a_client_is(void **state)
{
	struct sources set = {0};
	struct source a = addr4("127.0.0.1"), m = addr6("::ffff:127.0.0.1", 9);
	struct source b = addr4("127.0.0.2"), u0 = uid(0);

	(void)state;
	sources_add(&set, &a);
	sources_add(&set, &m);
	assert_int_equal(sources_count(&set, &a), 2);
	assert_int_equal(sources_count(&set, &b), 0);
	assert_int_equal(sources_count(&set, &u0), 0);
	sources_add(&set, &u0);
	assert_int_equal(sources_count(&set, &u0), 1);
	assert_int_equal(sources_count(&set, &(struct source){0}), 0);
	sources_remove(&set, &a);
	sources_remove(&set, &a);
	sources_remove(&set, &a); /* one too many: no harm */
	sources_remove(&set, &u0);
	assert_null(set.slots); /* nobody runs one: no memory held */
	sources_free(&set);
}

static void
test_text(void **state)
{
	char buf[SOURCE_TEXT_MAX];
	struct source a = addr4("10.1.2.3"), b = addr6("2001:db8::1", 1);
	struct source u = uid(65534);

	(void)state;
	assert_string_equal(source_text(&a, buf, sizeof(buf)), "10.1.2.3");
	assert_string_equal(source_text(&b, buf, sizeof(buf)), "2001:db8::1");
	assert_string_equal(source_text(&u, buf, sizeof(buf)), "uid 65534");
}

/*
 * Many clients, added and removed in a scrambled order: every count
 * agrees with a plain array at every step (deletion keeps probes whole),
 * and the table shrinks as they go.
 */
static void
test_many_against_model(void **state)
{
	enum { N = 3000, STEPS = 60000 };
	static unsigned long model[N];
	struct sources set = {0};
	struct source s;
	unsigned seed = 7;

	(void)state;
	for (int step = 0; step < STEPS; step++) {
		unsigned i;
		seed = seed * 1103515245u + 12345u;
		i = (seed >> 8) % N;
		s = uid(i * 7919u);
		if (((seed >> 20) & 3) != 0 || model[i] == 0) {
			sources_add(&set, &s);
			model[i]++;
		} else {
			sources_remove(&set, &s);
			model[i]--;
		}
		if (step % 997 == 0)
			for (unsigned j = 0; j < N; j++) {
				s = uid(j * 7919u);
				assert_int_equal(sources_count(&set, &s),
				                 model[j]);
			}
	}
	for (unsigned j = 0; j < N; j++) {
		s = uid(j * 7919u);
		assert_int_equal(sources_count(&set, &s), model[j]);
		for (; model[j] > 0; model[j]--) {
			sources_remove(&set, &s);
			if (set.used > 0) /* its memory follows the clients */
				assert_true(set.cap <= 16 * set.used ||
				            set.cap == 16);
		}
	}
	assert_null(set.slots);
	assert_int_equal(set.used, 0);
	sources_free(&set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_what_a_client_is),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_many_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
