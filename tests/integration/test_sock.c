/*
 * test_sock.c - stream sockets as sources (issue 11): receivers that read()
 * a TCP or UNIX stream socket and write what arrives to a file.  Every
 * scenario runs without the shim and with ZCOPY_MODE=off, observe and on,
 * compared byte for byte (status, stdout, stderr, outputs), the bytes are
 * the sender's pattern, and the stats show the engagement the scenario
 * allows: socket reads deferred into zcopy's pipes (phantom_reads) and
 * written by splice (bytes_zero_copy), or the reason they stayed plain.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "expect.h"
#include "harness.h"

/* Not a multiple of a page or of the sender's pieces. */
#define SIZE (8 * MiB + 12345)
#define SIZE_ARG "8400953"
#define EXE "sock_recv"

static void setup(void)
{
	it_begin();
	/* The pattern sock_recv's sender writes (tests/programs/sock_recv.c). */
	FILE *f = fopen(it_path("expect"), "w");
	ck_assert(f != NULL);
	for (long long off = 0; off < SIZE; off++)
		fputc((char)(off * 7 + off / 4099), f);
	ck_assert(fclose(f) == 0);
}

static void run(const char *kind, const char *mode, const char *const *env)
{
	ck_assert_int_eq(atoll(SIZE_ARG), SIZE);
	it_four(IT_ARGV(it_prog(EXE), kind, mode, SIZE_ARG, "out"), env, IT_ARGV("out"));
	it_expect_plain_success(mode);
	it_expect_passive(EXE);
	it_same_file("expect", "none/out");
}

/* Socket reads were deferred into pipes (what main never does: sockets
 * were not sources there). */
static void deferred(void)
{
	long long ph = it_stat("on", EXE, "phantom_reads");
	ck_assert_msg(ph > 0, "no socket read was deferred; stats: %s", it_stats_text("on"));
}

static const char *const kinds[] = { "unix", "tcp" };

/* Blocking reads into a malloc'd 128 KiB buffer (page + 16) and into a
 * page-aligned one: at least 80% of the bytes by splice. */
START_TEST(receiver_into_malloc_buffer)
{
	run(kinds[_i], "plain", NULL);
	deferred();
	it_expect_zero_copy(EXE, SIZE, 80);
	it_expect_transfers(EXE, "splice");
}
END_TEST

START_TEST(receiver_into_aligned_buffer)
{
	run(kinds[_i], "aligned", NULL);
	deferred();
	it_expect_zero_copy(EXE, SIZE, 80);
}
END_TEST

/* More socket buffers queued than a pipe has slots (pieces of a few
 * hundred bytes, reads of 1 MiB into a page-aligned or a malloc'd
 * buffer): a read's bytes go into a second pipe
 * when the first one's slots run out, still by splice, where they used to
 * go through the buffer.  (TCP merges small segments as they queue: there
 * the reads are checked for exactness only.) */
START_TEST(reads_past_the_pipe_slots)
{
	const char *mode = _i / 2 ? "bigmalloc" : "big";
	run(kinds[_i % 2], mode, NULL);
	deferred();
	if (_i % 2 == 0)
		it_expect_zero_copy(EXE, SIZE, 50); /* about 0 before */
}
END_TEST

/* The same, the receiver checking bytes at the start and in the middle of
 * every chunk (the two records of a read, and the page between them). */
START_TEST(reads_past_the_pipe_slots_checked)
{
	run(kinds[_i], "bigcheck", NULL);
	deferred();
}
END_TEST

/* The ways a receiver may read or use its socket and buffer; each stays
 * exact, and the reads are still deferred. */
static const char *const ways[] = { "nonblock", "peek", "fork", "header", "closerange" };

START_TEST(receiver_ways)
{
	for (int k = 0; k < 2; k++) {
		run(kinds[k], ways[_i], NULL);
		deferred();
	}
}
END_TEST

/* The peer resets the connection once every byte arrived: the next read
 * fails with ECONNRESET in every run (the error is the socket's, taken
 * once, as read takes it). */
START_TEST(peer_reset_after_the_data)
{
	run("tcp", "reset", NULL);
	deferred();
	char *out = it_slurp("on/stdout", NULL);
	ck_assert_msg(strstr(out, "ECONNRESET") != NULL, "stdout: %s", out);
	free(out);
}
END_TEST

