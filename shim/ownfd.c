/*
 * ownfd.c - the registry of zcopy's own descriptors (see ownfd.h).
 *
 * Invariants:
 *  - an entry is live when slot != NULL; its fd is open, close-on-exec, and
 *    *slot == fd (both rewritten together, under the lock);
 *  - own_lo is at most the lowest live fd (INT_MAX when none), so the close
 *    wrapper's question costs one compare for the program's own numbers;
 *  - busy counts the threads between zc_ownfd_use and zc_ownfd_unuse; an fd
 *    is moved or closed only when busy is 0 (or when the only user is the
 *    calling thread itself, a signal handler that interrupted it);
 *  - the mutex is held only with every signal blocked, and never across a
 *    call that can wait for anything but the fd table.
 * Nothing here allocates, uses stdio or calls into the engine.
 */
#include "ownfd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cancel.h"
#include "optcache.h"
#include "real.h"

struct entry {
	int *slot; /* NULL = free */
	int fd;
	int busy;   /* threads inside a call on fd */
	int moving; /* a mover waits for busy to drop to 0 */
};

static struct entry tab[ZC_OWNFD_MAX];
static int own_lo = INT_MAX;
static int live;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* The slots this thread is using (nested: a handler that interrupted a use). */
#define USE_DEPTH 40 /* a write uses a pin per phantom it carries (redirect.c), and more */
static __thread int *using[USE_DEPTH] __attribute__((tls_model("initial-exec")));
static __thread int nusing __attribute__((tls_model("initial-exec")));

/* ---- the lock, with signals blocked --------------------------------------- */

/* The raw system call: no wrapper of anyone's in between.  glibc's
 * sigfillset leaves out its two internal signals (cancellation, set*id), so
 * those stay deliverable. */
static void mask_all(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, old, _NSIG / 8);
}

static void unmask(const sigset_t *old)
{
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, old, NULL, _NSIG / 8);
}

/* The cancellation state the mutex was taken in: a condition wait or a
 * close while it is held is no cancellation point (a thread ended there
 * would keep the mutex, and every other thread would wait for it). */
static __thread int lock_cancel __attribute__((tls_model("initial-exec")));

static void lock(sigset_t *old)
{
	int saved = errno;
	mask_all(old);
	int cancel = zc_cancel_off();
	pthread_mutex_lock(&mu);
	lock_cancel = cancel;
	errno = saved;
}

static void unlock(const sigset_t *old)
{
	int saved = errno;
	pthread_mutex_unlock(&mu);
	zc_cancel_on(lock_cancel);
	unmask(old);
	errno = saved;
}

/* ---- fork ----------------------------------------------------------------- */

static sigset_t fork_mask;

/* The process the registry (and the engine's tables) belong to.  A vfork
 * child shares the parent's memory: what it closes is closed in its own fd
 * table only, and it must change nothing of the parent's tables. */
static pid_t owner_pid;

static void fork_prepare(void)
{
	/* The child must not inherit a half-made move. */
	lock(&fork_mask);
}

static void fork_parent(void)
{
	unlock(&fork_mask);
}

static void fork_child(void)
{
	owner_pid = getpid();
	/* The descriptors are inherited; the threads that were using or moving
	 * them are not. */
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	mu = m;
	cv = c;
	for (int i = 0; i < ZC_OWNFD_MAX; i++)
		tab[i].busy = tab[i].moving = 0;
	nusing = 0;
	unmask(&fork_mask);
}

int zc_in_vfork_child(void)
{
	return owner_pid && getpid() != owner_pid;
}

/*
 * A vfork child runs on the thread-local memory of the thread that called
 * vfork, which waits until the child execs or exits: a mark set there by
 * the child is seen by the child's later calls, by no other thread of the
 * parent, and by that thread itself only once the child is gone.
 */
__thread int zc_vfork_renamed __attribute__((tls_model("initial-exec")));

int zc_vfork_child_renames(void)
{
	if (!zc_in_vfork_child())
		return 0;
	zc_vfork_renamed = 1;
	return 1;
}

