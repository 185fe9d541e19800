/*
 * optcache.c - resource limits and the socket option generation, cached
 * until the program's own calls change them (see optcache.h; the wrappers
 * of those calls are in interpose.c).
 *
 * A cached limit is one 64-bit word, UNKNOWN until read.  A reader that
 * asked the kernel stores what it got only if no change started meanwhile,
 * and takes it back if one started while it stored: a value read before a
 * setrlimit is never left behind it.  A vfork child stores nothing (its
 * limits are its own, the memory is its parent's).
 */
#include "optcache.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "ownfd.h"
#include "real.h"
#include "wrap.h"

#define UNKNOWN ((uint64_t)-2)

static uint64_t cur[2] = { UNKNOWN, UNKNOWN };
static uint64_t changing; /* moves before and after every wrapped change */
static uint64_t *sockopt_gen; /* the shared page, or NULL */

static int slot_of(int res)
{
	return res == RLIMIT_NOFILE ? 0 : res == RLIMIT_FSIZE ? 1 : -1;
}

int zc_rlimit_cur(int res, rlim_t *out)
{
	int i = slot_of(res);
	if (i >= 0) {
		uint64_t v = __atomic_load_n(&cur[i], __ATOMIC_SEQ_CST);
		if (v != UNKNOWN) {
			*out = (rlim_t)v;
			return 0;
		}
	}
	int saved = errno;
	uint64_t g = __atomic_load_n(&changing, __ATOMIC_SEQ_CST);
	struct rlimit rl;
	if (getrlimit(res, &rl) != 0) {
		errno = saved;
		return -1;
	}
	*out = rl.rlim_cur;
	if (i >= 0 && (uint64_t)rl.rlim_cur != UNKNOWN &&
	    __atomic_load_n(&changing, __ATOMIC_SEQ_CST) == g && !zc_in_vfork_child()) {
		uint64_t expect = UNKNOWN;
		__atomic_compare_exchange_n(&cur[i], &expect, (uint64_t)rl.rlim_cur, 0,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		/* A change that started while this was stored may have
		 * invalidated before the store: forget it again. */
		if (__atomic_load_n(&changing, __ATOMIC_SEQ_CST) != g)
			__atomic_store_n(&cur[i], UNKNOWN, __ATOMIC_SEQ_CST);
	}
	errno = saved;
	return 0;
}

void zc_limits_changing(void)
{
	__atomic_add_fetch(&changing, 1, __ATOMIC_SEQ_CST);
}

void zc_limits_changed(void)
{
	__atomic_add_fetch(&changing, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cur[0], UNKNOWN, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cur[1], UNKNOWN, __ATOMIC_SEQ_CST);
}

void zc_optcache_init(void)
{
	/* Shared, so that a forked child's setsockopt moves it for the parent
	 * as well (they may share the socket). */
	void *p = REAL(mmap)(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	uint64_t *g = p;
	*g = 1;
	__atomic_store_n(&sockopt_gen, g, __ATOMIC_SEQ_CST);
}

void zc_sockopt_changed(void)
{
	uint64_t *g = __atomic_load_n(&sockopt_gen, __ATOMIC_SEQ_CST);
	if (g)
		__atomic_add_fetch(g, 1, __ATOMIC_SEQ_CST);
}

uint64_t zc_sockopt_gen(void)
{
	uint64_t *g = __atomic_load_n(&sockopt_gen, __ATOMIC_SEQ_CST);
	return g ? __atomic_load_n(g, __ATOMIC_SEQ_CST) : 0;
}
