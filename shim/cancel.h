/*
 * cancel.h - putting the program's cancellation state back.
 *
 * zcopy keeps cancellation disabled over its own work (engine.h,
 * "Cancellation") and puts the program's state back on the way out.
 * Enabling it while the program's type is asynchronous and a cancel is
 * pending acts at once, and glibc then leaves the thread's result unset:
 * pthread_join saw NULL where the plain program's thread, cancelled by the
 * signal, gives PTHREAD_CANCELED.  So the state is enabled under the
 * deferred type and the asynchronous type set back afterwards, which acts
 * as glibc's own asynchronous cancellation does.
 *
 * A window of the program's state inside zcopy (engine.h) sets the state
 * alone: the type stays the deferred one zc_cancel_off set at zc_enter,
 * whatever the program's, so a cancel there acts only at the cancellation
 * points zcopy's cleanup handlers cover.  Asynchronous cancellation acted
 * at any instruction of zcopy's own code there (half way through counting
 * a use of one of its descriptors, say), and the next thread to close one
 * waited for ever.  The program's type comes back at zc_leave.  Nothing
 * here touches errno; async-signal-safe.
 */
#ifndef ZC_CANCEL_H
#define ZC_CANCEL_H

#include <pthread.h>

/*
 * zcopy's "cancellation off": the deferred type first, then the disabled
 * state.  Disabling alone is not enough with glibc 2.36: pthread_cancel
 * sends SIGCANCEL when it sees the target enabled and asynchronous, and
 * the signal's handler acts on the asynchronous type alone, not looking at
 * the state again.  A thread that disabled cancellation between the two
 * (zc_lock, before taking the engine lock) was ended while holding the
 * lock, about one run in ten of cancel_copy's asynchronous workers on a
 * loaded machine.  With the type deferred, the handler only marks the
 * thread cancelled, and zc_cancel_on acts on it, as the plain program's
 * next instruction would have.  The deferred type does not cover glibc's
 * own cancellable calls made meanwhile (their wrappers make the type
 * asynchronous for the call): a signal landing at the exit of one is
 * cancelsig.c's, whose handler in front of glibc's keeps a thread with
 * cancellation disabled running.  Returns what zc_cancel_on takes: bit 0 the
 * state was disabled, bit 1 the type was asynchronous.
 */
static inline int zc_cancel_saved(int type, int state)
{
	return (state == PTHREAD_CANCEL_DISABLE ? 1 : 0) |
	       (type == PTHREAD_CANCEL_ASYNCHRONOUS ? 2 : 0);
}
/* The same, the program's type and state written where the caller says
 * (glibc stores each before it changes it: a signal handler that
 * interrupts this finds what was changed). */
static inline void zc_cancel_off_into(int *type, int *state)
{
	pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, type);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, state);
}
static inline int zc_cancel_off(void)
{
	int type, state;
	zc_cancel_off_into(&type, &state);
	return zc_cancel_saved(type, state);
}

/* Puts back what zc_cancel_off saved: the state under the deferred type,
 * then the type (above: enabling under the asynchronous type with a cancel
 * pending would act at once and leave the thread's result unset). */
static inline void zc_cancel_on(int saved)
{
	int ignored;
	pthread_setcancelstate(saved & 1 ? PTHREAD_CANCEL_DISABLE : PTHREAD_CANCEL_ENABLE, &ignored);
	if (saved & 2)
		pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &ignored);
}

#endif
