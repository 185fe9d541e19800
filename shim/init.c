/*
 * init.c - start-up, fork and exit.
 *
 * The constructor fills the real-function table, reads the settings, opens
 * the log and arms the engine; until it has run every wrapper passes calls
 * straight through (a call that arrives earlier, from another library's
 * constructor, is simply a plain call).  fork hands the child a fresh lock,
 * its own pagemap and its own stats record; exit writes the stats record.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "fdinfo.h"
#include "guard.h"
#include "log.h"
#include "phantom.h"
#include "pin.h"
#include "real.h"
#include "stats.h"

void zc_signals_init(void);

static const char *env_get(const char *name)
{
	return getenv(name);
}

static void report(const char *var, const char *value, const char *why)
{
	zc_log(1, "%s=\"%s\" ignored: %s; using the default", var, value, why);
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

static void fork_prepare(void)
{
	if (zc_lock_held()) {
		/* A signal handler forks while this thread is in the middle of
		 * zcopy's own work: the tables may be half changed, so nothing
		 * can be done with them now. */
		forked_inside = 1;
		return;
	}
	zc_lock();
	if (zc_phantom_live)
		zc_phantom_materialize(0, UINTPTR_MAX - zc_page);
}

static void fork_parent(void)
{
	if (forked_inside) {
		forked_inside = 0;
		return;
	}
	zc_unlock();
}

static void fork_child(void)
{
	if (forked_inside) {
		/* The child's tables may be half changed: it passes every call
		 * through from now on (such a child normally only execs). */
		forked_inside = 0;
		zc_mode = ZC_MODE_OFF;
		zc_read_min = SIZE_MAX;
		zc_write_min = SIZE_MAX;
	}
	/* A per-process log file (%p in ZCOPY_LOG_FILE) is opened anew. */
	if (zc_cfg.log_level > 0 && strstr(zc_cfg.log_file, "%p")) {
		zc_log_close();
		zc_log_open(zc_cfg.log_file, zc_cfg.log_level);
	}
	zc_engine_reset();
	zc_pin_init(); /* kcmp names the process: it is another one now */
	zc_phantom_after_fork_child();
	zc_stats_reset();
}

static void arm(void)
{
	zc_mode = zc_cfg.mode;
	zc_min_chunk = zc_cfg.min_chunk;
	switch (zc_cfg.mode) {
	case ZC_MODE_ON:
		zc_read_min = zc_min_chunk;
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

void zc_init(void)
{
	static int once;
	if (__atomic_exchange_n(&once, 1, __ATOMIC_ACQ_REL))
		return;
	zc_real_resolve();
	long pg = sysconf(_SC_PAGESIZE);
	if (pg > 0)
		zc_page = (size_t)pg;

	/* Parse once quietly to learn where to log, then again to report. */
	zc_config_defaults(&zc_cfg);
	zc_config_parse(&zc_cfg, env_get, NULL, NULL);
	zc_log_open(zc_cfg.log_file, zc_cfg.log_level);
	zc_config_defaults(&zc_cfg);
	zc_config_parse(&zc_cfg, env_get, report, changed);

	zc_stats_open();
	zc_engine_init();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (zc_cfg.mode == ZC_MODE_ON)
		zc_signals_init();
	if (zc_cfg.mode == ZC_MODE_ON && zc_cfg.guard)
		zc_guard_signals_init();
	arm();
	zc_ready = 1;
	zc_log(2, "ready: mode %s, min chunk %zu", zc_mode_name(zc_cfg.mode), zc_min_chunk);
}

__attribute__((constructor)) static void zc_constructor(void)
{
	zc_init();
}

__attribute__((destructor)) static void zc_destructor(void)
{
	if (!zc_ready)
		return;
	zc_inside = 1; /* whatever runs after us is passed through */
	zc_stats_emit();
	zc_log_close();
}
