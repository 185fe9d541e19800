/*
 * zcopy.c - the zcopy command: dispatch, help, and `zcopy run`, plus the
 * set-up every command shares (finding libzcopy.so beside the executable and
 * putting it first in LD_PRELOAD).
 *
 * The library is ZCOPY_LIBRARY, or is looked up relative to /proc/self/exe
 * and in the LIBDIR it was built for, never in the current directory: a tool
 * that preloads whatever libzcopy.so lies in the directory it is run from
 * would let any directory inject code.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"
#include "zcopy.h"

static const char usage_text[] =
	"usage: zcopy run [-m off|observe|on] [-g] [-s FILE|-] [-v] [--] CMD [ARGS...]\n"
	"       zcopy observe [-g] [-s FILE|-] [-v] [--streams] [--] CMD [ARGS...]\n"
	"       zcopy ab [-n RUNS] [-w WARMUP] [-g] [--out FILE]... [--force] [--stdin FILE|-]\n"
	"                [--keep DIR] [--prepare CMD] [--cleanup CMD] [--ignore-failure]\n"
	"                [--show-output] [--json] [--] CMD [ARGS...]\n"
	"       zcopy stat [PID...]\n"
	"       zcopy stats --sum KEY FILE...\n"
	"       zcopy help [env] | --help | --version\n";

static const char help_text[] =
	"\n"
	"Runs an unmodified program with libzcopy.so preloaded, so its read->write\n"
	"copy loops move data with copy_file_range, sendfile or splice.\n"
	"\n"
	"commands:\n"
	"  run      run CMD under zcopy and pass its exit status (or signal) through\n"
	"  observe  run CMD in observe mode, then report on stderr how much of its\n"
	"           copying could be redirected and why the rest could not\n"
	"  ab       run CMD alternately without (A) and with (B) zcopy, check that\n"
	"           both sides produce the same output, and compare their timings\n"
	"  stat     show the live counters of processes running under zcopy (all,\n"
	"           or the PIDs named); `top` is another name for it\n"
	"  stats    --sum KEY FILE...: the total of KEY (bytes_zero_copy,\n"
	"           transfers.splice, fallbacks.REASON ...) over the stats records\n"
	"\n"
	"run options:\n"
	"  -m, --mode MODE     ZCOPY_MODE: off, observe or on\n"
	"  -g, --guard         ZCOPY_GUARD=1 (the default: overrides a ZCOPY_GUARD=0\n"
	"                      in the environment)\n"
	"  -s, --stats FILE    append one JSON stats line per process to FILE\n"
	"                      (%p is the pid); '-' prints a summary on stderr\n"
	"  -v, --verbose       ZCOPY_LOG=1; repeat for more (up to -vvv)\n"
	"observe options: -g, -v as above; -s FILE also keeps the raw records\n"
	"                 (-s - writes them on stderr); --streams lists each process's\n"
	"                 largest streams (source -> destination, bytes, reason);\n"
	"                 -vv logs streams starting, backing off and ending\n"
	"ab options:\n"
	"  -n, --runs N        measured runs per side (default 5)\n"
	"  -w, --warmup N      unmeasured warm-up runs per side (default 1)\n"
	"  -g, --guard         ZCOPY_GUARD=1 on both sides (the default)\n"
	"  -o, --out FILE      a file CMD writes: absent before each run, compared after\n"
	"      --force         let an --out FILE that exists be used: it is set aside,\n"
	"                      every run gets a copy of it, and it is put back at the end\n"
	"  -i, --stdin FILE    CMD's standard input; '-' reads zcopy's own once and\n"
	"                      replays it (the default when it is a pipe or a file;\n"
	"                      /dev/null when it is a terminal)\n"
	"      --keep DIR      keep the files that differ in DIR\n"
	"      --prepare CMD   sh -c CMD before every run (untimed, without zcopy)\n"
	"      --cleanup CMD   sh -c CMD after every run (untimed, without zcopy)\n"
	"      --ignore-failure  a CMD that fails in every run is not an error\n"
	"      --show-output   let CMD's stderr through (default: kept in a file)\n"
	"  -j, --json          print the result as one JSON object\n"
	"\n"
	"Before starting CMD, every command says which ZCOPY_* values it cannot use\n"
	"and whether CMD is static or setuid (zcopy cannot apply to it).\n"
	"ZCOPY_LIBRARY=PATH names the libzcopy.so to preload; `zcopy help env`\n"
	"lists every ZCOPY_* setting.\n"
	"\n"
	"exit status: run and observe pass CMD's status through; ab exits 0 when the\n"
	"outputs agree, 3 when they differ with zcopy, 4 when CMD failed in every\n"
	"run, 5 when CMD's output varies even without zcopy; 2 usage error,\n"
	"1 internal error, 127 CMD not found, 126 CMD not executable.  See zcopy(1).\n";

void zt_err(int err, const char *fmt, ...)
{
	va_list ap;
	fputs("zcopy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
}

int zt_usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "zcopy%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	return ZT_EXIT_USAGE;
}

/* getopt's own messages would name the subcommand as the program. */
int zt_bad_option(const char *cmd, int c, char **argv)
{
	char opt[3] = {'-', (char)optopt, '\0'};

	if (c == ':')
		return zt_usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
	if (optopt)
		return zt_usage_error(cmd, "unknown option '%s'", opt);
	return zt_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

static int lib_candidate(const char *dir, const char *rel, char *out, size_t cap)
{
	char path[PATH_MAX + 64];
	struct stat st;

	if ((size_t)snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "", rel) >=
	    sizeof path)
		return -1;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return -1;
	if (!realpath(path, out) || strlen(out) >= cap)
		return -1;
	return 0;
}

