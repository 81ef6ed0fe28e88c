# SPDX-License-Identifier: GPL-2.0
#
# user/common/ (the filter grammar filter*.c, the Prometheus sample parser
# prom_samples.c): built into libpw.a beside user/*.c, with -Iuser/common.
# Included at the end of the top-level Makefile. When the layer refactor
# builds user/common/ itself, drop FILTER_* and keep the test rules below.

FILTER_SRCS	:= $(wildcard user/common/*.c)
FILTER_OBJS	:= $(patsubst user/%.c,$(BUILD)/user/%.o,$(FILTER_SRCS))

CFLAGS		+= -Iuser/common

# an extra prerequisite of the archive: its recipe's $^ takes it in
$(BUILD)/libpw.a: $(FILTER_OBJS)

$(FILTER_OBJS): $(BUILD)/user/common/%.o: user/common/%.c | $(BUILD)/user/common $(SKEL)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/user/common:
	mkdir -p $@

-include $(wildcard $(BUILD)/user/common/*.d)

# Tests that capture the CLI's stdout and stderr apart.
RUN_ITESTS	:= $(BUILD)/tests/itest_filter $(BUILD)/tests/itest_cli $(BUILD)/tests/itest_readme \
		   $(BUILD)/tests/itest_alloc $(BUILD)/tests/itest_recovery
$(RUN_ITESTS): $(BUILD)/tests/itest_run.o

$(BUILD)/tests/itest_run.o: tests/itest_run.c | $(BUILD)/tests $(SKEL)
	$(CC) $(CFLAGS) -Itests -c $< -o $@
