/*
 * fault_blocked - a redirected write that waits for its destination, and
 * what the program does meanwhile or right after: a signal handler that
 * jumps out of it or closes the destination, a thread that forks a helper
 * which closes every descriptor, a send timeout, O_NONBLOCK changed by
 * ioctl(FIONBIO) or by another process, a signal to a write into a named
 * FIFO.  One more mode (highfd) parks another file at a high descriptor
 * number in the middle of a file copy.
 *
 * usage: fault_blocked MODE
 *   jump-rewrite   a SIGALRM handler siglongjmp()s out of the blocked
 *                  write; the program then rewrites the chunk's last page in
 *                  the source and checks that its buffer still holds the
 *                  bytes it read
 *   jump-close     the same jump; the program then closes the pipe, and its
 *                  reader must see end-of-file
 *   handler-close  the SIGALRM handler closes the pipe the write waits on
 *   fork-closeall  another thread forks a helper that closes every
 *                  descriptor it inherited and stays; the reader must see
 *                  end-of-file when the program closes the pipe
 *   sndtimeo       UNIX stream socket with SO_SNDTIMEO 0.5 s whose reader
 *                  pauses: the write returns a short count after 0.5 s (the
 *                  program touched the last page of its buffer)
 *   fionbio-on     blocking pipe, ioctl(FIONBIO, 1): the write returns what
 *                  the pipe takes, at once
 *   fionbio-off    O_NONBLOCK set by fcntl, then ioctl(FIONBIO, 0): the write
 *                  waits and completes
 *   nonblock-elsewhere  a forked child sets O_NONBLOCK on the shared pipe
 *   fifo-signal    named FIFO, a SIGALRM (SA_RESTART) reaches the blocked
 *                  write: it returns the count so far (the program rewrote
 *                  pages 8-63 of its buffer with the same bytes)
 *   full-signal    pipe; an earlier chunk goes by writev with one page of
 *                  other memory after it (a plain piece after a transfer:
 *                  zcopy learns whether the pipe takes RWF_NOWAIT), the next
 *                  one a page shorter; the program rewrote the target chunk's
 *                  pages 16-63: its first 64 KiB fill the pipe, and a SIGALRM
 *                  (SA_RESTART) reaches the write waiting for room: it
 *                  returns the count so far
 *   highfd         file to file; after 8 chunks the program dup2()s another
 *                  file onto descriptor 960 (RLIMIT_NOFILE 1024: the program
 *                  re-executes itself with that limit)
 *
 * The stream modes copy TARGET chunks of 256 KiB to a reader that then
 * pauses, so the destination is empty when the target chunk's write starts
 * and where that write blocks does not depend on timing.  The other thread
 * acts only once the copying thread sleeps inside the write (or the kernel
 * transfer that stands for it), as /proc/self/task/TID/{stat,syscall} show.
 * Waits with a time limit are safety nets: a write that never returns (or
 * returns at once) is reported through what stdout then says, not timed.
 *
 * stdout (compared between runs): the target write's return value and
 * errno, what the program saw afterwards, and what the reader received
 * ("reader got N hash H") or that it never saw end-of-file.  Timing details
 * go to stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "zt.h"

#define CH (256 * 1024)
#define TARGET 4 /* chunks copied before the target write: the engine engages on them */
#define NCHUNKS 6
#define HIGH_FD 960

enum mode {
	M_JUMP_REWRITE,
	M_JUMP_CLOSE,
	M_HANDLER_CLOSE,
	M_FORK_CLOSEALL,
	M_SNDTIMEO,
	M_FIONBIO_ON,
	M_FIONBIO_OFF,
	M_NONBLOCK_ELSEWHERE,
	M_FIFO_SIGNAL,
	M_HIGHFD,
	M_FULL_SIGNAL,
};

static const char *const mode_names[] = {
	"jump-rewrite", "jump-close",  "handler-close",      "fork-closeall", "sndtimeo",
	"fionbio-on",   "fionbio-off", "nonblock-elsewhere", "fifo-signal",   "highfd",       "full-signal",
};

static enum mode mode;
static int src_fd, dst_fd;
static pid_t copier_tid;
static pthread_t copier;
static atomic_int target_started, target_returned;
static volatile sig_atomic_t handled;
static sigjmp_buf jump_env;

