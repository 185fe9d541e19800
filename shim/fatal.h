/*
 * fatal.h - the record of a process that a signal kills (fatal.c).
 */
#ifndef ZC_FATAL_H
#define ZC_FATAL_H

#include <signal.h>

/* At start-up, after signals.c: takes every fatal signal the program left
 * at SIG_DFL, except SIGBUS / SIGSEGV when signals.c already handles them. */
void zc_fatal_init(int skip_bus, int skip_segv);
/* Writes the stats record and removes the live page (from a handler, before
 * the default action of a fatal signal).  Async-signal-safe. */
void zc_fatal_last_word(void);
/* Is sig's disposition ours, standing in for the program's SIG_DFL? */
int zc_fatal_managed(int sig);
/* The disposition the program would read back for a managed signal. */
void zc_fatal_query(int sig, struct sigaction *old);
/* Before the program sets sig's disposition: the program's own goes back. */
void zc_fatal_release(int sig);
/* After it: if the program's disposition is SIG_DFL again, take it again. */
void zc_fatal_retake(int sig);

#endif
