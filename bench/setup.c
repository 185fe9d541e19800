/*
 * setup.c - what the scenarios stand on: the source file (pseudo-random
 * bytes, so a misplaced block cannot go unnoticed), the file systems
 * (ext4 for file->file, a loop-mounted XFS with reflink), the names of file
 * systems, and the machine facts printed with the results.  Everything it
 * creates lives in the run's own work directory and is removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"

#define BLK (1024 * 1024)

static char mounted[2][MAXPATH]; /* what cleanup must unmount */
static char images[2][MAXPATH];

int fmt(char *out, size_t cap, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(out, cap, f, ap);
	va_end(ap);
	return n;
}

int hash_file(const char *path, uint64_t *size, uint64_t *hash)
{
	static char buf[BLK];
	struct bhash h;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	bhash_init(&h);
	while ((n = read(fd, buf, BLK)) > 0)
		bhash_update(&h, buf, (size_t)n);
	close(fd);
	if (n < 0)
		return -1;
	*size = h.n;
	*hash = bhash_final(&h);
	return 0;
}

/* Writes size pseudo-random bytes (xorshift64*) to path. */
static int make_source(const char *path, uint64_t size)
{
	static uint64_t buf[BLK / 8];
	uint64_t x = 0x2545f4914f6cdd1dULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	for (uint64_t done = 0; done < size;) {
		size_t len = size - done < BLK ? (size_t)(size - done) : BLK;
		for (size_t i = 0; i < BLK / 8; i++) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			buf[i] = x * 0x2545f4914f6cdd1dULL;
		}
		if (write(fd, buf, len) != (ssize_t)len) {
			close(fd);
			return -1;
		}
		done += len;
	}
	return fsync(fd) | close(fd);
}

/* A real copy (not a reflink) of the source onto another file system. */
static int copy_plain(const char *from, const char *to)
{
	static char buf[BLK];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n = -1;

	if (in >= 0 && out >= 0)
		while ((n = read(in, buf, BLK)) > 0)
			if (write(out, buf, (size_t)n) != n) {
				n = -1;
				break;
			}
	if (out >= 0 && (fsync(out) < 0 || close(out) < 0))
		n = -1;
	if (in >= 0)
		close(in);
	return n < 0 ? -1 : 0;
}

/* Runs from private copies of the library and the programs, so a `make
 * clean` or a rebuild elsewhere during a long run cannot change or remove
 * what is being measured. */
int setup_snapshot(struct bench *b)
{
	static const char *const progs[] = {"copy", "ideal", "sink"};
	char from[MAXPATH], to[MAXPATH];

	fmt(to, sizeof(to), "%s/libzcopy.so", b->work);
	if (copy_plain(b->lib, to) < 0 || chmod(to, 0755) < 0)
		return -1;
	fmt(b->lib, sizeof(b->lib), "%s", to);
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		fmt(from, sizeof(from), "%s/%s", b->bin, progs[i]);
		fmt(to, sizeof(to), "%s/%s", b->work, progs[i]);
		if (copy_plain(from, to) < 0 || chmod(to, 0755) < 0)
			return -1;
	}
	fmt(b->bin, sizeof(b->bin), "%s", b->work);
	return 0;
}

int setup_source(struct bench *b)
{
	uint64_t got;

	fmt(b->src, sizeof(b->src), "%s/source.dat", b->work);
	if (make_source(b->src, b->size) < 0)
		return -1;
	/* Reading it once both hashes it and leaves it in the page cache. */
	if (hash_file(b->src, &got, &b->src_hash) < 0 || got != b->size)
		return -1;
	return 0;
}

const char *fs_name(const char *path)
{
	static char name[32];
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return "unknown";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53: return "ext2/3/4";
	case 0x58465342: return "xfs";
	case 0x01021994: return "tmpfs";
	case 0x9123683E: return "btrfs";
	case 0x794c7630: return "overlayfs";
	case 0xF2F52010: return "f2fs";
	case 0x6969: return "nfs";
	default:
		fmt(name, sizeof(name), "magic 0x%lx", (unsigned long)sf.f_type);
		return name;
	}
}

