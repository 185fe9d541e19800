# tests/faults/faults.mk - the fault-injection suite (included by the top
# Makefile).  Builds the fault programs and the Check suite from tests/faults
# into build/faults; `make test-faults` runs the suite against
# build/libzcopy.so.  Scenarios that mount a small tmpfs need root (they are
# counted as skipped otherwise).

FT_BUILD     := $(BUILD)/faults
FT_CFLAGS    := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -pthread -Itests/lib
FT_CHECK_CF  := $(shell pkg-config --cflags check 2>/dev/null)
FT_CHECK_LIB := $(shell pkg-config --libs check 2>/dev/null)

FT_PROG_NAMES := fault_stream fault_copy fault_sigbus fault_midwrite fault_blocked
FT_PROGS      := $(addprefix $(FT_BUILD)/,$(FT_PROG_NAMES))
FT_SUITE      := $(FT_BUILD)/test_faults
FT_SUITE_SRCS := tests/faults/test_faults.c tests/faults/test_faults_files.c \
                 tests/faults/test_faults_midwrite.c tests/faults/test_faults_blocked.c \
                 tests/lib/harness.c tools/records.c
FT_HDRS       := tests/lib/zt.h tests/lib/harness.h tools/tool.h include/zcopy.h shim/stats.h

.PHONY: test-faults faults-programs
faults-programs: $(FT_PROGS)

$(FT_BUILD):
	mkdir -p $@

$(FT_BUILD)/fault_%: tests/faults/fault_%.c tests/lib/zt.h | $(FT_BUILD)
	$(CC) $(FT_CFLAGS) $(LDFLAGS) -o $@ $<

$(FT_SUITE): $(FT_SUITE_SRCS) $(FT_HDRS) | $(FT_BUILD)
	$(CC) $(FT_CFLAGS) $(FT_CHECK_CF) $(LDFLAGS) -Iinclude -Ishim -Itools -o $@ $(FT_SUITE_SRCS) \
	      $(FT_CHECK_LIB)

test-faults: $(LIB) $(FT_PROGS) $(FT_SUITE)
	@ZCOPY_TEST_LIB=$(abspath $(LIB)) ZCOPY_TEST_PROGS=$(abspath $(FT_BUILD)) $(FT_SUITE)
