/*
 * main.c - the fuzzer's command line: which script, which ops of it, where.
 *
 *   fuzz --seed S [--nops N] [--ops 0,3,5-9]      run the script of seed S
 *   fuzz --seed S [--nops N] --dump               print that script
 *   fuzz --seed S --script FILE [--ops ...]       run FILE on the world of S
 *   fuzz ... --avoid pwrite-stream,send-file,...  steer past known classes
 *   fuzz ... --fd-reuse                           generate copy loops that reuse
 *                                                 their fd numbers at every step
 *   fuzz ... --in-flight                          let files change while bytes
 *                                                 written from them are in flight
 *   fuzz ... --sock-src                           generate copy loops that also
 *                                                 read the socket source (slot 12)
 *   fuzz ... --stdio-pipe                         the world also has FILEs on the
 *                                                 pipe and the stream socket, and
 *                                                 copy loops fwrite into them
 *
 * The log (one line per op, then the end state) goes to stdout; the world
 * lives in a private directory under $TMPDIR that is removed afterwards.
 * A script file starts with "seed S" when it carries its own world, and
 * has a "stdio-pipe" line when that world has the --stdio-pipe FILEs.
 *
 * The run is a child of this process: a script can die by a signal (SIGPIPE
 * after its reader quit, SIGXFSZ past RLIMIT_FSIZE, ...), and then this
 * process, a child subreaper that inherits the orphaned readers, logs the
 * signal and the end state (what the readers received, the files).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

static void usage(void)
{
	fprintf(stderr, "usage: fuzz --seed S [--nops N] [--script FILE] [--ops LIST] [--avoid LIST]"
			" [--in-flight] [--fd-reuse] [--sock-src] [--stdio-pipe] [--verbose] [--dump]\n");
	exit(2);
}

/* A script file may name its world's seed on a "seed S" line of its own. */
static int script_seed(const char *path, uint64_t *seed)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int found = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, " seed %lu", (unsigned long *)seed) == 1) {
			found = 1;
			break;
		}
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	uint64_t seed = 1;
	int nops = 200, dump = 0, have_seed = 0;
	const char *script = NULL, *subset = NULL, *avoid = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--dump"))
			dump = 1;
		else if (!strcmp(a, "--verbose"))
			fz_verbose = 1;
		else if (!strcmp(a, "--in-flight"))
			/* No waiting for the readers before a file changes: shows
			 * the documented limit (fz_readers_drain). */
			fz_in_flight = 1;
		else if (!strcmp(a, "--fd-reuse"))
			fz_fd_reuse = 1; /* scripts generated with heavy fd reuse */
		else if (!strcmp(a, "--sock-src"))
			fz_sock_src = 1; /* copy loops also read the socket source */
		else if (!strcmp(a, "--stdio-pipe"))
			fz_stdio_pipe = 1; /* FILEs on the pipe and socket, fwritten into */
		else if (i + 1 >= argc)
			usage();
		else if (!strcmp(a, "--seed"))
			seed = strtoull(argv[++i], NULL, 0), have_seed = 1;
		else if (!strcmp(a, "--nops"))
			nops = atoi(argv[++i]);
		else if (!strcmp(a, "--script"))
			script = argv[++i];
		else if (!strcmp(a, "--ops"))
			subset = argv[++i];
		else if (!strcmp(a, "--avoid"))
			avoid = argv[++i];
		else
			usage();
	}
	struct fz_script s = { 0 };
	if (script) {
		if (!have_seed && !script_seed(script, &seed)) {
			fprintf(stderr, "fuzz: %s names no seed; give --seed\n", script);
			return 2;
		}
		/* "seed" and "stdio-pipe" lines are not ops: strip them before
		 * parsing. */
		FILE *f = fopen(script, "r");
		char err[600], line[512];
		FILE *ops = tmpfile();
		if (!f || !ops) {
			fprintf(stderr, "fuzz: %s: %s\n", script, strerror(errno));
			return 2;
		}
		while (fgets(line, sizeof line, f)) {
			const char *t = line + strspn(line, " \t");
			if (!strncmp(t, "stdio-pipe", 10))
				fz_stdio_pipe = 1;
			else if (strncmp(t, "seed", 4))
				fputs(line, ops);
		}
		fclose(f);
		rewind(ops);
		if (fz_script_read(ops, &s, err, sizeof err)) {
			fprintf(stderr, "fuzz: %s: %s\n", script, err);
			return 2;
		}
		fclose(ops);
	} else {
		fz_generate(seed, nops, &s);
	}
	if (avoid && fz_avoid(&s, avoid)) {
		fprintf(stderr, "fuzz: --avoid takes pwrite-stream, send-file, trunc-open, "
				"child-writes, stdio-writes, stall, arm-fd, arm-pwrite, arm-signal, "
				"arm-peer, fsize, socket-wait\n");
		return 2;
	}
	unsigned char *keep = NULL;
	if (subset) {
		keep = malloc((size_t)s.n + 1);
		if (!keep || fz_parse_subset(subset, keep, s.n)) {
			fprintf(stderr, "fuzz: bad --ops list: %s\n", subset);
			return 2;
		}
	}
	if (dump) {
		printf("seed %lu\n", (unsigned long)seed);
		if (fz_stdio_pipe)
			printf("stdio-pipe\n");
		fz_script_write(stdout, &s, keep);
		return 0;
	}
	struct fz_setup w;
	fz_setup_from_seed(seed, &w);
	const char *tmp = getenv("TMPDIR");
	char dir[512];
	snprintf(dir, sizeof dir, "%s/zcfuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "fuzz: mkdtemp %s: %s\n", dir, strerror(errno));
		return 2;
	}
	printf("seed %lu ops %d\n", (unsigned long)seed, s.n);
	fflush(stdout);
	/* A dying run leaves no core file behind. */
	struct rlimit nocore = { 0, 0 };
	setrlimit(RLIMIT_CORE, &nocore);
	fz_shared = mmap(NULL, sizeof *fz_shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			 -1, 0);
	if (fz_shared == MAP_FAILED || prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("fuzz: supervisor");
		return 2;
	}
	pid_t pid = fork();
	if (pid == 0)
		exit(fz_run(&w, &s, keep, dir)); /* exit: zcopy writes its stats */
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		perror("fuzz: run");
		return 2;
	}
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
	if (WIFSIGNALED(st))
		fz_after_death(&w, st);
	rmdir(dir);
	return rc;
}
