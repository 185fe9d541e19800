/*
 * gen.c - the fuzzer's script generator and the script text format.
 *
 * Owns what a seed means: the initial world (file sizes, buffer kinds) and
 * the op list.  The two come from separate random streams so that a subset of
 * the ops still runs on the very same world.  The generator is biased towards
 * what makes zcopy engage: long read->write chains of large chunks from a
 * file at page-multiple offsets, into page-aligned buffers, to a file, pipe
 * or socket, with the program's own meddling (edits, frees, truncation,
 * writes to the source, forks, fd reuse) dropped in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "gen.h"

#define FZ_NAME(e, s) s,
const char *const fz_op_names[OP__COUNT] = { FZ_OPS(FZ_NAME) };
#undef FZ_NAME

/* ---- the world -------------------------------------------------------------- */

static size_t pick_buf_size(uint64_t *r, int kind)
{
	switch (kind) {
	case BK_SMALL:
		return 256 + (size_t)fz_below(r, 16 * 1024);
	case BK_PAGE16:
		return 128 * 1024 + (size_t)fz_below(r, 900 * 1024);
	default: /* page multiples, 64 KiB .. 1 MiB */
		return (size_t)(16 + fz_below(r, 241)) * PAGE;
	}
}

void fz_setup_from_seed(uint64_t seed, struct fz_setup *w)
{
	uint64_t r = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
	w->seed = seed;
	for (int i = 0; i < 4; i++)
		fz_rand(&r);
	for (int i = 0; i < NFILES; i++) {
		long p = fz_below(&r, 100);
		if (p < 5)
			w->file_size[i] = 0;
		else if (p < 20)
			w->file_size[i] = 1 + (size_t)fz_below(&r, 20000);
		else if (p < 80)
			w->file_size[i] = (size_t)(16 + fz_below(&r, 500)) * PAGE;
		else
			w->file_size[i] = (size_t)fz_below(&r, 3 << 20);
	}
	/* Every kind is present in each world; the last slots vary. */
	static const int fixed[6] = { BK_ALIGNED, BK_PAGE16, BK_SMALL, BK_STATIC, BK_MMAP, BK_ALIGNED };
	for (int i = 0; i < NBUFS; i++) {
		int k = i < 5 ? fixed[i] : (int)fz_below(&r, BK__COUNT);
		if (k == BK_SMALL && i >= 5)
			k = BK_ALIGNED;
		w->buf_kind[i] = k;
		w->buf_size[i] = pick_buf_size(&r, k);
	}
	for (int i = 0; i < NFPS; i++)
		w->fp_file[i] = (int)fz_below(&r, 4);
	w->append_slot = fz_below(&r, 4) == 0 ? (int)fz_below(&r, 4) : -1;
	/* Drawn last, so the rest of the world is what it was before. */
	w->ssrc_tcp = (int)fz_below(&r, 2);
	w->ssrc_bytes = fz_below(&r, 8) == 0 ? (size_t)fz_below(&r, 20000)
					      : 16384 + (size_t)fz_below(&r, 1 << 20);
	w->ssrc_seed = fz_rand(&r);
	/* One seed in three writes small pieces only: more socket buffers
	 * than a read's pipe has slots for the bytes asked. */
	w->ssrc_small = fz_below(&r, 3) == 0;
	if (w->ssrc_small && w->ssrc_bytes > 256 * 1024)
		w->ssrc_bytes = 256 * 1024;
}

/* ---- the script --------------------------------------------------------------- */

void fz_script_push(struct fz_script *s, char ctx, int op, long a0, long a1, long a2, long a3,
		    long a4)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->ops = realloc(s->ops, (size_t)s->cap * sizeof *s->ops);
		if (!s->ops)
			abort();
	}
	struct fz_op *o = &s->ops[s->n++];
	o->ctx = ctx;
	o->op = (uint8_t)op;
	o->a[0] = a0, o->a[1] = a1, o->a[2] = a2, o->a[3] = a3, o->a[4] = a4;
}

long gen_chunk_size(struct gen *g)
{
	static const long common[] = { 65536, 131072, 262144, 16384, 32768, 524288, 65536, 131072 };
	long p = fz_below(&g->r, 100);
	if (p < 70)
		return common[fz_below(&g->r, 8)];
	if (p < 90)
		return (4 + fz_below(&g->r, 125)) * PAGE;
	return 1000 + fz_below(&g->r, 300000);
}

int gen_pick_buf(struct gen *g)
{
	return g->lo_buf + (int)fz_below(&g->r, g->nbuf);
}

