/*
 * memory.c - the memory calls that could meet a phantom page.
 *
 * A phantom page is a private mapping of a file.  Before memory holding one
 * is freed, resized, remapped, advised or reprotected, it is turned back into
 * ordinary anonymous memory (see phantom.h), so allocators and the program
 * see exactly what they would without zcopy: zeros after MADV_DONTNEED, the
 * same bytes after realloc, no file pages left in a recycled heap.  With no
 * phantom alive (zc_phantom_live == 0) each wrapper is a compare and a call.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "engine.h"
#include "phantom.h"
#include "real.h"
#include "seams.h"
#include "wrap.h"

/* glibc's own entry points, reached if dlsym itself frees memory before the
 * table is filled. */
extern void __libc_free(void *);
extern void *__libc_realloc(void *, size_t);

static void real_free(void *p)
{
	void (*f)(void *) = REAL(free);
	(f ? f : __libc_free)(p);
}

/* munmap, madvise and mprotect fail with EINVAL unless addr is page-aligned
 * (and munmap with a zero length): then nothing changes, and neither may our
 * records. */
static int page_aligned(const void *addr)
{
	return ((uintptr_t)addr & (zc_page - 1)) == 0;
}

static uintptr_t end_of(void *p, size_t len)
{
	return (uintptr_t)p + len < (uintptr_t)p ? UINTPTR_MAX : (uintptr_t)p + len;
}

static size_t usable(void *p)
{
	size_t (*f)(void *) = REAL(malloc_usable_size);
	return f ? f(p) : 0;
}

/* glibc marks a block it mapped on its own (and unmaps on free) with bit 1
 * of the size word before it.  Only glibc's blocks have that word: with
 * another allocator (a malloc library loaded after zcopy) the word before
 * the block may be another block's, or no memory at all; such an allocator
 * maps and unmaps through the wrapped calls. */
static int chunk_is_mapped(const void *p)
{
	if (REAL(free) != __libc_free)
		return 0;
	return (((const size_t *)p)[-1] & 2) != 0;
}

/* Seams (see seams.c): before the program resizes or moves [lo, hi)
 * they are mended; when it unmaps or frees them they are forgotten.  With
 * no seam recorded this is one compare. */
static void seams(uintptr_t lo, uintptr_t hi, int mend)
{
	if (!unlikely(zc_seams) || zc_inside || lo >= hi)
		return;
	int saved = zc_enter_locked();
	if (mend)
		zc_seams_mend(lo, hi);
	else
		zc_seams_forget(lo, hi);
	zc_leave_locked(saved);
}

ZC_EXPORT void free(void *p)
{
	/* Large blocks may have been a stream's buffer: the stream ends with
	 * them (their memory may come back as something else).  A block glibc
	 * unmaps is gone, which also changes what the guard strategy knows of
	 * the process's mappings, guards or not: the hole it leaves may next
	 * hold a new thread's stack, mapped inside libc. */
	if (!zc_reads_all_plain() && p) {
		size_t n = usable(p);
		int mapped = chunk_is_mapped(p);
		if (n >= zc_min_chunk || zc_phantom_live || mapped)
			zc_engine_memory((uintptr_t)p, end_of(p, n),
					 !mapped ? ZC_MEM_FREE : zc_guard_live ? ZC_MEM_GONE : ZC_MEM_FREE_MAPPED);
		/* Seams lie in blocks that were buffers, as large as a read
		 * that is deferred; only whole pages inside the block count
		 * (the pages at its ends may hold other blocks). */
		if (n >= zc_min_chunk)
			seams(end_of(p, zc_page - 1) & ~(uintptr_t)(zc_page - 1),
			      end_of(p, n) & ~(uintptr_t)(zc_page - 1), 0);
	}
	real_free(p);
}

ZC_EXPORT void *realloc(void *p, size_t n)
{
	if (zc_phantoms_exist() && p)
		zc_engine_memory((uintptr_t)p, end_of(p, usable(p)), ZC_MEM_KEEP);
	/* A large block is resized with mremap inside libc. */
	if (unlikely(zc_seams) && p) {
		size_t have = usable(p);
		if (have >= zc_page)
			seams((uintptr_t)p, end_of(p, have), 1);
	}
	void *(*f)(void *, size_t) = REAL(realloc);
	return (f ? f : __libc_realloc)(p, n);
}

static void before_map(void *addr, size_t len, int prot, int flags, int fd)
{
	if (!zc_ready)
		return;
	if ((flags & MAP_FIXED) && addr && page_aligned(addr) && len) {
		zc_engine_memory((uintptr_t)addr, end_of(addr, len), ZC_MEM_GONE);
		seams((uintptr_t)addr, end_of(addr, len), 0);
	}
	if (zc_phantoms_exist() && fd >= 0 && (flags & MAP_SHARED) && (prot & PROT_WRITE))
		zc_engine_file_changing(fd, 0, 0); /* stores through it change the file */
}

ZC_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	before_map(addr, len, prot, flags, fd);
	return REAL(mmap)(addr, len, prot, flags, fd, off);
}

ZC_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	before_map(addr, len, prot, flags, fd);
	return REAL(mmap64)(addr, len, prot, flags, fd, off);
}

ZC_EXPORT int munmap(void *addr, size_t len)
{
	if (zc_ready && page_aligned(addr) && len) {
		zc_engine_memory((uintptr_t)addr, end_of(addr, len), ZC_MEM_GONE);
		seams((uintptr_t)addr, end_of(addr, len), 0);
	}
	return REAL(munmap)(addr, len);
}

