/*
 * sock_recv - a receiver that read()s a stream socket and write()s what
 * arrives to a file, as `nc -l >file` and download loops do.  A forked
 * sender writes a seeded pattern of SIZE bytes in pieces of varying sizes
 * (so reads return counts that are not whole pages), then closes.
 *
 * usage: sock_recv unix|tcp MODE SIZE OUT
 *   plain    blocking reads into a 128 KiB malloc'd buffer (page + 16)
 *   aligned  the same into a page-aligned buffer
 *   nonblock O_NONBLOCK socket, poll(2) when a read says EAGAIN
 *   peek     recv(MSG_PEEK) of 16 bytes before every read
 *   header   the receiver checks every chunk's first 8 bytes and one in its
 *            middle against the pattern (as a protocol reads its header),
 *            into a page-aligned buffer, and writes the chunk
 *   fork     forks a child that exits at once after every 16th chunk
 *   big      reads of 1 MiB into a page-aligned buffer, 2 ms after the
 *            previous one, of bursts of 300 small pieces (256..767 bytes,
 *            TCP_NODELAY): more socket buffers queued than a pipe has
 *            slots; the receiver sends a byte after each read, the sender
 *            waits for one after each burst, and reads them all before it
 *            closes (an unread byte would make TCP reset the connection)
 *   bigcheck the same, checking every chunk as header does
 *   bigmalloc the same as big into a malloc'd buffer (page + 16)
 *   lowat    SO_RCVLOWAT 4096 on the socket (zcopy reads it plainly)
 *   relay    writes to a UNIX socketpair instead, whose far end is a
 *            forked child that reads it (the same way) and writes OUT
 *   topipe   the same through a pipe
 *   alternate  relay as above, reads alternating 128 KiB and 72 KiB + 100
 *            into the same page-aligned buffer: after every 16th read the
 *            chunk's first 8 bytes and one in its middle are checked, and
 *            the bytes earlier, longer reads left past its count; every 7th
 *            chunk a forked child checks the same before the write, and
 *            exits with what it found; every 32nd chunk goes through a pipe
 *            and back before the write (the kernel reads the buffer); at the
 *            end the socket is closed, the whole buffer checked and freed
 *   touch    relay as above into a page-aligned buffer; after every 16th
 *            read a second thread checks the chunk as `alternate` does
 *            while this one writes it (the write waits for nothing)
 *   closerange  close_range(10, ~0U) between every read and its write (a
 *            daemon closing what it does not know of)
 *   kill     the receiver kills itself with SIGKILL once it wrote SIZE
 *            bytes (the sender keeps the connection open meanwhile)
 *   reset    (tcp) after SIZE bytes the sender resets the connection; the
 *            receiver reports the error of its next read
 * Prints the bytes received, the bytes it checked that were wrong and how
 * the stream ended.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "zt.h"

#define CHUNK ZT_CHUNK

static char pattern(long long off)
{
	return (char)(off * 7 + off / 4099);
}

/* The sender: pieces of 16384..131071 bytes of a seeded pattern (reads of
 * less than a page never pair with their write: the detector would warm up
 * again and again). */
