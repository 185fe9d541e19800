/*
 * fault_midwrite - one large write of a deferred chunk, and what happens to
 * it while it is in progress: another thread changes the descriptors it
 * names or the source's bytes, or the kernel cuts it short (a peer that
 * leaves, a file size limit, a signal).
 *
 * usage: fault_midwrite MODE [DST]
 *   src-dup2      another thread dup2()s a second file onto the source fd
 *   src-reopen    ... close()s the source fd and open()s the second file,
 *                 which gets the same number
 *   src-pwrite    ... pwrite()s 1 MiB of new bytes into the source, in a
 *                 range of the chunk not yet handed to the pipe
 *   src-pwrite-file  the same with a file destination (DST): the write
 *                 is held on the destination's inode lock by a third thread
 *                 whose own write waits on a userfaultfd page
 *   dst-dup2      ... dup2()s a second pipe onto the destination fd
 *   dst-null      ... dup2()s /dev/null onto the destination fd
 *   peer-close    the reader of a UNIX stream socket leaves while the write
 *                 waits for buffer space (SIGPIPE at its default)
 *   fsize         RLIMIT_FSIZE ends inside the write to DST (SIGXFSZ at its
 *                 default)
 *   sig-restart   a SIGALRM (handler with SA_RESTART) reaches the thread
 *                 blocked in a write to a full pipe
 *   sig-norestart the same without SA_RESTART
 *
 * The program makes its source "src" (and "other") itself: every 8-byte word
 * holds a tag ('S' source, 'O' other file, 'N' new bytes written into the
 * source) and its offset in the file, so whoever receives the bytes can say
 * where each came from.  Chunks 0 and 1 are copied first (the engine engages
 * on them), then chunk 2, the target, is written with one write() while the
 * fault happens.  The other thread acts only once the copying thread is
 * really blocked inside that write: the reader is paused at a known byte and
 * the copying thread sleeps inside write (or the kernel transfer that stands
 * for it), as /proc/self/task/TID/{stat,syscall} show.
 *
 * stdout (compared between runs): what each reader received ("got N hash H
 * source A other B new C misplaced D", misplaced: words not at their own
 * offset), the target write's return value and errno, the source offset,
 * and for a file destination the same tally of its bytes.  A short target
 * write ends the program with exit 2 in peer-close and fsize (a program that
 * stops at a short count), else the rest is written and the copy goes on.
 * Timing details go to stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "zt.h"

#define MIB (1024 * 1024)
#define TARGET 2 /* the chunk whose write is hit; chunks 0 and 1 engage the engine */

enum mode {
	M_SRC_DUP2,
	M_SRC_REOPEN,
	M_SRC_PWRITE,
	M_SRC_PWRITE_FILE,
	M_DST_DUP2,
	M_DST_NULL,
	M_PEER_CLOSE,
	M_FSIZE,
	M_SIG_RESTART,
	M_SIG_NORESTART,
};

static const char *const mode_names[] = {
	"src-dup2", "src-reopen", "src-pwrite", "src-pwrite-file", "dst-dup2",
	"dst-null", "peer-close", "fsize",      "sig-restart",     "sig-norestart",
};

static enum mode mode;
static size_t chunk, size;
static int src_fd, dst_fd;
static pid_t copier_tid;
static atomic_int target_started, target_returned;
static volatile sig_atomic_t alarms;

/* ---- tagged files ------------------------------------------------------- */


/* Where received bytes came from: one word at a time, by tag, and whether it
 * sits at its own offset in the stream. */
struct tally {
	long long got, source, other, fresh, misplaced;
	uint64_t hash;
	unsigned char part[8];
	int np;
};

static void tally_init(struct tally *t)
{
	memset(t, 0, sizeof *t);
	t->hash = ZT_FNV_INIT;
}

static void tally_add(struct tally *t, const unsigned char *p, size_t n)
{
	t->hash = zt_fnv(t->hash, p, n);
	for (size_t i = 0; i < n; i++) {
		t->part[t->np++] = p[i];
		if (t->np < 8)
			continue;
		uint64_t w;
		memcpy(&w, t->part, 8);
		t->np = 0;
		uint64_t at = (uint64_t)t->got + i + 1 - 8;
		int tag = (int)(w >> 56);
		if (tag == 'S')
			t->source += 8;
		else if (tag == 'O')
			t->other += 8;
		else if (tag == 'N')
			t->fresh += 8;
		if ((w & ((1ULL << 56) - 1)) != at)
			t->misplaced += 8;
	}
	t->got += (long long)n;
}

