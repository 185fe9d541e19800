/*
 * real.c - resolves the table of real libc functions (see real.h).
 *
 * dlsym() may itself call functions we interpose (calloc/free for its error
 * state).  A thread that is inside zc_real_resolve() and re-enters it returns
 * at once; the free/realloc wrappers cope with a still-NULL entry by using
 * glibc's __libc_free/__libc_realloc, which is what they would reach anyway.
 */
#include "real.h"

#include <dlfcn.h>

struct zc_real zc_real;

static __thread int resolving __attribute__((tls_model("initial-exec")));

void zc_real_resolve(void)
{
	if (resolving)
		return;
	resolving = 1;
#define ZC_RESOLVE(name, ret, args)                                                       \
	if (!__atomic_load_n(&zc_real.name, __ATOMIC_ACQUIRE)) {                          \
		void *p = dlsym(RTLD_NEXT, #name);                                        \
		if (p)                                                                    \
			__atomic_store_n((void **)&zc_real.name, p, __ATOMIC_RELEASE);    \
	}
	ZC_REAL_LIST(ZC_RESOLVE)
#undef ZC_RESOLVE
	resolving = 0;
}
