/*
 * exec.c - the fuzzer's executor: runs a script on the world (world.c) and
 * logs everything a program could observe.
 *
 * One log line per operation: its index and text, the return value, errno
 * (when it failed), the fd's file offset afterwards and a hash of the buffer
 * range it affected; at the end every buffer, every file and what the pipe
 * and socket readers received.  Nothing timing-dependent is logged: readers
 * hash the byte stream (not its chunks), the thread logs into memory that is
 * appended when it is joined, a forked child writes its lines while its
 * parent waits.  Hashing a buffer right after a read would touch deferred
 * pages and keep zcopy from ever engaging, so a read's bytes are hashed only
 * when the script asks (the read's "check" flag, sum ops, and the end).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#define PAGE 4096UL

/* ---- contexts and log ------------------------------------------------------------- */

struct ctxst {
	char ctx;
	char *log;
	size_t len, cap;
	int direct; /* flush to fd 1 as it fills (main, child); the thread buffers */
	long last;  /* the latest read's result, for writes of "what was read" */
	long nops;
};

/* The second thread: its lines, its log (appended when it is joined). */
static struct {
	const struct fz_script *s;
	pthread_t th;
	int live;
	struct ctxst c;
	int *run;
	int nrun;
} T;

/* Set once a script may die by a signal (sig, rlimit, peer, arm ran): from
 * then on the log is flushed before every op, so that a run that dies has
 * logged every op before the fatal one. */
static int risky;
/* RLIMIT_FSIZE is set: the log (a file) is written with it lifted. */
static int fsize_limited;

static void flush_log(struct ctxst *c)
{
	struct rlimit saved, all;
	int lifted = 0;
	if (fsize_limited && c->len && getrlimit(RLIMIT_FSIZE, &saved) == 0) {
		all = (struct rlimit){ saved.rlim_max, saved.rlim_max };
		lifted = setrlimit(RLIMIT_FSIZE, &all) == 0;
	}
	size_t done = 0;
	while (done < c->len) {
		ssize_t r = write(1, c->log + done, c->len - done);
		if (r <= 0 && errno != EINTR)
			break;
		if (r > 0)
			done += (size_t)r;
	}
	c->len = 0;
	if (lifted)
		setrlimit(RLIMIT_FSIZE, &saved);
}

