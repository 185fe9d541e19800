/*
 * file_pipe - cat's loop (128 KiB reads into a page-aligned buffer, each
 * written to stdout whole) with one thing a program may do between a read
 * and its write.  Under zcopy, with stdout a pipe or a character device,
 * such reads are one splice into a pipe of zcopy's (docs/design.md, "A file
 * read as one splice into a pipe of zcopy's").
 *
 * usage: file_pipe MODE SRC
 *   plain      the loop
 *   twice      every chunk written twice
 *   halves     every chunk written as its second half, then its first
 *   nonblock   stdout made non-blocking and its pipe 16 KiB: writes take
 *              part of a chunk, the rest is written from buf+k after poll
 *   signal     a SIGALRM every 2 ms (no SA_RESTART) while writing into a
 *              16 KiB pipe: short counts and EINTRs, the rest written again
 *   thread     another thread checksums the buffer while it is written
 *   dup2_src   every 5th chunk, between read and write, SRC opened again at
 *              the same offset and dup2'd over the source
 *   dup2_dst   every 5th chunk, between read and write, a duplicate of
 *              stdout dup2'd over it
 *   fork       at chunk 7 a child writes the chunk to "child.out" and then
 *              reads the next chunk into the same buffer, writes it there
 *              too; the parent then writes its own chunk
 *   child_read at chunk 6 a child reads a chunk of the shared source and
 *              _exits without writing it: the parent continues after it
 *   trunc      at chunk 9 another process (posix_spawn, no fork handler)
 *              truncates SRC inside the chunk just read (9 chunks and 5000
 *              bytes), before the write
 *   grow       at the end another process appends SRC's first 300000 bytes
 *              to it; the loop goes on reading
 * (trunc and grow work on a copy of SRC, "work", in the current directory)
 *   rlimit     RLIMIT_NOFILE lowered to 512 first
 *   nosplice   a seccomp filter makes every splice with an input offset
 *              fail with EINVAL (a file system that cannot splice)
 *   exit       after chunk 12 is read, exit(0) without writing it, after
 *              printing the offset to stderr
 *   fwrite     every chunk written by fwrite to stdout (glibc's own write
 *              of its start, past every wrapper)
 *   fwrite_odd the same from a buffer 16 bytes into a page (malloc's)
 *   big        reads of 2 MiB (above the default pipe-max-size, 1 MiB)
 *   restart    chunks 4 to 11 go through a pipe of the program's own, full
 *              when the write starts: a SIGALRM handler (SA_RESTART, every
 *              20 ms) changes the buffer's first byte at its first run, then
 *              drains that pipe to stdout; the kernel restarts the write,
 *              which then sends the changed byte
 *   jump       chunks 4 to 19 are first written to a full pipe nobody reads,
 *              which a SIGALRM handler leaves by siglongjmp (an alarm that
 *              times a write out), then to stdout as usual
 *   cancel     chunks 4 to 19 are first written to a full pipe nobody reads
 *              by another thread, which this one cancels while it waits;
 *   cancel_cleanup
 *              chunk 4 is first written to a full pipe by another thread,
 *              cancelled while it waits; its cleanup handler writes 4 KiB
 *              into a second full pipe, and while that write waits this
 *              thread sends it SIGUSR2 (SA_RESTART), then drains the pipe:
 *              plainly the write restarts and returns 4096
 *              after chunk 19, close_range(100, ~0U, 0), as a program
 *              closes every descriptor it does not know of
 *   kick_keep, kick_eintr, kick_jump, kick_twice
 *              chunks 4 to 11 go through a 256 KiB pipe of the program's
 *              own, full when the write starts; another thread waits until
 *              the write waits in the kernel (/proc/self/task/TID/syscall)
 *              and sends SIGALRM; a handler drains the pipe to stdout:
 *     kick_keep   SA_RESTART, the buffer untouched: the write restarts
 *     kick_eintr  no SA_RESTART, the buffer's first byte changed first:
 *                 the write fails with EINTR and is made again
 *     kick_jump   SA_RESTART, the first byte changed, and the handler
 *                 leaves by siglongjmp: the chunk is written again after
 *     kick_twice  SA_RESTART: SIGALRM's handler changes byte 0 (no drain);
 *                 once the restarted write waits again, SIGUSR1's changes
 *                 byte 5000 (a guarded page of its own) and drains
 *     kick_pair   as kick_twice, both signals sent at once (delivered at
 *                 one return from the wait, or the second just after)
 *     kick_sock   as kick_eintr with SA_RESTART, into a UNIX stream socket
 *                 filled up (its zeros are not passed on to stdout)
 *     kick_later  SA_RESTART, the pipe left with 64 KiB of room: the write
 *                 waits after its first 64 KiB, the handler changes the
 *                 chunk's last byte and drains; the plain write returns
 *                 65536, and the program writes the rest (with that byte)
 *     kick_early  as kick_eintr with SA_RESTART, the handlers installed
 *                 from the executable's preinit_array, before any library's
 *                 constructor ran (zcopy's included)
 *     kick_nonblock  no signal: the pipe left with 64 KiB of room, and
 *                 while the write waits after them, the other thread makes
 *                 the pipe non-blocking (fcntl) and reads 4 KiB: the plain
 *                 write returns 69632; then it makes the pipe blocking
 *                 again and drains it, and the program writes the rest
 *              each write's count and errno are printed
 * Prints to stderr what it did (counts, offsets, checksums).
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "zt.h"

extern char **environ;

static const char *mode;
static unsigned char *buf;
static size_t cur;
static volatile uint64_t seen;
static long eintrs, shorts;
static int full = -1; /* jump: the write end of a full pipe */
static int own[2] = { -1, -1 }; /* restart: the program's own pipe */
static volatile sig_atomic_t flip;
static char drained[65536];
static sigjmp_buf timed_out;
static int jumps;

