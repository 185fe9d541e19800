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
#include <sys/types.h>

/* Number of seams recorded: 0 means the wrappers need not look. */
extern volatile int zc_seams;

/* [lo, hi) was just materialized into a mapping of its own. */
void zc_seam_add(uintptr_t lo, uintptr_t hi);
/* The program is about to resize or move [lo, hi) (mremap, realloc): its
 * seams become one mapping with the memory around them again. */
void zc_seams_mend(uintptr_t lo, uintptr_t hi);
/* [lo, hi) is going away or was moved: its seams are forgotten. */
void zc_seams_forget(uintptr_t lo, uintptr_t hi);

/*
 * Reading /proc/self/maps (here and in guard.c).  Opening it takes the
 * lowest free number, which may be one the program just closed: another
 * thread of the program reading that number would read zcopy's maps.  So,
 * as for the pagemap, the descriptor is opened once, moved high and kept
 * (ownfd.h); below the limit where nothing is kept it is opened per use.
 * zc_maps_begin() returns a descriptor for zc_maps_pread (-1 if none);
 * zc_maps_end() after the reads.
 */
int zc_maps_begin(void);
ssize_t zc_maps_pread(int fd, void *buf, size_t n, off_t off);
void zc_maps_end(int fd);
/* In a forked child: the inherited descriptor shows the parent's maps. */
void zc_maps_after_fork_child(void);

#endif
