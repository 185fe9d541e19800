/*
 * sock_two_readers - two threads read one stream socket, 256 KiB at a
 * time, while a third sends it ROUNDS x 8 MiB of a counter (the byte at
 * stream position p is byte p % 8 of the 64-bit number p / 8, little
 * endian).  Each reader writes every chunk it read to its own file and
 * notes the chunk's length.  The bytes each reader gets depend on timing,
 * but every read(2) of a stream socket returns one run of adjacent bytes
 * of the stream: the kernel holds the socket for the whole call.  At the
 * end the two files are cut into their chunks again and checked: each
 * chunk must be one run of the counter, and together they must cover the
 * stream exactly once.
 *
 * usage: sock_two_readers unix|tcp OUTDIR [HOW [frag]]
 * HOW is how the second reader reads (the first always read()s 256 KiB):
 *   read   read() of 256 KiB (the default)
 *   small  read() of 4 KiB
 *   recv   recv() of 256 KiB
 *   readv  readv() of two 128 KiB pieces
 *   recvmmsg, preadv2 (at offset -1), splice (into a pipe, then read()
 *          from there): 4 KiB at a time
 *   jump   read() of 256 KiB, with SIGUSR2 unblocked around the read
 *          only; another thread sends it SIGUSR2 every 200 us, and the
 *          handler siglongjmps out of the read (a read timed out, as
 *          clients do).  What a read left that way had taken is lost to
 *          the program, so bytes may reach no reader (they are not
 *          counted); the chunks are checked as for the others.
 * With frag the sender writes 500-byte pieces instead of 1 MiB ones: the
 * socket queues more buffers than a pipe of zcopy's has slots, so a read
 * needs more than one splice to take what read(2) would.
 * Prints "ok", or what was wrong (and exits 1).
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "zt.h"

#define CHUNK (256 * 1024)
#define PIECE (1024 * 1024)
#define ROUNDS 5
#define TOTAL ((size_t)ROUNDS * 8 * 1024 * 1024)
#define MAXCH (TOTAL / 64 + 1024)

static int g_rd, g_wr;

/* Mode jump: the reader the handler jumps back to, and the jumps made. */
static sigjmp_buf g_jb;
static volatile sig_atomic_t g_jumps, g_stop;
static pthread_t g_jumper_target;

static void jump_out(int sig)
{
	(void)sig;
	g_jumps++;
	siglongjmp(g_jb, 1);
}

static void *jumper(void *arg)
{
	(void)arg;
	while (!g_stop) {
		pthread_kill(g_jumper_target, SIGUSR2);
		zt_nap_us(200);
	}
	return NULL;
}

struct reader {
	pthread_t t;
	const char *how;
	int out;
	size_t n;      /* chunks read */
	size_t *len;   /* their lengths */
	char path[512];
};

static unsigned char pat(uint64_t p)
{
	return (unsigned char)((p / 8) >> (8 * (p % 8)));
}

static size_t g_piece = PIECE;

static void *sender(void *arg)
{
	(void)arg;
	static unsigned char piece[PIECE];
	for (uint64_t p = 0; p < TOTAL; p += PIECE) {
		for (size_t i = 0; i < PIECE; i++)
			piece[i] = pat(p + i);
		for (size_t o = 0; o < PIECE; o += g_piece)
			zt_put(g_wr, piece + o, g_piece < PIECE - o ? g_piece : PIECE - o);
	}
	if (shutdown(g_wr, SHUT_WR) != 0)
		zt_die("shutdown");
	return NULL;
}

static void note_chunk(struct reader *r, const char *buf, ssize_t k)
{
	if (r->n == MAXCH)
		zt_die("too many chunks");
	r->len[r->n++] = (size_t)k;
	zt_put(r->out, buf, (size_t)k);
}

/* Mode jump: SIGUSR2 (blocked here: main blocked it) comes in only
 * during the read. */
static __attribute__((noinline)) void reading_jumped(struct reader *r, char *buf)
{
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigsetjmp(g_jb, 1);
	for (;;) {
		pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
		ssize_t k = read(g_rd, buf, CHUNK);
		pthread_sigmask(SIG_BLOCK, &usr2, NULL);
		if (k < 0)
			zt_die("read");
		if (k == 0) {
			g_stop = 1; /* (main joins the jumper before this thread) */
			return;
		}
		note_chunk(r, buf, k);
	}
}

/* The less common ways, 4 KiB at a time. */
static ssize_t read_other(const char *how, char *buf)
{
	struct iovec v = { buf, 4096 };
	ssize_t k;
	if (strcmp(how, "recvmmsg") == 0) {
		struct mmsghdr m = { .msg_hdr = { .msg_iov = &v, .msg_iovlen = 1 } };
		int q = recvmmsg(g_rd, &m, 1, 0, NULL);
		if (q < 0)
			zt_die("recvmmsg");
		return q == 0 ? 0 : (ssize_t)m.msg_len;
	}
	if (strcmp(how, "preadv2") == 0) {
		if ((k = preadv2(g_rd, &v, 1, -1, 0)) < 0)
			zt_die("preadv2");
		return k;
	}
	static int p[2] = { -1, -1 };
	if (p[0] < 0 && pipe(p) != 0)
		zt_die("pipe");
	if ((k = splice(g_rd, NULL, p[1], NULL, 4096, 0)) < 0)
		zt_die("splice");
	if (k > 0 && zt_read(p[0], buf, (size_t)k) != k)
		zt_die("read of the pipe");
	return k;
}

