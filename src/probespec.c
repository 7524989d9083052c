/*
 * probespec.c: the values of ready = and health = (SPEC section 8).
 * Stub: the manifest helper writes it.
 */
#include <stdlib.h>

#include "tend.h"

const char *
probespec_parse(const char *value, bool notify_allowed, struct probe_spec *p)
{
	(void)value;
	(void)notify_allowed;
	(void)p;
	return "not supported yet";
}

bool
probespec_same(const struct probe_spec *a, const struct probe_spec *b)
{
	return a->kind == b->kind;
}

void
probespec_free(struct probe_spec *p)
{
	(void)p;
}
