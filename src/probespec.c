/*
 * probespec.c: the values of ready = and health = (SPEC section 8), parsed
 * once when the manifest is read: none, notify (ready only), tcp:HOST:PORT
 * and unix:PATH as listen = takes them, exec:COMMAND split as command = is.
 * A spec is compared by what was written, as listen = is, for a reload.
 */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

static const char *
probespec_exec(const char *command, struct probe_spec *p)
{
	const char *why = cmdline_split(command, &p->argv, &p->argc);

	if (why != NULL && strcmp(why, "empty command") == 0)
		return "exec: needs a command";
	return why;
}

/*
 * Parse value into *p, which is overwritten (not freed) on success and
 * left alone on failure. notify_allowed: notify is a valid value (ready =).
 * Returns NULL or why value is not a probe.
 */
const char *
probespec_parse(const char *value, bool notify_allowed, struct probe_spec *p)
{
	struct probe_spec s = {.kind = PROBE_NONE};
	const char *why = NULL;

	if (strcmp(value, "none") == 0) {
		*p = s;
		return NULL;
	}
	if (strcmp(value, "notify") == 0) {
		if (!notify_allowed)
			return "notify is for ready only";
		s.kind = PROBE_NOTIFY;
	} else if (strncmp(value, "tcp:", 4) == 0 ||
	           strncmp(value, "unix:", 5) == 0) {
		why = endpoint_parse(value, &s.addr);
		s.kind = value[0] == 't' ? PROBE_TCP : PROBE_UNIX;
	} else if (strncmp(value, "exec:", 5) == 0) {
		why = probespec_exec(value + 5, &s);
		s.kind = PROBE_EXEC;
	} else
		return notify_allowed ? "not none, notify, tcp:HOST:PORT, "
		                        "unix:PATH or exec:COMMAND"
		                      : "not none, tcp:HOST:PORT, unix:PATH or "
		                        "exec:COMMAND";
	if (why != NULL)
		return why;
	s.text = xstrdup(value);
	*p = s;
	return NULL;
}

/* Whether a and b are the same probe, as written. */
bool
probespec_same(const struct probe_spec *a, const struct probe_spec *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->text == NULL || b->text == NULL)
		return a->text == b->text;
	return strcmp(a->text, b->text) == 0;
}

void
probespec_free(struct probe_spec *p)
{
	endpoint_free(&p->addr);
	free(p->argv);
	free(p->text);
	memset(p, 0, sizeof(*p));
}