/* A receiver killed by SIGKILL right after its last write: every run dies
 * the same way with the same bytes in its file (a write is done when it
 * returns, whatever zcopy left in its pipes). */
START_TEST(receiver_killed_by_sigkill)
{
	ck_assert_int_eq(atoll(SIZE_ARG), SIZE);
	struct it_spec sp = { .out_fd = -1, .reap = 1,
			      .argv = IT_ARGV(it_prog(EXE), kinds[_i], "kill", SIZE_ARG, "out") };
	it_four_spec(&sp, IT_ARGV("out"));
	int st = it_status("none");
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "plain run: %s",
		      it_describe(st));
	it_same_file("expect", "none/out");
}
END_TEST

/* A relay to another socket (the far end reads it the same way and writes
 * the file): socket to socket by splice too. */
START_TEST(relay_to_a_socket)
{
	run(kinds[_i], "relay", NULL);
	deferred();
	it_expect_zero_copy(EXE, SIZE, 80);
}
END_TEST

/* A relay whose reads alternate 128 KiB and 72 KiB + 100 into one buffer:
 * a record's pages pass to the next read's record (the same pages, fewer,
 * or more) without being made ordinary memory in between.  Every 16th
 * chunk the receiver checks the chunk and the bytes the longer reads
 * before it left past its count, every 7th a forked child (a live record
 * at the fork) checks the same, every 32nd the kernel reads the chunk (a
 * write to a pipe), and at the end the socket is closed with its last
 * record live and the whole buffer checked and freed: all as the plain
 * run sees them, with reads still deferred and sent by splice (the pipe
 * writes back the stream off: about a quarter of the bytes). */
/* A relay mode whose receiver checks chunks itself and prints " bad N ":
 * none may differ, and at least pct% of the bytes went by splice. */
static void relay_checked(const char *kind, const char *mode, int pct)
{
	run(kind, mode, NULL);
	deferred();
	it_expect_zero_copy(EXE, SIZE, pct);
	char *out = it_slurp("on/stdout", NULL);
	ck_assert_msg(strstr(out, " bad 0 ") != NULL, "stdout: %s", out);
	free(out);
}

START_TEST(relay_alternating_read_sizes)
{
	relay_checked(kinds[_i], "alternate", 12);
}
END_TEST

/* A relay whose second thread checks every 16th chunk while the first
 * writes it: its fault gives it the chunk's bytes, wherever that chunk's
 * pages came from. */
START_TEST(relay_touched_by_a_second_thread)
{
	relay_checked(kinds[_i], "touch", 30);
}
END_TEST

/* Into a pipe the bytes go plainly (materialized from zcopy's pipe), in
 * order, and the reason is counted. */
START_TEST(relay_to_a_pipe_is_exact)
{
	run(kinds[_i], "topipe", NULL);
	deferred();
	it_expect_fallback("on", EXE, "socket_dest");
}
END_TEST

/* SO_RCVLOWAT above 1: TCP's splice would not wait for it; plain. */
START_TEST(rcvlowat_reads_plainly)
{
	run(kinds[_i], "lowat", NULL);
	it_expect_no_zero_copy(EXE, 0);
	it_expect_fallback("on", EXE, "socket_options");
}
END_TEST

/* Without guards socket reads stay plain, and say why. */
START_TEST(guard_0_reads_sockets_plainly)
{
	run("unix", "plain", IT_ARGV("ZCOPY_GUARD=0"));
	it_expect_no_zero_copy(EXE, 0);
	it_expect_fallback("on", EXE, "socket_no_guard");
}
END_TEST

/* Two threads read one socket while a third sends 40 MiB in 1 MiB writes
 * (tests/programs/sock_two_readers.c): the first read()s 256 KiB at a
 * time, the second the same, or 4 KiB, or by recv(), readv(), recvmmsg(),
 * preadv2() or splice(); or the sender writes 500 bytes at a time (frag:
 * more socket buffers than zcopy's pipe has slots).  Every read returns
 * adjacent bytes of the stream, as a plain read, which holds the socket
 * for the whole call, does; together they return each byte once.  zcopy's
 * read took the bytes queued after its first splice with more splices,
 * and the other reader's read between them left a gap (on UNIX, in every
 * run).  Now a read goes on only when its pipe ran out of slots (frag),
 * and only if no other read of the socket zcopy looked at came between.
 * (A reader zcopy leaves plain from the start next to reads that go on is
 * a limit, README.)  The program checks the chunks itself: which reader
 * gets which bytes is timing. */
