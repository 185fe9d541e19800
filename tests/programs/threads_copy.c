/*
 * threads_copy - N threads copy N files at the same time, each with its own
 * descriptors and buffer (parallel copiers, servers with worker threads).
 *
 * usage: threads_copy N SRCPREFIX DSTPREFIX   (copies SRCPREFIX.i to DSTPREFIX.i)
 */
#include <pthread.h>

#include "zt.h"

struct job {
	char src[512], dst[512];
	long long copied;
	long long src_off;
};

static void *run(void *arg)
{
	struct job *j = arg;
	int in = zt_open_in(j->src);
	int out = zt_open_out(j->dst, 0);
	char *buf = zt_alloc(ZT_CHUNK);
	for (;;) {
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		zt_put(out, buf, (size_t)n);
		j->copied += n;
	}
	j->src_off = zt_pos(in);
	close(in);
	close(out);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("threads_copy N SRCPREFIX DSTPREFIX");
	int n = atoi(argv[1]);
	if (n < 1 || n > 16)
		zt_usage("threads_copy N(1..16) SRCPREFIX DSTPREFIX");
	struct job jobs[16];
	pthread_t tid[16];
	for (int i = 0; i < n; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		snprintf(jobs[i].src, sizeof jobs[i].src, "%s.%d", argv[2], i);
		snprintf(jobs[i].dst, sizeof jobs[i].dst, "%s.%d", argv[3], i);
		int rc = pthread_create(&tid[i], NULL, run, &jobs[i]);
		if (rc != 0) {
			errno = rc;
			zt_die("pthread_create");
		}
	}
	for (int i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		printf("thread %d copied %lld src_off %lld\n", i, jobs[i].copied, jobs[i].src_off);
	}
	return 0;
}