long gen_buf_off(struct gen *g)
{
	long p = fz_below(&g->r, 100);
	if (p < 70)
		return 0;
	if (p < 85)
		return PAGE - 16; /* makes a page+16 block page aligned */
	return fz_below(&g->r, 2 * PAGE);
}

/* A main-context file fd slot (slot 10 starts as a second open of f0). */
int gen_main_file_fd(struct gen *g)
{
	if (fz_sock_src && P(g, 40))
		return FD_SSRC; /* drawn only then: other seeds keep their scripts */
	return P(g, 90) ? (int)fz_below(&g->r, 4) : FD_SPARE;
}

int gen_main_dest_fd(struct gen *g, int src)
{
	long p = fz_below(&g->r, 100);
	if (p < 35) {
		int d = (int)fz_below(&g->r, 4);
		return d == src && P(g, 70) ? (d + 1) % 4 : d;
	}
	if (p < 60)
		return FD_PIPE;
	if (p < 80)
		return FD_SOCK;
	if (p < 92)
		return FD_NULL;
	if (p < 96)
		return FD_DGRAM;
	return FD_SPARE;
}

/* Something the program does to its world between a read and a write. */
static void meddle(struct gen *g, int src, int dst, int buf, long boff, long len, long pos)
{
	int thread = g->ctx == CTX_THREAD;
	long p = fz_below(&g->r, thread ? 45 : 100);
	if (p < 8)
		EMIT(g, OP_POKE, buf, boff + fz_below(&g->r, len + 1), fz_below(&g->r, 256), 0, 0);
	else if (p < 14)
		EMIT(g, OP_MEMSET, buf, boff + fz_below(&g->r, len + 1), fz_below(&g->r, 3 * PAGE),
		     fz_below(&g->r, 256), 0);
	else if (p < 20)
		EMIT(g, OP_SUM, buf, boff + fz_below(&g->r, len + 1), fz_below(&g->r, len + 1), 0, 0);
	else if (p < 25)
		EMIT(g, OP_MADV, buf, boff + fz_below(&g->r, len + 1), fz_below(&g->r, len + 1), 0, 0);
	else if (p < 29)
		EMIT(g, OP_FTRUNC, src, pos + fz_below(&g->r, len + PAGE), 0, 0, 0);
	else if (p < 34)
		EMIT(g, OP_PWRITE, P(g, 50) ? src : dst, g->lo_buf + (int)fz_below(&g->r, g->nbuf),
		     fz_below(&g->r, PAGE), 1 + fz_below(&g->r, 2 * PAGE), pos + fz_below(&g->r, len + 1));
	else if (p < 38)
		EMIT(g, OP_MEMCPY, buf, boff + fz_below(&g->r, len + 1), gen_pick_buf(g),
		     fz_below(&g->r, len + 1), fz_below(&g->r, len + 1));
	else if (p < 41)
		EMIT(g, OP_ALLOC, buf, fz_below(&g->r, BK__COUNT), 65536 + fz_below(&g->r, 1 << 20), 0, 0);
	else if (p < 45)
		EMIT(g, OP_REALLOC, buf, 4096 + fz_below(&g->r, 1 << 20), 0, 0, 0);
	else if (p < 50)
		EMIT(g, OP_REMAP, buf, 0, 0, 0, 0);
	else if (p < 56)
		EMIT(g, OP_LSEEK, src, fz_below(&g->r, 3) == 0 ? -len : 0, SEEK_CUR, 0, 0);
	else if (p < 62 && !g->thread_live) {
		/* The source file opened again, truncating it. */
		EMIT(g, OP_CLOSE, FD_HIGH, 0, 0, 0, 0);
		EMIT(g, OP_OPEN, FD_HIGH, src < 4 ? src : 0, P(g, 50) ? 3 : 0, 0, 0);
	} else if (p < 68) {
		int fp = (int)fz_below(&g->r, NFPS);
		EMIT(g, OP_FSEEK, fp, pos + fz_below(&g->r, len + 1), SEEK_SET, 0, 0);
		EMIT(g, OP_FWRITE, fp, gen_pick_buf(g), fz_below(&g->r, PAGE), 1 + fz_below(&g->r, 3 * PAGE), 0);
		EMIT(g, OP_FFLUSH, fp, 0, 0, 0, 0);
	} else if (p < 74 && !g->thread_live) {
		EMIT(g, OP_CLOSE, src, 0, 0, 0, 0);
		if (P(g, 60))
			EMIT(g, OP_OPEN, src, (int)fz_below(&g->r, 4), fz_below(&g->r, 3), 0, 0);
	} else if (p < 78 && !g->thread_live) {
		static const int from[] = { 0, 1, 2, 3, FD_PIPE, FD_SOCK, FD_NULL, FD_SPARE };
		EMIT(g, OP_DUP2, from[fz_below(&g->r, 8)], P(g, 70) ? src : dst, 0, 0, 0);
	} else if (p < 88) {
		/* A child that changes the shared files, then exits. */
		EMIT(g, OP_FORK, 0, 0, 0, 0, 0);
		char saved = g->ctx;
		g->ctx = CTX_CHILD;
		long q = fz_below(&g->r, 4);
		if (q == 0)
			EMIT(g, OP_PWRITE, src, gen_pick_buf(g), 0, 1 + fz_below(&g->r, len + 1),
			     pos + fz_below(&g->r, len + 1));
		else if (q == 1)
			EMIT(g, OP_FTRUNC, src, pos + fz_below(&g->r, len + 1), 0, 0, 0);
		else if (q == 2)
			EMIT(g, OP_READ, src, buf, boff, len, 1);
		else
			EMIT(g, OP_WRITE, dst, buf, boff, len, 0);
		if (P(g, 50))
			EMIT(g, OP_SUM, buf, 0, 1 << 20, 0, 0);
		g->ctx = saved;
	} else if (p < 94 && !g->thread_live) {
		EMIT(g, OP_DUP2, src, DUP2_HIGH, 0, 0, 0);
	} else if (p < 95 && src != FD_SSRC) {
		/* The program's own sendfile into its source, over what it read.
		 * (Not into the socket source: its peer is gone, and whether a
		 * TCP send after the peer's FIN fails depends on when its RST
		 * comes back.) */
		EMIT(g, OP_LSEEK, src, pos + fz_below(&g->r, len + 1), SEEK_SET, 0, 0);
		EMIT(g, OP_SENDFILE, src, (int)fz_below(&g->r, 4), 1 + fz_below(&g->r, 2 * PAGE),
		     fz_below(&g->r, 1 << 20), 0);
	} else if (p < 97) {
		EMIT(g, OP_MMAPW, src, pos + fz_below(&g->r, len + 1), 1 + fz_below(&g->r, 2 * PAGE),
		     fz_below(&g->r, 256), 0);
	} else {
		EMIT(g, OP_POKE, buf, boff + len - 1, fz_below(&g->r, 256), 0, 0);
	}
}