static const char *const readers[][3] = {
	{ "unix", "read", "" },     { "tcp", "read", "" },      { "unix", "small", "" },
	{ "unix", "recv", "" },     { "unix", "readv", "" },    { "unix", "recvmmsg", "" },
	{ "unix", "preadv2", "" },  { "unix", "splice", "" },   { "unix", "read", "frag" },
};

START_TEST(two_readers_of_one_socket)
{
	for (int round = 0; round < 2; round++) {
		const char *frag = readers[_i][2][0] ? readers[_i][2] : NULL;
		it_four(IT_ARGV(it_prog("sock_two_readers"), readers[_i][0], ".", readers[_i][1],
				frag),
			NULL, (const char *const[]){ NULL });
		it_expect_plain_success("sock_two_readers");
		it_expect_passive("sock_two_readers");
		long long ph = it_stat("on", "sock_two_readers", "phantom_reads");
		ck_assert_msg(ph > 0, "no socket read was deferred; stats: %s", it_stats_text("on"));
	}
}
END_TEST

/* A read left by a signal handler's siglongjmp after its splice took
 * bytes into a pipe of zcopy's: the pipe went back to the pool still
 * holding them (its count was noted only later), and the next read that
 * took it, by either thread, got them in front of its own: chunks that
 * were not one run of the stream (with 40 MiB and a jump every 200 us,
 * every run).  sock_two_readers' second reader reads with SIGUSR2
 * unblocked around each read only, and its handler jumps back to its
 * loop. */
START_TEST(a_read_left_by_a_jump_leaves_no_bytes_behind)
{
	it_four(IT_ARGV(it_prog("sock_two_readers"), kinds[_i], ".", "jump"), NULL,
		(const char *const[]){ NULL });
	it_expect_plain_success("sock_two_readers");
	it_expect_passive("sock_two_readers");
	long long ph = it_stat("on", "sock_two_readers", "phantom_reads");
	ck_assert_msg(ph > 0, "no socket read was deferred; stats: %s", it_stats_text("on"));
}
END_TEST

/* ---- socat -u TCP-LISTEN:port CREATE:out --------------------------------- */

struct sender {
	int port;
	pthread_t thread;
	int error;
};

/* Connects (socat may not listen yet) and sends the expected bytes. */
static void *send_expect(void *arg)
{
	struct sender *s = arg;
	size_t len;
	char *data = it_slurp("expect", &len);
	int fd = -1;
	for (int tries = 0; tries < 500 && fd < 0; tries++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
			close(fd);
			fd = -1;
			usleep(10000);
		}
	}
	if (fd < 0) {
		s->error = ECONNREFUSED;
		free(data);
		return NULL;
	}
	for (size_t done = 0; done < len;) {
		ssize_t w = write(fd, data + done, len - done < 100000 ? len - done : 100000);
		if (w <= 0) {
			s->error = errno;
			break;
		}
		done += (size_t)w;
	}
	close(fd);
	free(data);
	return NULL;
}

/* A port free a moment ago. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	ck_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
		  getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

START_TEST(socat_tcp_listen_to_file)
{
	for (int m = IT_NONE; m <= IT_ON; m++) {
		struct sender s = { .port = free_port() };
		char from[64];
		snprintf(from, sizeof from, "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr", s.port);
		ck_assert(pthread_create(&s.thread, NULL, send_expect, &s) == 0);
		struct it_spec sp = { .mode = (enum it_mode)m, .out_fd = -1,
				      .argv = IT_ARGV("socat", "-u", "-b", "131072", from,
						      "CREATE:out") };
		it_exec(&sp);
		pthread_join(s.thread, NULL);
		ck_assert_msg(s.error == 0, "sender: %s", strerror(s.error));
		if (m == IT_NONE)
			it_expect_plain_success("socat");
	}
	it_same_file("expect", "none/out");
	for (int m = IT_OFF; m <= IT_ON; m++)
		it_compare(it_mode_names[m], IT_ARGV("out"));
	it_expect_passive("socat");
	ck_assert_msg(it_stat("on", "socat", "phantom_reads") > 0, "stats: %s", it_stats_text("on"));
	it_expect_zero_copy("socat", SIZE, 80);
}
END_TEST

/* The far end of a relay: accepts one connection on its listening socket
 * and stores what arrives in <dir>/out. */