int zc_vfork_child_renamed_slow(void)
{
	int saved = errno;
	pid_t me = getpid();
	errno = saved;
	if (owner_pid && me != owner_pid)
		return 1;
	/* The parent's thread again: its child has exec'd or exited (a fork
	 * child is the owner of its own copy: fork_child) and its fd table
	 * was never this process's. */
	zc_vfork_renamed = 0;
	return 0;
}

void zc_ownfd_init(void)
{
	static int once;
	owner_pid = getpid();
	if (__atomic_exchange_n(&once, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- placing a descriptor ------------------------------------------------- */

/* Cached (optcache.c): asked on every deferred socket read. */
static int nofile_limit(void)
{
	rlim_t cur;
	if (zc_rlimit_cur(RLIMIT_NOFILE, &cur) != 0)
		return 1024;
	if (cur == RLIM_INFINITY || cur > INT_MAX)
		return INT_MAX;
	return (int)cur;
}

int zc_ownfd_keep_ok(void)
{
	int saved = errno;
	int ok = nofile_limit() >= ZC_OWNFD_KEEP_MIN_LIMIT;
	errno = saved;
	return ok;
}

/*
 * A duplicate of fd at the highest free number below the soft limit and
 * outside [lo, hi], not below half the limit: the program is given such a
 * number by open() only once it holds every number below it.  F_DUPFD gives
 * the lowest free number at or above its argument, so trying from the top
 * down, the first success is the highest free number.  -1 if none.
 */
static int dup_high(int fd, unsigned lo, unsigned hi)
{
	int lim = nofile_limit();
	int floor = lim / 2 > 3 ? lim / 2 : 3;
	int tries = 0;
	for (long t = (long)lim - 1; t >= floor && tries < 64; t--) {
		if ((unsigned long)t >= lo && (unsigned long)t <= hi) {
			t = (long)lo; /* the loop steps below the range */
			continue;
		}
		tries++;
		int r = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, (int)t);
		if (r >= 0) {
			if ((unsigned)r >= lo && (unsigned)r <= hi) {
				REAL(close)(r); /* a number freed meanwhile */
				continue;
			}
			return r;
		}
		if (errno != EMFILE && errno != EINVAL)
			return -1;
	}
	return -1;
}

static void recompute_lo(void)
{
	int lo = INT_MAX, n = 0;
	for (int i = 0; i < ZC_OWNFD_MAX; i++)
		if (tab[i].slot) {
			n++;
			if (tab[i].fd < lo)
				lo = tab[i].fd;
		}
	__atomic_store_n(&own_lo, lo, __ATOMIC_SEQ_CST);
	live = n;
}

/* Where each slot was last found (a guess, checked against the table: a
 * copy loop uses the same few slots every chunk, several times each). */
#define HINTS 16
static int hint[HINTS];

static struct entry *by_slot(const int *slot)
{
	unsigned h = (unsigned)(((uint64_t)(uintptr_t)slot * 0x9e3779b97f4a7c15ull) >> 60); /* HINTS */
	int g = __atomic_load_n(&hint[h], __ATOMIC_RELAXED);
	if (slot && __atomic_load_n(&tab[g].slot, __ATOMIC_ACQUIRE) == slot)
		return &tab[g];
	for (int i = 0; i < ZC_OWNFD_MAX; i++)
		if (__atomic_load_n(&tab[i].slot, __ATOMIC_ACQUIRE) == slot) {
			__atomic_store_n(&hint[h], i, __ATOMIC_RELAXED);
			return &tab[i];
		}
	return NULL;
}

static int self_uses(const struct entry *e)
{
	for (int i = 0; i < nusing && i < USE_DEPTH; i++)
		if (using[i] == e->slot)
			return 1;
	return 0;
}

/*
 * Waits (lock held) until another thread's call on e ends.  The lock and
 * the signal mask are let go every few milliseconds, so a long call (a
 * write into a full pipe) delays this thread's signals by no more than that;
 * meanwhile the entry may change, so callers look it up again.
 */
static void wait_for_users(struct entry *e, sigset_t *old)
{
	struct timespec until;
	__atomic_store_n(&e->moving, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->busy, __ATOMIC_SEQ_CST) == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 20 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000L)
		until.tv_sec++, until.tv_nsec -= 1000000000L;
	pthread_cond_timedwait(&cv, &mu, &until);
	if (__atomic_load_n(&e->busy, __ATOMIC_SEQ_CST) != 0) {
		/* Let pending signals in; a handler may itself use the fd. */
		__atomic_store_n(&e->moving, 0, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&cv);
		unlock(old);
		lock(old);
	}
}

/* One user less; never below 0 (an entry reset at fork or reused). */
static int busy_down(struct entry *e)
{
	int b = __atomic_load_n(&e->busy, __ATOMIC_SEQ_CST);
	while (b > 0 && !__atomic_compare_exchange_n(&e->busy, &b, b - 1, 0, __ATOMIC_SEQ_CST,
						     __ATOMIC_SEQ_CST))
		;
	return b > 0 ? b - 1 : 0;
}

static void unregister(struct entry *e)
{
	__atomic_store_n(&e->slot, NULL, __ATOMIC_RELEASE);
	__atomic_store_n(&e->fd, -1, __ATOMIC_RELAXED);
	e->busy = 0;
	e->moving = 0;
}

int zc_ownfd_take(int fd, int *slot, int keep_src)
{
	sigset_t old;
	int saved = errno, r = -1;

	if (fd < 0 || !slot) {
		if (slot)
			*slot = -1;
		return -1;
	}
	lock(&old);
	struct entry *e = by_slot(slot);
	if (e) {
		r = e->fd; /* registered meanwhile by another thread */
	} else {
		for (int i = 0; i < ZC_OWNFD_MAX && !e; i++)
			if (!tab[i].slot)
				e = &tab[i];
		int nfd = e ? dup_high(fd, 1, 0) : -1;
		if (nfd >= 0) {
			__atomic_store_n(&e->fd, nfd, __ATOMIC_RELAXED);
			e->busy = 0;
			e->moving = 0;
			*slot = nfd;
			__atomic_store_n(&e->slot, slot, __ATOMIC_RELEASE);
			recompute_lo();
			r = nfd;
		}
	}
	if (r < 0)
		*slot = -1;
	unlock(&old);
	if (!keep_src)
		REAL(close)(fd);
	errno = saved;
	return r;
}

static void drop(int *slot, int close_it)
{
	sigset_t old;
	int saved = errno;
	struct entry *e;

	lock(&old);
	/* moving is set before busy is read: a user that raced in either sees
	 * it and steps back, or is seen (the other half is in zc_ownfd_use). */
	while ((e = by_slot(slot)) != NULL) {
		__atomic_store_n(&e->moving, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&e->busy, __ATOMIC_SEQ_CST) || self_uses(e))
			break;
		wait_for_users(e, &old);
	}
	if (e) {
		if (close_it)
			REAL(close)(e->fd);
		unregister(e);
		recompute_lo();
		pthread_cond_broadcast(&cv);
	}
	*slot = -1;
	unlock(&old);
	errno = saved;
}