static void send_pattern(int sock, long long size, int reset, int hold, int small)
{
	char *buf = zt_malloc(131072);
	uint64_t x = 12345;
	long pieces = 0;
	if (small) {
		int one = 1;
		setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	for (long long done = 0; done < size;) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t n = small ? 256 + (size_t)(x >> 33) % 512 : 16384 + (size_t)(x >> 33) % 114688;
		if ((long long)n > size - done)
			n = (size_t)(size - done);
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(done + (long long)i);
		zt_put(sock, buf, n);
		done += (long long)n;
		/* Bursts of 300 pieces, more socket buffers than a pipe has
		 * slots, each queued whole before the receiver reads it. */
		char ack;
		if (small && ++pieces % 300 == 0 && read(sock, &ack, 1) != 1)
			zt_die("ack");
	}
	if (hold || small) {
		char c;
		if (small) /* the end; then the receiver's last bytes are read */
			shutdown(sock, SHUT_WR);
		while (read(sock, &c, 1) > 0) /* until the receiver is gone */
			;
	}
	if (reset) {
		char c;
		if (read(sock, &c, 1) != 1) /* the receiver has every byte */
			zt_die("sync");
		struct linger lg = { 1, 0 };
		setsockopt(sock, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(sock);
	_exit(0);
}

/* Bytes of the chunk at stream offset at that differ from the pattern. */
static long long check(const char *buf, size_t n, long long at)
{
	long long bad = 0;
	for (size_t i = 0; i < 8 && i < n; i++)
		bad += buf[i] != pattern(at + (long long)i);
	bad += buf[n / 2] != pattern(at + (long long)(n / 2));
	return bad;
}

static size_t chunk = CHUNK;

/* alternate: what the buffer holds, as the plain reads left it: byte i
 * of [seg[j-1].end, seg[j].end) is the stream's byte seg[j].at + i (the
 * latest read that reached it). */
static struct {
	size_t end;
	long long at;
} seg[64];
static int nseg;

static void seg_read(size_t n, long long at)
{
	int k = 0;
	while (k < nseg && seg[k].end <= n)
		k++;
	int keep = nseg - k < 63 ? nseg - k : 63;
	memmove(seg + 1, seg + k, (size_t)keep * sizeof seg[0]);
	seg[0].end = n;
	seg[0].at = at;
	nseg = keep + 1;
}

/* Bytes the reads left in the buffer that differ, from segment `from` on
 * (1: past the latest read's count). */
static long long check_segs(const char *buf, int from)
{
	long long bad = 0;
	for (int j = from; j < nseg; j++) {
		size_t lo = j ? seg[j - 1].end : 0, hi = seg[j].end;
		size_t at[3] = { lo, lo + (hi - lo) / 2, hi - 1 };
		for (int i = 0; i < 3; i++)
			bad += buf[at[i]] != pattern(seg[j].at + (long long)at[i]);
	}
	return bad;
}

/* The first n bytes of buf as the kernel reads them (through a pipe): how
 * many differ from the stream's bytes at `at`. */
static long long check_by_kernel(const char *buf, size_t n, long long at)
{
	static char copy[65536];
	int pp[2];
	if (n > sizeof copy)
		n = sizeof copy;
	if (pipe(pp) != 0 || write(pp[1], buf, n) != (ssize_t)n || read(pp[0], copy, n) != (ssize_t)n)
		zt_die("pipe");
	close(pp[0]);
	close(pp[1]);
	long long bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += copy[i] != pattern(at + (long long)i);
	return bad;
}

/* touch: the second thread's view of the latest chunk. */
static struct {
	sem_t go, done;
	const char *buf;
	size_t n;
	long long at, bad;
	int stop;
} toucher;

static void *touch_chunks(void *arg)
{
	for (;;) {
		sem_wait(&toucher.go);
		if (toucher.stop)
			return NULL;
		toucher.bad += check(toucher.buf, toucher.n, toucher.at);
		toucher.bad += toucher.buf[toucher.n - 1] !=
			       pattern(toucher.at + (long long)toucher.n - 1);
		sem_post(&toucher.done);
	}
}

static ssize_t one_read(int s, char *buf, const char *mode)
{
	if (strcmp(mode, "peek") == 0) {
		char p[16];
		ssize_t k = recv(s, p, sizeof p, MSG_PEEK);
		if (k < 0)
			return k;
	}
	if (strncmp(mode, "big", 3) == 0)
		zt_nap_us(2000);
	for (;;) {
		ssize_t r = read(s, buf, chunk);
		if (r >= 0 || errno != EAGAIN || strcmp(mode, "nonblock") != 0)
			return r;
		struct pollfd pf = { s, POLLIN, 0 };
		poll(&pf, 1, -1);
	}
}

/* The far end of a relay: reads the socket as the receiver does and
 * writes dst. */
static void relay_sink(int sock, const char *dst)
{
	int out = zt_open_out(dst, 0);
	char *buf = zt_malloc(CHUNK);
	ssize_t r;
	while ((r = zt_recv(sock, buf, CHUNK, 0, "read")) > 0)
		zt_put(out, buf, (size_t)r);
	_exit(0);
}

static pid_t sink_pid;

static int relay_to(const char *dst, int use_pipe)
{
	int sv[2];
	if (use_pipe ? pipe(sv) != 0 : socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		zt_die("socketpair");
	if (use_pipe) { /* the parent writes sv[1], the child reads sv[0] */
		int t = sv[0];
		sv[0] = sv[1];
		sv[1] = t;
	}
	sink_pid = zt_fork_reader(sv[0], sv[1], relay_sink, dst);
	return sv[0];
}

int main(int argc, char **argv)
{
	if (argc != 5)
		zt_usage("sock_recv unix|tcp MODE SIZE OUT");
	const char *mode = argv[2];
	long long size = atoll(argv[3]);
	int sv[2];
	if (strcmp(argv[1], "tcp") == 0)
		sv[0] = zt_tcp_pair(&sv[1]);
	else if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		zt_die("socketpair");
	int reset = strcmp(mode, "reset") == 0;
	pid_t pid = zt_fork();
	if (pid == 0) {
		close(sv[0]);
		send_pattern(sv[1], size, reset, strcmp(mode, "kill") == 0,
			     strncmp(mode, "big", 3) == 0);
	}
	close(sv[1]);
	int s = sv[0];
	if (strcmp(mode, "nonblock") == 0)
		fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	int aligned = strcmp(mode, "aligned") == 0 || strcmp(mode, "header") == 0;
	if (strncmp(mode, "big", 3) == 0) {
		aligned = strcmp(mode, "bigmalloc") != 0;
		chunk = 1 << 20;
	}
	char *buf = aligned ? zt_alloc(chunk) : zt_malloc(chunk);
	if (strcmp(mode, "lowat") == 0) {
		int lw = 4096;
		if (setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &lw, sizeof lw) != 0)
			zt_die("SO_RCVLOWAT");
	}
	int alternate = strcmp(mode, "alternate") == 0, touch = strcmp(mode, "touch") == 0;
	if (alternate || touch)
		buf = zt_alloc(chunk);
	pthread_t tt;
	if (touch) {
		toucher.buf = buf;
		if (sem_init(&toucher.go, 0, 0) != 0 || sem_init(&toucher.done, 0, 0) != 0 ||
		    pthread_create(&tt, NULL, touch_chunks, NULL) != 0)
			zt_die("toucher");
	}
	int out = strcmp(mode, "relay") == 0 || alternate || touch ? relay_to(argv[4], 0)
		  : strcmp(mode, "topipe") == 0 ? relay_to(argv[4], 1)
						: zt_open_out(argv[4], 0);
	long long total = 0, chunks = 0, bad = 0;
	ssize_t r;
	while ((r = one_read(s, buf, mode)) > 0) {
		if (strcmp(mode, "header") == 0 || strcmp(mode, "bigcheck") == 0)
			bad += check(buf, (size_t)r, total);
		if (alternate) {
			chunk = chunk == CHUNK ? 72 * 1024 + 100 : CHUNK; /* the next read's */
			seg_read((size_t)r, total);
			/* Not every chunk: an untouched one's pages go on to the next. */
			if (chunks % 16 == 15)
				bad += check(buf, (size_t)r, total) + check_segs(buf, 1);
			if (chunks % 7 == 3) {
				pid_t c = zt_fork();
				if (c == 0)
					_exit(check(buf, (size_t)r, total) + check_segs(buf, 1) != 0);
				int cst;
				waitpid(c, &cst, 0);
				bad += !WIFEXITED(cst) || WEXITSTATUS(cst) != 0;
			}
			if (chunks % 32 == 9)
				bad += check_by_kernel(buf, (size_t)r, total);
		}
		int touched = touch && chunks % 16 == 5;
		if (touched) {
			toucher.n = (size_t)r;
			toucher.at = total;
			sem_post(&toucher.go);
		}
		total += r;
		chunks++;
		if (strcmp(mode, "closerange") == 0 && close_range(10, ~0U, 0) != 0)
			zt_die("close_range");
		zt_put(out, buf, (size_t)r);
		if (strncmp(mode, "big", 3) == 0)
			send(s, "a", 1, MSG_NOSIGNAL); /* the next burst (or none) */
		if (strcmp(mode, "fork") == 0 && chunks % 16 == 0) {
			pid_t c = zt_fork();
			if (c == 0)
				_exit(0);
			waitpid(c, NULL, 0);
		}
		if (touched)
			sem_wait(&toucher.done); /* before the next read reuses buf */
		if (strcmp(mode, "kill") == 0 && total == size)
			raise(SIGKILL);
		if (reset && total == size && write(s, "k", 1) != 1)
			zt_die("sync");
	}
	int e = r < 0 ? errno : 0;
	if (alternate) {
		/* The socket goes with the last chunk's pages still its: they
		 * keep what the reads left, and the buffer is freed after. */
		close(s);
		bad += check_segs(buf, 0);
		free(buf);
	}
	if (touch) {
		toucher.stop = 1;
		sem_post(&toucher.go);
		pthread_join(tt, NULL);
		bad += toucher.bad;
	}
	if (strncmp(mode, "big", 3) == 0)
		shutdown(s, SHUT_WR); /* the sender waits for it */
	int st;
	waitpid(pid, &st, 0);
	if (sink_pid > 0) {
		close(out);
		waitpid(sink_pid, NULL, 0);
	}
	printf("received %lld bad %lld end %s sender %d\n", total, bad,
	       r < 0 ? zt_errname(e) : "eof", st);
	return 0;
}
