# SPDX-License-Identifier: GPL-2.0
#
# The kernel matrix, in QEMU guests (tools/vm/). Kernels are Debian's, fetched
# once into /var/cache/portwatch-kernels (PW_KERNEL_CACHE).
#   make test-kernels        integration suite on every kernel of VM_KERNELS
#   make test-kernel-smoke   smoke test on the oldest and the newest kernel
#   make test-kernel-polling polling mode (no cgroup v2, so no BPF) against ss
VM_KERNELS	?= 5.10 6.1 6.12 sid
VM_SMOKE_KERNELS ?= 5.10 sid

.PHONY: test-kernels test-kernel-smoke test-kernel-polling

test-kernels: deps
	@$(MAKE) --no-print-directory all integ-bins
	@BUILD=$(BUILD) sh tools/vm/matrix.sh $(VM_KERNELS) -- $(INTEG_BINS); r=$$?; \
	 echo "polling mode against ss ($(lastword $(VM_KERNELS)), no cgroup v2):"; \
	 out=$$($(MAKE) --no-print-directory test-kernel-polling 2>&1) || r=1; \
	 echo "$$out" | grep -E '^  (PASS|FAIL)|^smoke:|run-guest:'; \
	 exit $$r

test-kernel-smoke: deps
	@$(MAKE) --no-print-directory all integ-bins
	@BUILD=$(BUILD) sh tools/vm/matrix.sh --smoke $(VM_SMOKE_KERNELS)

test-kernel-polling: deps
	@$(MAKE) --no-print-directory all integ-bins
	@bash tools/vm/run-guest.sh --cmdline pwvm.nocgroup2=1 --env ITEST_SLOW=80 \
		$(lastword $(VM_KERNELS)) -- \
		/usr/bin/python3 tools/vm/smoke.py $(BUILD) --expect polling --compare-ss
