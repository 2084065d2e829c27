/*
 * fuzz_imap_caps.c - capability lookup and filtering (proxy/imap_caps.c)
 * on arbitrary lines.
 *
 * Input: the line, exactly (no NUL added: the functions take a length).
 * Properties: filtering never grows the line, leaves none of the dropped
 * tokens for imap_caps_has() to find, keeps a token it did not drop, and
 * a second pass changes nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/imap_caps.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const drop[] = { "COMPRESS=DEFLATE", "X-DROP", NULL };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line, *again;
	size_t n, m;
	bool had_idle;

	if (size > 65536)
		return 0;
	line = malloc(size + 1);
	again = malloc(size + 1);
	if (line == NULL || again == NULL)
		abort();
	memcpy(line, data, size);
	had_idle = imap_caps_has(line, size, "IDLE");
	n = imap_caps_filter(line, size, drop);
	FUZZ_CHECK(n <= size);
	FUZZ_CHECK(!imap_caps_has(line, n, "COMPRESS=DEFLATE"));
	FUZZ_CHECK(!imap_caps_has(line, n, "x-drop"));
	FUZZ_CHECK(imap_caps_has(line, n, "IDLE") == had_idle);
	memcpy(again, line, n);
	m = imap_caps_filter(again, n, drop);
	FUZZ_CHECK(m == n && memcmp(again, line, n) == 0);
	free(line);
	free(again);
	return 0;
}
