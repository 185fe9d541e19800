/*
 * policy.h - which writes may go by a kernel transfer: pure functions of the
 * destination's kind and flags and of the call, unit-tested
 * (tests/unit/test_policy.c).  No system calls.
 */
#ifndef ZC_POLICY_H
#define ZC_POLICY_H

#include <stddef.h>

#include "fdinfo.h"

/* The program's call, as the write side sees it. */
enum zc_wcall { ZC_W_WRITE, ZC_W_PWRITE, ZC_W_SEND, ZC_W_SENDTO };

/* May bytes go to a destination of this kind and these flags by a kernel
 * transfer?  Returns -1 if yes, else the ZC_FB_* reason why not. */
int zc_dest_refusal(const struct zc_fdinfo *o);

/* May this call of n bytes (send flags `flags`) to o go by transfer at all?
 * The call's own contract comes first (pwrite needs a file: a pipe or socket
 * gives ESPIPE; send needs a socket: ENOTSOCK), then units the kernel keeps
 * whole (datagrams, O_APPEND, pipe writes of at most PIPE_BUF bytes).
 * Returns -1 if yes, else the ZC_FB_* reason. */
int zc_write_refusal(const struct zc_fdinfo *o, enum zc_wcall how, int flags, size_t n);

#endif
