/*
 * engine.h - engine.c: the read side and the events the wrappers report.
 *
 * The wrappers in interpose.c, memory.c, paths.c and stdio.c decide only
 * "plain call or engine"; engine.c owns the decision to defer a read, the
 * fd, file, memory and stdio events, the detector state, the engine lock,
 * the zc_inside flag and the settings the wrappers' fast paths compare
 * against.  The write side is redirect.h.
 */
#ifndef ZC_ENGINE_H
#define ZC_ENGINE_H

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <time.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "cancel.h"
#include "config.h"

/* Set once the constructor ran: 0 = pass everything through. */
extern volatile int zc_ready;
/* ZC_MODE_* in force (ZC_MODE_OFF until zc_ready). */
extern volatile int zc_mode;
/* Smallest read considered (ZCOPY_MIN_CHUNK); writes below one page are
 * never considered. */
extern size_t zc_min_chunk;
/* The wrappers' fast-path thresholds: a read of fewer than zc_read_min bytes
 * (a write of fewer than zc_write_min) is the plain call and nothing else.
 * SIZE_MAX until the constructor ran and in mode off; 1 in observe mode.
 * In mode on, writes stay at SIZE_MAX until a read has started a stream. */
extern size_t zc_read_min;
extern size_t zc_write_min;

/* A thread-local "inside zcopy" flag: a wrapper entered while it is set (a
 * signal handler that runs during our own work) takes the plain path. */
extern __thread int zc_inside __attribute__((tls_model("initial-exec")));

/*
 * zc_enter()/zc_leave(): the one way into and out of zcopy's own work from
 * a wrapper.  While the flag is set, a signal handler that interrupts this
 * thread and calls a wrapper takes the plain path (it never waits for the
 * engine lock, never sees half-changed tables).  What such a handler did to
 * fds zcopy pins (a close, a dup2 over one) is queued and dealt with on the
 * way out, so zcopy never keeps open what the program closed.  zc_leave()
 * leaves errno alone.
 */
extern __thread int zc_pending_n __attribute__((tls_model("initial-exec")));
/* Where on the stack this thread entered zcopy (see jump.c). */
extern __thread uintptr_t zc_inside_sp __attribute__((tls_model("initial-exec")));
/*
 * Cancellation.  zcopy's own calls include cancellation points (pread,
 * splice, close, poll, pthread_cond_timedwait): a pthread_cancel pending
 * when one is reached unwound the thread from inside zcopy, holding the
 * engine lock or a use of one of its fds, and every other thread then
 * waited for it forever.  So, inside zcopy, cancellation is disabled
 * (zc_enter saves the program's state, zc_leave puts it back), and only
 * the calls that stand for the program's own call (which is a
 * cancellation point) run with the program's state, in a window
 * (zc_cancel_window) whose cleanup handler lets go of what the thread
 * holds.  A cancel that is pending when a read or write starts acts there,
 * before anything is done, as it does at the plain call's entry.
 */
extern __thread int zc_cancel_old __attribute__((tls_model("initial-exec")));
/* What zcopy knows of this thread's cancellation: 1 while it keeps it
 * disabled, the type deferred (from zc_enter or zc_nest_enter to its way
 * out, outside the windows); 2 inside a window (the type deferred, the
 * state the program's); 0 nothing.  zc_lock then changes only what it must
 * (a copy loop takes the lock seven times a chunk, three calls into glibc
 * each when it asks). */
extern __thread int zc_cancel_held __attribute__((tls_model("initial-exec")));
void zc_leave_slow(void);
static inline __attribute__((always_inline)) void zc_enter(void)
{
	zc_inside_sp = (uintptr_t)__builtin_frame_address(0);
	zc_inside = 1;
	zc_cancel_old = zc_cancel_off();
	zc_cancel_held = 1;
}
static inline void zc_leave(void)
{
	if (__builtin_expect(zc_pending_n != 0, 0))
		zc_leave_slow();
	/* The program's state is read while the flag still keeps a signal
	 * handler's calls out of zcopy: once it is clear, a handler's
	 * zc_enter saves this thread's state, still "disabled", over it. */
	int old = zc_cancel_old;
	zc_cancel_held = 0;
	__asm__ __volatile__("" ::: "memory");
	zc_inside = 0;
	zc_cancel_on(old);
}
/* The program's cancellation state for a call that stands for its own
 * (zc_cancel_window_open returns what to give zc_cancel_window_close). */