/* ---- the source: each 8-byte word holds a tag and its own offset -------- */


/* ---- the reader: a process that pauses at the target chunk -------------- */

static struct {
	pid_t pid;
	int held_rd, resume_wr, report_rd;
} rd;

static void reader_run(int fd, int held, int resume, int report)
{
	static unsigned char buf[64 * 1024];
	long long got = 0, hold = (long long)TARGET * CH;
	uint64_t h = ZT_FNV_INIT;
	for (;;) {
		if (hold && got == hold) {
			char c = 1;
			if (write(held, &c, 1) != 1)
				zt_die("reader held");
			while (read(resume, &c, 1) < 0 && errno == EINTR)
				;
			hold = 0;
		}
		size_t want = sizeof buf;
		if (hold && (long long)want > hold - got)
			want = (size_t)(hold - got);
		ssize_t n = zt_recv(fd, buf, want, 0, "reader read");
		if (n == 0)
			break;
		h = zt_fnv(h, buf, (size_t)n);
		got += n;
	}
	char line[128];
	snprintf(line, sizeof line, "reader got %lld hash %016llx\n", got, (unsigned long long)h);
	if (write(report, line, strlen(line)) < 0)
		zt_die("reader report");
	_exit(0);
}

/* Forks the reader of fd (or of the FIFO at path, opened by the child). */
static void reader_start(int fd, const char *path, int drop)
{
	int held[2], resume[2], report[2];
	if (pipe(held) || pipe(resume) || pipe(report))
		zt_die("pipe");
	pid_t pid = zt_fork();
	if (pid == 0) {
		if (drop >= 0)
			close(drop);
		close(held[0]);
		close(resume[1]);
		close(report[0]);
		if (path && (fd = open(path, O_RDONLY)) < 0)
			zt_die("open fifo");
		reader_run(fd, held[1], resume[0], report[1]);
	}
	close(held[1]);
	close(resume[0]);
	close(report[1]);
	rd.pid = pid;
	rd.held_rd = held[0];
	rd.resume_wr = resume[1];
	rd.report_rd = report[0];
}

static void reader_wait_held(void)
{
	char c;
	if (read(rd.held_rd, &c, 1) != 1)
		zt_die("reader never paused");
}

static void reader_resume(void)
{
	static atomic_int once;
	char c = 1;
	if (atomic_exchange(&once, 1) == 0 && write(rd.resume_wr, &c, 1) != 1)
		zt_die("resume reader");
}

/* The reader's line once it saw end-of-file; a reader still reading 5 s
 * after the program closed its end never will (a safety net, not a
 * measure: a reader that gets EOF reports within milliseconds). */
static void reader_finish(void)
{
	struct pollfd p = { rd.report_rd, POLLIN, 0 };
	int r;
	while ((r = poll(&p, 1, 5000)) < 0 && errno == EINTR)
		;
	char line[128];
	ssize_t n = r == 1 ? read(rd.report_rd, line, sizeof line - 1) : 0;
	if (n <= 0) {
		printf("reader saw no end-of-file\n");
		kill(rd.pid, SIGKILL);
	} else {
		line[n] = 0;
		fputs(line, stdout);
	}
	waitpid(rd.pid, NULL, 0);
}

/* ---- is the copying thread blocked inside its write? -------------------- */

