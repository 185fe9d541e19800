/*
 * fuzz.h - the differential fuzzer's script model: operations, the world
 * they act on, and the pieces (generator, executor, log, hash) that share it.
 *
 * A script is a list of operations, one text line each ("ctx name a b c d e",
 * five integer arguments), generated from a seed or read from a file.  Every
 * argument is a slot index, an offset or a length; the executor clamps them
 * to the world as it is when the operation runs, so any subset of a script is
 * itself a valid script (the minimiser relies on that).
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Operation names: X(enum suffix, script name). */
#define FZ_OPS(X)                                                                        \
	X(READ, "read")       /* fd buf off len check           */                     \
	X(PREAD, "pread")     /* fd buf off len pos             */                     \
	X(READV, "readv")     /* fd buf off len split           */                     \
	X(WRITE, "write")     /* fd buf off len(-1: last read)  */                     \
	X(PWRITE, "pwrite")   /* fd buf off len pos             */                     \
	X(WRITEV, "writev")   /* fd buf off len split           */                     \
	X(SEND, "send")       /* fd buf off len flags           */                     \
	X(FREAD, "fread")     /* fp buf off len                 */                     \
	X(FWRITE, "fwrite")   /* fp buf off len                 */                     \
	X(FSEEK, "fseek")     /* fp pos whence                  */                     \
	X(FTELL, "ftell")     /* fp                             */                     \
	X(FFLUSH, "fflush")   /* fp                             */                     \
	X(LSEEK, "lseek")     /* fd pos whence                  */                     \
	X(FTRUNC, "ftruncate") /* fd len                        */                     \
	X(CLOSE, "close")     /* fd                             */                     \
	X(OPEN, "open")       /* fd file flags                  */                     \
	X(DUP2, "dup2")       /* fd fd2 (fd2 99: the high fd)   */                     \
	X(FORK, "fork")       /* the following 'c' lines run in a child */             \
	X(SPAWN, "spawn")     /* the following 't' lines run in a thread */            \
	X(JOIN, "join")       /* wait for the thread            */                     \
	X(MEMCPY, "memcpy")   /* buf off buf2 off2 len          */                     \
	X(MEMSET, "memset")   /* buf off len val                */                     \
	X(POKE, "poke")       /* buf off val                    */                     \
	X(SUM, "sum")         /* buf off len                    */                     \
	X(ALLOC, "alloc")     /* buf kind size                  */                     \
	X(REALLOC, "realloc") /* buf size                       */                     \
	X(MADV, "madvise")    /* buf off len                    */                     \
	X(REMAP, "remap")     /* buf                            */                     \
	X(MMAPW, "mmapw")     /* fd off len val: store through MAP_SHARED */          \
	X(STOP, "stop")       /* reader: drain, then stop it (0 pipe, 1 socket) */     \
	X(CONT, "cont")       /* reader: let it go on           */                     \
	X(PREADV, "preadv")   /* fd buf off len pos (two halves) */                    \
	X(PWRITEV, "pwritev") /* fd buf off len pos (two halves) */                    \
	X(SENDFILE, "sendfile") /* out in count pos (-1: in's offset) */                \
	X(SIG, "sig")         /* signal disposition: sig(0 PIPE 1 XFSZ 2 USR1) how    \
				 (0 default 1 ignore 2 handler+SA_RESTART 3 handler \
				 4 USR1 only: handler that siglongjmps out of the op) */ \
	X(RLIMIT, "rlimit")   /* RLIMIT_FSIZE soft limit (<= 0: the hard one)    */     \
	X(PEER, "peer")       /* reader (0 pipe, 1 socket): drained, then closes */     \
	X(ARM, "arm")         /* act x y z flags: the helper acts during the next op */ \
	X(UNGETC, "ungetc")   /* fp byte (-1: fgetc, then that byte) */                \
	X(SETVBUF, "setvbuf") /* fp mode (0 full, 1 line, 2 none) */                 \
	X(LREOPEN, "lreopen") /* fd file how: file at fd's number by libc alone       \
				 (0 freopen of an fdopen, 1 fclose of an fdopen + open) */ \
	X(FPUTS, "fputs")     /* fp len how: len bytes of text (how bit 0: fprintf,  \
				 bit 1: ends with a newline, bit 2: a newline inside) */

#define FZ_ENUM(e, s) OP_##e,
enum fz_opcode { FZ_OPS(FZ_ENUM) OP__COUNT };
#undef FZ_ENUM

extern const char *const fz_op_names[OP__COUNT];

/* Who runs a line: the main thread, a forked child, the second thread. */
enum fz_ctx { CTX_MAIN = 'm', CTX_CHILD = 'c', CTX_THREAD = 't' };

struct fz_op {
	char ctx;
	uint8_t op;
	long a[5];
};

struct fz_script {
	struct fz_op *ops;
	int n, cap;
};

/* ---- the world ------------------------------------------------------------ */