/* The fs type the kernel reports for the mount holding path (ext4 and
 * ext2/3 share one statfs magic, so the magic alone cannot tell). */
void mount_type(const char *path, char *out, size_t cap)
{
	char real[PATH_MAX], line[1024], best[64] = "";
	size_t bestlen = 0;
	FILE *f = fopen("/proc/self/mounts", "re");

	fmt(out, cap, "%s", fs_name(path));
	if (!f || !realpath(path, real)) {
		if (f)
			fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char dev[256], mnt[512], type[64];
		size_t len;
		if (sscanf(line, "%255s %511s %63s", dev, mnt, type) != 3)
			continue;
		len = strlen(mnt);
		if (strncmp(real, mnt, len) == 0 && (real[len] == '/' || !real[len] || len == 1) &&
		    len >= bestlen) {
			bestlen = len;
			fmt(best, sizeof(best), "%s", type);
		}
	}
	fclose(f);
	if (*best)
		fmt(out, cap, "%s", best);
}

int find_in_path(const char *prog, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	fmt(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		fmt(out, cap, "%s/%s", d, prog);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* Runs argv quietly; returns its exit status (or -1). */
static int run_tool(char *const argv[])
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Makes a file system of type in a sparse image and loop-mounts it at mnt.
 * Returns 0, or -1 with the reason in why. */
static int mount_image(struct bench *b, int slot, const char *type, const char *mkfs_opts,
		       const char *mnt, char *why, size_t wcap)
{
	char mkfs[MAXPATH], mnt_bin[MAXPATH], prog[32], img[MAXPATH];
	uint64_t bytes = 2 * b->size + (512ULL << 20);
	int fd;

	fmt(prog, sizeof(prog), "mkfs.%s", type);
	if (geteuid() != 0)
		return fmt(why, wcap, "skipped: needs root to loop-mount an image"), -1;
	if (find_in_path(prog, mkfs, sizeof(mkfs)) < 0 ||
	    find_in_path("mount", mnt_bin, sizeof(mnt_bin)) < 0)
		return fmt(why, wcap, "skipped: %s (or mount) is not installed", prog), -1;
	fmt(img, sizeof(img), "%s/%s.img", b->work, type);
	if (bytes < (1ULL << 30))
		bytes = 1ULL << 30; /* mkfs.xfs refuses very small file systems */
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0) {
		if (fd >= 0)
			close(fd);
		return fmt(why, wcap, "skipped: cannot create %s", img), -1;
	}
	close(fd);
	fmt(images[slot], MAXPATH, "%s", img);
	{
		char *opts = strdup(mkfs_opts), *argv[10];
		int n = 0;
		argv[n++] = mkfs;
		for (char *s2 = NULL, *t = strtok_r(opts, " ", &s2); t && n < 8; t = strtok_r(NULL, " ", &s2))
			argv[n++] = t;
		argv[n++] = img;
		argv[n] = NULL;
		n = run_tool(argv);
		free(opts);
		if (n != 0)
			return fmt(why, wcap, "skipped: %s %s failed", prog, mkfs_opts), -1;
	}
	mkdir(mnt, 0755);
	{
		char *argv[] = {mnt_bin, "-o", "loop", img, (char *)mnt, NULL};
		if (run_tool(argv) != 0)
			return fmt(why, wcap, "skipped: mount -o loop of the %s image failed "
				       "(no loop devices here?)", type), -1;
	}
	fmt(mounted[slot], MAXPATH, "%s", mnt);
	return 0;
}

void setup_filesystems(struct bench *b)
{
	char mnt[MAXPATH], why[200] = "cannot copy the source onto the image";

	mount_type(b->work, b->work_fs, sizeof(b->work_fs));
	fmt(b->ext4_src, sizeof(b->ext4_src), "%s", b->src);
	if (strcmp(b->work_fs, "ext4") == 0) {
		fmt(b->ext4_dir, sizeof(b->ext4_dir), "%s", b->work);
		fmt(b->ext4_note, sizeof(b->ext4_note), "the work directory's own ext4");
	} else {
		fmt(mnt, sizeof(mnt), "%s/ext4", b->work);
		fmt(b->ext4_src, sizeof(b->ext4_src), "%s/source.dat", mnt);
		if (mount_image(b, 0, "ext4", "-q -F", mnt, why, sizeof(why)) == 0 &&
		    copy_plain(b->src, b->ext4_src) == 0) {
			fmt(b->ext4_dir, sizeof(b->ext4_dir), "%s", mnt);
			fmt(b->ext4_note, sizeof(b->ext4_note),
				 "the work directory is on %s, so a loop-mounted ext4 image", b->work_fs);
		} else {
			fmt(b->ext4_dir, sizeof(b->ext4_dir), "%s", b->work);
			fmt(b->ext4_src, sizeof(b->ext4_src), "%s", b->src);
			fmt(b->ext4_note, sizeof(b->ext4_note),
				 "no ext4 available (%s); measured on %s instead", why, b->work_fs);
		}
	}

	fmt(mnt, sizeof(mnt), "%s/xfs", b->work);
	if (mount_image(b, 1, "xfs", "-q -f -m reflink=1", mnt, b->xfs_note,
			sizeof(b->xfs_note)) < 0)
		return;
	if (strcmp(fs_name(mnt), "xfs") != 0) {
		fmt(b->xfs_note, sizeof(b->xfs_note), "skipped: the image did not mount as xfs");
		return;
	}
	fmt(b->xfs_src, sizeof(b->xfs_src), "%s/source.dat", mnt);
	if (copy_plain(b->src, b->xfs_src) < 0) {
		fmt(b->xfs_note, sizeof(b->xfs_note), "skipped: cannot write the source on xfs: %s",
			 strerror(errno));
		return;
	}
	fmt(b->xfs_dir, sizeof(b->xfs_dir), "%s", mnt);
	fmt(b->xfs_note, sizeof(b->xfs_note), "loop-mounted sparse image, mkfs.xfs -m reflink=1");
}

void setup_cleanup(struct bench *b)
{
	char p[MAXPATH + 32];

	for (int i = 0; i < 2; i++) {
		if (*mounted[i]) {
			fmt(p, sizeof(p), "%s/source.dat", mounted[i]);
			unlink(p);
			fmt(p, sizeof(p), "%s/out.dat", mounted[i]);
			unlink(p);
			if (umount2(mounted[i], 0) < 0)
				umount2(mounted[i], MNT_DETACH);
			rmdir(mounted[i]);
			*mounted[i] = 0;
		}
		if (*images[i]) {
			unlink(images[i]);
			*images[i] = 0;
		}
	}
	fmt(p, sizeof(p), "%s/source.dat", b->work);
	unlink(p);
	fmt(p, sizeof(p), "%s/out.dat", b->work);
	unlink(p);
	fmt(p, sizeof(p), "%s/zcopy-stats.json", b->work);
	unlink(p);
	for (int i = 0; i < 4; i++) {
		static const char *const snap[] = {"libzcopy.so", "copy", "ideal", "sink"};
		fmt(p, sizeof(p), "%s/%s", b->work, snap[i]);
		unlink(p);
	}
	rmdir(b->work);
}

void read_loadavg(char *out, size_t cap)
{
	float l1 = 0, l5 = 0, l15 = 0;
	FILE *f = fopen("/proc/loadavg", "re");

	if (f && fscanf(f, "%f %f %f", &l1, &l5, &l15) == 3)
		fmt(out, cap, "%.2f %.2f %.2f", l1, l5, l15);
	else
		fmt(out, cap, "unknown");
	if (f)
		fclose(f);
}

void machine_facts(char *cpu, size_t ccap, char *kern, size_t kcap, long *ncpu)
{
	char line[512];
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "re");

	fmt(cpu, ccap, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && c) {
			c += 2;
			c[strcspn(c, "\n")] = 0;
			fmt(cpu, ccap, "%s", c);
			break;
		}
	}
	if (f)
		fclose(f);
	if (uname(&u) == 0)
		fmt(kern, kcap, "%s %s %s", u.sysname, u.release, u.machine);
	*ncpu = sysconf(_SC_NPROCESSORS_ONLN);
}