static int thread_blocked(pid_t tid)
{
	char p[64], buf[512];
	snprintf(p, sizeof p, "/proc/self/task/%d/stat", (int)tid);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	if (!rp || rp[1] != ' ' || rp[2] != 'S')
		return 0;
	snprintf(p, sizeof p, "/proc/self/task/%d/syscall", (int)tid);
	if ((fd = open(p, O_RDONLY)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0 || buf[0] < '0' || buf[0] > '9')
		return 0;
	buf[n] = 0;
	long nr = atol(buf);
	/* The write itself, the kernel transfer that stands for it, or a wait
	 * for the destination to take more. */
	return nr == SYS_write || nr == SYS_splice || nr == SYS_sendfile ||
	       nr == SYS_copy_file_range || nr == SYS_sendto || nr == SYS_sendmsg ||
	       nr == SYS_poll || nr == SYS_ppoll;
}

/* Until the target write has started, then until the copying thread sleeps
 * inside it on several looks in a row, or the write returned. */
static void wait_blocked_or_returned(void)
{
	for (long spins = 0; !atomic_load(&target_started); spins++) {
		if (spins > 20000)
			zt_die("the copying thread never reached its target write");
		zt_nap_us(500);
	}
	int seen = 0;
	for (long spins = 0; seen < 5 && !atomic_load(&target_returned); spins++) {
		if (spins > 20000)
			zt_die("the copying thread never blocked in its write");
		seen = thread_blocked(copier_tid) ? seen + 1 : 0;
		zt_nap_us(500);
	}
}

/* Up to 3 s for the target write to return (a safety net for a write that
 * blocks where the plain one does not: the reader is then resumed, and the
 * write's count tells). */
static void wait_returned(void)
{
	for (int i = 0; i < 3000 && !atomic_load(&target_returned); i++)
		zt_nap_us(1000);
	if (!atomic_load(&target_returned))
		fprintf(stderr, "target write still blocked 3 s on\n");
}

/* ---- the other thread --------------------------------------------------- */

static atomic_int *helper_done; /* shared with the forked helper */
static pid_t helper_pid = -1;

static void *changer(void *arg)
{
	(void)arg;
	wait_blocked_or_returned();
	switch (mode) {
	case M_JUMP_REWRITE:
	case M_JUMP_CLOSE:
	case M_HANDLER_CLOSE:
		/* The copying thread resumes the reader itself. */
		pthread_kill(copier, SIGALRM);
		return NULL;
	case M_FIFO_SIGNAL:
	case M_FULL_SIGNAL:
		pthread_kill(copier, SIGALRM);
		wait_returned();
		break;
	case M_FORK_CLOSEALL: {
		pid_t pid = fork();
		if (pid < 0)
			zt_die("fork");
		if (pid == 0) {
			/* A daemon-style helper: no exec, every descriptor it
			 * knows of closed (the program's are all below 1024,
			 * as such helpers assume), and it stays. */
			for (int fd = 0; fd < 1024; fd++)
				close(fd);
			atomic_store(helper_done, 1);
			for (;;)
				pause();
		}
		helper_pid = pid;
		for (int i = 0; i < 5000 && !atomic_load(helper_done); i++)
			zt_nap_us(1000);
		if (!atomic_load(helper_done))
			zt_die("the helper never closed its descriptors");
		break;
	}
	case M_SNDTIMEO:
	case M_FIONBIO_ON:
	case M_NONBLOCK_ELSEWHERE:
		wait_returned();
		break;
	default:
		break; /* fionbio-off: blocked, as it should be */
	}
	reader_resume();
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	handled++;
	if (mode == M_HANDLER_CLOSE)
		close(dst_fd);
	else if (mode == M_JUMP_REWRITE || mode == M_JUMP_CLOSE)
		siglongjmp(jump_env, 1);
}

/* ---- the copy ----------------------------------------------------------- */

/* Writes all of buf, waiting in poll() where the destination is
 * non-blocking and full. */
static void write_all(const char *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(dst_fd, buf + done, n - done);
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { dst_fd, POLLOUT, 0 };
			poll(&p, 1, -1);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			printf("write error %s\n", zt_errname(w < 0 ? errno : 0));
			exit(3);
		}
		done += (size_t)w;
	}
}

/* Words of buf that are not the source's at off. */
static long long foreign_words(const char *buf, size_t n, uint64_t off)
{
	long long bad = 0;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, buf + i, 8);
		bad += w != zt_word('S', off + i);
	}
	return bad;
}