static inline int zc_cancel_window_open(void)
{
	int old; /* (the type is already deferred: zc_enter, cancel.h) */
	zc_cancel_held = 2;
	__asm__ __volatile__("" ::: "memory");
	pthread_setcancelstate(zc_cancel_old & 1 ? PTHREAD_CANCEL_DISABLE : PTHREAD_CANCEL_ENABLE,
			       &old);
	return old;
}
static inline void zc_cancel_window_close(int old)
{
	int ignored;
	pthread_setcancelstate(old, &ignored);
	__asm__ __volatile__("" ::: "memory");
	zc_cancel_held = old == PTHREAD_CANCEL_DISABLE; /* (always, inside zc_enter) */
}
/*
 * zcopy's cleanup regions (the windows above, and the stdio replay, which
 * holds the stream's lock) are pthread_cleanup_push/pop pairs: glibc puts a
 * buffer on the thread's chain of cleanup handlers (in the region's frame)
 * and the pop takes it off.  A signal handler that jumps out of a region
 * (jump.c: a siglongjmp out of a waiting write) skips the pop: the chain
 * kept naming a frame that was gone, and the thread's next cancellation or
 * pthread_exit jumped into it.  So the regions are zc_cleanup_push/pop,
 * which note the outermost region's buffer, and a jump that leaves it
 * takes it off the chain with the inner ones, as their pops would have
 * (zc_cleanup_jumped).  (Built with -fexceptions there is no chain: the
 * unwinder finds the handlers in the frames, and a jump leaves nothing.)
 */
#ifndef __EXCEPTIONS
extern __thread __pthread_unwind_buf_t *zc_cleanup_outer __attribute__((tls_model("initial-exec")));
static inline int zc_cleanup_note(__pthread_unwind_buf_t *buf)
{
	if (zc_cleanup_outer)
		return 0;
	zc_cleanup_outer = buf;
	return 1;
}
static inline void zc_cleanup_unnote(int outer)
{
	if (outer)
		zc_cleanup_outer = NULL;
}
/* (__cancel_buf: the buffer pthread_cleanup_push declares, glibc's name.) */
#define zc_cleanup_push(routine, arg)                                                    \
	pthread_cleanup_push(routine, arg);                                               \
	int zc_cleanup_outer_ = zc_cleanup_note(&__cancel_buf)
#define zc_cleanup_pop(execute)                                                          \
	zc_cleanup_unnote(zc_cleanup_outer_);                                             \
	pthread_cleanup_pop(execute)
#else
#define zc_cleanup_push(routine, arg) pthread_cleanup_push(routine, arg)
#define zc_cleanup_pop(execute) pthread_cleanup_pop(execute)
#endif
/* A jump to a frame whose stack pointer is target_sp: zcopy's cleanup
 * regions it leaves come off the thread's chain. */
void zc_cleanup_jumped(uintptr_t target_sp);

/*
 * Cancellation kept off across several engine calls that are one call of
 * the program's (zc_engine_readv's pieces: the plain readv has no
 * cancellation point after its start).  The span puts the program's state
 * back at its end; a signal handler that jumps out of it skips that end,
 * and left the thread unable ever to be cancelled, so the jump puts it
 * back (jump.c, zc_cancel_jumped).  Spans live in their callers' frames,
 * linked innermost first.
 */
struct zc_cancel_span {
	struct zc_cancel_span *prev;
	int type, state; /* the program's, as glibc reported them; -1 until then */
};
extern __thread struct zc_cancel_span *zc_cancel_spans __attribute__((tls_model("initial-exec")));
/* Linked before anything changes: a handler that jumps out at any point of
 * the change finds the span, and in it what was changed so far (about one
 * run in a hundred of a timer jumping out of readv came between the change
 * and the link, and left the thread unable to be cancelled). */
static inline void zc_cancel_span_begin(struct zc_cancel_span *s)
{
	s->type = -1;
	s->state = -1;
	s->prev = zc_cancel_spans;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	zc_cancel_spans = s;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	zc_cancel_off_into(&s->type, &s->state);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}
