/*
 * sock.h - sock.c: reads from stream sockets deferred into pipes zcopy owns.
 *
 * A read of at least ZCOPY_MIN_CHUNK from a TCP or UNIX stream socket, in
 * an engaged stream, is one splice(2) of the socket into an empty pipe of
 * zcopy's: one call that returns what read(2) would return at that moment
 * (the kernel's socket splice and read share the same wait, end of stream
 * and error rules; see sock.c for the cases that differ and stay plain).
 * The bytes that fall on whole pages of the buffer stay in the pipe, and
 * those pages become a guard phantom backed by the pipe (phantom.h,
 * `pipe`); the bytes on the partial pages at both ends are read out of the
 * pipe into the buffer at once.  When the pipe's slots run out before the
 * socket's queue, a second pipe takes the rest: two records, with the page
 * where they meet read into the buffer.
 *
 * Invariants:
 *  - a pool pipe holds the bytes of at most one phantom record, exactly
 *    the record's bytes, in the record's order, from its first page on;
 *  - a write sends a record's bytes by tee(2) into a scratch pipe and a
 *    splice of that, so the record's pipe keeps them: the buffer still
 *    holds them after a plain write, and so does the phantom;
 *  - a record that leaves the phantom state reads its pipe whole into the
 *    buffer (materialized), or, when every one of its pages is being
 *    replaced anyway, empties the pipe without a copy.
 * All functions run with the engine lock held, except zc_sock_send's
 * transfer, which holds a scratch pipe no one else uses.
 */
#ifndef ZC_SOCK_H
#define ZC_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fdinfo.h"
#include "transfer.h"

/* Could a read of n bytes of fd (classified fi) be deferred into a pipe? A
 * cheap test on the cached classification: stream sockets only. */
int zc_sock_candidate(const struct zc_fdinfo *fi, size_t n);

/* Mode on, a candidate read with no explicit offset: deferred when the
 * detector says its stream is engaged.  Returns the count read() would
 * return, or -1 with errno as read() would fail, or ZC_PLAIN with *why set
 * (nothing was taken from the socket: the plain read follows).  Inside
 * zcopy, lock not held. */
ssize_t zc_sock_read(int fd, const struct zc_fdinfo *fi, void *buf, size_t n, int *why);

/* A read of a stream socket that zc_sock_read returned ZC_PLAIN for stays
 * noted as one until the plain read is done (sock.c, `struct reading`;
 * reading_noted(): 0 only without the guard): the caller waits while
 * another read of the socket goes on (reading_wait(), lock not held),
 * makes the plain read, and ends the note (reading_end(), lock held; also
 * when the thread is cancelled in the read, and for zc_sock_pipe_abandon).
 * No-ops for a thread without such a read. */
void zc_sock_reading_wait(void);
void zc_sock_reading_end(void);
int zc_sock_reading_noted(void);

/* phantom.c: reads the len bytes of pool pipe `pipe` into dst; the pipe is
 * then empty.  Returns 0, or -1 if fewer could be read (the rest of dst is
 * left as it was). */
int zc_sock_pipe_fill(int pipe, void *dst, size_t len);
/* phantom.c: discards the first n bytes of pool pipe `pipe` without a
 * copy.  Returns 0, or -1 if not all of them could be. */
int zc_sock_pipe_skip(int pipe, size_t n);
/* phantom.c: the record backed by `pipe` is gone; its bytes still in the
 * pipe are discarded (without a copy) and the pipe is free again. */
void zc_sock_pipe_put(int pipe);

/* The write side: sends len bytes of the record whose pipe is `pipe`
 * (generation gen, the record's), from its first byte on, to out (a
 * regular file, a block device or a stream socket: at *pos if pos, else
 * at out's offset), as one call.  Returns the bytes written, -errno as the
 * plain write would have failed, or ZC_PLAIN when it cannot be done this
 * way or the plain write must answer (nothing written: the record is gone,
 * no scratch pipe, EPIPE).  A stream socket's caller holds SIGPIPE back
 * for the call.  Lock not held. */
ssize_t zc_sock_send(int pipe, uint32_t gen, uintptr_t addr, size_t len, int out, off_t *pos);

/* File reads deferred into a pool pipe (phantom.c, zc_phantom_defer_fpipe):
 * a free pool pipe able to hold n bytes, marked busy (its index), or -1. */
int zc_sock_pipe_take(size_t n);
/* Pool pipe i's generation (changes whenever it is taken), and the bytes
 * it holds. */
uint32_t zc_sock_pipe_gen(int i);
size_t zc_sock_pipe_bytes(int i);
/* Splices up to n bytes of file fd at off (explicit: fd's offset does not
 * move) into pool pipe i.  Returns the count or -errno; errno untouched. */
ssize_t zc_sock_pipe_from_file(int i, int fd, off_t off, size_t n);
/* The write side (redirect.c): sends the first len bytes of pool pipe i to
 * out (described by o) with write(2) semantics, as part of a write that
 * sent `progress` bytes before (transfer.h, zc_transfer_from_pipe).  The
 * caller owns the pipe for the call (taken from its record). */
struct zc_inflight;
ssize_t zc_sock_pipe_send_out(int i, int out, const struct zc_fdinfo *o, size_t len,
			      size_t progress, struct zc_inflight *f, enum zc_xfer_end *end);

/* Pool pipes this thread's call holds outside the lock (a socket read's
 * pipes while it splices, a record's P in emit_file_pipe, a socket
 * record's scratch pipe in zc_sock_send): noted under the lock when taken
 * (hold; -1 is ignored), the note dropped under it when given back
 * (unhold), so a handler that jumps out of the call in between
 * (zc_engine_abandon) puts them back (abandon) instead of leaving them busy
 * for good.  Lock held for these three; held() asks without it. */
void zc_sock_pipe_hold(int pipe);
void zc_sock_pipe_unhold(int pipe);
void zc_sock_pipe_abandon(void);
int zc_sock_pipe_held(void);

/* Is an end of pool pipe `pipe` (-1: none) in [lo, hi]?  A close_range
 * over it moves it, or closes it when there is no room: its record gets
 * its bytes first (engine.c). */
int zc_sock_pipe_in_range(int pipe, unsigned lo, unsigned hi);

/* After fork in the child: the pool's pipes are shared with the parent;
 * the child lets go of them and makes its own when it needs them. */
void zc_sock_after_fork_child(void);

#endif