ZC_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (zc_ready && page_aligned(old)) {
		zc_engine_memory((uintptr_t)old, end_of(old, old_len), ZC_MEM_KEEP);
		if (new_addr) {
			zc_engine_memory((uintptr_t)new_addr, end_of(new_addr, new_len), ZC_MEM_GONE);
			seams((uintptr_t)new_addr, end_of(new_addr, new_len), 0);
		}
		/* The kernel resizes or moves one mapping at a time: pages we
		 * materialized must be part of the program's mapping again. */
		seams((uintptr_t)old, end_of(old, old_len), 1);
	}
	return REAL(mremap)(old, old_len, new_len, flags, new_addr);
}

ZC_EXPORT int madvise(void *addr, size_t len, int advice)
{
	if (zc_phantoms_exist() && page_aligned(addr)) {
		/* Discarding advice must bring back zeros, not the file's bytes. */
		int zero = advice == MADV_DONTNEED || advice == MADV_DONTNEED_LOCKED;
		zc_engine_memory((uintptr_t)addr, end_of(addr, len), zero ? ZC_MEM_ZERO : ZC_MEM_KEEP);
	}
	return REAL(madvise)(addr, len, advice);
}

ZC_EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	/* glibc ignores POSIX_MADV_DONTNEED; every other advice keeps contents. */
	if (zc_phantoms_exist() && advice != POSIX_MADV_DONTNEED && page_aligned(addr))
		zc_engine_memory((uintptr_t)addr, end_of(addr, len), ZC_MEM_KEEP);
	return REAL(posix_madvise)(addr, len, advice);
}

/* A phantom page behind PROT_NONE would let a redirected write succeed
 * where the plain one faults; and a stream whose buffer became read-only
 * must not defer (a plain read into it fails with EFAULT). */
static void before_protect(void *addr, size_t len)
{
	if (zc_ready && page_aligned(addr))
		zc_engine_memory((uintptr_t)addr, end_of(addr, len), ZC_MEM_KEEP);
}

ZC_EXPORT int mprotect(void *addr, size_t len, int prot)
{
	before_protect(addr, len);
	return REAL(mprotect)(addr, len, prot);
}

/* glibc's pkey_mprotect is the system call, or its own mprotect for key -1:
 * neither passes through the wrapper above. */
ZC_EXPORT int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	before_protect(addr, len);
	return REAL(pkey_mprotect) ? REAL(pkey_mprotect)(addr, len, prot, pkey)
				   : (errno = ENOSYS, -1);
}

/* Locking faults the pages in, which guarded pages refuse (ENOMEM): they
 * get their bytes first, as the program's own touch would give them (the
 * phantom table works on the whole pages the range touches). */
static void before_lock(const void *addr, size_t len)
{
	if (zc_phantoms_exist() && len)
		zc_engine_memory((uintptr_t)addr, end_of((void *)addr, len), ZC_MEM_KEEP);
}

ZC_EXPORT int mlock(const void *addr, size_t len)
{
	before_lock(addr, len);
	return REAL(mlock)(addr, len);
}

ZC_EXPORT int mlock2(const void *addr, size_t len, unsigned flags)
{
	before_lock(addr, len);
	return REAL(mlock2) ? REAL(mlock2)(addr, len, flags) : (errno = ENOSYS, -1);
}

/* ---- dlclose ------------------------------------------------------------- */

#define ZC_DL_SEGS 16
struct dl_segs {
	ElfW(Addr) base;
	const char *name;
	int n;
	uintptr_t lo[ZC_DL_SEGS], hi[ZC_DL_SEGS];
};

static int dl_seg_each(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct dl_segs *d = arg;
	(void)size;
	if (info->dlpi_addr != d->base || !info->dlpi_name || strcmp(info->dlpi_name, d->name) != 0)
		return 0;
	for (int i = 0; i < info->dlpi_phnum && d->n < ZC_DL_SEGS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz == 0)
			continue;
		uintptr_t lo = (uintptr_t)(info->dlpi_addr + ph->p_vaddr);
		d->lo[d->n] = lo;
		d->hi[d->n] = end_of((void *)lo, ph->p_memsz);
		d->n++;
	}
	return 1;
}

/*
 * The loader unmaps a module at its last dlclose with its own munmap, which
 * no wrapper sees: phantoms in the module's writable segments (a plugin's
 * static buffer) would outlive them, and the next mapping placed there
 * (glibc's mapping of a large malloc, another module) would be taken for
 * them.  So they get their bytes first, whether or not this close is the
 * last; the segments are collected while the loader's lock is held and
 * handled after it is let go (zcopy's lock is never taken inside it).
 */
ZC_EXPORT int dlclose(void *handle)
{
	struct link_map *lm = NULL;
	if (zc_ready && zc_phantoms_exist() && dlinfo(handle, RTLD_DI_LINKMAP, &lm) == 0 &&
	    lm && lm->l_name) {
		struct dl_segs d = { .base = lm->l_addr, .name = lm->l_name, .n = 0 };
		dl_iterate_phdr(dl_seg_each, &d);
		for (int i = 0; i < d.n; i++)
			zc_engine_memory(d.lo[i], d.hi[i], ZC_MEM_KEEP);
	}
	return REAL(dlclose)(handle);
}
