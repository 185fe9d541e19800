/*
 * text_into_source - copies FILE to stdout in 128 KiB chunks through a
 * malloc'd buffer (16 bytes into a page, as guard mode finds buffers), and
 * at some chunks writes text into FILE itself, through a second open file,
 * between the read of the chunk and its write: with fputs and fprintf on a
 * line-buffered stream (glibc writes at the newline), fputs on an
 * unbuffered one, the inline putc_unlocked on a stream with a tiny buffer
 * (glibc writes from __overflow), and dprintf.  The text lands inside the
 * chunk just read: the copy must carry the bytes the program read, not the
 * text.  The file itself is compared by the test too.
 *
 * usage: text_into_source FILE
 */
#include "zt.h"

/* Inside the whole pages of a chunk's part of the buffer. */
static long text_at(int chunk)
{
	return (long)chunk * ZT_CHUNK + 2 * ZT_PAGE + 77;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		zt_usage("text_into_source FILE");
	int in = zt_open_in(argv[1]);
	FILE *line = fopen(argv[1], "r+");
	FILE *unbuf = fopen(argv[1], "r+");
	FILE *tiny = fopen(argv[1], "r+");
	int fd = open(argv[1], O_RDWR);
	static char tinybuf[64];
	if (!line || !unbuf || !tiny || fd < 0)
		zt_die(argv[1]);
	setvbuf(line, NULL, _IOLBF, 4096);
	setvbuf(unbuf, NULL, _IONBF, 0);
	setvbuf(tiny, tinybuf, _IOFBF, sizeof tinybuf);
	char *buf = zt_malloc(ZT_CHUNK);
	for (int chunk = 0;; chunk++) {
		/* Where this chunk's text goes is set before its read. */
		switch (chunk) {
		case 4:
		case 6:
			if (fseek(line, text_at(chunk), SEEK_SET) != 0)
				zt_die("fseek");
			break;
		case 8:
			if (fseek(unbuf, text_at(chunk), SEEK_SET) != 0)
				zt_die("fseek");
			break;
		case 10:
			if (fseek(tiny, text_at(chunk), SEEK_SET) != 0)
				zt_die("fseek");
			break;
		case 12:
			if (lseek(fd, text_at(chunk), SEEK_SET) < 0)
				zt_die("lseek");
			break;
		}
		ssize_t n = zt_read(in, buf, ZT_CHUNK);
		if (n == 0)
			break;
		switch (chunk) {
		case 4: {
			char text[64]; /* not a constant: gcc makes those fwrite */
			snprintf(text, sizeof text, "TEXT %d written by fputs\n", chunk);
			fputs(text, line);
			break;
		}
		case 6:
			fprintf(line, "TEXT %d written by fprintf\n", chunk);
			break;
		case 8: {
			char text[64];
			snprintf(text, sizeof text, "TEXT %d, unbuffered", chunk);
			fputs(text, unbuf);
			break;
		}
		case 10:
			for (int i = 0; i < 200; i++)
				putc_unlocked('A' + i % 26, tiny);
			break;
		case 12:
			dprintf(fd, "TEXT %d written by dprintf", chunk);
			break;
		}
		zt_put(1, buf, (size_t)n);
	}
	if (fclose(line) || fclose(unbuf) || fclose(tiny) || close(fd))
		zt_die("close");
	return 0;
}
