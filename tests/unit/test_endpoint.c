/*
 * test_endpoint.c: listen addresses of per-request tasks (endpoint.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "tend.h"

#define HOST_ERROR                                                           \
	"HOST must be an IPv4 address or an IPv6 address in brackets (host " \
	"names are not resolved)"
#define PORT_ERROR "port must be a number from 1 to 65535"

/* s is rejected for the reason want and leaves no text to free. */
static void
check_reject(const char *s, const char *want)
{
	struct endpoint ep;
	const char *why;

	memset(&ep, 0, sizeof(ep));
	ep.kind = ENDPOINT_TCP;
	why = endpoint_parse(s, &ep);
	if (why == NULL) {
		endpoint_free(&ep);
		fail_msg("endpoint_parse(\"%s\") accepted", s);
	}
	assert_string_equal(why, want);
	assert_int_equal(ep.kind, ENDPOINT_NONE);
	assert_null(ep.text);
	endpoint_free(&ep);
}

/* s is tcp:ADDR:PORT for an IPv4 address given as 4 bytes. */
static void
check_ipv4(const char *s, const uint8_t addr[4], uint16_t port)
{
	struct endpoint ep;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ep.addr;
	const char *why;

	memset(&ep, 0, sizeof(ep));
	why = endpoint_parse(s, &ep);
	if (why != NULL)
		fail_msg("endpoint_parse(\"%s\"): %s", s, why);
	assert_int_equal(ep.kind, ENDPOINT_TCP);
	assert_string_equal(ep.text, s);
	assert_int_equal(ep.addrlen, sizeof(struct sockaddr_in));
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), port);
	assert_memory_equal(&sin->sin_addr.s_addr, addr, 4);
	endpoint_free(&ep);
	assert_null(ep.text);
	assert_int_equal(ep.kind, ENDPOINT_NONE);
}

/* s is tcp:[ADDR]:PORT for an IPv6 address given as 16 bytes. */
static void
check_ipv6(const char *s, const uint8_t addr[16], uint16_t port)
{
	struct endpoint ep;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ep.addr;
	const char *why;

	memset(&ep, 0, sizeof(ep));
	why = endpoint_parse(s, &ep);
	if (why != NULL)
		fail_msg("endpoint_parse(\"%s\"): %s", s, why);
	assert_int_equal(ep.kind, ENDPOINT_TCP);
	assert_string_equal(ep.text, s);
	assert_int_equal(ep.addrlen, sizeof(struct sockaddr_in6));
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), port);
	assert_memory_equal(sin6->sin6_addr.s6_addr, addr, 16);
	assert_int_equal(sin6->sin6_flowinfo, 0);
	assert_int_equal(sin6->sin6_scope_id, 0);
	endpoint_free(&ep);
}

static void
test_tcp_ipv4(void **state)
{
	(void)state;
	check_ipv4("tcp:127.0.0.1:8080", (const uint8_t[]){127, 0, 0, 1}, 8080);
	check_ipv4("tcp:0.0.0.0:1", (const uint8_t[]){0, 0, 0, 0}, 1);
	check_ipv4("tcp:192.168.10.254:65535",
	           (const uint8_t[]){192, 168, 10, 254}, 65535);
	check_ipv4("tcp:255.255.255.255:443",
	           (const uint8_t[]){255, 255, 255, 255}, 443);
	/* a port is decimal: 0080 is 80 */
	check_ipv4("tcp:10.0.0.1:0080", (const uint8_t[]){10, 0, 0, 1}, 80);
}

static void
test_tcp_ipv6(void **state)
{
	static const uint8_t loopback[16] = {[15] = 1};
	static const uint8_t any[16] = {0};
	static const uint8_t doc[16] = {0x20, 0x01,        0x0d,
	                                0xb8, [14] = 0x12, [15] = 0x34};
	static const uint8_t mapped[16] = {
	    [10] = 0xff, [11] = 0xff, [12] = 192, [13] = 0, [14] = 2, [15] = 1};

	(void)state;
	check_ipv6("tcp:[::1]:8080", loopback, 8080);
	check_ipv6("tcp:[::]:1", any, 1);
	check_ipv6("tcp:[2001:db8::1234]:65535", doc, 65535);
	check_ipv6("tcp:[2001:DB8:0:0:0:0:0:1234]:22", doc, 22);
	check_ipv6("tcp:[::ffff:192.0.2.1]:80", mapped, 80);
}

static void
test_tcp_bad_ipv6(void **state)
{
	(void)state;
	check_reject("tcp:::1:80", HOST_ERROR);
	check_reject("tcp:2001:db8::1:80", HOST_ERROR);
	check_reject("tcp:[::1]", "IPv6 address must be written [ADDR]:PORT");
	check_reject("tcp:[::1]80", "IPv6 address must be written [ADDR]:PORT");
	check_reject("tcp:[::1:80", "IPv6 address must be written [ADDR]:PORT");
	check_reject("tcp:[::1] :80",
	             "IPv6 address must be written [ADDR]:PORT");
	check_reject("tcp:[]:80",
	             "expected an IPv4 address or [IPv6] address as HOST");
	check_reject("tcp:[127.0.0.1]:80", HOST_ERROR);
	check_reject("tcp:[::g]:80", HOST_ERROR);
	check_reject("tcp:[fe80::1%lo]:80", HOST_ERROR);
	check_reject("tcp:[localhost]:80", HOST_ERROR);
	check_reject("tcp:[::1]:0", PORT_ERROR);
	check_reject("tcp:[::1]:", PORT_ERROR);
	check_reject(
	    "tcp:[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:80",
	    "expected an IPv4 address or [IPv6] address as HOST");
}

