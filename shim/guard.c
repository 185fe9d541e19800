/*
 * guard.c - the guard strategy's runtime: faults on guarded pages, guarded
 * memory handed to the kernel, and which memory may be guarded.
 *
 * Guard records themselves (making pages PROT_NONE, giving them their bytes)
 * live in phantom.c with the other records; this file answers the questions
 * the rest of the library asks about them:
 *  - a SIGSEGV at an address: ours (give the page its bytes, retry the
 *    access) or the program's (signals.c hands it on exactly as without
 *    zcopy);
 *  - a wrapped call about to pass [p, p+n) to the kernel: guarded pages there
 *    get their bytes first, since the kernel would fail with EFAULT where
 *    the program expects its data;
 *  - may this buffer be guarded: not a thread's stack, not shared memory.
 *
 * Invariants: the engine lock is taken only with zc_inside set and never by
 * a thread that holds it; errno is kept on every path.
 */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "detect.h"
#include <pthread.h>
#include "engine.h"
#include "log.h"
#include "real.h"
#include "seams.h"
#include "signals.h"

/* ---- pages released a moment ago ----------------------------------------- */

/*
 * A fault on a guarded page can race with another thread giving that page
 * its bytes: by the time the handler holds the lock the record is gone, and
 * the fault was ours all the same (the access only needs to be retried).
 * The ranges released last are remembered for that, and past them the page
 * itself is asked (readable_now); a second fault at the same address in a
 * row is the program's own (its memory was reprotected by a call we do not
 * see), and is handed on.
 *
 * "In a row" is at one depth of the program's handlers.  A program handler
 * with SA_NODEFER whose access faults while the timer fires again gets two
 * frames at once: the kernel delivers the fault first and the timer on top
 * of it, so the nested handler runs before zcopy's answer to the fault.
 * Three deep, all at one address: the innermost fault gives the page its
 * bytes, the middle one finds no record and retries, and the outermost,
 * answered last, meets that same address again.  It is no repeat: it
 * happened before the middle one's retry, at a shallower depth.  Handing
 * it on installed SIG_DFL, and the program died of SIGSEGV at its next
 * guarded page (`sig_defer readback`, 1 run in 50 to 300).  So a fault at
 * the address retried last is handed on only when it comes at the same or
 * a deeper handler depth (zc_sig_handler_depth) than that retry.
 */
#define TOMBS 16
static struct { uintptr_t lo, hi; } tomb[TOMBS];
static unsigned tomb_next;
static __thread uintptr_t last_retry __attribute__((tls_model("initial-exec")));
static __thread int last_retry_depth __attribute__((tls_model("initial-exec")));

void zc_guard_released(uintptr_t lo, uintptr_t hi)
{
	tomb[tomb_next % TOMBS].lo = lo;
	tomb[tomb_next % TOMBS].hi = hi;
	tomb_next++;
}

static int recently_released(uintptr_t a)
{
	for (int i = 0; i < TOMBS; i++)
		if (a >= tomb[i].lo && a < tomb[i].hi)
			return 1;
	return 0;
}

/* ---- faults -------------------------------------------------------------- */

/* The program (or a call it made) used the data of a guarded read: its
 * stream backs off, once per read however many pages it touches (as the
 * map strategy counts one touched write). */
static void touched(int stream)
{
	if (stream >= 0 && stream < ZC_STREAMS && zc_det_state.s[stream].engaged)
		zc_det_touched(&zc_det_state, &zc_det_state.s[stream]);
}

/* Can addr be read now?  A fault on a guarded page can be answered before
 * its own handler gets to the table: a handler of the program installed
 * with SA_NODEFER, run again at the start of zcopy's SIGSEGV handler,
 * touches the same page and its fault gives the page its bytes; after more
 * pages than the remembered releases hold, only the page itself tells.
 * (process_vm_readv on itself: the kernel's access fails instead of
 * faulting.) */