/* How a copy loop reads and writes. */
enum style { ST_RW, ST_PP, ST_VV, ST_RS, ST_PS, ST_FW, ST_FF, ST_PV };

static enum style pick_style(struct gen *g, int dst)
{
	long p = fz_below(&g->r, 100);
	int sock = dst == FD_SOCK || dst == FD_DGRAM;
	if (p < 55)
		return ST_RW;
	if (p < 65)
		return ST_PP;
	if (p < 71)
		return ST_VV;
	if (p < 75)
		return ST_PV;
	if (p < 85)
		return !sock ? ST_RW : p < 80 ? ST_RS : ST_PS;
	if (g->ctx == CTX_THREAD)
		return ST_RW; /* the FILE slots are main's: sharing them would race */
	return p < 93 ? ST_FW : ST_FF;
}

/* A read->write copy loop of `steps` chunks. */
void gen_chain(struct gen *g, int src, int dst, int steps)
{
	int buf = gen_pick_buf(g);
	long boff = gen_buf_off(g), len = gen_chunk_size(g);
	long pos = P(g, 80) ? fz_below(&g->r, 128) * PAGE : fz_below(&g->r, 1 << 20);
	long opos = fz_below(&g->r, 64) * PAGE;
	enum style st = pick_style(g, dst);
	/* A socket has no offsets (pread is ESPIPE) and no FILE here: the
	 * reads of a receiver are read, readv, and read before a send. */
	if (src == FD_SSRC && st != ST_RW && st != ST_VV && st != ST_RS)
		st = ST_RW;
	int fp = (int)fz_below(&g->r, NFPS);
	/* A new malloc block for every read, as python and perl make them (the
	 * freed one usually comes back at the same address). */
	int fresh = P(g, 10);
	if (st == ST_FW || st == ST_FF)
		EMIT(g, OP_FSEEK, fp, pos, SEEK_SET, 0, 0);
	else if (st != ST_PP && st != ST_PS && st != ST_PV)
		EMIT(g, OP_LSEEK, src, pos, SEEK_SET, 0, 0);
	for (int i = 0; i < steps; i++) {
		int check = P(g, 8);
		long split = P(g, 50) ? len / 2 : PAGE * fz_below(&g->r, 4);
		if (fresh)
			EMIT(g, OP_ALLOC, buf, BK_PAGE16, boff + len, 0, 0);
		if (st == ST_RW || st == ST_RS)
			EMIT(g, OP_READ, src, buf, boff, len, check);
		else if (st == ST_PP || st == ST_PS)
			EMIT(g, OP_PREAD, src, buf, boff, len, pos);
		else if (st == ST_VV)
			EMIT(g, OP_READV, src, buf, boff, len, split);
		else if (st == ST_PV)
			EMIT(g, OP_PREADV, src, buf, boff, len, pos);
		else
			EMIT(g, OP_FREAD, fp, buf, boff, len, 0);
		if (P(g, 15))
			meddle(g, src, dst, buf, boff, len, pos);
		long wl = P(g, 90) ? -1 : fz_below(&g->r, len + 1);
		/* The reader stopped while the written bytes sit in the pipe or
		 * socket, then the source changes.  By default the executor lets
		 * the reader take them before the change (what it would see
		 * otherwise is zcopy's documented limit); with --in-flight this
		 * is the case that shows the limit. */
		int stall = g->ctx == CTX_MAIN && (dst == FD_PIPE || dst == FD_SOCK) &&
			    len <= 65536 && (st == ST_RW || st == ST_FW || st == ST_RS) && P(g, 8);
		if (stall)
			EMIT(g, OP_STOP, dst == FD_PIPE ? 0 : 1, 0, 0, 0, 0);
		if (st == ST_RW || st == ST_FW)
			EMIT(g, OP_WRITE, dst, buf, boff, wl, 0);
		else if (st == ST_PP)
			EMIT(g, OP_PWRITE, dst, buf, boff, wl, opos);
		else if (st == ST_VV)
			EMIT(g, OP_WRITEV, dst, buf, boff, wl, split);
		else if (st == ST_PV)
			EMIT(g, OP_PWRITEV, dst, buf, boff, wl, opos);
		else if (st == ST_FF)
			EMIT(g, OP_FWRITE, (fp + 1) % NFPS, buf, boff, wl, 0);
		else
			EMIT(g, OP_SEND, dst, buf, boff, wl, P(g, 50) ? MSG_NOSIGNAL : 0);
		if (stall) {
			long q = fz_below(&g->r, 3), at = pos + fz_below(&g->r, len + 1);
			if (q == 0)
				EMIT(g, OP_FTRUNC, src, at, 0, 0, 0);
			else if (q == 1)
				EMIT(g, OP_PWRITE, src, gen_pick_buf(g), 0, 1 + fz_below(&g->r, 2 * PAGE), at);
			else
				EMIT(g, OP_MMAPW, src, at, 1 + fz_below(&g->r, 2 * PAGE), fz_below(&g->r, 256), 0);
			EMIT(g, OP_CONT, dst == FD_PIPE ? 0 : 1, 0, 0, 0, 0);
		}
		if (P(g, 4))
			meddle(g, src, dst, buf, boff, len, pos);
		pos += len;
		opos += len;
	}
}

