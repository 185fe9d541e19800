# zcopy - top-level build.  `make` builds build/libzcopy.so and build/zcopy;
# `make test` installs missing test dependencies (or says how) and runs every
# test; `make bench` runs the benchmarks; `make demo` shows an unmodified
# program with and without zcopy.

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   := build
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Ishim
SHIM_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -fPIC -fvisibility=hidden -pthread \
               -fno-strict-aliasing -ftls-model=initial-exec
TOOL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11

SHIM_SRCS := $(wildcard shim/*.c)
SHIM_OBJS := $(patsubst shim/%.c,$(BUILD)/shim/%.o,$(SHIM_SRCS))
SHIM_HDRS := $(wildcard shim/*.h) include/zcopy.h

LIB  := $(BUILD)/libzcopy.so
TOOL := $(BUILD)/zcopy

.PHONY: all clean install test test-deps demo bench examples
all: $(LIB) $(TOOL)

EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c | $(BUILD)/examples
	$(CC) $(TOOL_CFLAGS) -o $@ $<

$(BUILD)/shim/%.o: shim/%.c $(SHIM_HDRS) | $(BUILD)/shim
	$(CC) $(CPPFLAGS) $(SHIM_CFLAGS) -c $< -o $@

$(LIB): $(SHIM_OBJS) shim/exports.map
	$(CC) -shared -pthread -o $@ $(SHIM_OBJS) -Wl,--version-script=shim/exports.map \
	      -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined -ldl

TOOL_SRCS := $(wildcard tools/*.c)
$(TOOL): $(TOOL_SRCS) $(wildcard tools/*.h) include/zcopy.h shim/stats.h | $(BUILD)
	$(CC) $(CPPFLAGS) $(TOOL_CFLAGS) -o $@ $(TOOL_SRCS)

$(BUILD) $(BUILD)/shim $(BUILD)/examples:
	mkdir -p $@

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include \
	           $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libzcopy.so
	install -m 0755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/zcopy
	install -m 0644 include/zcopy.h $(DESTDIR)$(PREFIX)/include/zcopy.h
	if [ -f docs/zcopy.1 ]; then install -m 0644 docs/zcopy.1 $(DESTDIR)$(PREFIX)/share/man/man1/zcopy.1; fi

# Test dependencies: installed when missing (as root), otherwise the exact
# command to run is printed and the test run stops.
test-deps:
	@sh tests/deps.sh

# Every suite runs even if an earlier one failed; the last line counts them.
TEST_SUITES := check-symbols test-unit test-tool test-integration test-faults test-fuzz test-corpus test-syscalls bench-quick
test: all test-deps
	@pass=0; fail=0; failed=""; \
	for t in $(TEST_SUITES); do \
		echo "== $$t"; \
		if $(MAKE) --no-print-directory $$t; then pass=$$((pass + 1)); \
		else fail=$$((fail + 1)); failed="$$failed $$t"; fi; \
	done; \
	[ -z "$$failed" ] || echo "make test: failed:$$failed"; \
	echo "suites: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]

demo: all examples
	@sh examples/demo.sh

clean:
	rm -rf $(BUILD)

# Suites and benchmarks keep their rules beside their sources.
-include tests/unit/unit.mk
-include tests/tool/tool.mk
-include tests/faults/faults.mk
-include tests/corpus/corpus.mk
-include tests/fuzz/fuzz.mk
-include tests/integration/integration.mk
-include tests/syscalls/syscalls.mk
-include tests/checks/checks.mk
-include bench/bench.mk
-include bench/overhead.mk