static inline void zc_cancel_span_end(struct zc_cancel_span *s)
{
	/* The state first: a jump in between puts it back once more. */
	zc_cancel_on(zc_cancel_saved(s->type, s->state));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	zc_cancel_spans = s->prev;
}
/* A jump to a frame whose stack pointer is target_sp: the spans it leaves
 * end, and the outermost one's state comes back. */
void zc_cancel_jumped(uintptr_t target_sp);

/* A wrapper's fd event while this thread is inside zcopy (a signal
 * handler's close): queued for zc_leave().  Async-signal-safe. */
void zc_defer_fd_closed(int fd);
/* A signal handler is jumping out of this thread's zcopy work (jump.c):
 * let go of it as if it had returned.  Runs in the handler. */
void zc_engine_abandon(void);

/* The detector's state (engine.c), shared with the write side (redirect.c);
 * touched only under the engine lock. */
struct zc_detector;
extern struct zc_detector zc_det_state;

/* Observe mode: this thread's latest read smaller than ZCOPY_MIN_CHUNK. */
struct zc_small_read {
	uintptr_t buf;
	size_t len;
	int why; /* the ZC_FB_* reason it could not be deferred */
};
extern __thread struct zc_small_read zc_small_read __attribute__((tls_model("initial-exec")));

/* The engine lock: guards the detector and the phantom table.  Taken only
 * with zc_inside set, so a signal handler never waits for it. */
void zc_lock(void);
void zc_unlock(void);
/* Does the calling thread hold the engine lock? */
int zc_lock_held(void);
/* Waits on cv with the lock (held) released meanwhile, until the
 * CLOCK_MONOTONIC time `until`; returns 0 or ETIMEDOUT.  May return 0
 * early (a spurious wakeup, every few milliseconds): callers look again. */
int zc_lock_wait(pthread_cond_t *cv, const struct timespec *until);

/*
 * The scoped forms of the rules above, so that a section cannot forget one:
 *
 * zc_enter_locked()/zc_leave_locked(saved): a wrapper's section of table
 * work: into zcopy, the lock, errno saved; out in the reverse order, errno
 * put back.  Only where zc_inside is known clear (the caller checked it).
 *
 * zc_nest_enter()/zc_nest_leave(): for code that may run with zc_inside
 * already set (a SIGSEGV handler's fault on a guarded page, a wrapper's
 * call made from a signal handler that interrupted zcopy's own calls):
 * sets the flag, saves errno, and puts both back as they were, instead of
 * clearing the flag as zc_leave() would.
 */
static inline __attribute__((always_inline)) int zc_enter_locked(void)
{
	int saved = errno;
	zc_enter();
	zc_lock();
	return saved;
}
static inline void zc_leave_locked(int saved)
{
	zc_unlock();
	zc_leave();
	errno = saved;
}
struct zc_nest {
	int inside;
	int saved_errno;
	int cancel;
	int held;
};
static inline __attribute__((always_inline)) struct zc_nest zc_nest_enter(void)
{
	struct zc_nest n = { zc_inside, errno, 0, zc_cancel_held };
	if (!n.inside) {
		/* Entered from the program's own code (a fault on a guarded
		 * page): a jump out of it (a handler that ran inside, at the
		 * lock's release) is a jump out of zcopy, which
		 * zc_engine_abandon undoes as for zc_enter, back to this
		 * state (jump.c). */
		zc_inside_sp = (uintptr_t)__builtin_frame_address(0);
	}
	zc_inside = 1;
	n.cancel = zc_cancel_off();
	if (!n.inside)
		zc_cancel_old = n.cancel;
	zc_cancel_held = 1;
	return n;
}
static inline void zc_nest_leave(struct zc_nest n)
{
	zc_cancel_held = n.held;
	__asm__ __volatile__("" ::: "memory");
	zc_cancel_on(n.cancel);
	errno = n.saved_errno;
	zc_inside = n.inside;
}

/* Returned by a step of the engine in place of a result (a count, a pin):
 * nothing was done, and the program's own call is to be made.  A count
 * from a read or write is never negative, and -1 stays what it is for
 * them: a failure with errno set. */
#define ZC_PLAIN (-2)

