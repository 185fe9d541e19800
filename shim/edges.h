/*
 * edges.h - the bytes of a guard record's partial pages, kept at read time.
 *
 * A deferred read into an unaligned buffer reads the partial pages at both
 * ends of the buffer for real (pread), at file offsets zcopy knows: the head
 * [addr - head, addr) and the tail [addr + len, addr + len + tail) of the
 * record's whole pages.  A private copy of those bytes, taken right after
 * the pread, lets the write ask whether the buffer still holds exactly them
 * (memcmp): if so, the whole range the write covers is the file's bytes and
 * goes as one transfer from the pin, with no plain write of the partial
 * pages (which also cut the transfer into a waiting first call and
 * non-waiting later ones).
 *
 * Invariants (all under the engine lock):
 *  - a copy belongs to one guard record (its `edge` slot) and ends with it,
 *    or earlier: when any record over its pages changes, when memory over
 *    its bytes changes (free, munmap, mprotect, madvise, mremap, a new
 *    deferral: the remove_range of phantom.c), or when this process changes
 *    the file over its file range (zc_phantom_file_changing);
 *  - so the bytes a copy stands for are ordinary, accessible memory of the
 *    program, never a guarded page: comparing them cannot fault.
 */
#ifndef ZC_EDGES_H
#define ZC_EDGES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "phantom.h"

#define ZC_EDGE_SLOTS 8    /* records with a copy at once (python alternates two buffers) */
#define ZC_EDGE_MAX   4096 /* bytes of each end kept; larger partial pages are not kept */

/* Saves [p->addr - head, p->addr) and [p->addr + p->len, + tail) of the
 * buffer (just read from the file) in a free slot; p->edge says which, or
 * -1 when none is free or an end is too large. */
void zc_edges_save(struct zc_phantom *p, size_t head, size_t tail);
/* The record's copy goes (p->edge becomes -1). */
void zc_edges_drop(struct zc_phantom *p);
/* Do the copy's bytes lie in memory [lo, hi)? */
int zc_edges_in_memory(const struct zc_phantom *p, uintptr_t lo, uintptr_t hi);
/* Does the file change [off, off+len) (len 0: to the end) touch the copy's
 * file range? */
int zc_edges_in_file(const struct zc_phantom *p, off_t off, off_t len);
/* For a write of [a, e) that carries record p: [*lo, *hi), which holds
 * p's pages and as much of [a, e) around them as equals the copy, is the
 * file's bytes from p->off - (p->addr - *lo) on.  Without a copy (or with
 * ends the program changed) it is p's pages alone. */
void zc_edges_span(const struct zc_phantom *p, uintptr_t a, uintptr_t e, uintptr_t *lo,
		   uintptr_t *hi);

#endif
