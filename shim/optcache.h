/*
 * optcache.h - settings zcopy would otherwise ask the kernel for on every
 * chunk, kept until a wrapped call changes them.
 *
 * Resource limits: the soft RLIMIT_NOFILE (where zcopy places its own
 * descriptors, ownfd.c) and RLIMIT_FSIZE (before a write to a file,
 * transfer.c) are read once and kept until the program's setrlimit,
 * setrlimit64, prlimit or prlimit64 sets a limit (of any process: the
 * cache is simply read again).
 *
 * Socket options: a generation that every setsockopt of the program moves,
 * kept in a shared page that forked children inherit, so that a child
 * changing an option of a socket it shares with its parent moves the
 * parent's generation too.  sock.c keeps what it learned of a socket's
 * options under the generation it read before asking.
 *
 * What these calls cannot see (another process's prlimit on this one, a
 * raw syscall, io_uring, a BPF program, an exec'd process or one the socket
 * was passed to) is listed in the README's Limitations.
 */
#ifndef ZC_OPTCACHE_H
#define ZC_OPTCACHE_H

#include <stdint.h>
#include <sys/resource.h>

/* At start-up, mode on: the shared page of the socket option generation.
 * Without it (mmap failed) zc_sockopt_gen() is 0: nothing is cached. */
void zc_optcache_init(void);

/* The soft limit of resource res in *cur: 0, or -1 if getrlimit failed.
 * RLIMIT_NOFILE and RLIMIT_FSIZE come from the cache; errno is kept. */
int zc_rlimit_cur(int res, rlim_t *cur);

/* Around a wrapped call that sets a resource limit (interpose.c): a limit
 * read while one is under way is not kept. */
void zc_limits_changing(void);
void zc_limits_changed(void);

/* After a wrapped setsockopt (interpose.c): the generation moves. */
void zc_sockopt_changed(void);

/* The socket option generation now (0: do not cache). */
uint64_t zc_sockopt_gen(void);

#endif