/* ---- --stdio-pipe: fwrite into a pipe or a socket ----------------------------- */

int gen_stdio_dest(struct gen *g)
{
	int sock = P(g, 35);
	if (g->gone[sock])
		sock = !sock;
	return g->gone[sock] ? -1 : sock ? FP_SOCK : FP_PIPE;
}

/* A request of 16 KiB .. 1 MiB, as cat-like programs and stdio copy loops
 * make them. */
static long stdio_chunk(struct gen *g)
{
	static const long sizes[] = { 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 65536 };
	long p = fz_below(&g->r, 100);
	if (p < 70)
		return sizes[fz_below(&g->r, 8)];
	if (p < 90)
		return (4 + fz_below(&g->r, 253)) * PAGE;
	return 16384 + fz_below(&g->r, (1 << 20) - 16384 + 1);
}

void gen_stdio_text(struct gen *g, int fp)
{
	/* Mostly a line or two; sometimes most of glibc's 4 KiB buffer, or
	 * more than it holds. */
	long p = fz_below(&g->r, 100);
	long n = p < 60 ? 1 + fz_below(&g->r, 80)
		 : p < 90 ? 1 + fz_below(&g->r, 4095)
			  : 4096 + fz_below(&g->r, 4096);
	EMIT(g, OP_FPUTS, fp, n, fz_below(&g->r, 8), 0, 0);
}

