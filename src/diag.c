/*
 * diag.c: the list of problems found in a manifest. Every problem is kept,
 * not only the first, each already formatted as "FILE:LINE: message" so
 * that tendd --check, tendd's start-up and a reload print the same text.
 * Problems are found in several passes; they are kept in line order.
 * Notes ("FILE:LINE: note: ...") are kept apart: they say something worth
 * knowing about a valid manifest, and never make it invalid.
 */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

static void diag_insert(struct diag_item **, size_t *, size_t *, const char *,
                        int, const char *, const char *, va_list)
    PRINTFLIKE(7, 0);

/* Insert a formatted message into *items (of *count, room for *cap). */
static void
diag_insert(struct diag_item **items, size_t *count, size_t *cap,
            const char *file, int line, const char *prefix, const char *fmt,
            va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	size_t at;

	if (*count == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*items = xreallocarray(*items, *cap, sizeof(**items));
	}
	for (at = *count; at > 0 && (*items)[at - 1].line > line; at--)
		(*items)[at] = (*items)[at - 1];
	(*items)[at].line = line;
	if (line > 0)
		(*items)[at].text =
		    xasprintf("%s:%d: %s%s", file, line, prefix, msg);
	else
		(*items)[at].text = xasprintf("%s: %s%s", file, prefix, msg);
	(*count)++;
	free(msg);
}

void
diag_add(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_insert(&d->items, &d->count, &d->cap, file, line, "", fmt, ap);
	va_end(ap);
}

void
diag_note(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_insert(&d->notes, &d->nnotes, &d->notes_cap, file, line,
	            "note: ", fmt, ap);
	va_end(ap);
}

/* Problems and notes, merged in line order (a problem first). */
void
diag_print(const struct diag *d, FILE *fp)
{
	size_t i = 0, j = 0;

	while (i < d->count || j < d->nnotes) {
		if (j == d->nnotes ||
		    (i < d->count && d->items[i].line <= d->notes[j].line))
			fprintf(fp, "%s\n", d->items[i++].text);
		else
			fprintf(fp, "%s\n", d->notes[j++].text);
	}
}

void
diag_free(struct diag *d)
{
	for (size_t i = 0; i < d->count; i++)
		free(d->items[i].text);
	for (size_t i = 0; i < d->nnotes; i++)
		free(d->notes[i].text);
	free(d->items);
	free(d->notes);
	d->items = d->notes = NULL;
	d->count = d->cap = d->nnotes = d->notes_cap = 0;
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
