/*
 * fault_copy - a read()/write() copy loop (128 KiB page-aligned heap buffer)
 * that prints the result of every call, for faults where that sequence
 * matters: the destination file system filling up, and the source being
 * truncated, appended to or overwritten by another process in the middle of
 * the copy.
 *
 * usage: fault_copy [-o truncate|append|overwrite -n N -z SIZE [-a AT]]
 *                   [-r PASSES] [-s NAP_US] [-w] [-D] [-f LIMIT [-X]] [-t]
 *                   [-H] KIND DEST SRC
 *   KIND  file    write() into the file DEST
 *         pwrite  pwrite() into DEST at the offsets write() would use
 *         pipe    write() into a pipe; a forked reader stores it in DEST
 *         unix    the same through a UNIX stream socket
 *         tcp     the same through a TCP loopback connection
 *   -o    another process (forked at start) changes SRC while the copier
 *         holds chunk N (0-based) read but not yet written: it truncates SRC
 *         to SIZE bytes, appends SIZE bytes, or overwrites the first SIZE
 *         bytes of chunk N (or SIZE bytes at offset AT, -a AT: bytes already
 *         written); the two synchronise through pipes, so the change
 *         always lands between that read and its write
 *   -r    copy SRC PASSES times (seeking back to 0 at its end): to fill a
 *         small file system from a small source
 *   -s    the pipe or socket reader pauses NAP_US microseconds after each
 *         64 KiB read, so what was written waits in the pipe or socket
 *   -w    the pipe or socket reader stops 32 KiB before the end of chunk
 *         N-1 until the change is made: those bytes, written before the
 *         change, are still unread when it happens
 *   -D    before the change, wait until the reader has taken everything
 *         written so far, so the change meets only chunk N (pipe, unix)
 *   -t    after the change, read the whole buffer (hash it) before writing,
 *         as a program inspecting its data would
 *   -f    limit the size of files the program may write to LIMIT bytes
 *         (RLIMIT_FSIZE): the write that crosses it is short, the next one
 *         raises SIGXFSZ, or with -X (SIGXFSZ ignored) fails with EFBIG
 *   -H    install a SIGBUS handler that says so and exits 7: the program
 *         itself never provokes a SIGBUS here, so it must never run
 *
 * stdout: "r N" for each read, "w N ERR" for each write call, "hash H" for
 * -t, then "total N src_off X dst_off Y" (bytes written, file offsets),
 * and exit 0, or 3 after a failed write.  With a pipe or socket the
 * reader's "reader got" line comes last.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/sockios.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "zt.h"

enum op { OP_NONE, OP_TRUNCATE, OP_APPEND, OP_OVERWRITE };

/* Bytes the other process adds or writes: distinct from any source file the
 * tests make, and the same in every run. */
static void pattern(char *p, size_t n, unsigned seed)
{
	uint32_t x = 0x9e3779b9u ^ seed;
	for (size_t i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		p[i] = (char)(x >> 24);
	}
}

/* The other process: waits for the copier's word, changes the file, answers
 * (and lets a holding reader go on). */
static void changer(const char *path, enum op op, long long size, long long at, int cmd, int ack,
		    int resume)
{
	char c;
	if (read(cmd, &c, 1) != 1)
		_exit(0); /* the copier never reached chunk N */
	if (op == OP_TRUNCATE) {
		if (truncate(path, (off_t)size) != 0)
			zt_die("truncate");
	} else {
		int fd = open(path, O_WRONLY | (op == OP_APPEND ? O_APPEND : 0));
		char *p = malloc((size_t)size);
		if (fd < 0 || !p)
			zt_die("changer open");
		pattern(p, (size_t)size, (unsigned)op);
		ssize_t w = op == OP_APPEND ? write(fd, p, (size_t)size)
					    : pwrite(fd, p, (size_t)size, (off_t)at);
		if (w != (ssize_t)size)
			zt_die("changer write");
		close(fd);
	}
	if (write(ack, "k", 1) != 1 || write(resume, "k", 1) != 1)
		zt_die("changer ack");
	_exit(0);
}

/* Waits until nothing written to the pipe or socket is left unread (the
 * bytes queued on a pipe; on a socket, those the receiver has not taken). */
static void drain(int fd, int is_pipe)
{
	for (int i = 0; i < 10000; i++) {
		int q = 0;
		if (ioctl(fd, is_pipe ? FIONREAD : SIOCOUTQ, &q) != 0)
			zt_die("queue size");
		if (q == 0)
			return;
		zt_nap_us(1000);
	}
	errno = ETIMEDOUT;
	zt_die("drain");
}

static void on_bus(int sig)
{
	(void)sig;
	static const char m[] = "program SIGBUS handler ran\n";
	if (write(1, m, sizeof m - 1) < 0)
		_exit(8);
	_exit(7);
}

