# tests/checks/checks.mk - checks on the library's code and the built
# library (included by the top Makefile).
#   make check-symbols     exports, the real-function table and the wrappers
#                          agree, and no internal call enters an exported
#                          wrapper.
#   make check-complexity  no function in shim/ above a cyclomatic complexity
#                          of 25 (pmccabe).
.PHONY: check-symbols check-complexity
check-symbols: $(LIB)
	@LIB=$(LIB) OBJDIR=$(BUILD)/shim bash tests/checks/check-symbols.sh

check-complexity:
	@bash tests/checks/check-complexity.sh
