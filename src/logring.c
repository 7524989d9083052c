/*
 * logring.c: the last lines of one task's output, kept for "tendctl log".
 *
 * Every line gets a sequence number, so that a follower holds only a
 * number: when it falls behind by more than the ring keeps, it goes on at
 * the oldest line still kept (the lines between are skipped, never queued
 * for it). The ring holds at most LOGRING_LINES lines and LOGRING_BYTES of
 * memory, its slots and malloc's overhead counted, and nothing until its
 * task first prints.
 */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

static struct logring_line **
slot(const struct logring *r, uint64_t seq)
{
	return &r->slots[seq % r->cap];
}

static void
drop_oldest(struct logring *r)
{
	struct logring_line **s = slot(r, r->first);

	r->bytes -= LOGRING_LINE_COST((*s)->len);
	free(*s);
	*s = NULL;
	r->first++;
}

/* Room for one more line: the slots double up to LOGRING_LINES. */
static void
make_room(struct logring *r)
{
	struct logring_line **slots;
	size_t cap;

	if (r->next - r->first < r->cap)
		return;
	if (r->cap == LOGRING_LINES) {
		drop_oldest(r);
		return;
	}
	cap = r->cap == 0 ? 16 : r->cap * 2;
	if (cap > LOGRING_LINES)
		cap = LOGRING_LINES;
	slots = xcalloc(cap, sizeof(*slots));
	for (uint64_t seq = r->first; seq < r->next; seq++)
		slots[seq % cap] = *slot(r, seq);
	free(r->slots);
	r->slots = slots;
	r->cap = cap;
}

/* Keep one line (without its newline); the oldest go to make room. */
void
logring_push(struct logring *r, pid_t pid, int stream, const char *data,
             size_t len)
{
	struct logring_line *l;

	if (len > LOGRING_LINE_MAX)
		len = LOGRING_LINE_MAX; /* linebuf.c splits lines well before */
	while (r->next > r->first &&
	       r->bytes + LOGRING_LINE_COST(len) > LOGRING_LINES_BYTES)
		drop_oldest(r);
	make_room(r);
	l = xmalloc(LOGRING_LINE_COST(len));
	l->pid = pid;
	l->stream = stream;
	l->len = len;
	memcpy(l->data, data, len);
	*slot(r, r->next) = l;
	r->next++;
	r->bytes += LOGRING_LINE_COST(len);
}

/* The line numbered seq, or NULL when it is not kept (yet, or any more). */
const struct logring_line *
logring_get(const struct logring *r, uint64_t seq)
{
	if (seq < r->first || seq >= r->next)
		return NULL;
	return *slot(r, seq);
}

/* The number of the n-th newest line kept (n = 0: logring_next). */
uint64_t
logring_back(const struct logring *r, uint64_t n)
{
	return r->next - r->first < n ? r->first : r->next - n;
}

void
logring_free(struct logring *r)
{
	while (r->first < r->next)
		drop_oldest(r);
	free(r->slots);
	r->slots = NULL;
	r->cap = 0;
	r->bytes = 0;
}
