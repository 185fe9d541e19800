/*
 * scenario.c - the generator's scenarios: copy loops whose write blocks
 * while a helper acts (arm), that cross RLIMIT_FSIZE, whose reader quits,
 * or that close and reuse fd numbers between every read and write.  Drawn
 * from a random stream of their own (gen.c swaps it in), so the rest of a
 * seed's script is drawn as it would be without them.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen.h"

static const long big_chunks[] = { 131072, 196608, 262144, 524288 };

/* A disposition for a signal that may kill: the default only late in the
 * script (a death ends it), else ignored or handled. */
static long disposition(struct gen *g, int late)
{
	return late ? fz_below(&g->r, 4) : 1 + fz_below(&g->r, 3);
}

/* A file slot other than src, or a non-file one. */
static int other_fd(struct gen *g, int src)
{
	static const int any[] = { 0, 1, 2, 3, FD_NULL, FD_SPARE, FD_PIPE, FD_SOCK };
	int x = any[fz_below(&g->r, 8)];
	return x == src ? FD_NULL : x;
}

/*
 * A copy loop of large chunks from a file to the pipe or the socket whose
 * last write(s) run while the reader is held, with the helper acting once
 * the write blocks: dup2 onto the source or the destination, close+open
 * reusing a number, a pwrite into the part of the source not yet written,
 * a SIGUSR1 (handled with or without SA_RESTART, or by a siglongjmp out of
 * the write; the pipe or socket maybe full so that nothing is written
 * before it), or the reader quitting.
 * With --stdio-pipe, most of them fwrite into the FILE on the pipe or the
 * socket instead (text before the armed op: glibc's buffer partly full).
 */