/* The most one read or write transfers (the kernel's MAX_RW_COUNT). */
#define ZC_MAX_RW ((size_t)0x7ffff000)

/* Reads.  pos == NULL: at the file offset (read/readv), which is advanced;
 * otherwise at *pos (pread/preadv), offset untouched. */
ssize_t zc_engine_read(int fd, void *buf, size_t n, const off_t *pos);
ssize_t zc_engine_readv(int fd, const struct iovec *iov, int cnt, const off_t *pos);

/* Memory [lo, hi) is changing under the program's call: it goes away
 * (munmap, MAP_FIXED over it), reads as zeros afterwards (MADV_DONTNEED;
 * ZC_MEM_FREE: the block [lo, hi) was freed, and other blocks may share
 * its first and last pages), or keeps its bytes but must become ordinary
 * memory (realloc, mremap, mprotect, other madvise).  ZC_MEM_FREE_MAPPED:
 * ZC_MEM_FREE of a block glibc mapped on its own, which it unmaps without a
 * wrapped call: what guard.c knows of the mappings is forgotten too. */
enum zc_mem_event { ZC_MEM_GONE, ZC_MEM_ZERO, ZC_MEM_KEEP, ZC_MEM_FREE, ZC_MEM_FREE_MAPPED };
void zc_engine_memory(uintptr_t lo, uintptr_t hi, enum zc_mem_event ev);
/* At start-up: a fresh lock and detector.  In a forked child: a fresh lock. */
void zc_engine_init(void);
void zc_engine_reset(void);

/* fd bookkeeping (close, dup2 target, close_range, fclose). */
void zc_engine_fd_closed(int fd);
void zc_engine_fd_range_closed(unsigned lo, unsigned hi);
/* The file behind fd is about to be changed at [off, off+len) (len 0 = to
 * end) by a call that is not a write we redirect (ftruncate, fallocate,
 * sendfile/splice/copy_file_range into it, a small write). */
void zc_engine_file_changing(int fd, off_t off, off_t len);

/* The file at path (relative to dirfd) is about to be truncated to from
 * bytes by a call that names it (open with O_TRUNC, truncate, fopen "w"). */
void zc_engine_path_changing(int dirfd, const char *path, off_t from);

/* fflush(NULL): any file may change; every phantom gets its bytes. */
void zc_engine_all_files_changing(void);

/* stdio observation, for the fread/fwrite calls that stay glibc's. */
void zc_engine_stdio_read(int fd, void *buf, size_t n);
void zc_engine_stdio_write(int fd, const void *buf, size_t n);
/* stdio that takes part (stdio_read.c, stdio_write.c): does [buf, buf+n)
 * hold phantom pages; n bytes of a redirected fwrite went through the
 * stream's buffer. */
int zc_engine_stdio_phantom(const void *buf, size_t n);
/* The read the engine just made into buf on fd was followed by glibc's own
 * read of the bytes up to buf+n: a write of all n pairs with it. */
void zc_engine_stdio_read_more(int fd, const void *buf, size_t n);
void zc_engine_stdio_buffered(size_t n);
/* glibc's own read(2) (inside fread) is about to fill [buf, buf+n) of the
 * caller's memory, and the replay's own write(2) to read [buf, buf+n): the
 * kernel's access to the program's memory that no wrapper sees.  Phantom
 * pages there become ordinary memory first, as before a plain read (and
 * whatever else a strategy needs before the kernel touches the buffer). */
void zc_engine_stdio_plain_read(void *buf, size_t n);
ssize_t zc_engine_stdio_plain_write(int fd, const void *buf, size_t n);
/* glibc is about to copy [buf, buf+n) of the caller's memory into the
 * stream's buffer (an fwrite's start or tail, which glibc writes itself
 * later): guarded pages there get their bytes first, as before
 * zc_engine_stdio_plain_write, instead of faulting as the program's own
 * look at its data would. */
void zc_engine_stdio_copy_out(const void *buf, size_t n);
/* Bytes of this thread's fread request that glibc reads itself right after
 * the engine's read (its last block): ZCOPY_MIN_CHUNK applies to the
 * program's request, as for a read().  0 = none. */
extern __thread size_t zc_stdio_read_rest __attribute__((tls_model("initial-exec")));

#endif
