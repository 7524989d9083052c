/*
 * linebuf.c: split a byte stream into lines for the log. A line longer than
 * LINEBUF_MAX is cut into pieces of LINEBUF_MAX bytes: split, never dropped.
 * Only an unfinished line is kept between reads, so an idle task costs no
 * buffer at all.
 */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

static void
linebuf_keep(struct linebuf *lb, const char *data, size_t n)
{
	if (n == 0)
		return;
	lb->partial = xreallocarray(lb->partial, lb->len + n, 1);
	memcpy(lb->partial + lb->len, data, n);
	lb->len += n;
}

/* Emit the kept partial line joined with data[0..n). */
static void
linebuf_emit_joined(struct linebuf *lb, const char *data, size_t n,
                    linebuf_emit_fn emit, void *ctx)
{
	linebuf_keep(lb, data, n);
	emit(ctx, lb->partial, lb->len);
	free(lb->partial);
	lb->partial = NULL;
	lb->len = 0;
}

/* Feed n bytes; emit every complete line (without its newline). */
void
linebuf_feed(struct linebuf *lb, const char *data, size_t n,
             linebuf_emit_fn emit, void *ctx)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t room = LINEBUF_MAX - lb->len;
		size_t take = nl ? (size_t)(nl - data) : n;

		if (take > room) { /* a full piece without a newline */
			linebuf_emit_joined(lb, data, room, emit, ctx);
			data += room;
			n -= room;
			continue;
		}
		if (nl == NULL) {
			linebuf_keep(lb, data, n);
			return;
		}
		if (lb->len > 0)
			linebuf_emit_joined(lb, data, take, emit, ctx);
		else
			emit(ctx, data, take);
		data += take + 1;
		n -= take + 1;
	}
}

/* At end of stream: emit what is left of an unfinished line. */
void
linebuf_flush(struct linebuf *lb, linebuf_emit_fn emit, void *ctx)
{
	if (lb->len > 0)
		linebuf_emit_joined(lb, NULL, 0, emit, ctx);
}

void
linebuf_free(struct linebuf *lb)
{
	free(lb->partial);
	lb->partial = NULL;
	lb->len = 0;
}