static void lg(struct ctxst *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lg(struct ctxst *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	if (c->len + (size_t)n > c->cap) {
		c->cap = (c->cap + (size_t)n) * 2;
		c->log = realloc(c->log, c->cap);
		if (!c->log)
			abort();
	}
	memcpy(c->log + c->len, line, (size_t)n);
	c->len += (size_t)n;
	/* Small flushes keep the log's own writes out of the way of the engine. */
	if (c->direct && c->len > 2048)
		flush_log(c);
}

/* Clamps (off, len) to buffer slot; returns the start, *n the length. */
static char *range(long slot, long off, long len, size_t *n)
{
	*n = 0;
	if (slot < 0 || slot >= NBUFS || !fzw.b[slot].p)
		return NULL;
	struct fz_buf *b = &fzw.b[slot];
	size_t o = off < 0 ? 0 : (size_t)off > b->size ? b->size : (size_t)off;
	size_t l = len < 0 ? 0 : (size_t)len;
	*n = l > b->size - o ? b->size - o : l;
	return b->p + o;
}

static int fdn(long slot) { return slot >= 0 && slot < NFDS ? fzw.fd[slot] : -1; }
static FILE *fpn(long slot) { return slot >= 0 && slot < NFPS_ALL ? fzw.fp[slot] : NULL; }

static long offset_of(int fd)
{
	int e = errno;
	long o = (long)lseek(fd, 0, SEEK_CUR);
	errno = e;
	return o;
}

static long ftell_of(FILE *f)
{
	int e = errno;
	long o = f ? ftell(f) : -1;
	errno = e;
	return o;
}

static const int open_flags[4] = { O_RDWR, O_RDWR | O_APPEND, O_RDONLY, O_RDWR | O_TRUNC };

/* ---- keeping out of zcopy's documented limit --------------------------------------- */

static int is_regular(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* A FILE whose buffer holds bytes not yet written: flushing, seeking or
 * reading on it writes them. */
static int fp_pending(FILE *fp) { return fp && __fpending(fp) > 0; }

/* Do the writes of FILE slot i reach a regular file?  Those of the FILEs
 * on files do; those of the pipe's and the socket's (--stdio-pipe) only
 * once the script put a file at their number. */
static int fp_to_file(long i)
{
	FILE *fp = fpn(i);
	if (!fp)
		return 0;
	if (i < NFPS)
		return 1;
	int e = errno, fd = fileno(fp);
	errno = e;
	return is_regular(fd);
}

/*
 * Does op o change the contents or size of a regular file?  Before such an
 * op every pipe and socket reader gets everything written to it so far
 * (fz_readers_drain): the bytes splice and sendfile left there are the file's
 * pages, and what a reader sees of a change made after the write returned is
 * zcopy's documented limit, not a divergence (--in-flight shows it).  The
 * same in the plain and zcopy runs, and in every context: it is part of the
 * program.  The ops between a deferred read and the write of its bytes keep
 * their order: only bytes already written are waited for.
 */
static int changes_file(const struct fz_op *o)
{
	const long *a = o->a;
	switch (o->op) {
	case OP_WRITE:
	case OP_PWRITE:
	case OP_WRITEV:
	case OP_SEND: /* fails on a file without zcopy; must not change it with */
	case OP_PWRITEV:
	case OP_FTRUNC:
	case OP_MMAPW:
	case OP_SENDFILE: /* into its out fd a[0] */
		return is_regular(fdn(a[0]));
	case OP_OPEN:
		return open_flags[(unsigned long)a[2] % 4] & O_TRUNC;
	case OP_FWRITE: /* may write through at once */
	case OP_FPUTS:
		return fp_to_file(a[0]);
	case OP_FREAD:
	case OP_FSEEK:
	case OP_FTELL:
	case OP_FFLUSH:
	case OP_UNGETC:
	case OP_SETVBUF:
		/* (Not for a pipe's FILE: waiting for its reader there would
		 * undo an armed op's full pipe.) */
		return fp_pending(fpn(a[0])) && fp_to_file(a[0]);
	default:
		return 0;
	}
}

/*
 * The program's own sendfile into a pipe: the kernel fills what room the
 * pipe has in one pass and returns that count, so how much the reader had
 * taken by then decided it (seed 103082 with --stdio-pipe: 524288 in the
 * plain run, 516096 in another, with zcopy moving nothing).  The readers
 * take what was written first, in every run, so the room is the same.
 */
static int sendfile_into_pipe(const struct fz_op *o)
{
	struct stat st;
	return o->op == OP_SENDFILE && fstat(fdn(o->a[0]), &st) == 0 && S_ISFIFO(st.st_mode);
}

/*
 * The file at slot's number again, with no close or dup2 of the program's
 * own: libc closes the number inside fclose or freopen (a preload never sees
 * that close), then the number is filled by freopen's own open (or its dup3
 * onto the number), or by open and fcntl(F_DUPFD), which only ever takes a
 * free number.  The FILE of a freopen is kept: closing it would close the
 * number.  Returns the number now there, or -1 with errno.
 */
static long lreopen(long slot, const char *path, int how)
{
	if (slot < 0 || slot >= NFDS)
		return -2;
	int n0 = fzw.fd[slot], fl = fcntl(n0, F_GETFL);
	if (fl < 0)
		return -1;
	int app = fl & O_APPEND;
	const char *m = (fl & O_ACCMODE) == O_RDONLY ? "r"
			: (fl & O_ACCMODE) == O_WRONLY ? (app ? "a" : "w")
						       : (app ? "a+" : "r+");
	FILE *f = fdopen(n0, m);
	if (!f)
		return -1;
	if (how == 0) {
		FILE *g = freopen(path, app ? "a+" : "r+", f);
		return g ? fileno(g) : -1;
	}
	if (fclose(f) != 0)
		return -1;
	int t = open(path, O_RDWR);
	if (t < 0 || t == n0)
		return t;
	int r = fcntl(t, F_DUPFD, n0), e = errno;
	close(t);
	errno = e;
	return r;
}

/* ---- one operation ------------------------------------------------------------- */

/* What an op returned: its result, errno, the offset after it, a hash. */
struct opres {
	long r, off;
	int e;
	uint64_t sum;
};

static void do_op(struct ctxst *c, int idx, const struct fz_op *o, struct opres *res)
{
	const long *a = o->a;
	long r = 0, off = -1;
	int fe = 0; /* errno when a stdio op left the stream's error indicator set */
	uint64_t sum = 0;
	int fd = fdn(a[0]);
	FILE *fp = fpn(a[0]);
	size_t n = 0;
	char *p = NULL;
	struct iovec v[2];
	errno = 0;
	switch (o->op) {
	case OP_READ:
	case OP_PREAD:
	case OP_READV:
		p = range(a[1], a[2], a[3], &n);
		if (o->op == OP_READ) {
			r = read(fd, p, n);
		} else if (o->op == OP_PREAD) {
			r = pread(fd, p, n, a[4] < 0 ? 0 : a[4]);
		} else {
			size_t k = a[4] < 0 ? 0 : (size_t)a[4] > n ? n : (size_t)a[4];
			v[0] = (struct iovec){ p, k }, v[1] = (struct iovec){ p + k, n - k };
			r = readv(fd, v, 2);
		}
		off = offset_of(fd);
		c->last = r;
		if (o->op == OP_READ && a[4] && p)
			sum = fz_sum(p, n);
		break;
	case OP_WRITE:
	case OP_PWRITE:
	case OP_WRITEV:
	case OP_SEND:
		p = range(a[1], a[2], a[3] == -1 ? (c->last > 0 ? c->last : 0) : a[3], &n);
		if (o->op == OP_WRITE) {
			r = write(fd, p, n);
		} else if (o->op == OP_PWRITE) {
			r = pwrite(fd, p, n, a[4] < 0 ? 0 : a[4]);
		} else if (o->op == OP_WRITEV) {
			size_t k = a[4] < 0 ? 0 : (size_t)a[4] > n ? n : (size_t)a[4];
			v[0] = (struct iovec){ p, k }, v[1] = (struct iovec){ p + k, n - k };
			r = writev(fd, v, 2);
		} else {
			r = send(fd, p, n, (int)(a[4] & (MSG_NOSIGNAL | MSG_MORE)));
		}
		off = offset_of(fd);
		if (p)
			sum = fz_sum(p, n);
		break;
	case OP_PREADV:
	case OP_PWRITEV:
		p = range(a[1], a[2], a[3] == -1 ? (c->last > 0 ? c->last : 0) : a[3], &n);
		v[0] = (struct iovec){ p, n / 2 }, v[1] = (struct iovec){ p + n / 2, n - n / 2 };
		if (o->op == OP_PREADV)
			c->last = r = preadv(fd, v, 2, a[4] < 0 ? 0 : a[4]);
		else
			r = pwritev(fd, v, 2, a[4] < 0 ? 0 : a[4]);
		off = offset_of(fd);
		if (o->op == OP_PWRITEV && p)
			sum = fz_sum(p, n);
		break;
	case OP_SENDFILE: {
		/* The program's own kernel copy (into a file zcopy may be
		 * deferring reads of). */
		off_t at = a[3] < 0 ? 0 : a[3];
		size_t cnt = a[2] < 0 ? 0 : a[2] > (1L << 20) ? (1UL << 20) : (size_t)a[2];
		r = sendfile(fd, fdn(a[1]), a[3] < 0 ? NULL : &at, cnt);
		off = offset_of(fd);
		sum = (uint64_t)offset_of(fdn(a[1]));
		break;
	}
	case OP_FREAD:
	case OP_FWRITE:
		p = range(a[1], a[2], a[3] == -1 ? (c->last > 0 ? c->last : 0) : a[3], &n);
		if (!fp || !p)
			break;
		r = (long)(o->op == OP_FREAD ? fread(p, 1, n, fp) : fwrite(p, 1, n, fp));
		if (o->op == OP_FREAD)
			c->last = r;
		r = r * 4 + (ferror(fp) ? 2 : 0) + (feof(fp) ? 1 : 0);
		fe = ferror(fp) ? errno : 0;
		clearerr(fp);
		off = ftell_of(fp);
		sum = fz_sum(p, n);
		break;
	case OP_FPUTS: {
		/* Text between the chunks of a copy loop: glibc's buffer is
		 * partly full when the next large fwrite comes, or (line
		 * buffered) flushes at a newline. */
		char text[8193];
		size_t len = a[1] <= 0 ? 1 : a[1] > 8192 ? 8192 : (size_t)a[1];
		for (size_t i = 0; i < len; i++)
			text[i] = (char)('a' + ((size_t)idx + i) % 26);
		if ((a[2] & 4) && len > 2)
			text[len / 2] = '\n';
		if (a[2] & 2)
			text[len - 1] = '\n';
		text[len] = 0;
		if (!fp) {
			r = -2;
			break;
		}
		r = (a[2] & 1) ? fprintf(fp, "%s", text) : fputs(text, fp);
		fe = ferror(fp) ? errno : 0;
		clearerr(fp);
		break;
	}
	case OP_FSEEK:
		r = fp ? fseek(fp, a[1], (int)((unsigned long)a[2] % 3)) : -2;
		off = ftell_of(fp);
		break;
	case OP_FTELL:
		r = ftell_of(fp);
		break;
	case OP_FFLUSH:
		r = fp ? fflush(fp) : -2;
		break;
	case OP_UNGETC:
		r = !fp ? -2 : a[1] < 0 ? fgetc(fp) : (long)(a[1] & 0xff);
		if (fp && r != EOF)
			r = ungetc((int)r, fp);
		off = ftell_of(fp);
		break;
	case OP_SETVBUF: {
		static const int modes[] = { _IOFBF, _IOLBF, _IONBF };
		r = fp ? setvbuf(fp, NULL, modes[(unsigned long)a[1] % 3], 0) : -2;
		off = ftell_of(fp);
		break;
	}
	case OP_LSEEK:
		r = (long)lseek(fd, a[1], (int)((unsigned long)a[2] % 3));
		break;
	case OP_LREOPEN:
		r = lreopen(a[0], fzw.path[(unsigned long)a[1] % NFILES], a[2] & 1);
		break;
	case OP_FTRUNC:
		r = ftruncate(fd, a[1] < 0 ? 0 : a[1] > (8L << 20) ? (8L << 20) : a[1]);
		off = offset_of(fd);
		break;
	case OP_CLOSE:
		r = close(fd);
		break;
	case OP_OPEN:
		if (a[0] < 0 || a[0] >= NFDS)
			break;
		r = open(fzw.path[(unsigned long)a[1] % NFILES], open_flags[(unsigned long)a[2] % 4], 0644);
		if (r >= 0 && (a[2] & OPEN_AT) && r != fzw.fd[a[0]]) {
			/* The slot's own number, whatever the lowest free one. */
			int t = (int)r;
			r = dup2(t, fzw.fd[a[0]]);
			close(t);
		}
		if (r >= 0)
			fzw.fd[a[0]] = (int)r;
		break;
	case OP_DUP2: {
		long to = a[1] == DUP2_HIGH ? FD_HIGH : a[1];
		if (to < 0 || to >= NFDS)
			break;
		r = dup2(fd, a[1] == DUP2_HIGH ? fzw.highfd : fzw.fd[to]);
		if (r >= 0)
			fzw.fd[to] = (int)r;
		break;
	}
	case OP_MEMCPY: {
		size_t n2;
		p = range(a[0], a[1], a[4], &n);
		char *q = range(a[2], a[3], (long)n, &n2);
		if (p && q) {
			memmove(p, q, n2);
			sum = fz_sum(p, n2);
		}
		break;
	}
	case OP_MEMSET:
		p = range(a[0], a[1], a[2], &n);
		if (p)
			memset(p, (int)a[3], n);
		break;
	case OP_POKE:
		p = range(a[0], a[1], 1, &n);
		if (n)
			*p = (char)a[2];
		break;
	case OP_SUM:
		p = range(a[0], a[1], a[2], &n);
		if (p)
			sum = fz_sum(p, n);
		break;
	case OP_ALLOC:
		if (a[0] < 0 || a[0] >= NBUFS)
			break;
		fz_buf_release((int)a[0]);
		r = fz_buf_alloc((int)a[0], (int)((unsigned long)a[1] % BK__COUNT), (size_t)labs(a[2]),
			      (uint64_t)idx);
		r = r < 0 ? r : (long)fzw.b[a[0]].size;
		break;
	case OP_REALLOC: {
		if (a[0] < 0 || a[0] >= NBUFS || !fzw.b[a[0]].p)
			break;
		struct fz_buf *b = &fzw.b[a[0]];
		if (b->kind == BK_STATIC || b->kind == BK_MMAP) {
			r = -2;
			break;
		}
		size_t ns = (size_t)labs(a[1]) % MAX_BUF + 1;
		char *np = realloc(b->p, ns);
		if (!np)
			abort();
		sum = fz_sum(np, ns < b->size ? ns : b->size);
		if (ns > b->size)
			fz_fill(np + b->size, ns - b->size, (uint64_t)idx);
		b->p = np, b->size = ns, b->kind = ns < 128 * 1024 ? BK_SMALL : BK_PAGE16;
		r = (long)ns;
		break;
	}
	case OP_MADV: {
		/* Which bytes of a malloc block it zeroes would depend on where
		 * the heap put the block: only memory that is page-aligned by
		 * construction. */
		if (a[0] < 0 || a[0] >= NBUFS ||
		    (fzw.b[a[0]].kind != BK_ALIGNED && fzw.b[a[0]].kind != BK_STATIC &&
		     fzw.b[a[0]].kind != BK_MMAP)) {
			r = -2;
			break;
		}
		p = range(a[0], a[1], a[2], &n);
		uintptr_t lo = ((uintptr_t)p + PAGE - 1) & ~(PAGE - 1);
		uintptr_t hi = ((uintptr_t)p + n) & ~(PAGE - 1);
		if (p && hi > lo) {
			r = madvise((void *)lo, hi - lo, MADV_DONTNEED);
			sum = fz_sum((void *)lo, hi - lo);
		}
		break;
	}
	case OP_REMAP: {
		if (a[0] < 0 || a[0] >= NBUFS || !fzw.b[a[0]].p)
			break;
		struct fz_buf *b = &fzw.b[a[0]];
		if (b->kind == BK_MMAP) {
			/* Unmapped and mapped anew: fresh zero pages, wherever they land. */
			r = munmap(b->p, b->size);
			b->p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (b->p == MAP_FAILED)
				abort();
			sum = fz_sum(b->p, b->size);
		} else if (b->kind == BK_STATIC || b->kind == BK_ALIGNED) {
			/* Fresh anonymous pages mapped over the buffer's own. */
			size_t len = b->size & ~(PAGE - 1);
			void *m = len ? mmap(b->p, len, PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) : b->p;
			r = m == MAP_FAILED ? -1 : 0;
			sum = fz_sum(b->p, b->size);
		} else {
			r = -2;
		}
		break;
	}
	case OP_MMAPW: {
		/* The file changed by stores through a shared mapping of it. */
		long at = a[1] < 0 ? 0 : a[1] & ~(long)(PAGE - 1);
		size_t len = a[2] <= 0 ? 1 : a[2] > (1L << 20) ? (1UL << 20) : (size_t)a[2];
		char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, at);
		if (m == MAP_FAILED) {
			r = -1;
			break;
		}
		/* Only bytes inside the file: past its end a store would fault. */
		struct stat st;
		size_t in = fstat(fd, &st) || st.st_size <= at ? 0 : (size_t)(st.st_size - at);
		memset(m, (int)a[3], len < in ? len : in);
		r = munmap(m, len);
		off = offset_of(fd);
		break;
	}
	case OP_STOP:
	case OP_CONT:
		if (c->ctx == CTX_CHILD) {
			r = -2; /* the readers are the parent's children */
			break;
		}
		r = o->op == OP_STOP ? fz_reader_stop((int)((unsigned long)a[0] % 2))
				     : fz_reader_cont((int)((unsigned long)a[0] % 2));
		break;
	case OP_SIG:
		/* (How 4, the jump, is SIGUSR1's alone.) */
		r = fz_sig_set((int)((unsigned long)a[0] % 3),
			       (int)((unsigned long)a[1] % ((unsigned long)a[0] % 3 == 2 ? 5 : 4)));
		risky = 1;
		break;
	case OP_RLIMIT: {
		struct rlimit rl;
		r = getrlimit(RLIMIT_FSIZE, &rl);
		if (r < 0)
			break;
		rl.rlim_cur = a[0] <= 0 || (rlim_t)a[0] > rl.rlim_max ? rl.rlim_max : (rlim_t)a[0];
		r = setrlimit(RLIMIT_FSIZE, &rl);
		fsize_limited = rl.rlim_cur != rl.rlim_max;
		risky = 1;
		break;
	}
	case OP_PEER:
		if (c->ctx == CTX_CHILD) {
			r = -2; /* the readers are the parent's children */
			break;
		}
		r = fz_reader_quit((int)((unsigned long)a[0] % 2), 1);
		risky = 1;
		break;
	case OP_ARM:
		r = c->ctx == CTX_MAIN ? fz_helper_arm(a) : -2;
		risky = 1;
		break;
	default:
		break;
	}
	res->e = r < 0 ? errno : fe;
	res->r = r, res->off = off, res->sum = sum;
}

/* An fd op that writes a range of the buffers (its bytes are hashed). */
static int writes_range(const struct fz_op *o)
{
	switch (o->op) {
	case OP_WRITE:
	case OP_PWRITE:
	case OP_WRITEV:
	case OP_SEND:
	case OP_PWRITEV:
		return 1;
	default:
		return 0;
	}
}

static int is_fp_op(const struct fz_op *o)
{
	switch (o->op) {
	case OP_FREAD:
	case OP_FWRITE:
	case OP_FSEEK:
	case OP_FTELL:
	case OP_FFLUSH:
	case OP_UNGETC:
	case OP_SETVBUF:
	case OP_FPUTS:
		return 1;
	default:
		return 0;
	}
}

/* FILE slots main left an op on by a jump: glibc's lock of the FILE stays
 * held by main (recursive, so main goes on using it), and the second
 * thread would wait for it for ever, in every run.  (The generator never
 * has the thread use these FILEs; a hand-made script might.) */
static int fp_jumped[NFPS_ALL];

/*
 * The handler jumped out of op o (sig 2 4): the op never returned.  Logged
 * with r = -3 and errno as the jump left it; the fd's offset, or for a
 * FILE its position and what its buffer holds (glibc's buffer keeps the
 * part that filled it when the jump came during its write), its error and
 * end indicators as they are (not cleared: they are part of the state the
 * jump left); and the hash of the op's bytes (unchanged, a write does not
 * change its buffer).
 */
static void jumped(struct ctxst *c, int idx, const struct fz_op *o, struct opres *res, char *more,
		   size_t cap)
{
	const long *a = o->a;
	res->e = errno;
	res->r = -3, res->sum = 0;
	if (writes_range(o) || o->op == OP_FWRITE) {
		size_t n = 0;
		char *p = range(a[1], a[2], a[3] == -1 ? (c->last > 0 ? c->last : 0) : a[3], &n);
		if (p)
			res->sum = fz_sum(p, n);
	}
	FILE *fp = is_fp_op(o) ? fpn(a[0]) : NULL;
	if (fp) {
		res->off = ftell_of(fp);
		int e = errno;
		snprintf(more, cap, " jump p%zu f%d%d", __fpending(fp), ferror(fp) != 0, feof(fp) != 0);
		errno = e;
		fp_jumped[a[0]] = 1;
	} else {
		res->off = offset_of(fdn(a[0]));
		snprintf(more, cap, " jump");
	}
	if (fz_verbose)
		fprintf(stderr, "fuzz: op %d: the handler jumped out of it\n", idx);
}

/* The fd op o may write into (a FILE op may flush into its fd), or -1. */
static int dest_of(const struct fz_op *o)
{
	if (writes_range(o) || o->op == OP_SENDFILE)
		return fdn(o->a[0]);
	if (is_fp_op(o) && fpn(o->a[0])) {
		int e = errno, fd = fileno(fpn(o->a[0]));
		errno = e;
		return fd;
	}
	return -1;
}

static void exec_one(struct ctxst *c, int idx, const struct fz_op *o)
{
	static sigjmp_buf env; /* main's alone */
	const long *a = o->a;
	struct opres res = { .r = 0, .off = -1 };
	char more[64] = "";
	c->nops++;
	if (risky && c->direct)
		flush_log(c);
	if (changes_file(o) || sendfile_into_pipe(o))
		fz_readers_drain();
	if (c->ctx == CTX_MAIN)
		fz_helper_start(idx, dest_of(o)); /* if the last op armed it */
	if (c->ctx == CTX_THREAD && is_fp_op(o) && a[0] >= 0 && a[0] < NFPS_ALL && fp_jumped[a[0]]) {
		res.r = -2;
	} else if (c->ctx == CTX_MAIN && fz_jump_on()) {
		/* As a program with a timeout does: sigsetjmp before the
		 * write, and the handler's siglongjmp comes back here. */
		if (sigsetjmp(env, 1) == 0) {
			fz_jump_enter(&env);
			do_op(c, idx, o, &res);
			fz_jump_leave();
		} else {
			jumped(c, idx, o, &res, more, sizeof more);
		}
	} else {
		do_op(c, idx, o, &res);
	}
	char helper[160] = "", sg[48] = "";
	if (c->ctx == CTX_MAIN)
		fz_helper_join(helper, sizeof helper);
	unsigned n3[3];
	fz_sig_counts(n3);
	if (n3[0] || n3[1] || n3[2])
		snprintf(sg, sizeof sg, " g%u.%u.%u", n3[0], n3[1], n3[2]);
	lg(c, "%d %c %s %ld %ld %ld %ld %ld = %ld e%d o%ld s%016llx%s%s\n", idx, o->ctx,
	   fz_op_names[o->op], a[0], a[1], a[2], a[3], a[4], res.r, res.e, res.off,
	   (unsigned long long)res.sum, sg, more);
	if (*helper)
		lg(c, "%d h helper %s\n", idx, helper);
}

/* ---- contexts -------------------------------------------------------------------- */

static void *thread_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < T.nrun; i++)
		exec_one(&T.c, T.run[i], &T.s->ops[T.run[i]]);
	return NULL;
}