void zc_ownfd_close(int *slot)
{
	drop(slot, 1);
}

void zc_ownfd_forget(int *slot)
{
	drop(slot, 0);
}

int zc_ownfd_is(int fd)
{
	if (fd < __atomic_load_n(&own_lo, __ATOMIC_RELAXED))
		return 0;
	for (int i = 0; i < ZC_OWNFD_MAX; i++)
		if (__atomic_load_n(&tab[i].slot, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&tab[i].fd, __ATOMIC_RELAXED) == fd)
			return 1;
	return 0;
}

int zc_ownfd_use(int *slot)
{
	for (;;) {
		struct entry *e = by_slot(slot);
		if (!e)
			return -1;
		__atomic_add_fetch(&e->busy, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&e->moving, __ATOMIC_SEQ_CST) &&
		    __atomic_load_n(&e->slot, __ATOMIC_SEQ_CST) == slot) {
			if (nusing < USE_DEPTH)
				using[nusing] = slot;
			nusing++;
			return __atomic_load_n(slot, __ATOMIC_SEQ_CST);
		}
		/* Being moved (or freed): step back, and wait, unless this
		 * thread is itself inside a call on it (a signal handler that
		 * interrupted it): the mover waits for that call to end. */
		sigset_t old;
		int saved = errno;
		lock(&old);
		busy_down(e);
		pthread_cond_broadcast(&cv);
		int give_up = self_uses(e);
		if (!give_up && e->slot == slot && e->moving) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 20 * 1000 * 1000;
			if (until.tv_nsec >= 1000000000L)
				until.tv_sec++, until.tv_nsec -= 1000000000L;
			pthread_cond_timedwait(&cv, &mu, &until);
		}
		unlock(&old);
		errno = saved;
		if (give_up)
			return -1;
	}
}

