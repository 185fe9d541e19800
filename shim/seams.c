/*
 * seams.c - materialized ranges, and making them one mapping again.
 *
 * anon_copy (phantom.c) swaps in pages made elsewhere: they arrive as a
 * mapping of their own, which the kernel never merges with the program's
 * memory around it (they belong to another anon_vma and carry the page
 * offset of the address they were made at).  That is invisible except to
 * mremap, which refuses with EFAULT to resize a range that spans several
 * mappings, where the program's one mapping would have been resized.  So
 * every materialized range is remembered as a seam, and before the program
 * resizes or moves memory holding one, zc_seams_mend() makes it one mapping
 * with its neighbours again.  (The swap itself stays atomic: another thread,
 * or the kernel in another thread's write, never sees anything but the
 * bytes.)  All functions run with the engine lock held.
 */
#include "seams.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "ownfd.h"
#include "phantom.h"
#include "real.h"

static uintptr_t page_down(uintptr_t a) { return a & ~(uintptr_t)(zc_page - 1); }
static uintptr_t page_up(uintptr_t a) { return page_down(a + zc_page - 1); }

#define ZC_MAX_SEAMS 64
static struct { uintptr_t lo, hi; } seams[ZC_MAX_SEAMS];
volatile int zc_seams;

void zc_seam_add(uintptr_t lo, uintptr_t hi)
{
	int empty = -1;
	for (int i = 0; i < ZC_MAX_SEAMS; i++) {
		if (seams[i].hi == 0) {
			if (empty < 0)
				empty = i;
			continue;
		}
		if (seams[i].hi < lo || seams[i].lo > hi)
			continue;
		/* Touching or overlapping: one entry covers both (swept again
		 * below, in case it now touches another). */
		if (seams[i].lo < lo)
			lo = seams[i].lo;
		if (seams[i].hi > hi)
			hi = seams[i].hi;
		seams[i].hi = 0;
		zc_seams--;
		i = -1;
		empty = -1;
	}
	if (empty < 0) {
		/* Full: this range keeps its seam (an mremap over it fails as it
		 * did before seams were mended). */
		zc_log(2, "seam %p+%zu not recorded: table full", (void *)lo, (size_t)(hi - lo));
		return;
	}
	seams[empty].lo = lo;
	seams[empty].hi = hi;
	zc_seams++;
}

/* Takes [lo, hi) out of the seam table. */
static void seam_cut(uintptr_t lo, uintptr_t hi)
{
	for (int i = 0; i < ZC_MAX_SEAMS; i++) {
		uintptr_t a = seams[i].lo, e = seams[i].hi;
		if (e == 0 || a >= hi || e <= lo)
			continue;
		if (a < lo && e > hi) {
			/* The middle goes: the right part needs an entry of its own;
			 * without one it is forgotten (never mended, never wrong). */
			seams[i].hi = lo;
			for (int j = 0; j < ZC_MAX_SEAMS; j++)
				if (seams[j].hi == 0) {
					seams[j].lo = hi;
					seams[j].hi = e;
					zc_seams++;
					break;
				}
		} else if (a < lo) {
			seams[i].hi = lo;
		} else if (e > hi) {
			seams[i].lo = hi;
		} else {
			seams[i].hi = 0;
			zc_seams--;
		}
	}
}

void zc_seams_forget(uintptr_t lo, uintptr_t hi)
{
	seam_cut(page_down(lo), page_up(hi));
}

/* The mapping around addr, from /proc/self/maps: its end, its protection,
 * and whether it is private anonymous memory.  Read with a small buffer on
 * the stack (no stdio, no malloc).  Returns 0, or -1 if addr is unmapped or
 * the file cannot be read. */
static uintptr_t hex_until(const char **q, char stop)
{
	uintptr_t v = 0;
	for (; **q != stop; (*q)++)
		v = v * 16 + (uintptr_t)(**q <= '9' ? **q - '0' : (**q | 0x20) - 'a' + 10);
	return v;
}

/* One line of /proc/self/maps, [line, nl): "start-end perms offset dev inode
 * [path]".  If it holds addr, fills the answers and returns 1. */
static int maps_line(const char *line, const char *nl, uintptr_t addr, uintptr_t *end, int *prot,
		     int *anon)
{
	const char *q = line;
	uintptr_t s = hex_until(&q, '-');
	q++;
	uintptr_t e = hex_until(&q, ' ');
	if (addr < s || addr >= e)
		return 0;
	const char *perm = q + 1;
	uintptr_t ino = 0;
	q += 6; /* " rwxp" */
	for (int f = 0; f < 3 && q < nl; f++) { /* offset, dev, inode */
		while (q < nl && *q == ' ')
			q++;
		ino = 0;
		while (q < nl && *q != ' ')
			ino = ino * 10 + (uintptr_t)(*q - '0'), q++;
	}
	while (q < nl && *q == ' ')
		q++;
	*end = e;
	*prot = (perm[0] == 'r' ? PROT_READ : 0) | (perm[1] == 'w' ? PROT_WRITE : 0) |
		(perm[2] == 'x' ? PROT_EXEC : 0);
	*anon = perm[3] == 'p' && ino == 0 && q == nl;
	return 1;
}

static int maps_fd = -1; /* kept (ownfd.h), or -1 */
static int maps_once = -1; /* this use only, under a small RLIMIT_NOFILE */

