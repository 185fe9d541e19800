/*
 * edges.c - private copies of the partial pages' bytes of guard records
 * (edges.h says what they are for and when they end).  A fixed table: no
 * allocation in a hook.  Every function runs under the engine lock.
 */
#include "edges.h"

#include <string.h>

struct edge {
	int used;
	unsigned char head[ZC_EDGE_MAX];
	unsigned char tail[ZC_EDGE_MAX];
};

static struct edge slots[ZC_EDGE_SLOTS];

void zc_edges_save(struct zc_phantom *p, size_t head, size_t tail)
{
	p->edge = -1;
	p->head = 0;
	p->tail = 0;
	if ((head == 0 && tail == 0) || head > ZC_EDGE_MAX || tail > ZC_EDGE_MAX)
		return;
	for (int i = 0; i < ZC_EDGE_SLOTS; i++) {
		struct edge *s = &slots[i];
		if (s->used)
			continue;
		s->used = 1;
		memcpy(s->head, (const void *)(p->addr - head), head);
		memcpy(s->tail, (const void *)(p->addr + p->len), tail);
		p->edge = i;
		p->head = (uint32_t)head;
		p->tail = (uint32_t)tail;
		return;
	}
}

void zc_edges_drop(struct zc_phantom *p)
{
	if (p->edge >= 0)
		slots[p->edge].used = 0;
	p->edge = -1;
	p->head = 0;
	p->tail = 0;
}

int zc_edges_in_memory(const struct zc_phantom *p, uintptr_t lo, uintptr_t hi)
{
	return p->edge >= 0 && p->addr - p->head < hi && p->addr + p->len + p->tail > lo;
}

int zc_edges_in_file(const struct zc_phantom *p, off_t off, off_t len)
{
	if (p->edge < 0)
		return 0;
	off_t lo = p->off - (off_t)p->head, hi = p->off + (off_t)p->len + (off_t)p->tail;
	return hi > off && (len == 0 || off + len > lo);
}

void zc_edges_span(const struct zc_phantom *p, uintptr_t a, uintptr_t e, uintptr_t *lo,
		   uintptr_t *hi)
{
	uintptr_t pa = p->addr, pe = p->addr + p->len;
	*lo = pa;
	*hi = pe;
	if (p->edge < 0)
		return;
	const struct edge *s = &slots[p->edge];
	uintptr_t hb = pa - p->head, te = pe + p->tail;
	uintptr_t x = a > hb ? a : hb;
	if (x < pa && memcmp((const void *)x, s->head + (x - hb), pa - x) == 0)
		*lo = x;
	uintptr_t y = e < te ? e : te;
	if (y > pe && memcmp((const void *)pe, s->tail, y - pe) == 0)
		*hi = y;
}