static int highfd(char **argv)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		zt_die("getrlimit");
	if (rl.rlim_cur != 1024) {
		/* The limit a shell's `ulimit -n 1024` gives, from the start,
		 * as the library sees it when it loads. */
		rl.rlim_cur = 1024;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			zt_die("setrlimit");
		execv("/proc/self/exe", argv);
		zt_die("execv");
	}
	size_t size = 32 * (size_t)CH;
	zt_make_tagged("src", 'S', size);
	zt_make_tagged("secret", 'X', size);
	int src = open("src", O_RDONLY), sec = open("secret", O_RDONLY);
	int dst = open("dst", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (src < 0 || sec < 0 || dst < 0)
		zt_die("open");
	char *buf = zt_alloc(CH);
	int r = close(HIGH_FD + 1);
	printf("close(%d) before the copy: %d %s\n", HIGH_FD + 1, r, zt_errname(r ? errno : 0));
	ssize_t n;
	for (int i = 0; (n = read(src, buf, CH)) > 0; i++) {
		if (i == 8) {
			/* As a shell's `exec 960<secret` does. */
			r = dup2(sec, HIGH_FD);
			printf("dup2(secret, %d) = %d\n", HIGH_FD, r);
		}
		if (write(dst, buf, (size_t)n) != n)
			zt_die("write");
	}
	if (n < 0)
		zt_die("read");
	r = fcntl(HIGH_FD, F_GETFD);
	printf("after the copy: fcntl(%d, F_GETFD) = %d %s\n", HIGH_FD, r,
	       zt_errname(r < 0 ? errno : 0));
	r = close(HIGH_FD + 1);
	printf("close(%d) after the copy: %d %s\n", HIGH_FD + 1, r, zt_errname(r ? errno : 0));
	/* What reached the destination, read back in pieces that are never
	 * deferred. */
	static char rb[60000];
	long long foreign = 0, got = 0;
	for (;;) {
		n = pread(dst, rb, sizeof rb - sizeof rb % 8, (off_t)got);
		if (n < 0)
			zt_die("pread");
		if (n == 0)
			break;
		foreign += foreign_words(rb, (size_t)n, (uint64_t)got);
		got += n;
	}
	printf("destination %lld bytes, %lld words not the source's\n", got, foreign);
	return 0;
}

