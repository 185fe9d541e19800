# tests/integration/integration.mk - the integration suites (included by the
# top Makefile).  Builds the test programs (tests/programs) into
# build/programs and the Check suites (tests/integration, and the real-tool
# suite in tests/corpus) into build/integration; `make test-integration`
# runs them all against build/libzcopy.so.

IT_BUILD     := $(BUILD)/integration
IT_PROGDIR   := $(BUILD)/programs
IT_CFLAGS    := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -pthread -Itests/lib
IT_CHECK_CF  := $(shell pkg-config --cflags check 2>/dev/null)
IT_CHECK_LIB := $(shell pkg-config --libs check 2>/dev/null)

# Every tests/programs/*.c is a program, except the libraries ctor_read,
# guard_copy_own (guard_copy linked with a malloc of its own) and dl_reuse
# (a module it loads) use.
IT_PROG_SRCS := $(filter-out tests/programs/ctor_lib.c tests/programs/own_malloc.c tests/programs/plug_copy.c,\
                $(wildcard tests/programs/*.c))
IT_PROGS     := $(patsubst tests/programs/%.c,$(IT_PROGDIR)/%,$(IT_PROG_SRCS)) \
                $(IT_PROGDIR)/libctor_lib.so $(IT_PROGDIR)/libown_malloc.so \
                $(IT_PROGDIR)/libplug_copy.so \
                $(IT_PROGDIR)/guard_copy_own
IT_PROG_HDRS := $(wildcard tests/programs/*.h) tests/lib/zt.h

IT_SUITES    := $(IT_BUILD)/test_foundation $(IT_BUILD)/test_engine $(IT_BUILD)/test_ownfd \
                $(IT_BUILD)/test_stdio $(IT_BUILD)/test_guard \
                $(IT_BUILD)/test_tools $(IT_BUILD)/test_edges $(IT_BUILD)/test_sock \
                $(IT_BUILD)/test_sock_edges $(IT_BUILD)/test_filepipe \
                $(IT_BUILD)/test_span $(IT_BUILD)/test_sigdefer
IT_HARNESS   := tests/lib/harness.c tests/lib/expect.c tools/records.c
IT_HARNESS_H := tests/lib/harness.h tests/lib/expect.h tools/tool.h include/zcopy.h shim/stats.h

.PHONY: test-integration integration-programs
integration-programs: $(IT_PROGS)

$(IT_PROGDIR) $(IT_BUILD):
	mkdir -p $@

$(IT_PROGDIR)/%: tests/programs/%.c $(IT_PROG_HDRS) | $(IT_PROGDIR)
	$(CC) $(IT_CFLAGS) $(LDFLAGS) -o $@ $<

# The constructor library, and the program linked against it (found through
# its own directory at run time).
$(IT_PROGDIR)/libctor_lib.so: tests/programs/ctor_lib.c $(IT_PROG_HDRS) | $(IT_PROGDIR)
	$(CC) $(IT_CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $<

$(IT_PROGDIR)/ctor_read: tests/programs/ctor_read.c $(IT_PROGDIR)/libctor_lib.so $(IT_PROG_HDRS)
	$(CC) $(IT_CFLAGS) $(LDFLAGS) -o $@ $< -L$(IT_PROGDIR) -lctor_lib -Wl,-rpath,'$$ORIGIN'

# The module dl_reuse loads and unloads.
$(IT_PROGDIR)/libplug_copy.so: tests/programs/plug_copy.c | $(IT_PROGDIR)
	$(CC) $(IT_CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $<

$(IT_PROGDIR)/libown_malloc.so: tests/programs/own_malloc.c | $(IT_PROGDIR)
	$(CC) $(IT_CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $<

$(IT_PROGDIR)/guard_copy_own: tests/programs/guard_copy.c $(IT_PROGDIR)/libown_malloc.so \
                              $(IT_PROG_HDRS)
	$(CC) $(IT_CFLAGS) $(LDFLAGS) -o $@ $< -L$(IT_PROGDIR) -lown_malloc -Wl,-rpath,'$$ORIGIN'

# One Check binary per suite: the scenario file plus the shared harness.
$(IT_BUILD)/test_%: tests/integration/test_%.c $(IT_HARNESS) $(IT_HARNESS_H) $(IT_PROG_HDRS) | $(IT_BUILD)
	$(CC) $(IT_CFLAGS) $(IT_CHECK_CF) $(LDFLAGS) -Iinclude -Ishim -Itools -Itests/programs -o $@ \
	      $< $(IT_HARNESS) $(IT_CHECK_LIB)

$(IT_BUILD)/test_tools: tests/corpus/test_tools.c $(IT_HARNESS) $(IT_HARNESS_H) | $(IT_BUILD)
	$(CC) $(IT_CFLAGS) $(IT_CHECK_CF) $(LDFLAGS) -Iinclude -Ishim -Itools -o $@ $< $(IT_HARNESS) \
	      $(IT_CHECK_LIB)

# Every suite runs even if one fails, so one run shows every failure.
test-integration: $(LIB) $(TOOL) $(IT_PROGS) $(IT_SUITES)
	@rc=0; for s in $(IT_SUITES); do \
		ZCOPY_TEST_LIB=$(abspath $(LIB)) ZCOPY_TEST_PROGS=$(abspath $(IT_PROGDIR)) \
		ZCOPY_TEST_TOOL=$(abspath $(TOOL)) $$s || rc=1; \
	done; exit $$rc
