/*
 * guard_copy - copy loops whose buffers the map strategy cannot cover
 * (malloc'd and static buffers that start inside a page), each doing one
 * thing a program may do with such a buffer between a read and its write.
 *
 * usage: guard_copy MODE SRC DST
 *   malloc:SIZE  read SIZE bytes at a time into malloc(SIZE) and write them
 *   fresh        a new malloc for every read, freed after its write
 *   reuse_freed  as fresh, and after each free the block is allocated again
 *                and its middle written (a second use of freed memory, as
 *                an interpreter's next object); guard_copy_own runs it with
 *                a malloc of its own (own_malloc.c)
 *   bss          a static buffer at an odd offset
 *   edit         every 5th chunk: a few middle pages edited before the write
 *   thread       another thread checksums the buffer between read and write
 *   sigsegv      the program's SIGSEGV handler catches its own faults
 *                (sigsetjmp/siglongjmp) in the middle of the copy; then the
 *                buffer is read
 *   segv_death   the copy ends in the program's own fault, default action
 *   fork         a child writes the current buffer to DST.child
 *   realloc      the buffer grows by realloc every 8 chunks
 *   mprotect     the program makes the buffer read-only and back at chunk 6
 *   writev       two buffers, read in turn, written by one writev
 *   send         send(MSG_NOSIGNAL) into a socketpair; a child drains it to DST
 *   kernel       between read and write the kernel writes into the buffer
 *                (readlink, getcwd, fstat, recvmsg, getentropy, fstatfs,
 *                statfs) at fixed places, and three whole pages of it are
 *                the buffer of a stream of SRC (setvbuf) that glibc's own
 *                read(2) fills; the program then overwrites each place
 *                with what it expects there
 *   altstacks    first 40 alternate signal stacks in turn, each mapped, set
 *                with sigaltstack, disabled and unmapped (as Rust's runtime
 *                does for each thread), each a page larger than the one
 *                before; then the malloc:CH copy
 *   kcall:CALL   between the read and the write of chunk 5 (its pages
 *                guarded), one call on the buffer: arc4random_buf,
 *                getdents64, flistxattr, pkey_mprotect (then the page's
 *                hash), mlock, stat or open (of SRC's name, copied into
 *                the buffer)
 *   fwrite       written with an unbuffered fwrite
 *   fwrite_unlocked   the same with fwrite_unlocked
 *   exec         after 8 chunks, exec'd "guard_copy cont" copies the rest
 *                through the inherited descriptors (shared offsets)
 *   pwritev2     a private copy of SRC is copied; at chunk 6 the program
 *                overwrites the part of it just read with pwritev2, then
 *                writes the buffer (which holds what was read)
 *   other_stack  the buffer is on another thread's stack (never guarded)
 *   stale_stack  a first copy through a 16 MiB block (one glibc maps),
 *                which is then freed; a thread whose 8 MiB stack takes its
 *                place lends a buffer on that stack for a second copy of
 *                SRC (never guarded: the freed block's memory is not what
 *                it was)
 *   sigblocked   the copy runs with every signal blocked and checksums each
 *                chunk before writing it (a fault with SIGSEGV blocked
 *                would be fatal)
 *   closefrom    every 6th chunk, between read and write, closefrom and
 *                close_range above the program's descriptors (zcopy's own
 *                duplicates live up there, with no room to move below)
 *   masked_worker  every 3rd chunk a worker thread that blocks every signal
 *                checksums the buffer the main thread read into
 *   full_mask_handler  a SIGALRM handler installed with a full sa_mask
 *                checksums the buffer (raised between read and write)
 *   ppoll_mask   a SIGUSR1 handler checksums the buffer; SIGUSR1 is blocked,
 *                raised, and delivered inside ppoll with a mask that blocks
 *                everything else
 *   views        the copy, then every way to block SIGSEGV and read the mask
 *                back, each result printed
 *   blocked_fault  SIGSEGV blocked (a handler installed), the program's own
 *                fault at chunk 9: the kernel's default action
 *   held_segv    SIGSEGV blocked, raised, the copy, then unblocked: the
 *                handler runs at the unblocking
 *   sysv_handler SIGSEGV's handler set with sysv_signal, siginterrupt and
 *                read back; every chunk checksummed
 *   context_mask at chunk 20, swapcontext to a context whose mask the program
 *                made to block SIGSEGV, which checksums the buffer
 * Prints what it did and the offsets at the end.
 */
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <sys/uio.h>
#include <sys/sendfile.h>
#include <sys/wait.h>