/* Writes all n bytes at p, going on after short counts, EAGAIN (poll) and
 * EINTR, as a careful program does. */
static void put(const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR) {
			eintrs++;
			continue;
		}
		if (w < 0 && errno == EAGAIN) {
			struct pollfd q = { .fd = 1, .events = POLLOUT };
			poll(&q, 1, -1);
			continue;
		}
		if (w < 0)
			zt_die("write");
		if ((size_t)w < n)
			shorts++;
		p += w;
		n -= (size_t)w;
	}
}

static void *checksum(void *arg)
{
	(void)arg;
	seen = zt_fnv(ZT_FNV_INIT, buf, cur);
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void on_timeout(int sig)
{
	(void)sig;
	siglongjmp(timed_out, 1);
}

/* restart: the first run for a chunk changes its first byte; every run
 * moves what the pipe holds to stdout. */
static void on_restart_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	if (flip) {
		buf[0] = (unsigned char)(buf[0] ^ 0x5a);
		flip = 0;
	}
	ssize_t r;
	while ((r = read(own[0], drained, sizeof drained)) > 0)
		zt_put(1, (const unsigned char *)drained, (size_t)r);
	errno = saved;
}

/* restart: chunk n through the program's own pipe, full at the start. */
static void restarted_write(size_t n)
{
	static const unsigned char zero[65536];
	if (own[0] < 0) {
		if (pipe(own) != 0)
			zt_die("pipe");
		fcntl(own[0], F_SETFL, O_NONBLOCK);
		struct sigaction sa = { .sa_handler = on_restart_alarm, .sa_flags = SA_RESTART };
		sigaction(SIGALRM, &sa, NULL);
	}
	if (write(own[1], zero, sizeof zero) != (ssize_t)sizeof zero)
		zt_die("filling the pipe");
	flip = 1;
	struct itimerval it = { { 0, 20000 }, { 0, 20000 } }, off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &it, NULL);
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(own[1], buf + done, n - done);
		if (w < 0)
			zt_die("write");
		done += (size_t)w;
	}
	setitimer(ITIMER_REAL, &off, NULL);
	on_restart_alarm(0);
}

/* ---- kick_*: one signal at a time, sent while the write waits ----------- */

#define KICK_PIPE (256 * 1024)
static pid_t writer_tid;
static pthread_t writer;
static volatile sig_atomic_t kicks_seen;
static sigjmp_buf kicked_out;

static size_t fill_left; /* kick_sock: zeros still ahead of the chunk */

/* Moves what the program's pipe (or socket) holds to stdout. */
static void drain_own(void)
{
	ssize_t r;
	while ((r = read(own[0], drained, sizeof drained)) > 0) {
		size_t skip = fill_left < (size_t)r ? fill_left : (size_t)r;
		fill_left -= skip;
		zt_put(1, (const unsigned char *)drained + skip, (size_t)r - skip);
	}
}

