/*
 * pin.h - private duplicates that pin what a program's fd named when it
 * made its call.
 *
 * A plain read or write takes its file references once, when it is called;
 * another thread's dup2 or close+open of the same number a moment later
 * cannot change where its bytes come from or go.  zcopy's version of one call
 * is several system calls, so it makes them all on a pin: zcopy's own
 * duplicate of the program's fd, proven to name the same open file
 * description as the program's number at the moment of the call with
 * kcmp(KCMP_FILE) when it is made or after any wrapped call that may have
 * changed what a number names, and by a generation check (no system call)
 * while nothing did.  The moment of that check is the moment the program's
 * call "took its references"; everything after uses the pin.  A close+open
 * by another thread that starts after the check changes nothing for this
 * call, exactly as for a plain call that took its references first; one
 * under way or done before the check is seen, and kcmp decides.
 *
 * Invariants (all under the engine lock):
 *  - a pin names exactly the description its number named when it was made;
 *  - an attached pin is dropped when the program's number stops naming that
 *    description (close, dup2 over it, close_range, or kcmp disagreeing), so
 *    zcopy never keeps a description alive that the program let go of (its
 *    flock locks, a pipe's end-of-file) beyond what an in-flight call would;
 *  - refs counts the attachment to the number, the phantom records made from
 *    the pin and the writes in flight on it; the duplicate is closed at 0.
 * Without kcmp (a kernel without CONFIG_KCMP, or a seccomp filter that
 * refuses it) nothing is pinned and zcopy defers no reads.
 */
#ifndef ZC_PIN_H
#define ZC_PIN_H

#include <sys/types.h>

#include "fdinfo.h"

#define ZC_MAX_PINS 32

/* Number of pins in use: 0 means no fd event concerns them. */
extern volatile int zc_pins_live;

/* Probes kcmp; after fork in the child, call again (the pid changed). */
void zc_pin_init(void);
/* The process's pid as zc_pin_init noted it (kcmp names the process by it):
 * read without a system call. */
pid_t zc_pin_self(void);

/*
 * A pin for the program's fd as it is now, with one reference for the
 * caller: an existing one if kcmp says the number still names its
 * description, else a new duplicate.  *info is the description's
 * classification and *st (if not NULL) a fresh fstat when `fresh` is set.
 * Returns the pin's index, or -1 (fd not open, no room, no kcmp), or -2
 * when RLIMIT_NOFILE is too small for zcopy to hold a descriptor (ownfd.h).
 */
int zc_pin_get(int fd, struct zc_fdinfo *info, int fresh, struct stat *st);
/* zcopy's descriptor for pin i, for a use that makes system calls on it:
 * until zc_pin_unuse(i), a program's dup2 onto that number waits instead of
 * moving it away under the call (ownfd.h).  -1 if it was lost. */
int zc_pin_use(int i);
void zc_pin_unuse(int i);
/* zcopy's descriptor for pin i (for comparisons only). */
int zc_pin_fd(int i);
/* One more / one less reference. */
void zc_pin_ref(int i);
void zc_pin_put(int i);
/* The program's number fd no longer names what it named (close, dup2 over
 * it): pins made from it detach. */
void zc_pin_fd_closed(int fd);
void zc_pin_range_closed(unsigned lo, unsigned hi);
/*
 * Around every wrapped call that may change what one of the program's fd
 * numbers names (close, dup2/dup3, close_range/closefrom, and the libc
 * functions that close or replace a descriptor inside libc: fclose,
 * freopen, fcloseall, closedir, pclose, endmntent, login_tty, mq_close):
 * changing before the call, changed after it, on every path.  Between
 * them, and once after, a pin is proven again with kcmp before use; while
 * nothing changes, its last proof stands and a call costs no system call
 * for identity.  What cannot be seen here (a raw syscall(SYS_close),
 * io_uring, a process sharing the fd table without sharing this memory) is
 * listed in the README's Limitations.
 */
void zc_pin_names_changing(void);
void zc_pin_names_changed(void);
/*
 * Whether pin i's description refused pwritev2(RWF_NOWAIT) with EOPNOTSUPP.
 * The kernel decides that from the open file's FMODE_NOWAIT, fixed when the
 * file is opened (pipes of many kernels lack it): remembered per pin, the
 * refused call is made once per description instead of once per write.
 * Callers hold a reference to i.
 */
int zc_pin_nowait_refused(int i);
void zc_pin_refuses_nowait(int i);
/* An fd's status flags may have changed (F_SETFL, FIONBIO): re-read them. */
void zc_pin_flags_changed(void);
/* Counts those changes: a status flag read before is still true while
 * the count stays. */
unsigned zc_pin_flags_gen(void);
/* Detaches every pin whose number no longer names its description (after
 * closes zcopy could not follow one by one). */
void zc_pin_check_all(void);
/* In a forked child: the parent's writes in flight are not the child's, and
 * the child keeps nothing open of zcopy's: every pin is closed. */
void zc_pin_after_fork_child(void);

#endif
