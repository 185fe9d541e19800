/*
 * stdio_path.h - fread and fwrite that take part in zero copy
 * (stdio_read.c, stdio_write.c), called by the wrappers in stdio.c with the
 * stream locked.
 *
 * Each replays what glibc's fread/fwrite would do on a plain file stream,
 * step by step, through glibc's own functions wherever the FILE changes
 * (fread_unlocked of the bytes it holds, fflush_unlocked, fwrite_unlocked of
 * the part it keeps), and does through the engine only the system call
 * glibc would have made on the caller's buffer directly.  They return the
 * bytes moved, or ZC_STDIO_PLAIN before touching anything when the program's
 * own call must be made.
 */
#ifndef ZC_STDIO_PATH_H
#define ZC_STDIO_PATH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ZC_STDIO_PLAIN ((size_t)-1)

size_t zc_stdio_fread(char *buf, size_t total, FILE *fp);
size_t zc_stdio_fwrite(const char *buf, size_t total, FILE *fp);
/* Data written through fp reaches its file by glibc's internal write, now
 * or at a later flush: phantoms of that file get their bytes first (stdio.c;
 * one compare while none exists; errno kept). */
void zc_stdio_file_changing(FILE *fp);
/* A jump to a frame whose stack pointer is target_sp (jump.c): an fwrite
 * it leaves while the write of its start was under way keeps the start in
 * its stream's buffer, as glibc's does (stdio_write.c, "The start"). */
void zc_stdio_start_jumped(uintptr_t target_sp);
/* In a forked child: the starts other threads were writing go into their
 * streams' buffers, as glibc's child has them (stdio_write.c, "A fork"). */
void zc_stdio_fork_child(void);

#endif