static void on_kick(int sig)
{
	int saved = errno;
	if (sig == SIGALRM && !strcmp(mode, "kick_later"))
		buf[ZT_CHUNK - 1] = (unsigned char)(buf[ZT_CHUNK - 1] ^ 0x5a);
	else if (sig == SIGALRM && strcmp(mode, "kick_keep"))
		buf[0] = (unsigned char)(buf[0] ^ 0x5a);
	if (sig == SIGUSR1)
		buf[5000] = (unsigned char)(buf[5000] ^ 0xa5);
	if ((strcmp(mode, "kick_twice") && strcmp(mode, "kick_pair")) || sig == SIGUSR1)
		drain_own();
	kicks_seen++;
	errno = saved;
	if (!strcmp(mode, "kick_jump"))
		siglongjmp(kicked_out, 1);
}

/* Is the writer waiting in a write-like system call (or in poll, where
 * zcopy waits once a write sent its first bytes)? */
static int writer_waits(void)
{
	long nr = zt_task_sleeps_in(writer_tid);
	return nr == SYS_write || nr == SYS_writev || nr == SYS_splice || nr == SYS_sendfile ||
	       nr == SYS_copy_file_range || nr == SYS_poll || nr == SYS_ppoll;
}

static void until(int (*cond)(void))
{
	for (int i = 0; !cond(); i++) {
		if (i > 20000) {
			fprintf(stderr, "kick: the write never waited\n");
			_exit(97);
		}
		struct timespec ts = { 0, 250 * 1000 };
		syscall(SYS_nanosleep, &ts, NULL);
	}
}

static int one_kick_seen(void)
{
	return kicks_seen > 0;
}

/* kick_early: the handlers go in before anything else runs. */
static void install_early(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 2 || strcmp(argv[1], "kick_early"))
		return;
	mode = argv[1];
	struct sigaction sa = { .sa_handler = on_kick, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}
__attribute__((section(".preinit_array"), used)) static void (*const early_hook)(int, char **, char **) =
	install_early;

static volatile sig_atomic_t kicked_returned;

static int kicked_write_returned(void)
{
	return kicked_returned;
}

/* kick_nonblock (see the top) */
static void nonblock_under_the_write(void)
{
	int fl = fcntl(own[1], F_GETFL);
	if (fl < 0 || fcntl(own[1], F_SETFL, fl | O_NONBLOCK) != 0)
		zt_die("fcntl");
	static char room[4096];
	if (read(own[0], room, sizeof room) != (ssize_t)sizeof room)
		zt_die("read");
	zt_put(1, (const unsigned char *)room, sizeof room);
	for (int i = 0; !kicked_write_returned(); i++) {
		if (i > 20000) {
			fprintf(stderr, "kick: the write did not return\n");
			_exit(98);
		}
		zt_nap_us(250);
	}
	if (fcntl(own[1], F_SETFL, fl) != 0)
		zt_die("fcntl");
	drain_own();
}

static void *kicker(void *arg)
{
	(void)arg;
	until(writer_waits);
	if (!strcmp(mode, "kick_nonblock")) {
		nonblock_under_the_write();
		return NULL;
	}
	pthread_kill(writer, SIGALRM);
	if (!strcmp(mode, "kick_pair"))
		pthread_kill(writer, SIGUSR1);
	if (!strcmp(mode, "kick_twice")) {
		/* The handler ran, then the write began again and waits again. */
		until(one_kick_seen);
		until(writer_waits);
		pthread_kill(writer, SIGUSR1);
	}
	return NULL;
}

/* One write of buf's n bytes into the full pipe, its kicker started (and
 * joined by the caller, also after a jump out of the write). */
static pthread_t kick_thread;
static ssize_t kicked_write(size_t n, int *err)
{
	kicks_seen = 0;
	kicked_returned = 0;
	if (pthread_create(&kick_thread, NULL, kicker, NULL) != 0)
		zt_die("pthread_create");
	ssize_t w = write(own[1], buf, n);
	*err = w < 0 ? errno : 0;
	kicked_returned = 1;
	return w;
}

static const unsigned char zeros[KICK_PIPE];

/* kick_sock: the socket takes zeros until it is full (how many depends on
 * the kernel's accounting: they are counted, and not passed on). */
