# tests/fuzz/fuzz.mk - the differential fuzzer (included by the top Makefile).
#
# Builds build/fuzz/fuzz and runs it through tests/fuzz/run.sh, which runs
# each seed without zcopy, with ZCOPY_GUARD=0 and with ZCOPY_GUARD=1 and fails
# on the first difference, printing the shrunk script.
#   make test-fuzz          the fixed seed list plus every saved regression
#                           script (tests/fuzz/regress/*.script), then a few
#                           seeds with --fd-reuse, then a few with --sock-src,
#                           then a few with --stdio-pipe
#   make fuzz SEEDS=N       N seeds from FUZZ_START (default 1000) on
#   tests/fuzz/run.sh A-B   any range, straight from the shell
# FUZZ_JOBS runs that many seeds at once; FUZZ_NOPS is the script length;
# FUZZ_AVOID=pwrite-stream,... steers `make fuzz` past known divergences;
# FUZZ_STRESS=N also runs each seed N more times at once under zcopy.
# FUZZ_IN_FLIGHT=1 lets files change while bytes written from them are still
# in a pipe or socket (zcopy's documented limit; see tests/fuzz/limits).

FUZZ_BUILD      := $(BUILD)/fuzz
FUZZ_BIN        := $(FUZZ_BUILD)/fuzz
FUZZ_SRCS       := tests/fuzz/main.c tests/fuzz/gen.c tests/fuzz/scenario.c tests/fuzz/exec.c \
                   tests/fuzz/act.c tests/fuzz/world.c
FUZZ_CFLAGS     := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -pthread
FUZZ_JOBS       ?= 2
FUZZ_NOPS       ?= 200
# The fixed list of `make test`: 70% of these seeds also run the scenarios
# of blocked writes, signals, RLIMIT_FSIZE, quitting readers and fd churn
# (run.sh prints how many); sized to stay under a minute with a shrink.
FUZZ_TEST_SEEDS ?= 1-200
# And these with --fd-reuse (numbers reused between every read and write;
# a few seconds).
FUZZ_REUSE_SEEDS ?= 1-40
# And these with --sock-src (a stream socket as the source; a few seconds).
FUZZ_SOCK_SEEDS ?= 1-30
# And these with --stdio-pipe (fwrite into FILEs on the pipe and the socket;
# a few seconds).
FUZZ_STDIO_SEEDS ?= 1-30
FUZZ_START      ?= 1000
SEEDS           ?= 500
FUZZ_REGRESS    := $(wildcard tests/fuzz/regress/*.script)
FUZZ_RUN        := bash tests/fuzz/run.sh -j $(FUZZ_JOBS) --nops $(FUZZ_NOPS) \
                   --fuzz $(FUZZ_BIN) --lib $(LIB) --tool $(TOOL) $(if $(filter 1,$(FUZZ_IN_FLIGHT)),--in-flight)

.PHONY: test-fuzz fuzz fuzz-bin
fuzz-bin: $(FUZZ_BIN)

$(FUZZ_BUILD):
	mkdir -p $@

$(FUZZ_BIN): $(FUZZ_SRCS) tests/fuzz/fuzz.h tests/fuzz/gen.h | $(FUZZ_BUILD)
	$(CC) $(FUZZ_CFLAGS) $(LDFLAGS) -o $@ $(FUZZ_SRCS)

# Shrinking one divergence (20 s at most) keeps a failing run short too.
test-fuzz: $(LIB) $(TOOL) $(FUZZ_BIN)
	@FUZZ_SHRINK_SECONDS=20 $(FUZZ_RUN) --minimise 1 --require-engaged --require-scenarios \
		--avoid socket-wait \
		$(FUZZ_TEST_SEEDS) \
		$(foreach s,$(FUZZ_REGRESS),--script $(s))
	@FUZZ_SHRINK_SECONDS=20 $(FUZZ_RUN) --minimise 1 --require-engaged --avoid socket-wait \
		--fd-reuse $(FUZZ_REUSE_SEEDS)
	@FUZZ_SHRINK_SECONDS=20 $(FUZZ_RUN) --minimise 1 --require-engaged --avoid socket-wait \
		--sock-src $(FUZZ_SOCK_SEEDS)
	@FUZZ_SHRINK_SECONDS=20 $(FUZZ_RUN) --minimise 1 --require-engaged --avoid socket-wait \
		--stdio-pipe $(FUZZ_STDIO_SEEDS)

fuzz: $(LIB) $(TOOL) $(FUZZ_BIN)
	@$(FUZZ_RUN) --minimise 5 --require-engaged $(if $(FUZZ_AVOID),--avoid $(FUZZ_AVOID)) \
		$(if $(FUZZ_STRESS),--stress $(FUZZ_STRESS)) \
		$(FUZZ_START)-$(shell echo $$(($(FUZZ_START) + $(SEEDS) - 1)))
