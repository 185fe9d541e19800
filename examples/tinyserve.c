/*
 * tinyserve - a tiny static-file server that sends with read() + write().
 *
 *   tinyserve PORT FILE [COUNT]
 *
 * Listens on 127.0.0.1:PORT; for each of COUNT connections (default 1) it
 * writes a small HTTP/1.0 header and then the file, in 128 KiB chunks read
 * into a page-aligned buffer, then closes.  Old servers look like this; under
 * zcopy the body goes out with sendfile(2) without a change to the code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int serve(int c, const char *path, char *buf, size_t bs)
{
	int in = open(path, O_RDONLY);
	struct stat st;
	if (in < 0 || fstat(in, &st) < 0)
		return -1;
	char head[128];
	int hl = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Length: %lld\r\n\r\n",
			  (long long)st.st_size);
	int rc = write_all(c, head, (size_t)hl);
	ssize_t n;
	while (rc == 0 && (n = read(in, buf, bs)) > 0)
		rc = write_all(c, buf, (size_t)n);
	close(in);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: tinyserve PORT FILE [COUNT]\n");
		return 2;
	}
	int count = argc > 3 ? atoi(argv[3]) : 1;
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) {
		perror("tinyserve: bind");
		return 1;
	}
	char *buf;
	if (posix_memalign((void **)&buf, 4096, 128 * 1024))
		return 1;
	for (int i = 0; i < count; i++) {
		int c = accept(s, NULL, NULL);
		if (c < 0) {
			perror("tinyserve: accept");
			return 1;
		}
		if (serve(c, argv[2], buf, 128 * 1024) < 0)
			perror("tinyserve: serve");
		close(c);
	}
	free(buf);
	close(s);
	return 0;
}
