/*
 * stdio_fork_start - a fork made by one thread while another's fwrite
 * waits in the write of its start (the part that fills the stream's
 * buffer, with nothing pending before).
 *
 * The chunks of SRC are copied to DST (a file) by fread/fwrite, so that
 * zcopy's stream is engaged, and one more chunk is read.  Stream W writes
 * to a pipe whose buffer is full; a thread fwrites the chunk to W, and the
 * main thread, once that thread waits in the kernel, forks.  glibc's
 * buffer holds the start while its write waits, and so does the child's
 * copy: the child exits with what W has pending (in KiB), and its exit
 * flushes it.  The pipe is drained meanwhile; printed are the child's
 * pending KiB and the bytes the pipe got after its fill (the writer's
 * chunk and the child's flush: in which order is timing).
 *
 * usage: stdio_fork_start SRC DST
 */
#include <pthread.h>
#include <stdio_ext.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "zt.h"

#define CHUNK (64 * 1024)

static char buf[CHUNK] __attribute__((aligned(4096)));
static FILE *w;
static volatile pid_t writer_tid;
static long fill;

/* Is thread tid asleep in a write (zcopy's wait included)? */
static int asleep_in_call(pid_t tid)
{
	long nr = zt_task_sleeps_in(tid);
	return nr == SYS_write || nr == SYS_splice || nr == SYS_poll || nr == SYS_sendfile;
}

static void *writer(void *arg)
{
	writer_tid = (pid_t)syscall(SYS_gettid);
	size_t n = fwrite(buf, 1, CHUNK, w);
	if (n != CHUNK)
		zt_die("fwrite");
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		zt_usage("stdio_fork_start SRC DST");
	FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "w");
	if (!in || !out)
		zt_die("fopen");
	for (int i = 0; i < 6; i++)
		if (fread(buf, 1, CHUNK, in) != CHUNK || fwrite(buf, 1, CHUNK, out) != CHUNK)
			zt_die("copy");
	if (fclose(out) != 0 || fread(buf, 1, CHUNK, in) != CHUNK)
		zt_die("fread");

	int p[2];
	if (pipe(p) != 0 || !(w = fdopen(p[1], "w")))
		zt_die("pipe");
	fputc('<', w); /* glibc allocates the stream's buffer */
	fflush(w);
	static const char zeros[4096];
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	ssize_t k;
	while ((k = write(p[1], zeros, sizeof zeros)) > 0)
		fill += k;
	fcntl(p[1], F_SETFL, 0);

	pthread_t t;
	if (pthread_create(&t, NULL, writer, NULL) != 0)
		zt_die("pthread_create");
	for (int i = 0; !writer_tid || !asleep_in_call(writer_tid); i++) {
		if (i > 20000)
			zt_die("the fwrite never waited");
		zt_nap_us(250);
	}
	zt_nap_us(20000);
	pid_t c = fork();
	if (c < 0)
		zt_die("fork");
	if (c == 0)
		exit((int)(__fpending(w) / 1024)); /* and the exit flushes w */

	/* Drain the pipe until the writer and the child are done (the child's
	 * flush waits for room too; whose bytes come first is timing). */
	static char drained[65536];
	long total = 0;
	int st = 0, child_done = 0, writer_done = 0;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	for (int i = 0; !(child_done && writer_done); i++) {
		ssize_t r = read(p[0], drained, sizeof drained);
		if (r > 0) {
			total += r;
			continue;
		}
		if (r == 0 || errno != EAGAIN || i > 20000)
			zt_die("drain");
		if (!child_done && waitpid(c, &st, WNOHANG) == c)
			child_done = 1;
		if (!writer_done && pthread_tryjoin_np(t, NULL) == 0)
			writer_done = 1;
		zt_nap_us(1000);
	}
	while ((k = read(p[0], drained, sizeof drained)) > 0)
		total += k;
	if (!WIFEXITED(st))
		zt_die("child");
	printf("child: %d KiB pending at the fork\n", WEXITSTATUS(st));
	printf("pipe: %ld bytes after the fill\n", total - fill - 1);
	return fclose(w) == 0 ? 0 : 1;
}