/* ZCOPY_LIBRARY names the library outright (it must exist: a typo there
 * must not silently pick another copy).  Otherwise: beside the executable
 * (the build tree), then where `make install` put it, seen from the
 * executable (a package unpacked under another root), then LIBDIR. */
static int find_library(char *out, size_t cap)
{
	static const char *const names[] = {ZT_SONAME, "libzcopy.so"};
	const char *given = getenv(ZCOPY_ENV_LIBRARY);
	char exe[PATH_MAX], rel[PATH_MAX + 64];
	ssize_t n;
	char *slash;
	size_t i;

	if (given && *given) {
		if (given[0] == '/' && lib_candidate("", given, out, cap) == 0)
			return 0;
		zt_err(0, "%s=%s: not an absolute path to a library file", ZCOPY_ENV_LIBRARY,
		       given);
		return -1;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		zt_err(errno, "cannot find my own executable (/proc/self/exe)");
		return -1;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash) {
		zt_err(0, "cannot find my own executable (/proc/self/exe is '%s')", exe);
		return -1;
	}
	*slash = '\0';
	if (lib_candidate(exe, "libzcopy.so", out, cap) == 0)
		return 0;
	for (i = 0; i < 2; i++) {
		snprintf(rel, sizeof rel, "%s/%s", ZT_LIBDIR_FROM_BIN, names[i]);
		if (lib_candidate(ZT_LIBDIR_FROM_BIN[0] == '/' ? "" : exe, rel, out, cap) == 0)
			return 0;
	}
	for (i = 0; i < 2; i++)
		if (lib_candidate(ZT_LIBDIR, names[i], out, cap) == 0)
			return 0;
	zt_err(0, "libzcopy.so not found beside %s, in %s/%s or in %s (build it with make, "
		  "install it with make install, or name it with %s=PATH)",
	       exe, exe, ZT_LIBDIR_FROM_BIN, ZT_LIBDIR, ZCOPY_ENV_LIBRARY);
	return -1;
}

/* Is entry (one item of LD_PRELOAD) the library itself, by another path? */
static int same_library(const char *entry, size_t len, const char *lib)
{
	char path[PATH_MAX], real[PATH_MAX];

	if (len == 0 || len >= sizeof path)
		return 0;
	memcpy(path, entry, len);
	path[len] = '\0';
	return realpath(path, real) && strcmp(real, lib) == 0;
}

int zt_preload(void)
{
	char lib[PATH_MAX];
	const char *old = getenv("LD_PRELOAD"), *p;
	char *val, *w;
	int rc;

	if (find_library(lib, sizeof lib) != 0)
		return -1;
	/* ld.so splits LD_PRELOAD at ':' and blanks; such a path cannot be preloaded. */
	if (strpbrk(lib, ": \t\n")) {
		zt_err(0, "cannot preload %s: LD_PRELOAD cannot hold a path with ':' or blanks",
		       lib);
		return -1;
	}
	if (!old)
		old = "";
	val = malloc(strlen(lib) + strlen(old) + 2);
	if (!val) {
		zt_err(errno, "out of memory");
		return -1;
	}
	/* The library first; the rest as it was, less another mention of the
	 * same file (which would only be loaded and stand aside). */
	w = val + sprintf(val, "%s", lib);
	for (p = old; *p;) {
		size_t len = strcspn(p, ": \t\n");
		if (len && !same_library(p, len, lib))
			w += sprintf(w, ":%.*s", (int)len, p);
		p += len;
		p += strspn(p, ": \t\n");
	}
	rc = setenv("LD_PRELOAD", val, 1);
	if (rc != 0)
		zt_err(errno, "setenv LD_PRELOAD");
	free(val);
	return rc;
}