static void tally_line(char *out, size_t cap, const char *who, const struct tally *t)
{
	snprintf(out, cap, "%s got %lld hash %016llx source %lld other %lld new %lld misplaced %lld\n",
		 who, t->got, (unsigned long long)t->hash, t->source, t->other, t->fresh,
		 t->misplaced);
}

/* ---- readers ------------------------------------------------------------ */

struct reader {
	const char *name;
	long long hold_at; /* after this many bytes, say so on held_fd and wait */
	int leave;         /* on the resume byte, leave instead of reading on */
	int held_fd, resume_fd, report_fd;
	pid_t pid;
	int held_rd, resume_wr, report_rd; /* the parent's ends */
};

/* The reader process: reads fd to EOF (pausing at hold_at), then writes its
 * tally line to report_fd. */
static void reader_run(int fd, struct reader *r)
{
	static unsigned char buf[64 * 1024];
	struct tally t;
	tally_init(&t);
	long long hold = r->hold_at;
	for (;;) {
		if (hold && t.got == hold) {
			char c = 1;
			if (write(r->held_fd, &c, 1) != 1)
				zt_die("reader held");
			while (read(r->resume_fd, &c, 1) < 0 && errno == EINTR)
				;
			hold = 0;
			if (r->leave)
				break;
		}
		size_t want = sizeof buf;
		if (hold && (long long)want > hold - t.got)
			want = (size_t)(hold - t.got);
		ssize_t n = zt_recv(fd, buf, want, 0, "reader read");
		if (n == 0)
			break;
		tally_add(&t, buf, (size_t)n);
	}
	char line[256];
	tally_line(line, sizeof line, r->name, &t);
	if (write(r->report_fd, line, strlen(line)) < 0)
		zt_die("reader report");
	_exit(0);
}

/* Forks the reader of fd; the child closes every descriptor in drop[]. */
static void reader_start(struct reader *r, int fd, const int *drop, int ndrop)
{
	int held[2], resume[2], report[2];
	if (pipe(held) || pipe(resume) || pipe(report))
		zt_die("pipe");
	pid_t pid = zt_fork();
	if (pid == 0) {
		for (int i = 0; i < ndrop; i++)
			close(drop[i]);
		close(held[0]);
		close(resume[1]);
		close(report[0]);
		r->held_fd = held[1];
		r->resume_fd = resume[0];
		r->report_fd = report[1];
		reader_run(fd, r);
	}
	close(held[1]);
	close(resume[0]);
	close(report[1]);
	r->pid = pid;
	r->held_rd = held[0];
	r->resume_wr = resume[1];
	r->report_rd = report[0];
}

static void reader_wait_held(struct reader *r)
{
	char c;
	if (read(r->held_rd, &c, 1) != 1)
		zt_die("reader never paused");
}

static void reader_resume(struct reader *r)
{
	char c = 1;
	if (write(r->resume_wr, &c, 1) != 1)
		zt_die("resume reader");
}

/* Waits for the reader to end and prints its line. */
static void reader_finish(struct reader *r)
{
	char line[256];
	int st;
	while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
		;
	ssize_t n = read(r->report_rd, line, sizeof line - 1);
	if (n <= 0) {
		printf("%s left no report\n", r->name);
		return;
	}
	line[n] = 0;
	fputs(line, stdout);
}

/* ---- is the copying thread blocked inside its write? -------------------- */

