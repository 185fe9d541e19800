/*
 * jump.c - the exported longjmp family: a signal handler that jumps out of
 * zcopy's own work.
 *
 * A handler that interrupts a blocking write (an alarm that times it out,
 * the classic) may leave it with siglongjmp, as it may leave the plain
 * write.  The plain write then simply never returns; zcopy's would leave
 * its thread marked as inside zcopy (every later call of that thread would
 * take the plain path and skip the bookkeeping that keeps phantoms exact)
 * and keep the write's pins and in-flight ranges (a pipe the program then
 * closes would stay open).  So before such a jump, zcopy lets go of the
 * write as if it had returned.  A jump within the handler's own frames
 * (setjmp and longjmp both inside the handler) leaves zcopy alone: on
 * x86-64 the target stack pointer tells the two apart.
 */
#include <setjmp.h>
#include <stdint.h>

#include "engine.h"
#include "real.h"
#include "signals.h"
#include "wrap.h"

/* Does a jump to env leave the frames of zcopy's current work? */
static int leaves_zcopy(struct __jmp_buf_tag *env)
{
#if defined(__x86_64__)
	/* glibc keeps the stack pointer in slot 6, mangled with the thread's
	 * pointer guard (%fs:0x30): rotate right by 17, then xor. */
	uintptr_t sp = (uintptr_t)env->__jmpbuf[6], guard;
	__asm__("mov %%fs:0x30, %0" : "=r"(guard));
	sp = ((sp >> 17) | (sp << (64 - 17))) ^ guard;
	return sp > zc_inside_sp;
#else
	(void)env;
	return 1;
#endif
}

/* One body for the four names, each with its own real function. */
static __attribute__((noreturn)) void jump(void (*real)(struct __jmp_buf_tag *, int),
					   struct __jmp_buf_tag *env, int val)
{
	if (unlikely(zc_inside) && leaves_zcopy(env))
		zc_engine_abandon();
	zc_sigmask_jump(env); /* the saved mask comes back (guard mode) */
	real(env, val);
	__builtin_unreachable();
}

ZC_EXPORT void longjmp(struct __jmp_buf_tag env[1], int val)
{
	jump(REAL(longjmp), env, val);
}

ZC_EXPORT void _longjmp(struct __jmp_buf_tag env[1], int val)
{
	jump(REAL(_longjmp), env, val);
}

ZC_EXPORT void siglongjmp(struct __jmp_buf_tag env[1], int val)
{
	jump(REAL(siglongjmp), env, val);
}

ZC_EXPORT void __longjmp_chk(struct __jmp_buf_tag env[1], int val)
{
	jump(REAL(__longjmp_chk), env, val);
}
