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
$(BUILD)/user/common/version.o: CFLAGS += -DPW_VERSION='"$(PW_VERSION)"'
$(BUILD)/user/common/version.o: $(BUILD)/version.stamp

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

test-pkg: all $(BUILD)/tests/helper $(PKG_CHECK_BINS)
	@BUILD=$(BUILD) ITEST_SLOW=$(if $(SANITIZE),4,1) sh tests/run-tests.sh packaging $(PKG_CHECK_BINS)

# --- install / uninstall ----------------------------------------------------
# make install [DESTDIR=...] [PREFIX=/usr/local] [BINDIR=...] ...; the unit and
# completion directories come from pkg-config when systemd/bash-completion
# provide them. An existing $(SYSCONFDIR)/portwatch/portwatch.json is never
# overwritten; uninstall removes it only when it is still the sample.
PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
DATADIR		?= $(PREFIX)/share
MANDIR		?= $(DATADIR)/man
DOCDIR		?= $(DATADIR)/doc/portwatch
SYSCONFDIR	?= /etc
SYSTEMDUNITDIR	?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
BASHCOMPDIR	?= $(or $(shell pkg-config --variable=completionsdir bash-completion 2>/dev/null),$(DATADIR)/bash-completion/completions)
INSTALL		?= install

PW_CONF		:= $(DESTDIR)$(SYSCONFDIR)/portwatch/portwatch.json
# what install lays out, as paths under DESTDIR (the config handled apart)
PW_INSTALLED	:= $(SBINDIR)/portwatchd $(BINDIR)/portwatch \
		   $(MANDIR)/man8/portwatchd.8 $(MANDIR)/man1/portwatch.1 \
		   $(MANDIR)/man5/portwatch.json.5 \
		   $(SYSTEMDUNITDIR)/portwatchd.service $(SYSTEMDUNITDIR)/portwatch.socket \
		   $(BASHCOMPDIR)/portwatch $(BASHCOMPDIR)/portwatchd \
		   $(DOCDIR)/portwatch.json.sample $(DOCDIR)/README.md

.PHONY: install uninstall
install: all
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/portwatch
	$(INSTALL) -m 0755 $(BUILD)/portwatchd $(DESTDIR)$(SBINDIR)/portwatchd
	$(INSTALL) -m 0755 $(BUILD)/portwatch $(DESTDIR)$(BINDIR)/portwatch
	$(INSTALL) -m 0644 tools/man/portwatchd.8 $(DESTDIR)$(MANDIR)/man8/portwatchd.8
	$(INSTALL) -m 0644 tools/man/portwatch.1 $(DESTDIR)$(MANDIR)/man1/portwatch.1
	$(INSTALL) -m 0644 tools/man/portwatch.json.5 $(DESTDIR)$(MANDIR)/man5/portwatch.json.5
	sed 's|/usr/sbin/portwatchd|$(SBINDIR)/portwatchd|' tools/systemd/portwatchd.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/portwatchd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/portwatchd.service
	$(INSTALL) -m 0644 tools/systemd/portwatch.socket $(DESTDIR)$(SYSTEMDUNITDIR)/portwatch.socket
	$(INSTALL) -m 0644 tools/completion/portwatch $(DESTDIR)$(BASHCOMPDIR)/portwatch
	ln -sf portwatch $(DESTDIR)$(BASHCOMPDIR)/portwatchd
	$(INSTALL) -m 0644 tools/portwatch.json.sample $(DESTDIR)$(DOCDIR)/portwatch.json.sample
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	@if [ -e $(PW_CONF) ]; then \
		echo "keeping the existing $(PW_CONF)"; \
	else \
		echo "$(INSTALL) -m 0644 tools/portwatch.json.sample $(PW_CONF)"; \
		$(INSTALL) -m 0644 tools/portwatch.json.sample $(PW_CONF); \
	fi

