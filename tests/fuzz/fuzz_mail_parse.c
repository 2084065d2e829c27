/*
 * fuzz_mail_parse.c - crm-enrich's message parsing (mail_parse: MIME,
 * scrubbing, address keys) on arbitrary bytes.  The first byte is
 * skipped (corpus compatibility; calendars have their own target,
 * fuzz_cal).  Every string handed back must be NUL-terminated valid UTF-8
 * within its limit, and every count within its maximum.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/mail_parse.h"
#include "enrich/textutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s, size_t max)
{
	char *c;

	if (s == NULL)
		return;
	if (strlen(s) > max)
		abort();
	c = text_utf8_clean(s, strlen(s), max);
	if (strcmp(c, s) != 0)
		abort();
	free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err;

	if (size == 0)
		return 0;
	{
		struct mail_parsed mp;

		if (mail_parse((const char *)data + 1, size - 1, &mp, &err) != 0)
			return 0;
		check_str(mp.message_id, MAIL_FIELD_MAX);
		check_str(mp.subject, MAIL_FIELD_MAX);
		check_str(mp.body_text, MAIL_BODY_MAX);
		check_str(mp.body_quoted, MAIL_BODY_MAX);
		check_str(mp.body_signature, MAIL_BODY_MAX);
		check_str(mp.body_disclaimer, MAIL_BODY_MAX);
		check_str(mp.sig.title, 200);
		check_str(mp.sig.phone, 16);
		if (mp.naddrs > MAIL_ADDRS_MAX || mp.nrefs > MAIL_REFS_MAX ||
		    mp.natts > MAIL_ATTACHMENTS_MAX)
			abort();
		for (size_t i = 0; i < mp.naddrs; i++) {
			check_str(mp.addrs[i].address, 320);
			check_str(mp.addrs[i].display_name, MAIL_FIELD_MAX);
		}
		for (size_t i = 0; i < mp.natts; i++) {
			check_str(mp.atts[i].filename, MAIL_FIELD_MAX);
			check_str(mp.atts[i].content_type, 256);
			if (strlen(mp.atts[i].sha256) != 64)
				abort();
		}
		mail_parsed_fini(&mp);
	}
	return 0;
}
