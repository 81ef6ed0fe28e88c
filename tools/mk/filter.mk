# SPDX-License-Identifier: GPL-2.0
#
# Test rules for the CLI tests (filters, every command in every mode, the
# README's examples). Included at the end of the top-level Makefile.

# Tests that capture the CLI's stdout and stderr apart.
RUN_ITESTS	:= $(BUILD)/tests/itest_filter $(BUILD)/tests/itest_cli $(BUILD)/tests/itest_readme \
		   $(BUILD)/tests/itest_alloc $(BUILD)/tests/itest_recovery
$(RUN_ITESTS): $(BUILD)/tests/itest_run.o

$(BUILD)/tests/itest_run.o: tests/itest_run.c | $(BUILD)/tests $(SKEL)
	$(CC) $(CFLAGS) $(INC_tests) -c $< -o $@
