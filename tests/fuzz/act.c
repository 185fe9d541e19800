/*
 * act.c - what happens to the program while it writes: signal dispositions
 * and counts, and the helper thread that acts while main is blocked in a
 * write (the "sig" and "arm" ops).
 *
 * An "arm" op lets every reader take what was written so far, stops the
 * pipe's or the socket's reader, shrinks that pipe or socket to 64 KiB of
 * room (optionally full) and arms the helper for main's next op.  The helper
 * starts with that op, waits until main is seen asleep in a writing system
 * call (/proc/self/task/TID/syscall: write, writev, pwrite, sendto, sendmsg,
 * sendfile, splice, ...), then acts (dup2 onto a slot, close+open reusing a
 * number, a pwrite into a file, a SIGUSR1 to main, the reader quitting),
 * then lets the reader go on so that the write can finish.  Whether the
 * plain write blocks, and after how many bytes, depends on sizes alone.  If
 * main's op finishes without blocking, the helper acts after it: the log is
 * the same either way, and does not say which happened (--verbose does, on
 * stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fuzz.h"

int fz_verbose;

/* ---- signals ------------------------------------------------------------------- */

/*
 * Counted per thread: SIGPIPE and SIGXFSZ go to the thread that wrote, the
 * helper's SIGUSR1 to main, so each count is a function of that thread's ops
 * alone, whatever the other threads do meanwhile.
 */
static const int fz_sigs[3] = { SIGPIPE, SIGXFSZ, SIGUSR1 };
static __thread volatile unsigned sigcount[3];
static volatile int usr1_handled;

static void on_signal(int sig)
{
	for (int i = 0; i < 3; i++)
		if (fz_sigs[i] == sig)
			sigcount[i]++;
}

/*
 * SIGUSR1 with how 4: a program with a timeout on its writes (an alarm
 * whose handler siglongjmps back to a sigsetjmp made before the write).
 * The executor sets jump_env around each op of main (fz_jump_enter) while
 * this disposition is on; the handler counts the signal and, inside an
 * op, leaves it for that sigsetjmp.  Thread-local: the handler of another
 * thread (none gets SIGUSR1) or of a forked child (between ops) only
 * counts.  The helper sends the signal while main is blocked in the armed
 * write, or after the op, when jump_env is clear again: so the op is left
 * exactly when it blocked in the run without zcopy.
 */
static __thread sigjmp_buf *volatile jump_env;
static volatile int usr1_jumps;

static void on_signal_jump(int sig)
{
	on_signal(sig);
	sigjmp_buf *env = jump_env;
	if (env) {
		jump_env = NULL;
		siglongjmp(*env, 1);
	}
}

int fz_sig_set(int which, int how)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = how == 0 ? SIG_DFL : how == 1 ? SIG_IGN : how == 4 ? on_signal_jump : on_signal;
	sa.sa_flags = how == 2 ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	int r = sigaction(fz_sigs[which], &sa, NULL);
	if (fz_sigs[which] == SIGUSR1) {
		usr1_handled = how >= 2;
		usr1_jumps = how == 4;
	}
	return r;
}

int fz_jump_on(void) { return usr1_jumps; }

void fz_jump_enter(sigjmp_buf *env) { jump_env = env; }

void fz_jump_leave(void) { jump_env = NULL; }

void fz_sig_counts(unsigned n[3])
{
	for (int i = 0; i < 3; i++)
		n[i] = sigcount[i];
}

/* ---- the helper ------------------------------------------------------------------ */

static struct {
	int pending;       /* armed by the last main op */
	long a[5];         /* the arm op's arguments */
	int idx;
	pthread_t th;
	int live;
	pid_t tid;         /* main's */
	int procfd;        /* main's /proc/self/task/TID/syscall (far up), or <= 0 */
	int done;          /* main's op returned */
	int during;        /* that op writes into the held pipe or socket */
	volatile unsigned *usr1; /* main's SIGUSR1 count */
	long r;
	int e;
} H;

static int reader_of(const long *a) { return (a[4] & ARM_SOCK) ? 1 : 0; }
static int fdn(long slot) { return slot >= 0 && slot < NFDS ? fzw.fd[slot] : -1; }

/*
 * Opened by the arm op, in main, and kept far from the script's numbers:
 * an open in the helper while main's op runs would take the lowest free
 * number, which may be the very one the op uses (a FILE's or a slot's fd
 * the script closed), so that the op would write to or seek this file, at
 * a moment that depends on timing.
 */
static void proc_open(void)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)syscall(SYS_gettid));
	int e = errno, fd = open(path, O_RDONLY | O_CLOEXEC);
	H.procfd = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, fzw.highfd - 48);
	if (fd >= 0)
		close(fd);
	errno = e;
}

static void proc_close(void)
{
	if (H.procfd > 0)
		close(H.procfd);
	H.procfd = -1;
}

static int blocked_in_write(void)
{
	/* The poll family too: zcopy waits for a full destination in poll, a
	 * part of main's write as much as the splice around it. */
	static const long nrs[] = { SYS_write, SYS_writev, SYS_pwrite64, SYS_pwritev, SYS_pwritev2,
				    SYS_sendto, SYS_sendmsg, SYS_sendfile, SYS_splice,
				    SYS_copy_file_range, SYS_vmsplice, SYS_poll, SYS_ppoll,
				    SYS_select, SYS_pselect6 };
	char buf[128];
	/* A read at offset 0 shows the call anew. */
	ssize_t k = H.procfd > 0 ? pread(H.procfd, buf, sizeof buf - 1, 0) : -1;
	if (k <= 0)
		return 0;
	buf[k] = 0;
	/* "running" while it runs; else the number of the call it sleeps in. */
	char *e;
	long nr = strtol(buf, &e, 10);
	if (e == buf)
		return 0;
	for (unsigned i = 0; i < sizeof nrs / sizeof nrs[0]; i++)
		if (nr == nrs[i])
			return 1;
	return 0;
}

