# SPDX-License-Identifier: GPL-2.0
# Issue 12 (portserver protocol, HTTP listeners on libmicrohttpd, the
# Styxy-compatible API): the daemon layer links libmicrohttpd.
LIBS_daemon	+= -lmicrohttpd