static void armed(struct gen *g, int late)
{
	int stdio = fz_stdio_pipe && P(g, 70); /* drawn only with the flag */
	int sock = P(g, stdio ? 25 : 40);
	if (g->gone[sock])
		sock = !sock;
	if (g->gone[sock])
		return;
	int src = (int)fz_below(&g->r, 4), dst = sock ? FD_SOCK : FD_PIPE;
	int fp = sock ? FP_SOCK : FP_PIPE;
	int buf = gen_pick_buf(g), steps = 3 + (int)fz_below(&g->r, 4);
	long boff = P(g, 80) ? 0 : PAGE - 16, len = big_chunks[fz_below(&g->r, 4)];
	long pos = fz_below(&g->r, 64) * PAGE;
	/* Mostly a write that blocks: more than 64 KiB read, so a file with
	 * that many bytes past pos and a buffer that holds them (as the world
	 * starts; the script may have changed it since). */
	for (int k = 0; k < 8 && P(g, 90); k++) {
		if ((long)g->w.file_size[src] >= pos + 2 * len &&
		    (long)g->w.buf_size[buf] >= boff + len)
			break;
		src = (int)fz_below(&g->r, 4), buf = gen_pick_buf(g);
		len = big_chunks[fz_below(&g->r, 2)], pos = fz_below(&g->r, 8) * PAGE;
	}
	/* An fwrite's bytes start page-aligned, as the buffer starts (a large
	 * malloc block is a page + 16). */
	if (stdio)
		boff = g->w.buf_kind[buf] == BK_PAGE16 ? PAGE - 16 : 0;
	EMIT(g, OP_LSEEK, src, pos, SEEK_SET, 0, 0);
	for (int i = 0; i < steps && !g->gone[sock]; i++) {
		/* (Drawn before the read is emitted: the same stream as ever.) */
		int arming = i == steps - 1 || (i >= 2 && P(g, 25));
		long act = arming ? fz_below(&g->r, ACT__COUNT) : -1;
		/* A signal's handler and whether the pipe starts full: with
		 * --stdio-pipe drawn here, as they decide the fwrite's start. */
		long sigh = -1, fill = 0;
		if (stdio && act == ACT_SIGNAL)
			sigh = fz_below(&g->r, 6), fill = P(g, 40);
		/*
		 * A handler that jumps out of an fwrite into a pipe with room
		 * cuts its direct part short as a leaving reader does (below).
		 * Into a full pipe it leaves the fwrite while the stream's
		 * first part (what fills glibc's buffer, text before it or
		 * not) waits, with nothing written: that may follow text.
		 */
		int cut = stdio && (act == ACT_PEER || (act == ACT_SIGNAL && sigh >= 4 && !fill));
		/*
		 * An fwrite the leaving reader cuts short starts at a page
		 * boundary of memory and file, and with glibc's buffer empty:
		 * else its direct part starts inside a page (glibc's page
		 * takes the rest of one: of the buffer, or after pending
		 * bytes, of the file), which zcopy writes in a pipe page of
		 * its own, and the count differs by design (README, "Partial
		 * counts"; limits/peer_quits_during_fwrite_*).  A buffer made
		 * anew: the script may have made this one a malloc block
		 * since, wherever the heap put it; and the source at a page
		 * again: a read cut short by the end of the buffer or of the
		 * file leaves it inside one.
		 */
		long bo = cut ? 0 : boff;
		if (cut) {
			static const int kinds[] = { BK_ALIGNED, BK_STATIC, BK_MMAP };
			EMIT(g, OP_ALLOC, buf, kinds[fz_below(&g->r, 3)], len, 0, 0);
			EMIT(g, OP_LSEEK, src, pos, SEEK_SET, 0, 0);
		}
		EMIT(g, OP_READ, src, buf, bo, len, 0);
		if (cut)
			EMIT(g, OP_FFLUSH, fp, 0, 0, 0, 0);
		else if (stdio && P(g, 50))
			gen_stdio_text(g, fp);
		if (arming) {
			long x = 0, y = 0, z = 0;
			long flags = sock ? ARM_SOCK : 0;
			switch (act) {
			case ACT_DUP2:
				/* Mostly another file onto the source: what the
				 * write's bytes would be taken from. */
				y = P(g, 50) ? src : dst;
				x = y == src && P(g, 80) ? (src + 1 + fz_below(&g->r, 3)) % 4
							 : other_fd(g, y);
				/* Not the other stream onto this one (--stdio-pipe): the
				 * FILE on it would write there from then on, and a
				 * later armed op, holding the stream of its flags,
				 * would see its fwrite block or not as that other
				 * reader keeps up (seeds 380, 1624). */
				if (stdio && y == dst && (x == FD_PIPE || x == FD_SOCK))
					x = FD_NULL;
				break;
			case ACT_REOPEN:
				y = P(g, 70) ? src : dst;
				x = y == src && P(g, 80) ? (src + 1 + fz_below(&g->r, 3)) % 4
							 : fz_below(&g->r, 4);
				break;
			case ACT_PWRITE: {
				/* Past what may be in flight when the write blocks
				 * (a documented limit): the 64 KiB of room, and for
				 * the socket also the 64 KiB pipe inside sendfile,
				 * which holds the file's pages until the socket takes
				 * them.  The rest is not written yet. */
				long flight = (sock ? 2 : 1) * 65536 + PAGE;
				y = src;
				x = pos + flight + fz_below(&g->r, len > flight ? len - flight : 1);
				z = 1 + fz_below(&g->r, 2 * PAGE);
				break;
			}
			case ACT_SIGNAL: {
				/* A handler with or without SA_RESTART, or one
				 * time in three one that leaves the write by
				 * siglongjmp (a timeout).  One draw as ever, and
				 * h % 2 is the draw's own % 2: a seed whose
				 * signal does not jump keeps its script. */
				long h = sigh >= 0 ? sigh : fz_below(&g->r, 6);
				EMIT(g, OP_SIG, 2, h < 4 ? 2 + h % 2 : 4, 0, 0, 0);
				flags |= (sigh >= 0 ? fill : P(g, 40)) ? ARM_FILL : 0;
				break;
			}
			default:
				EMIT(g, OP_SIG, 0, disposition(g, late), 0, 0, 0);
				g->gone[sock] = 1, g->no_spawn = 1;
				break;
			}
			EMIT(g, OP_ARM, act, x, y, z, flags);
		}
		long q = fz_below(&g->r, 10);
		if (stdio)
			EMIT(g, OP_FWRITE, fp, buf, bo, -1, 0);
		else if (q < 7)
			EMIT(g, OP_WRITE, dst, buf, boff, -1, 0);
		else if (q < 9 || !sock)
			EMIT(g, OP_WRITEV, dst, buf, boff, -1, len / 2);
		else
			EMIT(g, OP_SEND, dst, buf, boff, -1, P(g, 50) ? MSG_NOSIGNAL : 0);
		pos += len;
	}
}

