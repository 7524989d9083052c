/*
 * endpoint.c: the listen address of a per-request task. Host names are
 * rejected rather than resolved: a supervisor that starts at boot must not
 * wait on DNS, and an address that changes under a reload would be a
 * surprise. The address is parsed once here and bound later.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "tend.h"

static const char *
endpoint_port(const char *s, in_port_t *port)
{
	long n;

	if (value_count(s, 1, 65535, &n) != NULL)
		return "port must be a number from 1 to 65535";
	*port = htons((in_port_t)n);
	return NULL;
}

static const char *
endpoint_tcp(const char *s, struct endpoint *ep)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&ep->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ep->addr;
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	size_t hostlen;
	bool bracketed = *s == '[';

	if (bracketed) {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return "IPv6 address must be written [ADDR]:PORT";
		hostlen = (size_t)(close - s - 1);
		colon = close + 1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return "expected tcp:HOST:PORT";
		hostlen = (size_t)(colon - s);
	}
	if (hostlen == 0 || hostlen >= sizeof(host))
		return "expected an IPv4 address or [IPv6] address as HOST";
	memcpy(host, s, hostlen);
	host[hostlen] = '\0';
	memset(&ep->addr, 0, sizeof(ep->addr));
	if (bracketed && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		ep->addrlen = sizeof(*sin6);
		return endpoint_port(colon + 1, &sin6->sin6_port);
	}
	if (!bracketed && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		ep->addrlen = sizeof(*sin);
		return endpoint_port(colon + 1, &sin->sin_port);
	}
	return "HOST must be an IPv4 address or an IPv6 address in brackets "
	       "(host names are not resolved)";
}

static const char *
endpoint_unix(const char *path, struct endpoint *ep)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&ep->addr;

	if (path[0] != '/')
		return "unix socket path must be absolute";
	if (strlen(path) >= sizeof(sun->sun_path))
		return "unix socket path longer than 107 bytes";
	memset(&ep->addr, 0, sizeof(ep->addr));
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	ep->addrlen = (socklen_t)sizeof(*sun);
	return NULL;
}

/* Parse "tcp:HOST:PORT" or "unix:PATH" into ep. */
const char *
endpoint_parse(const char *s, struct endpoint *ep)
{
	const char *why;

	if (strncmp(s, "tcp:", 4) == 0) {
		why = endpoint_tcp(s + 4, ep);
		ep->kind = ENDPOINT_TCP;
	} else if (strncmp(s, "unix:", 5) == 0) {
		why = endpoint_unix(s + 5, ep);
		ep->kind = ENDPOINT_UNIX;
	} else
		why = "expected tcp:HOST:PORT or unix:PATH";
	if (why != NULL) {
		ep->kind = ENDPOINT_NONE;
		return why;
	}
	ep->text = xstrdup(s);
	return NULL;
}

void
endpoint_free(struct endpoint *ep)
{
	free(ep->text);
	ep->text = NULL;
	ep->kind = ENDPOINT_NONE;
}
