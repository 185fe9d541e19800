/*
 * test_tools.c - real tools under libzcopy (the "corpus"): coreutils cat,
 * dd, split, sha256sum, gzip, socat and busybox dd, each run without the
 * shim and with ZCOPY_MODE=off, observe and on.  Outputs, stdout, stderr and
 * exit status must be identical; the stats must show the engagement the
 * tool's copy pattern calls for: the copiers are redirected (at least 90% of
 * their bytes), observe mode sees them, and the tools that read their data
 * (sha256sum, gzip) are left alone.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"
#include "harness.h"

#define SIZE (32 * MiB + 12345)

static void setup(void)
{
	it_begin();
}

/* A tool that inspects every byte: nothing redirected, nothing would be. */
static void expect_left_alone(const char *exe)
{
	long long zc = it_stat("on", exe, "bytes_zero_copy");
	long long w = it_stat("observe", exe, "would_zero_copy_bytes");
	long long ph = it_stat("on", exe, "phantom_reads");
	ck_assert_msg(zc == 0 && w == 0 && ph <= 2,
		      "%s: bytes_zero_copy %lld, would_zero_copy_bytes %lld, phantom_reads %lld; "
		      "expected 0, 0, <= 2; stats on: %s",
		      exe, zc, w, ph, it_stats_text("on"));
}

/* ---- issue 2: observe mode on real tools ---------------------------------- */

/* cat of a size-byte src into a pipe read by another cat, the four ways:
 * what came out of the pipe is src, and off and observe moved nothing. */
