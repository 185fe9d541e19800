# tests/tool/tool.mk - tests of the zcopy command: `make test-tool` builds
# build/tool/test_tool (Check) and runs it against build/zcopy and
# build/libzcopy.so.  Included from the top-level Makefile.

TOOL_TEST := $(BUILD)/tool/test_tool
TOOL_TEST_SRCS := tests/tool/test_tool.c tests/tool/test_records.c tests/tool/test_env.c \
                  tests/tool/test_fatal.c tests/tool/test_streams.c \
                  tools/records.c \
                  tools/sha256.c

.PHONY: test-tool
TOOL_COPIER := $(BUILD)/tool/copier

test-tool: $(TOOL) $(LIB) $(TOOL_TEST) $(TOOL_COPIER)
	ZT_BUILD=$(abspath $(BUILD)) $(TOOL_TEST)

$(TOOL_TEST): $(TOOL_TEST_SRCS) tools/tool.h include/zcopy.h shim/stats.h shim/live.h tests/tool/copier_run.h | $(BUILD)/tool
	$(CC) $(CPPFLAGS) -Itools $(TOOL_CFLAGS) $(LDFLAGS) -o $@ $(TOOL_TEST_SRCS) \
	      $$(pkg-config --cflags --libs check)

$(TOOL_COPIER): tests/tool/copier.c | $(BUILD)/tool
	$(CC) $(TOOL_CFLAGS) -o $@ $<

$(BUILD)/tool:
	mkdir -p $@