static void *helper_main(void *arg)
{
	(void)arg;
	static char pattern[65536];
	const long *a = H.a;
	int rd = reader_of(a), blocked = 0;
	/* Up to 3 s: a stopped reader's watchdog lets it go after 2.  An op
	 * that does not write into the held stream acts after it: such an op
	 * may sleep in a writing call for a moment (into the other stream
	 * as its reader keeps up, a splice of zcopy's inside a read), which
	 * would decide by timing whether the act came during it. */
	for (int k = 0; k < 30000 && !__atomic_load_n(&H.done, __ATOMIC_ACQUIRE); k++) {
		if (H.during && (blocked = blocked_in_write()))
			break;
		usleep(100);
	}
	if (fz_verbose)
		fprintf(stderr, "fuzz: op %d: helper acts %s\n", H.idx,
			blocked ? "while main is blocked" : "after the op");
	long r = -2;
	int x = (int)a[1], y = (int)a[2];
	errno = 0;
	switch ((unsigned long)a[0] % ACT__COUNT) {
	case ACT_DUP2:
		r = dup2(fdn(x), fdn(y));
		break;
	case ACT_REOPEN:
		if (y < 0 || y >= NFDS)
			break;
		close(fzw.fd[y]);
		r = open(fzw.path[(unsigned long)x % NFILES], O_RDWR);
		if (r >= 0 && r != fzw.fd[y]) {
			/* The lowest free number was another: move it. */
			int t = (int)r;
			r = dup2(t, fzw.fd[y]);
			close(t);
		}
		break;
	case ACT_PWRITE: {
		size_t n = a[3] <= 0 ? 1 : a[3] > 65536 ? 65536 : (size_t)a[3];
		fz_fill(pattern, n, (uint64_t)H.idx);
		/* After the op, the file changes as by an op of the script:
		 * once the readers took what was written (fz_readers_drain).
		 * The generator's aim past what may be in flight is for the
		 * armed stream; a dup2 may have put another at the number. */
		if (!blocked)
			fz_readers_drain();
		r = pwrite(fdn(y), pattern, n, x < 0 ? 0 : x);
		break;
	}
	case ACT_SIGNAL: {
		unsigned before = *H.usr1;
		r = syscall(SYS_tgkill, getpid(), H.tid, SIGUSR1);
		/* The write's outcome is decided once the handler ran: only then
		 * may the reader go on. */
		for (int k = 0; r == 0 && usr1_handled && k < 20000 && *H.usr1 == before; k++)
			usleep(100);
		break;
	}
	case ACT_PEER:
		r = fz_reader_quit(rd, 0);
		break;
	}
	H.r = r, H.e = r < 0 ? errno : 0;
	fz_reader_cont(rd);
	return NULL;
}

int fz_helper_arm(const long a[5])
{
	int rd = reader_of(a);
	if (fzw.gone[rd] || H.pending)
		return -2;
	/* Nothing of earlier writes in flight, the reader held, its room
	 * 64 KiB: a write of more blocks, in every run alike. */
	fz_readers_drain();
	if (!fz_reader_stopped(rd) && fz_reader_stop(rd) < 0)
		return -1;
	if (fz_stream_shrink(rd, (a[4] & ARM_FILL) != 0) < 0) {
		fz_stream_restore(rd);
		fz_reader_cont(rd);
		return -1;
	}
	memcpy(H.a, a, sizeof H.a);
	proc_open();
	H.pending = 1;
	return 0;
}

/* Do a and b name the same pipe or socket? */
static int same_stream(int a, int b)
{
	struct stat x, y;
	int e = errno, r = a >= 0 && b >= 0 && fstat(a, &x) == 0 && fstat(b, &y) == 0 &&
			   x.st_dev == y.st_dev && x.st_ino == y.st_ino;
	errno = e;
	return r;
}

void fz_helper_start(int idx, int dest)
{
	if (!H.pending)
		return;
	H.pending = 0;
	H.idx = idx;
	H.during = same_stream(dest, fzw.stream_fd[reader_of(H.a)]);
	H.tid = (pid_t)syscall(SYS_gettid);
	H.usr1 = &sigcount[2];
	__atomic_store_n(&H.done, 0, __ATOMIC_RELEASE);
	H.live = pthread_create(&H.th, NULL, helper_main, NULL) == 0;
	if (!H.live) {
		proc_close();
		fz_reader_cont(reader_of(H.a));
	}
}

void fz_helper_join(char *line, size_t cap)
{
	*line = 0;
	if (!H.live)
		return;
	__atomic_store_n(&H.done, 1, __ATOMIC_RELEASE);
	pthread_join(H.th, NULL);
	H.live = 0;
	proc_close();
	fz_stream_restore(reader_of(H.a));
	snprintf(line, cap, "%ld %ld %ld %ld %ld = %ld e%d", H.a[0], H.a[1], H.a[2], H.a[3], H.a[4],
		 H.r, H.e);
}

void fz_helper_disarm(void)
{
	if (!H.pending)
		return;
	H.pending = 0;
	proc_close();
	fz_stream_restore(reader_of(H.a));
	fz_reader_cont(reader_of(H.a));
}
