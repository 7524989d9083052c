/*
 * notifysock.c: tendd's sd_notify socket for tasks. Stub: the notify
 * helper writes it.
 */
#include "tend.h"

const char *
notify_parse(const char *data, size_t len, struct notify_msg *m)
{
	(void)data;
	(void)len;
	(void)m;
	return "not supported yet";
}

int
notifysock_open(notify_deliver_fn *deliver)
{
	(void)deliver;
	return -1;
}

const char *
notifysock_env(void)
{
	return NULL;
}

unsigned long
notifysock_dropped(void)
{
	return 0;
}

void
notifysock_close(void)
{
}