int zt_absolute(const char *path, char *out, size_t cap)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		if (strlen(path) >= cap)
			goto toolong;
		strcpy(out, path);
		return 0;
	}
	if (!getcwd(cwd, sizeof cwd)) {
		zt_err(errno, "getcwd");
		return -1;
	}
	if ((size_t)snprintf(out, cap, "%s/%s", strcmp(cwd, "/") ? cwd : "", path) >= cap)
		goto toolong;
	return 0;
toolong:
	zt_err(0, "path too long: %s", path);
	return -1;
}

int zt_exec_status(int err)
{
	return err == ENOENT ? ZT_EXIT_NOTFOUND : ZT_EXIT_NOEXEC;
}

void zt_exec_report(const char *cmd, int err)
{
	if (err == ENOENT)
		zt_err(0, "%s: command not found", cmd);
	else
		zt_err(err, "cannot execute %s", cmd);
}

static int set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1) == 0)
		return 0;
	zt_err(errno, "setenv %s", name);
	return -1;
}

/* `run` execs CMD in place: nothing has to happen after CMD, and this way CMD
 * keeps zcopy's pid, terminal and signals, so its status passes through as is. */
int zt_cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"mode", required_argument, NULL, 'm'}, {"guard", no_argument, NULL, 'g'},
		{"stats", required_argument, NULL, 's'}, {"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
	const char *mode = NULL, *stats = NULL;
	char statpath[PATH_MAX];
	int guard = 0, verbose = 0, c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:m:gs:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "off") && strcmp(optarg, "observe") &&
			    strcmp(optarg, "on"))
				return zt_usage_error("run", "bad mode '%s' (off, observe or on)",
						   optarg);
			mode = optarg;
			break;
		case 'g': guard = 1; break;
		case 's': stats = optarg; break;
		case 'v': verbose += verbose < 3; break;
		case 'h': return zt_help();
		default: return zt_bad_option("run", c, argv);
		}
	}
	if (optind >= argc)
		return zt_usage_error("run", "%s", "missing CMD");
	if (stats && strcmp(stats, "-") != 0 && (c = zt_check_target("run", "-s", stats)) != 0)
		return c;
	if (zt_preload() != 0)
		return ZT_EXIT_INTERNAL;
	if (mode && set_env(ZCOPY_ENV_MODE, mode) != 0)
		return ZT_EXIT_INTERNAL;
	if (guard && set_env(ZCOPY_ENV_GUARD, "1") != 0)
		return ZT_EXIT_INTERNAL;
	if (verbose) {
		char lvl[2] = {(char)('0' + verbose), '\0'};
		if (set_env(ZCOPY_ENV_LOG, lvl) != 0)
			return ZT_EXIT_INTERNAL;
	}
	if (stats) {
		if (strcmp(stats, "-") == 0)
			strcpy(statpath, "stderr");
		else if (zt_absolute(stats, statpath, sizeof statpath) != 0)
			return ZT_EXIT_INTERNAL;
		if (set_env(ZCOPY_ENV_STATS, statpath) != 0)
			return ZT_EXIT_INTERNAL;
	}
	if (zt_check_env() != 0)
		return ZT_EXIT_INTERNAL;
	zt_warn_program(argv[optind]);
	execvp(argv[optind], &argv[optind]);
	c = errno;
	zt_exec_report(argv[optind], c);
	return zt_exec_status(c);
}

/* Help and version go to stdout; a failed write there must not look like success. */
static int finish_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		zt_err(errno, "write error on standard output");
		return ZT_EXIT_INTERNAL;
	}
	return 0;
}

int zt_help(void)
{
	fputs(usage_text, stdout);
	fputs(help_text, stdout);
	return finish_stdout();
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		fputs(usage_text, stderr);
		return ZT_EXIT_USAGE;
	}
	if (strcmp(cmd, "run") == 0)
		return zt_cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "observe") == 0)
		return zt_cmd_observe(argc - 1, argv + 1);
	if (strcmp(cmd, "ab") == 0)
		return zt_cmd_ab(argc - 1, argv + 1);
	if (strcmp(cmd, "stat") == 0 || strcmp(cmd, "top") == 0)
		return zt_cmd_stat(argc - 1, argv + 1);
	if (strcmp(cmd, "help") == 0 && argc > 2 && strcmp(argv[2], "env") == 0) {
		zt_print_env_help();
		return finish_stdout();
	}
	if (strcmp(cmd, "stats") == 0)
		return zt_cmd_stats(argc - 1, argv + 1);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return zt_help();
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("zcopy %s\n", ZCOPY_VERSION);
		return finish_stdout();
	}
	return zt_usage_error(NULL, cmd[0] == '-' ? "unknown option '%s'" : "unknown command '%s'",
			   cmd);
}
