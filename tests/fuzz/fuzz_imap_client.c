/*
 * fuzz_imap_client.c - the client-direction IMAP parser and
 * imap_parse_args().
 *
 * Input: byte 0 steers the server hints (2 bits per event: continuation,
 * cancelling tagged reply, nothing, or an unrelated tag), byte 1 picks a
 * split (low 6 bits) and a small line limit (bit 6); the rest is the
 * client stream.  The stream is parsed whole and split; both runs must
 * agree event for event.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/imap_parse.h"
#include "tests/fuzz/imap_fuzz_drive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
client_hint(struct imap_parser *p, uint32_t event, uint8_t control)
{
	unsigned pick = (unsigned)(control >> (event % 4 * 2)) & 3;
	char tag[IMAP_TAG_MAX + 1];

	memcpy(tag, p->mode_tag, sizeof(tag));
	switch (pick) {
	case 0:
		imap_parser_server_continuation(p);
		break;
	case 1:
		if (imap_parser_mode(p) != IMAP_MODE_IDLE)
			imap_parser_server_continuation(p);
		break;
	case 2:
		imap_parser_server_tagged(p, tag);
		FUZZ_CHECK(imap_parser_blind(p) ||
		    imap_parser_mode(p) == IMAP_MODE_COMMAND);
		break;
	default:
		imap_parser_server_tagged(p, "not-this-one");
		break;
	}
}

static void
check_args(const uint8_t *data, size_t size)
{
	struct imap_arg args[16];
	const char *err = NULL;
	char *scratch = malloc(size + 1);
	int n;

	FUZZ_CHECK(scratch != NULL);
	n = imap_parse_args((const char *)data, size, args, 16, scratch, size,
	    &err);
	FUZZ_CHECK(n >= -1 && n <= 16);
	FUZZ_CHECK(n >= 0 || err != NULL);
	for (int i = 0; i < n; i++) {
		const char *p = args[i].ptr;
		bool in_data = p >= (const char *)data &&
		    p + args[i].len <= (const char *)data + size;
		bool in_scratch = p >= scratch && p + args[i].len <= scratch +
		    size;

		FUZZ_CHECK(in_data || in_scratch);
		FUZZ_CHECK(args[i].type <= IMAP_ARG_NIL);
	}
	free(scratch);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_fuzz_result whole, split;
	size_t line_max;

	if (size < 2)
		return 0;
	line_max = data[1] & 0x40 ? 100 : 0;
	imap_fuzz_run(IMAP_DIR_CLIENT, line_max, data + 2, size - 2, 0,
	    data[0], client_hint, &whole);
	imap_fuzz_run(IMAP_DIR_CLIENT, line_max, data + 2, size - 2,
	    (uint32_t)(data[1] & 0x3f) + 1, data[0], client_hint, &split);
	imap_fuzz_compare(&whole, &split);
	check_args(data + 2, size - 2);
	return 0;
}
