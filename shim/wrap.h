/*
 * wrap.h - what every exported wrapper file (interpose.c, paths.c,
 * memory.c, stdio.c, kernelmem.c, signals.c, jump.c) shares: the export
 * attribute, the branch hints, and the fast-path test of each family,
 * spelled once.
 *
 * The shape of a wrapper: the fast-path test, then either the real call
 * (REAL(name)) or the engine.  Twins (a *64 name, a _chk name) call one
 * shared body and pass their own real function: a twin that called the
 * other by name would go through the PLT into our own wrapper again
 * (make check-symbols fails on that).
 */
#ifndef ZC_WRAP_H
#define ZC_WRAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"
#include "phantom.h"

#define ZC_EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Reads: fewer than zc_read_min bytes is the plain call and nothing else
 * (SIZE_MAX until the constructor ran, and in mode off). */
static inline int zc_read_is_plain(size_t n)
{
	return likely(n < zc_read_min);
}

/* Families whose size is not one number (vector reads, fread's items):
 * all plain until reads can be deferred or observed at all. */
static inline int zc_reads_all_plain(void)
{
	return likely(zc_read_min == SIZE_MAX);
}

/* Writes: fewer than zc_write_min bytes is the plain call, after
 * zc_before_file_change (SIZE_MAX until a read started a stream). */
static inline int zc_write_is_plain(size_t n)
{
	return likely(n < zc_write_min);
}

/* Families whose size is not one number (vector writes, fwrite's items):
 * all plain, before the size is even worked out, until a write can be
 * redirected or observed at all. */
static inline int zc_writes_all_plain(void)
{
	return likely(zc_write_min == SIZE_MAX);
}

/* Calls that change a file or memory zcopy may have phantoms of (a write
 * the engine does not redirect, a truncation, a shared mapping, advice)
 * have something to do only while phantoms exist. */
static inline int zc_phantoms_exist(void)
{
	return unlikely(zc_phantom_live != 0);
}

/* The file behind fd is about to change at [off, off+n) (off -1: at its
 * file offset; n 0: to its end) by a call that the engine does not
 * redirect: phantoms of that file get their bytes first, as the program's
 * buffer held them before.  One compare while no phantom exists. */
static inline void zc_before_file_change(int fd, off_t off, size_t n)
{
	if (zc_phantoms_exist())
		zc_engine_file_changing(fd, off, (off_t)n);
}

#endif
