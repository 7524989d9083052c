/*
 * diag.c: the list of problems found in a manifest. Every problem is kept,
 * not only the first, each already formatted as "FILE:LINE: message" so
 * that tendd --check, tendd's start-up and a reload print the same text.
 * Problems are found in several passes; they are kept in line order.
 */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

void
diag_add(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	size_t at;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (d->count == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->items = xreallocarray(d->items, d->cap, sizeof(*d->items));
	}
	for (at = d->count; at > 0 && d->items[at - 1].line > line; at--)
		d->items[at] = d->items[at - 1];
	d->items[at].line = line;
	if (line > 0)
		d->items[at].text = xasprintf("%s:%d: %s", file, line, msg);
	else
		d->items[at].text = xasprintf("%s: %s", file, msg);
	d->count++;
	free(msg);
}

void
diag_print(const struct diag *d, FILE *fp)
{
	for (size_t i = 0; i < d->count; i++)
		fprintf(fp, "%s\n", d->items[i].text);
}

void
diag_free(struct diag *d)
{
	for (size_t i = 0; i < d->count; i++)
		free(d->items[i].text);
	free(d->items);
	d->items = NULL;
	d->count = d->cap = 0;
}

/* Append the problems of from (another file's) to to, leaving from empty. */
void
diag_move(struct diag *to, struct diag *from)
{
	for (size_t i = 0; i < from->count; i++) {
		if (to->count == to->cap) {
			to->cap = to->cap ? to->cap * 2 : 8;
			to->items = xreallocarray(to->items, to->cap,
			                          sizeof(*to->items));
		}
		to->items[to->count++] = from->items[i];
	}
	free(from->items);
	memset(from, 0, sizeof(*from));
}
