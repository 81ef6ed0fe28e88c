// SPDX-License-Identifier: GPL-2.0
/*
 * The version string, in one object so that a new version rebuilds only this
 * file: the build passes it as -DPW_VERSION (tools/mk/pkg.mk).
 */
#include "version.h"

#ifndef PW_VERSION
#define PW_VERSION "unknown"
#endif

const char pw_version[] = PW_VERSION;
