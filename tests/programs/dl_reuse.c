/*
 * dl_reuse - memory of an unloaded module used again.  SRC is copied to DST
 * through libplug_copy.so's static buffer (its pages guarded by then), the
 * module is closed (the loader unmaps it), and a 1 MiB block the program
 * then allocates (glibc maps it, often into the hole) is filled with 'M'
 * and written to DST2: it must be 'M's, not the file's bytes.
 *
 * usage: dl_reuse SRC DST DST2
 */
#include <dlfcn.h>
#include <libgen.h>

#include "zt.h"

int main(int argc, char **argv)
{
	if (argc != 4)
		zt_usage("dl_reuse SRC DST DST2");
	char self[4096], path[4200];
	ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
	if (l <= 0)
		zt_die("readlink");
	self[l] = 0;
	snprintf(path, sizeof path, "%s/libplug_copy.so", dirname(self));
	int in = open(argv[1], O_RDONLY), out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0)
		zt_die("open");
	void *h = dlopen(path, RTLD_NOW);
	if (!h)
		zt_die("dlopen");
	long (*copy)(int, int) = (long (*)(int, int))dlsym(h, "plug_copy");
	if (!copy)
		zt_die("dlsym");
	printf("copied %ld\n", copy(in, out));
	if (dlclose(h) != 0)
		zt_die("dlclose");
	size_t n = 1 << 20;
	char *p = malloc(n);
	if (!p)
		zt_die("malloc");
	memset(p, 'M', n);
	int out2 = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out2 < 0)
		zt_die("open");
	printf("wrote %zd\n", write(out2, p, n));
	free(p);
	return 0;
}
