/*
 * inflight.c - ranges of source files being transferred (see inflight.h).
 */
#include "inflight.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "engine.h"
#include "phantom.h"

volatile int zc_inflight_live;

static struct zc_inflight tab[ZC_MAX_INFLIGHT];
static pthread_cond_t call_done = PTHREAD_COND_INITIALIZER;
static int waiters;

struct zc_inflight *zc_inflight_begin(dev_t dev, ino_t ino, off_t off, off_t len)
{
	for (int i = 0; i < ZC_MAX_INFLIGHT; i++) {
		struct zc_inflight *f = &tab[i];
		if (f->len)
			continue;
		*f = (struct zc_inflight){ dev, ino, off, len, 0, 0 };
		zc_inflight_live++;
		zc_phantom_live++;
		return f;
	}
	return NULL;
}

void zc_inflight_end(struct zc_inflight *f)
{
	if (!f)
		return;
	f->len = 0;
	zc_inflight_live--;
	zc_phantom_live--;
}

/*
 * enter and leave take no lock (two locks a transfer call, of the seven a
 * copy loop took per chunk): in_call and revoked pair up as a Dekker pair
 * with zc_inflight_changing, all sequentially consistent.  The caller
 * marks the call, then reads revoked; the changer counts itself a waiter,
 * marks the range revoked, then reads in_call.  Either the call sees the
 * revocation, or the changer sees the call.  A call ending clears in_call,
 * then reads waiters: a changer that counted itself before is woken (under
 * the lock, which the changer's wait gives up), and one that did not will
 * find in_call clear.
 */
int zc_inflight_enter(struct zc_inflight *f)
{
	if (!f)
		return 1;
	__atomic_store_n(&f->in_call, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&f->revoked, __ATOMIC_SEQ_CST)) {
		zc_inflight_leave(f);
		return 0;
	}
	return 1;
}

void zc_inflight_leave(struct zc_inflight *f)
{
	if (!f)
		return;
	__atomic_store_n(&f->in_call, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&waiters, __ATOMIC_SEQ_CST)) {
		zc_lock();
		pthread_cond_broadcast(&call_done);
		zc_unlock();
	}
}

void zc_inflight_after_fork_child(void)
{
	for (int i = 0; i < ZC_MAX_INFLIGHT; i++)
		if (tab[i].len)
			zc_inflight_end(&tab[i]);
	pthread_cond_t fresh = PTHREAD_COND_INITIALIZER;
	call_done = fresh;
	waiters = 0;
}

int zc_inflight_of_file(dev_t dev, ino_t ino)
{
	for (int i = 0; i < ZC_MAX_INFLIGHT; i++)
		if (tab[i].len && tab[i].dev == dev && tab[i].ino == ino)
			return 1;
	return 0;
}

static int busy_in(dev_t dev, ino_t ino, off_t off, off_t len)
{
	for (int i = 0; i < ZC_MAX_INFLIGHT; i++) {
		struct zc_inflight *f = &tab[i];
		if (!f->len || f->dev != dev || f->ino != ino)
			continue;
		if (f->off + f->len <= off || (len > 0 && f->off >= off + len))
			continue;
		__atomic_store_n(&f->revoked, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&f->in_call, __ATOMIC_SEQ_CST))
			return 1;
	}
	return 0;
}

void zc_inflight_changing(dev_t dev, ino_t ino, off_t off, off_t len)
{
	if (!zc_inflight_live)
		return;
	struct timespec until;
	int saved = errno;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ZC_INFLIGHT_WAIT_MS / 1000;
	until.tv_nsec += (ZC_INFLIGHT_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	/* A waiter before the ranges are looked at (above: enter and leave). */
	__atomic_add_fetch(&waiters, 1, __ATOMIC_SEQ_CST);
	while (busy_in(dev, ino, off, len))
		if (zc_lock_wait(&call_done, &until) == ETIMEDOUT)
			break;
	__atomic_sub_fetch(&waiters, 1, __ATOMIC_SEQ_CST);
	errno = saved;
}
