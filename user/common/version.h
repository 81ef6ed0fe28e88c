/* SPDX-License-Identifier: GPL-2.0 */
/* The build's version string: git describe at build time, else VERSION from tools/mk/pkg.mk. */
#ifndef PW_VERSION_H
#define PW_VERSION_H

extern const char pw_version[];

#endif
