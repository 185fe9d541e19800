# tests/checks/checks.mk - checks on the built library (included by the top
# Makefile).  `make check-symbols`: exports, the real-function table and the
# wrappers agree, and no internal call enters an exported wrapper.
.PHONY: check-symbols
check-symbols: $(LIB)
	@LIB=$(LIB) OBJDIR=$(BUILD)/shim bash tests/checks/check-symbols.sh