static void join_thread(struct ctxst *c, int idx)
{
	if (!T.live)
		return;
	pthread_join(T.th, NULL);
	T.live = 0;
	lg(c, "%d m join: thread ran %ld ops\n", idx, T.c.nops);
	c->nops += T.c.nops;
	for (size_t i = 0; i < T.c.len;) {
		/* Appended line by line so the direct log keeps flushing small. */
		char *nl = memchr(T.c.log + i, '\n', T.c.len - i);
		size_t l = nl ? (size_t)(nl - (T.c.log + i)) + 1 : T.c.len - i;
		lg(c, "%.*s", (int)l, T.c.log + i);
		i += l;
	}
	T.c.len = 0, T.c.nops = 0;
}

static void finish(struct ctxst *c)
{
	join_thread(c, -1);
	fz_helper_disarm(); /* armed, but no op followed */
	unsigned n3[3];
	fz_sig_counts(n3);
	lg(c, "end signals %u %u %u\n", n3[0], n3[1], n3[2]);
	for (int i = 0; i < NBUFS; i++)
		lg(c, "end buf %d size %zu s%016llx\n", i, fzw.b[i].size,
		   (unsigned long long)fz_sum(fzw.b[i].p, fzw.b[i].size));
	for (int i = 0; i < NFPS; i++) {
		if (fp_pending(fzw.fp[i]))
			fz_readers_drain(); /* fclose writes them */
		lg(c, "end fclose %d = %d\n", i, fclose(fzw.fp[i]));
	}
	{
		char line[100];
		fz_ssrc_rest(line, sizeof line);
		lg(c, "end ssrc left %s\n", line);
	}
	for (int i = 0; i < 2; i++)
		fz_reader_cont(i);
	flush_log(c);
	/* The pipe's and the socket's FILEs (--stdio-pipe) last, their
	 * readers going on: fclose writes what they hold (EPIPE, and SIGPIPE,
	 * once the reader quit). */
	for (int i = NFPS; i < NFPS_ALL; i++) {
		if (!fzw.fp[i])
			continue;
		if (fp_pending(fzw.fp[i]) && fp_to_file(i))
			fz_readers_drain();
		errno = 0;
		int r = fclose(fzw.fp[i]);
		lg(c, "end fclose %d = %d e%d\n", i, r, r ? errno : 0);
		flush_log(c);
	}
	fz_close_all_but(-1, -1); /* the readers see EOF */
	for (int i = 0; i < 3; i++) {
		char line[200];
		int st;
		fz_reader_result(i, line, sizeof line, &st);
		lg(c, "end reader status %d %s", st, line);
	}
	for (int i = 0; i < NFILES; i++) {
		uint64_t bytes, h = fz_file_hash(i, &bytes);
		lg(c, "end file %d bytes %llu hash %016llx\n", i, (unsigned long long)bytes,
		   (unsigned long long)h);
	}
	lg(c, "end ops %ld\n", c->nops);
	flush_log(c);
}