#include "zt.h"

#define CH (128 * 1024 + 100)

static int in, out;
static char bss_area[2 * CH + 3 * ZT_PAGE];
static uint64_t sum; /* checksums of what the program read of its buffers */

static void put_all(const void *p, size_t n)
{
	zt_put(out, p, n);
}

static ssize_t get(void *p, size_t n)
{
	ssize_t r = zt_read(in, p, n);
	return r;
}

/* The plain loop over one buffer; hook runs between read and write. */
static long long loop(char *buf, size_t n, void (*hook)(char *, size_t, long long))
{
	long long total = 0, idx = 0;
	ssize_t r;
	while ((r = get(buf, n)) > 0) {
		if (hook)
			hook(buf, (size_t)r, idx);
		put_all(buf, (size_t)r);
		total += r;
		idx++;
	}
	return total;
}

/* fresh and reuse_freed: a new block per read, freed after its write; with
 * reuse, each freed block is allocated again and its middle written. */
static long long fresh_buffers(int reuse)
{
	long long total = 0;
	for (;;) {
		char *b = malloc(CH);
		ssize_t r = get(b, CH);
		if (r > 0)
			put_all(b, (size_t)r);
		free(b);
		if (r <= 0)
			return total;
		total += r;
		if (reuse) {
			char *c = malloc(CH);
			memset(c + CH / 2, 'x', 3 * ZT_PAGE);
			sum = zt_fnv(sum ? sum : ZT_FNV_INIT, c + CH / 2, 3 * ZT_PAGE);
			free(c);
		}
	}
}

static void edit(char *b, size_t n, long long i)
{
	if (i % 5 == 2)
		for (size_t at = 3 * ZT_PAGE + 7; at < n; at += 9 * ZT_PAGE)
			b[at] ^= 0x5a;
}

static void close_above(char *b, size_t n, long long i)
{
	int top = in > out ? in : out;
	if (i % 6 == 5) {
		if (i % 12 == 5)
			closefrom(top + 1);
		else if (close_range((unsigned)top + 1, ~0u, 0) != 0)
			zt_die("close_range");
	}
}

/* ---- another thread reads the buffer ---- */

static void *reader(void *arg)
{
	struct iovec *v = arg;
	sum = zt_fnv(sum ? sum : ZT_FNV_INIT, v->iov_base, v->iov_len);
	return NULL;
}
static void other_thread(char *b, size_t n, long long i)
{
	if (i % 3)
		return;
	pthread_t t;
	struct iovec v = { b, n };
	if (pthread_create(&t, NULL, reader, &v) || pthread_join(t, NULL))
		zt_die("thread");
}

/* ---- the program's own SIGSEGV handler ---- */
static sigjmp_buf jb;
static volatile sig_atomic_t caught;
static char *own_page;
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	caught += si->si_addr == own_page + 8 && sig == SIGSEGV;
	siglongjmp(jb, 1);
}
static void own_faults(char *b, size_t n, long long i)
{
	if (i % 7 != 3)
		return;
	if (sigsetjmp(jb, 1) == 0)
		*(volatile char *)(own_page + 8) = 1; /* faults: the handler jumps back */
	/* The mask is back as it was, and the buffer is still the program's. */
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	if (sigismember(&now, SIGSEGV))
		printf("SIGSEGV blocked after siglongjmp\n");
	sum = zt_fnv(sum ? sum : ZT_FNV_INIT, b + n / 2, 64);
}

/* A thread that lends a buffer on its stack until the copy is done. */
static char *volatile lent;
static volatile int copy_done;
static void *lender(void *arg)
{
	char area[CH + 2 * ZT_PAGE];
	memset(area, 1, sizeof area);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
	lent = area + 100; /* lent only until copy_done */
#pragma GCC diagnostic pop
	while (!copy_done)
		usleep(1000);
	return arg;
}

