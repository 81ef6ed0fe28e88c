/* SPDX-License-Identifier: GPL-2.0 */
/* Built-in locations shared by the daemon and the CLI. */
#ifndef PW_PATHS_H
#define PW_PATHS_H

#define PW_DEFAULT_SOCKET "/run/portwatch/portwatch.sock"
#define PW_DEFAULT_STATE_DIR "/var/lib/portwatch"
#define PW_DEFAULT_CONFIG "/etc/portwatch/portwatch.json"

#endif
