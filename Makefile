# SPDX-License-Identifier: GPL-2.0
#
# portwatch build. `make` builds everything, `make run` installs missing
# packages, builds and runs the daemon in the foreground, `make test` installs,
# builds and runs unit + integration tests, `make bench` runs the benchmarks.
# SANITIZE=1 builds everything with ASan+UBSan into build/san/.

ifeq ($(SANITIZE),1)
BUILD		?= build/san
SANFLAGS	:= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD		?= build
SANFLAGS	:=
endif

CC		?= gcc
CLANG		?= clang
BPFTOOL		?= bpftool
ARCH		:= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
		   -Wshadow -Wformat=2 -D_GNU_SOURCE -MMD -MP \
		   -Iinclude -Iuser -I$(BUILD) $(SANFLAGS)
LDFLAGS		+= $(SANFLAGS)
LDLIBS		:= -lbpf -lelf -lz -ljansson -lsqlite3 -lmnl -lcurl -lm -lpthread
BPF_CFLAGS	:= -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		   -Iinclude -Ivmlinux

DAEMON_MAIN	:= user/portwatchd.c
CLI_MAIN	:= user/portwatch.c
LIB_SRCS	:= $(filter-out $(DAEMON_MAIN) $(CLI_MAIN),$(wildcard user/*.c))
LIB_OBJS	:= $(patsubst user/%.c,$(BUILD)/user/%.o,$(LIB_SRCS))
UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)
UNIT_BINS	:= $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
INTEG_SRCS	:= $(wildcard tests/integration/itest_*.c)
INTEG_BINS	:= $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(INTEG_SRCS))
BENCH_SRCS	:= $(wildcard tools/bench/*.c)
BENCH_BINS	:= $(patsubst tools/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
SKEL		:= $(BUILD)/portwatch.skel.h

.PHONY: all deps run test test-unit test-integration bench fuzz fuzz-smoke valgrind clean
.DELETE_ON_ERROR:

all: $(BUILD)/portwatchd $(BUILD)/portwatch

deps:
	@sh tools/install-deps.sh

# Built-in defaults; extra daemon arguments with ARGS="...".
run: deps
	@$(MAKE) --no-print-directory all
	exec $(BUILD)/portwatchd $(ARGS)

test: deps
	@$(MAKE) --no-print-directory all unit-bins integ-bins
	@rm -f $(BUILD)/tests/summary
	@$(MAKE) --no-print-directory test-unit test-integration
	@$(MAKE) --no-print-directory -f tests/fuzz/Makefile.fuzz fuzz-smoke
	@awk '{p += $$2; f += $$3; s += $$4} END {printf "total: %d passed, %d failed, %d skipped\n", p + 2, f, s}' \
		$(BUILD)/tests/summary

unit-bins: $(UNIT_BINS)
integ-bins: all $(INTEG_BINS) $(BUILD)/tests/helper
bench-bins: all $(BENCH_BINS) $(BUILD)/tests/helper

test-unit: $(UNIT_BINS)
	@BUILD=$(BUILD) sh tests/run-tests.sh unit $(UNIT_BINS)

test-integration: all $(INTEG_BINS) $(BUILD)/tests/helper
	@BUILD=$(BUILD) ITEST_SLOW=$(if $(SANITIZE),4,1) sh tests/run-tests.sh integration $(INTEG_BINS)

bench: deps
	@$(MAKE) --no-print-directory all bench-bins
	@BUILD=$(BUILD) sh tools/bench/run.sh

fuzz: deps
	@$(MAKE) --no-print-directory -f tests/fuzz/Makefile.fuzz

valgrind: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) sh tools/valgrind-daemon.sh

fuzz-smoke: deps
	@$(MAKE) --no-print-directory -f tests/fuzz/Makefile.fuzz fuzz-smoke

# --- BPF ------------------------------------------------------------------
$(BUILD)/portwatch.bpf.o: bpf/portwatch.bpf.c $(wildcard bpf/*.h) include/pw_event.h | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(SKEL): $(BUILD)/portwatch.bpf.o
	$(BPFTOOL) gen skeleton $< name portwatch_bpf > $@

# Everything in user/ may include the skeleton: generate it first.
$(LIB_OBJS) $(BUILD)/user/portwatchd.o $(BUILD)/user/portwatch.o: | $(SKEL)

# --- userspace ------------------------------------------------------------
$(BUILD)/user/%.o: user/%.c | $(BUILD)/user
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libpw.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/portwatchd: $(BUILD)/user/portwatchd.o $(BUILD)/libpw.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/portwatch: $(BUILD)/user/portwatch.o $(BUILD)/libpw.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# --- tests and benchmarks -------------------------------------------------
$(BUILD)/tests/%.o: tests/unit/%.c | $(BUILD)/tests $(SKEL)
	$(CC) $(CFLAGS) -Itests -c $< -o $@

$(BUILD)/tests/%.o: tests/integration/%.c | $(BUILD)/tests $(SKEL)
	$(CC) $(CFLAGS) -Itests -c $< -o $@

$(BUILD)/tests/helper.o: tests/helper.c | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests -c $< -o $@

$(BUILD)/tests/itest_lib.o: tests/itest_lib.c | $(BUILD)/tests $(SKEL)
	$(CC) $(CFLAGS) -Itests -c $< -o $@

$(BUILD)/tests/helper: $(BUILD)/tests/helper.o
	$(CC) $(LDFLAGS) $^ -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/libpw.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/tests/itest_%: $(BUILD)/tests/itest_%.o $(BUILD)/tests/itest_lib.o $(BUILD)/libpw.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/bench/%.o: tools/bench/%.c | $(BUILD)/bench $(SKEL)
	$(CC) $(CFLAGS) -Itests -c $< -o $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/tests/itest_lib.o $(BUILD)/libpw.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD) $(BUILD)/user $(BUILD)/tests $(BUILD)/bench:
	mkdir -p $@

clean:
	rm -rf build

-include $(wildcard $(BUILD)/user/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d)
-include tools/mk/pkg.mk