static void cat_into_pipe(size_t size, uint64_t seed)
{
	it_make_file("src", size, seed);
	struct it_spec s = { .argv = IT_ARGV("cat", "../src"), .consumer = IT_ARGV("cat"),
			     .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("cat");
	it_same_file("src", "none/piped");
	it_expect_passive("cat");
}

START_TEST(observe_cat_64mib_into_pipe)
{
	cat_into_pipe(64 * MiB, 21);
	it_expect_would("cat", 60 * MiB, 100);
}
END_TEST

START_TEST(observe_sha256sum_reads_only)
{
	it_make_file("src", SIZE, 22);
	it_four(IT_ARGV("sha256sum", "../src"), NULL, NULL);
	it_expect_passive("sha256sum");
	expect_left_alone("sha256sum");
}
END_TEST

START_TEST(observe_gzip_transforms_its_data)
{
	it_make_file("src", 16 * MiB, 23);
	it_four(IT_ARGV("gzip", "-c", "-1", "../src"), NULL, NULL);
	ck_assert_int_gt(it_file_size("none/stdout"), 16 * MiB);
	it_expect_passive("gzip");
	expect_left_alone("gzip");
}
END_TEST

/* ---- issue 3: the copiers, redirected -------------------------------------- */

START_TEST(cat_file_to_pipe)
{
	cat_into_pipe(SIZE, 31);
	it_expect_zero_copy("cat", SIZE, 90);
	it_expect_transfers("cat", "splice");
}
END_TEST

START_TEST(cat_file_to_dev_null)
{
	it_make_file("src", SIZE, 32);
	struct it_spec s = { .argv = IT_ARGV("cat", "../src"), .out = "/dev/null", .out_fd = -1 };
	it_four_spec(&s, NULL);
	it_expect_plain_success("cat");
	it_expect_passive("cat");
	it_expect_would("cat", SIZE, 90);
	it_expect_zero_copy("cat", SIZE, 90);
	/* Each read one splice into zcopy's pipe, each write its splice out. */
	it_expect_transfers("cat", "splice");
	ck_assert_int_gt(it_stat("on", "cat", "file_pipe_reads"), 0);
}
END_TEST

/* A TCP receiver on 127.0.0.1 that stores one connection's bytes. */
struct receiver {
	int listen_fd;
	int port;
	char path[4200];
	long long bytes;
	int error;
	pthread_t thread;
};

static void *receive(void *arg)
{
	struct receiver *r = arg;
	int c = accept(r->listen_fd, NULL, NULL);
	int out = open(r->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	static char buf[1 << 16];
	if (c < 0 || out < 0) {
		r->error = errno;
		return NULL;
	}
	for (;;) {
		ssize_t n = read(c, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				r->error = errno;
			break;
		}
		if (write(out, buf, (size_t)n) != n) {
			r->error = errno;
			break;
		}
		r->bytes += n;
	}
	close(c);
	close(out);
	return NULL;
}

static void receiver_start(struct receiver *r, const char *tag)
{
	memset(r, 0, sizeof *r);
	mkdir(it_path(tag), 0755);
	snprintf(r->path, sizeof r->path, "%s/recv", it_path(tag));
	r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	ck_assert(r->listen_fd >= 0);
	ck_assert_msg(bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) == 0 &&
			      listen(r->listen_fd, 1) == 0 &&
			      getsockname(r->listen_fd, (struct sockaddr *)&a, &len) == 0,
		      "listen: %s", strerror(errno));
	r->port = ntohs(a.sin_port);
	ck_assert(pthread_create(&r->thread, NULL, receive, r) == 0);
}

static void receiver_end(struct receiver *r)
{
	pthread_join(r->thread, NULL);
	close(r->listen_fd);
	ck_assert_msg(r->error == 0, "receiver: %s", strerror(r->error));
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_msg(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s",
		      strerror(errno));
	return fd;
}

/* A copy to the loopback receiver, run the four ways: the bytes received
 * are src's, every run got what the plain one got, and exe sent them with
 * sendfile. */
static void expect_received(const char *exe)
{
	it_same_file("src", "none/recv");
	for (int m = IT_OFF; m <= IT_ON; m++)
		it_compare(it_mode_names[m], IT_ARGV("recv"));
	it_expect_passive(exe);
	it_expect_zero_copy(exe, SIZE, 90);
	it_expect_transfers(exe, "sendfile");
}

START_TEST(cat_file_to_tcp_loopback)
{
	it_make_file("src", SIZE, 33);
	for (int m = IT_NONE; m <= IT_ON; m++) {
		struct receiver r;
		receiver_start(&r, it_mode_names[m]);
		int sock = connect_to(r.port);
		/* cat's stdout is the connected socket. */
		struct it_spec s = { .mode = (enum it_mode)m, .argv = IT_ARGV("cat", "../src"),
				     .out_fd = sock };
		it_exec(&s);
		close(sock);
		receiver_end(&r);
		if (m == IT_NONE)
			it_expect_plain_success("cat");
	}
	expect_received("cat");
}
END_TEST

START_TEST(socat_file_to_tcp_loopback)
{
	it_make_file("src", SIZE, 34);
	for (int m = IT_NONE; m <= IT_ON; m++) {
		struct receiver r;
		receiver_start(&r, it_mode_names[m]);
		char to[64];
		snprintf(to, sizeof to, "TCP:127.0.0.1:%d", r.port);
		struct it_spec s = { .mode = (enum it_mode)m, .out_fd = -1,
				     .argv = IT_ARGV("socat", "-b", "131072", "-u", "FILE:../src", to) };
		it_exec(&s);
		receiver_end(&r);
		if (m == IT_NONE)
			it_expect_plain_success("socat");
	}
	expect_received("socat");
}
END_TEST

static void dd_file_to_file(const char *exe, const char *const *argv)
{
	it_make_file("src", SIZE, 35);
	it_four(argv, NULL, IT_ARGV("out"));
	it_same_file("src", "none/out");
	it_expect_passive(exe);
	it_expect_would(exe, SIZE, 90);
	it_expect_zero_copy(exe, SIZE, 90);
	it_expect_transfers(exe, "copy_file_range");
}

START_TEST(dd_bs_64k_file_to_file)
{
	dd_file_to_file("dd", IT_ARGV("dd", "if=../src", "of=out", "bs=64k", "status=none"));
}
END_TEST

START_TEST(dd_bs_1m_file_to_file)
{
	dd_file_to_file("dd", IT_ARGV("dd", "if=../src", "of=out", "bs=1M", "status=none"));
}
END_TEST

START_TEST(busybox_dd_file_to_file)
{
	dd_file_to_file("busybox",
			IT_ARGV("busybox", "dd", "if=../src", "of=out", "bs=64k", "status=none"));
}
END_TEST

START_TEST(split_by_bytes)
{
	static const char *const parts[] = { "part.aa", "part.ab", "part.ac", "part.ad", "part.ae",
					     "part.af", "part.ag", "part.ah", "part.ai", NULL };
	it_make_file("src", SIZE, 36);
	it_four(IT_ARGV("split", "-b", "4M", "../src", "part."), NULL, parts);
	/* Reassembled, the plain run's parts are the source (and every run's
	 * parts were compared with them). */
	FILE *all = fopen(it_path("joined"), "wb");
	ck_assert(all != NULL);
	for (int i = 0; parts[i]; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "none/%s", parts[i]);
		size_t len;
		char *data = it_slurp(rel, &len);
		ck_assert(fwrite(data, 1, len, all) == len);
		free(data);
	}
	ck_assert(fclose(all) == 0);
	it_same_file("src", "joined");
	it_expect_passive("split");
	it_expect_zero_copy("split", SIZE, 90);
	it_expect_transfers("split", "copy_file_range");
}
END_TEST

int main(void)
{
	Suite *s = it_suite("tools");

	TCase *o = it_tcase(s, "observe", setup, 120);
	it_add(o, IT_TESTS(observe_cat_64mib_into_pipe, observe_sha256sum_reads_only,
				observe_gzip_transforms_its_data));

	TCase *c = it_tcase(s, "copiers", setup, 120);
	it_add(c, IT_TESTS(cat_file_to_pipe, cat_file_to_dev_null, cat_file_to_tcp_loopback,
				socat_file_to_tcp_loopback, dd_bs_64k_file_to_file,
				dd_bs_1m_file_to_file, busybox_dd_file_to_file, split_by_bytes));
	return it_main(s, "build/programs");
}
