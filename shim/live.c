/*
 * live.c - the live page (see live.h): made on the process's first counter,
 * counted into while it runs, removed at exit.
 *
 * The counters are never copied from one place to another while threads
 * count: until the page exists they go to zc_stats; from the moment the
 * pointer is switched they go to the page.  The record at exit adds the two,
 * so it is exact; the page also gets a copy of zc_stats as it was just after
 * the switch (`base`), so a reader sees what came before, missing at most
 * the increments of calls that were under way at that moment.
 *
 * The file is opened with O_NOFOLLOW in a directory that must be the user's
 * own with mode 0700, moved high at once (ownfd.c: the program's next open
 * gets the number it would have got) and closed as soon as it is mapped:
 * zcopy holds no descriptor for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "live.h"
#include "ownfd.h"
#include "real.h"
#include "stats.h"

int zc_live_tried = 1; /* until zc_live_init says where the page goes */
static char dir[PATH_MAX];
static char file[PATH_MAX];
static struct zc_live_page *page;
static dev_t page_dev; /* the file made for page: the name is removed */
static ino_t page_ino; /* only while it still names that file */

static int is_own_dir(const char *path, unsigned uid)
{
	struct stat st;
	return REAL(lstat)(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid;
}

void zc_live_init(void)
{
	if (zc_cfg.mode == ZC_MODE_OFF)
		return;
	if (zc_live_dir(dir, sizeof dir, getenv("XDG_RUNTIME_DIR"), (unsigned)getuid(),
			is_own_dir) == 0)
		__atomic_store_n(&zc_live_tried, 0, __ATOMIC_RELEASE);
}

/* dir exists (made now if needed), is ours and no one else's. */
static int dir_ready(void)
{
	struct stat st;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return 0;
	return REAL(lstat)(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() &&
	       (st.st_mode & 077) == 0;
}

/*
 * The page's file must hold its page for good before it is mapped.  Sized by
 * ftruncate alone it would be sparse, and on a full filesystem (a tmpfs
 * /run/user, a quota) the first counter stored into the mapping would raise
 * SIGBUS: the program's death.  So its bytes are written, and a full disk
 * fails that write (ENOSPC, EDQUOT) and the process runs without a page.
 * Past a file size limit below one page, growing the file would raise
 * SIGXFSZ, by default the program's death too: then there is no page.
 */
static int page_fits(int fd)
{
	static const char zeros[ZC_LIVE_SIZE];
	struct rlimit rl;
	ssize_t n;

	if (getrlimit(RLIMIT_FSIZE, &rl) != 0 ||
	    (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < ZC_LIVE_SIZE))
		return 0;
	do
		n = REAL(pwrite)(fd, zeros, sizeof zeros, 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof zeros;
}

static struct zc_live_page *make_page(void)
{
	struct stat st;
	size_t n = 0;
	int slot = -1;
	void *p;

	if (!dir_ready())
		return NULL;
	zc_live_cat(file, sizeof file, &n, dir);
	zc_live_cat(file, sizeof file, &n, "/");
	zc_live_cat_uint(file, sizeof file, &n, (unsigned)getpid());
	if (n >= sizeof file)
		return NULL;
	/* Always a file of our own.  One with this name may be left by this
	 * process before an exec, or by a killed process whose pid came back;
	 * but it may also be the page of a live process with the same pid in
	 * another PID namespace sharing the directory (containers, unshare
	 * -p): truncating that one would zero its counters, merge ours into
	 * them and raise SIGBUS in it.  So the name is taken over by a new
	 * file and the old one stays with whoever has it mapped. */
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 2; tries++) {
		fd = REAL(open)(file, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
					      O_NONBLOCK, 0600);
		if (fd < 0 && (errno != EEXIST || unlink(file) != 0))
			break;
	}
	if (fd < 0 || zc_ownfd_take(fd, &slot, 0) < 0) {
		file[0] = '\0';
		return NULL;
	}
	p = MAP_FAILED;
	if (zc_fstat(slot, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid() &&
	    page_fits(slot))
		p = REAL(mmap)(NULL, ZC_LIVE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, slot, 0);
	page_dev = st.st_dev;
	page_ino = st.st_ino;
	zc_ownfd_close(&slot);
	if (p == MAP_FAILED) {
		unlink(file);
		file[0] = '\0';
		return NULL;
	}
	return p;
}

struct zc_stats *zc_live_start(void)
{
	int expected = 0;
	if (!__atomic_compare_exchange_n(&zc_live_tried, &expected, 1, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return __atomic_load_n(&zc_stats_cur, __ATOMIC_ACQUIRE);
	int saved = errno;
	struct zc_live_page *p = make_page();
	if (p) {
		ssize_t el = REAL(readlink)("/proc/self/exe", p->exe, sizeof p->exe - 1);
		p->exe[el > 0 ? el : 0] = '\0';
		p->pid = (int64_t)getpid();
		const char *m = zc_mode_name(zc_cfg.mode);
		strncpy(p->mode, m ? m : "", sizeof p->mode - 1);
		page = p;
		__atomic_store_n(&zc_stats_cur, &p->live, __ATOMIC_RELEASE);
		zc_stats_snapshot_static(&p->base);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		memcpy(p->magic, ZC_LIVE_MAGIC, sizeof p->magic);
	}
	errno = saved;
	return __atomic_load_n(&zc_stats_cur, __ATOMIC_ACQUIRE);
}

void zc_live_remove(void)
{
	if (page && file[0]) {
		int saved = errno;
		struct stat st;
		/* Another process with our pid in another PID namespace may
		 * have taken the name over since. */
		if (REAL(lstat)(file, &st) == 0 && st.st_dev == page_dev && st.st_ino == page_ino)
			unlink(file);
		file[0] = '\0';
		errno = saved;
	}
}

void zc_live_after_fork_child(void)
{
	__atomic_store_n(&zc_stats_cur, &zc_stats, __ATOMIC_RELEASE);
	if (page) {
		REAL(munmap)(page, ZC_LIVE_SIZE);
		page = NULL;
	}
	file[0] = '\0';
	if (dir[0])
		__atomic_store_n(&zc_live_tried, 0, __ATOMIC_RELEASE);
}

void zc_live_add_to(struct zc_stats *s)
{
	if (!page)
		return;
	const uint64_t *src = (const uint64_t *)&page->live;
	uint64_t *dst = (uint64_t *)s;
	for (size_t i = 0; i < sizeof *s / sizeof(uint64_t); i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
