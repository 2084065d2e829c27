/*
 * fuzz_ical_meta.c - the libical glue (capture/ical_meta.c) on arbitrary
 * bytes.  Checks: it never crashes or aborts (libical's fatal errors are
 * off), a refusal always says why, an accepted object has a UID and at
 * least one component, and parsing is deterministic (same fingerprint
 * twice).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/ical_meta.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ical_meta a, b;
	const char *err = NULL;

	if (size > 65536)
		return 0;
	if (ical_meta_parse((const char *)data, size, &a, &err) != 0) {
		FUZZ_CHECK(err != NULL);
		return 0;
	}
	FUZZ_CHECK(a.uid[0] != '\0' && a.components > 0);
	FUZZ_CHECK(ical_meta_parse((const char *)data, size, &b, &err) == 0);
	FUZZ_CHECK(a.fingerprint == b.fingerprint);
	FUZZ_CHECK(strcmp(a.uid, b.uid) == 0 && a.sequence == b.sequence);
	return 0;
}
