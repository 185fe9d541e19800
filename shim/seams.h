/*
 * seams.h - materialized ranges that are mappings of their own.
 *
 * Pages that leave the phantom state by materialization (phantom.c,
 * anon_copy) are moved in as a mapping the kernel never merges with the
 * program's memory around them; mremap refuses to resize a range spanning
 * several mappings.  Such ranges are recorded here and made one mapping with
 * their neighbours again before the program resizes or moves them.  All
 * functions run with the engine lock held.
 */
#ifndef ZC_SEAMS_H
#define ZC_SEAMS_H

#include <stdint.h>

/* Number of seams recorded: 0 means the wrappers need not look. */
extern volatile int zc_seams;

/* [lo, hi) was just materialized into a mapping of its own. */
void zc_seam_add(uintptr_t lo, uintptr_t hi);
/* The program is about to resize or move [lo, hi) (mremap, realloc): its
 * seams become one mapping with the memory around them again. */
void zc_seams_mend(uintptr_t lo, uintptr_t hi);
/* [lo, hi) is going away or was moved: its seams are forgotten. */
void zc_seams_forget(uintptr_t lo, uintptr_t hi);

#endif
