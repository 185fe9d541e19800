/*
 * ownfd.h - descriptors zcopy holds for itself.
 *
 * They live high above the numbers open() hands out, close-on-exec.
 */
#ifndef ZC_OWNFD_H
#define ZC_OWNFD_H

/* Duplicates fd to a number high above the program's, registers it, stores
 * it in *slot and returns it; -1 (and *slot = -1) when there is no room.
 * keep_src 0 closes fd afterwards. */
int zc_ownfd_take(int fd, int *slot, int keep_src);
/* Closes and unregisters the fd in *slot; *slot = -1. */
void zc_ownfd_close(int *slot);
/* Is fd one of zcopy's? */
int zc_ownfd_is(int fd);

#endif
