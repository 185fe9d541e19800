/*
 * sock_edges - a receiver whose sender is itself: it queues a piece on a
 * loopback TCP (or UNIX stream) connection, reads the socket into a
 * page-aligned buffer and writes what it got to a file, round after round,
 * and prints every read's count or error, so that each read's outcome is
 * fixed by what was queued before it.  Some rounds queue more than plain
 * bytes.
 *
 * usage: sock_edges tcp|unix MODE OUT
 *   urgent     (tcp) rounds 24 and 32 send TCP urgent data in the middle
 *              of the piece (SO_OOBINLINE off: read skips the byte)
 *   inline     the same with SO_OOBINLINE on (read returns the byte)
 *   urgenthead (tcp) rounds 24 and 32 start with the urgent byte, on a
 *              non-blocking socket
 *   stale      pieces alternately long and short; a write of 80000 bytes
 *              of the buffer, past the read's end (old bytes there)
 *   two        two buffers in flight: read A, read B, write A, write B
 *   part       the second half of what was read is written first
 *   writev     writev of a 16-byte header and what was read
 *   dup2       the socket's number is dup2'ed over between read and write
 *   close      the socket's number is closed between read and write
 *   fork       a child forked between read and write writes the buffer to
 *              OUT.kid, then the parent writes it to OUT
 * The modes from stale to thread do so in every 4th round only, after a
 * read (the others write what was read).
 *   flags      recv(MSG_PEEK), recv(MSG_WAITALL) of 300 bytes (written) and
 *              recv(MSG_DONTWAIT) of 0 bytes before every read
 *   shutrd     shutdown(SHUT_RD) of the socket in round 30
 *   handler    a signal handler sums the buffer between read and write
 *   thread     another thread sums the buffer between read and write
 *   nofile     every descriptor number below RLIMIT_NOFILE (1024) is taken
 *              before the first read
 *   lowat      SO_RCVLOWAT is set to the piece's size in round 10 (back to
 *              1 in round 14); on a UNIX socket, in rounds 10 to 13 the
 *              second half of the piece comes 30 ms after the first, from
 *              another thread: the read waits for the whole piece
 *   kidlowat   the same, but a forked child sets the options of the socket
 *              it shares with its parent
 *   swap       (tcp) another connection's socket, whose SO_RCVLOWAT is
 *              30000 from the start, is dup2'ed over the socket's number
 *              in round 20 (its pieces are longer than that)
 *   nbio       after every 4th round's reads the socket is made
 *              non-blocking (ioctl FIONBIO, or fcntl every other time),
 *              read once more (EAGAIN), and made blocking again
 *   lownofile  from round 20 on, the soft RLIMIT_NOFILE is 1000
 *   pipelimit  (run as root: as user nobody) the user's pipes hold
 *              pipe-user-pages-soft pages before the first read
 *   timeout    after the reads of rounds 4 to 19 one more read, of the
 *              empty socket, which a 20 ms alarm's handler leaves by
 *              siglongjmp (a read timed out, as clients do)
 *   alarm      a forked sender sends a piece every 2 ms; a 500 us
 *              interval timer's handler (SA_RESTART) sums the buffer while
 *              the receiver reads and writes, blocking; prints the total
 *              (a handler that came while zcopy held its engine lock once
 *              died of SIGSEGV on a guarded page)
 * Every read is made with errno set to ENOTRECOVERABLE; a successful read
 * that changed it is reported.
 * Prints one line per read, then the total.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/uio.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "zt.h"

#define ROUNDS 40

/* Piece k: 20000 + 997 k bytes of a pattern (never whole pages). */
static void fill(char *p, size_t n, int k)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + (size_t)k) % 26);
}

static void send_all(int fd, const char *p, size_t n, int flags)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, flags);
		if (w <= 0)
			zt_die("send");
		p += w;
		n -= (size_t)w;
	}
}

/* Loopback delivers a send into the peer's queue before it returns; a
 * short wait makes sure of it for the reads that follow. */
static void settle(int s)
{
	struct pollfd pf = { s, POLLIN, 0 };
	poll(&pf, 1, 1000);
	zt_nap_us(2000);
}

static const char *g_mode;
static char *g_buf;
static size_t g_len;
static volatile unsigned long g_sum;
static int g_sock, g_spare, g_out;
static const char *g_outpath;

/* The second half of a piece, sent late by a thread (modes lowat). */
static const char *g_late;
static size_t g_late_len;
static int g_peer;

static void *late_sender(void *arg)
{
	zt_nap_us(30000);
	send_all(g_peer, g_late, g_late_len, 0);
	return NULL;
}