int fz_run(const struct fz_setup *w, const struct fz_script *s, const unsigned char *keep,
	   const char *dir)
{
	T.s = s;
	if (fz_world_setup(w, dir) < 0) {
		perror("fuzz: setting up the world");
		return 2;
	}
	int *idx = malloc(sizeof(int) * (size_t)(s->n + 1)), m = 0;
	T.run = malloc(sizeof(int) * (size_t)(s->n + 1));
	if (!idx || !T.run)
		abort();
	for (int i = 0; i < s->n; i++)
		if (!keep || keep[i])
			idx[m++] = i;
	struct ctxst mc = { .ctx = CTX_MAIN, .direct = 1 };
	T.c.ctx = CTX_THREAD;
	for (int k = 0; k < m; k++) {
		const struct fz_op *o = &s->ops[idx[k]];
		/* The lines a fork or spawn owns: the next ones of the other context. */
		char want = o->op == OP_FORK ? CTX_CHILD : CTX_THREAD;
		int e = k + 1;
		if (o->ctx == CTX_MAIN && (o->op == OP_FORK || o->op == OP_SPAWN))
			while (e < m && s->ops[idx[e]].ctx == want)
				e++;
		/* Signals, limits and readers that quit are the whole process's:
		 * the thread (which works on its own files) is joined first, so
		 * that what it did is the same whenever the process dies. */
		if (o->ctx == CTX_MAIN && T.live &&
		    (o->op == OP_SIG || o->op == OP_RLIMIT || o->op == OP_PEER || o->op == OP_ARM))
			join_thread(&mc, idx[k]);
		if (o->ctx != CTX_MAIN || (o->op != OP_FORK && o->op != OP_SPAWN && o->op != OP_JOIN)) {
			exec_one(&mc, idx[k], o); /* lines with no fork or thread run here */
			continue;
		}
		if (o->op == OP_JOIN) {
			if (!T.live)
				lg(&mc, "%d m join: none\n", idx[k]);
			join_thread(&mc, idx[k]);
		} else if (o->op == OP_SPAWN) {
			join_thread(&mc, idx[k]);
			T.nrun = 0;
			for (int j = k + 1; j < e; j++)
				T.run[T.nrun++] = idx[j];
			lg(&mc, "%d m spawn %d ops\n", idx[k], T.nrun);
			T.live = pthread_create(&T.th, NULL, thread_main, NULL) == 0;
		} else {
			flush_log(&mc);
			pid_t pid = fork();
			if (pid == 0) {
				fz_world_forked();
				struct ctxst cc = { .ctx = CTX_CHILD, .direct = 1 };
				for (int j = k + 1; j < e; j++)
					exec_one(&cc, idx[j], &s->ops[idx[j]]);
				flush_log(&cc);
				_exit(0);
			}
			int st = -1;
			if (pid > 0)
				waitpid(pid, &st, 0);
			mc.nops += e - k - 1;
			lg(&mc, "%d m fork: child of %d ops status %d\n", idx[k], e - k - 1, st);
		}
		k = e - 1;
	}
	finish(&mc);
	free(idx);
	return 0;
}
