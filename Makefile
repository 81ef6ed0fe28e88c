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
		   -Wshadow -Wformat=2 -D_GNU_SOURCE -MMD -MP $(SANFLAGS)
LDFLAGS		+= $(SANFLAGS)
BPF_CFLAGS	:= -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		   -Iinclude -Ivmlinux

# Layers, dependencies one way: cli -> common; daemon -> core -> kernel ->
# common -> include/. Each folder is compiled with the include paths of the
# layers below it only, so an upward #include does not compile.
LAYERS		:= common kernel core daemon cli
INC_common	:= -Iinclude -Iuser/common
INC_kernel	:= $(INC_common) -Iuser/kernel -I$(BUILD)
INC_core	:= $(INC_kernel) -Iuser/core
INC_daemon	:= $(INC_core) -Iuser/daemon
INC_cli		:= $(INC_common) -Iuser/cli
INC_tests	:= $(INC_daemon) -Iuser/cli -Itests

# What each layer links at run time (the CLI stays lean: jansson only).
LIBS_common	:= -ljansson
LIBS_kernel	:= -lbpf -lelf -lz -lmnl $(LIBS_common)
LIBS_core	:= -lsqlite3 -lcurl -lm -lpthread $(LIBS_kernel)
LIBS_daemon	:= $(LIBS_core)
LIBS_cli	:= $(LIBS_common)