void zc_ownfd_unuse(int *slot)
{
	int found = -1;
	for (int i = nusing - 1; i >= 0; i--)
		if (i < USE_DEPTH && using[i] == slot) {
			found = i;
			break;
		}
	if (found < 0)
		return; /* the use returned -1 */
	for (int i = found; i + 1 < nusing && i + 1 < USE_DEPTH; i++)
		using[i] = using[i + 1];
	nusing--;
	struct entry *e = by_slot(slot);
	if (!e)
		return;
	if (busy_down(e) == 0 && __atomic_load_n(&e->moving, __ATOMIC_SEQ_CST)) {
		sigset_t old;
		lock(&old);
		pthread_cond_broadcast(&cv);
		unlock(&old);
	}
}

void zc_ownfd_abandon(void)
{
	while (nusing > 0) {
		int top = nusing - 1;
		if (top >= USE_DEPTH) {
			nusing--; /* a use past the record's depth: nothing to give back */
			continue;
		}
		zc_ownfd_unuse(using[top]); /* removes it: nusing goes down */
	}
}

/* Moves every fd of zcopy's in [lo, hi] out of it, or closes it. */
static void clear_range(unsigned lo, unsigned hi)
{
	sigset_t old;
	int saved = errno;

	lock(&old);
	for (;;) {
		struct entry *e = NULL;
		for (int i = 0; i < ZC_OWNFD_MAX && !e; i++)
			if (tab[i].slot && (unsigned)tab[i].fd >= lo && (unsigned)tab[i].fd <= hi)
				e = &tab[i];
		if (!e)
			break;
		__atomic_store_n(&e->moving, 1, __ATOMIC_SEQ_CST); /* before busy is read */
		if (__atomic_load_n(&e->busy, __ATOMIC_SEQ_CST) && !self_uses(e)) {
			wait_for_users(e, &old);
			continue;
		}
		int from = e->fd, to = dup_high(from, lo, hi);
		if (to >= 0) {
			__atomic_store_n(&e->fd, to, __ATOMIC_RELAXED);
			__atomic_store_n(e->slot, to, __ATOMIC_SEQ_CST);
		} else {
			*e->slot = -1;
			unregister(e);
		}
		e->moving = 0;
		REAL(close)(from);
		recompute_lo();
		pthread_cond_broadcast(&cv);
	}
	unlock(&old);
	errno = saved;
}

void zc_ownfd_before_take(int fd)
{
	/* A vfork child's dup2 over one of zcopy's numbers replaces it in the
	 * child's fd table only: moving it would leave the registry, which is
	 * the parent's, naming a number the parent does not hold, and the
	 * parent's own unregistered.  The engine gives guarded pages read
	 * through it their bytes first (zc_engine_fd_closed). */
	if (fd >= 0 && zc_ownfd_is(fd) && !zc_in_vfork_child())
		clear_range((unsigned)fd, (unsigned)fd);
}

