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
 *
 * zc_maps_each() reads it into the caller's buffer [buf, buf+size) and
 * calls each(line, nl, arg) for its lines in order (nl: the line's
 * newline) until one returns nonzero.  Returns that value, 0 when every
 * line was seen (or a line longer than the buffer ended the walk), or -1
 * when the file cannot be opened.
 */
int zc_maps_each(char *buf, size_t size, int (*each)(const char *line, const char *nl, void *arg),
		 void *arg);
/* In a forked child: the inherited descriptor shows the parent's maps. */
void zc_maps_after_fork_child(void);

#endif