/*
 * A copy loop from a file into the FILE on the pipe or the socket: read or
 * fread large chunks, fwrite each, with a few bytes of text between them
 * (so that glibc's buffer is partly full when a large fwrite comes: the
 * page glibc writes first ends inside the chunk), fflush at random points
 * (after one, that page is the chunk's first, whole: zcopy sends it to a
 * pipe with the whole blocks after it as one write of two), the buffering
 * mode set before the stream's first use, the program's meddling, and a
 * reader that stops while the source changes.
 */
void gen_stdio_loop(struct gen *g, int src, int fp, int steps)
{
	int dst = fp == FP_SOCK ? FD_SOCK : FD_PIPE;
	/* One loop in three freads from a FILE on a file (the same file as
	 * the fd slot of its number: slots 0..3 are f0..f3). */
	int sfp = P(g, 33) ? (int)fz_below(&g->r, NFPS) : -1;
	if (sfp >= 0)
		src = g->w.fp_file[sfp];
	if (!g->fp_used[fp - NFPS]) {
		g->fp_used[fp - NFPS] = 1;
		if (P(g, 60)) /* before the first use, as setvbuf wants */
			EMIT(g, OP_SETVBUF, fp, fz_below(&g->r, 3), 0, 0, 0);
	}
	int buf = gen_pick_buf(g), fresh = P(g, 10);
	long boff = P(g, 80) ? 0 : gen_buf_off(g), len = stdio_chunk(g), pos;
	/* Mostly from a file with bytes to read (as the world starts: the
	 * script may have changed it since), and chunks it has room for. */
	int file = src < 4 ? src : src == FD_SPARE ? 0 : -1;
	for (int k = 0; k < 4 && sfp < 0 && file >= 0 && g->w.file_size[file] < 65536 && P(g, 85); k++)
		src = file = (int)fz_below(&g->r, 4);
	long size = file >= 0 ? (long)g->w.file_size[file] : 1L << 20;
	while (len > 16384 && len * 4 > size && P(g, 80))
		len /= 2;
	if (size > len && P(g, 85))
		pos = fz_below(&g->r, (size - len) / PAGE + 1) * PAGE;
	else
		pos = P(g, 80) ? fz_below(&g->r, 128) * PAGE : fz_below(&g->r, 1 << 20);
	int text = P(g, 50) ? 50 : 10; /* how often text comes between chunks */
	if (sfp >= 0)
		EMIT(g, OP_FSEEK, sfp, pos, SEEK_SET, 0, 0);
	else
		EMIT(g, OP_LSEEK, src, pos, SEEK_SET, 0, 0);
	for (int i = 0; i < steps; i++) {
		if (fresh)
			EMIT(g, OP_ALLOC, buf, BK_PAGE16, boff + len, 0, 0);
		if (sfp >= 0)
			EMIT(g, OP_FREAD, sfp, buf, boff, len, 0);
		else
			EMIT(g, OP_READ, src, buf, boff, len, P(g, 5));
		if (P(g, text))
			gen_stdio_text(g, fp);
		if (P(g, 10))
			meddle(g, src, dst, buf, boff, len, pos);
		/* (Text leaves bytes in glibc's buffer until a flush.) */
		if (P(g, 25))
			EMIT(g, OP_FFLUSH, fp, 0, 0, 0, 0);
		long wl = P(g, 90) ? -1 : fz_below(&g->r, len + 1);
		/* The reader stopped while the chunk sits in the pipe or socket,
		 * then the source changes (see gen_chain). */
		int stall = len <= 65536 && P(g, 6);
		if (stall)
			EMIT(g, OP_STOP, dst == FD_PIPE ? 0 : 1, 0, 0, 0, 0);
		EMIT(g, OP_FWRITE, fp, buf, boff, wl, 0);
		if (stall) {
			EMIT(g, OP_FFLUSH, fp, 0, 0, 0, 0);
			long at = pos + fz_below(&g->r, len + 1);
			if (P(g, 50))
				EMIT(g, OP_PWRITE, src, gen_pick_buf(g), 0, 1 + fz_below(&g->r, 2 * PAGE), at);
			else
				EMIT(g, OP_FTRUNC, src, at, 0, 0, 0);
			EMIT(g, OP_CONT, dst == FD_PIPE ? 0 : 1, 0, 0, 0, 0);
		}
		if (P(g, 20))
			EMIT(g, OP_FFLUSH, fp, 0, 0, 0, 0);
		if (P(g, 4))
			meddle(g, src, dst, buf, boff, len, pos);
		pos += len;
	}
	if (P(g, 40))
		EMIT(g, OP_FFLUSH, fp, 0, 0, 0, 0);
}

