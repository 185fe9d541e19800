/*
 * transfer.h - moving bytes of a file to a destination inside the kernel.
 *
 * Chooses the primitive for the destination (DESIGN section 4) and makes its
 * calls behave as the one write(2) they stand for: a plain write returns
 * early only when a signal, a limit, a vanished peer or a full non-blocking
 * destination cuts it short, and then it returns at once.  So after the
 * first bytes went out, no further call is made that could wait through a
 * signal (later calls into a pipe are non-blocking, and waits for a pipe or
 * socket happen in poll(2), which a handler always interrupts; sendfile into
 * a socket that fills up while it runs is the exception, see the README's
 * "Stream sockets"), raise SIGXFSZ (the file size limit is checked first) or
 * raise a SIGPIPE the plain write would not have raised (the caller blocks
 * it for stream sockets).  "The kernel refused this kind of transfer" is not
 * an error the program sees: it is reported to the caller, which writes
 * plainly, and remembered for the pair of files.
 */
#ifndef ZC_TRANSFER_H
#define ZC_TRANSFER_H

#include <stddef.h>
#include <sys/types.h>

#include "fdinfo.h"

struct zc_inflight;

/* How a transfer ended (besides the count it returns). */
enum zc_xfer_end {
	ZC_XF_DONE,    /* all of it went */
	ZC_XF_SHORT,   /* cut short as the plain write would be: return now */
	ZC_XF_REFUSED, /* nothing moved; the kernel cannot do it: write plainly */
	ZC_XF_EOF,     /* the source ended early (truncated meanwhile) */
	ZC_XF_REVOKED, /* the source range changed: write the rest plainly */
	ZC_XF_FULL,    /* nothing moved and nothing of this write went yet, yet
			* the pipe said EAGAIN while it now blocks (its O_NONBLOCK
			* changed meanwhile): write a page plainly (it waits as
			* the plain write would), then go on */
};

/* One transfer of len bytes of `in` at in_off to `out` (described by o), as
 * part of a write that has already sent `progress` bytes: at out's file
 * offset (out_pos NULL) or at *out_pos (advanced).  Returns the bytes moved,
 * or -errno as the plain write would have failed (only when nothing moved
 * and progress is 0). */
ssize_t zc_transfer(int out, const struct zc_fdinfo *o, off_t *out_pos, int in,
		    const struct zc_fdinfo *i, off_t in_off, size_t len, size_t progress,
		    struct zc_inflight *f, enum zc_xfer_end *end);

/* The same with write(2) semantics, from the pipe `in` (zcopy's own, which
 * holds at least len bytes) by splice: for a destination that splice takes
 * (pipes, character devices). */
ssize_t zc_transfer_from_pipe(int out, const struct zc_fdinfo *o, int in, size_t len,
			      size_t progress, struct zc_inflight *f, enum zc_xfer_end *end);

/* A write of two (redirect.c, zc_engine_write_two): while this thread's
 * engine write runs, its first zc_write_unit bytes are a write(2) of their
 * own, and the rest is the next one.  A transfer counts its bytes from the
 * engine write's start (progress + what it moved); at zc_write_unit bytes
 * the next call is a new write's first: it may wait as a write would (a
 * signal before any of its bytes restarts it under SA_RESTART or fails it
 * with EINTR), and an error of that call, with no byte of the new write
 * gone, is that write's failure: the transfer reports the bytes moved so
 * far (ZC_XF_SHORT) and sets zc_write_unit_err.  0: a write of one. */
extern __thread size_t zc_write_unit __attribute__((tls_model("initial-exec")));
extern __thread int zc_write_unit_err __attribute__((tls_model("initial-exec")));

/* An fwrite's start (stdio_write.c, "The start"): while this thread's
 * engine write runs, its first zc_write_start bytes are the part glibc
 * would hold in the stream's buffer until its own write of them ended;
 * zc_write_start_gone is set once all of them went (what a signal handler
 * that jumps out of the write, or a cancel, needs to know).  Every place
 * that counts an engine write's bytes calls zc_write_sent. */
extern __thread size_t zc_write_start __attribute__((tls_model("initial-exec")));
extern __thread int zc_write_start_gone __attribute__((tls_model("initial-exec")));
static inline void zc_write_sent(size_t sent)
{
	if (zc_write_start && sent >= zc_write_start)
		zc_write_start_gone = 1;
}

/* Would a write at the destination's position (*out_pos, or its offset)
 * reach RLIMIT_FSIZE?  For files and block devices; a plain write that
 * already wrote some bytes stops there without SIGXFSZ. */
int zc_at_size_limit(int out, const struct zc_fdinfo *o, const off_t *out_pos);

/* The program's errno when this thread's engine write began (redirect.c,
 * writev_call): what a signal handler that interrupts one of the write's
 * waits finds in errno, as it would in the plain write, not the EAGAIN of
 * the engine's own call that found no room. */
extern __thread int zc_write_errno __attribute__((tls_model("initial-exec")));

/* Waits (at most ms milliseconds; -1: no limit) until a pipe or socket can
 * take bytes.  1 when it can (or has an error the next call will report),
 * 0 at the time limit, -1 when a signal handler ran (EINTR). */
int zc_wait_writable(int out, int ms);
/* Is fd's description non-blocking now? */
int zc_fd_nonblocking(int fd);

#endif
