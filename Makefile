# zcopy - top-level build.  `make` builds build/libzcopy.so and build/zcopy;
# `make test` installs missing test dependencies (or says how) and runs every
# test; `make bench` runs the benchmarks; `make demo` shows an unmodified
# program with and without zcopy.  `make install` / `install-strip` /
# `uninstall` honour DESTDIR, PREFIX, BINDIR, LIBDIR, INCLUDEDIR, MANDIR and
# PKGCONFIGDIR; `make deb` builds a Debian package with dpkg-deb.

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

# The version lives in include/zcopy.h; the SONAME carries its major number.
VERSION := $(shell sed -n 's/^\#define ZCOPY_VERSION "\(.*\)"/\1/p' include/zcopy.h)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libzcopy.so.$(MAJOR)
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

# build/libzcopy.so stays a plain file (tests and users preload it by that
# name); it carries the SONAME that install gives its symlink.
$(LIB): $(SHIM_OBJS) shim/exports.map
	$(CC) -shared -pthread $(LDFLAGS) -o $@ $(SHIM_OBJS) -Wl,-soname,$(SONAME) \
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

# Test dependencies: installed when missing (as root), otherwise the exact
# command to run is printed and the test run stops.
test-deps:
	@sh tests/deps.sh

# Every suite runs even if an earlier one failed; the last line counts them.
# test-deb needs dpkg-deb: without it, it is counted as skipped, not passed.
TEST_SUITES := check-symbols test-unit test-tool test-deb test-integration test-faults test-fuzz \
               test-corpus test-syscalls bench-quick
test: all test-deps
	@pass=0; fail=0; skip=0; failed=""; \
	for t in $(TEST_SUITES); do \
		echo "== $$t"; \
		if [ $$t = test-deb ] && ! command -v dpkg-deb >/dev/null; then \
			echo "test-deb: skipped: dpkg-deb not found"; skip=$$((skip + 1)); continue; \
		fi; \
		if $(MAKE) --no-print-directory $$t; then pass=$$((pass + 1)); \
		else fail=$$((fail + 1)); failed="$$failed $$t"; fi; \
	done; \
	[ -z "$$failed" ] || echo "make test: failed:$$failed"; \
	echo "suites: $$pass passed, $$fail failed, $$skip skipped"; \
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
