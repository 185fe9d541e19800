/*
 * gen.h - the generator's state and helpers, shared by gen.c (the copy
 * loops, the program's meddling, single ops) and scenario.c (blocked writes,
 * signals, limits, quitting readers, fd churn).  Private to the generator.
 */
#ifndef GEN_H
#define GEN_H

#include "fuzz.h"

#define PAGE 4096L

struct gen {
	uint64_t r;
	uint64_t r2;   /* the stream scenario.c draws from */
	struct fz_script *s;
	char ctx;
	int thread_live;
	int join_at;   /* op count at which the thread is joined */
	int lo_buf, nbuf; /* buffers this context may use */
	struct fz_setup w; /* the seed's world, for sizes that make writes block */
	int gone[2];   /* the pipe's, the socket's reader quit */
	int no_spawn;  /* no second thread from here on (see gen_scenario) */
	int fp_used[2]; /* the pipe's, the socket's FILE was written (--stdio-pipe) */
};

#define P(g, pct) (fz_below(&(g)->r, 100) < (pct))
#define EMIT(g, op, a0, a1, a2, a3, a4) fz_script_push((g)->s, (g)->ctx, op, a0, a1, a2, a3, a4)

long gen_chunk_size(struct gen *g);
int gen_pick_buf(struct gen *g);
long gen_buf_off(struct gen *g);
/* A main-context file fd slot; a destination for a copy loop from src. */
int gen_main_file_fd(struct gen *g);
int gen_main_dest_fd(struct gen *g, int src);
/* A read->write copy loop of `steps` chunks (with meddling). */
void gen_chain(struct gen *g, int src, int dst, int steps);
/* gen_chain with fd numbers reused between every read and write (--fd-reuse). */
void gen_reuse_loop(struct gen *g, int src, int dst, int steps);
/* --stdio-pipe: the FILE a copy loop writes into (FP_PIPE or FP_SOCK; -1
 * when both readers quit); small text into it; a copy loop from src (a
 * file's fd, or one time in three the FILE slot on a file) into it. */
int gen_stdio_dest(struct gen *g);
void gen_stdio_text(struct gen *g, int fp);
void gen_stdio_loop(struct gen *g, int src, int fp, int steps);
/* One scenario of scenario.c, drawn from g->r (the caller swaps in r2). */
void gen_scenario(struct gen *g, int nops);

#endif