/* One operation of any kind, arguments anywhere (mostly sensible). */
static void single(struct gen *g)
{
	/* Slots 4 and 5 are the thread's: main leaves them alone. */
	static const int main_fds[] = { 0, 1, 2, 3, FD_PIPE, FD_SOCK, FD_DGRAM, FD_NULL, FD_SPARE,
					FD_HIGH };
	int fd = g->ctx == CTX_THREAD ? 4 + (int)fz_below(&g->r, 2) : main_fds[fz_below(&g->r, 10)];
	int buf = gen_pick_buf(g);
	long len = P(g, 50) ? gen_chunk_size(g) : fz_below(&g->r, 9000);
	long off = gen_buf_off(g), pos = fz_below(&g->r, 3 << 20);
	int fp = (int)fz_below(&g->r, NFPS);
	int fdop = !g->thread_live && g->ctx == CTX_MAIN;
	long which = fz_below(&g->r, 25);
	if (g->ctx == CTX_THREAD && which >= 7 && which <= 10)
		which = 0; /* no FILE ops: the FILE slots are main's */
	switch (which) {
	case 0: EMIT(g, OP_READ, fd, buf, off, len, P(g, 30)); break;
	case 1: EMIT(g, OP_PREAD, fd, buf, off, len, pos); break;
	case 2: EMIT(g, OP_READV, fd, buf, off, len, fz_below(&g->r, len + 1)); break;
	case 3: EMIT(g, OP_WRITE, fd, buf, off, len, 0); break;
	case 4: EMIT(g, OP_PWRITE, fd, buf, off, len, pos); break;
	case 5: EMIT(g, OP_WRITEV, fd, buf, off, len, fz_below(&g->r, len + 1)); break;
	case 6: EMIT(g, OP_SEND, fd, buf, off, len, MSG_NOSIGNAL); break;
	case 7: EMIT(g, OP_FREAD, fp, buf, off, len, 0); break;
	case 8: EMIT(g, OP_FWRITE, fp, buf, off, len, 0); break;
	case 9: EMIT(g, OP_FSEEK, fp, pos, (int)fz_below(&g->r, 3), 0, 0); break;
	case 10: /* ftell, or a change to the FILE's position or buffer */
		which = fz_below(&g->r, 4);
		if (which == 1) /* of the byte read (another byte takes a malloc'd
				 * backup area, which the heap edits of other ops
				 * may hit: seeds then abort with or without zcopy) */
			EMIT(g, OP_UNGETC, fp, -1, 0, 0, 0);
		else if (which == 2)
			EMIT(g, OP_SETVBUF, fp, fz_below(&g->r, 3), 0, 0, 0);
		else
			EMIT(g, OP_FTELL, fp, 0, 0, 0, 0);
		break;
	case 11: EMIT(g, OP_LSEEK, fd, pos - (1 << 20), (int)fz_below(&g->r, 3), 0, 0); break;
	case 12: EMIT(g, OP_FTRUNC, fd, pos, 0, 0, 0); break;
	case 13: EMIT(g, OP_MEMSET, buf, off, len, fz_below(&g->r, 256), 0); break;
	case 14: EMIT(g, OP_SUM, buf, 0, 1 << 20, 0, 0); break;
	case 15: EMIT(g, OP_MADV, buf, off, len, 0, 0); break;
	case 16:
		EMIT(g, OP_ALLOC, buf, fz_below(&g->r, BK__COUNT), 256 + fz_below(&g->r, 1 << 20), 0, 0);
		break;
	case 17: EMIT(g, OP_REALLOC, buf, 256 + fz_below(&g->r, 1 << 20), 0, 0, 0); break;
	case 18: EMIT(g, OP_REMAP, buf, 0, 0, 0, 0); break;
	case 19:
		if (fdop)
			EMIT(g, OP_CLOSE, fd, 0, 0, 0, 0);
		break;
	case 20:
		if (fdop)
			EMIT(g, OP_OPEN, fd, fz_below(&g->r, 4), fz_below(&g->r, 4), 0, 0);
		break;
	case 21:
		if (fdop)
			EMIT(g, OP_DUP2, fd, P(g, 20) ? DUP2_HIGH : main_fds[fz_below(&g->r, 10)], 0, 0, 0);
		break;
	case 22: EMIT(g, OP_PREADV, fd, buf, off, len, pos); break;
	case 23: EMIT(g, OP_PWRITEV, fd, buf, off, len, pos); break;
	default:
		EMIT(g, OP_SENDFILE, fd, g->ctx == CTX_THREAD ? 4 : (int)fz_below(&g->r, 4), len,
		     P(g, 50) ? -1 : pos, 0);
		break;
	}
}


