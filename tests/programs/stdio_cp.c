/*
 * stdio_cp - a stdio copier with the habits real programs mix into their
 * fread()/fwrite() loops, one option each, so every FILE behaviour that
 * zcopy's stdio path must keep is compared with and without the library.
 *
 * usage: stdio_cp [options] SRC DST
 *   DST "-" is stdout; "sock:FILE" sends over a UNIX stream socketpair to a
 *   forked receiver that stores the bytes in FILE.
 *   -c BYTES  request size (default 128 KiB)
 *   -b KIND   buffer: aligned (page-aligned heap, default), malloc, static
 *   -v MODE   setvbuf of both streams: full, line, none, 1m (1 MiB buffer),
 *             or default
 *   -r        read(2) on fileno(in) instead of fread
 *   -w        write(2) on fileno(out) instead of fwrite
 *   -m        header by fprintf, a mark by fputs between chunks, a trailer;
 *             ftell(in) after each read into the log
 *   -s        at the middle, fseek back one chunk and re-read from there
 *   -u        fgetc + ungetc of the same byte before the first read, and
 *             fgetc + ungetc of another byte at the middle
 *   -g        getc/fgets/getline/fscanf between chunks (a few bytes each)
 *   -f        at the middle, freopen the source and start over
 *   -C N      close the source after reading chunk N, write it, stop
 *   -e        change one byte in every page but the first of each chunk
 *             before writing it
 *   -q        no per-read log lines (runs whose timing decides how far the
 *             copy gets, as with a reader that leaves)
 *   -P        ignore SIGPIPE; a failed fwrite is reported (ferror, errno)
 *             and ends the program with status 3
 *   -K        streams opened with "c" (glibc's reads and writes are then no
 *             cancellation points), and the thread's own cancellation
 *             requested after the first chunk: it acts only at the
 *             pthread_testcancel after the loop, once everything is copied
 *   -S OFF    into itself: DST becomes a copy of SRC (4 KiB read/write
 *             calls), then the loop reads DST through one stream and
 *             writes it through another ("r+", its descriptor moved to OFF
 *             before any stdio call, so the stream's offset stays unknown
 *             to glibc), as many bytes as SRC holds
 * The log (stderr): every read's count and ftell, then the end state
 * (total, ftell, feof, ferror, the kernel offset of fileno(in)).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "zt.h"

static size_t chunk = 128 * 1024;
static const char *bufkind = "aligned", *vmode = "default";
static int use_read, use_write, mix, seekback, unget, gets_between, reopen, close_at = -1;
static int quiet, nopipe, edit;
static long long self_off = -1;
static int nocancel;


static void setmode(FILE *fp)
{
	static char big_in[1 << 20], big_out[1 << 20];
	int rc = 0;
	if (strcmp(vmode, "full") == 0)
		rc = setvbuf(fp, NULL, _IOFBF, 0);
	else if (strcmp(vmode, "line") == 0)
		rc = setvbuf(fp, NULL, _IOLBF, 0);
	else if (strcmp(vmode, "none") == 0)
		rc = setvbuf(fp, NULL, _IONBF, 0);
	else if (strcmp(vmode, "1m") == 0)
		rc = setvbuf(fp, fp == stdout || fileno(fp) > 3 ? big_out : big_in, _IOFBF,
			     sizeof big_in);
	if (rc != 0)
		zt_die("setvbuf");
}

static pid_t receiver = -1;

/* The destination stream: a file, stdout, or a socket to a receiver. */
static FILE *open_dst(const char *dst)
{
	if (strcmp(dst, "-") == 0)
		return stdout;
	if (strncmp(dst, "sock:", 5) != 0)
		return fopen(dst, "wb");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		zt_die("socketpair");
	receiver = fork();
	if (receiver < 0)
		zt_die("fork");
	if (receiver == 0) {
		close(sv[0]);
		int fd = open(dst + 5, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		static char b[65536];
		ssize_t n;
		int err;
		while ((n = read(sv[1], b, sizeof b)) > 0)
			if (zt_write_all(fd, b, (size_t)n, &err) != (size_t)n)
				_exit(3);
		_exit(n < 0 ? 4 : 0);
	}
	close(sv[1]);
	return fdopen(sv[0], "wb");
}

static size_t get(void *buf, size_t n, FILE *in)
{
	if (!use_read)
		return fread(buf, 1, n, in);
	ssize_t r = read(fileno(in), buf, n);
	return r < 0 ? 0 : (size_t)r;
}

static void put(const void *buf, size_t n, FILE *out)
{
	if (!use_write) {
		size_t w = fwrite(buf, 1, n, out);
		if (w != n && nopipe) {
			int e = errno;
			fprintf(stderr, "fwrite short: ferror %d errno %s\n", ferror(out) != 0,
				zt_errname(e));
			exit(3);
		}
		if (w != n)
			zt_die("fwrite");
		return;
	}
	int err;
	fflush(out);
	if (zt_write_all(fileno(out), buf, n, &err) != n) {
		errno = err;
		zt_die("write");
	}
}

/* A few bytes by the character and line functions of stdio. */
static void small_reads(FILE *in, FILE *out, int round)
{
	char line[64];
	int c;
	switch (round % 4) {
	case 0:
		if ((c = getc(in)) != EOF)
			putc(c, out);
		break;
	case 1:
		if (fgets(line, 8, in))
			fputs(line, out);
		break;
	case 2: {
		char *l = NULL;
		size_t cap = 0;
		/* binary data: a "line" is short on average; cap it by reading one */
		ssize_t k = getdelim(&l, &cap, 0x5a, in);
		if (k > 0)
			fwrite(l, 1, (size_t)k, out);
		free(l);
		break;
	}
	default: {
		char word[4];
		if (fscanf(in, "%3c", word) == 1)
			fwrite(word, 1, 3, out);
		break;
	}
	}
}

/* -S: dst becomes a plain copy of src (calls too small for zcopy). */
static void copy_small(const char *src, const char *dst)
{
	int i = open(src, O_RDONLY), o = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char b[4096];
	ssize_t k;
	if (i < 0 || o < 0)
		zt_die("open");
	while ((k = read(i, b, sizeof b)) > 0)
		zt_put(o, b, (size_t)k);
	if (k < 0 || close(o) != 0)
		zt_die("copy");
	close(i);
}

int main(int argc, char **argv)
{
	int o;
	while ((o = getopt(argc, argv, "c:b:v:rwmsugfC:qPeS:K")) != -1) {
		switch (o) {
		case 'c': chunk = strtoul(optarg, NULL, 0); break;
		case 'b': bufkind = optarg; break;
		case 'v': vmode = optarg; break;
		case 'r': use_read = 1; break;
		case 'w': use_write = 1; break;
		case 'm': mix = 1; break;
		case 's': seekback = 1; break;
		case 'u': unget = 1; break;
		case 'g': gets_between = 1; break;
		case 'f': reopen = 1; break;
		case 'C': close_at = atoi(optarg); break;
		case 'q': quiet = 1; break;
		case 'e': edit = 1; break;
		case 'P': nopipe = 1; signal(SIGPIPE, SIG_IGN); break;
		case 'S': self_off = atoll(optarg); break;
		case 'K': nocancel = 1; break;
		default: zt_usage("stdio_cp [-c N] [-b KIND] [-v MODE] [-rwmsugf] [-C N] SRC DST");
		}
	}
	if (argc - optind != 2)
		zt_usage("stdio_cp [options] SRC DST");
	const char *src = argv[optind];
	struct stat st;
	if (stat(src, &st) != 0)
		zt_die("stat");
	long long size = (long long)st.st_size, total = 0;
	FILE *in, *out;
	if (self_off >= 0) {
		copy_small(src, argv[optind + 1]);
		src = argv[optind + 1];
		in = fopen(src, "rb");
		out = fopen(src, "r+b");
		if (out && lseek(fileno(out), self_off, SEEK_SET) != self_off)
			zt_die("lseek");
	} else if (nocancel) {
		in = fopen(src, "rbc");
		out = fopen(argv[optind + 1], "wbc");
	} else {
		in = fopen(src, "rb");
		out = open_dst(argv[optind + 1]);
	}
	if (!in || !out)
		zt_die("fopen");
	setmode(in);
	setmode(out);
	char *buf;
	static char sbuf[1 << 20] __attribute__((aligned(4096)));
	if (strcmp(bufkind, "malloc") == 0)
		buf = malloc(chunk);
	else if (strcmp(bufkind, "static") == 0 && chunk <= sizeof sbuf)
		buf = sbuf;
	else
		buf = zt_alloc(chunk);
	if (!buf)
		zt_die("setup");

	if (mix)
		fprintf(out, "header %s\n", src);
	if (unget) {
		int c = fgetc(in);
		if (ungetc(c, in) != c)
			zt_die("ungetc");
	}
	int round = 0, seeked = 0, reopened = 0, ungot = 0;
	size_t n;
	/* Into itself, the file grows ahead of the reader: SRC's size in all. */
	while ((n = get(buf, self_off >= 0 && size - total < (long long)chunk ? (size_t)(size - total)
									       : chunk,
			in)) > 0) {
		total += (long long)n;
		if (!quiet)
			fprintf(stderr, "read %zu ftell %ld\n", n, ftell(in));
		if (round == close_at) {
			fclose(in);
			put(buf, n, out);
			fprintf(stderr, "closed after %d\n", round);
			in = NULL;
			break;
		}
		for (size_t i = 4096; edit && i < n; i += 4096)
			buf[i] ^= 0x5a;
		put(buf, n, out);
		if (nocancel && round == 0 && pthread_cancel(pthread_self()) != 0)
			zt_die("pthread_cancel");
		if (mix && fputs("--mark--\n", out) == EOF)
			zt_die("fputs");
		if (gets_between)
			small_reads(in, out, round);
		if (total >= size / 2) {
			if (seekback && !seeked) {
				seeked = 1;
				if (fseek(in, -(long)chunk, SEEK_CUR) != 0)
					zt_die("fseek");
				fprintf(stderr, "seek back to %ld\n", ftell(in));
			}
			if (unget && !ungot) {
				ungot = 1;
				int c = fgetc(in);
				if (c != EOF && ungetc(c ^ 0x55, in) == EOF)
					zt_die("ungetc");
			}
			if (reopen && !reopened) {
				reopened = 1;
				in = freopen(src, "rb", in);
				if (!in)
					zt_die("freopen");
				setmode(in);
				fprintf(stderr, "reopened\n");
			}
		}
		round++;
	}
	if (nocancel)
		pthread_testcancel(); /* ends the program, by exit(0) after the last thread */
	if (in) {
		fprintf(stderr, "end total %lld ftell %ld feof %d ferror %d kernel %lld\n", total,
			ftell(in), feof(in) != 0, ferror(in) != 0, zt_pos(fileno(in)));
		if (fseek(in, 0, SEEK_SET) != 0 || fgetc(in) == EOF)
			zt_die("rewind");
		fprintf(stderr, "after rewind ftell %ld feof %d\n", ftell(in), feof(in) != 0);
		fclose(in);
	}
	if (mix)
		fprintf(out, "trailer %lld\n", total);
	if (fflush(out) != 0)
		zt_die("fflush");
	fprintf(stderr, "out ftell %ld\n", out == stdout ? -1L : ftell(out));
	if (out != stdout && fclose(out) != 0)
		zt_die("fclose");
	if (receiver > 0) {
		int ws;
		if (waitpid(receiver, &ws, 0) != receiver)
			zt_die("waitpid");
		fprintf(stderr, "receiver %d\n", ws);
	}
	return 0;
}
