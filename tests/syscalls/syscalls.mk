# tests/syscalls/syscalls.mk - zcopy's own system calls per chunk (included by
# the top Makefile): `make test-syscalls`.
.PHONY: test-syscalls
test-syscalls: $(LIB)
	@ZCOPY_LIB=$(abspath $(LIB)) bash tests/syscalls/syscalls.sh
