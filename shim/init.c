/*
 * init.c - start-up, fork and exit.
 *
 * The constructor fills the real-function table, reads the settings, opens
 * the log and arms the engine; until it has run every wrapper passes calls
 * straight through (a call that arrives earlier, from another library's
 * constructor, is simply a plain call).  fork hands the child a fresh lock,
 * its own pagemap and its own stats record; exit writes the stats record.
 *
 * Two start-up checks can leave the library inert (zc_ready stays 0, so
 * every wrapper passes its call straight through, nothing is installed and
 * no record is written): the process is outside ZCOPY_ONLY / ZCOPY_SKIP, or
 * another copy of the library was loaded first (the same library preloaded
 * from two paths: the first copy does the work and counts once).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "fdinfo.h"
#include "fatal.h"
#include "inflight.h"
#include "guard.h"
#include "live.h"
#include "log.h"
#include "optcache.h"
#include "ownfd.h"
#include "phantom.h"
#include "pin.h"
#include "real.h"
#include "seams.h"
#include "signals.h"
#include "stats.h"
#include "stdio_path.h"
#include "streams.h"
#include "wrap.h"
#include "zcopy.h"

/* Exported (exports.map), and looked up by every copy of the library at
 * start-up: the copy whose own marker is found first in the global scope is
 * the one whose wrappers the program calls; any other copy stands aside.
 * The hidden alias gives each copy its own address (the exported name may be
 * bound to another copy's). */
__attribute__((visibility("default"))) const char zcopy_loaded[] = ZCOPY_VERSION;
extern const char zc_own_marker[sizeof ZCOPY_VERSION]
	__attribute__((alias("zcopy_loaded"), visibility("hidden")));

