/*
 * fuzz_imap_server.c - the server-direction IMAP parser.
 *
 * Input: byte 0 picks a split (low 6 bits) and a small line limit (bit 6);
 * the rest is the server stream, parsed whole and split; both runs must
 * agree event for event.
 */
#include <stddef.h>
#include <stdint.h>

#include "proxy/imap_parse.h"
#include "tests/fuzz/imap_fuzz_drive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_fuzz_result whole, split;
	size_t line_max;

	if (size < 1)
		return 0;
	line_max = data[0] & 0x40 ? 100 : 0;
	imap_fuzz_run(IMAP_DIR_SERVER, line_max, data + 1, size - 1, 0, 0,
	    NULL, &whole);
	imap_fuzz_run(IMAP_DIR_SERVER, line_max, data + 1, size - 1,
	    (uint32_t)(data[0] & 0x3f) + 1, 0, NULL, &split);
	imap_fuzz_compare(&whole, &split);
	/* a server parser never leaves command mode */
	FUZZ_CHECK(whole.mode == IMAP_MODE_COMMAND);
	return 0;
}