void fz_generate(uint64_t seed, int nops, struct fz_script *s)
{
	struct gen g = { .r = seed * 0xD1B54A32D192ED03ULL + 77, .s = s, .ctx = CTX_MAIN,
			 .lo_buf = 0, .nbuf = 6, .r2 = seed * 0x94D049BB133111EBULL + 991 };
	for (int i = 0; i < 4; i++)
		fz_rand(&g.r), fz_rand(&g.r2);
	/* Most seeds also get the scenarios of blocked writes, signals, limits,
	 * quitting readers and fd churn, from a stream of their own: the rest
	 * of the script is drawn as before. */
	int scenarios = fz_below(&g.r2, 100) < 70;
	fz_setup_from_seed(seed, &g.w);
	while (s->n < nops) {
		if (g.thread_live && s->n >= g.join_at) {
			EMIT(&g, OP_JOIN, 0, 0, 0, 0, 0);
			g.thread_live = 0;
		}
		/* (Twice as often with --stdio-pipe: its armed fwrites.) */
		if (scenarios && !g.thread_live && fz_below(&g.r2, 100) < (fz_stdio_pipe ? 16 : 8)) {
			uint64_t saved = g.r;
			g.r = g.r2;
			gen_scenario(&g, nops);
			g.r2 = g.r, g.r = saved;
			continue;
		}
		long p = fz_below(&g.r, 100);
		if (p < 55) {
			int src = gen_main_file_fd(&g), fp;
			/* (Drawn only with the flag: other seeds keep their scripts.) */
			if (fz_stdio_pipe && P(&g, 50) && (fp = gen_stdio_dest(&g)) >= 0)
				gen_stdio_loop(&g, src, fp, 3 + (int)fz_below(&g.r, 10));
			else if (fz_fd_reuse && !g.thread_live)
				gen_reuse_loop(&g, src, gen_main_dest_fd(&g, src),
					       4 + (int)fz_below(&g.r, 12));
			else
				gen_chain(&g, src, gen_main_dest_fd(&g, src),
					  2 + (int)fz_below(&g.r, 13));
		} else if (p < 60 && !g.thread_live && !g.no_spawn) {
			/* The second thread copies its own files while main goes on. */
			EMIT(&g, OP_SPAWN, 0, 0, 0, 0, 0);
			g.ctx = CTX_THREAD, g.lo_buf = 6, g.nbuf = 2;
			int k = 1 + (int)fz_below(&g.r, 3);
			for (int i = 0; i < k; i++) {
				if (P(&g, 70))
					/* Not FD_NULL: main may have put another file there. */
					gen_chain(&g, 4, 5, 2 + (int)fz_below(&g.r, 8));
				else
					single(&g);
			}
			g.ctx = CTX_MAIN, g.lo_buf = 0, g.nbuf = 6;
			g.thread_live = 1;
			g.join_at = s->n + 3 + (int)fz_below(&g.r, 40);
		} else if (p < 64) {
			EMIT(&g, OP_FORK, 0, 0, 0, 0, 0);
			g.ctx = CTX_CHILD;
			if (P(&g, 50)) {
				int src = gen_main_file_fd(&g);
				gen_chain(&g, src, gen_main_dest_fd(&g, src), 1 + (int)fz_below(&g.r, 4));
			} else {
				single(&g);
			}
			g.ctx = CTX_MAIN;
		} else {
			single(&g);
		}
	}
	if (g.thread_live)
		EMIT(&g, OP_JOIN, 0, 0, 0, 0, 0);
}

/* ---- steering past known divergences ----------------------------------------- */

/*
 * Rewrites the ops of known divergence classes into harmless ones, so that
 * exploring (make fuzz FUZZ_AVOID=...) finds the other classes while those
 * are open.  The world and every other op stay as generated.  `make
 * test-fuzz` uses only socket-wait, zcopy's documented limits on a blocked
 * stream socket write (README, "Stream sockets"): a write cut short by a
 * signal or a leaving peer returns a different count (the kernel accounts
 * spliced pages and copied bytes differently against the send buffer), and
 * sendfile cannot be kept from waiting for the peer, so a change to the
 * source made meanwhile waits at most a second (tests/fuzz/limits).
 */