static int zc_maps_begin(void)
{
	int *slot = &maps_fd;
	if (__atomic_load_n(&maps_fd, __ATOMIC_ACQUIRE) < 0) {
		if (!zc_ownfd_keep_ok())
			slot = &maps_once;
		int fd = REAL(open)("/proc/self/maps", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || zc_ownfd_take(fd, slot, 0) < 0)
			return -1;
	}
	return zc_ownfd_use(slot);
}

static ssize_t zc_maps_pread(int fd, void *buf, size_t n, off_t off)
{
	ssize_t r;
	while ((r = REAL(pread)(fd, buf, n, off)) < 0 && errno == EINTR)
		;
	return r;
}

static void zc_maps_end(int fd)
{
	if (fd >= 0 && fd == maps_once) {
		zc_ownfd_unuse(&maps_once);
		zc_ownfd_close(&maps_once);
		return;
	}
	zc_ownfd_unuse(&maps_fd);
}

int zc_maps_each(char *buf, size_t size, int (*each)(const char *line, const char *nl, void *arg),
		 void *arg)
{
	int fd = zc_maps_begin();
	if (fd < 0)
		return -1;
	size_t have = 0;
	off_t off = 0;
	int r = 0;
	while (r == 0) {
		ssize_t got = zc_maps_pread(fd, buf + have, size - have, off);
		if (got <= 0)
			break;
		off += got;
		have += (size_t)got;
		char *line = buf, *nl;
		while (r == 0 && (nl = memchr(line, '\n', have - (size_t)(line - buf))) != NULL) {
			r = each(line, nl, arg);
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == size)
			break; /* a line longer than the buffer: give up */
	}
	zc_maps_end(fd);
	return r;
}

void zc_maps_after_fork_child(void)
{
	zc_ownfd_close(&maps_fd);
}

/* What maps_find asks, and its answers. */
struct find {
	uintptr_t addr;
	uintptr_t *end;
	int *prot;
	int *anon;
};

static int find_line(const char *line, const char *nl, void *arg)
{
	struct find *f = arg;
	return maps_line(line, nl, f->addr, f->end, f->prot, f->anon);
}

/* The mapping that holds addr: its end, protection and whether it is
 * anonymous.  Returns 0, or -1 if none was found. */
static int maps_find(uintptr_t addr, uintptr_t *end, int *prot, int *anon)
{
	char buf[2048];
	struct find f = { addr, end, prot, anon };
	return zc_maps_each(buf, sizeof buf, find_line, &f) == 1 ? 0 : -1;
}

/* Makes [lo, hi), one private anonymous mapping of ours, part of the
 * program's mapping around it: fresh anonymous memory mapped there (which
 * the kernel merges with compatible neighbours) receives the bytes. */
static int mend_piece(uintptr_t lo, uintptr_t hi, int prot)
{
	size_t len = hi - lo;
	/* The copy is shared memory: a private one placed right below lo
	 * would be merged with the new memory instead of the program's. */
	void *tmp = REAL(mmap)(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);
	if (tmp == MAP_FAILED)
		return -1;
	if (!(prot & PROT_READ) && REAL(mprotect)((void *)lo, len, prot | PROT_READ) != 0) {
		REAL(munmap)(tmp, len);
		return -1;
	}
	memcpy(tmp, (void *)lo, len);
	if (REAL(mmap)((void *)lo, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
		/* Nothing was replaced. */
		if (!(prot & PROT_READ))
			REAL(mprotect)((void *)lo, len, prot);
		REAL(munmap)(tmp, len);
		return -1;
	}
	memcpy((void *)lo, tmp, len);
	if (prot != (PROT_READ | PROT_WRITE))
		REAL(mprotect)((void *)lo, len, prot); /* merges once the flags agree */
	REAL(munmap)(tmp, len);
	return 0;
}

void zc_seams_mend(uintptr_t lo, uintptr_t hi)
{
	int saved = errno;
	lo = page_down(lo);
	hi = page_up(hi);
	for (int i = 0; i < ZC_MAX_SEAMS; i++) {
		if (seams[i].hi == 0 || seams[i].lo >= hi || seams[i].hi <= lo)
			continue;
		uintptr_t a = seams[i].lo > lo ? seams[i].lo : lo;
		uintptr_t e = seams[i].hi < hi ? seams[i].hi : hi;
		/* The seam may hold several mappings (one per materialization,
		 * or the program changed the protection of part of it).  Each
		 * run of them with one protection is replaced at once: memory
		 * mapped over a whole run merges with the program's mapping at
		 * once, while a piece faulted in on its own would get an
		 * anon_vma of its own and stay apart. */
		uintptr_t run = a;
		int run_prot = -1;
		while (a < e) {
			uintptr_t vend;
			int prot, anon;
			if (maps_find(a, &vend, &prot, &anon) != 0)
				break;
			if (vend > e)
				vend = e;
			if (!anon || prot != run_prot) {
				if (run_prot >= 0 && run < a)
					mend_piece(run, a, run_prot);
				run = a;
				run_prot = anon ? prot : -1;
			}
			a = vend;
		}
		if (run_prot >= 0 && run < a)
			mend_piece(run, a, run_prot);
	}
	seam_cut(lo, hi);
	errno = saved;
}