static void fill_socket(void)
{
	fcntl(own[1], F_SETFL, O_NONBLOCK);
	ssize_t w;
	while ((w = write(own[1], zeros, 4096)) > 0)
		fill_left += (size_t)w;
	if (errno != EAGAIN)
		zt_die("filling the socket");
	fcntl(own[1], F_SETFL, 0);
}

/* kick_*: chunk i (n bytes) through the program's own pipe. */
static void kicked_chunk(int i, size_t n)
{
	int sock = !strcmp(mode, "kick_sock");
	if (own[0] < 0) {
		int big = KICK_PIPE;
		if (sock ? socketpair(AF_UNIX, SOCK_STREAM, 0, own) != 0 ||
				   setsockopt(own[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big) != 0
			 : pipe(own) != 0 || fcntl(own[1], F_SETPIPE_SZ, KICK_PIPE) != KICK_PIPE)
			zt_die("pipe");
		fcntl(own[0], F_SETFL, O_NONBLOCK);
		struct sigaction sa = { .sa_handler = on_kick,
					.sa_flags = strcmp(mode, "kick_eintr") ? SA_RESTART : 0 };
		if (strcmp(mode, "kick_early")) { /* kick_early: installed before main */
			sigaction(SIGALRM, &sa, NULL);
			sigaction(SIGUSR1, &sa, NULL);
		}
		writer = pthread_self();
		writer_tid = (pid_t)syscall(SYS_gettid);
	}
	/* kick_later: room for the write's first 64 KiB */
	size_t fill = strcmp(mode, "kick_later") && strcmp(mode, "kick_nonblock") ? sizeof zeros
										    : sizeof zeros - 65536;
	if (sock)
		fill_socket();
	else if (write(own[1], zeros, fill) != (ssize_t)fill)
		zt_die("filling the pipe");
	int err;
	ssize_t w;
	if (!strcmp(mode, "kick_jump") && sigsetjmp(kicked_out, 1) != 0) {
		pthread_join(kick_thread, NULL);
		fprintf(stderr, "chunk %d: left the write by siglongjmp\n", i);
		w = write(own[1], buf, n); /* the pipe has room now */
		err = w < 0 ? errno : 0;
	} else {
		w = kicked_write(n, &err);
		pthread_join(kick_thread, NULL);
	}
	fprintf(stderr, "chunk %d: write %zd %s\n", i, w, zt_errname(err));
	if (w < 0 && err == EINTR) {
		w = write(own[1], buf, n);
		err = w < 0 ? errno : 0;
		fprintf(stderr, "chunk %d: again %zd %s\n", i, w, zt_errname(err));
	}
	if (w > 0 && w < (ssize_t)n) {
		/* The handler or the other thread drained the pipe: the rest fits. */
		ssize_t rest = write(own[1], buf + w, n - (size_t)w);
		fprintf(stderr, "chunk %d: the rest %zd\n", i, rest);
		w = rest > 0 ? w + rest : rest;
	}
	if (w != (ssize_t)n)
		zt_die("kicked write");
	drain_own();
}

/* A pipe whose buffer is full and that nobody reads: a write waits. */
static void full_pipe(void)
{
	int fds[2];
	static const char zero[4096];
	if (pipe(fds) != 0)
		zt_die("pipe");
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	while (write(fds[1], zero, sizeof zero) > 0)
		;
	fcntl(fds[1], F_SETFL, 0);
	full = fds[1];
	struct sigaction sa = { .sa_handler = on_timeout };
	sigaction(SIGALRM, &sa, NULL);
}

/* Writes n bytes of buf into the full pipe until a 20 ms alarm's handler
 * jumps out of the write. */
static void timed_out_write(size_t n)
{
	if (sigsetjmp(timed_out, 1) == 0) {
		struct itimerval it = { { 0, 0 }, { 0, 20000 } };
		setitimer(ITIMER_REAL, &it, NULL);
		ssize_t w = write(full, buf, n);
		fprintf(stderr, "write into a full pipe returned %zd\n", w);
		exit(1);
	}
	jumps++;
}

/* cancel: a thread's write of n bytes of buf into the full pipe, cancelled
 * 20 ms after it started (it waits: the pipe takes none of them). */
static void *full_writer(void *arg)
{
	ssize_t w = write(full, buf, *(size_t *)arg);
	fprintf(stderr, "write into a full pipe returned %zd\n", w);
	exit(1);
}

static int cancels;

/* cancel_cleanup (see the top) */
static int second[2] = { -1, -1 };
static volatile sig_atomic_t in_cleanup, usr2_seen;

static void on_usr2(int sig)
{
	usr2_seen = 1;
}

static void cleanup_write(void *arg)
{
	static const char page[4096];
	in_cleanup = 1;
	ssize_t w = write(second[1], page, sizeof page);
	fprintf(stderr, "the cleanup's write returned %zd %s, SIGUSR2 %s\n", w,
		zt_errname(w < 0 ? errno : 0), usr2_seen ? "seen" : "not seen");
}

static void *full_writer_with_cleanup(void *arg)
{
	writer_tid = (pid_t)syscall(SYS_gettid);
	pthread_cleanup_push(cleanup_write, NULL);
	ssize_t w = write(full, buf, *(size_t *)arg);
	fprintf(stderr, "write into a full pipe returned %zd\n", w);
	exit(1);
	pthread_cleanup_pop(0);
	return NULL;
}

static int cleanup_waits(void)
{
	return in_cleanup && writer_waits();
}

static void cancelled_write_with_cleanup(size_t n)
{
	pthread_t t;
	void *res = NULL;
	static const char page[4096];
	struct sigaction sa = { .sa_handler = on_usr2, .sa_flags = SA_RESTART };
	if (pipe(second) != 0 || fcntl(second[1], F_SETFL, O_NONBLOCK) != 0)
		zt_die("pipe");
	while (write(second[1], page, sizeof page) > 0)
		;
	if (fcntl(second[1], F_SETFL, 0) != 0 || sigaction(SIGUSR2, &sa, NULL) != 0)
		zt_die("fcntl");
	writer_tid = 0;
	if (pthread_create(&t, NULL, full_writer_with_cleanup, &n) != 0)
		zt_die("pthread_create");
	until(writer_waits); /* (0 until the thread set it: no such task) */
	if (pthread_cancel(t) != 0)
		zt_die("cancel");
	until(cleanup_waits);
	pthread_kill(t, SIGUSR2);
	while (!usr2_seen)
		zt_nap_us(1000);
	zt_nap_us(20000); /* the restarted write waits again */
	static char sink[65536];
	if (read(second[0], sink, sizeof sink) <= 0)
		zt_die("read");
	if (pthread_join(t, &res) != 0 || res != PTHREAD_CANCELED)
		zt_die("cancel");
	cancels++;
}

static void cancelled_write(size_t n)
{
	pthread_t t;
	void *res = NULL;
	if (pthread_create(&t, NULL, full_writer, &n) != 0)
		zt_die("pthread_create");
	zt_nap_us(20000);
	if (pthread_cancel(t) != 0 || pthread_join(t, &res) != 0 || res != PTHREAD_CANCELED)
		zt_die("cancel");
	cancels++;
}

static void small_pipe(void)
{
	if (fcntl(1, F_SETPIPE_SZ, 16384) < 0)
		fprintf(stderr, "not a pipe\n");
}

static void spawn(char *const argv[])
{
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (rc != 0) {
		errno = rc;
		zt_die("posix_spawnp");
	}
	int st;
	waitpid(pid, &st, 0);
}

static void no_splice_with_offset(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_splice, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		zt_die("seccomp");
}

/* What the mode does between the read of chunk i (n bytes) and its write.
 * Returns 1 when the chunk is written as usual afterwards. */
static int between(int *in, const char *src, int i, size_t n)
{
	if (!strcmp(mode, "dup2_src") && i % 5 == 4) {
		int again = zt_open_in(src);
		if (lseek(again, lseek(*in, 0, SEEK_CUR), SEEK_SET) < 0 || dup2(again, *in) < 0)
			zt_die("dup2_src");
		close(again);
	} else if (!strcmp(mode, "dup2_dst") && i % 5 == 4) {
		int d = dup(1);
		if (d < 0 || dup2(d, 1) < 0)
			zt_die("dup2_dst");
		close(d);
	} else if (!strcmp(mode, "fork") && i == 7) {
		pid_t pid = zt_fork();
		if (pid == 0) {
			int o = zt_open_out("child.out", 0);
			zt_put(o, buf, n);
			ssize_t m = zt_read(*in, buf, ZT_CHUNK);
			zt_put(o, buf, (size_t)m);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
	} else if (!strcmp(mode, "child_read") && i == 6) {
		pid_t pid = zt_fork();
		if (pid == 0) {
			zt_read(*in, buf, ZT_CHUNK);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
	} else if (!strcmp(mode, "trunc") && i == 9) {
		char size[32];
		snprintf(size, sizeof size, "%d", 9 * ZT_CHUNK + 5000);
		spawn((char *const[]){ "truncate", "-s", size, (char *)src, NULL });
	} else if (!strcmp(mode, "jump") && i >= 4 && i < 20) {
		timed_out_write(n);
	} else if (!strcmp(mode, "cancel_cleanup") && i == 4) {
		cancelled_write_with_cleanup(n);
	} else if (!strcmp(mode, "cancel") && i >= 4 && i < 20) {
		cancelled_write(n);
		if (i == 19 && close_range(100, ~0U, 0) != 0)
			zt_die("close_range");
	} else if (!strncmp(mode, "kick_", 5) && i >= 4 && i < 12) {
		kicked_chunk(i, n);
		return 0;
	} else if (!strcmp(mode, "restart") && i >= 4 && i < 12) {
		restarted_write(n);
		return 0;
	} else if (!strcmp(mode, "exit") && i == 12) {
		fprintf(stderr, "offset %lld\n", zt_pos(*in));
		exit(0);
	}
	return 1;
}

static void write_chunk(size_t n)
{
	if (!strcmp(mode, "twice")) {
		put(buf, n);
		put(buf, n);
	} else if (!strcmp(mode, "halves")) {
		put(buf + n / 2, n - n / 2);
		put(buf, n / 2);
	} else if (!strcmp(mode, "thread")) {
		pthread_t t;
		cur = n;
		pthread_create(&t, NULL, checksum, NULL);
		put(buf, n);
		pthread_join(t, NULL);
	} else if (!strncmp(mode, "fwrite", 6)) {
		if (fwrite(buf, 1, n, stdout) != n)
			zt_die("fwrite");
	} else {
		put(buf, n);
	}
}

static void prepare(void)
{
	if (!strcmp(mode, "nonblock")) {
		small_pipe();
		fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
	} else if (!strcmp(mode, "signal")) {
		small_pipe();
		struct sigaction sa = { .sa_handler = on_alarm };
		sigaction(SIGALRM, &sa, NULL);
		struct itimerval it = { { 0, 2000 }, { 0, 2000 } };
		setitimer(ITIMER_REAL, &it, NULL);
	} else if (!strcmp(mode, "rlimit")) {
		struct rlimit rl = { 512, 512 };
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			zt_die("setrlimit");
	} else if (!strcmp(mode, "nosplice")) {
		no_splice_with_offset();
	} else if (!strcmp(mode, "jump") || !strcmp(mode, "cancel") ||
		   !strcmp(mode, "cancel_cleanup")) {
		full_pipe();
	}
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("file_pipe MODE SRC");
	mode = argv[1];
	const char *src = argv[2];
	if (!strcmp(mode, "trunc") || !strcmp(mode, "grow")) {
		/* These change the file: each run its own copy. */
		spawn((char *const[]){ "cp", (char *)src, "work", NULL });
		src = "work";
	}
	int in = zt_open_in(src);
	size_t chunk = strcmp(mode, "big") ? ZT_CHUNK : 2 * 1024 * 1024;
	buf = zt_alloc(chunk + ZT_PAGE);
	if (!strcmp(mode, "fwrite_odd"))
		buf += 16;
	prepare();
	long long total = 0;
	int grown = 0;
	for (int i = 0;; i++) {
		ssize_t n = read(in, buf, chunk);
		if (n < 0)
			zt_die("read");
		if (n == 0 && !strcmp(mode, "grow") && !grown) {
			spawn((char *const[]){ "sh", "-c", "head -c 300000 \"$0\" >> \"$0\"",
					       (char *)src, NULL });
			grown = 1;
			continue;
		}
		if (n == 0)
			break;
		if (between(&in, src, i, (size_t)n))
			write_chunk((size_t)n);
		total += n;
	}
	if (fflush(stdout) != 0)
		zt_die("fflush");
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	/* How often writes came up short or were interrupted depends on the
	 * timing: not printed (the output is compared). */
	(void)eintrs;
	(void)shorts;
	if (jumps)
		fprintf(stderr, "jumps %d\n", jumps);
	if (cancels)
		fprintf(stderr, "cancelled writes %d\n", cancels);
	fprintf(stderr, "copied %lld offset %lld\n", total, zt_pos(in));
	return 0;
}