/* A copy loop into a file that crosses RLIMIT_FSIZE: a short write, then
 * EFBIG and SIGXFSZ (default: death; ignored; handled). */
static void fsize(struct gen *g, int late)
{
	int dst = (int)fz_below(&g->r, 4), src = (dst + 1 + (int)fz_below(&g->r, 3)) % 4;
	int buf = gen_pick_buf(g), steps = 4 + (int)fz_below(&g->r, 5);
	long boff = P(g, 80) ? 0 : PAGE - 16, len = gen_chunk_size(g);
	long pos = fz_below(&g->r, 64) * PAGE, opos = fz_below(&g->r, 16) * PAGE;
	/* After two whole writes (the stream engages), maybe on a boundary. */
	long k = 2 + fz_below(&g->r, steps - 2);
	long lim = opos + k * len + (P(g, 25) ? 0 : fz_below(&g->r, len));
	int pw = P(g, 30);
	EMIT(g, OP_SIG, 1, disposition(g, late), 0, 0, 0);
	EMIT(g, OP_LSEEK, src, pos, SEEK_SET, 0, 0);
	EMIT(g, OP_LSEEK, dst, opos, SEEK_SET, 0, 0);
	for (int i = 0; i < steps; i++) {
		if (i == 2)
			EMIT(g, OP_RLIMIT, lim, 0, 0, 0, 0);
		EMIT(g, OP_READ, src, buf, boff, len, 0);
		if (pw)
			EMIT(g, OP_PWRITE, dst, buf, boff, -1, opos);
		else
			EMIT(g, OP_WRITE, dst, buf, boff, -1, 0);
		opos += len;
	}
	EMIT(g, OP_RLIMIT, 0, 0, 0, 0, 0);
}

/* The pipe's or the socket's reader quits between two writes of a copy
 * loop (SIGPIPE default, ignored or handled; send with MSG_NOSIGNAL). */
static void peer(struct gen *g, int late)
{
	int stdio = fz_stdio_pipe && P(g, 50); /* drawn only with the flag */
	int sock = P(g, 50);
	if (g->gone[sock])
		sock = !sock;
	if (g->gone[sock])
		return;
	int src = gen_main_file_fd(g), dst = sock ? FD_SOCK : FD_PIPE;
	EMIT(g, OP_SIG, 0, disposition(g, late), 0, 0, 0);
	if (stdio) /* into the FILE on it; fclose at the end writes its rest */
		gen_stdio_loop(g, src, sock ? FP_SOCK : FP_PIPE, 2 + (int)fz_below(&g->r, 3));
	else
		gen_chain(g, src, dst, 2 + (int)fz_below(&g->r, 3));
	EMIT(g, OP_PEER, sock, 0, 0, 0, 0);
	if (stdio)
		gen_stdio_loop(g, src, sock ? FP_SOCK : FP_PIPE, 1 + (int)fz_below(&g->r, 3));
	else
		gen_chain(g, src, dst, 1 + (int)fz_below(&g->r, 3));
	g->gone[sock] = 1, g->no_spawn = 1;
}

/* Between two ops of a copy loop, the fd in slot is closed and its number
 * reused: through a dup kept elsewhere, with another file there meanwhile,
 * or by opening the file again at the same offset. */
static void churn_fd(struct gen *g, int slot, long pos)
{
	long p = fz_below(&g->r, 3);
	int file = slot < 4 ? slot : slot == FD_SPARE ? 0 : -1;
	if (p == 2 && file >= 0) {
		EMIT(g, OP_CLOSE, slot, 0, 0, 0, 0);
		EMIT(g, OP_OPEN, slot, file, OPEN_AT, 0, 0);
		EMIT(g, OP_LSEEK, slot, pos < 0 ? 0 : pos, pos < 0 ? SEEK_END : SEEK_SET, 0, 0);
		return;
	}
	EMIT(g, OP_DUP2, slot, FD_HIGH, 0, 0, 0);
	if (p == 1)
		EMIT(g, OP_DUP2, other_fd(g, slot), slot, 0, 0, 0);
	else
		EMIT(g, OP_CLOSE, slot, 0, 0, 0, 0);
	EMIT(g, OP_DUP2, FD_HIGH, slot, 0, 0, 0);
	EMIT(g, OP_CLOSE, FD_HIGH, 0, 0, 0, 0);
}

