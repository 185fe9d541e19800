/*
 * checks.c - what run, observe and ab look at before they start CMD, so that
 * a setting or a program zcopy cannot apply to is named up front instead of
 * being discovered from missing numbers afterwards:
 *  - the ZCOPY_* variables, parsed by the library's own table (config.c): a
 *    bad value is said once here, and the environment CMD gets holds the
 *    value that would be in force anyway (so the library in CMD stays quiet
 *    and behaves the same); a ZCOPY_ name the library does not know is named;
 *  - the stats target (-s): its directory must exist and take a new file;
 *  - CMD itself: a static binary, or a setuid/setgid/capability one the
 *    loader runs in secure mode, runs without zcopy whatever LD_PRELOAD says.
 */
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "config.h"
#include "tool.h"
#include "zcopy.h"

extern char **environ;

/* ---- the variables ---- */

#define MAX_BAD 16
static struct {
	char var[32];
	int mode;
} bad[MAX_BAD];
static int nbad;

static void on_bad(const char *var, const char *value, const char *why)
{
	int is_mode = strcmp(var, ZCOPY_ENV_MODE) == 0;

	zt_err(0, "%s=\"%s\": %s; %s", var, value, why,
	       is_mode ? "zcopy is off" : "using the default");
	if (nbad < MAX_BAD) {
		snprintf(bad[nbad].var, sizeof bad[nbad].var, "%s", var);
		bad[nbad].mode = is_mode;
		nbad++;
	}
}

/* Edit distance, for "did you mean": names are short. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev[64], cur[64];

	if (la >= 64 || lb >= 64)
		return 99;
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof *prev);
	}
	return prev[lb];
}

static void check_names(void)
{
	char **e;

	for (e = environ; *e; e++) {
		char name[64];
		const char *best = NULL;
		size_t len = strcspn(*e, "="), i, d, best_d = 99;

		if (strncmp(*e, "ZCOPY_", 6) != 0 || len >= sizeof name)
			continue;
		snprintf(name, sizeof name, "%.*s", (int)len, *e);
		if (strcmp(name, ZCOPY_ENV_LIBRARY) == 0)
			continue;
		for (i = 0; zc_config_var(i); i++) {
			d = distance(name, zc_config_var(i));
			if (d < best_d)
				best_d = d, best = zc_config_var(i);
		}
		if (best_d == 0)
			continue;
		if (best_d <= 2)
			zt_err(0, "%s is not a zcopy setting (did you mean %s?)", name, best);
		else
			zt_err(0, "%s is not a zcopy setting; the library ignores it", name);
	}
}

int zt_check_env(void)
{
	struct zc_config c;
	int i;

	nbad = 0;
	zc_config_parse(&c, NULL, on_bad, NULL);
	for (i = 0; i < nbad; i++) {
		int rc = bad[i].mode ? setenv(bad[i].var, "off", 1) : unsetenv(bad[i].var);
		if (rc != 0) {
			zt_err(errno, "setenv %s", bad[i].var);
			return -1;
		}
	}
	check_names();
	return 0;
}

/* ---- the stats target ---- */

int zt_check_target(const char *cmd, const char *opt, const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	struct stat st;

	if (strlen(path) >= sizeof dir)
		return zt_usage_error(cmd, "%s: path too long", path);
	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof dir, ".");
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "zcopy %s: %s %s: directory %s does not exist\n", cmd, opt, path,
			dir);
		return ZT_EXIT_USAGE;
	}
	if (access(dir, W_OK | X_OK) != 0 && access(path, W_OK) != 0) {
		fprintf(stderr, "zcopy %s: %s %s: cannot create files in %s\n", cmd, opt, path, dir);
		return ZT_EXIT_USAGE;
	}
	if (!strstr(path, "%p") && lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		fprintf(stderr, "zcopy %s: %s %s: exists and is not a regular file\n", cmd, opt,
			path);
		return ZT_EXIT_USAGE;
	}
	return 0;
}

/* ---- the program ---- */

/* The file execvp would run for name, or -1 if there is none (exec then
 * reports that itself). */
static int resolve(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH"), *p;

	if (strchr(name, '/')) {
		if ((size_t)snprintf(out, cap, "%s", name) >= cap)
			return -1;
		return access(out, X_OK) == 0 ? 0 : -1;
	}
	if (!path)
		path = "/bin:/usr/bin";
	for (p = path;; p++) {
		size_t len = strcspn(p, ":");
		if ((size_t)snprintf(out, cap, "%.*s%s%s", (int)len, p, len ? "/" : "", name) < cap) {
			struct stat st;
			if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
				return 0;
		}
		p += len;
		if (!*p)
			return -1;
	}
}

/* 1 if the ELF file at fd has no program interpreter (static), 0 if it has
 * one, -1 if it is not an ELF file of this machine's class. */
static int elf_static(int fd)
{
	unsigned char id[EI_NIDENT];
	ElfW(Ehdr) eh;
	ElfW(Phdr) ph;
	int i;

	if (pread(fd, id, sizeof id, 0) != (ssize_t)sizeof id || memcmp(id, ELFMAG, SELFMAG) != 0)
		return -1;
	if (id[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
	    pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || eh.e_phentsize != sizeof ph)
		return -1;
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (ElfW(Off))i * sizeof ph)) !=
		    (ssize_t)sizeof ph)
			return -1;
		if (ph.p_type == PT_INTERP)
			return 0;
	}
	return 1;
}

/* Why the loader will ignore LD_PRELOAD for file, or NULL. */
static const char *secure_mode(const char *file, const struct stat *st)
{
	if ((st->st_mode & S_ISUID) && st->st_uid != getuid())
		return "setuid";
	if ((st->st_mode & S_ISGID) && st->st_gid != getgid())
		return "setgid";
	if (getuid() != 0 && getxattr(file, "security.capability", NULL, 0) > 0)
		return "given file capabilities";
	return NULL;
}

int zt_check_program(const char *name, char *why, size_t cap)
{
	char file[PATH_MAX];
	char head[PATH_MAX];
	struct stat st;
	const char *secure;
	int fd, depth, st_rc;
	ssize_t n;

	why[0] = '\0';
	if (resolve(name, file, sizeof file) != 0)
		return 0;
	/* A script: what runs is its interpreter (one level, as the kernel
	 * allows more but nobody nests them). */
	for (depth = 0; depth < 2; depth++) {
		if (stat(file, &st) != 0)
			return 0;
		secure = secure_mode(file, &st);
		if (secure) {
			snprintf(why, cap, "%s is %s: the loader ignores LD_PRELOAD for it", file,
				 secure);
			return 1;
		}
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		st_rc = elf_static(fd);
		n = st_rc < 0 ? pread(fd, head, sizeof head - 1, 0) : 0;
		close(fd);
		if (st_rc == 1) {
			snprintf(why, cap, "%s is statically linked: there is no libc to interpose",
				 file);
			return 1;
		}
		if (st_rc == 0 || n < 3 || head[0] != '#' || head[1] != '!')
			return 0;
		head[n] = '\0';
		{
			char *p = head + 2, *end;
			p += strspn(p, " \t");
			end = p + strcspn(p, " \t\n");
			*end = '\0';
			if (*p != '/' || strlen(p) >= sizeof file)
				return 0;
			memmove(file, p, strlen(p) + 1);
		}
	}
	return 0;
}

void zt_warn_program(const char *name)
{
	char why[PATH_MAX + 128];

	if (zt_check_program(name, why, sizeof why))
		zt_err(0, "%s; it runs without zcopy", why);
}