uninstall:
	rm -f $(addprefix $(DESTDIR),$(PW_INSTALLED))
	@if cmp -s tools/portwatch.json.sample $(PW_CONF); then \
		echo "rm -f $(PW_CONF)"; rm -f $(PW_CONF); \
		rmdir $(DESTDIR)$(SYSCONFDIR)/portwatch 2>/dev/null || true; \
	elif [ -e $(PW_CONF) ]; then \
		echo "keeping $(PW_CONF): it differs from the sample"; \
	fi
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

# --- libraries: systemd notifications, capabilities ---------------------------
LIBS_daemon	+= -lsystemd -lcap-ng

# --- Debian package (make deb) ---------------------------------------------------
# Built with Debian's hardening flags in a build directory of its own, installed
# into a staging root, Depends from dpkg-shlibdeps, packed with dpkg-deb.
DEB_VERSION	:= $(subst -,+,$(PW_VERSION))
DEB_ARCH	:= $(shell dpkg --print-architecture 2>/dev/null)
DEB_BUILD	:= build/deb-build
DEB_STAGE	:= build/deb
DEB_ROOT	:= $(DEB_STAGE)/src/debian/portwatch
DEB_FILE	:= build/portwatch_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_CFLAGS	= $(shell dpkg-buildflags --get CFLAGS) $(shell dpkg-buildflags --get CPPFLAGS)
DEB_LDFLAGS	= $(shell dpkg-buildflags --get LDFLAGS) -Wl,-z,now
DEB_DIRS	:= PREFIX=/usr SYSCONFDIR=/etc SYSTEMDUNITDIR=/lib/systemd/system \
		   BASHCOMPDIR=/usr/share/bash-completion/completions DOCDIR=/usr/share/doc/portwatch

.PHONY: deb
deb:
	@test -n "$(DEB_ARCH)" || { echo "make deb: dpkg is needed" >&2; exit 1; }
	rm -rf $(DEB_STAGE)
	env CFLAGS="$(DEB_CFLAGS)" LDFLAGS="$(DEB_LDFLAGS)" $(MAKE) --no-print-directory \
		BUILD=$(DEB_BUILD) SANITIZE= install DESTDIR=$(CURDIR)/$(DEB_ROOT) $(DEB_DIRS)
	strip --remove-section=.comment --remove-section=.note --strip-unneeded \
		$(DEB_ROOT)/usr/sbin/portwatchd $(DEB_ROOT)/usr/bin/portwatch
	gzip -9n $(DEB_ROOT)/usr/share/man/man*/*
	install -m 0644 tools/debian/copyright $(DEB_ROOT)/usr/share/doc/portwatch/copyright
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e "s/@DATE@/$$(date -R)/" tools/debian/changelog \
		| gzip -9n > $(DEB_ROOT)/usr/share/doc/portwatch/changelog.gz
	install -d -m 0755 $(DEB_ROOT)/DEBIAN $(DEB_STAGE)/src/debian
	install -m 0644 tools/debian/conffiles $(DEB_ROOT)/DEBIAN/conffiles
	install -m 0755 tools/debian/postinst tools/debian/prerm tools/debian/postrm $(DEB_ROOT)/DEBIAN/
	install -m 0644 tools/debian/shlibdeps-control $(DEB_STAGE)/src/debian/control
	cd $(DEB_STAGE)/src && dpkg-shlibdeps -O -e debian/portwatch/usr/sbin/portwatchd -e debian/portwatch/usr/bin/portwatch \
		| sed -n 's/^shlibs:Depends=//p' > ../depends
	test -s $(DEB_STAGE)/depends
	cd $(DEB_ROOT) && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z \
		| xargs -0 md5sum > DEBIAN/md5sums
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' \
		-e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1)/" \
		-e "s/@DEPENDS@/$$(cat $(DEB_STAGE)/depends)/" tools/debian/control.in \
		> $(DEB_ROOT)/DEBIAN/control
	dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $(DEB_FILE)
	@echo "$(DEB_FILE)"