void zc_ownfd_before_close_range(unsigned lo, unsigned hi)
{
	if (lo > hi || __atomic_load_n(&own_lo, __ATOMIC_RELAXED) == INT_MAX)
		return;
	/* A vfork child shares the registry: its closes are its own. */
	if (zc_in_vfork_child())
		return;
	for (int i = 0; i < ZC_OWNFD_MAX; i++) {
		int fd = __atomic_load_n(&tab[i].fd, __ATOMIC_RELAXED);
		if (__atomic_load_n(&tab[i].slot, __ATOMIC_ACQUIRE) && fd >= 0 &&
		    (unsigned)fd >= lo && (unsigned)fd <= hi) {
			clear_range(lo, hi);
			return;
		}
	}
}

/* The lowest fd of zcopy's in [lo, hi], or -1. */
static int lowest_own(unsigned lo, unsigned hi)
{
	int best = -1;
	for (int i = 0; i < ZC_OWNFD_MAX; i++) {
		int fd = __atomic_load_n(&tab[i].fd, __ATOMIC_RELAXED);
		if (__atomic_load_n(&tab[i].slot, __ATOMIC_ACQUIRE) && fd >= 0 &&
		    (unsigned)fd >= lo && (unsigned)fd <= hi && (best < 0 || fd < best))
			best = fd;
	}
	return best;
}

int zc_ownfd_dupfd(int (*real)(int, int, ...), int fd, int cmd, int arg)
{
	int r = real(fd, cmd, arg);
	/* Each round moves one fd of zcopy's out of the way: at most as many
	 * rounds as zcopy holds fds (and a move may land lower again). */
	for (int round = 0; round < 2 * ZC_OWNFD_MAX; round++) {
		int e = errno;
		int o = lowest_own((unsigned)arg, r >= 0 ? (unsigned)r - 1u : ~0u);
		if (o < 0 || (r < 0 && e != EMFILE) || zc_in_vfork_child()) {
			errno = e;
			return r;
		}
		/* Without zcopy the program would have been given o. */
		if (r >= 0)
			REAL(close)(r);
		clear_range((unsigned)o, (unsigned)o);
		r = real(fd, cmd, arg);
	}
	return r;
}

/* ---- zcopy's output files ------------------------------------------------- */

int zc_ownfd_open_output(const char *path, int *slot)
{
	struct stat st;
	int fd = REAL(open)(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
					  O_NONBLOCK, 0600);
	*slot = -1;
	if (fd < 0)
		return -1;
	if (zc_fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		REAL(close)(fd);
		errno = EINVAL;
		return -1;
	}
	/* Non-blocking was for the open only: appends wait as they should. */
	int fl = REAL(fcntl)(fd, F_GETFL);
	if (fl < 0 || REAL(fcntl)(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = errno;
		REAL(close)(fd);
		errno = e;
		return -1;
	}
	if (zc_ownfd_take(fd, slot, 0) < 0) {
		errno = EMFILE;
		return -1;
	}
	return *slot;
}

int zc_abs_template(char *out, size_t cap, const char *tmpl)
{
	size_t n = strlen(tmpl);
	if (tmpl[0] == '/' || !tmpl[0]) {
		if (n >= cap)
			return -1;
		memcpy(out, tmpl, n + 1);
		return 0;
	}
	int saved = errno;
	if (cap < 2 || !REAL(getcwd)(out, cap - 1)) {
		errno = saved;
		if (n < cap)
			memcpy(out, tmpl, n + 1);
		return -1;
	}
	errno = saved;
	size_t d = strlen(out);
	if (d + 1 + n >= cap) {
		if (n < cap)
			memcpy(out, tmpl, n + 1);
		return -1;
	}
	if (d == 0 || out[d - 1] != '/')
		out[d++] = '/';
	memcpy(out + d, tmpl, n + 1);
	return 0;
}

int zc_ownfd_count(void)
{
	return __atomic_load_n(&live, __ATOMIC_RELAXED);
}