static void overwrite_what_was_read(char *b, size_t n, long long i)
{
	(void)b;
	if (i != 6)
		return;
	static char junk[3 * ZT_PAGE];
	memset(junk, 'J', sizeof junk);
	struct iovec v = { junk, sizeof junk };
	if (pwritev2(in, &v, 1, zt_pos(in) - (off_t)n + ZT_PAGE, 0) != (ssize_t)sizeof junk)
		zt_die("pwritev2");
}

static void checksum_every_chunk(char *b, size_t n, long long i)
{
	(void)i;
	sum = zt_fnv(sum ? sum : ZT_FNV_INIT, b, n);
}

/* ---- other threads and handlers that block SIGSEGV ---- */
static void *masked_reader(void *arg)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	return reader(arg);
}
static void masked_worker(char *b, size_t n, long long i)
{
	if (i % 3)
		return;
	pthread_t t;
	struct iovec v = { b, n };
	if (pthread_create(&t, NULL, masked_reader, &v) || pthread_join(t, NULL))
		zt_die("thread");
}

static struct iovec current; /* the chunk a handler checksums */
static void on_signal_checksum(int sig)
{
	(void)sig;
	sum = zt_fnv(sum ? sum : ZT_FNV_INIT, current.iov_base, current.iov_len);
}
static void raise_alarm(char *b, size_t n, long long i)
{
	if (i % 3)
		return;
	current = (struct iovec){ b, n };
	raise(SIGALRM);
}
static void usr1_in_ppoll(char *b, size_t n, long long i)
{
	if (i % 3)
		return;
	current = (struct iovec){ b, n };
	sigset_t usr1, all_but_usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigfillset(&all_but_usr1);
	sigdelset(&all_but_usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	raise(SIGUSR1); /* pending until ppoll's mask lets it in */
	struct timespec ts = { 5, 0 };
	if (ppoll(NULL, 0, &ts, &all_but_usr1) != -1 || errno != EINTR)
		zt_die("ppoll");
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
}

/* ---- the program's own view of its mask ---- */
static void show(const char *what, int held)
{
	printf("%s %d\n", what, held);
}
static int mask_holds_segv(void)
{
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	return sigismember(&now, SIGSEGV);
}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void views(void)
{
	sigset_t segv, old;
	sigemptyset(&segv);
	sigaddset(&segv, SIGSEGV);
	sigprocmask(SIG_BLOCK, &segv, &old);
	show("sigprocmask old", sigismember(&old, SIGSEGV));
	show("sigprocmask now", mask_holds_segv());
	pthread_sigmask(SIG_UNBLOCK, &segv, &old);
	show("pthread_sigmask old", sigismember(&old, SIGSEGV));
	show("pthread_sigmask now", mask_holds_segv());
	int m = sigblock(1 << (SIGSEGV - 1));
	show("sigblock old", (m >> (SIGSEGV - 1)) & 1);
	m = sigsetmask(0);
	show("sigsetmask old", (m >> (SIGSEGV - 1)) & 1);
	show("sigsetmask now", mask_holds_segv());
	sighold(SIGSEGV);
	show("sighold", mask_holds_segv());
	sigrelse(SIGSEGV);
	show("sigrelse", mask_holds_segv());
	show("sigset hold was", sigset(SIGSEGV, SIG_HOLD) == SIG_HOLD);
	show("sigset hold", mask_holds_segv());
	show("sigset dfl was", sigset(SIGSEGV, SIG_DFL) == SIG_HOLD);
	show("sigset dfl", mask_holds_segv());
	struct sigaction sa, back;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigfillset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, &back);
	show("sigaction old mask", sigismember(&back.sa_mask, SIGSEGV));
	sigaction(SIGUSR2, NULL, &back);
	show("sigaction now mask", sigismember(&back.sa_mask, SIGSEGV));
}
#pragma GCC diagnostic pop

