# tests/syscalls/syscalls.mk - zcopy's own system calls per chunk (included by
# the top Makefile): `make test-syscalls`.
.PHONY: test-syscalls
test-syscalls: $(LIB) $(TOOL) $(IT_PROGDIR)/stdio_cp
	@ZCOPY_LIB=$(abspath $(LIB)) ZCOPY_TOOL=$(abspath $(TOOL)) \
		ZCOPY_TEST_PROGS=$(abspath $(IT_PROGDIR)) bash tests/syscalls/syscalls.sh