/* SO_RCVLOWAT of socket s set to v, by this process or a forked child. */
static void set_lowat(int s, int v, int by_child)
{
	if (by_child) {
		pid_t c = zt_fork();
		if (c == 0)
			_exit(setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) != 0);
		int st = 0;
		if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			zt_die("SO_RCVLOWAT in the child");
	} else if (setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) != 0)
		zt_die("SO_RCVLOWAT");
}

/* One more read of the socket, non-blocking (nothing is queued). */
static void nonblocking_read(int s, char *buf, int k)
{
	int on = 1, off = 0, fl = fcntl(s, F_GETFL);
	if (k % 8 == 3 ? ioctl(s, FIONBIO, &on) != 0 : fcntl(s, F_SETFL, fl | O_NONBLOCK) != 0)
		zt_die("non-blocking");
	errno = 0;
	ssize_t r = read(s, buf, ZT_CHUNK);
	printf("round %d non-blocking read %zd %s\n", k, r, r < 0 ? zt_errname(errno) : "");
	if (k % 8 == 3 ? ioctl(s, FIONBIO, &off) != 0 : fcntl(s, F_SETFL, fl) != 0)
		zt_die("blocking");
}

static unsigned long sum(const char *p, size_t n)
{
	unsigned long h = 0;
	for (size_t i = 0; i < n; i++)
		h = h * 31 + (unsigned char)p[i];
	return h;
}

static void on_usr1(int sig)
{
	g_sum = sum(g_buf, g_len);
}

static void *summer(void *arg)
{
	g_sum = sum(g_buf, g_len);
	return NULL;
}

/* What the mode does with the r bytes read into buf. */
static void use(char *buf, size_t r, int k)
{
	const char *m = g_mode;
	if (k % 4 != 3)
		m = "plain"; /* the mode's own use every 4th round */
	if (strcmp(m, "stale") == 0) {
		zt_put(g_out, buf, 80000);
	} else if (strcmp(m, "part") == 0) {
		zt_put(g_out, buf + r / 2, r - r / 2);
		zt_put(g_out, buf, r / 2);
	} else if (strcmp(m, "writev") == 0) {
		char hdr[32];
		snprintf(hdr, sizeof hdr, "[%13zu]\n", r % (size_t)10000000000000ULL);
		struct iovec v[2] = { { hdr, 16 }, { buf, r } };
		ssize_t w = writev(g_out, v, 2);
		if (w != (ssize_t)(16 + r))
			printf("writev %zd\n", w);
	} else if (strcmp(m, "dup2") == 0 || strcmp(m, "close") == 0) {
		if (m[0] == 'd')
			dup2(g_spare, g_sock); /* now /dev/null's number */
		else
			close(g_sock);
		zt_put(g_out, buf, r);
		if (dup2(g_spare + 1, g_sock) != g_sock) /* the socket again */
			zt_die("dup2");
	} else if (strcmp(m, "fork") == 0) {
		pid_t c = zt_fork();
		if (c == 0) {
			char kid[4096];
			snprintf(kid, sizeof kid, "%s.kid", g_outpath);
			int o = open(kid, O_WRONLY | O_CREAT | O_APPEND, 0644);
			zt_put(o, buf, r);
			_exit(0);
		}
		waitpid(c, NULL, 0);
		zt_put(g_out, buf, r);
	} else if (strcmp(m, "handler") == 0 || strcmp(m, "thread") == 0) {
		g_buf = buf;
		g_len = r;
		if (m[0] == 'h')
			raise(SIGUSR1);
		else {
			pthread_t t;
			pthread_create(&t, NULL, summer, NULL);
			pthread_join(t, NULL);
		}
		printf("round %d sum %lx\n", k, g_sum);
		zt_put(g_out, buf, r);
	} else
		zt_put(g_out, buf, r);
}

static void on_alarm(int sig)
{
	g_sum += sum(g_buf, g_len);
}

/* Mode alarm: the reads' counts depend on timing, the bytes do not. */
static int alarm_mode(int s, int peer, int out)
{
	pid_t c = zt_fork();
	if (c == 0) {
		close(s);
		char *p = zt_malloc(ZT_CHUNK);
		for (int k = 0; k < 60; k++) {
			size_t n = 30000 + 511 * (size_t)k;
			fill(p, n, k);
			send_all(peer, p, n, 0);
			zt_nap_us(2000);
		}
		_exit(0);
	}
	close(peer);
	g_buf = zt_alloc(ZT_CHUNK);
	g_len = ZT_CHUNK;
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 500 }, { 0, 500 } };
	setitimer(ITIMER_REAL, &it, NULL);
	long long total = 0;
	ssize_t r;
	while ((r = read(s, g_buf, ZT_CHUNK)) > 0) {
		total += r;
		zt_put(out, g_buf, (size_t)r);
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	waitpid(c, NULL, 0);
	printf("end %zd total %lld\n", r, total);
	return 0;
}

static sigjmp_buf timed_out;