/* ---- a context that blocks SIGSEGV ---- */
static ucontext_t main_uc, sum_uc;
static char sum_stack[64 * 1024];
static void sum_current(void)
{
	sum = zt_fnv(sum ? sum : ZT_FNV_INIT, current.iov_base, current.iov_len);
}
static void swap_at_chunk_20(char *b, size_t n, long long i)
{
	if (i != 20) /* past the warm-up: the buffer is guarded */
		return;
	current = (struct iovec){ b, n };
	if (getcontext(&sum_uc))
		zt_die("getcontext");
	sum_uc.uc_stack.ss_sp = sum_stack;
	sum_uc.uc_stack.ss_size = sizeof sum_stack;
	sum_uc.uc_link = &main_uc;
	sigaddset(&sum_uc.uc_sigmask, SIGSEGV);
	makecontext(&sum_uc, sum_current, 0);
	if (swapcontext(&main_uc, &sum_uc))
		zt_die("swapcontext");
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("back, SIGSEGV blocked %d\n", sigismember(&now, SIGSEGV));
}

static volatile sig_atomic_t segv_runs;
static void count_segv(int sig)
{
	(void)sig;
	segv_runs++;
}

static void fault_at_chunk_9(char *b, size_t n, long long i)
{
	(void)b;
	(void)n;
	if (i == 9) {
		fflush(stdout);
		*(volatile char *)(own_page + 16) = 1;
	}
}

/* ---- fork: the child writes the buffer it inherited ---- */
static const char *dst_name;
static void fork_child_writes(char *b, size_t n, long long i)
{
	if (i != 5)
		return;
	char name[4096];
	snprintf(name, sizeof name, "%s.child", dst_name);
	pid_t p = fork();
	if (p < 0)
		zt_die("fork");
	if (p == 0) {
		int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, b, n) != (ssize_t)n)
			_exit(7);
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	printf("child %d\n", st);
}

static void reprotect(char *b, size_t n, long long i)
{
	if (i != 6)
		return;
	uintptr_t lo = ((uintptr_t)b + ZT_PAGE - 1) & ~(uintptr_t)(ZT_PAGE - 1);
	uintptr_t hi = ((uintptr_t)b + n) & ~(uintptr_t)(ZT_PAGE - 1);
	if (mprotect((void *)lo, hi - lo, PROT_READ) || mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE))
		zt_die("mprotect");
	sum = zt_fnv(ZT_FNV_INIT, b, n);
}

/* ---- the kernel writes into the buffer ---- */
static int sp[2];
static const char *src_path;

/* kcall:CALL: one call on the buffer at chunk 5, the first use of its
 * guarded pages in that chunk (a call that gives them their bytes backs the
 * stream off, so each call gets a run of its own).  arc4random_buf: glibc
 * ends the process if its own getrandom fails. */
static const char *kcall;
static void kernel_call(char *b, size_t n, long long i)
{
	if (i != 5 || n < 24 * ZT_PAGE)
		return;
	char *p = b + 13 * ZT_PAGE + 7;
	char *pg = (char *)(((uintptr_t)b + 17 * ZT_PAGE) & ~(uintptr_t)(ZT_PAGE - 1));
	if (strcmp(kcall, "arc4random_buf") == 0) {
		arc4random_buf(p, 64);
		printf("arc4random_buf done\n");
		memset(p, 'R', 64);
	} else if (strcmp(kcall, "getdents64") == 0) {
		int d = open(".", O_RDONLY | O_DIRECTORY);
		ssize_t k = d < 0 ? -1 : getdents64(d, p, 4096);
		printf("getdents64 %s\n", k > 0 ? "entries" : zt_errname(errno));
		memset(p, 'D', 4096);
		close(d);
	} else if (strcmp(kcall, "flistxattr") == 0) {
		/* The output has one (set by the program; ENOTSUP in both runs
		 * where the file system has none). */
		if (fsetxattr(out, "user.zcopy", "x", 1, 0) != 0)
			printf("fsetxattr %s\n", zt_errname(errno));
		ssize_t k = flistxattr(out, p, 256);
		printf("flistxattr %s\n", k >= 0 ? "ok" : zt_errname(errno));
		memset(p, 'X', 256);
	} else if (strcmp(kcall, "pkey_mprotect") == 0) {
		int rc = pkey_mprotect(pg, ZT_PAGE, PROT_READ | PROT_WRITE, -1);
		printf("pkey_mprotect %d hash %016llx\n", rc,
		       (unsigned long long)zt_fnv(ZT_FNV_INIT, pg, ZT_PAGE));
	} else if (strcmp(kcall, "mlock") == 0) {
		int rc = mlock(pg, ZT_PAGE);
		printf("mlock %s\n", rc == 0 ? "0" : zt_errname(errno));
		if (rc == 0)
			munlock(pg, ZT_PAGE);
	} else {
		/* The name as read from the file (names_file): one at 4093 in
		 * every page, so across a page boundary. */
		size_t x = (4093 + 4096 - (size_t)(5 * CH) % 4096) % 4096 + 18 * ZT_PAGE;
		p = b + x;
		int rc;
		if (strcmp(kcall, "stat") == 0) {
			struct stat st;
			rc = stat(p, &st);
			printf("stat of a name in the buffer %s\n", rc ? zt_errname(errno) : "0");
		} else {
			rc = open(p, O_RDONLY);
			printf("open of a name in the buffer %s\n", rc >= 0 ? "ok" : zt_errname(errno));
			if (rc >= 0)
				close(rc);
		}
	}
}