static ssize_t read_once(const char *how, char *buf)
{
	if (strcmp(how, "small") == 0)
		return zt_read(g_rd, buf, 4096);
	if (strcmp(how, "recv") == 0)
		return zt_recv(g_rd, buf, CHUNK, 1, "recv");
	if (strcmp(how, "readv") == 0) {
		struct iovec v[2] = { { buf, CHUNK / 2 }, { buf + CHUNK / 2, CHUNK / 2 } };
		ssize_t k = readv(g_rd, v, 2);
		if (k < 0)
			zt_die("readv");
		return k;
	}
	if (strcmp(how, "read") == 0)
		return zt_read(g_rd, buf, CHUNK);
	return read_other(how, buf);
}

static void *reading(void *arg)
{
	struct reader *r = arg;
	char *buf = zt_alloc(CHUNK);
	if (strcmp(r->how, "jump") == 0) {
		reading_jumped(r, buf);
		return NULL;
	}
	for (;;) {
		ssize_t k = read_once(r->how, buf);
		if (k == 0)
			break;
		note_chunk(r, buf, k);
	}
	return NULL;
}

/* Where chunk c (len bytes) starts in the stream, or -1 if it is not one
 * run of the counter. */
static long long where(const unsigned char *c, size_t len)
{
	for (size_t o = 0; o < 8 && o + 8 <= len; o++) {
		uint64_t k = 0;
		for (int b = 7; b >= 0; b--)
			k = k << 8 | c[o + (size_t)b];
		if (k * 8 < o || k * 8 - o + len > TOTAL)
			continue;
		uint64_t p = k * 8 - o;
		size_t i = 0;
		while (i < len && c[i] == pat(p + i))
			i++;
		if (i == len)
			return (long long)p;
	}
	if (len < 8) {
		/* Too short to carry a whole number: any place it fits. */
		for (uint64_t p = 0; p + len <= TOTAL; p++) {
			size_t i = 0;
			while (i < len && c[i] == pat(p + i))
				i++;
			if (i == len)
				return (long long)p;
		}
	}
	return -1;
}

static unsigned char *covered;

static int check(struct reader *r, const char *name)
{
	int fd = zt_open_in(r->path);
	unsigned char *c = zt_malloc(CHUNK);
	for (size_t i = 0; i < r->n; i++) {
		size_t len = r->len[i], got = 0;
		while (got < len) {
			ssize_t k = zt_read(fd, c + got, len - got);
			if (k == 0)
				zt_die("short file");
			got += (size_t)k;
		}
		long long p = where(c, len);
		if (p < 0) {
			printf("%s: chunk %zu (%zu bytes) is not one run of the stream\n", name, i, len);
			return 0;
		}
		for (size_t j = 0; j < len; j++) {
			if (covered[(size_t)p + j]) {
				printf("%s: chunk %zu repeats stream byte %llu\n", name, i,
				       (unsigned long long)p + j);
				return 0;
			}
			covered[(size_t)p + j] = 1;
		}
	}
	close(fd);
	free(c);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 5 || (argc == 5 && strcmp(argv[4], "frag") != 0))
		zt_usage("unix|tcp OUTDIR [read|small|recv|readv|jump|recvmmsg|preadv2|splice [frag]]");
	if (argc == 5)
		g_piece = 500;
	int sv[2];
	if (strcmp(argv[1], "unix") == 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			zt_die("socketpair");
		g_rd = sv[0];
		g_wr = sv[1];
	} else {
		g_rd = zt_tcp_pair(&g_wr);
	}
	struct reader r[2];
	pthread_t s, j;
	int jump = argc >= 4 && strcmp(argv[3], "jump") == 0;
	if (jump) {
		sigset_t usr2;
		sigemptyset(&usr2);
		sigaddset(&usr2, SIGUSR2);
		pthread_sigmask(SIG_BLOCK, &usr2, NULL); /* every thread starts so */
		struct sigaction sa = { .sa_handler = jump_out };
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR2, &sa, NULL) != 0)
			zt_die("sigaction");
	}
	for (int i = 0; i < 2; i++) {
		memset(&r[i], 0, sizeof r[i]);
		r[i].how = i == 1 && argc >= 4 ? argv[3] : "read";
		snprintf(r[i].path, sizeof r[i].path, "%s/out.%d", argv[2], i);
		r[i].out = zt_open_out(r[i].path, 0);
		r[i].len = zt_malloc(MAXCH * sizeof *r[i].len);
	}
	if (pthread_create(&s, NULL, sender, NULL) != 0)
		zt_die("pthread_create");
	for (int i = 0; i < 2; i++)
		if (pthread_create(&r[i].t, NULL, reading, &r[i]) != 0)
			zt_die("pthread_create");
	g_jumper_target = r[1].t;
	if (jump && pthread_create(&j, NULL, jumper, NULL) != 0)
		zt_die("pthread_create");
	pthread_join(s, NULL);
	pthread_join(r[0].t, NULL);
	/* Reader 1 ends at the end of stream too (a jump only sends it back
	 * to its loop), and then stops the jumper, which must not signal a
	 * thread that was joined. */
	if (jump) {
		pthread_join(j, NULL);
		if (g_jumps == 0) {
			printf("no read was left by a jump\n");
			return 1;
		}
	}
	pthread_join(r[1].t, NULL);
	for (int i = 0; i < 2; i++)
		close(r[i].out);
	covered = zt_malloc(TOTAL);
	memset(covered, 0, TOTAL);
	if (!check(&r[0], "reader 0") || !check(&r[1], "reader 1"))
		return 1;
	for (size_t p = 0; p < TOTAL && !jump; p++)
		if (!covered[p]) {
			printf("stream byte %zu reached no reader\n", p);
			return 1;
		}
	/* Not the count of chunks: it depends on timing. */
	printf("ok\n");
	return 0;
}
