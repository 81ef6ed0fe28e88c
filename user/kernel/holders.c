// SPDX-License-Identifier: GPL-2.0
/* Socket holders from the kernel's file tables (see holders.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfwatch.h"
#include "holders.h"
#include "log.h"

_Static_assert(sizeof(struct pw_holder_rec) == 40, "struct pw_holder_rec is shared with BPF");

struct pw_holders {
	struct bpf_link *link;
	int map;	/* wanted cookies (pw_bpf's) */
};

int pw_holders_new(struct pw_holders **ret, const struct pw_bpf *b)
{
	struct bpf_program *prog = pw_bpf_holders_prog(b);
	struct pw_holders *h;
	int err;

	if (!prog)
		return -EOPNOTSUPP;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->map = pw_bpf_holders_map_fd(b);
	h->link = bpf_program__attach_iter(prog, NULL);
	if (!h->link) {
		err = -errno;
		pw_debug("bpf: holders iterator does not attach: %s", strerror(-err));
		free(h);
		return err ? err : -EINVAL;
	}
	*ret = h;
	return 0;
}

void pw_holders_free(struct pw_holders *h)
{
	if (!h)
		return;
	bpf_link__destroy(h->link);
	free(h);
}

static int run(struct pw_holders *h, pw_holder_fn fn, void *ctx)
{
	struct pw_holder_rec buf[64];
	int fd = bpf_iter_create(bpf_link__fd(h->link));
	ssize_t n;
	int err = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof(buf[0]); i++)
			fn(ctx, &buf[i]);
	}
	close(fd);
	return err;
}

int pw_holders_lookup(struct pw_holders *h, const __u64 *cookies, size_t n, pw_holder_fn fn,
		      void *ctx)
{
	int map = h->map, err = 0;
	__u8 one = 1;
	size_t i;

	if (n > PW_HOLDER_QUERY_MAX)
		return -E2BIG;
	for (i = 0; i < n && !err; i++)
		if (bpf_map_update_elem(map, &cookies[i], &one, BPF_ANY))
			err = -errno;
	if (!err)
		err = run(h, fn, ctx);
	while (i--)
		(void) bpf_map_delete_elem(map, &cookies[i]);
	return err;
}
