# tests/corpus/corpus.mk - the corpus of real tools (included by the top
# Makefile).  `make test-corpus` runs every scenario of tests/corpus/corpus.sh
# without zcopy, with ZCOPY_GUARD=0 and at default settings against build/libzcopy.so and
# fails on any difference; `make corpus-doc` does the same and rewrites
# docs/corpus.md from the stats.  `make test-corpus CORPUS=dd-*` runs some
# scenarios only.

CORPUS ?=

.PHONY: test-corpus corpus-doc
test-corpus: $(LIB)
	@CORPUS_DOC= ZCOPY_LIB=$(abspath $(LIB)) bash tests/corpus/corpus.sh $(CORPUS)

corpus-doc: $(LIB)
	@ZCOPY_LIB=$(abspath $(LIB)) bash tests/corpus/corpus.sh