struct receiver {
	int listen_fd, port;
	char path[4096];
	pthread_t thread;
	int error;
};

static void *receive(void *arg)
{
	struct receiver *r = arg;
	int fd = accept(r->listen_fd, NULL, NULL);
	FILE *f = fopen(r->path, "w");
	char buf[65536];
	ssize_t n;
	if (fd < 0 || !f) {
		r->error = errno;
		if (f)
			fclose(f);
		return NULL;
	}
	while ((n = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, f);
	if (n < 0)
		r->error = errno;
	fclose(f);
	close(fd);
	return NULL;
}

static void receiver_start(struct receiver *r, const char *tag)
{
	memset(r, 0, sizeof *r);
	snprintf(r->path, sizeof r->path, "%s/out", it_path(tag));
	r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	ck_assert(r->listen_fd >= 0 && bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) == 0 &&
		  listen(r->listen_fd, 1) == 0 &&
		  getsockname(r->listen_fd, (struct sockaddr *)&a, &len) == 0);
	r->port = ntohs(a.sin_port);
	ck_assert(pthread_create(&r->thread, NULL, receive, r) == 0);
}

/* socat -b 131072 TCP-LISTEN:p1 TCP:127.0.0.1:p2: a relay between two
 * loopback connections, socket to socket by splice. */
START_TEST(socat_relay_between_two_ports)
{
	for (int m = IT_NONE; m <= IT_ON; m++) {
		mkdir(it_path(it_mode_names[m]), 0755);
		struct receiver r;
		receiver_start(&r, it_mode_names[m]);
		struct sender s = { .port = free_port() };
		char from[64], to[64];
		snprintf(from, sizeof from, "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr", s.port);
		snprintf(to, sizeof to, "TCP:127.0.0.1:%d", r.port);
		ck_assert(pthread_create(&s.thread, NULL, send_expect, &s) == 0);
		struct it_spec sp = { .mode = (enum it_mode)m, .out_fd = -1,
				      .argv = IT_ARGV("socat", "-b", "131072", from, to) };
		it_exec(&sp);
		pthread_join(s.thread, NULL);
		pthread_join(r.thread, NULL);
		close(r.listen_fd);
		ck_assert_msg(s.error == 0 && r.error == 0, "sender: %s, receiver: %s",
			      strerror(s.error), strerror(r.error));
		if (m == IT_NONE)
			it_expect_plain_success("socat");
	}
	it_same_file("expect", "none/out");
	for (int m = IT_OFF; m <= IT_ON; m++)
		it_compare(it_mode_names[m], IT_ARGV("out"));
	it_expect_passive("socat");
	ck_assert_msg(it_stat("on", "socat", "phantom_reads") > 0, "stats: %s", it_stats_text("on"));
	it_expect_zero_copy("socat", SIZE, 80);
}
END_TEST

int main(void)
{
	Suite *s = it_suite("sock");
	TCase *tc = it_tcase(s, "sock", setup, 120);
	tcase_add_loop_test(tc, receiver_into_malloc_buffer, 0, 2);
	tcase_add_loop_test(tc, receiver_into_aligned_buffer, 0, 2);
	tcase_add_loop_test(tc, receiver_ways, 0, 5);
	tcase_add_loop_test(tc, receiver_killed_by_sigkill, 0, 2);
	tcase_add_loop_test(tc, relay_to_a_socket, 0, 2);
	tcase_add_loop_test(tc, relay_alternating_read_sizes, 0, 2);
	tcase_add_loop_test(tc, relay_touched_by_a_second_thread, 0, 2);
	tcase_add_loop_test(tc, reads_past_the_pipe_slots, 0, 4);
	tcase_add_loop_test(tc, reads_past_the_pipe_slots_checked, 0, 2);
	tcase_add_loop_test(tc, relay_to_a_pipe_is_exact, 0, 2);
	tcase_add_loop_test(tc, rcvlowat_reads_plainly, 0, 2);
	tcase_add_loop_test(tc, two_readers_of_one_socket, 0, 9);
	tcase_add_loop_test(tc, a_read_left_by_a_jump_leaves_no_bytes_behind, 0, 2);
	it_add(tc, IT_TESTS(peer_reset_after_the_data, guard_0_reads_sockets_plainly,
			    socat_tcp_listen_to_file, socat_relay_between_two_ports));
	return it_main(s, "build/programs");
}
