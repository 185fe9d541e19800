# bench/bench.mk - the benchmark programs and the `bench` / `bench-quick`
# targets (included by the top Makefile).
#   make bench        full run (BENCH_SIZE=512M, BENCH_RUNS=7); writes
#                     docs/benchmarks.md and docs/bench-sweep*.svg, then the
#                     rows of bench-guard (docs/bench-guard.md)
#   make bench-quick  every scenario once on 8 MiB files; checks outputs,
#                     makes no timing claims; part of `make test`
#   make bench-report rewrite the docs from the last full run's saved data
#   make bench-guard  perl, python, pv -C and nginx (sendfile off) at default
#                     settings (guards) against plain; writes docs/bench-guard.md
#                     (GUARD_BENCH_SIZE in MiB, default 1024; BENCH_RUNS,
#                     default 11)
# Knobs (environment): BENCH_SIZE BENCH_RUNS BENCH_CHUNK BENCH_DIR BENCH_COLD
# BENCH_SWEEP BENCH_SWEEP_FILE BENCH_PEERS BENCH_ONLY BENCH_CALLS (see bench/harness.c).
# BENCH_ONLY=sock- runs only the socket-source rows (no sweep), reported in
# build/bench/benchmarks-only.md (docs/benchmarks.md is left alone; nor do
# the bench-guard rows run, which would rewrite docs/bench-guard.md).

BENCH_DIR_OUT := $(BUILD)/bench
BENCH_CFLAGS  := $(CFLAGS) $(WARN) -std=gnu11
BENCH_PROGS   := $(BENCH_DIR_OUT)/copy $(BENCH_DIR_OUT)/ideal $(BENCH_DIR_OUT)/sink
BENCH_HARNESS := $(BENCH_DIR_OUT)/harness
BENCH_HSRCS   := bench/harness.c bench/run.c bench/setup.c bench/report.c tools/records.c
BENCH_ARGS     = --lib $(LIB) --bin $(BENCH_DIR_OUT) --docs docs

.PHONY: bench bench-quick bench-report bench-progs bench-guard
bench-progs: $(BENCH_PROGS) $(BENCH_HARNESS)

$(BENCH_DIR_OUT):
	mkdir -p $@

$(BENCH_DIR_OUT)/%: bench/%.c bench/common.h | $(BENCH_DIR_OUT)
	$(CC) $(CPPFLAGS) $(BENCH_CFLAGS) $(LDFLAGS) -o $@ $<

$(BENCH_HARNESS): $(BENCH_HSRCS) bench/harness.h bench/common.h shim/config.h tools/tool.h \
                  include/zcopy.h shim/stats.h | $(BENCH_DIR_OUT)
	$(CC) $(CPPFLAGS) -Itools $(BENCH_CFLAGS) $(LDFLAGS) -o $@ $(BENCH_HSRCS)

bench: $(LIB) bench-progs
	$(BENCH_HARNESS) $(BENCH_ARGS)
	if [ -z "$$BENCH_ONLY" ]; then bash bench/guard.sh --lib $(LIB); fi

bench-quick: $(LIB) bench-progs
	$(BENCH_HARNESS) --quick $(BENCH_ARGS)

bench-report: $(BENCH_HARNESS)
	$(BENCH_HARNESS) --report $(BENCH_DIR_OUT)/last-run.bin --docs docs

bench-guard: $(LIB)
	bash bench/guard.sh --lib $(LIB)