int fz_avoid(struct fz_script *s, const char *list)
{
	static const char *const names[] = { "pwrite-stream", "send-file", "trunc-open",
					     "child-writes", "stdio-writes", "stall",
					     "arm-fd", "arm-pwrite", "arm-signal", "arm-peer",
					     "fsize", "socket-wait" };
	unsigned mask = 0;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		unsigned bit = 0;
		for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strlen(names[i]) == n && !strncmp(p, names[i], n))
				bit = 1u << i;
		if (!bit)
			return -1;
		mask |= bit;
		p += n + (p[n] == ',');
	}
	for (int i = 0; i < s->n; i++) {
		struct fz_op *o = &s->ops[i];
		int stream = o->a[0] == FD_PIPE || o->a[0] == FD_SOCK || o->a[0] == FD_DGRAM;
		if ((mask & 1) && (o->op == OP_PWRITE || o->op == OP_PWRITEV) && stream)
			o->op = OP_WRITE;
		if ((mask & 2) && o->op == OP_SEND && !stream)
			o->op = OP_WRITE;
		if ((mask & 4) && o->op == OP_OPEN && o->a[2] % 4 == 3)
			o->a[2] = 0;
		if ((mask & 8) && o->ctx == CTX_CHILD &&
		    (o->op == OP_PWRITE || o->op == OP_FTRUNC || o->op == OP_WRITE ||
		     o->op == OP_WRITEV || o->op == OP_MMAPW || o->op == OP_FWRITE))
			o->op = OP_SUM, o->a[0] = o->a[1];
		if ((mask & 16) && (o->op == OP_FWRITE || o->op == OP_FFLUSH || o->op == OP_FPUTS))
			o->op = OP_FTELL;
		if ((mask & 32) && (o->op == OP_STOP || o->op == OP_CONT))
			o->op = OP_FTELL;
		/* An armed op whose act is of an avoided class does nothing. */
		long act = o->op == OP_ARM ? (long)((unsigned long)o->a[0] % ACT__COUNT) : -1;
		if (((mask & 64) && (act == ACT_DUP2 || act == ACT_REOPEN)) ||
		    ((mask & 128) && act == ACT_PWRITE) || ((mask & 256) && act == ACT_SIGNAL) ||
		    ((mask & 512) && act == ACT_PEER))
			o->op = OP_FTELL;
		if ((mask & 1024) && o->op == OP_RLIMIT)
			o->op = OP_FTELL;
		/* (A dup2 or reopen is in the class too: whether the write waits
		 * at all differs, as the socket charges spliced pages otherwise,
		 * so the helper acts during it in one run and after it in the
		 * other - two valid orders of the same program.) */
		if ((mask & 2048) && act >= 0 && (o->a[4] & ARM_SOCK))
			o->op = OP_FTELL;
	}
	return 0;
}

/* ---- text form ---------------------------------------------------------------- */

void fz_script_write(FILE *f, const struct fz_script *s, const unsigned char *keep)
{
	for (int i = 0; i < s->n; i++) {
		if (keep && !keep[i])
			continue;
		const struct fz_op *o = &s->ops[i];
		fprintf(f, "%c %s %ld %ld %ld %ld %ld\n", o->ctx, fz_op_names[o->op], o->a[0], o->a[1],
			o->a[2], o->a[3], o->a[4]);
	}
}

int fz_script_read(FILE *f, struct fz_script *s, char *err, size_t errcap)
{
	char line[512], name[32], ctx;
	long a[5];
	int ln = 0;
	while (fgets(line, sizeof line, f)) {
		ln++;
		char *h = strchr(line, '#');
		if (h)
			*h = 0;
		if (strspn(line, " \t\r\n") == strlen(line))
			continue;
		memset(a, 0, sizeof a);
		int got = sscanf(line, " %c %31s %ld %ld %ld %ld %ld", &ctx, name, &a[0], &a[1], &a[2],
				 &a[3], &a[4]);
		int op = -1;
		for (int i = 0; got >= 2 && i < OP__COUNT; i++)
			if (!strcmp(name, fz_op_names[i]))
				op = i;
		if (op < 0 || (ctx != CTX_MAIN && ctx != CTX_CHILD && ctx != CTX_THREAD)) {
			snprintf(err, errcap, "line %d: cannot parse: %s", ln, line);
			return -1;
		}
		fz_script_push(s, ctx, op, a[0], a[1], a[2], a[3], a[4]);
	}
	return 0;
}

int fz_parse_subset(const char *spec, unsigned char *keep, int n)
{
	memset(keep, 0, (size_t)n);
	const char *p = spec;
	while (*p) {
		char *e;
		long lo = strtol(p, &e, 10), hi = lo;
		if (e == p)
			return -1;
		if (*e == '-') {
			p = e + 1;
			hi = strtol(p, &e, 10);
			if (e == p)
				return -1;
		}
		for (long i = lo; i <= hi && i < n; i++)
			if (i >= 0)
				keep[i] = 1;
		p = *e == ',' ? e + 1 : e;
		if (*e && *e != ',')
			return -1;
	}
	return 0;
}
