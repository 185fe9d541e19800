/*
 * phantom.c - deferred reads as file-backed pages of the program's buffer.
 *
 * Owns the phantom table, the /proc/self/pagemap descriptor and every change
 * of a buffer page between "the program's anonymous memory" and "a private
 * mapping of the source file".  See phantom.h for the invariants.  All
 * functions except zc_phantom_sigbus() run with the engine lock held.
 */
#include "phantom.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "edges.h"
#include "guard.h"
#include "inflight.h"
#include "log.h"
#include "pin.h"
#include "ownfd.h"
#include "real.h"
#include "seams.h"
#include "sock.h"
#include "stats.h"

size_t zc_page = 4096;
volatile int zc_phantom_live;
volatile int zc_guard_live;

static struct zc_phantom tab[ZC_MAX_PHANTOMS];

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE    (1ULL << 61)

static uintptr_t page_down(uintptr_t a) { return a & ~(uintptr_t)(zc_page - 1); }
static uintptr_t page_up(uintptr_t a) { return page_down(a + zc_page - 1); }

/* ---- table --------------------------------------------------------------- */

static int nrec; /* records in use */
/* One past the highest slot in use: every scan of the table stops there
 * (a copy loop keeps one or two records, in the first slots, and its read
 * and write each scan the table several times).  Grows in slot_new, shrinks
 * in slot_free; read without the lock by zc_phantom_sigbus and
 * zc_phantom_guard_maybe (a slot above it holds no record). */
static volatile int tab_top;

static int free_slots(void)
{
	return ZC_MAX_PHANTOMS - nrec;
}

static struct zc_phantom *slot_new(void)
{
	for (int i = 0; i < ZC_MAX_PHANTOMS; i++)
		if (tab[i].len == 0) {
			if (i >= tab_top)
				tab_top = i + 1;
			nrec++;
			zc_phantom_live++;
			tab[i].pin = -1;
			tab[i].pipe = -1;
			tab[i].fpipe = -1;
			tab[i].edge = -1;
			tab[i].hollow = 0;
			return &tab[i];
		}
	return NULL;
}

/* A file record's P goes whenever the record changes or goes: emptied
 * without a copy, free again (the pin and offset stay its way to the
 * bytes). */
static void fpipe_drop(struct zc_phantom *p)
{
	if (p->fpipe >= 0)
		zc_sock_pipe_put(p->fpipe);
	p->fpipe = -1;
}

static void slot_free(struct zc_phantom *p)
{
	if (p->kind == ZC_PH_GUARD)
		zc_guard_live--;
	zc_edges_drop(p);
	p->kind = ZC_PH_MAP;
	p->len = 0;
	while (tab_top > 0 && tab[tab_top - 1].len == 0)
		tab_top--;
	nrec--;
	zc_phantom_live--;
	if (p->pin >= 0)
		zc_pin_put(p->pin);
	p->pin = -1;
	if (p->pipe >= 0)
		zc_sock_pipe_put(p->pipe); /* bytes still in it are not needed */
	p->pipe = -1;
	fpipe_drop(p);
}

/* What happens to the part of a record that leaves the phantom state. */
enum leave { LEAVE_DROP, LEAVE_ZERO, LEAVE_MATERIALIZE };

