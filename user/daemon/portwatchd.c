// SPDX-License-Identifier: GPL-2.0
/* portwatchd: the portwatch daemon. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "allocs.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "portserver.h"
#include "version.h"
#include "styxy.h"

#define EXIT_USAGE 2
#define EXIT_CONFIG 3
#define DEFAULT_POLL_MS 1000

static void usage(FILE *f)
{
	fprintf(f,
"Usage: portwatchd [OPTIONS]\n"
"\n"
"Hand out TCP/UDP ports to services and watch every port from the kernel.\n"
"Runs in the foreground; stop it with SIGINT or SIGTERM.\n"
"\n"
"Options:\n"
"  -s, --socket PATH        control socket (default " PW_DEFAULT_SOCKET ")\n"
"  -d, --state-dir DIR      state directory (default " PW_DEFAULT_STATE_DIR ")\n"
"  -c, --config FILE        JSON configuration, Styxy's format accepted\n"
"                           (default " PW_DEFAULT_CONFIG " if present,\n"
"                           else built-in defaults)\n"
"      --check-config       validate the configuration and exit (0 = valid)\n"
"      --no-bpf             do not load BPF programs: poll the kernel instead\n"
"      --poll-interval MS   snapshot period in polling mode (default %d)\n"
"      --ringbuf-size BYTES BPF ring buffer size, power of two (default 2097152)\n"
"      --wakeup-gap US      force ring-buffer wakeups at most this often; events\n"
"                           between wait at most 250 us; 0: the ring buffer's\n"
"                           own adaptive wakeups (default 5000)\n"
"      --metrics-listen ADDR:PORT\n"
"                           serve Prometheus metrics over HTTP (loopback only\n"
"                           unless ADDR says otherwise; off by default)\n"
"      --portserver @NAME|PATH\n"
"                           serve portpicker's portserver protocol on an abstract\n"
"                           (@NAME) or path Unix socket (off by default)\n"
"      --portserver-type TYPE\n"
"                           service type it allocates from (default portserver:\n"
"                           15000-24999, added when the config lacks it)\n"
"      --styxy-http[=ADDR:PORT]\n"
"                           serve the Styxy-compatible HTTP API (default\n"
"                           " PW_STYXY_DEFAULT_LISTEN " when given without a value)\n"
"      --styxy-token-file FILE\n"
"                           its bearer token, read or generated as Styxy does\n"
"                           (default $HOME/.styxy/auth.token)\n"
"      --config-override FILE\n"
"                           merge FILE's service types over the configuration's\n"
"                           by name (Styxy's ~/.styxy/config.json)\n"
"      --client-idle-timeout MS\n"
"                           close control clients idle this long: no request,\n"
"                           or answers and events left unread (default 60000)\n"
"  -v, --verbose            debug logging, libbpf's messages included\n"
"  -h, --help               this help\n"
"      --version            print the version and exit\n"
"\n"
"Exit status: 0 clean shutdown, 1 runtime failure, 2 bad arguments,\n"
"3 invalid configuration.\n", DEFAULT_POLL_MS);
}

static int parse_ulong(const char *opt, const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || *s == '-' || v < min || v > max) {
		fprintf(stderr, "portwatchd: %s: expected an integer in %lu..%lu, got \"%s\"\n",
			opt, min, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* ADDR:PORT, [ADDR]:PORT or :PORT, PORT 1-65535. */
static bool metrics_addr_ok(const char *a)
{
	const char *colon = strrchr(a, ':');
	char *end;
	unsigned long port;

	if (!colon || (a[0] == '[' && (colon == a || colon[-1] != ']')))
		return false;
	if (a[0] != '[' && memchr(a, ':', (size_t)(colon - a)))
		return false;	/* an IPv6 address needs brackets */
	port = strtoul(colon + 1, &end, 10);
	return colon[1] >= '0' && colon[1] <= '9' && !*end && port >= 1 && port <= 65535;
}

