/*
 * transfer.h - moving bytes of a file to a destination inside the kernel.
 *
 * Chooses the primitive for the destination (DESIGN section 4), loops over
 * short counts the way one blocking write would not return early, and turns
 * the primitive's errors into exactly what a plain write of those bytes would
 * have reported.  "The kernel refused this kind of transfer" is not an error
 * the program sees: it is reported to the caller, which writes plainly, and
 * remembered for the pair of files so the next chunk does not ask again.
 */
#ifndef ZC_TRANSFER_H
#define ZC_TRANSFER_H

#include <stddef.h>
#include <sys/types.h>

#include "fdinfo.h"

/* May bytes go to a destination of this kind and these flags by a kernel
 * transfer?  Returns -1 if yes, else the ZC_FB_* reason why not. */
int zc_transfer_refusal(const struct zc_fdinfo *out);

/*
 * Moves len bytes of `in` at in_off to `out` (described by o) as a write of
 * those bytes would: at out's file offset (out_pos NULL) or at *out_pos (a
 * pwrite; *out_pos is advanced).  Returns the bytes moved (> 0), or -errno as
 * the plain write would have failed; returns 0 with *refused set when the
 * kernel cannot do this transfer and nothing was moved (write plainly then),
 * and 0 with *eof set when the source ended early (truncated meanwhile).
 */
ssize_t zc_transfer(int out, const struct zc_fdinfo *o, off_t *out_pos, int in,
		    const struct zc_fdinfo *i, off_t in_off, size_t len, int *refused, int *eof);

#endif