/*
 * A copy loop with close/open/dup2 between every read and write, after two
 * plain pairs (zcopy engages after a few).  Mostly the destination's number
 * is reused: a source closed or reopened ends zcopy's stream, and it takes
 * pairs to engage again, so the source's churn comes one time in four.
 */
static void churn(struct gen *g)
{
	int src = (int)fz_below(&g->r, 4), dst = gen_main_dest_fd(g, src);
	if ((dst == FD_PIPE && g->gone[0]) || (dst == FD_SOCK && g->gone[1]))
		dst = FD_NULL;
	int buf = gen_pick_buf(g), steps = 4 + (int)fz_below(&g->r, 8);
	long boff = gen_buf_off(g), len = gen_chunk_size(g), pos = fz_below(&g->r, 64) * PAGE;
	EMIT(g, OP_LSEEK, src, pos, SEEK_SET, 0, 0);
	for (int i = 0; i < steps; i++) {
		EMIT(g, OP_READ, src, buf, boff, len, 0);
		pos += len;
		/* A destination file is opened again at its end (-1). */
		if (i >= 2) {
			if (P(g, 25))
				churn_fd(g, src, pos);
			else
				churn_fd(g, dst, -1);
		}
		EMIT(g, OP_WRITE, dst, buf, boff, -1, 0);
		if (i >= 2 && P(g, 50)) {
			if (P(g, 25))
				churn_fd(g, src, pos);
			else
				churn_fd(g, dst, -1);
		}
	}
}

/*
 * --fd-reuse: slot's number names something else and then its file again,
 * by one of the churn_fd ways or by libc alone (lreopen: fclose or freopen
 * of an fdopen, which close the number where no close wrapper sees it), at
 * position pos (-1: the end).  One time in four the number comes back with
 * another file of main's (the same file through a new description
 * otherwise), and stays so.
 */
static void reuse_fd(struct gen *g, int slot, long pos)
{
	int file = slot < 4 ? slot : slot == FD_SPARE ? 0 : -1;
	if (file < 0 || P(g, 30)) {
		churn_fd(g, slot, pos);
		return;
	}
	if (P(g, 25))
		file = (file + 1 + (int)fz_below(&g->r, 3)) % 4;
	EMIT(g, OP_LREOPEN, slot, file, fz_below(&g->r, 2), 0, 0);
	EMIT(g, OP_LSEEK, slot, pos < 0 ? 0 : pos, pos < 0 ? SEEK_END : SEEK_SET, 0, 0);
}

void gen_reuse_loop(struct gen *g, int src, int dst, int steps)
{
	if ((dst == FD_PIPE && g->gone[0]) || (dst == FD_SOCK && g->gone[1]))
		dst = FD_NULL;
	int buf = gen_pick_buf(g);
	long boff = gen_buf_off(g), len = gen_chunk_size(g), pos = fz_below(&g->r, 64) * PAGE;
	EMIT(g, OP_LSEEK, src, pos, SEEK_SET, 0, 0);
	for (int i = 0; i < steps; i++) {
		EMIT(g, OP_READ, src, buf, boff, len, 0);
		pos += len;
		/* After two plain pairs (zcopy engages after a few), between
		 * every read and its write, and after it: the destination's
		 * number mostly, the source's one time in four (a source whose
		 * number changes ends the stream, which takes pairs to engage
		 * again). */
		if (i >= 2) {
			int s = P(g, 25) ? src : dst;
			reuse_fd(g, s, s == src ? pos : -1);
		}
		EMIT(g, OP_WRITE, dst, buf, boff, -1, 0);
		if (i >= 2 && P(g, 50)) {
			int s = P(g, 25) ? src : dst;
			reuse_fd(g, s, s == src ? pos : -1);
		}
	}
}

void gen_scenario(struct gen *g, int nops)
{
	/* A death ends the script: the default SIGPIPE or SIGXFSZ only in
	 * its last part.  After a reader quit (or may have), no second thread:
	 * its files would be cut at a moment that depends on timing. */
	int late = g->s->n > nops * 7 / 10;
	/* --stdio-pipe: more fwrites that block (drawn only with the flag). */
	if (fz_stdio_pipe && P(g, 40)) {
		armed(g, late);
		return;
	}
	long p = fz_below(&g->r, 100);
	if (p < 40)
		armed(g, late);
	else if (p < 60)
		fsize(g, late);
	else if (p < 72)
		peer(g, late);
	else
		churn(g);
}

