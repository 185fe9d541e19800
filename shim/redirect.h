/*
 * redirect.h - redirect.c: the write side, what the write wrappers
 * (interpose.c) and the fwrite replay (stdio_write.c) call once a call is a
 * candidate.
 */
#ifndef ZC_REDIRECT_H
#define ZC_REDIRECT_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "policy.h"

/* Writes.  pos == NULL: at the file offset (write, writev, send); otherwise
 * at *pos (pwrite, pwritev), offset untouched.  how tells which call this
 * is, so the plain path is the exact same call.  The result and errno are
 * the plain call's. */
ssize_t zc_engine_write(int fd, const void *buf, size_t n, const off_t *pos, enum zc_wcall how,
			int flags);
ssize_t zc_engine_writev(int fd, const struct iovec *iov, int cnt, const off_t *pos);
ssize_t zc_engine_writev_call(int fd, const struct iovec *iov, int cnt, const off_t *pos,
			      enum zc_wcall how, int flags);

/* A write(2) of buf[0, unit) (at most PIPE_BUF, into a pipe), then, when
 * all of it went, a write(2) of buf[unit, n), as one engine write: glibc's
 * fwrite writes the block that fills its buffer, then the blocks.  The
 * first goes whole, all of it or an error before any of it; the second's
 * first call waits as a write would.  When both are one kernel transfer
 * the pipe's reader is woken once.  Returns the first write's result (-1
 * and errno when it failed), plus the second's count; *err2 is the second
 * write's errno when it failed before its first byte, else 0.  unit 0: one
 * write.  start: its first start bytes are an fwrite's start that glibc
 * would hold in the stream's buffer meanwhile (transfer.h, zc_write_start),
 * or 0. */
ssize_t zc_engine_write_two(int fd, const void *buf, size_t n, size_t unit, size_t start,
			    int *err2);

/* A signal handler is jumping out of this thread's write (jump.c, through
 * zc_engine_abandon): let go of its pins and in-flight ranges as if it had
 * returned.  Runs in the handler. */
void zc_write_abandon(void);

/* Clean phantom pages below this address count as untouched by the
 * program when this thread's write finds them mapped: glibc's own copy of
 * the start of an fwrite into the stream's buffer reads the file's pages,
 * and the kernel maps whole large folios and their neighbours with them
 * (fault-around).  Pages the program wrote always count.  0 = none. */
extern __thread uintptr_t zc_stdio_touch_floor __attribute__((tls_model("initial-exec")));

#endif
