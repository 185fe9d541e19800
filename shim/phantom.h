/*
 * phantom.h - deferred reads: buffer pages that stand for bytes of a file.
 *
 * A phantom is a run of whole pages of a program buffer over which the source
 * file is mapped MAP_PRIVATE|MAP_FIXED.  Every access then just works: loads
 * see the file's bytes, stores copy-on-write.  /proc/self/pagemap tells, page
 * by page, whether a phantom page is still the file's (not present, or a file
 * page) or was written (present anonymous page).
 *
 * Invariants:
 *  - every record covers whole pages that zcopy itself mapped, from a file
 *    identified by (dev, ino) at file offset off;
 *  - records never overlap (a new deferred read replaces what it covers);
 *  - zc_phantom_live is the number of records; 0 means every memory and
 *    write wrapper takes its plain path without looking further;
 *  - memory leaves the phantom state only through this module: dropped (the
 *    mapping is gone), zeroed (anonymous zero pages) or materialized
 *    (anonymous pages holding the same bytes).
 */
#ifndef ZC_PHANTOM_H
#define ZC_PHANTOM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define ZC_MAX_PHANTOMS 64

struct zc_phantom {
	uintptr_t addr; /* page aligned */
	size_t len;     /* multiple of the page size; 0 = free slot */
	dev_t dev;
	ino_t ino;
	int fd;         /* fd the bytes were read from; -1 once it was closed */
	int pin;        /* pin.c index holding that fd's description, or -1 */
	off_t off;      /* file offset of addr */
	int stream;     /* detector slot that made it, or -1 */
	int kind;       /* ZC_PH_MAP or ZC_PH_GUARD */
	int pipe;       /* sock.c pool pipe holding the bytes (a guard record of
			 * a socket read, pin -1), or -1 */
	uint32_t pgen;  /* that pipe's generation when the record was made */
	int fpipe;      /* a file guard record's pool pipe P (sock.c) holding its
			 * bytes from fhead to its end, or -1 (zc_phantom_defer_fpipe) */
	uintptr_t fhead; /* the page whose bytes are P's first */
	uint32_t serial; /* tells this record from a later one at the same place */
	int edge;       /* edges.c slot holding the bytes of the read's partial
			 * pages around a guard record, or -1 (edges.h) */
	uint32_t head, tail; /* their lengths: before addr, after addr + len */
	int hollow;     /* a socket record's pages handed on, still PROT_NONE,
			 * to the read that replaces it: no bytes, no source
			 * (zc_phantom_pipe_overwrite); lives only under the
			 * lock, within that read */
};

/* How a record's pages stand for the file's bytes.
 *  ZC_PH_MAP:   the file is mapped over them (section "Map strategy");
 *  ZC_PH_GUARD: they are PROT_NONE and hold nothing; the bytes are read from
 *               the record's pin when the program or the kernel needs them
 *               (guard.c).  A guard record always has a pin: the pin is its
 *               only way to the bytes, so losing it means materializing. */
enum { ZC_PH_MAP = 0, ZC_PH_GUARD = 1 };
/* Number of ZC_PH_GUARD records: 0 means no page is guarded, and the
 * wrappers that hand memory to the kernel take their plain path. */
extern volatile int zc_guard_live;

extern size_t zc_page;              /* page size */
/* Records plus source ranges in flight (inflight.h): 0 means no memory and
 * no file can be affected, and every wrapper takes its plain path. */
extern volatile int zc_phantom_live;

/* Result of deferring one read. */
enum zc_defer_result {
	ZC_DEFER_OK = 0,     /* mapped; *got bytes stand in buf */
	ZC_DEFER_PLAIN = 1,  /* nothing changed: do the plain read (reason in *why) */
	ZC_DEFER_SHORT = 2,  /* st_size was a claim (ZC_SIZE_CLAIMED) the file does
				not reach: ask its size and try again */
};

/*
 * Defers a read of up to n bytes of fd at file offset off into buf: maps the
 * whole pages, preads the partial pages at both ends, all through pin (the
 * record keeps a reference to it).  st is a fresh fstat of the pin.  Does not move the file offset.  On ZC_DEFER_PLAIN nothing the program
 * can see has changed (the buffer may hold some of the bytes it was about to
 * receive anyway).  Caller holds the engine lock.
 */
enum zc_defer_result zc_phantom_defer(int fd, int pin, void *buf, size_t n, off_t off,
				      const struct stat *st, int stream, size_t *got, int *why,
				      int guard_aligned);
/* guard_aligned: guard the whole pages also where the file could be mapped
 * there (the caller checked that guards may be used for this memory and this
 * thread): no mmap per read and no pagemap pread per write. */
/* A read whose last page is partial ((buf + n) % page != 0) reads that page's
 * bytes with pread, up to off+n: a full count proves the file was at least
 * off+n bytes long at that moment, which is all the count read() returns
 * needs.  For such a read st_size may be passed as off+n unasked (saving an
 * fstat per read), marked by st_blocks == ZC_SIZE_CLAIMED; if the pread
 * comes short, nothing the program can see changed and ZC_DEFER_SHORT asks
 * for the real size. */
#define ZC_SIZE_CLAIMED ((blkcnt_t)-1)

/*
 * A socket read deferred into sock.c's pool pipe `pipe` (generation gen):
 * pages [ps, pe) become a guard record whose bytes are the pipe's (all of
 * them, from its first byte).  Such a record leaves the phantom state only
 * whole: a part of it that leaves first gives the whole record its bytes,
 * which come out of the pipe in order.  What the new record covers is
 * replaced (a pipe record wholly under it is emptied without a copy).
 * Returns 0, or -1 with [ps, pe) ordinary memory (no record made).  Caller
 * holds the engine lock.
 */
