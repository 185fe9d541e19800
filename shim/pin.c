/*
 * pin.c - private duplicates that pin what a program's fd named (see pin.h).
 *
 * A fixed table, changed only under the engine lock.  The duplicates live
 * high above the numbers open() hands out, so they never change what the
 * program gets.
 */
#include "pin.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "ownfd.h"
#include "real.h"

struct pin {
	int own;  /* zcopy's duplicate; -1 = free slot */
	int prog; /* the program's number it was made from; -1 once detached */
	int refs;
	unsigned flags_gen;
	int nowait_refused; /* pwritev2(RWF_NOWAIT) failed with EOPNOTSUPP on it */
	unsigned long names_gen; /* names_gen read before the pin was last proven */
	struct zc_fdinfo info;
};

static struct pin tab[ZC_MAX_PINS];
volatile int zc_pins_live;
static pid_t self;
static int usable = -1; /* kcmp works: -1 not probed yet */
static unsigned flags_gen = 1;

/*
 * Changes to what the program's fd numbers name (pin.h).  `names_busy` counts
 * the wrapped calls under way that may change one; `names_gen` moves at the
 * start and at the end of each.  A pin proven (made, or compared by kcmp)
 * when names_gen read g is still what its number names while names_gen is
 * g and no such call is under way: every change since would have moved
 * names_gen, and one under way is seen in names_busy.  Sequentially
 * consistent, so a check and the start of a change are ordered one way or
 * the other on every thread.
 */
static unsigned names_busy;
static unsigned long names_gen = 1; /* 64 bits: never wraps */

void zc_pin_names_changing(void)
{
	__atomic_add_fetch(&names_busy, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&names_gen, 1, __ATOMIC_SEQ_CST);
}

void zc_pin_names_changed(void)
{
	__atomic_add_fetch(&names_gen, 1, __ATOMIC_SEQ_CST);
	__atomic_sub_fetch(&names_busy, 1, __ATOMIC_SEQ_CST);
}

/* names_gen now, and whether a change is under way. */
static unsigned long names_now(int *busy)
{
	unsigned long g = __atomic_load_n(&names_gen, __ATOMIC_SEQ_CST);
	*busy = __atomic_load_n(&names_busy, __ATOMIC_SEQ_CST) != 0;
	return g;
}

static int kcmp_file(int a, int b)
{
	return (int)syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);
}

void zc_pin_init(void)
{
	int saved = errno;
	self = getpid();
	if (usable < 0) {
		/* Compare fd 0's description with itself; a closed fd 0 gives
		 * EBADF, which also proves the call exists. */
		int r = kcmp_file(0, 0);
		usable = r == 0 || (r < 0 && errno == EBADF);
		if (!usable)
			zc_log(1, "kcmp is not available (errno %d): no read is deferred", errno);
	}
	for (int i = 0; i < ZC_MAX_PINS; i++)
		if (tab[i].refs == 0)
			tab[i].own = -1;
	errno = saved;
}

pid_t zc_pin_self(void)
{
	return self;
}

int zc_pin_fd(int i)
{
	return tab[i].own;
}

void zc_pin_ref(int i)
{
	tab[i].refs++;
}

void zc_pin_put(int i)
{
	struct pin *p = &tab[i];
	if (--p->refs > 0)
		return;
	int saved = errno;
	zc_ownfd_close(&p->own);
	p->own = -1;
	p->prog = -1;
	zc_pins_live--;
	errno = saved;
}

static void detach(struct pin *p)
{
	if (p->prog < 0)
		return;
	p->prog = -1;
	zc_pin_put((int)(p - tab));
}

void zc_pin_fd_closed(int fd)
{
	for (int i = 0; i < ZC_MAX_PINS; i++)
		if (tab[i].refs > 0 && tab[i].prog == fd)
			detach(&tab[i]);
}

void zc_pin_range_closed(unsigned lo, unsigned hi)
{
	for (int i = 0; i < ZC_MAX_PINS; i++)
		if (tab[i].refs > 0 && tab[i].prog >= 0 && (unsigned)tab[i].prog >= lo &&
		    (unsigned)tab[i].prog <= hi)
			detach(&tab[i]);
}

int zc_pin_use(int i)
{
	return zc_ownfd_use(&tab[i].own);
}

void zc_pin_unuse(int i)
{
	zc_ownfd_unuse(&tab[i].own);
}

void zc_pin_check_all(void)
{
	int saved = errno;
	for (int i = 0; i < ZC_MAX_PINS; i++)
		if (tab[i].refs > 0 && tab[i].prog >= 0 && kcmp_file(tab[i].prog, tab[i].own) != 0)
			detach(&tab[i]);
	errno = saved;
}

