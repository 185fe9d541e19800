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
	struct zc_fdinfo info;
};

static struct pin tab[ZC_MAX_PINS];
volatile int zc_pins_live;
static pid_t self;
static int usable = -1; /* kcmp works: -1 not probed yet */
static unsigned flags_gen = 1;

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
	errno = saved;
}

void zc_pin_flags_changed(void)
{
	__atomic_add_fetch(&flags_gen, 1, __ATOMIC_RELAXED);
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
	for (int i = 0; i < ZC_MAX_PINS; i++) {
		struct pin *q = &tab[i];
		if (q->refs == 0) {
			if (!free_slot)
				free_slot = q;
			continue;
		}
		if (q->prog != fd)
			continue;
		if (kcmp_file(fd, q->own) == 0) {
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
		if (REAL(fstat)(p->own, s) < 0) {
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
