/*
 * fuzz_imip.c - enrich/imip's extraction (enrich/mime + capture/ical_meta)
 * on arbitrary mail bytes.  Checks: no crash; every part is classified
 * with the counts adding up; a publishable part has a known method, a
 * UID, a 64-digit key that the key function reproduces, and a value that
 * lies inside the parsed result; a refused part says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/imip/imip.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits l;
	struct imip_result r;
	const char *err = NULL;
	unsigned ok = 0, broken = 0;

	if (size > 256 * 1024)
		return 0;
	ical_meta_init();
	mime_limits_default(&l);
	l.max_calendar = 64 * 1024;
	if (imip_extract("t", data, size, &l, &r, &err) != 0) {
		FUZZ_CHECK(err != NULL);
		imip_result_free(&r);
		return 0;
	}
	FUZZ_CHECK(r.n <= IMIP_PARTS_MAX);
	for (size_t i = 0; i < r.n; i++) {
		const struct imip_part *p = &r.parts[i];
		char k[EVENT_IDKEY_LEN + 1];

		if (p->status == IMIP_PART_OK) {
			ok++;
			FUZZ_CHECK(imip_method(p->method) == p->method);
			FUZZ_CHECK(p->meta.uid[0] != '\0');
			FUZZ_CHECK(strlen(p->idkey) == EVENT_IDKEY_LEN);
			FUZZ_CHECK(imip_idkey("t", p->method, p->meta.uid,
			    p->meta.sequence, p->meta.attendees,
			    p->meta.fingerprint, k) == 0);
			FUZZ_CHECK(strcmp(k, p->idkey) == 0);
			FUZZ_CHECK(p->len <= l.max_calendar);
			FUZZ_CHECK(p->len == 0 || p->text != NULL);
		} else {
			FUZZ_CHECK(p->error != NULL);
			if (p->status == IMIP_PART_BROKEN)
				broken++;
		}
	}
	FUZZ_CHECK(ok == r.n_ok && broken == r.n_broken);
	imip_result_free(&r);
	return 0;
}