void zc_pin_after_fork_child(void)
{
	int saved = errno;
	self = getpid();
	for (int i = 0; i < ZC_MAX_PINS; i++) {
		if (tab[i].refs > 0)
			zc_ownfd_close(&tab[i].own);
		tab[i] = (struct pin){ .own = -1, .prog = -1 };
	}
	zc_pins_live = 0;
	/* Only this thread went on: a change another thread of the parent had
	 * under way will never end here. */
	__atomic_store_n(&names_busy, 0, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&names_gen, 1, __ATOMIC_SEQ_CST);
	errno = saved;
}

void zc_pin_flags_changed(void)
{
	__atomic_add_fetch(&flags_gen, 1, __ATOMIC_RELAXED);
}

unsigned zc_pin_flags_gen(void)
{
	return __atomic_load_n(&flags_gen, __ATOMIC_RELAXED);
}

/* Read and set without the engine lock by a write that holds a reference
 * to pin i: the slot is not reused under it, and a lost race only makes
 * the refused call once more. */
int zc_pin_nowait_refused(int i)
{
	return __atomic_load_n(&tab[i].nowait_refused, __ATOMIC_RELAXED);
}

void zc_pin_refuses_nowait(int i)
{
	__atomic_store_n(&tab[i].nowait_refused, 1, __ATOMIC_RELAXED);
}

/* The status flags (O_NONBLOCK, O_APPEND) belong to the description and can
 * be changed through any number that shares it: re-read after a change. */
static int refresh_flags(struct pin *p)
{
	unsigned g = __atomic_load_n(&flags_gen, __ATOMIC_RELAXED);
	if (p->flags_gen == g)
		return 0;
	int fl = REAL(fcntl)(p->own, F_GETFL);
	if (fl < 0)
		return -1;
	p->info.flags = (uint8_t)((p->info.flags & ZC_FL_SIZED) | zc_flags_from_fl(fl));
	p->flags_gen = g;
	return 0;
}

int zc_pin_get(int fd, struct zc_fdinfo *info, int fresh, struct stat *st)
{
	if (usable <= 0 || fd < 0)
		return -1;
	int saved = errno;
	struct pin *p = NULL, *free_slot = NULL;
	/* Read before any proof: a change that starts after this read moves
	 * names_gen, so the stamp below can only be too old, never too new. */
	int busy;
	unsigned long g = names_now(&busy);
	for (int i = 0; i < ZC_MAX_PINS; i++) {
		struct pin *q = &tab[i];
		if (q->refs == 0) {
			if (!free_slot)
				free_slot = q;
			continue;
		}
		if (q->prog != fd)
			continue;
		/* No wrapped call changed any number since the pin was last
		 * proven, and none is under way: fd still names it, and the
		 * program's call takes its references now, as a plain one
		 * would (pin.h).  Otherwise kcmp proves it again. */
		if (!busy && q->names_gen == g) {
			p = q;
			break;
		}
		if (kcmp_file(fd, q->own) == 0) {
			q->names_gen = g;
			p = q;
			break;
		}
		detach(q); /* the number names something else now */
		if (q->refs == 0 && !free_slot)
			free_slot = q;
	}
	if (!p) {
		if (!free_slot) {
			errno = saved;
			return -1;
		}
		p = free_slot;
		p->own = -1;
		/* A pin lives as long as the program's fd: not where a small
		 * RLIMIT_NOFILE makes every slot count (ownfd.h). */
		if (!zc_ownfd_keep_ok()) {
			errno = saved;
			return -2;
		}
		if (zc_ownfd_take(fd, &p->own, 1) < 0) {
			errno = saved;
			return -1;
		}
		struct stat local;
		struct stat *s = st ? st : &local;
		/* Classified from the duplicate itself: the number may already
		 * name something else. */
		if (zc_fd_get(p->own, &p->info, ZC_FD_VALIDATE, s) < 0) {
			zc_ownfd_close(&p->own);
			p->own = -1;
			errno = saved;
			return -1;
		}
		p->prog = fd;
		__atomic_store_n(&p->nowait_refused, 0, __ATOMIC_RELAXED);
		p->names_gen = g; /* the duplicate was made after g was read */
		p->refs = 1; /* the attachment */
		zc_pins_live++;
		p->flags_gen = __atomic_load_n(&flags_gen, __ATOMIC_RELAXED);
		fresh = 0; /* just done */
	} else if (refresh_flags(p) < 0) {
		errno = saved;
		return -1;
	}
	if (fresh) {
		struct stat local;
		struct stat *s = st ? st : &local;
		if (zc_fstat(p->own, s) < 0) {
			errno = saved;
			return -1;
		}
		p->info.size = s->st_size;
	}
	p->refs++;
	*info = p->info;
	errno = saved;
	return (int)(p - tab);
}
