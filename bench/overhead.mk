# bench/overhead.mk - `make bench-overhead`: what zcopy costs where it
# redirects nothing (no preload vs ZCOPY_MODE=off, observe, on) on a 1-byte
# read/write loop, sha256sum, gzip -1 and a bash loop of 200 /bin/true;
# writes docs/overhead.md.
# Knobs (environment): OVERHEAD_RUNS OVERHEAD_SIZE OVERHEAD_TINY_SIZE
# OVERHEAD_DIR (see bench/overhead.c).  Included by the top Makefile.

OVERHEAD_OUT    := $(BUILD)/bench
OVERHEAD_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11

.PHONY: bench-overhead

# Explicit rules: they take precedence over bench.mk's pattern rule.
$(OVERHEAD_OUT)/tiny: bench/tiny.c bench/common.h
	mkdir -p $(OVERHEAD_OUT)
	$(CC) $(CPPFLAGS) $(OVERHEAD_CFLAGS) $(LDFLAGS) -o $@ $<

$(OVERHEAD_OUT)/overhead: bench/overhead.c bench/common.h tools/records.c tools/tool.h
	mkdir -p $(OVERHEAD_OUT)
	$(CC) $(CPPFLAGS) -Itools $(OVERHEAD_CFLAGS) $(LDFLAGS) -o $@ $< tools/records.c

bench-overhead: $(LIB) $(OVERHEAD_OUT)/tiny $(OVERHEAD_OUT)/overhead
	$(OVERHEAD_OUT)/overhead $(LIB) $(OVERHEAD_OUT)/tiny docs/overhead.md