int zc_phantom_defer_pipe(int fd, dev_t dev, ino_t ino, uintptr_t ps, uintptr_t pe, int pipe,
			  uint32_t gen, int stream);

/*
 * A read of n bytes of the regular file pinned as pin (fd, identity st) at
 * off, into the page-aligned buffer buf (off and n whole pages), as one
 * splice into an empty pool pipe P of zcopy's: the buffer's pages become a
 * guard record of the file (pin + offset, as zc_phantom_defer's guard
 * records: every way out of the phantom state reads the file) whose bytes
 * P also holds, in order, for a write that starts at its head (redirect.c).
 * P is let go (emptied) whenever its record changes or goes.  At the file's
 * end (a short splice, the size asked again) the buffer gets its bytes from
 * P.  Does not move the file offset.  ZC_DEFER_OK with *got the count, or
 * ZC_DEFER_PLAIN with nothing changed that the program can see (splice
 * refused, no pipe, no record): today's path follows.  Lock held.
 */
enum zc_defer_result zc_phantom_defer_fpipe(int fd, int pin, void *buf, size_t n, off_t off,
					    const struct stat *st, int stream, size_t *got);
/* The write side, lock held: takes P out of the live record snapshot p (the
 * caller owns it then; the record stays a plain file guard record).
 * Returns 0, or -1 if the record changed meanwhile. */
int zc_phantom_fpipe_take(const struct zc_phantom *p);
/* Gives P back to that record, its head now at head, if the record is
 * still the same and P still holds the record's bytes from head on;
 * otherwise P is emptied and freed.  Lock held. */
void zc_phantom_fpipe_back(const struct zc_phantom *p, uintptr_t head);

/* [lo, hi) is about to be filled by a socket read: a pipe record that
 * starts inside it gives up the bytes of its pages below page_down(hi)
 * without a copy, and its pages from there on get theirs (in order).
 * The pages given up stay PROT_NONE, a hollow record (no bytes, no
 * source) that the read's new record takes over without a system call
 * (zc_phantom_defer_pipe); whatever else happens to them makes them
 * ordinary zero memory, for the read's bytes.  Caller holds the engine
 * lock, and calls zc_phantom_hollow_end before letting it go. */
void zc_phantom_pipe_overwrite(uintptr_t lo, uintptr_t hi);
/* The end of the socket read that called zc_phantom_pipe_overwrite: no
 * hollow record may outlive it (a page no record stands for would stay
 * PROT_NONE).  One the read did not take over becomes zero memory (and is
 * logged: it cannot happen).  Lock held. */
void zc_phantom_hollow_end(void);

/* Copies out (up to max) records overlapping [lo, hi), sorted by address;
 * returns how many. Caller holds the engine lock. */
int zc_phantom_overlapping(uintptr_t lo, uintptr_t hi, struct zc_phantom *out, int max);

/* Page states for npages pages from addr: bit 0 = still the file's (clean),
 * bit 1 = present (touched by the program).  Returns 0 or -errno. */
#define ZC_PG_CLEAN   1u
#define ZC_PG_PRESENT 2u
int zc_pagemap(uintptr_t addr, size_t npages, uint8_t *state);
/* Is every page of [addr, addr+len) private anonymous memory (or ours)?
 * Used before the first deferral into a buffer. Returns 1 yes, 0 no. */
int zc_buffer_is_private_anon(uintptr_t addr, size_t len);

/* Memory [lo, hi) is going away (munmap, MAP_FIXED over it): forget it. */
void zc_phantom_drop(uintptr_t lo, uintptr_t hi);
/* Make phantom pages in [lo, hi) anonymous zero pages (free, MADV_DONTNEED). */
void zc_phantom_zero(uintptr_t lo, uintptr_t hi);
/* free() of the block [lo, hi): zc_phantom_zero, but the bytes kept of
 * partial pages (edges.h) go only where they lie in the block itself. */
void zc_phantom_freed(uintptr_t lo, uintptr_t hi);
/* Make phantom pages in [lo, hi) anonymous pages holding the same bytes
 * (realloc, mremap, mprotect, the program's own madvise). */
void zc_phantom_materialize(uintptr_t lo, uintptr_t hi);
/* Does any phantom stand for bytes of the file (dev, ino)? */
int zc_phantom_of_file(dev_t dev, ino_t ino);
/* The file (dev, ino) is about to change in [off, off+len) (len 0 = to the
 * end): phantoms of that range get their bytes now. */
void zc_phantom_file_changing(dev_t dev, ino_t ino, off_t off, off_t len);
/* fd was closed: its phantoms can no longer be sent from it.  (zcopy's own
 * pagemap descriptor is never one of the program's: ownfd.c keeps it.) */
void zc_phantom_fd_closed(int fd);
/* After fork in the child: the pagemap descriptor belongs to the parent. */
void zc_phantom_after_fork_child(void);

/* Guard records overlapping [lo, hi) get their bytes (kernel or program
 * access is about to happen); returns the detector stream of the first, or
 * -1 if none.  Caller holds the engine lock. */
int zc_phantom_guard_materialize(uintptr_t lo, uintptr_t hi);
/* Is addr in a guard record? (the SIGSEGV handler's question, under the
 * lock).  Returns the record's stream (>= -1) or -2 if not. */
int zc_phantom_guard_at(uintptr_t addr);
/* Might a guard record overlap [lo, hi)?  Without the lock (a filter before
 * taking it, for calls that hand memory to the kernel). */
int zc_phantom_guard_maybe(uintptr_t lo, uintptr_t hi);

/* The SIGBUS handler's question: is addr in a phantom page?  If so the page
 * is replaced by a zero page and 1 is returned.  Async-signal-safe. */
int zc_phantom_sigbus(uintptr_t addr);

#endif
