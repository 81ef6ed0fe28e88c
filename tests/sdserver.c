// SPDX-License-Identifier: GPL-2.0
/*
 * A real consumer of systemd's socket-activation protocol for the tests of
 * `portwatch run --listen`: it takes its listening socket from
 * sd_listen_fds() (libsystemd) and never calls bind(). Prints
 * "serving PORT FDNAME", then answers every connection with "hello\n".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

int main(void)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), fd = SD_LISTEN_FDS_START;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n != 1) {
		printf("error: sd_listen_fds says %d\n", n);
		return 2;
	}
	if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
		printf("error: fd 3 is not a listening stream socket\n");
		return 2;
	}
	printf("serving %s %s\n", getenv("PORT") ? getenv("PORT") : "?",
	       names && names[0] ? names[0] : "?");
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0)
			continue;
		(void) !write(c, "hello\n", 6);
		close(c);
	}
}
