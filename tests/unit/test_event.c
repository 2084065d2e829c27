/*
 * test_event.c - the event contract helpers: key, time format, Message-ID
 * extraction, idempotency keys, standard headers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "capture/event.h"

static void
test_key(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(event_key("acme", "alice@acme.test", buf,
	    sizeof(buf)), 20);
	assert_string_equal(buf, "acme/alice@acme.test");
	assert_int_equal(event_key("", "alice", buf, sizeof(buf)), -1);
	assert_int_equal(event_key("acme", "", buf, sizeof(buf)), -1);
	assert_int_equal(event_key("a/b", "alice", buf, sizeof(buf)), -1);
	assert_int_equal(event_key("acme", "alice", buf, 10), -1);
}

static void
test_time(void **state)
{
	char t[EVENT_TIME_LEN];

	(void)state;
	event_rfc3339_ms(0, t);
	assert_string_equal(t, "1970-01-01T00:00:00.000Z");
	event_rfc3339_ms(1795644481123ULL, t);
	assert_string_equal(t, "2026-11-25T22:08:01.123Z");
	assert_int_equal(strlen(t), EVENT_TIME_LEN - 1);
}

static const struct {
	const char *msg;
	const char *id;		/* NULL: none */
} message_ids[] = {
	{ "Message-ID: <a@b>\r\n\r\nbody", "<a@b>" },
	{ "From: x\r\nmessage-id:<A@B.example>\r\n\r\n", "<A@B.example>" },
	{ "MESSAGE-ID :  <c@d>  \n\nbody", "<c@d>" },
	{ "Subject: x\r\nMessage-ID:\r\n <folded@x>\r\nTo: y\r\n\r\n",
	    "<folded@x>" },
	{ "Message-ID: bare-id@x \r\n\r\n", "bare-id@x" },
	{ "Subject: x\r\n\r\nMessage-ID: <in-body@x>\r\n", NULL },
	{ "Message-IDs: <no@x>\r\n\r\n", NULL },
	{ "X-Message-ID: <no@x>\r\n\r\n", NULL },
	{ "Message-ID:   \r\n\r\n", NULL },
	{ "", NULL },
	{ "Message-ID: <unterminated", "<unterminated" },
};

static void
test_message_id(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(message_ids) / sizeof(*message_ids);
	    i++) {
		const char *m = message_ids[i].msg, *id = NULL;
		size_t len = 0;
		bool found = event_message_id(m, strlen(m), &id, &len);

		if (message_ids[i].id == NULL) {
			assert_false(found);
			continue;
		}
		assert_true(found);
		assert_int_equal(len, strlen(message_ids[i].id));
		assert_memory_equal(id, message_ids[i].id, len);
		/* Fed with the input cut anywhere: never reads past it. */
		for (size_t cut = 0; cut < strlen(m); cut++) {
			char *copy = malloc(cut + 1);

			memcpy(copy, m, cut);
			(void)event_message_id(copy, cut, &id, &len);
			free(copy);
		}
	}
}

