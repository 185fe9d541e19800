# tests/syscalls/syscalls.mk - zcopy's own system calls per chunk (included by
# the top Makefile): `make test-syscalls`.
.PHONY: test-syscalls
test-syscalls: $(LIB) $(TOOL)
	@ZCOPY_LIB=$(abspath $(LIB)) ZCOPY_TOOL=$(abspath $(TOOL)) bash tests/syscalls/syscalls.sh
