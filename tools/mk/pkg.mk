# SPDX-License-Identifier: GPL-2.0
#
# Versioning, installation, man pages, completion, systemd unit and the Debian
# package. Included at the end of the top-level Makefile.

# --- version --------------------------------------------------------------
# The release number; a build from git says `git describe` instead when there
# is a tag, else VERSION+g<commit>[-dirty].
VERSION		:= 0.1.0
GIT_DESCRIBE	:= $(shell git describe --tags --dirty --match 'v[0-9]*' 2>/dev/null | sed 's/^v//')
GIT_COMMIT	:= $(shell git rev-parse --short HEAD 2>/dev/null)
GIT_DIRTY	:= $(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
PW_VERSION	:= $(or $(GIT_DESCRIBE),$(if $(GIT_COMMIT),$(VERSION)+g$(GIT_COMMIT)$(GIT_DIRTY),$(VERSION)))

# version.o is rebuilt when the string changes: the stamp is rewritten only then.
$(BUILD)/version.stamp: FORCE | $(BUILD)
	@echo '$(PW_VERSION)' | cmp -s - $@ || echo '$(PW_VERSION)' > $@
$(BUILD)/user/version.o: CFLAGS += -DPW_VERSION='"$(PW_VERSION)"'
$(BUILD)/user/version.o: $(BUILD)/version.stamp

.PHONY: FORCE version
FORCE:
version:
	@echo $(PW_VERSION)

# --- packaging checks (make test-pkg; `make test` runs it) -----------------
PKG_CHECKS	:= $(wildcard tests/pkg/check_*.sh)
PKG_CHECK_BINS	:= $(patsubst tests/pkg/%.sh,$(BUILD)/tests/pkg/%,$(PKG_CHECKS))

.PHONY: test-pkg
$(BUILD)/tests/pkg/%: tests/pkg/%.sh
	@mkdir -p $(@D)
	@printf '#!/bin/sh\ncd "%s" && exec sh %s "$$@"\n' "$(CURDIR)" "$<" > $@
	@chmod +x $@

test-pkg: all $(PKG_CHECK_BINS)
	@BUILD=$(BUILD) ITEST_SLOW=$(if $(SANITIZE),4,1) sh tests/run-tests.sh packaging $(PKG_CHECK_BINS)