static int readable_now(uintptr_t addr)
{
	char b;
	struct iovec mine = { &b, 1 }, there = { (void *)addr, 1 };
	int saved = errno;
	long n = syscall(SYS_process_vm_readv, getpid(), &mine, 1UL, &there, 1UL, 0UL);
	errno = saved;
	return n == 1;
}

int zc_guard_fault(uintptr_t addr)
{
	if (zc_lock_held())
		return 0; /* zcopy itself never touches guarded pages */
	int hit = 0;
	struct zc_nest nest = zc_nest_enter();
	zc_lock();
	int stream = zc_phantom_guard_at(addr);
	if (stream != -2) {
		uintptr_t pg = addr & ~(uintptr_t)(zc_page - 1);
		zc_phantom_guard_materialize(pg, pg + zc_page);
		/* The program looks at its data: the stream backs off as for a
		 * touched phantom page of the map strategy. */
		touched(stream);
		hit = 1;
		last_retry = 0;
	} else if ((last_retry != addr || zc_sig_handler_depth < last_retry_depth) &&
		   (recently_released(addr) || readable_now(addr))) {
		hit = 1;
		last_retry = addr;
		last_retry_depth = zc_sig_handler_depth;
	}
	zc_unlock();
	zc_nest_leave(nest);
	return hit;
}

/* ---- the kernel is about to access caller memory ------------------------- */

void zc_guard_materialize(uintptr_t lo, uintptr_t hi)
{
	/* Most calls pass memory that was never guarded (zcopy's own calls
	 * among them): they cost a scan of the table, not the lock. */
	if (zc_lock_held() || !zc_phantom_guard_maybe(lo, hi))
		return; /* held: a signal handler's call while zcopy holds the lock */
	struct zc_nest nest = zc_nest_enter();
	zc_lock();
	touched(zc_phantom_guard_materialize(lo, hi));
	zc_unlock();
	zc_nest_leave(nest);
}

void zc_guard_before_write_iov(const struct iovec *iov, size_t cnt)
{
	if (!__builtin_expect(zc_guard_live, 0) || !iov)
		return;
	for (size_t i = 0; i < cnt && i < 1024; i++) {
		uintptr_t lo = (uintptr_t)iov[i].iov_base;
		size_t n = iov[i].iov_len;
		uintptr_t hi = lo + n < lo ? UINTPTR_MAX : lo + n;
		if (!lo || !n || zc_lock_held() || !zc_phantom_guard_maybe(lo, hi))
			continue;
		struct zc_nest nest = zc_nest_enter();
		zc_lock();
		zc_phantom_guard_materialize(lo, hi);
		zc_unlock();
		zc_nest_leave(nest);
	}
}

void zc_guard_before_kernel_iov(const struct iovec *iov, size_t cnt)
{
	if (!__builtin_expect(zc_guard_live, 0) || !iov)
		return;
	for (size_t i = 0; i < cnt && i < 1024; i++)
		zc_guard_before_kernel(iov[i].iov_base, iov[i].iov_len);
}

void zc_guard_stop(const char *why)
{
	if (!zc_cfg.guard || zc_lock_held())
		return; /* held: a handler that interrupted zcopy itself */
	int saved = errno;
	struct zc_nest nest = zc_nest_enter();
	zc_lock();
	zc_cfg.guard = 0; /* engine.c and phantom.c make no new guards */
	touched(zc_phantom_guard_materialize(0, UINTPTR_MAX));
	zc_unlock();
	zc_nest_leave(nest);
	zc_log(2, "guard mode stops: %s", why);
	errno = saved;
}

/* ---- which memory may be guarded ----------------------------------------- */

/* The calling thread's mask was read once and did not block SIGSEGV. */
static __thread int mask_seen_ok __attribute__((tls_model("initial-exec")));

