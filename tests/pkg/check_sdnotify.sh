#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# systemd notifications and socket activation (tests/pkg/sdnotify_test.py).
. tests/pkg/lib.sh
exec /usr/bin/python3 tests/pkg/sdnotify_test.py
