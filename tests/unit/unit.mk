# tests/unit/unit.mk - the cmocka unit tests (included by the top Makefile).
#
# One binary per module, built into build/unit/ from the shim sources it
# needs (compiled in directly, not through libzcopy.so, so the pure parts are
# tested without preloading anything).  `make test-unit` runs every binary
# and fails if any test in any of them fails.

UNIT_DIR     := $(BUILD)/unit
UNIT_CFLAGS  := $(CFLAGS) $(WARN) -std=gnu11 -pthread -Itools \
                $(shell pkg-config --cflags cmocka 2>/dev/null)
UNIT_LIBS    := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka) -ldl
UNIT_HDRS    := $(wildcard tests/unit/*.h)

UNIT_TESTS   := config log stats detect fdinfo policy ownfd header fileabi

# Sources each test binary links, besides its own test_<name>.c.
UNIT_SRCS_config := shim/config.c
UNIT_SRCS_log    := shim/log.c shim/config.c shim/real.c shim/ownfd.c shim/optcache.c
UNIT_SRCS_stats  := shim/stats.c shim/live.c shim/streams.c shim/fdinfo.c shim/log.c shim/config.c shim/real.c \
                    shim/ownfd.c shim/optcache.c tests/unit/json.c tools/records.c
UNIT_SRCS_detect := shim/detect.c
UNIT_SRCS_fdinfo := shim/fdinfo.c shim/real.c
UNIT_SRCS_policy := shim/policy.c
UNIT_SRCS_ownfd  := shim/ownfd.c shim/real.c shim/optcache.c
UNIT_SRCS_header := shim/stats.c shim/live.c shim/streams.c shim/fdinfo.c shim/log.c shim/config.c shim/real.c shim/ownfd.c shim/optcache.c
UNIT_SRCS_fileabi := shim/fileabi.c

UNIT_BINS := $(addprefix $(UNIT_DIR)/test_,$(UNIT_TESTS))

define UNIT_RULE
$(UNIT_DIR)/test_$(1): tests/unit/test_$(1).c $(UNIT_SRCS_$(1)) $(SHIM_HDRS) $(UNIT_HDRS) \
                       tests/unit/unit.mk | $(UNIT_DIR)
	$$(CC) $$(CPPFLAGS) $$(UNIT_CFLAGS) $$(LDFLAGS) -o $$@ tests/unit/test_$(1).c $(UNIT_SRCS_$(1)) \
	       $$(UNIT_LIBS)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call UNIT_RULE,$(t))))

$(UNIT_DIR):
	mkdir -p $@

.PHONY: test-unit unit-bins
unit-bins: $(UNIT_BINS)

# Every binary runs even after a failure, so one run shows every problem.
test-unit: $(UNIT_BINS)
	@failed=""; \
	for t in $(UNIT_BINS); do \
		"$$t" || failed="$$failed $${t##*/}"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-unit: FAILED:$$failed" >&2; exit 1; fi; \
	echo "test-unit: all unit tests passed"
