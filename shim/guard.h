/*
 * guard.h - the guard strategy's ties to the rest of the library: faults on
 * guarded pages, calls that hand guarded memory to the kernel, and the check
 * of what memory may be guarded.
 *
 * A guarded page (a ZC_PH_GUARD phantom record, phantom.h) is PROT_NONE and
 * holds nothing; it stands for bytes of the source file that a later write
 * sends by kernel transfer.  Anything else that needs the bytes gets them
 * first: the program's own access faults (SIGSEGV, answered by
 * zc_guard_fault), and every wrapped call that passes the memory to the
 * kernel, which would fail with EFAULT instead of faulting, calls
 * zc_guard_before_kernel first.
 */
#ifndef ZC_GUARD_H
#define ZC_GUARD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "phantom.h"

/* Guarded pages in [p, p+n) get their bytes now.  Called by wrappers before
 * the kernel reads or writes caller memory; a compare while nothing is
 * guarded.  The address goes in as a number: where the compiler does not
 * inline it (-O0, -Os), a pointer to const reads to GCC as a read of the
 * bytes, and it then warns that read's or readlink's output buffer is used
 * uninitialized, which failed the build with those CFLAGS. */
void zc_guard_materialize(uintptr_t lo, uintptr_t hi);
static inline void zc_guard_before_kernel_at(uintptr_t p, size_t n)
{
	if (__builtin_expect(zc_guard_live, 0) && p && n)
		zc_guard_materialize(p, p + n < p ? UINTPTR_MAX : p + n);
}
#define zc_guard_before_kernel(p, n) zc_guard_before_kernel_at((uintptr_t)(p), (n))
/* A path name the kernel reads (it stops at the NUL, within PATH_MAX bytes):
 * the guarded pages it could reach get their bytes, as a program that keeps
 * names in the buffer it read them into would have them. */
#define zc_guard_before_path(p) zc_guard_before_kernel_at((uintptr_t)(p), PATH_MAX)
void zc_guard_before_kernel_iov(const struct iovec *iov, size_t cnt);
/* The same for the program's own write of the memory (the plain call of a
 * redirected write: a small pipe write, a refused destination): the kernel
 * sends the bytes as they are, which says nothing of the program looking
 * at them, so the stream does not back off (refusals back off on their
 * own, redirect.c). */
void zc_guard_before_write_iov(const struct iovec *iov, size_t cnt);

/* The SIGSEGV handler's question: is addr on a guarded page?  If so the page
 * gets its bytes (and the stream backs off: the program looks at its data)
 * and 1 is returned: the faulting access can simply be retried. */
int zc_guard_fault(uintptr_t addr);
/* phantom.c: guarded pages [lo, hi) became ordinary memory just now (a
 * fault racing with that release is still ours).  Under the lock. */
void zc_guard_released(uintptr_t lo, uintptr_t hi);

/* May [lo, hi) be guarded?  Only private writable memory that is not a
 * thread's stack (the kernel writes signal frames there, and a guarded page
 * would turn delivery into a fatal fault).  Reads /proc/self/maps; the
 * verdict for a region is cached until the program maps, unmaps, remaps or
 * reprotects memory (zc_guard_maps_changed).  Caller holds the engine lock. */
int zc_guard_memory_ok(uintptr_t lo, uintptr_t hi);
/* May the calling thread have guarded pages made for it?  Not while it
 * blocks SIGSEGV: a fault would kill the process (see docs/design.md). */
int zc_guard_thread_ok(void);
void zc_guard_maps_changed(void);
/* [p, p+n) is a stack the program supplies (a context's uc_stack when it
 * is switched to, pthread_attr_setstack, sigaltstack): its guarded pages
 * get their bytes and it is never guarded again.  What: for the log, if the
 * table is full and guard mode stops instead. */
void zc_guard_never(const void *p, size_t n, const char *what);
/* Memory [lo, hi) was freed or unmapped: the stacks noted inside it are
 * forgotten.  Under the lock. */
void zc_guard_never_gone(uintptr_t lo, uintptr_t hi);
/* Guard mode stops for the rest of the process (why: for the log): every
 * guarded page gets its bytes and no new ones are made.  For a mask zcopy
 * cannot keep SIGSEGV out of (sigmask.c). */
void zc_guard_stop(const char *why);

#endif