DAEMON_MAIN	:= user/daemon/portwatchd.c
CLI_MAIN	:= user/cli/portwatch.c
layer_srcs	= $(filter-out $(DAEMON_MAIN) $(CLI_MAIN),$(wildcard user/$(1)/*.c))
layer_objs	= $(patsubst user/%.c,$(BUILD)/user/%.o,$(call layer_srcs,$(1)))
LIB_common	:= $(BUILD)/libpw_common.a
LIB_kernel	:= $(BUILD)/libpw_kernel.a
LIB_core	:= $(BUILD)/libpw_core.a
LIB_daemon	:= $(BUILD)/libpw_daemon.a
LIB_cli		:= $(BUILD)/libpw_cli.a
# Static libraries in link order: a layer before the ones it uses.
DAEMON_LIBS	:= $(LIB_daemon) $(LIB_core) $(LIB_kernel) $(LIB_common)
CLI_LIBS	:= $(LIB_cli) $(LIB_common)
ALL_LIB_OBJS	:= $(foreach l,$(LAYERS),$(call layer_objs,$(l)))

UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)
UNIT_BINS	:= $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
INTEG_SRCS	:= $(wildcard tests/integration/itest_*.c)
INTEG_BINS	:= $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(INTEG_SRCS))
BENCH_SRCS	:= $(filter-out %.bpf.c,$(wildcard tools/bench/*.c))
BENCH_BINS	:= $(patsubst tools/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
SKEL		:= $(BUILD)/portwatch.skel.h
# Tests and benchmarks may reach every layer.
TEST_LIBS	:= $(LIB_daemon) $(LIB_cli) $(LIB_core) $(LIB_kernel) $(LIB_common)

.PHONY: check-layers all deps run test test-unit test-integration bench fuzz fuzz-smoke valgrind clean
.DELETE_ON_ERROR:

all: $(BUILD)/portwatchd $(BUILD)/portwatch

deps:
	@sh tools/install-deps.sh

# Built-in defaults; extra daemon arguments with ARGS="...".
run: deps
	@$(MAKE) --no-print-directory all
	exec $(BUILD)/portwatchd $(ARGS)

test: deps
	@$(MAKE) --no-print-directory all unit-bins integ-bins bench-bins
	@rm -f $(BUILD)/tests/summary
	@sh tools/check-layers.sh
	@$(MAKE) --no-print-directory test-unit test-integration
	@$(MAKE) --no-print-directory -f tests/fuzz/Makefile.fuzz fuzz-smoke
	@$(MAKE) --no-print-directory test-pkg
	@$(MAKE) --no-print-directory test-kernel-smoke
	@awk '{p += $$2; f += $$3; s += $$4} END {printf "total: %d passed, %d failed, %d skipped\n", p + 3, f, s}' \
		$(BUILD)/tests/summary

check-layers:
	@sh tools/check-layers.sh

unit-bins: $(UNIT_BINS)
integ-bins: all $(INTEG_BINS) $(BUILD)/tests/helper $(BUILD)/tests/sdserver
bench-bins: all $(BENCH_BINS) $(BUILD)/tests/helper

test-unit: $(UNIT_BINS)
	@BUILD=$(BUILD) sh tests/run-tests.sh unit $(UNIT_BINS)

test-integration: all $(INTEG_BINS) $(BUILD)/tests/helper $(BUILD)/tests/sdserver
	@BUILD=$(BUILD) ITEST_SLOW=$(if $(SANITIZE),4,1) sh tests/run-tests.sh integration $(INTEG_BINS)

bench: deps
	@$(MAKE) --no-print-directory all bench-bins
	@BUILD=$(BUILD) sh tools/bench/run.sh

fuzz: deps
	@$(MAKE) --no-print-directory -f tests/fuzz/Makefile.fuzz

valgrind: deps
	@$(MAKE) --no-print-directory all unit-bins
	@sh tools/valgrind-unit.sh $(UNIT_BINS)
	@BUILD=$(BUILD) sh tools/valgrind-daemon.sh

fuzz-smoke: deps
	@$(MAKE) --no-print-directory -f tests/fuzz/Makefile.fuzz fuzz-smoke

# --- BPF ------------------------------------------------------------------
$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(wildcard include/*.h) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# The kernel layer (and everything above it) may include the skeleton.
$(foreach l,kernel core daemon,$(call layer_objs,$(l))) $(BUILD)/user/daemon/portwatchd.o: | $(SKEL)

# --- userspace ------------------------------------------------------------
define layer_rules
$(BUILD)/user/$(1)/%.o: user/$(1)/%.c | $(BUILD)/user/$(1)
	$$(CC) $$(CFLAGS) $$(INC_$(1)) -c $$< -o $$@

$(LIB_$(1)): $(call layer_objs,$(1))
	$$(AR) rcs $$@ $$^

$(BUILD)/user/$(1):
	mkdir -p $$@
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rules,$(l))))

$(BUILD)/portwatchd: $(BUILD)/user/daemon/portwatchd.o $(DAEMON_LIBS)
	$(CC) $(LDFLAGS) $^ $(LIBS_daemon) -o $@

$(BUILD)/portwatch: $(BUILD)/user/cli/portwatch.o $(CLI_LIBS)
	$(CC) $(LDFLAGS) -Wl,--as-needed $^ $(LIBS_cli) -o $@

# --- tests and benchmarks -------------------------------------------------
$(BUILD)/tests/%.o: tests/unit/%.c | $(BUILD)/tests $(SKEL)
	$(CC) $(CFLAGS) $(INC_tests) -c $< -o $@

$(BUILD)/tests/%.o: tests/integration/%.c | $(BUILD)/tests $(SKEL)
	$(CC) $(CFLAGS) $(INC_tests) -c $< -o $@

$(BUILD)/tests/helper.o: tests/helper.c | $(BUILD)/tests
	$(CC) $(CFLAGS) $(INC_tests) -c $< -o $@

$(BUILD)/tests/itest_lib.o: tests/itest_lib.c | $(BUILD)/tests $(SKEL)
	$(CC) $(CFLAGS) $(INC_tests) -c $< -o $@

$(BUILD)/tests/helper: $(BUILD)/tests/helper.o
	$(CC) $(LDFLAGS) $^ -o $@

# socket activation's consumer side, from libsystemd (tests of run --listen)
$(BUILD)/tests/sdserver.o: tests/sdserver.c | $(BUILD)/tests
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/sdserver: $(BUILD)/tests/sdserver.o
	$(CC) $(LDFLAGS) $^ -lsystemd -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_LIBS)
	$(CC) $(LDFLAGS) $^ $(LIBS_daemon) -lcmocka -o $@

$(BUILD)/tests/itest_%: $(BUILD)/tests/itest_%.o $(BUILD)/tests/itest_lib.o $(TEST_LIBS)
	$(CC) $(LDFLAGS) $^ $(LIBS_daemon) -lcmocka -o $@

$(BUILD)/bench/%.o: tools/bench/%.c | $(BUILD)/bench $(SKEL)
	$(CC) $(CFLAGS) $(INC_tests) -I$(BUILD)/bench -c $< -o $@

# bench_steps times the hooks' steps in BPF programs of its own
$(BUILD)/bench/%.bpf.o: tools/bench/%.bpf.c $(wildcard include/*.h) | $(BUILD)/bench
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench/%.skel.h: $(BUILD)/bench/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(BUILD)/bench/bench_steps.o: $(BUILD)/bench/bench_steps.skel.h

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/tests/itest_lib.o $(TEST_LIBS)
	$(CC) $(LDFLAGS) $^ $(LIBS_daemon) -o $@

$(BUILD) $(BUILD)/tests $(BUILD)/bench:
	mkdir -p $@

clean:
	rm -rf build

-include $(wildcard $(BUILD)/user/*/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d)
-include tools/mk/vm.mk
-include tools/mk/filter.mk
-include tools/mk/pkg.mk
-include tools/mk/styxy.mk