static void
test_idkey(void **state)
{
	static const char m1[] = "Message-ID: <x@y>\r\n\r\nbody one";
	static const char m2[] = "Message-ID: <x@y>\r\n\r\nbody two";
	static const char n1[] = "Subject: a\r\n\r\nbody";
	static const char n2[] = "Subject: a\r\n\r\nbodx";
	char a[EVENT_IDKEY_LEN + 1], b[EVENT_IDKEY_LEN + 1];
	uint8_t md[32];
	struct event_digest *d;

	(void)state;
	/* Same Message-ID, same tenant: same key, whatever the bytes. */
	assert_int_equal(event_idkey_for_message("acme", m1, strlen(m1), a),
	    0);
	assert_int_equal(event_idkey_for_message("acme", m2, strlen(m2), b),
	    0);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), EVENT_IDKEY_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), EVENT_IDKEY_LEN);
	event_idkey_from_message_id("acme", "<x@y>", 5, b);
	assert_string_equal(a, b);
	/* Tenants never share keys. */
	event_idkey_for_message("other", m1, strlen(m1), b);
	assert_string_not_equal(a, b);
	/* Without Message-ID: content decides. */
	event_idkey_for_message("acme", n1, strlen(n1), a);
	event_idkey_for_message("acme", n2, strlen(n2), b);
	assert_string_not_equal(a, b);
	/* Streaming digest gives the same key as the whole buffer. */
	d = event_digest_new();
	for (size_t i = 0; i < strlen(n1); i++)
		event_digest_update(d, n1 + i, 1);
	event_digest_final(d, md);
	event_digest_free(&d);
	assert_null(d);
	event_idkey_from_content("acme", md, b);
	event_idkey_for_message("acme", n1, strlen(n1), a);
	assert_string_equal(a, b);
	assert_int_equal(event_idkey_from_content("", md, b), -1);
	assert_int_equal(event_idkey_from_message_id("acme", "", 0, b), -1);
	/* Pinned value: the documented bytes (docs/events.md) must not
	 * drift, or consumers would stop deduplicating across versions.
	 * sha256("crm-idkey/1\0acme\0message-id\0<x@y>") */
	event_idkey_from_message_id("acme", "<x@y>", 5, a);
	assert_string_equal(a, "6143938eed909d35767758caef68a243f6c8a1288b7f8c3aae9fa6a7428a7dbd");
}

static void
test_headers(void **state)
{
	struct event_meta m = {
		.schema = EVENT_SCHEMA_MAIL,
		.tenant = "acme",
		.user = "alice",
		.direction = EVENT_DIR_OUT,
		.source = EVENT_SRC_IMAP_APPEND,
		.mailbox = "Sent",
		.uid = 42,
		.uidvalidity = 1700000000,
		.flags = "\\Seen",
		.internaldate = "25-Nov-2026 22:08:01 +0000",
		.observed_at_ms = 1795644481123ULL,
		.idempotency_key = "ab",
	};
	static const char *const want[][2] = {
		{ "schema", "crm.mail/1" }, { "tenant", "acme" },
		{ "user", "alice" }, { "direction", "out" },
		{ "source", "imap-append" }, { "mailbox", "Sent" },
		{ "uid", "42" }, { "uidvalidity", "1700000000" },
		{ "flags", "\\Seen" },
		{ "internaldate", "25-Nov-2026 22:08:01 +0000" },
		{ "observed-at", "2026-11-25T22:08:01.123Z" },
		{ "idempotency-key", "ab" },
	};
	struct event_headers eh;
	size_t len;

	(void)state;
	assert_int_equal(event_headers_fill(&eh, &m), 0);
	assert_int_equal(eh.n, 12);
	for (size_t i = 0; i < eh.n; i++) {
		assert_string_equal(eh.h[i].name, want[i][0]);
		assert_int_equal(eh.h[i].value_len, strlen(want[i][1]));
		assert_memory_equal(eh.h[i].value, want[i][1],
		    eh.h[i].value_len);
	}
	assert_non_null(event_header_find(eh.h, eh.n, "uid", &len));
	assert_int_equal(len, 2);
	assert_null(event_header_find(eh.h, eh.n, "nope", &len));
	/* Optional fields drop out; required ones are required. */
	m.mailbox = NULL;
	m.uid = 0;
	m.uidvalidity = 0;
	m.flags = NULL;
	m.internaldate = NULL;
	m.idempotency_key = NULL;
	assert_int_equal(event_headers_fill(&eh, &m), 0);
	assert_int_equal(eh.n, 6);
	m.tenant = "";
	assert_int_equal(event_headers_fill(&eh, &m), -1);
	assert_string_equal(event_direction_name(EVENT_DIR_DRAFT), "draft");
	assert_string_equal(event_source_name(EVENT_SRC_BACKFILL), "backfill");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_message_id),
		cmocka_unit_test(test_idkey),
		cmocka_unit_test(test_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