static void on_timeout(int sig)
{
	(void)sig;
	siglongjmp(timed_out, 1);
}

/* A read of the empty socket s that a 20 ms alarm ends by a jump. */
static void timed_out_read(int s, char *buf, int k)
{
	struct sigaction sa = { .sa_handler = on_timeout };
	sigaction(SIGALRM, &sa, NULL);
	if (sigsetjmp(timed_out, 1) == 0) {
		struct itimerval it = { { 0, 0 }, { 0, 20000 } };
		setitimer(ITIMER_REAL, &it, NULL);
		ssize_t r = read(s, buf, ZT_CHUNK);
		printf("round %d read of the empty socket returned %zd\n", k, r);
		return;
	}
	printf("round %d read timed out\n", k);
}

/* A read of the empty socket s by another thread, which this one cancels
 * while it waits (20 ms later). */
struct cancelled_read {
	int s;
	char *buf;
};

static void *cancelled_reader(void *arg)
{
	struct cancelled_read *c = arg;
	ssize_t r = read(c->s, c->buf, ZT_CHUNK);
	printf("read of the empty socket returned %zd\n", r);
	return NULL;
}

/* The reader's stack: in .bss, far from the buffer (zcopy takes a buffer
 * within 64 MiB of the reading thread's stack for stack memory, and a
 * thread stack of libc's is mapped next to the buffers). */
static char reader_stack[1 << 20] __attribute__((aligned(4096)));

