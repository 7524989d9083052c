/*
 * sockdiag.c: whether a unix socket file has a live listener, asked of the
 * kernel (NETLINK_SOCK_DIAG) rather than by connecting to it: a connection
 * would be a request to whoever listens there (an inetd-style server
 * starts a handler for it, and counts it as failed when we hang up).
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tend.h"

/* The kernel's own dev_t, as sock_diag reports it: 12 bits, then 20. */
#define KDEV_MINOR_BITS 20

static int
sockdiag_request(int fd)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
	    .nlh = {.nlmsg_len = sizeof(msg),
	            .nlmsg_type = SOCK_DIAG_BY_FAMILY,
	            .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
	    .req = {.sdiag_family = AF_UNIX,
	            .udiag_states = 1U << TCP_LISTEN,
	            .udiag_show = UDIAG_SHOW_VFS},
	};
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};

	return sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&nl,
	              sizeof(nl)) == (ssize_t)sizeof(msg)
	           ? 0
	           : -1;
}

/* Whether one answer is a socket bound to the file st. */
static bool
sockdiag_matches(const struct nlmsghdr *h, const struct stat *st)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	const struct nlattr *a = (const void *)(m + 1);

	while (len >= (int)sizeof(*a) && a->nla_len >= sizeof(*a) &&
	       a->nla_len <= len) {
		if ((a->nla_type & NLA_TYPE_MASK) == UNIX_DIAG_VFS &&
		    a->nla_len >= NLA_HDRLEN + sizeof(struct unix_diag_vfs)) {
			struct unix_diag_vfs v;
			memcpy(&v, (const char *)a + NLA_HDRLEN, sizeof(v));
			if (v.udiag_vfs_ino == (uint32_t)st->st_ino &&
			    v.udiag_vfs_dev >> KDEV_MINOR_BITS ==
			        major(st->st_dev) &&
			    (v.udiag_vfs_dev & ((1U << KDEV_MINOR_BITS) - 1)) ==
			        minor(st->st_dev))
				return true;
		}
		len -= NLA_ALIGN(a->nla_len);
		a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
	return false;
}

/* Read the dump to its end; 1 when a listener is bound to st, else 0. */
static int
sockdiag_answer(int fd, const struct stat *st)
{
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	int found = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		int len = (int)n;
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return found;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				errno = e->error ? -e->error : EPROTO;
				return -1;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
			    sockdiag_matches(h, st))
				found = 1;
		}
	}
}

/*
 * Whether a socket listens on the unix socket file st: 1 or 0, or -1 with
 * errno set when the kernel cannot tell (no unix_diag). The kernel answers
 * a dump at once, from its own tables: this does not wait on anyone.
 */
int
sockdiag_unix_listening(const struct stat *st)
{
	int fd, rc, saved;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd == -1)
		return -1;
	rc = sockdiag_request(fd) == -1 ? -1 : sockdiag_answer(fd, st);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}
