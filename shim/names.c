/*
 * names.c - libc functions that close or replace a descriptor inside libc.
 *
 * glibc closes a stream's or a directory's descriptor through its own
 * internal entry points, which no preload sees: the wrapped close never
 * runs.  A pin (pin.c) trusts its last proof only while no wrapped call may
 * have changed what a number names, so each of these says so around the
 * call (zc_pin_names_changing/changed), like close itself.  fclose and
 * freopen are wrapped in stdio.c and paths.c for their other duties.
 *
 * Checked in glibc's sources: fclose, freopen, closedir, pclose (an fclose),
 * endmntent (an fclose inside libc), login_tty (dup2 onto 0, 1 and 2) and
 * mq_close close or replace a number the program holds.  fcloseall only
 * flushes (_IO_cleanup closes nothing); daemon, forkpty, posix_spawn, popen
 * and system change numbers in a child only, after fork (whose handler
 * drops every pin) or in a process of their own; the others (syslog, the
 * resolver, fts, nftw, scandir, perror, wordexp, utmp) close descriptors
 * they opened themselves and never handed to the program.
 */
#include <dirent.h>
#include <errno.h>
#include <mntent.h>
#include <mqueue.h>
#include <stdio.h>
#include <utmp.h>

#include "engine.h"
#include "pin.h"
#include "real.h"

#define ZC_EXPORT __attribute__((visibility("default")))

/* fd is closing inside libc: pins made from it go now, not at their next
 * use (zcopy holds nothing open that the program let go of).  Called before
 * the call and after it: another thread may have pinned the number
 * meanwhile. */
static void closed(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		zc_engine_fd_closed(fd);
		errno = saved;
	}
}

/* closedir(NULL) fails with EINVAL in glibc, although declared nonnull: a
 * parameter of our own that is not declared so is compared. */
__attribute__((noipa)) static int fd_of_dir(DIR *d)
{
	return d ? dirfd(d) : -1;
}

ZC_EXPORT int closedir(DIR *d)
{
	int fd = zc_ready ? fd_of_dir(d) : -1;
	zc_pin_names_changing();
	closed(fd);
	int r = REAL(closedir)(d);
	closed(fd);
	zc_pin_names_changed();
	return r;
}

ZC_EXPORT int pclose(FILE *fp)
{
	int fd = zc_ready && fp ? fileno(fp) : -1;
	zc_pin_names_changing();
	/* Before too: pclose waits for the command, which waits for the end
	 * of its input, which a pin of the pipe's write end would hold off
	 * for ever. */
	closed(fd);
	int r = REAL(pclose)(fp);
	closed(fd);
	zc_pin_names_changed();
	return r;
}

ZC_EXPORT int endmntent(FILE *fp)
{
	int fd = zc_ready && fp ? fileno(fp) : -1;
	zc_pin_names_changing();
	closed(fd);
	int r = REAL(endmntent)(fp);
	closed(fd);
	zc_pin_names_changed();
	return r;
}

ZC_EXPORT int login_tty(int fd)
{
	zc_pin_names_changing();
	int r = REAL(login_tty)(fd);
	zc_pin_names_changed();
	return r;
}

ZC_EXPORT int mq_close(mqd_t q)
{
	if (!REAL(mq_close)) { /* not in this libc: what a missing symbol does */
		errno = ENOSYS;
		return -1;
	}
	zc_pin_names_changing();
	int r = REAL(mq_close)(q);
	zc_pin_names_changed();
	return r;
}