static int another_copy_first(void)
{
	const void *first = dlsym(RTLD_DEFAULT, "zcopy_loaded");
	return first && first != (const void *)zc_own_marker;
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

/* Does the parent process hold entry ("NAME=value") in the environment it
 * was started with?  Reads at most the first 64 KiB of it; 0 when unsure. */
static int parent_has(const char *entry)
{
	static char env[65536];
	char path[32];
	size_t len = strlen(entry), have = 0;
	ssize_t n;
	int fd;

	zc_fmt(path, sizeof path, "/proc/%ld/environ", (long)getppid());
	fd = REAL(open)(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (have < sizeof env - 1) {
		n = REAL(read)(fd, env + have, sizeof env - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	REAL(close)(fd);
	env[have] = '\0';
	for (size_t i = 0; i < have; i += strlen(env + i) + 1)
		if (strncmp(env + i, entry, len) == 0 && env[i + len] == '\0')
			return 1;
	return 0;
}

/* A process started by one that had the same bad value and the same
 * LD_PRELOAD: the parent said it already (a shell script or a make run
 * under a misspelt setting gets one line, not one per command). */
static int parent_said_it(const char *var, const char *value)
{
	char entry[1024];
	const char *preload = getenv("LD_PRELOAD");

	if (!preload || zc_fmt(entry, sizeof entry, "LD_PRELOAD=%s", preload) >= sizeof entry - 1)
		return 0;
	if (!parent_has(entry))
		return 0;
	if (zc_fmt(entry, sizeof entry, "%s=%s", var, value) >= sizeof entry - 1)
		return 0;
	return parent_has(entry);
}

/* A bad value is always reported, log or no log: it changes what zcopy does
 * (a misspelt ZCOPY_MODE turns it off), and a user who set it wants to know.
 * It is the only line zcopy writes without being asked: once per process
 * (the constructor runs once; a forked child does not run it again), and not
 * again in a child of a process that said it already. */
static void report(const char *var, const char *value, const char *why)
{
	const char *effect = strcmp(var, ZCOPY_ENV_MODE) == 0 ? "zcopy is off in this process"
							     : "using the default";
	char shown[80], line[512];
	size_t i, n;
	int saved = errno;

	/* The value on one line, and not too much of it. */
	for (i = 0; value[i] && i < sizeof shown - 4; i++)
		shown[i] = (unsigned char)value[i] < 0x20 || value[i] == 0x7f ? '?' : value[i];
	if (value[i])
		shown[i++] = '.', shown[i++] = '.', shown[i++] = '.';
	shown[i] = '\0';
	if (zc_log_level < 1 && parent_said_it(var, value)) {
		errno = saved;
		return;
	}
	if (zc_log_level >= 1) {
		zc_log(1, "%s=\"%s\": %s; %s", var, shown, why, effect);
		return;
	}
	n = zc_fmt(line, sizeof line - 1, "zcopy[%ld]: %s=\"%s\": %s; %s",
		   (long)getpid(), var, shown, why, effect);
	line[n++] = '\n';
	while (REAL(write)(2, line, n) < 0 && errno == EINTR)
		;
	errno = saved;
}

static void changed(const char *var, const char *value)
{
	zc_log(1, "setting %s=%s", var, value);
}

/* The child is another process: if it later changes a file that a phantom
 * stands for, the parent's buffer (a private mapping of that file) would
 * show the change.  So at fork every phantom gets its bytes first: parent
 * and child then hold ordinary copies, as they would without zcopy.
 * (vfork and posix_spawn run no fork handlers, and need none: the child
 * only execs.) */
static int forked_inside; /* fork() came from a handler that interrupted zcopy */

/* From the prepare handler to the parent and child handlers this thread
 * holds the engine lock, and glibc does not block signals around the fork
 * handlers: a signal handler that runs meanwhile and writes must see
 * zc_inside set and take the plain path, as everywhere the lock is held.
 * The value it had before (a handler that forks may have interrupted
 * zcopy) comes back afterwards.  Per thread: two threads may fork at once. */
static __thread int inside_before_fork __attribute__((tls_model("initial-exec")));

static void fork_prepare(void)
{
	inside_before_fork = zc_inside;
	zc_inside = 1;
	/* The flag, not only the lock: a handler may interrupt zc_lock or
	 * zc_unlock between the mutex and the "held" mark. */
	if (inside_before_fork || zc_lock_held()) {
		/* A signal handler forks while this thread is in the middle of
		 * zcopy's own work: the tables may be half changed, so nothing
		 * can be done with them now. */
		forked_inside = 1;
		return;
	}
	/* Outside zcopy's work: whatever zc_cancel_held says, the lock asks
	 * glibc (engine.h). */
	zc_cancel_held = 0;
	zc_lock();
	if (zc_phantom_live)
		zc_phantom_materialize(0, UINTPTR_MAX - zc_page);
}

static void fork_parent(void)
{
	if (forked_inside)
		forked_inside = 0;
	else
		zc_unlock();
	zc_inside = inside_before_fork;
}

static void fork_child(void)
{
	/* zc_inside is still set from fork_prepare (the child's copy of the
	 * forking thread's flag). */
	int inside = forked_inside;
	if (forked_inside) {
		/* The child's tables may be half changed: it passes every call
		 * through from now on (such a child normally only execs). */
		forked_inside = 0;
		zc_mode = ZC_MODE_OFF;
		zc_read_min = SIZE_MAX;
		zc_write_min = SIZE_MAX;
	} else {
		/* Taken in fork_prepare: released so that this thread no longer
		 * counts as holding it (zc_lock_held), then made afresh below. */
		zc_unlock();
	}
	/* A per-process log file (%p in ZCOPY_LOG_FILE) is opened anew. */
	if (zc_cfg.log_level > 0 && strstr(zc_cfg.log_file, "%p")) {
		zc_log_close();
		zc_log_open(zc_cfg.log_file, zc_cfg.log_level);
	}
	zc_engine_reset();
	/* Another process: kcmp names it anew, the parent's writes in flight
	 * are not its own, and it holds nothing open of zcopy's.  (Unless the
	 * fork came from a handler that interrupted zcopy: the interrupted
	 * write goes on in the child too, on its pins.) */
	if (!inside) {
		zc_pin_after_fork_child();
		zc_inflight_after_fork_child();
	} else {
		zc_pin_init();
	}
	zc_phantom_after_fork_child();
	zc_maps_after_fork_child();
	zc_stdio_fork_child();
	zc_stats_reset();
	zc_inside = inside_before_fork;
}

/*
 * _Fork (glibc 2.34) forks without the fork handlers above, also from a
 * signal handler that interrupted zcopy.  Its child has the parent's tables
 * as they were: pins that kcmp checks against the parent's descriptors, and
 * an fd registry (ownfd.c) that takes it for a vfork child, whose closes
 * must leave the tables alone; its writes went to files the program had
 * replaced; it counted into the parent's live page and its record repeated
 * the parent's counters.  So the child passes every call through from then
 * on, as a child forked inside zcopy does (such a child normally only
 * execs), with counters of its own (zc_stats_reset touches no lock).
 */
ZC_EXPORT pid_t _Fork(void)
{
	pid_t pid = REAL(_Fork)();
	if (pid == 0) {
		zc_mode = ZC_MODE_OFF;
		zc_read_min = SIZE_MAX;
		zc_write_min = SIZE_MAX;
		zc_stats_reset(); /* the parent's counters, live page and flows */
	}
	return pid;
}

static void arm(void)
{
	zc_mode = zc_cfg.mode;
	zc_min_chunk = zc_cfg.min_chunk;
	switch (zc_cfg.mode) {
	case ZC_MODE_ON:
		/* Not while the program ignores SIGBUS (signals.c). */
		zc_read_min = zc_signals_defer_ok() ? zc_min_chunk : SIZE_MAX;
		zc_write_min = SIZE_MAX; /* until the first stream (engine.c, arm_writes) */
		break;
	case ZC_MODE_OBSERVE:
		zc_read_min = 1; /* observe sees every call, to tell why */
		zc_write_min = 1;
		break;
	default:
		zc_read_min = SIZE_MAX;
		zc_write_min = SIZE_MAX;
	}
}

/* ZCOPY_ONLY / ZCOPY_SKIP, checked once: the executable's path and the name
 * the program was started as. */
static int in_scope(void)
{
	static char exe[ZC_PATH_MAX * 2];
	ssize_t n;

	if (!zc_cfg.only[0] && !zc_cfg.skip[0])
		return 1;
	n = REAL(readlink)("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	return zc_config_in_scope(&zc_cfg, exe, program_invocation_name);
}

/* Called by the constructor, once. */
static void zc_init(void)
{
	static int once;
	if (__atomic_exchange_n(&once, 1, __ATOMIC_ACQ_REL))
		return;
	zc_real_resolve();
	/* Registered first, so its fork prepare handler runs after the
	 * engine's (lock order: engine, then ownfd) and its child handler
	 * before the engine's (which closes the child's pagemap through it). */
	zc_ownfd_init();
	long pg = sysconf(_SC_PAGESIZE);
	if (pg > 0)
		zc_page = (size_t)pg;

	if (another_copy_first())
		return;

	/* Parse once quietly to learn the scope and where to log, then again to
	 * report.  A process out of scope stays silent and untouched. */
	zc_config_defaults(&zc_cfg);
	zc_config_parse(&zc_cfg, env_get, NULL, NULL);
	if (!in_scope())
		return;
	zc_log_open(zc_cfg.log_file, zc_cfg.log_level);
	zc_config_defaults(&zc_cfg);
	zc_config_parse(&zc_cfg, env_get, report, changed);

	zc_stats_open();
	zc_live_init();
	zc_engine_init();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (zc_cfg.mode == ZC_MODE_ON) {
		zc_signals_init();
		zc_optcache_init();
	}
	if (zc_cfg.mode == ZC_MODE_ON && zc_cfg.guard)
		zc_guard_signals_init();
	/* After those two: SIGBUS (mode on) and SIGSEGV (guards) are theirs. */
	zc_fatal_init(zc_cfg.mode == ZC_MODE_ON, zc_cfg.mode == ZC_MODE_ON && zc_cfg.guard);
	arm();
	zc_ready = 1;
	zc_log(2, "ready: mode %s, min chunk %zu", zc_mode_name(zc_cfg.mode), zc_min_chunk);
}

/* errno is left as it was: C promises the program errno 0 at start-up, and
 * the settings, logs and probes of the start leave their failures in it
 * (ENOENT of a file not there). */
__attribute__((constructor)) static void zc_constructor(void)
{
	int saved = errno;
	zc_init();
	errno = saved;
}

__attribute__((destructor)) static void zc_destructor(void)
{
	if (!zc_ready)
		return;
	zc_inside = 1; /* whatever runs after us is passed through */
	zc_flows_log_open();
	zc_stats_emit();
	zc_live_remove();
	zc_log_close();
}
