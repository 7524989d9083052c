/*
 * sources.c: the running instances of a per-request task per client, for
 * max_per_source. Pure: a hash with linear probing, a slot per client that
 * runs at least one instance, so its memory follows the instances running
 * (at most max_instances), and is given back when none runs.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"

#define SOURCES_MIN 16 /* slots, when the first client comes */

/* The client of a tcp connection: its address, without the port. */
void
source_of_addr(struct source *s, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const void *)ss;
	const struct sockaddr_in6 *sin6 = (const void *)ss;

	memset(s, 0, sizeof(*s));
	s->kind = SOURCE_ADDR;
	if (ss->ss_family == AF_INET6) {
		memcpy(s->id, &sin6->sin6_addr, 16);
		return;
	}
	/* As ::ffff:a.b.c.d, which a dual-stack socket would show it as. */
	s->id[10] = s->id[11] = 0xff;
	memcpy(s->id + 12, &sin->sin_addr, 4);
}

/* The client of a unix connection: the peer's uid. */
void
source_of_uid(struct source *s, uid_t uid)
{
	memset(s, 0, sizeof(*s));
	s->kind = SOURCE_UID;
	memcpy(s->id, &uid, sizeof(uid));
}

/* "127.0.0.1", "::1" or "uid 33", for the log. */
char *
source_text(const struct source *s, char *buf, size_t size)
{
	static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
	uid_t uid;

	if (s->kind == SOURCE_UID) {
		memcpy(&uid, s->id, sizeof(uid));
		snprintf(buf, size, "uid %u", (unsigned)uid);
	} else if (s->kind != SOURCE_ADDR)
		snprintf(buf, size, "-");
	else if (memcmp(s->id, mapped, sizeof(mapped)) == 0) {
		if (inet_ntop(AF_INET, s->id + 12, buf, (socklen_t)size) ==
		    NULL)
			snprintf(buf, size, "?");
	} else if (inet_ntop(AF_INET6, s->id, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "?");
	return buf;
}

static size_t
sources_hash(const struct source *s)
{
	size_t h = 2166136261u ^ (size_t)s->kind; /* FNV-1a */

	for (size_t i = 0; i < sizeof(s->id); i++)
		h = (h ^ s->id[i]) * 16777619u;
	return h;
}

static bool
source_same(const struct source *a, const struct source *b)
{
	return a->kind == b->kind && memcmp(a->id, b->id, sizeof(a->id)) == 0;
}

/* The slot of s, or the free slot where it would go. */
static struct source_slot *
sources_slot(const struct sources *set, const struct source *s)
{
	size_t mask = set->cap - 1, i = sources_hash(s) & mask;

	while (set->slots[i].count != 0 && !source_same(&set->slots[i].src, s))
		i = (i + 1) & mask;
	return &set->slots[i];
}

/* Move every client into cap slots (none when cap is 0). */
static void
sources_resize(struct sources *set, size_t cap)
{
	struct sources n = {.cap = cap, .used = set->used};

	if (cap > 0) {
		n.slots = xcalloc(cap, sizeof(*n.slots));
		for (size_t i = 0; i < set->cap; i++)
			if (set->slots[i].count != 0)
				*sources_slot(&n, &set->slots[i].src) =
				    set->slots[i];
	}
	free(set->slots);
	*set = n;
}

/* Instances that client s runs now. */
unsigned long
sources_count(const struct sources *set, const struct source *s)
{
	if (set->slots == NULL || s->kind == SOURCE_NONE)
		return 0;
	return sources_slot(set, s)->count;
}

/* One more instance of client s (none for SOURCE_NONE). */
void
sources_add(struct sources *set, const struct source *s)
{
	struct source_slot *slot;

	if (s->kind == SOURCE_NONE)
		return;
	if (2 * (set->used + 1) > set->cap) /* at most half full */
		sources_resize(set, set->cap ? 2 * set->cap : SOURCES_MIN);
	slot = sources_slot(set, s);
	if (slot->count++ == 0) {
		slot->src = *s;
		set->used++;
	}
}

/*
 * One instance of client s fewer. A slot freed pulls back the clients
 * after it that probing put past it, so that no search stops short.
 */
void
sources_remove(struct sources *set, const struct source *s)
{
	size_t mask, i, j, home;
	struct source_slot *slot;

	if (set->slots == NULL || s->kind == SOURCE_NONE)
		return;
	slot = sources_slot(set, s);
	if (slot->count == 0 || --slot->count > 0)
		return;
	set->used--;
	mask = set->cap - 1;
	i = (size_t)(slot - set->slots);
	for (j = (i + 1) & mask; set->slots[j].count != 0; j = (j + 1) & mask) {
		home = sources_hash(&set->slots[j].src) & mask;
		/* j may move to i unless its home lies in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			set->slots[i] = set->slots[j];
			set->slots[j].count = 0;
			i = j;
		}
	}
	if (set->used == 0)
		sources_resize(set, 0);
	else if (set->cap > SOURCES_MIN && 8 * set->used < set->cap)
		sources_resize(set, set->cap / 2);
}

void
sources_free(struct sources *set)
{
	free(set->slots);
	*set = (struct sources){0};
}