#define NFILES 6      /* f0..f3 main, f4..f5 the thread's */
#define NFDS 13       /* fd slots, see below */
#define NBUFS 8       /* b0..b5 main, b6..b7 the thread's */
#define NFPS 2        /* FILE slots on files (every world) */
/* With --stdio-pipe, two more: FILEs opened by fdopen(.., "w") on the pipe
 * slot's and the stream socket slot's fds (NULL otherwise). */
enum { FP_PIPE = NFPS, FP_SOCK = NFPS + 1, NFPS_ALL = NFPS + 2 };
#define STATIC_BUF (1u << 20)

/* fd slots 0..5 are the files' fds, then: */
enum { FD_PIPE = 6, FD_SOCK = 7, FD_DGRAM = 8, FD_NULL = 9, FD_SPARE = 10, FD_HIGH = 11,
       FD_SSRC = 12 /* a stream socket as a source: the peer's bytes wait in it */ };
#define DUP2_HIGH 99  /* dup2 target meaning "the high fd" (near zcopy's own) */
#define OPEN_AT 4     /* open flag: the new fd takes the slot's number (dup2) */

/* What the helper thread of an "arm" op does while main's next op is
 * blocked in a write (see exec.c). */
enum { ACT_DUP2 = 0, ACT_REOPEN, ACT_PWRITE, ACT_SIGNAL, ACT_PEER, ACT__COUNT };
#define ARM_SOCK 1    /* arm flags: the reader held is the socket's (else the pipe's) */
#define ARM_FILL 2    /* ... and its pipe or socket is full before the op */

enum fz_kind {
	BK_ALIGNED = 0, /* posix_memalign(4096) */
	BK_PAGE16,      /* large malloc: page + 16 */
	BK_SMALL,       /* small malloc */
	BK_STATIC,      /* page-aligned .bss */
	BK_MMAP,        /* anonymous mmap */
	BK__COUNT
};

struct fz_buf {
	char *p;
	size_t size;
	int kind;
};

/* Initial world, derived from the seed alone (never from the op list). */
struct fz_setup {
	uint64_t seed;
	size_t file_size[NFILES];
	int buf_kind[NBUFS];
	size_t buf_size[NBUFS];
	int fp_file[NFPS];
	int append_slot; /* fd slot opened O_APPEND, or -1 */
	/* The socket source (slot 12): UNIX socketpair or loopback TCP, how
	 * many bytes its peer writes, and the seed of their pattern and of the
	 * piece sizes it writes them in. */
	int ssrc_tcp;
	size_t ssrc_bytes;
	uint64_t ssrc_seed;
	int ssrc_small; /* pieces of at most 2 KiB */
};

/* ---- pieces ---------------------------------------------------------------- */

/* Deterministic generator (xorshift64*). */
static inline uint64_t fz_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}
static inline long fz_below(uint64_t *s, long n)
{
	return n > 0 ? (long)(fz_rand(s) % (uint64_t)n) : 0;
}

/* Hash of a byte stream, independent of how the stream is split. */
struct fz_hash {
	uint64_t h, acc, total;
	unsigned n;
};
void fz_hash_init(struct fz_hash *h);
void fz_hash_add(struct fz_hash *h, const void *p, size_t len);
uint64_t fz_hash_end(const struct fz_hash *h);
uint64_t fz_sum(const void *p, size_t len);

/* gen.c */
void fz_setup_from_seed(uint64_t seed, struct fz_setup *w);
void fz_generate(uint64_t seed, int nops, struct fz_script *s);
/* Rewrites ops of the named known divergence classes; -1 on a bad name. */
int fz_avoid(struct fz_script *s, const char *list);
int fz_script_read(FILE *f, struct fz_script *s, char *err, size_t errcap);
void fz_script_write(FILE *f, const struct fz_script *s, const unsigned char *keep);
void fz_script_push(struct fz_script *s, char ctx, int op, long a0, long a1, long a2, long a3,
		    long a4);
/* Parses "0,3,5-9" into keep[0..n); returns 0 or -1. */
int fz_parse_subset(const char *spec, unsigned char *keep, int n);

