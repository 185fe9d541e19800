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

int zc_inflight_enter(struct zc_inflight *f)
{
	if (!f)
		return 1;
	zc_lock();
	int ok = !f->revoked;
	f->in_call = ok;
	zc_unlock();
	return ok;
}

void zc_inflight_leave(struct zc_inflight *f)
{
	if (!f)
		return;
	zc_lock();
	f->in_call = 0;
	if (waiters)
		pthread_cond_broadcast(&call_done);
	zc_unlock();
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
		f->revoked = 1;
		if (f->in_call)
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
	while (busy_in(dev, ino, off, len)) {
		waiters++;
		int r = zc_lock_wait(&call_done, &until);
		waiters--;
		if (r == ETIMEDOUT)
			break;
	}
	errno = saved;
}