static int thread_state(pid_t tid, char *state, long *nr)
{
	char p[64], buf[512];
	snprintf(p, sizeof p, "/proc/self/task/%d/stat", (int)tid);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	if (!rp || rp[1] != ' ')
		return -1;
	*state = rp[2];
	snprintf(p, sizeof p, "/proc/self/task/%d/syscall", (int)tid);
	if ((fd = open(p, O_RDONLY)) < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	*nr = buf[0] >= '0' && buf[0] <= '9' ? atol(buf) : -1; /* "running" */
	return 0;
}

/* The calls a blocked write may be waiting in: the write itself, the kernel
 * transfer that stands for it, or a wait for the destination to take more. */
static int is_write_call(long nr)
{
	return nr == SYS_write || nr == SYS_writev || nr == SYS_pwrite64 || nr == SYS_splice ||
	       nr == SYS_sendfile || nr == SYS_copy_file_range || nr == SYS_sendto ||
	       nr == SYS_sendmsg || nr == SYS_poll || nr == SYS_ppoll || nr == SYS_select ||
	       nr == SYS_pselect6 || nr == SYS_epoll_wait || nr == SYS_epoll_pwait;
}

/* Waits until tid sleeps inside a write call (S, or D when allow_d) on
 * several looks in a row. */
static void wait_blocked(pid_t tid, int allow_d)
{
	int seen = 0;
	for (long spins = 0; seen < 5; spins++) {
		char st;
		long nr;
		if (spins > 20000)
			zt_die("the copying thread never blocked in its write");
		if (thread_state(tid, &st, &nr) == 0 && is_write_call(nr) &&
		    (st == 'S' || (allow_d && st == 'D')))
			seen++;
		else
			seen = 0;
		zt_nap_us(500);
	}
}

static void wait_flag(atomic_int *f)
{
	for (long spins = 0; !atomic_load(f); spins++) {
		if (spins > 20000)
			zt_die("the copying thread never reached its target write");
		zt_nap_us(500);
	}
}

/* ---- a thread that holds the destination's inode lock ------------------ */

/* Its write into DST copies from a page registered with userfaultfd: the
 * page fault, taken inside the kernel with the inode locked, waits until
 * the page is supplied. */
static int uffd = -1;
static char *ubuf;
static pthread_t locker_thread;

static void *locker(void *arg)
{
	(void)arg;
	if (pwrite(dst_fd, ubuf, 8, (off_t)size) != 8)
		zt_die("locker pwrite");
	return NULL;
}

static void locker_start(void)
{
	/* Non-blocking: poll() on a blocking userfaultfd says POLLERR at once. */
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) {
		fprintf(stderr, "userfaultfd: %s\n", strerror(errno));
		_exit(77);
	}
	struct uffdio_api api = { .api = UFFD_API };
	if (ioctl(uffd, UFFDIO_API, &api) != 0)
		zt_die("UFFDIO_API");
	ubuf = mmap(NULL, ZT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ubuf == MAP_FAILED)
		zt_die("mmap");
	struct uffdio_register reg = { .range = { (uintptr_t)ubuf, ZT_PAGE },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
		zt_die("UFFDIO_REGISTER");
	if (pthread_create(&locker_thread, NULL, locker, NULL) != 0)
		zt_die("pthread_create");
	/* The fault is reported on uffd once the locker waits in it. */
	struct pollfd p = { uffd, POLLIN, 0 };
	if (poll(&p, 1, 10000) != 1 || p.revents != POLLIN)
		zt_die("the locker's write never faulted");
}

static void locker_release(void)
{
	struct uffdio_zeropage z = { .range = { (uintptr_t)ubuf, ZT_PAGE } };
	if (ioctl(uffd, UFFDIO_ZEROPAGE, &z) != 0)
		zt_die("UFFDIO_ZEROPAGE");
	pthread_join(locker_thread, NULL);
}

/* The destination is slow, not waiting for anyone: the lock is let go
 * 300 ms after the source is changed, whatever the changer does meanwhile.
 * (A destination that waits for the changer itself would deadlock zcopy's
 * exact answer, which holds the change until the call reading the source
 * has read it: docs/design.md, "A change to the source while a transfer
 * reads it".) */
static pthread_t releaser_thread;

static void *releaser(void *arg)
{
	(void)arg;
	zt_nap_us(300000);
	locker_release();
	return NULL;
}

/* ---- the other thread --------------------------------------------------- */

static struct reader r1, r2;
static int second_pipe_wr = -1;

static void *changer(void *arg)
{
	wait_flag(&target_started);
	switch (mode) {
	case M_SRC_PWRITE_FILE:
		wait_blocked(copier_tid, 1);
		break;
	case M_SRC_PWRITE:
		reader_wait_held(&r1); /* 64 KiB into the target chunk */
		wait_blocked(copier_tid, 0);
		break;
	default:
		wait_blocked(copier_tid, 0);
	}
	int fd;
	switch (mode) {
	case M_SRC_DUP2:
		/* At its end: the copier's next read there returns 0. */
		if ((fd = open("other", O_RDONLY)) < 0 || lseek(fd, 0, SEEK_END) < 0 ||
		    dup2(fd, src_fd) != src_fd)
			zt_die("dup2 other");
		close(fd);
		break;
	case M_SRC_REOPEN:
		close(src_fd);
		if ((fd = open("other", O_RDONLY)) != src_fd)
			zt_die("reopen did not reuse the source's number");
		if (lseek(fd, 0, SEEK_END) < 0)
			zt_die("lseek");
		break;
	case M_SRC_PWRITE:
	case M_SRC_PWRITE_FILE: {
		/* The second MiB of the target chunk: not yet handed to the pipe
		 * (the reader paused 64 KiB into it, and the pipe holds 64 KiB),
		 * nor to the file (its write waits for the inode lock). */
		static uint64_t fresh[MIB / 8];
		off_t at = (off_t)(TARGET * chunk + MIB);
		for (size_t i = 0; i < MIB / 8; i++)
			fresh[i] = zt_word('N', (uint64_t)at + i * 8);
		if (mode == M_SRC_PWRITE_FILE &&
		    pthread_create(&releaser_thread, NULL, releaser, NULL) != 0)
			zt_die("pthread_create");
		if ((fd = open("src", O_WRONLY)) < 0 || pwrite(fd, fresh, MIB, at) != MIB)
			zt_die("pwrite source");
		close(fd);
		if (mode == M_SRC_PWRITE_FILE)
			pthread_join(releaser_thread, NULL);
		break;
	}
	case M_DST_DUP2:
		if (dup2(second_pipe_wr, dst_fd) != dst_fd)
			zt_die("dup2 second pipe");
		close(second_pipe_wr);
		break;
	case M_DST_NULL:
		if ((fd = open("/dev/null", O_WRONLY)) < 0 || dup2(fd, dst_fd) != dst_fd)
			zt_die("dup2 /dev/null");
		close(fd);
		break;
	case M_PEER_CLOSE:
		break; /* resuming the reader makes it leave */
	case M_SIG_RESTART:
	case M_SIG_NORESTART:
		pthread_kill(*(pthread_t *)arg, SIGALRM);
		/* The plain write returns at once with what it wrote; wait for
		 * that (a bounded wait: a write that restarted would otherwise
		 * wait for the paused reader forever). */
		for (int i = 0; i < 1500 && !atomic_load(&target_returned); i++)
			zt_nap_us(1000);
		if (!atomic_load(&target_returned))
			fprintf(stderr, "target write still blocked 1.5 s after the signal\n");
		break;
	default:
		break;
	}
	if (mode != M_SRC_PWRITE_FILE)
		reader_resume(&r1);
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* ---- the copy ----------------------------------------------------------- */

static int stops_at_short(void) { return mode == M_PEER_CLOSE || mode == M_FSIZE; }

static void write_rest(const char *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(dst_fd, buf + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			printf("write error %s\n", zt_errname(w < 0 ? errno : 0));
			exit(3);
		}
		done += (size_t)w;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	int m = -1;
	for (int i = 0; i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
		if (strcmp(argv[1], mode_names[i]) == 0)
			m = i;
	if (m < 0)
		goto usage;
	mode = (enum mode)m;
	int file_dst = mode == M_SRC_PWRITE_FILE || mode == M_FSIZE;
	if (file_dst != (argc == 3))
		goto usage;

	chunk = mode == M_FSIZE || mode == M_SIG_RESTART || mode == M_SIG_NORESTART ? MIB : 4 * MIB;
	size = 3 * chunk;
	zt_make_tagged("src", 'S', size);
	/* Longer than the source, so that the source offset the program ends
	 * with shows which file its descriptor named last. */
	if (mode == M_SRC_DUP2 || mode == M_SRC_REOPEN)
		zt_make_tagged("other", 'O', size + chunk);

	/* The destination, and its reader paused at the start of the target
	 * chunk (64 KiB into it when the source's bytes change). */
	int fds[2];
	long long hold = (long long)(TARGET * chunk) + (mode == M_SRC_PWRITE ? 64 * 1024 : 0);
	r1 = (struct reader){ .name = "reader", .hold_at = hold, .leave = mode == M_PEER_CLOSE };
	if (file_dst) {
		if ((dst_fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
			zt_die(argv[2]);
	} else {
		if (mode == M_PEER_CLOSE ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds) : pipe(fds))
			zt_die("pipe");
		reader_start(&r1, fds[0], &fds[1], 1);
		close(fds[0]);
		dst_fd = fds[1];
	}
	if (mode == M_DST_DUP2) {
		r2 = (struct reader){ .name = "second reader" };
		int p2[2];
		if (pipe(p2))
			zt_die("pipe");
		int drop[2] = { p2[1], dst_fd };
		reader_start(&r2, p2[0], drop, 2);
		close(p2[0]);
		second_pipe_wr = p2[1];
	}
	/* Opened last, so that close() then open() gives its number back. */
	if ((src_fd = open("src", O_RDONLY)) < 0)
		zt_die("src");

	if (mode == M_SIG_RESTART || mode == M_SIG_NORESTART) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_alarm;
		sa.sa_flags = mode == M_SIG_RESTART ? SA_RESTART : 0;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGALRM, &sa, NULL) != 0)
			zt_die("sigaction");
	}
	if (mode == M_FSIZE) {
		struct rlimit rl = { (rlim_t)(TARGET * chunk + chunk / 2),
				     (rlim_t)(TARGET * chunk + chunk / 2) };
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			zt_die("setrlimit");
	}

	copier_tid = (pid_t)syscall(SYS_gettid);
	pthread_t self = pthread_self(), helper;
	int helper_on = mode != M_FSIZE;
	if (helper_on && pthread_create(&helper, NULL, changer, &self) != 0)
		zt_die("pthread_create");

	char *buf = zt_alloc(chunk);
	long long copied = 0;
	for (int idx = 0;; idx++) {
		ssize_t n = zt_recv(src_fd, buf, chunk, 0, "read");
		if (n == 0)
			break;
		if (idx != TARGET) {
			write_rest(buf, (size_t)n);
			copied += n;
			continue;
		}
		if (mode == M_SRC_PWRITE_FILE)
			locker_start();
		/* The destination is empty when the target write starts (the
		 * reader took all before it), so where it blocks does not depend
		 * on how the reader's last reads and the write interleaved. */
		if (!file_dst && mode != M_SRC_PWRITE)
			reader_wait_held(&r1);
		atomic_store(&target_started, 1);
		ssize_t w = write(dst_fd, buf, (size_t)n);
		int e = errno;
		atomic_store(&target_returned, 1);
		fprintf(stderr, "target write of %zd returned %zd\n", n, w);
		if (mode == M_PEER_CLOSE && w > 0 && w < n)
			/* How much a socket queues before its writer waits depends on
			 * how the kernel accounts the buffers (a copy, or page
			 * references by sendfile): the count is on stderr. */
			printf("target write of %zd returned a short count\n", n);
		else
			printf("target write of %zd returned %zd %s\n", n, w,
			       w < 0 ? zt_errname(e) : "OK");
		/* exit(), not _exit(): the library's stats are written at exit. */
		if (w < 0 && e != EINTR)
			exit(3);
		if (w < n && stops_at_short())
			exit(2);
		copied += w > 0 ? w : 0;
		if (w < n) {
			write_rest(buf + (w > 0 ? w : 0), (size_t)(n - (w > 0 ? w : 0)));
			copied += n - (w > 0 ? w : 0);
		}
	}
	printf("copied %lld source offset %lld\n", copied, (long long)lseek(src_fd, 0, SEEK_CUR));
	if (helper_on)
		pthread_join(helper, NULL);
	fprintf(stderr, "alarms %d\n", (int)alarms);
	close(dst_fd);
	if (file_dst) {
		/* What reached the file, told apart as the readers do. */
		static unsigned char rb[60000]; /* not page-sized: never deferred */
		struct tally t;
		tally_init(&t);
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0)
			zt_die(argv[2]);
		for (size_t off = 0; off < size;) {
			size_t want = size - off < sizeof rb ? size - off : sizeof rb;
			ssize_t n = pread(fd, rb, want, (off_t)off);
			if (n <= 0)
				zt_die("read back");
			tally_add(&t, rb, (size_t)n);
			off += (size_t)n;
		}
		close(fd);
		char line[256];
		tally_line(line, sizeof line, "destination", &t);
		fputs(line, stdout);
	} else {
		reader_finish(&r1);
		if (mode == M_DST_DUP2)
			reader_finish(&r2);
	}
	return 0;
usage:
	fprintf(stderr, "usage: fault_midwrite MODE [DST]   (MODE:");
	for (int i = 0; i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
		fprintf(stderr, " %s", mode_names[i]);
	fprintf(stderr, "; DST for src-pwrite-file and fsize)\n");
	return 98;
}
