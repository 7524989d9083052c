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

static void diag_insert(struct diag_item **, size_t *, size_t *, unsigned,
                        const char *, int, const char *, const char *, va_list)
    PRINTFLIKE(8, 0);

/*
 * Insert a formatted message into *items (of *count, room for *cap), in
 * line order among those of the last file, number nfile.
 */
static void
diag_insert(struct diag_item **items, size_t *count, size_t *cap,
            unsigned nfile, const char *file, int line, const char *prefix,
            const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	size_t at;

	if (*count == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*items = xreallocarray(*items, *cap, sizeof(**items));
	}
	for (at = *count; at > 0 && (*items)[at - 1].file == nfile &&
	                  (*items)[at - 1].line > line;
	     at--)
		(*items)[at] = (*items)[at - 1];
	(*items)[at].file = nfile;
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
	diag_insert(&d->items, &d->count, &d->cap, d->files, file, line, "",
	            fmt, ap);
	va_end(ap);
}

void
diag_note(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_insert(&d->notes, &d->nnotes, &d->notes_cap, d->files, file, line,
	            "note: ", fmt, ap);
	va_end(ap);
}

/* Problems and notes, merged in line order (a problem first). */
void
diag_print(const struct diag *d, FILE *fp)
{
	size_t i = 0, j = 0;

	while (i < d->count || j < d->nnotes) {
		const struct diag_item *p = &d->items[i], *n = &d->notes[j];
		if (j == d->nnotes || (i < d->count && (p->file < n->file ||
		                                        (p->file == n->file &&
		                                         p->line <= n->line))))
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
	d->files = 0;
}

/* Append from's items to *items (of *count, room for *cap) as file's. */
static void
diag_append(struct diag_item **items, size_t *count, size_t *cap,
            const struct diag_item *from, size_t n, unsigned file)
{
	for (size_t i = 0; i < n; i++) {
		if (*count == *cap) {
			*cap = *cap ? *cap * 2 : 8;
			*items = xreallocarray(*items, *cap, sizeof(**items));
		}
		(*items)[*count] = from[i];
		(*items)[(*count)++].file = file;
	}
}

/*
 * Append the problems and notes of from (another file's) to to, after
 * everything of the files before, leaving from empty.
 */
void
diag_move(struct diag *to, struct diag *from)
{
	unsigned file = ++to->files;

	diag_append(&to->items, &to->count, &to->cap, from->items, from->count,
	            file);
	diag_append(&to->notes, &to->nnotes, &to->notes_cap, from->notes,
	            from->nnotes, file);
	free(from->items);
	free(from->notes);
	memset(from, 0, sizeof(*from));
}
