# zcopy - top-level build.  `make` builds build/libzcopy.so and build/zcopy;
# `make test` runs every test (it says which test dependencies are missing
# and how to install them; .ci/run installs them); `make sanitize` runs the
# unit tests and a fuzzer slice under sanitizers; `make bench` runs the
# benchmarks; `make demo` shows an unmodified program with and without
# zcopy.  `make install` / `install-strip` / `uninstall` honour DESTDIR,
# PREFIX, BINDIR, LIBDIR, INCLUDEDIR, MANDIR and PKGCONFIGDIR; `make deb`
# builds a Debian package with dpkg-deb.  CFLAGS, LDFLAGS and CPPFLAGS reach
# every compile and link line.

CC      ?= cc
STRIP   ?= strip
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BUILD   := build
CFLAGS  ?= -O2 -g
LDFLAGS ?=
# Warnings are errors in the tree; `make WERROR=` builds with a newer
# compiler whose new warnings are not fixed yet.
WERROR  ?= -Werror

# The version lives in include/zcopy.h; the SONAME carries its major number.
VERSION := $(shell sed -n 's/^\#define ZCOPY_VERSION "\(.*\)"/\1/p' include/zcopy.h)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libzcopy.so.$(MAJOR)
WARN    := -Wall -Wextra $(WERROR) -Wshadow -Wno-unused-parameter
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
	$(CC) $(TOOL_CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/shim/%.o: shim/%.c $(SHIM_HDRS) | $(BUILD)/shim
	$(CC) $(CPPFLAGS) $(SHIM_CFLAGS) -c $< -o $@

# build/libzcopy.so stays a plain file (tests and users preload it by that
# name); it carries the SONAME that install gives its symlink.
$(LIB): $(SHIM_OBJS) shim/exports.map
	$(CC) $(SHIM_CFLAGS) -shared $(LDFLAGS) -o $@ $(SHIM_OBJS) -Wl,-soname,$(SONAME) \
	      -Wl,--version-script=shim/exports.map \
	      -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined -ldl

# The tool looks for the library beside itself, then where install puts it:
# LIBDIR seen from BINDIR (so a package unpacked under another root works),
# then LIBDIR itself.  The stamp rebuilds the tool when LIBDIR changes.
LIB_UNDER_PREFIX := $(and $(filter $(PREFIX)/bin,$(BINDIR)),$(filter $(PREFIX)/%,$(LIBDIR)))
LIBDIR_FROM_BIN := $(if $(LIB_UNDER_PREFIX),../$(patsubst $(PREFIX)/%,%,$(LIBDIR)),$(LIBDIR))
TOOL_DEFS := -DZT_LIBDIR='"$(LIBDIR)"' -DZT_LIBDIR_FROM_BIN='"$(LIBDIR_FROM_BIN)"' \
             -DZT_SONAME='"$(SONAME)"'
$(BUILD)/tool-paths: FORCE | $(BUILD)
	@echo '$(TOOL_DEFS)' | cmp -s - $@ || echo '$(TOOL_DEFS)' > $@

TOOL_SRCS := $(wildcard tools/*.c) shim/config.c
$(TOOL): $(TOOL_SRCS) $(wildcard tools/*.h) include/zcopy.h shim/stats.h shim/live.h shim/config.h \
         $(BUILD)/tool-paths | $(BUILD)
	$(CC) $(CPPFLAGS) $(TOOL_DEFS) $(TOOL_CFLAGS) $(LDFLAGS) -o $@ $(TOOL_SRCS)

# The settings table printed row by row, for docs/gen/env-docs.sh.
$(BUILD)/env-table: docs/gen/env-table.c shim/config.c shim/config.h include/zcopy.h | $(BUILD)
	$(CC) $(CPPFLAGS) $(TOOL_CFLAGS) $(LDFLAGS) -o $@ docs/gen/env-table.c shim/config.c

# The manual's ENVIRONMENT entries and the README's table of settings are
# generated from shim/config.c's table: check-docs (in make test) fails when
# they differ, regen-docs rewrites them.
.PHONY: check-docs regen-docs
check-docs: $(BUILD)/env-table $(TOOL)
	@sh docs/gen/env-docs.sh --check $(BUILD)/env-table $(TOOL)
regen-docs: $(BUILD)/env-table
	@sh docs/gen/env-docs.sh --write $(BUILD)/env-table

$(BUILD)/zcopy.pc: zcopy.pc.in include/zcopy.h $(BUILD)/tool-paths | $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@SONAME@|$(SONAME)|' zcopy.pc.in > $@

$(BUILD) $(BUILD)/shim $(BUILD)/examples:
	mkdir -p $@

.PHONY: FORCE install-strip uninstall deb test-deb
FORCE:

# libzcopy.so.VERSION is the file; libzcopy.so.MAJOR (the SONAME) and
# libzcopy.so are symlinks to it.  install leaves debug symbols in;
# install-strip takes them out of the installed copies.
INSTALLED := $(BINDIR)/zcopy $(LIBDIR)/libzcopy.so.$(VERSION) $(LIBDIR)/$(SONAME) \
             $(LIBDIR)/libzcopy.so $(INCLUDEDIR)/zcopy.h $(MANDIR)/man1/zcopy.1 \
             $(PKGCONFIGDIR)/zcopy.pc
install: all $(BUILD)/zcopy.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	           $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0644 $(LIB) $(DESTDIR)$(LIBDIR)/libzcopy.so.$(VERSION)
	ln -sfn libzcopy.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libzcopy.so
	install -m 0755 $(TOOL) $(DESTDIR)$(BINDIR)/zcopy
	install -m 0644 include/zcopy.h $(DESTDIR)$(INCLUDEDIR)/zcopy.h
	install -m 0644 docs/zcopy.1 $(DESTDIR)$(MANDIR)/man1/zcopy.1
	install -m 0644 $(BUILD)/zcopy.pc $(DESTDIR)$(PKGCONFIGDIR)/zcopy.pc

install-strip: install
	$(STRIP) --strip-unneeded $(DESTDIR)$(LIBDIR)/libzcopy.so.$(VERSION)
	$(STRIP) $(DESTDIR)$(BINDIR)/zcopy

# Removes exactly what install put there, and nothing else.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

# A Debian package of the library, the tool, the header, .pc and manual.
deb:
	@sh packaging/deb.sh

# Builds the package, installs it into a scratch root (never the system's
# package database), runs `zcopy run` from there, and removes it again.
test-deb:
	@sh packaging/test-deb.sh

# Test dependencies: a missing one stops the test run with the exact command
# that installs it.  Nothing is installed here: .ci/run does that, through
# `tests/deps.sh --install`.
test-deps:
	@sh tests/deps.sh

# Every suite runs even if an earlier one failed; the last line counts them.
# test-deb needs dpkg-deb: without it, it is counted as skipped, not passed.
TEST_SUITES := check-symbols check-complexity check-docs test-unit test-tool test-deb test-integration test-faults test-fuzz \
               test-corpus test-syscalls bench-quick
# Without V=1 each suite's output goes to build/test-logs/SUITE.log and the
# suite prints one line: its counts (tests/summary.sh) when it passes, the
# last 40 lines of its log when it fails.  V=1 shows everything as it runs.
TEST_LOGS := $(BUILD)/test-logs
test: all test-deps
	@mkdir -p $(TEST_LOGS); pass=0; fail=0; skip=0; failed=""; \
	for t in $(TEST_SUITES); do \
		if [ $$t = test-deb ] && ! command -v dpkg-deb >/dev/null; then \
			echo "test-deb: skipped: dpkg-deb not found"; skip=$$((skip + 1)); continue; \
		fi; \
		log=$(TEST_LOGS)/$$t.log; \
		if [ "$(V)" = 1 ]; then \
			echo "== $$t"; \
			if $(MAKE) --no-print-directory $$t; then pass=$$((pass + 1)); \
			else fail=$$((fail + 1)); failed="$$failed $$t"; fi; \
		elif $(MAKE) --no-print-directory $$t > $$log 2>&1; then \
			pass=$$((pass + 1)); \
			printf '%-18s ok: %s\n' "$$t" "$$(bash tests/summary.sh $$log)"; \
		else \
			fail=$$((fail + 1)); failed="$$failed $$t"; \
			printf '%-18s FAILED (the end of %s follows)\n' "$$t" "$$log"; \
			tail -n 40 $$log | sed 's/^/    /'; \
		fi; \
	done; \
	[ -z "$$failed" ] || echo "make test: failed:$$failed"; \
	echo "suites: $$pass passed, $$fail failed, $$skip skipped"; \
	[ $$fail -eq 0 ]

# `make sanitize`: the unit tests built with AddressSanitizer and UBSan (they
# compile the shim sources in, so ASan's runtime is theirs), then the
# library and the fuzzer built with UBSan and the fuzzer's `make test` slice
# run against that library; every report stops the run.  ASan cannot go into
# the preloaded library: docs/design.md, "Sanitizers", says why.  Built under
# build-san/, never over build/.  Not part of `make test`: two more builds of
# the tree take longer than the whole suite may; .ci/run runs it after.
# SAN_CFLAGS takes the place of CFLAGS: -O1, as the sanitizers recommend,
# which also keeps a build at another level than -O2 warning-free (GCC's
# flow warnings differ between levels; -Werror stays on).
SAN_BUILD  := build-san
SAN_CFLAGS ?= -O1 -g
SAN_FLAGS  := $(SAN_CFLAGS) -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_MAKE   := $(MAKE) --no-print-directory
.PHONY: sanitize
sanitize:
	@echo "== sanitize: unit tests with ASan and UBSan ($(SAN_BUILD)/asan)"
	@$(SAN_MAKE) BUILD=$(SAN_BUILD)/asan CFLAGS="$(SAN_FLAGS) -fsanitize=address,undefined" \
		LDFLAGS="$(LDFLAGS) -fsanitize=address,undefined" test-unit
	@echo "== sanitize: fuzzer slice against the library with UBSan ($(SAN_BUILD)/ubsan)"
	@UBSAN_OPTIONS=print_stacktrace=1 $(SAN_MAKE) BUILD=$(SAN_BUILD)/ubsan \
		CFLAGS="$(SAN_FLAGS) -fsanitize=undefined" \
		LDFLAGS="$(LDFLAGS) -fsanitize=undefined" test-fuzz
	@echo "sanitize: passed"

demo: all examples
	@sh examples/demo.sh

clean:
	rm -rf $(BUILD) $(SAN_BUILD)

# Suites and benchmarks keep their rules beside their sources.  `include`,
# not `-include`: a suite file that is missing or misnamed stops the build
# instead of silently taking its suite out of `make test`.
include tests/unit/unit.mk
include tests/tool/tool.mk
include tests/faults/faults.mk
include tests/corpus/corpus.mk
include tests/fuzz/fuzz.mk
include tests/integration/integration.mk
include tests/syscalls/syscalls.mk
include tests/checks/checks.mk
include bench/bench.mk
include bench/overhead.mk