static void cancelled_read(int s, char *buf, int k)
{
	struct cancelled_read c = { s, buf };
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstack(&a, reader_stack, sizeof reader_stack);
	if (pthread_create(&t, &a, cancelled_reader, &c) != 0)
		zt_die("pthread_create");
	pthread_attr_destroy(&a);
	usleep(20000);
	pthread_cancel(t);
	void *ret = NULL;
	pthread_join(t, &ret);
	printf("round %d read %s\n", k, ret == PTHREAD_CANCELED ? "cancelled" : "returned");
}

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("sock_edges tcp|unix MODE OUT");
	const char *mode = argv[2];
	int peer, s;
	if (strcmp(argv[1], "tcp") == 0)
		s = zt_tcp_pair(&peer);
	else {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			zt_die("socketpair");
		s = sv[0];
		peer = sv[1];
	}
	if (strcmp(argv[1], "tcp") == 0) {
		int one = 1; /* each send is its own segment, at once */
		setsockopt(peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	if (strcmp(mode, "alarm") == 0)
		return alarm_mode(s, peer, zt_open_out(argv[3], 0));
	int urgent = strcmp(mode, "urgent") == 0 || strcmp(mode, "inline") == 0;
	int head = strcmp(mode, "urgenthead") == 0;
	if (strcmp(mode, "inline") == 0) {
		int one = 1;
		if (setsockopt(s, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one) != 0)
			zt_die("SO_OOBINLINE");
	}
	if (head)
		fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	int out = zt_open_out(argv[3], 0);
	g_mode = mode;
	g_out = out;
	g_outpath = argv[3];
	g_sock = s;
	/* Two numbers side by side: /dev/null's and the socket's spare. */
	g_spare = 50;
	if (dup2(open("/dev/null", O_WRONLY), g_spare) != g_spare || dup2(s, g_spare + 1) != g_spare + 1)
		zt_die("spare");
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	int two = strcmp(mode, "two") == 0;
	char *bufs[2] = { zt_alloc(ZT_CHUNK), zt_alloc(ZT_CHUNK) };
	size_t lens[2] = { 0, 0 };
	char *buf = bufs[0];
	char *piece = zt_malloc(ZT_CHUNK);
	int dropped = 0;
	if (strcmp(mode, "nofile") == 0) {
		struct rlimit rl = { 1024, 1024 };
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			zt_die("RLIMIT_NOFILE");
		int last = -1, fd;
		while ((fd = dup(0)) >= 0)
			last = fd;
		close(last); /* one left: not enough for a pipe */
	}
	if (strcmp(mode, "pipelimit") == 0) {
		/* The pipe limits bind a user without CAP_SYS_RESOURCE: as
		 * root, run as nobody, keeping root as the saved user ID to
		 * take back at the end (the exit's stats file is root's). */
		if (getuid() == 0) {
			if (setresuid(65534, 65534, 0) != 0)
				zt_die("setresuid");
			dropped = 1;
		}
		/* Pipes of 1 MiB until the user's pages are over the soft
		 * limit: F_SETPIPE_SZ says EPERM then. */
		for (int i = 0; i < 200; i++) {
			int pp[2];
			if (pipe(pp) != 0)
				zt_die("pipe");
			if (fcntl(pp[1], F_SETPIPE_SZ, 1 << 20) < 0) {
				printf("pipes over the limit: %s\n", zt_errname(errno));
				break;
			}
		}
	}
	int lowat = strcmp(mode, "lowat") == 0, kidlowat = strcmp(mode, "kidlowat") == 0;
	int swap = strcmp(mode, "swap") == 0, peer2 = -1, s2 = -1;
	if (swap) {
		s2 = zt_tcp_pair(&peer2);
		int one = 1;
		setsockopt(peer2, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		set_lowat(s2, 30000, 0);
	}
	g_peer = peer;
	long long total = 0;
	for (int k = 0; k < ROUNDS; k++) {
		size_t n = 20000 + 997 * (size_t)k;
		if (strcmp(mode, "stale") == 0)
			n = k % 2 ? 9000 + 50 * (size_t)k : 70000 + 13 * (size_t)k;
		if (two)
			buf = bufs[k % 2];
		if (strcmp(mode, "shutrd") == 0 && k == 30 && shutdown(s, SHUT_RD) != 0)
			zt_die("shutdown");
		fill(piece, n, k);
		int special = k == 24 || k == 32;
		if ((lowat || kidlowat) && (k == 10 || k == 14))
			set_lowat(s, k == 10 ? (int)n : 1, kidlowat);
		if (strcmp(mode, "lownofile") == 0 && k == 20) {
			struct rlimit rl;
			getrlimit(RLIMIT_NOFILE, &rl);
			rl.rlim_cur = 1000;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				zt_die("RLIMIT_NOFILE");
		}
		if (swap && k == 20) {
			if (dup2(s2, s) != s)
				zt_die("dup2");
			close(peer);
			peer = g_peer = peer2;
		}
		pthread_t late;
		/* (Not on TCP: there a read waiting for SO_RCVLOWAT is not woken
		 * by the late half on every kernel.) */
		int is_late = (lowat || kidlowat) && k >= 10 && k < 14 && strcmp(argv[1], "unix") == 0;
		if (is_late) {
			send_all(peer, piece, n / 2, 0);
			g_late = piece + n / 2;
			g_late_len = n - n / 2;
			pthread_create(&late, NULL, late_sender, NULL);
		} else if (special && urgent) {
			send_all(peer, piece, n / 2, 0);
			send_all(peer, "!", 1, MSG_OOB);
			send_all(peer, piece + n / 2, n - n / 2, 0);
		} else if (special && head) {
			send_all(peer, "!", 1, MSG_OOB);
			settle(s);
			send_all(peer, piece, n, 0);
		} else
			send_all(peer, piece, n, 0);
		if (is_late)
			zt_nap_us(2000); /* poll would wait for SO_RCVLOWAT bytes */
		else
			settle(s);
		if (strcmp(mode, "flags") == 0) {
			char small[300];
			ssize_t p = recv(s, small, 16, MSG_PEEK);
			ssize_t w = recv(s, small, sizeof small, MSG_WAITALL);
			ssize_t d = recv(s, small, 0, MSG_DONTWAIT);
			printf("round %d peek %zd waitall %zd dontwait %zd\n", k, p, w, d);
			if (w > 0)
				zt_put(out, small, (size_t)w);
		}
		/* Every byte queued this round is read before the next. */
		for (int tries = 0; tries < 8; tries++) {
			errno = ENOTRECOVERABLE;
			ssize_t r = read(s, buf, ZT_CHUNK);
			int e = errno;
			if (r >= 0 && e != ENOTRECOVERABLE)
				printf("round %d errno %s after a read of %zd\n", k, zt_errname(e), r);
			if (r < 0) {
				printf("round %d read -1 %s\n", k, zt_errname(e));
				if (e != EAGAIN)
					break;
				settle(s);
				continue;
			}
			printf("round %d read %zd\n", k, r);
			total += r;
			if (r == 0)
				break;
			if (two && k % 2 == 0) {
				lens[0] = (size_t)r; /* written with the next round's */
				break;
			}
			if (two) {
				zt_put(out, bufs[0], lens[0]);
				zt_put(out, bufs[1], (size_t)r);
			} else
				use(buf, (size_t)r, k);
			int q = 0;
			if (ioctl(s, FIONREAD, &q) != 0 || q == 0)
				break;
		}
		if (is_late)
			pthread_join(late, NULL);
		if (strcmp(mode, "nbio") == 0 && k % 4 == 3)
			nonblocking_read(s, buf, k);
		if (strcmp(mode, "timeout") == 0 && k >= 4 && k < 20)
			timed_out_read(s, buf, k);
		if (strcmp(mode, "cancel") == 0 && k >= 4 && k < 20)
			cancelled_read(s, buf, k);
	}
	close(peer);
	if (dropped && seteuid(0) != 0)
		zt_die("seteuid");
	ssize_t r = read(s, buf, ZT_CHUNK);
	(void)lens;
	printf("end %zd total %lld\n", r, total);
	return 0;
}
