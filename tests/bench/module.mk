# tests/bench/: benchmarks behind `make bench` (tests/bench/run.sh).
# imapbench is a load generator, not part of `all`; `make bench` builds it.
IMAPBENCH     := $(B)/tests/bench/imapbench
IMAPBENCH_LIBS := $(shell $(PKG_CONFIG) --libs openssl)

$(IMAPBENCH): $(B)/tests/bench/imapbench.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(IMAPBENCH_LIBS)

.PHONY: imapbench
imapbench: $(IMAPBENCH)
bench: $(IMAPBENCH)
