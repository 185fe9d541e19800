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
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>

#include "engine.h"
#include "real.h"
#include "signals.h"
#include "stdio_path.h"
#include "wrap.h"

/* The stack pointer a jump to env restores; where it cannot be read, the
 * top of the address space (the jump is taken to leave every frame). */
static uintptr_t target_sp(struct __jmp_buf_tag *env)
{
#if defined(__x86_64__)
	/* glibc keeps the stack pointer in slot 6, mangled with the thread's
	 * pointer guard (%fs:0x30): rotate right by 17, then xor. */
	uintptr_t sp = (uintptr_t)env->__jmpbuf[6], guard;
	__asm__("mov %%fs:0x30, %0" : "=r"(guard));
	return ((sp >> 17) | (sp << (64 - 17))) ^ guard;
#else
	(void)env;
	return UINTPTR_MAX;
#endif
}

#ifndef __EXCEPTIONS
__thread __pthread_unwind_buf_t *zc_cleanup_outer __attribute__((tls_model("initial-exec")));

void zc_cleanup_jumped(uintptr_t sp)
{
	/* The buffer lives in its region's frame: a target above it leaves
	 * the region.  What its pop would do: the chain goes back to what it
	 * was before the push (the program's own handlers, if any). */
	if (unlikely(zc_cleanup_outer != NULL) && sp > (uintptr_t)zc_cleanup_outer) {
		__pthread_unregister_cancel(zc_cleanup_outer);
		zc_cleanup_outer = NULL;
	}
}
#else
void zc_cleanup_jumped(uintptr_t sp)
{
	(void)sp;
}
#endif

void zc_cancel_jumped(uintptr_t sp)
{
	struct zc_cancel_span *s = zc_cancel_spans;
	if (likely(s == NULL) || sp <= (uintptr_t)s)
		return;
	struct zc_cancel_span *outer = s;
	while (s && sp > (uintptr_t)s) {
		outer = s;
		s = s->prev;
	}
	zc_cancel_spans = s;
	int type = outer->type, state = outer->state, ignored;
	if (state >= 0)
		zc_cancel_on(zc_cancel_saved(type, state));
	else if (type == PTHREAD_CANCEL_ASYNCHRONOUS)
		/* The jump came between the two changes: the state is as it
		 * was, the type comes back. */
		pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &ignored);
}

/* One body for the four names, each with its own real function. */
static __attribute__((noreturn)) void jump(void (*real)(struct __jmp_buf_tag *, int),
					   struct __jmp_buf_tag *env, int val)
{
	uintptr_t sp = target_sp(env);
	/* Wherever the jump lands, zcopy no longer knows the thread's
	 * cancellation state: zc_lock asks glibc again until the next
	 * zc_enter (a stale "held" would take the lock with cancellation
	 * on, engine.h). */
	zc_cancel_held = 0;
	/* Does the jump leave the frames of zcopy's current work? */
	if (unlikely(zc_inside) && sp > zc_inside_sp)
		zc_engine_abandon();
	zc_stdio_start_jumped(sp); /* (after the write let go of its pipe and pins) */
	zc_cleanup_jumped(sp); /* (the stdio replay's region is outside zc_inside) */
	zc_cancel_jumped(sp);  /* (after zc_leave, which restores the span's "off") */
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
