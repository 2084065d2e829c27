/*
 * fuzz_imap_tap.c - the capture tap on both directions of a session.
 *
 * Input: byte 0 picks the split seed, byte 1 the policy (bit 0 header-only,
 * bit 1 a 64-byte header bound, bit 2 block a domain); then steps, each
 * [direction byte (bit 0: 1 server)][length byte][that many bytes].  The
 * session runs whole and split; both must leave the same records (state,
 * headers, payload) and events, and every record the tap began must be
 * committed or aborted by the end (checked in tap_drive_free()).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/fuzz/imap_fuzz_drive.h"
#include "tests/fuzz/imap_tap_drive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t
run(const uint8_t *data, size_t size, uint32_t seed,
    const struct tap_policy *pol, size_t header_max)
{
	static struct tap_drive d;
	uint64_t h = 0xcbf29ce484222325ull;

	tap_drive_init(&d, pol, header_max, seed);
	while (size >= 2) {
		size_t n = data[1];
		enum imap_dir dir = data[0] & 1 ? IMAP_DIR_SERVER :
		    IMAP_DIR_CLIENT;

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		tap_drive_feed(&d, dir, data, n);
		data += n;
		size -= n;
	}
	imap_tap_free(&d.tap);
	for (unsigned i = 0; i < d.nrecs; i++) {
		struct mem_rec *r = &d.recs[i];

		h = fuzz_hash(h, r->topic, strlen(r->topic));
		h = fuzz_hash(h, &r->state, sizeof(r->state));
		h = fuzz_hash(h, r->hdrs, r->hdrs_len);
		if (r->state == MEM_COMMITTED && r->len > 0)
			h = fuzz_hash(h, r->payload, r->len);
	}
	h = fuzz_hash(h, d.events, d.events_len);
	tap_drive_free(&d);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tap_policy pol;
	const char *err;
	size_t header_max;
	uint64_t whole, split;

	if (size < 2)
		return 0;
	memset(&pol, 0, sizeof(pol));
	pol.header_only = data[1] & 1;
	header_max = data[1] & 2 ? 64 : 0;
	if (data[1] & 4)
		tap_list_parse(&pol.block_domains, "lawfirm.example", &err);
	whole = run(data + 2, size - 2, 0, &pol, header_max);
	split = run(data + 2, size - 2, (uint32_t)data[0] + 1, &pol,
	    header_max);
	FUZZ_CHECK(whole == split);
	tap_policy_fini(&pol);
	return 0;
}