static void anon_zero(uintptr_t a, size_t len)
{
	/* Fresh anonymous pages read as zeros, as after MADV_DONTNEED. */
	if (REAL(mmap)((void *)a, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		zc_log(1, "zero pages at %p failed: errno %d", (void *)a, errno);
}

static void anon_copy(uintptr_t a, size_t len)
{
	/* New anonymous pages with the same bytes, swapped in atomically. */
	void *tmp = REAL(mmap)(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
	if (tmp == MAP_FAILED) {
		zc_log(1, "materialize %p: no memory (errno %d)", (void *)a, errno);
		return;
	}
	memcpy(tmp, (void *)a, len);
	if (REAL(mremap)(tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)a) == MAP_FAILED) {
		zc_log(1, "materialize %p: mremap failed (errno %d)", (void *)a, errno);
		REAL(munmap)(tmp, len);
		return;
	}
	zc_seam_add(a, a + len); /* a mapping of its own: see seams.c */
	ZC_ADD(materialized_bytes, len);
}

/*
 * Guarded pages [a, a+len) of record p get the file's bytes: they are read
 * from the pin into fresh anonymous memory that then replaces the guarded
 * pages in one mremap, so no other thread ever sees them readable but not
 * yet filled (it faults, and waits for the lock in the SIGSEGV handler).
 * Bytes past the file's end (another process truncated it) read as zeros,
 * as they would from the map strategy's pages.
 */
static void guard_fill(const struct zc_phantom *p, uintptr_t a, size_t len)
{
	void *tmp = REAL(mmap)(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
	if (tmp == MAP_FAILED) {
		/* No memory for a copy: fill in place (not atomic for other threads). */
		zc_log(1, "guard %p: no memory (errno %d)", (void *)a, errno);
		REAL(mprotect)((void *)a, len, PROT_READ | PROT_WRITE);
		tmp = (void *)a;
	}
	int pfd = p->pin >= 0 ? zc_pin_fd(p->pin) : -1;
	off_t at = p->off + (off_t)(a - p->addr);
	size_t done = 0;
	/* A socket's bytes: the whole record, out of its pipe (remove_range). */
	if (p->pipe >= 0 && zc_sock_pipe_fill(p->pipe, tmp, len) == 0)
		done = len;
	while (pfd >= 0 && done < len) {
		ssize_t r = REAL(pread)(pfd, (char *)tmp + done, len - done, at + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	if (pfd < 0 && done < len)
		zc_log(1, "guard %p: no source to fill from", (void *)a);
	if (tmp == (void *)a) {
		memset((char *)tmp + done, 0, len - done);
	} else if (REAL(mremap)(tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)a) ==
		   MAP_FAILED) {
		zc_log(1, "guard %p: mremap failed (errno %d)", (void *)a, errno);
		REAL(mprotect)((void *)a, len, PROT_READ | PROT_WRITE);
		memcpy((void *)a, tmp, len);
		REAL(munmap)(tmp, len);
	} else {
		/* A mapping of its own, as anon_copy's: the program's mremap of
		 * memory around it must find one mapping again (seams.c). */
		zc_seam_add(a, a + len);
	}
	ZC_ADD(materialized_bytes, len);
}

static void leave(const struct zc_phantom *p, uintptr_t a, size_t len, enum leave how)
{
	if (p->kind == ZC_PH_GUARD && how != LEAVE_DROP)
		zc_guard_released(a, a + len);
	/* Guarded pages too: fresh memory is readable.  A hollow record's
	 * pages have no bytes to get: they become memory for the read's. */
	if (how == LEAVE_ZERO || (how == LEAVE_MATERIALIZE && p->hollow))
		anon_zero(a, len);
	else if (how == LEAVE_MATERIALIZE && p->kind == ZC_PH_GUARD)
		guard_fill(p, a, len);
	else if (how == LEAVE_MATERIALIZE)
		anon_copy(a, len);
}

/* Part [lo, hi) of a pipe record leaves: the pipe's bytes come out only
 * from its first one on, so the whole record gets them, then the part is
 * treated as the ordinary memory it now is. */
static void pipe_part_leaves(struct zc_phantom *p, uintptr_t lo, uintptr_t hi, enum leave how)
{
	leave(p, p->addr, p->len, LEAVE_MATERIALIZE);
	slot_free(p);
	if (how == LEAVE_ZERO)
		anon_zero(lo, hi - lo);
}

/* The bytes kept of the partial pages around a record (edges.h) are the
 * buffer's only while nothing changed that memory or the record. */
static void drop_edges(uintptr_t lo, uintptr_t hi)
{
	for (int i = 0; i < tab_top; i++)
		if (tab[i].len && zc_edges_in_memory(&tab[i], lo, hi))
			zc_edges_drop(&tab[i]);
}

static void remove_pages(uintptr_t lo, uintptr_t hi, enum leave how);

/* remove_pages, and the kept partial pages in [lo, hi)'s pages go: memory
 * changes page by page (munmap, mprotect, madvise, a new deferral). */
static void remove_range(uintptr_t lo, uintptr_t hi, enum leave how)
{
	drop_edges(page_down(lo), page_up(hi));
	remove_pages(lo, hi, how);
}

/*
 * Takes [lo, hi) out of the table, applying `how` to the phantom pages in it.
 * Parts of records outside the range stay phantoms; when a record must be
 * split and the table is full, its right part is materialized instead.
 */
static void remove_pages(uintptr_t lo, uintptr_t hi, enum leave how)
{
	int saved = errno;
	lo = page_down(lo);
	hi = page_up(hi);
	for (int i = 0; i < tab_top; i++) {
		struct zc_phantom *p = &tab[i];
		if (p->len == 0 || p->addr >= hi || p->addr + p->len <= lo)
			continue;
		uintptr_t a = p->addr, e = p->addr + p->len;
		uintptr_t cut_lo = a > lo ? a : lo, cut_hi = e < hi ? e : hi;
		fpipe_drop(p); /* before a remainder could copy it */
		if (p->pipe >= 0 && (cut_lo > a || cut_hi < e)) {
			pipe_part_leaves(p, cut_lo, cut_hi, how);
			continue;
		}
		leave(p, cut_lo, cut_hi - cut_lo, how);
		if (cut_hi < e) {
			/* Right remainder. */
			struct zc_phantom *r = slot_new();
			if (r) {
				*r = *p;
				r->addr = cut_hi;
				r->len = e - cut_hi;
				r->off = p->off + (off_t)(cut_hi - a);
				if (r->pin >= 0)
					zc_pin_ref(r->pin);
				if (r->kind == ZC_PH_GUARD)
					zc_guard_live++;
			} else {
				leave(p, cut_hi, e - cut_hi, LEAVE_MATERIALIZE);
			}
		}
		if (cut_lo > a)
			p->len = cut_lo - a; /* left remainder keeps this slot */
		else
			slot_free(p);
	}
	errno = saved;
}

int zc_phantom_overlapping(uintptr_t lo, uintptr_t hi, struct zc_phantom *out, int max)
{
	int n = 0;
	for (int i = 0; i < tab_top && n < max; i++) {
		const struct zc_phantom *p = &tab[i];
		if (p->len == 0 || p->addr >= hi || p->addr + p->len <= lo)
			continue;
		/* Insertion sort by address: the table is small. */
		int j = n++;
		while (j > 0 && out[j - 1].addr > p->addr) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = *p;
	}
	return n;
}

/* ---- pagemap ------------------------------------------------------------- */

/* zcopy's long-lived /proc/self/pagemap descriptor (a slot of ownfd.c, which
 * keeps it high above the program's numbers and moves it out of the way of
 * dup2/close_range), or -1: not opened yet, or closed by the program's
 * closefrom/close_range, or never kept because RLIMIT_NOFILE is small. */
static int pagemap_fd = -1;

static int pagemap_open(int *slot)
{
	int fd = REAL(open)("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return zc_ownfd_take(fd, slot, 0); /* -1: no room up there, do without */
}

void zc_phantom_after_fork_child(void)
{
	zc_sock_after_fork_child();
	/* The inherited descriptor shows the parent's pages. */
	zc_ownfd_close(&pagemap_fd);
}

static int pagemap_read(uintptr_t addr, size_t npages, uint64_t *ent)
{
	/* With a small RLIMIT_NOFILE no descriptor is kept between calls (see
	 * zc_ownfd_keep_ok): one is opened for this read only. */
	int once = -1, *slot = &pagemap_fd;
	if (__atomic_load_n(&pagemap_fd, __ATOMIC_ACQUIRE) < 0) {
		if (!zc_ownfd_keep_ok())
			slot = &once;
		pagemap_open(slot);
	}
	int fd = zc_ownfd_use(slot), rc = 0;
	size_t want = npages * sizeof *ent, done = 0;
	off_t pos = (off_t)(addr / zc_page * sizeof *ent);
	while (fd >= 0 && done < want) {
		ssize_t r = REAL(pread)(fd, (char *)ent + done, want - done, pos + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)r;
	}
	/* Moved while in use (only a signal handler of this thread can do
	 * that): the read may have gone to the program's file. */
	if (fd >= 0 && __atomic_load_n(slot, __ATOMIC_SEQ_CST) != fd)
		rc = -EIO;
	zc_ownfd_unuse(slot);
	if (slot == &once)
		zc_ownfd_close(&once);
	return fd < 0 ? -EIO : rc;
}

int zc_pagemap(uintptr_t addr, size_t npages, uint8_t *state)
{
	uint64_t ent[512];
	int saved = errno;
	for (size_t i = 0; i < npages;) {
		size_t n = npages - i < 512 ? npages - i : 512;
		int rc = pagemap_read(addr + i * zc_page, n, ent);
		if (rc) {
			errno = saved;
			return rc;
		}
		for (size_t j = 0; j < n; j++) {
			uint64_t e = ent[j];
			uint8_t s = 0;
			if (e & PM_PRESENT) {
				s |= ZC_PG_PRESENT;
				if (e & PM_FILE)
					s |= ZC_PG_CLEAN;
			} else if (!(e & PM_SWAPPED)) {
				s |= ZC_PG_CLEAN; /* never faulted in: still the file's */
			}
			state[i + j] = s;
		}
		i += n;
	}
	errno = saved;
	return 0;
}

static int is_ours(uintptr_t page)
{
	for (int i = 0; i < tab_top; i++)
		if (tab[i].len && page >= tab[i].addr && page < tab[i].addr + tab[i].len)
			return 1;
	return 0;
}

int zc_buffer_is_private_anon(uintptr_t addr, size_t len)
{
	uint64_t ent[512];
	uintptr_t a = page_up(addr), e = page_down(addr + len);
	int saved = errno;
	while (a < e) {
		size_t n = (e - a) / zc_page;
		if (n > 512)
			n = 512;
		if (pagemap_read(a, n, ent)) {
			errno = saved;
			return 0;
		}
		for (size_t j = 0; j < n; j++) {
			uintptr_t pg = a + j * zc_page;
			/* A touched private anonymous page is present and not a file page.
			 * Pages never touched could be shared memory: refuse them. */
			if ((ent[j] & PM_PRESENT) && !(ent[j] & PM_FILE))
				continue;
			if (is_ours(pg))
				continue;
			errno = saved;
			return 0;
		}
		a += n * zc_page;
	}
	errno = saved;
	return 1;
}

/* ---- deferring a read ---------------------------------------------------- */

static int pread_all(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = REAL(pread)(fd, (char *)buf + done, n - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Do guard records cover [lo, hi) without a gap?  Then the pages are
 * PROT_NONE already and a new deferral into them needs no mprotect. */
static int guarded_throughout(uintptr_t lo, uintptr_t hi)
{
	while (lo < hi) {
		int found = 0;
		for (int i = 0; i < tab_top; i++) {
			const struct zc_phantom *p = &tab[i];
			if (p->len && p->kind == ZC_PH_GUARD && lo >= p->addr && lo < p->addr + p->len) {
				lo = p->addr + p->len;
				found = 1;
				break;
			}
		}
		if (!found)
			return 0;
	}
	return 1;
}

/* The record of a deferred read: pages [ps, pe) stand for the bytes of the
 * file st, read through fd (pinned: the record holds a reference to pin)
 * from foff on, for detector stream `stream`.  A slot is free: the caller
 * made room first. */
static struct zc_phantom *record_new(int kind, uintptr_t ps, uintptr_t pe, const struct stat *st,
				     int fd, int pin, off_t foff, int stream)
{
	struct zc_phantom *p = slot_new();
	p->addr = ps;
	p->len = pe - ps;
	p->dev = st->st_dev;
	p->ino = st->st_ino;
	p->fd = fd;
	p->pin = pin;
	if (pin >= 0)
		zc_pin_ref(pin);
	p->off = foff;
	p->stream = stream;
	p->kind = kind;
	static uint32_t serials;
	p->serial = ++serials;
	ZC_ADD(phantom_reads, 1);
	return p;
}

/*
 * The guard strategy: pages [ps, pe) of the buffer stand for the file's
 * bytes from foff on, but hold nothing: they are made PROT_NONE (unless they
 * already are, from the previous chunk: the steady state of a loop costs no
 * mprotect), and the first access by the program (SIGSEGV, guard.c) or by a
 * wrapped call that hands them to the kernel reads the bytes in.
 */
static enum zc_defer_result guard_defer(int fd, int pin, uintptr_t ps, uintptr_t pe, off_t foff,
					const struct stat *st, int stream, size_t k, size_t *got,
					int *why, uintptr_t b)
{
	int saved = errno;
	int already = guarded_throughout(ps, pe);
	remove_range(ps, pe, LEAVE_DROP); /* the new record replaces them */
	if (!already && REAL(mprotect)((void *)ps, pe - ps, PROT_NONE) != 0) {
		zc_log(2, "defer: guard of %p failed: errno %d", (void *)ps, errno);
		anon_zero(ps, pe - ps); /* ordinary memory again for the plain read */
		errno = saved;
		*why = ZC_FB_MAP_FAILED;
		return ZC_DEFER_PLAIN;
	}
	struct zc_phantom *p = record_new(ZC_PH_GUARD, ps, pe, st, fd, pin, foff, stream);
	zc_guard_live++;
	/* The partial pages at both ends were just read from the file: a
	 * copy lets the write send them with the pages if they are unchanged. */
	zc_edges_save(p, ps - b, b + k - pe);
	zc_log(3, "defer: fd %d off %ld len %zu -> %zu guarded pages%s", fd, (long)foff, k,
	       (pe - ps) / zc_page, already ? " (kept)" : "");
	errno = saved;
	*got = k;
	return ZC_DEFER_OK;
}

int zc_phantom_defer_pipe(int fd, dev_t dev, ino_t ino, uintptr_t ps, uintptr_t pe, int pipe,
			  uint32_t gen, int stream)
{
	int saved = errno;
	int already = guarded_throughout(ps, pe);
	remove_range(ps, pe, LEAVE_DROP); /* the new record replaces them */
	if (free_slots() < 1 ||
	    (!already && REAL(mprotect)((void *)ps, pe - ps, PROT_NONE) != 0)) {
		anon_zero(ps, pe - ps); /* ordinary memory again, for the bytes */
		errno = saved;
		return -1;
	}
	struct stat st = { .st_dev = dev, .st_ino = ino };
	struct zc_phantom *p = record_new(ZC_PH_GUARD, ps, pe, &st, fd, -1, 0, stream);
	p->pipe = pipe;
	p->pgen = gen;
	zc_guard_live++;
	errno = saved;
	return 0;
}

/* Splices [off, off+n) of pfd into pool pipe i: what read() returns, which
 * is short only at the file's end (the size is asked: a file that grew
 * meanwhile is spliced on, from a page boundary only, so that every pipe
 * buffer of P is one whole page of the file but the last: a write sends
 * each page as one buffer, as it would send it from the file).  Returns the
 * count, or -1 when the splice and the size disagree, the file grew past an
 * end inside a page, or the splice is refused (EINVAL where the file system
 * cannot splice): nothing the program sees has changed then. */
static ssize_t fpipe_fill(int i, int pfd, off_t off, size_t n)
{
	size_t k = 0;
	for (int zeros = 0; k < n;) {
		ssize_t r = zc_sock_pipe_from_file(i, pfd, off + (off_t)k, n - k);
		if (r < 0)
			return k > 0 ? (ssize_t)k : -1; /* read too stops at an error */
		k += (size_t)r;
		if (k == n || (r == 0 && ++zeros > 2))
			break;
		struct stat now;
		int saved = errno;
		int ok = zc_fstat(pfd, &now) == 0;
		errno = saved;
		if (!ok)
			return -1;
		if (now.st_size <= off + (off_t)k)
			return (ssize_t)k; /* the end: read() returns k too */
		if (k & (zc_page - 1))
			return -1; /* on from inside a page: P would hold it in two buffers */
	}
	return k == n ? (ssize_t)k : -1;
}

enum zc_defer_result zc_phantom_defer_fpipe(int fd, int pin, void *buf, size_t n, off_t off,
					    const struct stat *st, int stream, size_t *got)
{
	uintptr_t b = (uintptr_t)buf;
	int pfd = zc_pin_fd(pin);
	if (pfd < 0 || free_slots() < 2)
		return ZC_DEFER_PLAIN;
	int saved = errno;
	int i = zc_sock_pipe_take(n);
	if (i < 0)
		return ZC_DEFER_PLAIN;
	ssize_t k = fpipe_fill(i, pfd, off, n);
	if (k < 0) {
		zc_sock_pipe_put(i);
		errno = saved;
		return ZC_DEFER_PLAIN;
	}
	if ((size_t)k < n) {
		/* The file's end, once per file: the buffer gets its bytes, as
		 * the plain read gives them; the rest of it keeps its own. */
		if (k > 0) {
			zc_phantom_materialize(b, b + (size_t)k);
			if (zc_sock_pipe_fill(i, buf, (size_t)k) != 0)
				zc_log(1, "defer: pipe %d lost bytes", i); /* it holds them */
		}
		zc_sock_pipe_put(i);
		errno = saved;
		*got = (size_t)k;
		return ZC_DEFER_OK;
	}
	int already = guarded_throughout(b, b + n);
	if (!already) {
		/* Mapped or ordinary pages: ordinary memory with their bytes,
		 * then guarded (a failure leaves them as they are). */
		zc_phantom_materialize(b, b + n);
		if (REAL(mprotect)(buf, n, PROT_NONE) != 0) {
			zc_sock_pipe_put(i);
			errno = saved;
			return ZC_DEFER_PLAIN;
		}
	}
	remove_range(b, b + n, LEAVE_DROP); /* the new record replaces them */
	struct zc_phantom *p = record_new(ZC_PH_GUARD, b, b + n, st, fd, pin, off, stream);
	p->fpipe = i;
	p->fhead = b;
	zc_guard_live++;
	ZC_ADD(pipe_reads, 1);
	zc_log(3, "defer: fd %d off %ld len %zu -> pipe %d, %zu guarded pages%s", fd, (long)off, n,
	       i, n / zc_page, already ? " (kept)" : "");
	errno = saved;
	*got = n;
	return ZC_DEFER_OK;
}

static struct zc_phantom *same_record(const struct zc_phantom *p)
{
	for (int j = 0; j < tab_top; j++)
		if (tab[j].len == p->len && tab[j].addr == p->addr && tab[j].serial == p->serial)
			return &tab[j];
	return NULL;
}

int zc_phantom_fpipe_take(const struct zc_phantom *p)
{
	struct zc_phantom *q = same_record(p);
	if (!q || q->fpipe < 0 || q->fpipe != p->fpipe || q->fhead != p->fhead)
		return -1;
	q->fpipe = -1; /* the caller's now */
	return 0;
}

void zc_phantom_fpipe_back(const struct zc_phantom *p, uintptr_t head)
{
	struct zc_phantom *q = same_record(p);
	uintptr_t e = p->addr + p->len;
	if (q && q->fpipe < 0 && head < e && zc_sock_pipe_bytes(p->fpipe) == e - head) {
		q->fpipe = p->fpipe;
		q->fhead = head;
		return;
	}
	int saved = errno;
	zc_sock_pipe_put(p->fpipe);
	errno = saved;
}

/*
 * The pages of an old record below page_down(hi) are the new read's: its
 * pipe lets go of their bytes (into /dev/null, no copy), the rest of its
 * pages get theirs (the plain read leaves the old bytes there), and the
 * slot stays as a hollow record over the pages given up, still PROT_NONE.
 * They lie in [page_up(lo), page_down(hi)), the new record's pages, which
 * zc_phantom_defer_pipe then guards without an mprotect (guarded_throughout):
 * a steady relay (same buffer, same size) makes no call here but the
 * drain, where it made an mmap (zero pages) and an mprotect (guarded
 * again) per chunk.  The pages hold none of the old record's bytes (those
 * were only ever in its pipe; a guarded page is never written), and every
 * way they get bytes replaces them whole: guard_fill from the new
 * record's pipe, or zero pages where the read does not keep them
 * (leave: a hollow record materializes as zeros, then the read fills
 * them).  Other threads cannot look meanwhile: they fault, and wait for
 * the lock, held from here to the new record.
 */
void zc_phantom_pipe_overwrite(uintptr_t lo, uintptr_t hi)
{
	uintptr_t x = page_down(hi);
	int saved = errno;
	for (int i = 0; i < tab_top; i++) {
		struct zc_phantom *p = &tab[i];
		if (p->len == 0 || p->pipe < 0 || p->addr < lo || p->addr >= x)
			continue;
		uintptr_t e = p->addr + p->len, cut = e < x ? e : x;
		if (zc_sock_pipe_skip(p->pipe, cut - p->addr) != 0)
			continue; /* left whole: remove_range gives it its bytes */
		if (cut < e)
			leave(p, cut, e - cut, LEAVE_MATERIALIZE); /* the pipe's rest, in order */
		zc_sock_pipe_put(p->pipe); /* empty now */
		p->pipe = -1;
		fpipe_drop(p);
		zc_edges_drop(p);
		p->len = cut - p->addr;
		p->hollow = 1;
	}
	errno = saved;
}

void zc_phantom_hollow_end(void)
{
	for (int i = 0; i < tab_top; i++)
		if (tab[i].len && tab[i].hollow) {
			zc_log(1, "sock: hollow pages at %p left by a read", (void *)tab[i].addr);
			remove_range(tab[i].addr, tab[i].addr + tab[i].len, LEAVE_MATERIALIZE);
		}
}

enum zc_defer_result zc_phantom_defer(int fd, int pin, void *buf, size_t n, off_t off,
				      const struct stat *st, int stream, size_t *got, int *why,
				      int guard_aligned)
{
	int pfd = zc_pin_fd(pin);
	uintptr_t b = (uintptr_t)buf;
	*why = -1;
	if (st->st_size <= off)
		return ZC_DEFER_PLAIN; /* EOF: the plain read says so */
	size_t k = (uint64_t)(st->st_size - off) < n ? (size_t)(st->st_size - off) : n;
	/* A file page cannot be mapped at a buffer page whose offset within the
	 * page differs from the file's: such buffers are guarded instead, if
	 * allowed (ZCOPY_GUARD). */
	int misaligned = ((b - (uintptr_t)off) & (zc_page - 1)) != 0;
	int guard = misaligned || guard_aligned;
	if (misaligned && (!zc_cfg.guard || !zc_guard_thread_ok())) {
		*why = ZC_FB_ALIGNMENT;
		return ZC_DEFER_PLAIN;
	}
	uintptr_t ps = page_up(b), pe = page_down(b + k);
	if (pe <= ps) {
		*why = ZC_FB_TOO_SMALL;
		return ZC_DEFER_PLAIN;
	}
	/* Room for the new record and for one split of an old one. */
	if (free_slots() < 2) {
		*why = ZC_FB_TOO_MANY;
		return ZC_DEFER_PLAIN;
	}
	int saved = errno;
	size_t head = ps - b, tail = b + k - pe;
	/* The partial pages are read for real: a guarded page there (an earlier
	 * read with another layout) would make the kernel fail with EFAULT. */
	if (zc_guard_live && head)
		zc_phantom_guard_materialize(b, ps);
	if (zc_guard_live && tail)
		zc_phantom_guard_materialize(pe, b + k);
	if ((head && pread_all(pfd, buf, head, off)) ||
	    (tail && pread_all(pfd, (void *)pe, tail, off + (off_t)(pe - b)))) {
		errno = saved;
		*why = ZC_FB_MAP_FAILED;
		/* A claimed size the file does not reach (the last chunk): the
		 * preads above wrote only bytes a plain read writes too. */
		return st->st_blocks == ZC_SIZE_CLAIMED ? ZC_DEFER_SHORT : ZC_DEFER_PLAIN;
	}
	if (guard)
		return guard_defer(fd, pin, ps, pe, off + (off_t)(ps - b), st, stream, k, got, why,
				   b);
	remove_range(ps, pe, LEAVE_DROP); /* the new mapping replaces them */
	void *m = REAL(mmap)((void *)ps, pe - ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, pfd,
			     off + (off_t)(ps - b));
	if (m == MAP_FAILED) {
		zc_log(2, "defer: mmap of fd %d failed: errno %d", fd, errno);
		/* Checks that fail leave the old pages in place; make sure the range
		 * is ordinary memory again in any case before the plain read. */
		if (errno != EACCES && errno != ENODEV && errno != EINVAL && errno != EPERM)
			anon_zero(ps, pe - ps);
		errno = saved;
		*why = ZC_FB_MAP_FAILED;
		return ZC_DEFER_PLAIN;
	}
	record_new(ZC_PH_MAP, ps, pe, st, fd, pin, off + (off_t)(ps - b), stream);
	zc_log(3, "defer: fd %d off %ld len %zu -> %zu phantom pages", fd, (long)off, k,
	       (pe - ps) / zc_page);
	errno = saved;
	*got = k;
	return ZC_DEFER_OK;
}

/* ---- leaving the phantom state ------------------------------------------- */

void zc_phantom_drop(uintptr_t lo, uintptr_t hi)
{
	remove_range(lo, hi, LEAVE_DROP);
}

void zc_phantom_zero(uintptr_t lo, uintptr_t hi)
{
	remove_range(lo, hi, LEAVE_ZERO);
}

void zc_phantom_freed(uintptr_t lo, uintptr_t hi)
{
	/* Only the freed block's own bytes: the pages at its ends hold other
	 * blocks (python's next buffer starts in the last page of the one it
	 * frees), whose kept ends stay theirs. */
	drop_edges(lo, hi);
	remove_pages(lo, hi, LEAVE_ZERO);
}

void zc_phantom_materialize(uintptr_t lo, uintptr_t hi)
{
	remove_range(lo, hi, LEAVE_MATERIALIZE);
}

int zc_phantom_of_file(dev_t dev, ino_t ino)
{
	if (zc_inflight_of_file(dev, ino))
		return 1;
	for (int i = 0; i < tab_top; i++)
		if (tab[i].len && tab[i].dev == dev && tab[i].ino == ino)
			return 1;
	return 0;
}

void zc_phantom_file_changing(dev_t dev, ino_t ino, off_t off, off_t len)
{
	for (int i = 0; i < tab_top; i++) {
		struct zc_phantom *p = &tab[i];
		if (p->len == 0 || p->dev != dev || p->ino != ino)
			continue;
		/* The kept partial pages stand for the old bytes no more. */
		if (zc_edges_in_file(p, off, len))
			zc_edges_drop(p);
		if (p->off + (off_t)p->len <= off || (len > 0 && p->off >= off + len))
			continue;
		uintptr_t a = p->addr, e = p->addr + p->len;
		remove_range(a, e, LEAVE_MATERIALIZE);
	}
	/* Writes reading the range from the file right now finish their call
	 * first, and send the rest from their (now materialized) buffers. */
	zc_inflight_changing(dev, ino, off, len);
}

void zc_phantom_fd_closed(int fd)
{
	/* Guarded pages hold nothing: they get their bytes while the pin can
	 * still read them. */
	for (int i = 0; i < tab_top; i++)
		if (tab[i].len && tab[i].fd == fd && tab[i].kind == ZC_PH_GUARD)
			remove_range(tab[i].addr, tab[i].addr + tab[i].len, LEAVE_MATERIALIZE);
	/* Its pin goes too: zcopy keeps nothing open that the program closed. */
	for (int i = 0; i < tab_top; i++)
		if (tab[i].len && tab[i].fd == fd) {
			tab[i].fd = -1;
			if (tab[i].pin >= 0)
				zc_pin_put(tab[i].pin);
			tab[i].pin = -1;
		}
}

int zc_phantom_sigbus(uintptr_t addr)
{
	for (int i = 0; i < tab_top; i++) {
		uintptr_t a = tab[i].addr;
		size_t len = tab[i].len;
		if (len && tab[i].kind == ZC_PH_MAP && addr >= a && addr < a + len) {
			int saved = errno;
			anon_zero(page_down(addr), zc_page);
			errno = saved;
			return 1;
		}
	}
	return 0;
}

/* ---- guards -------------------------------------------------------------- */

int zc_phantom_guard_materialize(uintptr_t lo, uintptr_t hi)
{
	int stream = -1, any = 0;
	int saved = errno;
	for (int i = 0; i < tab_top; i++) {
		struct zc_phantom *p = &tab[i];
		if (p->len == 0 || p->kind != ZC_PH_GUARD || p->addr >= hi || p->addr + p->len <= lo)
			continue;
		if (!any)
			stream = p->stream;
		any = 1;
		uintptr_t a = p->addr > lo ? p->addr : lo;
		uintptr_t e = p->addr + p->len < hi ? p->addr + p->len : hi;
		remove_range(a, e, LEAVE_MATERIALIZE);
	}
	errno = saved;
	return stream;
}

int zc_phantom_guard_at(uintptr_t addr)
{
	for (int i = 0; i < tab_top; i++) {
		const struct zc_phantom *p = &tab[i];
		if (p->len && p->kind == ZC_PH_GUARD && addr >= p->addr && addr < p->addr + p->len)
			return p->stream;
	}
	return -2;
}

int zc_phantom_guard_maybe(uintptr_t lo, uintptr_t hi)
{
	/* Without the lock: a record made or removed meanwhile is one for
	 * memory another thread is changing under this very call. */
	for (int i = 0; i < tab_top; i++) {
		const volatile struct zc_phantom *p = &tab[i];
		uintptr_t a = p->addr;
		size_t len = p->len;
		if (len && p->kind == ZC_PH_GUARD && a < hi && a + len > lo)
			return 1;
	}
	return 0;
}