static void
test_host_names_rejected(void **state)
{
	(void)state;
	check_reject("tcp:localhost:80", HOST_ERROR);
	check_reject("tcp:example.com:80", HOST_ERROR);
	check_reject("tcp:127.0.0.1.nip.io:80", HOST_ERROR);
	check_reject("tcp:*:80", HOST_ERROR);
	check_reject("tcp:1.2.3:80", HOST_ERROR);
	check_reject("tcp:1.2.3.256:80", HOST_ERROR);
	check_reject("tcp: 127.0.0.1:80", HOST_ERROR);
	check_reject("tcp::80",
	             "expected an IPv4 address or [IPv6] address as HOST");
	check_reject("tcp:80", "expected tcp:HOST:PORT");
	check_reject("tcp:", "expected tcp:HOST:PORT");
	check_reject("tcp:127.0.0.1", "expected tcp:HOST:PORT");
}

static void
test_bad_port(void **state)
{
	(void)state;
	check_reject("tcp:127.0.0.1:0", PORT_ERROR);
	check_reject("tcp:127.0.0.1:65536", PORT_ERROR);
	check_reject("tcp:127.0.0.1:99999999999999999999", PORT_ERROR);
	check_reject("tcp:127.0.0.1:", PORT_ERROR);
	check_reject("tcp:127.0.0.1:-1", PORT_ERROR);
	check_reject("tcp:127.0.0.1:+80", PORT_ERROR);
	check_reject("tcp:127.0.0.1:80 ", PORT_ERROR);
	check_reject("tcp:127.0.0.1: 80", PORT_ERROR);
	check_reject("tcp:127.0.0.1:http", PORT_ERROR);
	check_reject("tcp:127.0.0.1:0x50", PORT_ERROR);
	check_reject("tcp:127.0.0.1:8.0", PORT_ERROR);
}

static void
test_unix_path(void **state)
{
	struct endpoint ep;
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&ep.addr;
	char path[200], text[220];

	(void)state;
	memset(&ep, 0, sizeof(ep));
	assert_null(endpoint_parse("unix:/run/web.sock", &ep));
	assert_int_equal(ep.kind, ENDPOINT_UNIX);
	assert_string_equal(ep.text, "unix:/run/web.sock");
	assert_int_equal(sun->sun_family, AF_UNIX);
	assert_string_equal(sun->sun_path, "/run/web.sock");
	assert_int_equal(ep.addrlen, sizeof(struct sockaddr_un));
	endpoint_free(&ep);

	/* the longest path that fits sun_path with its NUL: 107 bytes */
	assert_int_equal(sizeof(sun->sun_path), 108);
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	snprintf(text, sizeof(text), "unix:%s", path);
	memset(&ep, 0, sizeof(ep));
	assert_null(endpoint_parse(text, &ep));
	assert_int_equal(ep.kind, ENDPOINT_UNIX);
	assert_string_equal(ep.text, text);
	assert_string_equal(sun->sun_path, path);
	endpoint_free(&ep);

	path[107] = 'a';
	path[108] = '\0';
	snprintf(text, sizeof(text), "unix:%s", path);
	check_reject(text, "unix socket path longer than 107 bytes");
	path[108] = 'a';
	path[150] = '\0';
	snprintf(text, sizeof(text), "unix:%s", path);
	check_reject(text, "unix socket path longer than 107 bytes");
}

static void
test_unix_relative(void **state)
{
	(void)state;
	check_reject("unix:web.sock", "unix socket path must be absolute");
	check_reject("unix:./web.sock", "unix socket path must be absolute");
	check_reject("unix:~/web.sock", "unix socket path must be absolute");
	check_reject("unix:", "unix socket path must be absolute");
	check_reject("unix: /run/x", "unix socket path must be absolute");
	check_reject("unix:@abstract", "unix socket path must be absolute");
}

static void
test_bad_scheme(void **state)
{
	(void)state;
	check_reject("", "expected tcp:HOST:PORT or unix:PATH");
	check_reject("127.0.0.1:80", "expected tcp:HOST:PORT or unix:PATH");
	check_reject("/run/web.sock", "expected tcp:HOST:PORT or unix:PATH");
	check_reject("TCP:127.0.0.1:80", "expected tcp:HOST:PORT or unix:PATH");
	check_reject("udp:127.0.0.1:80", "expected tcp:HOST:PORT or unix:PATH");
	check_reject("tcp6:[::1]:80", "expected tcp:HOST:PORT or unix:PATH");
	check_reject(" tcp:127.0.0.1:80",
	             "expected tcp:HOST:PORT or unix:PATH");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tcp_ipv4),
	    cmocka_unit_test(test_tcp_ipv6),
	    cmocka_unit_test(test_tcp_bad_ipv6),
	    cmocka_unit_test(test_host_names_rejected),
	    cmocka_unit_test(test_bad_port),
	    cmocka_unit_test(test_unix_path),
	    cmocka_unit_test(test_unix_relative),
	    cmocka_unit_test(test_bad_scheme),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