int zc_guard_thread_ok(void)
{
	/* While sigmask.c keeps SIGSEGV out of every mask installed through
	 * libc (zc_sigmask_active: guard mode's handler is in place), a thread's
	 * mask can come to block it only by a raw rt_sigprocmask, which makes a
	 * touch of a guarded page fatal at any time (README, Limitations): the
	 * mask is read once per thread, not once per read (a system call per
	 * chunk in the steady state). */
	if (mask_seen_ok && zc_sigmask_active)
		return 1;
	/* A fault with SIGSEGV blocked is fatal whatever the handler: the
	 * kernel resets the disposition and kills.  A thread that blocks it
	 * (workers that block every signal) is not given guarded pages. */
	sigset_t now;
	int saved = errno;
	int ok = REAL(pthread_sigmask)(SIG_BLOCK, NULL, &now) == 0 && !sigismember(&now, SIGSEGV);
	errno = saved;
	mask_seen_ok = ok && zc_sigmask_active;
	return ok;
}

/* The last regions found fit to guard (whole mappings; hi == 0: empty).
 * More than one: programs that alternate buffers (nginx's output_buffers 2,
 * a copier with two buffers in turn) would otherwise read the maps for
 * every other chunk.  Any change of the mappings empties them all. */
#define OK_SLOTS 8
static struct {
	uintptr_t lo, hi;
} ok[OK_SLOTS];
static unsigned ok_next;

void zc_guard_maps_changed(void)
{
	memset(ok, 0, sizeof ok);
	/* Memory a released guard was on may now be the program's PROT_NONE. */
	memset(tomb, 0, sizeof tomb);
}

static uintptr_t hex(const char **p)
{
	uintptr_t v = 0;
	for (;; (*p)++) {
		char c = **p;
		if (c >= '0' && c <= '9')
			v = v * 16 + (uintptr_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uintptr_t)(c - 'a' + 10);
		else
			return v;
	}
}

struct vma {
	uintptr_t lo, hi;
	char perms[4];
	int named;   /* has a path or a [name] */
	int special; /* a [name] other than [heap] */
	int anon;    /* no path: anonymous memory, or the [heap] */
};

/* Parses one /proc/self/maps line ("lo-hi rwxp off dev ino   path"). */
static int parse_line(const char *s, const char *end, struct vma *v)
{
	v->lo = hex(&s);
	if (s >= end || *s != '-')
		return -1;
	s++;
	v->hi = hex(&s);
	if (end - s < 5)
		return -1;
	memcpy(v->perms, s + 1, 4);
	/* Skip offset, device and inode: three more fields. */
	s += 5;
	for (int f = 0; f < 3; f++) {
		while (s < end && *s == ' ')
			s++;
		while (s < end && *s != ' ')
			s++;
	}
	while (s < end && *s == ' ')
		s++;
	v->named = s < end;
	v->special = s < end && *s == '[' && !(end - s >= 6 && memcmp(s, "[heap]", 6) == 0);
	v->anon = !v->named || (v->named && !v->special && *s == '[');
	return 0;
}

enum verdict { V_MORE, V_OK, V_NO };

/* The largest stack guard taken for one (glibc's default is a page;
 * programs may ask for more with pthread_attr_setguardsize). */
#define GUARD_MAX ((uintptr_t)1 << 20)

struct walk {
	uintptr_t lo, hi;  /* the range asked about */
	uintptr_t covered; /* the range is fine up to here (0 = not started) */
	uintptr_t first;   /* start of the first mapping of the range */
	struct vma prev;   /* the mapping before the current one */
	int have_prev;
	enum verdict verdict; /* V_MORE until the walk knows */
};

static int ours(uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t a = lo; a < hi; a += zc_page)
		if (zc_phantom_guard_at(a) == -2)
			return 0;
	return 1;
}

