/*
 * ownfd.c - descriptors zcopy holds for itself (see ownfd.h).
 */
#include "ownfd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fdinfo.h"
#include "real.h"

/* The lowest number zcopy takes: near the top of the soft limit. */
static int floor_fd(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1000;
	return rl.rlim_cur > 256 ? (int)rl.rlim_cur - 64 : (int)rl.rlim_cur / 2;
}

int zc_ownfd_take(int fd, int *slot, int keep_src)
{
	int saved = errno;
	int high = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, floor_fd());
	if (!keep_src)
		REAL(close)(fd);
	*slot = high;
	errno = saved;
	return high;
}

void zc_ownfd_close(int *slot)
{
	int saved = errno;
	if (*slot >= 0) {
		zc_fd_forget(*slot);
		REAL(close)(*slot);
	}
	*slot = -1;
	errno = saved;
}

int zc_ownfd_is(int fd)
{
	(void)fd;
	return 0;
}