int main(int argc, char **argv)
{
	int m = -1;
	for (int i = 0; argc == 2 && i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
		if (strcmp(argv[1], mode_names[i]) == 0)
			m = i;
	if (m < 0) {
		fprintf(stderr, "usage: fault_blocked MODE   (MODE:");
		for (int i = 0; i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
			fprintf(stderr, " %s", mode_names[i]);
		fprintf(stderr, ")\n");
		return 98;
	}
	mode = (enum mode)m;
	if (mode == M_HIGHFD)
		return highfd(argv);

	zt_make_tagged("src", 'S', NCHUNKS * (size_t)CH);
	int fds[2];
	if (mode == M_FIFO_SIGNAL) {
		unlink("fifo");
		if (mkfifo("fifo", 0600) != 0)
			zt_die("mkfifo");
		reader_start(-1, "fifo", -1);
		if ((dst_fd = open("fifo", O_WRONLY)) < 0)
			zt_die("open fifo");
	} else {
		if (mode == M_SNDTIMEO ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds) : pipe(fds))
			zt_die("pipe");
		reader_start(fds[0], NULL, fds[1]);
		close(fds[0]);
		dst_fd = fds[1];
	}
	/* The usual default send buffer (208 KiB: the kernel doubles what is
	 * set), whatever this system's default is: below a chunk, so the
	 * target write waits for the paused reader and the timeout ends it. */
	int sndbuf = 104 * 1024;
	if (mode == M_SNDTIMEO &&
	    setsockopt(dst_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0)
		zt_die("SO_SNDBUF");
	if ((src_fd = open("src", O_RDONLY)) < 0)
		zt_die("src");
	if (mode == M_FIONBIO_OFF && fcntl(dst_fd, F_SETFL, fcntl(dst_fd, F_GETFL) | O_NONBLOCK))
		zt_die("F_SETFL");
	if (mode == M_FORK_CLOSEALL) {
		helper_done = mmap(NULL, ZT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				   -1, 0);
		if (helper_done == MAP_FAILED)
			zt_die("mmap");
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		zt_die("sigaction");

	copier_tid = (pid_t)syscall(SYS_gettid);
	copier = pthread_self();
	pthread_t helper;
	if (pthread_create(&helper, NULL, changer, NULL) != 0)
		zt_die("pthread_create");

	char *buf = zt_alloc(CH);
	for (int i = 0; i < TARGET; i++) {
		if (read(src_fd, buf, CH) != CH)
			zt_die("read");
		if (mode == M_FULL_SIGNAL && i == TARGET - 2) {
			static char other[ZT_PAGE];
			memset(other, 'o', sizeof other);
			struct iovec v[2] = { { buf, CH }, { other, ZT_PAGE } };
			if (writev(dst_fd, v, 2) != CH + ZT_PAGE)
				zt_die("writev");
		} else if (mode == M_FULL_SIGNAL && i == TARGET - 1) {
			write_all(buf + ZT_PAGE, CH - ZT_PAGE); /* the reader holds at a chunk's end */
		} else {
			write_all(buf, CH);
		}
	}
	/* The reader took everything so far: the destination is empty. */
	reader_wait_held();
	if (mode == M_SNDTIMEO) {
		struct timeval tv = { 0, 500000 };
		if (setsockopt(dst_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
			zt_die("SO_SNDTIMEO");
	} else if (mode == M_FIONBIO_ON || mode == M_FIONBIO_OFF) {
		int on = mode == M_FIONBIO_ON;
		if (ioctl(dst_fd, FIONBIO, &on) != 0)
			zt_die("FIONBIO");
	} else if (mode == M_NONBLOCK_ELSEWHERE) {
		/* Another process that shares the pipe's open file. */
		pid_t pid = fork();
		if (pid < 0)
			zt_die("fork");
		if (pid == 0)
			_exit(fcntl(dst_fd, F_SETFL, fcntl(dst_fd, F_GETFL) | O_NONBLOCK) != 0);
		int st;
		if (waitpid(pid, &st, 0) != pid || st != 0)
			zt_die("the child's F_SETFL");
	}

	off_t at = lseek(src_fd, 0, SEEK_CUR);
	if (read(src_fd, buf, CH) != CH)
		zt_die("read target");
	if (mode == M_SNDTIMEO)
		((volatile char *)buf)[CH - ZT_PAGE] = buf[CH - ZT_PAGE];
	if (mode == M_FIFO_SIGNAL)
		for (int k = 8; k < 64; k++)
			((volatile char *)buf)[k * ZT_PAGE] = buf[k * ZT_PAGE];
	if (mode == M_FULL_SIGNAL)
		for (int k = 16; k < 64; k++)
			((volatile char *)buf)[k * ZT_PAGE] = buf[k * ZT_PAGE];

	/* volatile: a siglongjmp out of the write leaves them as they were. */
	volatile ssize_t w = -2;
	volatile int e = 0;
	atomic_store(&target_started, 1);
	if (sigsetjmp(jump_env, 1) == 0) {
		w = write(dst_fd, buf, CH);
		e = errno;
	}
	atomic_store(&target_returned, 1);
	fprintf(stderr, "target write returned %zd\n", w);
	if (w == -2)
		printf("target write left by siglongjmp\n");
	else if (mode == M_SNDTIMEO && w > 0 && w < CH)
		/* How much a socket queues depends on how it accounts the
		 * buffers (copies, or page references): README, "Partial
		 * counts". */
		printf("target write of %d returned a short count\n", CH);
	else
		printf("target write of %d returned %zd %s\n", CH, w, w < 0 ? zt_errname(e) : "OK");
	printf("signal handler ran %d time(s)\n", (int)handled);

	if (mode == M_JUMP_REWRITE) {
		/* The buffer holds what read() returned, whatever the file gets
		 * after it. */
		static char x[ZT_PAGE];
		memset(x, 'X', sizeof x);
		int fd = open("src", O_WRONLY);
		if (fd < 0 || pwrite(fd, x, sizeof x, at + CH - ZT_PAGE) != ZT_PAGE)
			zt_die("pwrite source");
		close(fd);
		printf("buffer after the source was rewritten: %lld words not read\n",
		       foreign_words(buf, CH, (uint64_t)at));
	}
	if (mode == M_JUMP_REWRITE || mode == M_JUMP_CLOSE || mode == M_HANDLER_CLOSE) {
		if (mode != M_HANDLER_CLOSE)
			close(dst_fd);
		reader_resume();
		pthread_join(helper, NULL);
		reader_finish();
		return 0;
	}
	size_t done = w > 0 ? (size_t)w : 0;
	write_all(buf + done, CH - done);
	for (int i = TARGET + 1; i < NCHUNKS; i++) {
		if (read(src_fd, buf, CH) != CH)
			zt_die("read");
		write_all(buf, CH);
	}
	pthread_join(helper, NULL);
	close(dst_fd);
	reader_finish();
	if (helper_pid > 0) {
		kill(helper_pid, SIGKILL);
		waitpid(helper_pid, NULL, 0);
	}
	/* exit(), not _exit(): the library's stats are written at exit. */
	return 0;
}