/* A path option: not empty, and a control socket's fits sun_path. */
static bool path_ok(const char *opt, const char *s, size_t max)
{
	if (*s && strlen(s) <= max)
		return true;
	fprintf(stderr, "portwatchd: %s: expected a path of 1-%zu bytes, got \"%.64s%s\"\n", opt,
		max, s, strlen(s) > 64 ? "..." : "");
	return false;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "no-bpf", no_argument, NULL, 'N' },
		{ "poll-interval", required_argument, NULL, 'P' },
		{ "ringbuf-size", required_argument, NULL, 'R' },
		{ "metrics-listen", required_argument, NULL, 'M' },
		{ "wakeup-gap", required_argument, NULL, 'W' },
		{ "portserver", required_argument, NULL, 'S' },
		{ "portserver-type", required_argument, NULL, 'T' },
		{ "styxy-http", optional_argument, NULL, 'H' },
		{ "styxy-token-file", required_argument, NULL, 'K' },
		{ "config-override", required_argument, NULL, 'O' },
		{ "client-idle-timeout", required_argument, NULL, 'I' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct pw_daemon_opts o = {
		.socket_path = PW_DEFAULT_SOCKET,
		.state_dir = PW_DEFAULT_STATE_DIR,
		.poll_interval_ms = DEFAULT_POLL_MS,
		.wakeup_gap_us = (unsigned)-1,
	};
	struct pw_daemon d;
	bool check_only = false;
	unsigned long v;
	int verbose = 0, opt, err;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "s:d:c:vh", longopts, NULL)) != -1) {
		/* "--portserver --check-config" took the next option as a path
		 * and started a real daemon on the default paths: a value given
		 * as its own word must not look like an option (--opt=-x may) */
		if (optarg && optind > 1 && optarg == argv[optind - 1] && optarg[0] == '-' &&
		    optarg[1]) {
			const char *name = argv[optind - 2];

			fprintf(stderr, "portwatchd: %s: the value '%s' looks like an option; "
				"write %s%s%s if it is meant\n", name, optarg, name,
				name[1] == '-' ? "=" : "", optarg);
			return 2;
		}
		switch (opt) {
		case 's':
			if (!path_ok("--socket", optarg,
				     sizeof(((struct sockaddr_un *)0)->sun_path) - 1))
				return EXIT_USAGE;
			o.socket_path = optarg;
			break;
		case 'd':
			if (!path_ok("--state-dir", optarg, PATH_MAX - 64))
				return EXIT_USAGE;
			o.state_dir = optarg;
			break;
		case 'c':
			o.config_path = optarg;
			o.config_explicit = true;
			break;
		case 'C':
			check_only = true;
			break;
		case 'N':
			o.no_bpf = true;
			break;
		case 'P':
			if (parse_ulong("--poll-interval", optarg, 10, 3600000, &v))
				return EXIT_USAGE;
			o.poll_interval_ms = (unsigned)v;
			break;
		case 'R':
			if (parse_ulong("--ringbuf-size", optarg, 4096, 1ul << 30, &v))
				return EXIT_USAGE;
			if (v & (v - 1)) {
				fprintf(stderr, "portwatchd: --ringbuf-size: %lu is not a power of two\n", v);
				return EXIT_USAGE;
			}
			o.ringbuf_bytes = v;
			break;
		case 'M':
			/* the form is checked now, exit 2; the address when listening */
			if (!metrics_addr_ok(optarg)) {
				fprintf(stderr, "portwatchd: --metrics-listen %s: expected ADDR:PORT, "
					"[ADDR]:PORT or :PORT with PORT 1-65535\n", optarg);
				return EXIT_USAGE;
			}
			o.metrics_listen = optarg;
			break;
		case 'S':
			if (!pw_portserver_addr_ok(optarg)) {
				fprintf(stderr, "portwatchd: --portserver \"%.64s\": expected @NAME or "
					"a socket path, 2-%zu bytes\n", optarg,
					sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
				return EXIT_USAGE;
			}
			o.portserver_addr = optarg;
			break;
		case 'T':
			if (!*optarg) {
				fprintf(stderr, "portwatchd: --portserver-type: expected a service "
					"type, got \"\"\n");
				return EXIT_USAGE;
			}
			o.portserver_type = optarg;
			break;
		case 'H': {
			char host[256], port[8];

			/* the form now, exit 2, before the token file is made */
			if (optarg && pw_http_split_addr(optarg, host, sizeof(host), port,
							 sizeof(port))) {
				fprintf(stderr, "portwatchd: --styxy-http %.64s: expected ADDR:PORT, "
					"[ADDR]:PORT or :PORT with PORT 0-65535\n", optarg);
				return EXIT_USAGE;
			}
			o.styxy_listen = optarg ? optarg : PW_STYXY_DEFAULT_LISTEN;
			break;
		}
		case 'K':
			if (!path_ok("--styxy-token-file", optarg, PATH_MAX - 1))
				return EXIT_USAGE;
			o.styxy_token_file = optarg;
			break;
		case 'O':
			if (!path_ok("--config-override", optarg, PATH_MAX - 1))
				return EXIT_USAGE;
			o.config_override = optarg;
			break;
		case 'W':
			if (parse_ulong("--wakeup-gap", optarg, 0, 100000, &v))
				return EXIT_USAGE;
			o.wakeup_gap_us = (unsigned)v;
			break;
		case 'I':
			if (parse_ulong("--client-idle-timeout", optarg, 100, 86400000, &v))
				return EXIT_USAGE;
			o.client_idle_ms = (unsigned)v;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("portwatchd %s\n", pw_version);
			return 0;
		default:
			/* one line, not getopt's and a usage screen */
			fprintf(stderr, "portwatchd: unknown option, or one missing its value: \"%s\" "
				"(see portwatchd --help)\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "portwatchd: unexpected argument \"%s\" (see --help)\n", argv[optind]);
		return EXIT_USAGE;
	}
	pw_log_set_level(verbose ? PW_LOG_DEBUG : PW_LOG_INFO);
	if (!o.config_path && access(PW_DEFAULT_CONFIG, F_OK) == 0)
		o.config_path = PW_DEFAULT_CONFIG;

	if (check_only)
		return pw_daemon_check_config(&o) ? EXIT_CONFIG : 0;

	err = pw_daemon_init(&d, &o);
	if (err) {
		err = d.config_failed ? EXIT_CONFIG : 1;
		pw_daemon_fini(&d);
		return err;
	}
	err = pw_daemon_run(&d);
	pw_daemon_fini(&d);
	if (err < 0) {
		pw_err("event loop: %s", strerror(-err));
		return 1;
	}
	return 0;
}
