/*
 * signals.h - signals.c: zcopy's SIGBUS handler (phantom pages of a
 * truncated file) and, with ZCOPY_GUARD=1, its SIGSEGV handler (guarded
 * pages), installed by the constructor (init.c).
 */
#ifndef ZC_SIGNALS_H
#define ZC_SIGNALS_H

/* Installs the SIGBUS handler (mode on). */
void zc_signals_init(void);
/* May reads be deferred?  Not while the program ignores SIGBUS: its
 * SIG_IGN is then what is installed, and no handler of ours would answer a
 * fault on a phantom page of a truncated file. */
int zc_signals_defer_ok(void);
/* Installs the SIGSEGV handler (mode on with ZCOPY_GUARD=1). */
void zc_guard_signals_init(void);

/* sigmask.c: SIGSEGV kept out of the masks the program installs while
 * zcopy's SIGSEGV handler is (zc_sigmask_active), and the program's view of
 * its own mask per thread (1: it believes this thread blocks SIGSEGV). */
#include <setjmp.h>
#include <signal.h>
extern volatile int zc_sigmask_active;
extern __thread int zc_segv_view __attribute__((tls_model("initial-exec")));
/* Removes SIGSEGV from *set while active; 1 if it was there. */
int zc_sigmask_strip(sigset_t *set);
/* The view becomes v (a SIGSEGV held meanwhile is raised when v is 0). */
void zc_sigmask_set_view(int v);
/* A sent SIGSEGV arrived while the view blocks it: raised when it unblocks. */
void zc_sigmask_hold(void);
/* siglongjmp (jump.c): the mask saved in env comes back, and the view with it. */
void zc_sigmask_jump(const struct __jmp_buf_tag *env);

#endif
