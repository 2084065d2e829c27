/*
 * fuzz_mime.c - enrich/mime: a raw message into the decoded summary.
 *
 * Checks: never crashes or leaks; every string handed out is valid UTF-8
 * without NUL; lengths match; every limit holds (the first input byte
 * picks tight limits so they are reached often).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/mime/mime.h"
#include "enrich/mime/mime_int.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
str_ok(const char *s)
{
	if (s != NULL)
		FUZZ_CHECK(utf8_valid(s, strlen(s)));
}

static void
addrs_ok(const struct mime_addr_list *l, unsigned max)
{
	FUZZ_CHECK(l->n <= max);
	for (size_t i = 0; i < l->n; i++) {
		str_ok(l->v[i].name);
		str_ok(l->v[i].addr);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits l;
	struct mime_message m;
	const char *err = NULL;

	mime_limits_default(&l);
	if (size > 0 && (data[0] & 1)) {
		l.max_depth = 3;
		l.max_parts = 8;
		l.max_body = 64;
		l.max_calendar = 64;
		l.max_header = 512;
		l.max_header_fields = 8;
		l.max_addrs = 2;
		l.max_refs = 2;
	}
	if (mime_parse((const char *)data, size, &l, &m, &err) != 0) {
		FUZZ_CHECK(err != NULL);
		mime_message_free(&m);
		return 0;
	}
	addrs_ok(&m.from, l.max_addrs);
	addrs_ok(&m.to, l.max_addrs);
	addrs_ok(&m.cc, l.max_addrs);
	addrs_ok(&m.reply_to, l.max_addrs);
	str_ok(m.subject);
	str_ok(m.date_raw);
	str_ok(m.message_id);
	FUZZ_CHECK(m.n_references <= l.max_refs);
	FUZZ_CHECK(m.n_in_reply_to <= l.max_refs);
	for (size_t i = 0; i < m.n_references; i++)
		str_ok(m.references[i]);
	if (m.text != NULL) {
		FUZZ_CHECK(strlen(m.text) == m.text_len);
		FUZZ_CHECK(m.text_len <= l.max_body);
		str_ok(m.text);
	}
	if (m.html != NULL) {
		FUZZ_CHECK(strlen(m.html) == m.html_len);
		FUZZ_CHECK(m.html_len <= l.max_body);
		str_ok(m.html);
	}
	FUZZ_CHECK(m.n_parts <= l.max_parts);
	FUZZ_CHECK(m.depth <= l.max_depth);
	for (size_t i = 0; i < m.n_attachments; i++) {
		str_ok(m.attachments[i].filename);
		str_ok(m.attachments[i].content_type);
		FUZZ_CHECK(m.attachments[i].size <= size);
	}
	for (size_t i = 0; i < m.n_calendars; i++) {
		FUZZ_CHECK(m.calendars[i].len <= l.max_calendar);
		str_ok(m.calendars[i].text);
		str_ok(m.calendars[i].method);
	}
	mime_message_free(&m);
	return 0;
}