static enum verdict step(struct walk *w, const struct vma *v)
{
	if (v->hi <= w->lo)
		return V_MORE;
	if (w->covered == 0) {
		if (v->lo > w->lo)
			return V_NO; /* unmapped below */
		/* A thread's stack: glibc puts a small PROT_NONE guard right below
		 * it.  (The reserve of a malloc arena is PROT_NONE too, but above
		 * its memory and large.) */
		if (w->have_prev && w->prev.hi == v->lo && w->prev.anon &&
		    w->prev.hi - w->prev.lo <= GUARD_MAX && memcmp(w->prev.perms, "---p", 4) == 0 &&
		    !ours(w->prev.lo, w->prev.hi))
			return V_NO;
		w->first = v->lo;
	} else if (v->lo != w->covered) {
		return V_NO; /* a hole */
	}
	int rw = v->perms[0] == 'r' && v->perms[1] == 'w' && v->perms[3] == 'p';
	if (rw && v->special)
		return V_NO; /* [stack], [vvar], ... */
	if (!rw) {
		uintptr_t a = v->lo > w->lo ? v->lo : w->lo, e = v->hi < w->hi ? v->hi : w->hi;
		if (memcmp(v->perms, "---p", 4) != 0 || !v->anon || !ours(a, e))
			return V_NO;
	}
	w->covered = v->hi;
	return w->covered >= w->hi ? V_OK : V_MORE;
}

/* One line of the walk: its verdict, 1 once it is known. */
static int walk_line(const char *line, const char *nl, void *arg)
{
	struct walk *w = arg;
	struct vma m;
	if (parse_line(line, nl, &m) == 0) {
		w->verdict = step(w, &m);
		w->prev = m;
		w->have_prev = 1;
	}
	return w->verdict != V_MORE;
}

/* Stacks the program supplies itself (zc_guard_never): /proc/self/maps
 * shows them as ordinary memory, and a frame that returns leaves guarded
 * pages where the stack grows again (a signal frame there cannot be
 * written: the process dies). */
#define NEVER_SLOTS 32
static struct {
	uintptr_t lo, hi;
} never[NEVER_SLOTS];
static unsigned n_never;

static int a_supplied_stack(uintptr_t lo, uintptr_t hi)
{
	for (unsigned i = 0; i < n_never; i++)
		if (lo < never[i].hi && hi > never[i].lo)
			return 1;
	return 0;
}

void zc_guard_never(const void *p, size_t n, const char *what)
{
	uintptr_t lo = (uintptr_t)p, hi = lo + n;
	if (!zc_cfg.guard || !p || n == 0 || hi < lo || zc_lock_held())
		return; /* held: a handler that interrupted zcopy itself */
	int saved = errno, full = 0;
	struct zc_nest nest = zc_nest_enter();
	zc_lock();
	unsigned i = 0;
	while (i < n_never && !(lo >= never[i].lo && hi <= never[i].hi))
		i++;
	if (i == n_never && n_never == NEVER_SLOTS)
		full = 1;
	else if (i == n_never) {
		never[n_never].lo = lo;
		never[n_never].hi = hi;
		n_never++;
	}
	touched(zc_phantom_guard_materialize(lo, hi)); /* guards made there before */
	zc_unlock();
	zc_nest_leave(nest);
	errno = saved;
	if (full)
		zc_guard_stop(what); /* more stacks than the table holds: no guards at all */
}

void zc_guard_never_gone(uintptr_t lo, uintptr_t hi)
{
	/* A stack freed or unmapped (a thread's alternate stack at its exit, a
	 * coroutine's freed): its slot goes, so that programs that make many
	 * over time do not fill the table. */
	unsigned k = 0;
	for (unsigned i = 0; i < n_never; i++)
		if (!(never[i].lo >= lo && never[i].hi <= hi))
			never[k++] = never[i];
	n_never = k;
}

int zc_guard_memory_ok(uintptr_t lo, uintptr_t hi)
{
	if (n_never && a_supplied_stack(lo, hi))
		return 0;
	for (unsigned i = 0; i < OK_SLOTS; i++)
		if (ok[i].hi && lo >= ok[i].lo && hi <= ok[i].hi)
			return 1;
	int saved = errno;
	static char buf[8192]; /* under the engine lock */
	struct walk w = { .lo = lo, .hi = hi, .verdict = V_MORE };
	zc_maps_each(buf, sizeof buf, walk_line, &w);
	errno = saved;
	if (w.verdict != V_OK)
		return 0;
	ok[ok_next].lo = w.first;
	ok[ok_next].hi = w.covered;
	ok_next = (ok_next + 1) % OK_SLOTS;
	return 1;
}