/* world.c: the world a script acts on (one per process). */
#define FZ_PATH 1024
#define MAX_BUF (4UL << 20)
struct fz_world {
	const struct fz_setup *w;
	int fd[NFDS];          /* fd number of each slot (kept after close) */
	struct fz_buf b[NBUFS];
	FILE *fp[NFPS_ALL];
	char path[NFILES][FZ_PATH];
	char dir[FZ_PATH - 64];
	int highfd;            /* RLIMIT_NOFILE - 16: where zcopy keeps its own fd */
	int ctl_rd, ctl_wr;    /* closing ctl_wr ends the datagram reader */
	pid_t reader[3];       /* pipe, stream socket, datagram socket */
	int stream_fd[3];      /* our own dups of the three writing ends */
	int quit_wr[2];        /* a 'q' here makes the pipe or socket reader quit */
	int gone[2];           /* that reader quit (peer op): its end is closed */
	int gone_status[2];    /* and its wait status */
	int ssrc_keep;         /* our own dup of the socket source, for the end state */
	size_t ssrc_queued;    /* bytes its peer wrote (all queued before the script) */
};
extern struct fz_world fzw;
int fz_world_setup(const struct fz_setup *w, const char *dir);
void fz_fill(char *p, size_t n, uint64_t tag);
int fz_buf_alloc(int slot, int kind, size_t size, uint64_t tag);
void fz_buf_release(int slot);
/* Closes every fd from 3 up except k1 and k2 (-1: none). */
void fz_close_all_but(int k1, int k2);
/* Waits for reader i (0 pipe, 1 socket, 2 datagram); its result line. */
void fz_reader_result(int i, char *line, size_t cap, int *status);
/* Reader i (0 pipe, 1 socket): once what was written to it is drained,
 * stop it (SIGSTOP), or let it go on.  Return 0 (or -1: not stopped). */
int fz_reader_stop(int i);
int fz_reader_cont(int i);
int fz_reader_stopped(int i);
/*
 * Waits until every reader has taken everything written to it so far (a
 * stopped reader is let go meanwhile and stopped again).  The executor calls
 * it before every op that changes a regular file: bytes that splice or
 * sendfile put in a pipe or socket are references to the file's pages, so a
 * change to the file before the reader took them would reach the reader (a
 * documented limit of zcopy, not something it can fix).  Unless
 * fz_in_flight (--in-flight) is set: then the limit is shown on purpose.
 */
void fz_readers_drain(void);
/*
 * Reader i (0 pipe, 1 socket) closes its end and exits, so that later writes
 * get EPIPE (and SIGPIPE).  With drain, it first takes everything written so
 * far; without (the helper, during a blocked write), it takes nothing more.
 * Returns 0, or -1 when it is already gone.
 */
int fz_reader_quit(int i, int drain);
/* Pipe or socket i's room shrunk to 64 KiB (its reader must be stopped and
 * drained), optionally filled; fz_stream_restore gives the room back. */
int fz_stream_shrink(int i, int fill);
void fz_stream_restore(int i);
/* Where the world's processes leave their pids, in memory shared with the
 * supervisor (main.c) that reports the end state if the run dies by a
 * signal. */
struct fz_shared {
	pid_t reader[3];
	char dir[FZ_PATH - 64];
	int ready;
};
extern struct fz_shared *fz_shared;
/* In the supervisor, after the run died: the end state as finish() logs it. */
void fz_after_death(const struct fz_setup *w, int status);
/* In a forked child: the drain lock may have been held by the thread. */
void fz_world_forked(void);
extern int fz_in_flight;
/* --fd-reuse: every copy loop of main reuses its fd numbers between every
 * read and write (close/open, dup2, fclose/freopen of an fdopen). */
extern int fz_fd_reuse;
extern int fz_verbose; /* --verbose: what the helper saw, on stderr */
/* --sock-src: copy loops also read from the socket source (slot 12). */
extern int fz_sock_src;
/* --stdio-pipe: the world has FILEs on the pipe and the stream socket
 * (FP_PIPE, FP_SOCK), and copy loops fwrite into them. */
extern int fz_stdio_pipe;
/* What is left in the socket source, read without waiting: "bytes hash". */
void fz_ssrc_rest(char *line, size_t cap);
/* Hash and length of file i's bytes; the file is removed. */
uint64_t fz_file_hash(int i, uint64_t *bytes);

/* act.c: signals (which: 0 SIGPIPE, 1 SIGXFSZ, 2 SIGUSR1; how: 0 default,
 * 1 ignored, 2 handled with SA_RESTART, 3 without, 4 for SIGUSR1 handled
 * by a jump out of main's op) and the calling thread's
 * counts of them; the helper of "arm" (armed by main, started and joined
 * around main's next op, whose log line is followed by the helper's). */
int fz_sig_set(int which, int how);
void fz_sig_counts(unsigned n[3]);
/* SIGUSR1 with how 4 (handled, and an op of main is left by siglongjmp):
 * is it on; main's sigsetjmp for the op about to run, and clear again. */
int fz_jump_on(void);
void fz_jump_enter(sigjmp_buf *env);
void fz_jump_leave(void);
int fz_helper_arm(const long a[5]);
/* dest: the fd main's op writes into (-1: none); the helper acts during
 * the op only if that is the held pipe or socket, else after it. */
void fz_helper_start(int idx, int dest);
void fz_helper_join(char *line, size_t cap); /* line: "" if it was not started */
void fz_helper_disarm(void);

/* exec.c: runs the script on the world; log lines go to fd 1. */
int fz_run(const struct fz_setup *w, const struct fz_script *s, const unsigned char *keep,
	   const char *dir);

#endif