int main(int argc, char **argv)
{
	enum op op = OP_NONE;
	long long n_at = -1, size = 0;
	int passes = 1, touch = 0, settle = 0, hold = 0, opt;
	long nap = 0;
	long long at = -1;
	while ((opt = getopt(argc, argv, "o:n:z:a:r:s:f:XwDtH")) != -1) {
		switch (opt) {
		case 'o':
			op = strcmp(optarg, "truncate") == 0 ? OP_TRUNCATE
			     : strcmp(optarg, "append") == 0 ? OP_APPEND
			     : strcmp(optarg, "overwrite") == 0 ? OP_OVERWRITE : OP_NONE;
			if (op == OP_NONE)
				goto usage;
			break;
		case 'n': n_at = atoll(optarg); break;
		case 'z': size = atoll(optarg); break;
		case 'a': at = atoll(optarg); break;
		case 'r': passes = atoi(optarg); break;
		case 's': nap = atol(optarg); break;
		case 'D': settle = 1; break;
		case 'w': hold = 1; break;
		case 'f': {
			struct rlimit rl = { (rlim_t)atoll(optarg), (rlim_t)atoll(optarg) };
			if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
				zt_die("setrlimit");
			break;
		}
		case 'X': signal(SIGXFSZ, SIG_IGN); break;
		case 't': touch = 1; break;
		case 'H': signal(SIGBUS, on_bus); break;
		default: goto usage;
		}
	}
	if (argc - optind != 3 || (op != OP_NONE && (n_at < 0 || size <= 0)))
		goto usage;
	const char *kind = argv[optind], *dest = argv[optind + 1], *src = argv[optind + 2];

	int cmd[2] = { -1, -1 }, ack[2] = { -1, -1 }, resume[2] = { -1, -1 };
	pid_t chg = -1;
	if (op != OP_NONE) {
		if (pipe(cmd) != 0 || pipe(ack) != 0 || pipe(resume) != 0)
			zt_die("pipe");
		fflush(stdout);
		if ((chg = fork()) < 0)
			zt_die("fork");
		if (chg == 0) {
			close(cmd[1]);
			close(ack[0]);
			close(resume[0]);
			changer(src, op, size, at >= 0 ? at : n_at * ZT_CHUNK, cmd[0], ack[1],
				resume[1]);
		}
		close(cmd[0]);
		close(ack[1]);
		close(resume[1]);
	}

	pid_t reader = -1;
	int out, positional = strcmp(kind, "pwrite") == 0;
	if (strcmp(kind, "file") == 0 || positional) {
		out = open(dest, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0)
			zt_die(dest);
	} else {
		/* The reader closes the copier's ends of the handshake, so that
		 * the changer sees EOF when the copier is gone. */
		struct zt_reader r = { 64 * 1024, nap, 0, dest, 0, resume[0], { cmd[1], ack[0], -1 } };
		if (hold && n_at > 0)
			r.hold_at = n_at * ZT_CHUNK - 32 * 1024;
		out = zt_sink(kind, &r, &reader);
	}
	if (resume[0] >= 0)
		close(resume[0]);
	int in = open(src, O_RDONLY);
	if (in < 0)
		zt_die(src);
	char *buf = zt_alloc(ZT_CHUNK);
	long long total = 0, chunk = 0;
	int failed = 0;
	for (int pass = 0; pass < passes && !failed; pass++) {
		if (lseek(in, 0, SEEK_SET) != 0)
			zt_die("lseek");
		for (;; chunk++) {
			ssize_t n = read(in, buf, ZT_CHUNK);
			printf("r %zd\n", n);
			if (n < 0)
				zt_die("read");
			if (n == 0)
				break;
			if (chunk == n_at) {
				char c;
				if (settle && reader > 0)
					drain(out, strcmp(kind, "pipe") == 0);
				if (write(cmd[1], "g", 1) != 1 || read(ack[0], &c, 1) != 1)
					zt_die("handshake");
			}
			if (touch && chunk == n_at)
				printf("hash %016llx\n",
				       (unsigned long long)zt_fnv(ZT_FNV_INIT, buf, (size_t)n));
			for (ssize_t done = 0; done < n;) {
				ssize_t w = positional
						    ? pwrite(out, buf + done, (size_t)(n - done), (off_t)total)
						    : write(out, buf + done, (size_t)(n - done));
				printf("w %zd %s\n", w, zt_errname(w < 0 ? errno : 0));
				if (w < 0) {
					failed = 1;
					break;
				}
				done += w;
				total += w;
			}
			if (failed)
				break;
		}
	}
	/* File offsets are part of what must not change (-1 for a pipe). */
	printf("total %lld src_off %lld dst_off %lld\n", total, (long long)lseek(in, 0, SEEK_CUR),
	       (long long)lseek(out, 0, SEEK_CUR));
	fflush(stdout);
	close(out);
	if (cmd[1] >= 0)
		close(cmd[1]); /* a changer still waiting leaves now */
	if (chg > 0)
		waitpid(chg, NULL, 0);
	if (reader > 0)
		waitpid(reader, NULL, 0);
	return failed ? 3 : 0;
usage:
	fprintf(stderr, "usage: fault_copy [-o truncate|append|overwrite -n N -z SIZE [-a AT]] "
			"[-r PASSES] [-s NAP_US] [-w] [-D] [-f LIMIT [-X]] [-t] [-H] "
			"file|pwrite|pipe|unix|tcp DEST SRC\n");
	return 98;
}