/* altstacks: an alternate signal stack of n bytes for a while. */
static void with_altstack(size_t n)
{
	void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		zt_die("mmap");
	stack_t ss = { .ss_sp = m, .ss_size = n, .ss_flags = 0 }, off = { .ss_flags = SS_DISABLE };
	if (sigaltstack(&ss, NULL) != 0 || sigaltstack(&off, NULL) != 0 || munmap(m, n) != 0)
		zt_die("sigaltstack");
}

/* kcall:stat and kcall:open copy a file of their own: 8 MiB whose every
 * page holds SRC's name at 4093 (it ends in the next page). */
static int names_file(void)
{
	size_t len = 8 << 20, nl = strlen(src_path) + 1;
	char *f = malloc(len);
	if (!f || nl > 64)
		zt_die("names");
	memset(f, 'z', len);
	for (size_t at = 4093; at + nl <= len; at += 4096)
		memcpy(f + at, src_path, nl);
	int fd = open("names.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, f, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0)
		zt_die("names.bin");
	free(f);
	return fd;
}

/* getentropy (glibc makes the system call itself), fstatfs and statfs into
 * the buffer, and three of its whole pages as a stream's buffer. */
static void more_kernel_writes(char *b)
{
	char *p = b + 6 * ZT_PAGE + 5;
	printf("getentropy %d\n", getentropy(p, 32));
	memset(p, 'E', 32);
	struct statfs *fs = (struct statfs *)(b + 7 * ZT_PAGE + 8);
	int rc = fstatfs(in, fs);
	printf("fstatfs %d %ld\n", rc, rc ? -1L : (long)fs->f_type);
	memset(fs, 'F', sizeof *fs);
	fs = (struct statfs *)(b + 8 * ZT_PAGE - 40); /* across a page boundary */
	rc = statfs(".", fs);
	printf("statfs %d %ld\n", rc, rc ? -1L : (long)fs->f_type);
	memset(fs, 'T', sizeof *fs);
	char *v = (char *)(((uintptr_t)b + 10 * ZT_PAGE) & ~(uintptr_t)(ZT_PAGE - 1));
	FILE *t = fopen(src_path, "rb");
	char got[5000];
	if (!t || setvbuf(t, v, _IOFBF, 3 * ZT_PAGE) != 0)
		zt_die("setvbuf");
	errno = 0;
	size_t k = fread(got, 1, sizeof got, t);
	printf("setvbuf fread %zu ferror %d errno %d hash %016llx\n", k, ferror(t), errno,
	       (unsigned long long)zt_fnv(ZT_FNV_INIT, got, k));
	fclose(t);
	memset(v, 'V', 3 * ZT_PAGE);
}
static void kernel_writes(char *b, size_t n, long long i)
{
	if (i % 4 != 1 || n < 6 * ZT_PAGE)
		return;
	char *p = b + 2 * ZT_PAGE + 100;
	ssize_t l = readlink("../link", p, 64);
	printf("readlink %zd %.*s\n", l, l > 0 ? (int)l : 0, p);
	memset(p, 'L', 64);
	p = b + 3 * ZT_PAGE - 10; /* across a page boundary */
	char here[4096];
	int same = getcwd(p, 4096) && getcwd(here, sizeof here) && strcmp(p, here) == 0;
	printf("getcwd %d\n", same);
	memset(p, 'C', 512); /* the runs' directories differ */
	struct stat *st = (struct stat *)(b + 4 * ZT_PAGE + 8);
	int rc = fstat(in, st);
	printf("fstat %d %lld\n", rc, rc ? -1LL : (long long)st->st_size);
	memset(st, 'S', sizeof *st);
	p = b + 5 * ZT_PAGE - 3;
	if (send(sp[0], "message in a buffer", 19, 0) != 19)
		zt_die("send");
	struct iovec v = { p, 64 };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
	ssize_t got = recvmsg(sp[1], &m, 0);
	printf("recvmsg %zd %.*s\n", got, got > 0 ? (int)got : 0, p);
	more_kernel_writes(b);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "cont") == 0) {
		/* exec'd: fds argv[2] and argv[3] continue where the parent was. */
		in = atoi(argv[2]);
		out = atoi(argv[3]);
		printf("cont from %lld\n", zt_pos(in));
		char *buf = malloc(CH);
		long long t = loop(buf, CH, NULL);
		printf("cont copied %lld src_off %lld dst_off %lld\n", t, zt_pos(in), zt_pos(out));
		return 0;
	}
	if (argc != 4)
		zt_usage("guard_copy MODE SRC DST");
	const char *mode = argv[1];
	in = zt_open_in(argv[2]);
	out = zt_open_out(argv[3], 0);
	dst_name = argv[3];
	own_page = mmap(NULL, ZT_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long long total = 0;

	if (strncmp(mode, "malloc:", 7) == 0) {
		size_t n = strtoul(mode + 7, NULL, 0);
		total = loop(malloc(n), n, NULL);
	} else if (strcmp(mode, "altstacks") == 0) {
		for (int k = 0; k < 40; k++) /* each larger: a range never noted before */
			with_altstack((size_t)(16 + k) * ZT_PAGE);
		total = loop(malloc(CH), CH, NULL);
	} else if (strcmp(mode, "fresh") == 0 || strcmp(mode, "reuse_freed") == 0) {
		total = fresh_buffers(mode[0] == 'r');
	} else if (strcmp(mode, "bss") == 0) {
		total = loop(bss_area + 333, CH, NULL);
	} else if (strcmp(mode, "edit") == 0) {
		total = loop(malloc(CH), CH, edit);
	} else if (strcmp(mode, "thread") == 0) {
		total = loop(malloc(CH), CH, other_thread);
		printf("sum %llx\n", (unsigned long long)sum);
	} else if (strcmp(mode, "sigsegv") == 0 || strcmp(mode, "segv_death") == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_segv;
		sa.sa_flags = SA_SIGINFO;
		if (mode[1] == 'i' && sigaction(SIGSEGV, &sa, NULL))
			zt_die("sigaction");
		struct sigaction back;
		sigaction(SIGSEGV, NULL, &back);
		printf("handler reported %s\n",
		       (back.sa_flags & SA_SIGINFO) && back.sa_sigaction == on_segv ? "ours"
		       : back.sa_handler == SIG_DFL ? "default" : "other");
		total = loop(malloc(CH), CH, mode[1] == 'i' ? own_faults : fault_at_chunk_9);
		printf("caught %d sum %llx\n", (int)caught, (unsigned long long)sum);
	} else if (strcmp(mode, "fork") == 0) {
		total = loop(malloc(CH), CH, fork_child_writes);
	} else if (strcmp(mode, "realloc") == 0) {
		size_t n = CH;
		char *b = malloc(n);
		ssize_t r;
		long long i = 0;
		while ((r = get(b, n)) > 0) {
			put_all(b, (size_t)r);
			total += r;
			if (++i % 8 == 0) {
				b = realloc(b, n + 3 * ZT_PAGE + 1);
				n += 3 * ZT_PAGE + 1;
			}
		}
	} else if (strcmp(mode, "mprotect") == 0) {
		total = loop(malloc(CH), CH, reprotect);
		printf("sum %llx\n", (unsigned long long)sum);
	} else if (strcmp(mode, "writev") == 0) {
		char *a = malloc(CH), *b = malloc(CH + 50);
		for (;;) {
			ssize_t r1 = get(a, CH), r2 = r1 == CH ? get(b, CH + 50) : 0;
			if (r1 <= 0)
				break;
			struct iovec v[2] = { { a, (size_t)r1 }, { b, (size_t)r2 } };
			ssize_t w = writev(out, v, r2 > 0 ? 2 : 1);
			if (w != r1 + r2)
				zt_die("writev");
			total += w;
		}
	} else if (strcmp(mode, "send") == 0) {
		int s[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, s))
			zt_die("socketpair");
		pid_t p = fork();
		if (p == 0) {
			close(s[0]);
			char small[8192];
			ssize_t r;
			while ((r = read(s[1], small, sizeof small)) > 0)
				put_all(small, (size_t)r);
			_exit(0);
		}
		close(s[1]);
		char *b = malloc(CH);
		ssize_t r;
		while ((r = get(b, CH)) > 0) {
			for (ssize_t d = 0; d < r;) {
				ssize_t w = send(s[0], b + d, (size_t)(r - d), MSG_NOSIGNAL);
				if (w < 0)
					zt_die("send");
				d += w;
			}
			total += r;
		}
		close(s[0]);
		int st;
		waitpid(p, &st, 0);
		printf("drained %d\n", st);
	} else if (strncmp(mode, "kcall:", 6) == 0) {
		src_path = argv[2];
		kcall = mode + 6;
		if (strcmp(kcall, "stat") == 0 || strcmp(kcall, "open") == 0) {
			close(in);
			in = names_file();
		}
		total = loop(malloc(CH), CH, kernel_call);
	} else if (strcmp(mode, "kernel") == 0) {
		src_path = argv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
			zt_die("socketpair");
		total = loop(malloc(CH), CH, kernel_writes);
	} else if (strncmp(mode, "fwrite", 6) == 0) {
		FILE *f = fdopen(out, "w");
		setvbuf(f, NULL, _IONBF, 0);
		char *b = malloc(CH);
		ssize_t r;
		while ((r = get(b, CH)) > 0) {
			size_t w = mode[6] ? fwrite_unlocked(b, 1, (size_t)r, f) : fwrite(b, 1, (size_t)r, f);
			if (w != (size_t)r)
				zt_die("fwrite");
			total += r;
		}
		fflush(f);
	} else if (strcmp(mode, "exec") == 0) {
		char *b = malloc(CH);
		for (int i = 0; i < 8; i++) {
			ssize_t r = get(b, CH);
			if (r <= 0)
				break;
			put_all(b, (size_t)r);
			total += r;
		}
		fflush(stdout);
		pid_t p = fork();
		if (p == 0) {
			char a[16], o[16];
			snprintf(a, sizeof a, "%d", in);
			snprintf(o, sizeof o, "%d", out);
			execl("/proc/self/exe", argv[0], "cont", a, o, (char *)NULL);
			_exit(127);
		}
		int st;
		waitpid(p, &st, 0);
		printf("exec child %d\n", st);
	} else if (strcmp(mode, "pwritev2") == 0) {
		/* Work on a copy: the runs share SRC. */
		int w = open("work", O_RDWR | O_CREAT | O_TRUNC, 0644);
		struct stat st;
		if (w < 0 || fstat(in, &st) || sendfile(w, in, NULL, (size_t)st.st_size) != st.st_size)
			zt_die("work");
		close(in);
		in = w;
		lseek(in, 0, SEEK_SET);
		total = loop(malloc(CH), CH, overwrite_what_was_read);
	} else if (strcmp(mode, "other_stack") == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, lender, NULL))
			zt_die("pthread_create");
		while (!lent)
			usleep(1000);
		total = loop(lent, CH, NULL);
		copy_done = 1;
		pthread_join(t, NULL);
	} else if (strcmp(mode, "stale_stack") == 0) {
		char *blk = malloc(16 << 20);
		if (!blk)
			zt_die("malloc");
		total = loop(blk, CH, NULL);
		sum = zt_fnv(ZT_FNV_INIT, blk, CH); /* its pages get their bytes */
		free(blk);
		pthread_attr_t a;
		pthread_t t;
		if (pthread_attr_init(&a) || pthread_attr_setstacksize(&a, 8 << 20) ||
		    pthread_create(&t, &a, lender, NULL))
			zt_die("pthread_create");
		while (!lent)
			usleep(1000);
		if (lseek(in, 0, SEEK_SET) != 0)
			zt_die("lseek");
		total += loop(lent, CH, NULL);
		copy_done = 1;
		pthread_join(t, NULL);
	} else if (strcmp(mode, "closefrom") == 0) {
		total = loop(malloc(CH), CH, close_above);
	} else if (strcmp(mode, "sigblocked") == 0) {
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_BLOCK, &all, NULL);
		sigset_t now;
		sigprocmask(SIG_BLOCK, NULL, &now);
		printf("SIGSEGV blocked %d\n", sigismember(&now, SIGSEGV));
		total = loop(malloc(CH), CH, checksum_every_chunk);
		printf("sum %llx\n", (unsigned long long)sum);
	} else if (strcmp(mode, "masked_worker") == 0) {
		total = loop(malloc(CH), CH, masked_worker);
		printf("sum %llx\n", (unsigned long long)sum);
	} else if (strcmp(mode, "full_mask_handler") == 0 || strcmp(mode, "ppoll_mask") == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal_checksum;
		if (mode[0] == 'f')
			sigfillset(&sa.sa_mask);
		if (sigaction(mode[0] == 'f' ? SIGALRM : SIGUSR1, &sa, NULL))
			zt_die("sigaction");
		struct sigaction back;
		sigaction(mode[0] == 'f' ? SIGALRM : SIGUSR1, NULL, &back);
		printf("reported mask holds SIGSEGV %d SIGINT %d\n", sigismember(&back.sa_mask, SIGSEGV),
		       sigismember(&back.sa_mask, SIGINT));
		total = loop(malloc(CH), CH, mode[0] == 'f' ? raise_alarm : usr1_in_ppoll);
		printf("sum %llx\n", (unsigned long long)sum);
	} else if (strcmp(mode, "sysv_handler") == 0) {
		sysv_signal(SIGSEGV, count_segv);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		siginterrupt(SIGSEGV, 1);
#pragma GCC diagnostic pop
		struct sigaction back;
		sigaction(SIGSEGV, NULL, &back);
		printf("handler %d flags %x mask %d\n", back.sa_handler == count_segv,
		       (unsigned)back.sa_flags, sigismember(&back.sa_mask, SIGSEGV));
		total = loop(malloc(CH), CH, checksum_every_chunk);
		printf("sum %llx handler ran %d\n", (unsigned long long)sum, (int)segv_runs);
	} else if (strcmp(mode, "context_mask") == 0) {
		total = loop(malloc(CH), CH, swap_at_chunk_20);
		printf("sum %llx\n", (unsigned long long)sum);
	} else if (strcmp(mode, "views") == 0) {
		total = loop(malloc(CH), CH, NULL);
		views();
	} else if (strcmp(mode, "blocked_fault") == 0 || strcmp(mode, "held_segv") == 0) {
		signal(SIGSEGV, count_segv);
		sigset_t segv;
		sigemptyset(&segv);
		sigaddset(&segv, SIGSEGV);
		pthread_sigmask(SIG_BLOCK, &segv, NULL);
		if (mode[0] == 'h')
			raise(SIGSEGV); /* pending while blocked */
		printf("handler ran %d\n", (int)segv_runs);
		total = loop(malloc(CH), CH, mode[0] == 'h' ? NULL : fault_at_chunk_9);
		pthread_sigmask(SIG_UNBLOCK, &segv, NULL);
		printf("handler ran %d\n", (int)segv_runs);
	} else {
		zt_usage("guard_copy MODE SRC DST");
	}
	printf("copied %lld src_off %lld dst_off %lld\n", total, zt_pos(in), zt_pos(out));
	return 0;
}
