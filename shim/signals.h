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

#endif
