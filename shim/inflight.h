/*
 * inflight.h - ranges of source files that a write is transferring right now.
 *
 * A plain write copies the program's buffer when it is called; zcopy's
 * version reads the source file later, in the kernel, one primitive call at
 * a time.  So a change this process makes to the source (any thread) must
 * not land while a primitive call is reading the range, and a range that
 * changed must not be read by the next one: the changer revokes the range
 * and waits for the call in progress to end; the writer checks the
 * revocation before every call and sends the rest from the buffer, which the
 * changer has already given the old bytes (zc_phantom_file_changing).
 * Calls after a write's first bytes never wait for the destination (see
 * transfer.c), but its first call may (a full pipe or socket), so the wait
 * is cut off after ZC_INFLIGHT_WAIT_MS: no program can deadlock on it, and
 * a destination whose reader stays away longer may receive the new bytes
 * (README, "Stream sockets" and "One write, one set of files").  All functions run under the
 * engine lock but zc_inflight_enter and zc_inflight_leave, which take none
 * (inflight.c says how they pair with zc_inflight_changing).
 */
#ifndef ZC_INFLIGHT_H
#define ZC_INFLIGHT_H

#include <sys/types.h>

#define ZC_MAX_INFLIGHT 32
#define ZC_INFLIGHT_WAIT_MS 1000

struct zc_inflight {
	dev_t dev;
	ino_t ino;
	off_t off, len; /* len 0 = free slot */
	int in_call;    /* a primitive call is reading the range */
	int revoked;    /* the file changed in the range: send no more from it */
};

extern volatile int zc_inflight_live; /* number of ranges in flight */

/* Registers a range about to be transferred; NULL if the table is full. */
struct zc_inflight *zc_inflight_begin(dev_t dev, ino_t ino, off_t off, off_t len);
void zc_inflight_end(struct zc_inflight *f);
/* Before a primitive call: 0 if the range was revoked (do not call), else 1
 * and the call is marked in progress.  Without the lock. */
int zc_inflight_enter(struct zc_inflight *f);
/* After it.  Without the lock (takes it to wake a waiting change). */
void zc_inflight_leave(struct zc_inflight *f);
/* The file (dev, ino) is about to change in [off, off+len) (len 0: to the
 * end): revoke the ranges in flight there and wait for their calls. */
void zc_inflight_changing(dev_t dev, ino_t ino, off_t off, off_t len);
/* In a forked child: no write of the parent's is in flight there. */
void zc_inflight_after_fork_child(void);
/* Is a range of (dev, ino) in flight? */
int zc_inflight_of_file(dev_t dev, ino_t ino);

#endif
