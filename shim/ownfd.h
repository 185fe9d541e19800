/*
 * ownfd.h - the descriptors zcopy holds for itself.
 *
 * Every descriptor zcopy opens for its own use (the /proc/self/pagemap
 * reader, the log file, the stats file at exit, private duplicates of a
 * program's fds) is registered here, so that it follows every call that can
 * close or replace an fd number:
 *  - it sits high above the program's numbers (the highest free number below
 *    the soft RLIMIT_NOFILE), so open() and friends return the numbers they
 *    would return without zcopy;
 *  - close() of it fails with EBADF, as it would without zcopy (the program
 *    never opened it);
 *  - dup2/dup3 onto it, close_range/closefrom over it: it is moved out of the
 *    way first (and its owner's slot updated), or closed when there is no
 *    room (its owner then does without), and the program's call then acts
 *    on a number that is free, as without zcopy;
 *  - fcntl(F_DUPFD*) that would have been given its number: it is moved,
 *    and the call made again;
 *  - it is close-on-exec, and stays valid in a forked child.
 *
 * An owner keeps the number in a slot (an int it owns, registered by
 * address); the slot is rewritten when the fd moves.  A system call on the
 * fd is bracketed by zc_ownfd_use() / zc_ownfd_unuse(), and a move waits
 * until no thread is inside such a call.
 *
 * Concurrency: the registry is a fixed array under its own mutex; every
 * holder of the mutex blocks signals meanwhile, so no signal handler can
 * interrupt a holder (and then wait for it).  zc_ownfd_is(),
 * zc_ownfd_use() and zc_ownfd_unuse() take no lock in the common case.
 * Async-signal-safe: zc_ownfd_is() only.  zc_ownfd_use() called from a
 * handler that interrupted a use by the same thread never waits (it returns
 * -1 while the fd is being moved).  The others take the mutex (with signals
 * blocked, so they are safe from a handler on a thread that is not inside
 * them, but they may wait for another thread's call to end).
 * Lock order: the engine lock, then this one; nothing here calls the engine.
 */
#ifndef ZC_OWNFD_H
#define ZC_OWNFD_H

#include <stddef.h>

/* How many descriptors zcopy may hold at once. */
#define ZC_OWNFD_MAX 48 /* the pins (pin.h) and a few of zcopy's own */

/* Below this soft RLIMIT_NOFILE a long-lived descriptor is not kept (see
 * zc_ownfd_keep_ok and docs/design.md). */
#define ZC_OWNFD_KEEP_MIN_LIMIT 1024

/* At start-up (before any other zc_ownfd call that may fork): registers the
 * fork handlers. */
void zc_ownfd_init(void);
/* Is this a vfork child, sharing the memory of the process the tables
 * belong to?  (One getpid; false before zc_ownfd_init.) */
int zc_in_vfork_child(void);
/*
 * For the wrappers of calls that change what an fd number names (close,
 * dup2, close_range, ...): zc_in_vfork_child(), and if so a mark for the
 * read and write paths.  The child's fd table is its own, but it shares
 * the tables of pins, which kcmp proves against the parent's descriptors:
 * a pin of the number may name what the child just let go of.  While the
 * mark is set (zc_vfork_renamed, thread-local, so a compare),
 * zc_vfork_child_renamed() says whether this is still that vfork child (a
 * getpid then): its reads and writes go plainly; the parent's thread,
 * resumed, clears the mark.
 */
int zc_vfork_child_renames(void);
extern __thread int zc_vfork_renamed;
int zc_vfork_child_renamed_slow(void);
static inline int zc_vfork_child_renamed(void)
{
	return __builtin_expect(zc_vfork_renamed, 0) && zc_vfork_child_renamed_slow();
}

/* Moves/duplicates fd to a number high above the program's (F_DUPFD_CLOEXEC
 * from the top of RLIMIT_NOFILE down, never below half of it), registers it
 * as zcopy's, stores the number in *slot and returns it; -1 (and *slot = -1)
 * when there is no room.  keep_src: 0 closes the original fd (also on
 * failure), 1 leaves it (a duplicate of the program's own fd).  If *slot is
 * already registered (two threads raced to open the same thing), the new fd
 * is dropped and the registered number returned. */
int zc_ownfd_take(int fd, int *slot, int keep_src);
/* Closes and unregisters the fd in *slot; *slot = -1.  Waits until no other
 * thread is inside a call on it. */
void zc_ownfd_close(int *slot);
/* Unregisters *slot without closing it (*slot = -1): the number was closed
 * or replaced by a call zcopy could not see (a raw system call, a libc
 * internal one) and may be the program's now. */
void zc_ownfd_forget(int *slot);
/* Is fd one of zcopy's?  (The close wrapper answers EBADF for them, as
 * without zcopy.)  One compare when fd is below every fd of zcopy's. */
int zc_ownfd_is(int fd);
/* Before a use: returns the current number in *slot (or -1 if the slot is
 * not registered) and marks it busy; after the system call,
 * zc_ownfd_unuse(slot) (harmless after a -1).  A move waits until no thread
 * is inside a call on it, except for a signal handler of the using thread
 * itself: a user that must not act on another file checks, after its call
 * and before unuse, that *slot still holds the number it used. */
int zc_ownfd_use(int *slot);
void zc_ownfd_unuse(int *slot);
/* This thread leaves zcopy's frames for good (a signal handler's jump out
 * of them, a cancellation): every use it still has is given back. */
void zc_ownfd_abandon(void);
/* Wrappers call these BEFORE the program's own call: dup2/dup3(x, fd) and
 * close_range/closefrom: an fd of zcopy's in the way is moved elsewhere
 * first (and *slot updated); if it cannot be moved it is closed and
 * *slot = -1 (its owner then does without). */
void zc_ownfd_before_take(int fd);
void zc_ownfd_before_close_range(unsigned lo, unsigned hi);
/*
 * The program's fcntl(fd, F_DUPFD or F_DUPFD_CLOEXEC, arg) made by `real`:
 * it gets the lowest number at or above arg that the program does not hold,
 * as without zcopy.  The call is made first; only when an fd of zcopy's
 * lies between arg and the answer (or the answer is EMFILE and one lies
 * above arg) is that fd moved out of the way and the call made again.
 * (Moving every fd of zcopy's above arg first, as close_range does, would
 * close them all whenever arg is small: there is no room below arg.)
 */
int zc_ownfd_dupfd(int (*real)(int, int, ...), int fd, int cmd, int arg);

/* May zcopy keep a descriptor open between calls?  Not when the soft
 * RLIMIT_NOFILE is below ZC_OWNFD_KEEP_MIN_LIMIT: there a program is likely
 * to count its descriptors, and one held by zcopy would make its open()
 * reach EMFILE one file earlier.  Owners then open, use and close within one
 * call. */
int zc_ownfd_keep_ok(void);

/* Opens an output file of zcopy's own (the stats and log files) for
 * appending, safely: a symbolic link is not followed (ELOOP), the open never
 * blocks (a FIFO without a reader fails with ENXIO), anything but a regular
 * file is refused (EINVAL), a new file gets mode 0600; then registers it in
 * *slot (zc_ownfd_take).  Returns the number, or -1 with errno set. */
int zc_ownfd_open_output(const char *path, int *slot);

/* Makes a path template absolute against the current directory (at
 * start-up, before the program can change it).  Returns 0, or -1 if it does
 * not fit or the directory is unknown (out is then the template as is). */
int zc_abs_template(char *out, size_t cap, const char *tmpl);

/* Number of registered descriptors (tests, diagnostics). */
int zc_ownfd_count(void);

#endif
