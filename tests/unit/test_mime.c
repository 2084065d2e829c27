/*
 * test_mime.c - enrich/mime: header fields, transfer encodings, charsets,
 * RFC 2047 / 2231, the multipart walk and its limits, malformed input.
 *
 * mime_parse() takes a whole message (the Kafka record value), so there is
 * no incremental feed to split; instead every table case is also parsed at
 * every prefix length, which is what a truncated record looks like, and
 * must never crash, leak or produce invalid UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "enrich/mime/mime.h"
#include "enrich/mime/mime_int.h"
#include "lib/xmalloc.h"

static void
hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
check_utf8(const char *s)
{
	if (s != NULL)
		assert_true(utf8_valid(s, strlen(s)));
}

/* Every prefix parses (or is refused) without harm; strings stay UTF-8. */
static void
all_prefixes(const char *msg)
{
	size_t len = strlen(msg);

	for (size_t n = 0; n <= len; n++) {
		struct mime_message m;
		const char *err = NULL;
		char *copy = xmalloc(n + 1);

		memcpy(copy, msg, n);	/* exact size: ASan sees overreads */
		if (mime_parse(copy, n, NULL, &m, &err) == 0) {
			check_utf8(m.text);
			check_utf8(m.html);
			check_utf8(m.subject);
			for (size_t i = 0; i < m.n_attachments; i++)
				check_utf8(m.attachments[i].filename);
		} else
			assert_non_null(err);
		mime_message_free(&m);
		free(copy);
	}
}

static void
parse_ok(const char *msg, struct mime_message *m)
{
	const char *err = NULL;

	assert_int_equal(mime_parse(msg, strlen(msg), NULL, m, &err), 0);
	all_prefixes(msg);
}

#define CRLF "\r\n"

static void
test_envelope(void **state)
{
	struct mime_message m;

	(void)state;
	parse_ok("Return-Path: <x@y>" CRLF
	    "From: \"Doe, Jane\" <jane@acme.example>" CRLF
	    "To: Tom Baker <tom@globex.example>, ops@globex.example" CRLF
	    "Cc: team: a@x.example, b@x.example;" CRLF
	    "Reply-To: =?UTF-8?Q?J=C3=A1ne?= <reply@acme.example>" CRLF
	    "Subject: Re: =?ISO-8859-1?Q?Gr=FC=DFe?= aus" CRLF
	    " =?UTF-8?B?TcO8bmNoZW4=?=" CRLF
	    "Date: Tue, 3 Nov 2026 10:14:00 +0100" CRLF
	    "Message-ID: <abc.123@mail.example>" CRLF
	    "In-Reply-To: <p1@x.example>" CRLF
	    "References: <p0@x.example>" CRLF "\t<p1@x.example>" CRLF
	    "List-Unsubscribe: <mailto:u@x.example>" CRLF
	    "Auto-Submitted: Auto-Replied" CRLF
	    "Precedence: Bulk" CRLF
	    CRLF "body" CRLF, &m);
	assert_int_equal(m.from.n, 1);
	assert_string_equal(m.from.v[0].name, "Doe, Jane");
	assert_string_equal(m.from.v[0].addr, "jane@acme.example");
	assert_int_equal(m.to.n, 2);
	assert_string_equal(m.to.v[0].name, "Tom Baker");
	assert_string_equal(m.to.v[1].name, "");
	assert_string_equal(m.to.v[1].addr, "ops@globex.example");
	assert_int_equal(m.cc.n, 2);	/* group members */
	assert_string_equal(m.cc.v[1].addr, "b@x.example");
	assert_string_equal(m.reply_to.v[0].name, "Jáne");
	/* the space between two encoded words vanishes (RFC 2047 6.2) */
	assert_string_equal(m.subject, "Re: Grüße aus München");
	assert_true(m.has_date);
	assert_int_equal(m.date_utc, 1793697240);	/* 09:14 UTC */
	assert_int_equal(m.date_tz_min, 60);
	assert_string_equal(m.message_id, "abc.123@mail.example");
	assert_int_equal(m.n_in_reply_to, 1);
	assert_string_equal(m.in_reply_to[0], "p1@x.example");
	assert_int_equal(m.n_references, 2);
	assert_string_equal(m.references[1], "p1@x.example");
	assert_true(m.has_list_unsubscribe);
	assert_string_equal(m.auto_submitted, "auto-replied");
	assert_string_equal(m.precedence, "bulk");
	/* the raw fields for ident_auto_reasons(), in message order */
	assert_int_equal(m.n_auto_fields, 4);
	assert_string_equal(m.auto_fields[0].name, "Return-Path");
	assert_string_equal(m.auto_fields[0].value, "<x@y>");
	assert_string_equal(m.auto_fields[1].name, "List-Unsubscribe");
	assert_string_equal(m.auto_fields[1].value, "<mailto:u@x.example>");
	assert_string_equal(m.auto_fields[2].name, "Auto-Submitted");
	assert_string_equal(m.auto_fields[2].value, "Auto-Replied");
	assert_string_equal(m.auto_fields[3].name, "Precedence");
	assert_string_equal(m.text, "body\n");
	mime_message_free(&m);
	mime_message_free(&m);	/* idempotent */
}

static void
test_bad_fields(void **state)
{
	struct mime_message m;

	(void)state;
	/* raw 8-bit UTF-8 name, unbalanced quote: the fallback keeps them */
	parse_ok("From: J\xc3\xbcrgen \"M <j@x.example>" CRLF
	    "To: <<<>>>, , @" CRLF
	    "Date: someday soon" CRLF
	    "Message-ID: no-brackets@x" CRLF
	    "References: garbage <r1@x> more <r2@x>" CRLF
	    CRLF "x", &m);
	assert_int_equal(m.from.n, 1);
	assert_string_equal(m.from.v[0].addr, "j@x.example");
	assert_false(m.has_date);
	assert_string_equal(m.date_raw, "someday soon");
	assert_string_equal(m.message_id, "no-brackets@x");
	assert_int_equal(m.n_references, 2);
	assert_true(m.flags & MIME_F_BAD_HEADER);
	mime_message_free(&m);
}

struct enc_case {
	const char *name;
	const char *hdr;	/* Content-* lines */
	const char *body;
	const char *want;
	bool charset_flag;
};

static const struct enc_case enc_cases[] = {
	{ "7bit", "Content-Type: text/plain; charset=us-ascii" CRLF,
	  "line one" CRLF "line two" CRLF, "line one\nline two\n", false },
	{ "8bit utf-8", "Content-Type: text/plain; charset=utf-8" CRLF
	  "Content-Transfer-Encoding: 8bit" CRLF,
	  "na\xc3\xafve caf\xc3\xa9" CRLF, "naïve café\n", false },
	{ "binary", "Content-Type: text/plain; charset=utf-8" CRLF
	  "Content-Transfer-Encoding: binary" CRLF, "a\rb" CRLF, "a\nb\n",
	  false },
	{ "quoted-printable soft breaks",
	  "Content-Type: text/plain; charset=utf-8" CRLF
	  "Content-Transfer-Encoding: quoted-printable" CRLF,
	  "Gr=C3=BC=C3=9Fe aus dem sch=C3=B6nen M=C3=BCn=" CRLF "chen=3D" CRLF,
	  "Grüße aus dem schönen München=\n", false },
	{ "base64", "Content-Type: text/plain; charset=utf-8" CRLF
	  "Content-Transfer-Encoding: BASE64" CRLF,
	  "SGVsbG8sIHdvcmxkIQpTZWNvbmQg" CRLF "bGluZS4K" CRLF,
	  "Hello, world!\nSecond line.\n", false },
	{ "latin1 is read as windows-1252",
	  "Content-Type: text/plain; charset=\"ISO-8859-1\"" CRLF
	  "Content-Transfer-Encoding: quoted-printable" CRLF,
	  "=80 5, Stra=DFe, =93quoted=94" CRLF, "€ 5, Straße, “quoted”\n",
	  false },
	{ "iconv: koi8-r", "Content-Type: text/plain; charset=koi8-r" CRLF
	  "Content-Transfer-Encoding: 8bit" CRLF,
	  "\xf0\xd2\xc9\xd7\xc5\xd4" CRLF, "Привет\n", false },
	{ "iconv: shift_jis", "Content-Type: text/plain; charset=Shift_JIS" CRLF
	  "Content-Transfer-Encoding: 8bit" CRLF,
	  "\x93\xfa\x96\x7b" CRLF, "日本\n", false },
	{ "unknown charset, utf-8 bytes kept",
	  "Content-Type: text/plain; charset=x-nobody-knows" CRLF
	  "Content-Transfer-Encoding: 8bit" CRLF,
	  "caf\xc3\xa9" CRLF, "café\n", true },
	{ "unknown charset, latin bytes as windows-1252",
	  "Content-Type: text/plain; charset=x-nobody-knows" CRLF
	  "Content-Transfer-Encoding: 8bit" CRLF,
	  "caf\xe9" CRLF, "café\n", true },
	{ "bad utf-8 replaced", "Content-Type: text/plain; charset=utf-8" CRLF
	  "Content-Transfer-Encoding: 8bit" CRLF,
	  "a\xff" "b\xc3" CRLF, "a\xef\xbf\xbd" "b\xef\xbf\xbd\n", true },
	{ "no charset, not utf-8", "Content-Type: text/plain" CRLF
	  "Content-Transfer-Encoding: 8bit" CRLF, "\xe9t\xe9" CRLF, "été\n",
	  false },
	{ "NUL never reaches a C string",
	  "Content-Type: text/plain; charset=utf-8" CRLF
	  "Content-Transfer-Encoding: base64" CRLF, "YQBi" CRLF,
	  "a\xef\xbf\xbd" "b", false },
	{ "unparsable content-type is text/plain",
	  "Content-Type: ;;;/" CRLF, "plain" CRLF, "plain\n", false },
};

static void
test_encodings(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		struct mime_message m;
		char *msg = xasprintf("From: a@b.example" CRLF
		    "Subject: t" CRLF "MIME-Version: 1.0" CRLF "%s" CRLF "%s",
		    c->hdr, c->body);

		print_message("case: %s\n", c->name);
		parse_ok(msg, &m);
		assert_non_null(m.text);
		assert_string_equal(m.text, c->want);
		assert_int_equal(m.text_len, strlen(c->want));
		assert_int_equal((m.flags & MIME_F_CHARSET) != 0,
		    c->charset_flag);
		mime_message_free(&m);
		free(msg);
	}
}

struct hdr_case {
	const char *in, *want;
};

static const struct hdr_case rfc2047[] = {
	{ "=?utf-8?q?caf=C3=A9?=", "café" },
	{ "=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", "éé" },
	/* one character split over two words */
	{ "=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=", "€" },
	{ "a =?iso-8859-1?q?b=E9?= c", "a bé c" },
	{ "=?iso-8859-15?q?=A4?=", "€" },
	{ "=?utf-8*en?q?lang_suffix?=", "lang suffix" },
	{ "=?unknown-cs?q?caf=E9?=", "café" },
	{ "not =?encoded", "not =?encoded" },
	{ "=?utf-8?x?bad-encoding?=", "=?utf-8?x?bad-encoding?=" },
	{ "=?utf-8?q?spaces inside?=", "=?utf-8?q?spaces inside?=" },
	{ "  folded\r\n  value  ", "folded  value" },
	{ "raw \xc3\xbc and ctl\x01", "raw ü and ctl" },
	{ "", "" },
};

static void
test_rfc2047(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc2047) / sizeof(rfc2047[0]); i++) {
		char *s = mime_decode_header(rfc2047[i].in,
		    strlen(rfc2047[i].in), 1000, NULL);

		print_message("case: %s\n", rfc2047[i].in);
		assert_string_equal(s, rfc2047[i].want);
		free(s);
	}
	/* the output limit cuts on a character boundary */
	char *s = mime_decode_header("ééééé", 10, 5, NULL);
	assert_true(strlen(s) <= 5 && utf8_valid(s, strlen(s)));
	free(s);
}

static void
test_attachments(void **state)
{
	struct mime_message m;
	char h[65];

	(void)state;
	parse_ok("From: a@b.example" CRLF "Subject: files" CRLF
	    "Content-Type: multipart/mixed; boundary=\"outer\"" CRLF CRLF
	    "preamble is ignored" CRLF
	    "--outer" CRLF
	    "Content-Type: multipart/alternative; boundary=inner" CRLF CRLF
	    "--inner" CRLF
	    "Content-Type: text/plain; charset=utf-8" CRLF CRLF
	    "Plain body" CRLF
	    "--inner" CRLF
	    "Content-Type: text/html; charset=utf-8" CRLF CRLF
	    "<p>HTML body</p>" CRLF
	    "--inner--" CRLF
	    "--outer" CRLF
	    "Content-Type: application/pdf" CRLF
	    "Content-Disposition: attachment;" CRLF
	    " filename*=utf-8''%E2%82%AC%20rates.pdf" CRLF
	    "Content-Transfer-Encoding: base64" CRLF CRLF
	    "aGVsbG8K" CRLF
	    "--outer" CRLF
	    "Content-Type: text/plain; name=\"notes.txt\"" CRLF
	    "Content-Disposition: attachment;" CRLF
	    " filename*0*=iso-8859-1''Gr%FC;" CRLF
	    " filename*1=\"ne Notizen.txt\"" CRLF CRLF
	    "abc" CRLF
	    "--outer" CRLF
	    "Content-Type: image/png; name=\"=?UTF-8?Q?Logo_=C3=A9.png?=\"" CRLF
	    "Content-ID: <logo@x>" CRLF
	    "Content-Disposition: inline" CRLF CRLF
	    "PNG" CRLF
	    "--outer" CRLF
	    "Content-Type: message/rfc822" CRLF CRLF
	    "Subject: inner" CRLF CRLF "inner body text" CRLF
	    "--outer--" CRLF "epilogue" CRLF, &m);
	assert_string_equal(m.text, "Plain body");
	assert_string_equal(m.html, "<p>HTML body</p>");
	assert_int_equal(m.n_attachments, 4);
	assert_string_equal(m.attachments[0].filename, "€ rates.pdf");
	assert_string_equal(m.attachments[0].content_type, "application/pdf");
	assert_int_equal(m.attachments[0].size, 6);
	hex(m.attachments[0].sha256, 32, h);
	assert_string_equal(h, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
	assert_string_equal(m.attachments[1].filename, "Grüne Notizen.txt");
	assert_int_equal(m.attachments[1].size, 3);
	hex(m.attachments[1].sha256, 32, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_string_equal(m.attachments[2].filename, "Logo é.png");
	assert_string_equal(m.attachments[2].content_id, "logo@x");
	assert_true(m.attachments[2].is_inline);
	assert_string_equal(m.attachments[3].content_type, "message/rfc822");
	/* a forwarded message's text is not this message's text */
	assert_null(strstr(m.text, "inner body"));
	assert_int_equal(m.n_parts, 8);
	assert_int_equal(m.depth, 2);
	assert_int_equal(m.flags & (MIME_F_BAD_MULTIPART | MIME_F_DEPTH), 0);
	mime_message_free(&m);
}

static void
test_calendar(void **state)
{
	struct mime_message m;

	(void)state;
	parse_ok("From: a@b.example" CRLF
	    "Content-Type: multipart/alternative; boundary=b" CRLF CRLF
	    "--b" CRLF "Content-Type: text/plain" CRLF CRLF "Invitation" CRLF
	    "--b" CRLF
	    "Content-Type: text/calendar; charset=utf-8; method=REQUEST" CRLF
	    CRLF "BEGIN:VCALENDAR" CRLF "METHOD:REQUEST" CRLF
	    "BEGIN:VEVENT" CRLF "SUMMARY:Kickoff" CRLF "END:VEVENT" CRLF
	    "END:VCALENDAR" CRLF
	    "--b" CRLF
	    "Content-Type: text/calendar" CRLF
	    "Content-Transfer-Encoding: base64" CRLF CRLF
	    /* BEGIN:VCALENDAR\r\nMETHOD:cancel\r\nEND:VCALENDAR\r\n */
	    "QkVHSU46VkNBTEVOREFSDQpNRVRIT0Q6Y2FuY2VsDQpFTkQ6VkNBTEVOREFSDQo="
	    CRLF "--b--" CRLF, &m);
	assert_int_equal(m.n_calendars, 2);
	assert_string_equal(m.calendars[0].method, "REQUEST");
	assert_non_null(strstr(m.calendars[0].text, "SUMMARY:Kickoff"));
	assert_string_equal(m.calendars[1].method, "CANCEL");
	assert_int_equal(m.n_attachments, 0);
	assert_string_equal(m.text, "Invitation");
	mime_message_free(&m);
}

static char *
nested(unsigned depth)
{
	struct mbuf b;

	mbuf_init(&b, 1 << 20);
	mbuf_add(&b, "From: a@b.example\r\n", 19);
	for (unsigned i = 0; i < depth; i++) {
		char *s = xasprintf("Content-Type: multipart/mixed; "
		    "boundary=\"b%u\"\r\n\r\n--b%u\r\n", i, i);
		mbuf_add(&b, s, strlen(s));
		free(s);
	}
	mbuf_add(&b, "Content-Type: text/plain\r\n\r\ndeep\r\n", 34);
	for (unsigned i = depth; i-- > 0;) {
		char *s = xasprintf("--b%u--\r\n", i);
		mbuf_add(&b, s, strlen(s));
		free(s);
	}
	return mbuf_finish(&b, NULL);
}

static void
test_limits(void **state)
{
	struct mime_limits l;
	struct mime_message m;
	const char *err;
	char *msg;

	(void)state;
	mime_limits_default(&l);
	/* nesting: within the limit the text is found, past it skipped */
	msg = nested(10);
	assert_int_equal(mime_parse(msg, strlen(msg), &l, &m, &err), 0);
	assert_string_equal(m.text, "deep");
	assert_int_equal(m.flags & MIME_F_DEPTH, 0);
	mime_message_free(&m);
	free(msg);
	msg = nested(5000);
	assert_int_equal(mime_parse(msg, strlen(msg), &l, &m, &err), 0);
	assert_true(m.flags & MIME_F_DEPTH);
	assert_null(m.text);
	assert_true(m.depth <= l.max_depth);
	mime_message_free(&m);
	free(msg);

	/* part count */
	struct mbuf b;
	mbuf_init(&b, 1 << 20);
	const char *h = "From: a@b.example\r\nContent-Type: multipart/mixed; "
	    "boundary=x\r\n\r\n";
	mbuf_add(&b, h, strlen(h));
	for (int i = 0; i < 800; i++)
		mbuf_add(&b, "--x\r\nContent-Type: image/gif\r\n\r\nGIF\r\n",
		    37);
	mbuf_add(&b, "--x--\r\n", 7);
	msg = mbuf_finish(&b, NULL);
	assert_int_equal(mime_parse(msg, strlen(msg), &l, &m, &err), 0);
	assert_true(m.flags & MIME_F_PARTS);
	assert_int_equal(m.n_parts, l.max_parts);
	assert_int_equal(m.n_attachments, l.max_parts - 1);
	mime_message_free(&m);
	free(msg);

	/* body size: cut on a character boundary */
	l.max_body = 7;
	msg = "From: a@b.example\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "\r\nab\xc3\xa9\xc3\xa9\xc3\xa9\r\n";
	assert_int_equal(mime_parse(msg, strlen(msg), &l, &m, &err), 0);
	assert_true(m.flags & MIME_F_BODY_TRUNC);
	assert_true(m.text_len <= 7);
	assert_true(utf8_valid(m.text, m.text_len));
	mime_message_free(&m);

	/* header section and whole message */
	mime_limits_default(&l);
	l.max_header = 64;
	msg = "Subject: a header that is longer than sixty-four bytes, "
	    "certainly\r\n\r\nbody";
	assert_int_equal(mime_parse(msg, strlen(msg), &l, &m, &err), -1);
	assert_string_equal(err, "header section larger than the limit");
	mime_message_free(&m);
	l.max_header = 1 << 20;
	l.max_message = 10;
	assert_int_equal(mime_parse(msg, strlen(msg), &l, &m, &err), -1);
	assert_int_equal(mime_parse("", 0, NULL, &m, &err), -1);
	assert_string_equal(err, "empty message");

	/* field count */
	mime_limits_default(&l);
	l.max_header_fields = 3;
	msg = "A: 1\r\nB: 2\r\nC: 3\r\nSubject: late\r\n\r\nx";
	assert_int_equal(mime_parse(msg, strlen(msg), &l, &m, &err), 0);
	assert_true(m.flags & MIME_F_HEADER_TRUNC);
	assert_null(m.subject);
	mime_message_free(&m);
}

static void
test_malformed(void **state)
{
	struct mime_message m;

	(void)state;
	/* multipart without a boundary */
	parse_ok("Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nhi\r\n", &m);
	assert_true(m.flags & MIME_F_BAD_MULTIPART);
	mime_message_free(&m);
	/* no close delimiter: the last part still counts */
	parse_ok("Content-Type: multipart/mixed; boundary=q\r\n\r\n"
	    "--q\r\nContent-Type: text/plain\r\n\r\nunterminated", &m);
	assert_true(m.flags & MIME_F_BAD_MULTIPART);
	assert_string_equal(m.text, "unterminated");
	mime_message_free(&m);
	/* "--q" followed by more text is not a delimiter */
	parse_ok("Content-Type: multipart/mixed; boundary=q\r\n\r\n"
	    "--q\r\n\r\nline\r\n--qq not a delimiter\r\n--q--\r\n", &m);
	assert_string_equal(m.text, "line\n--qq not a delimiter");
	mime_message_free(&m);
	/* LF-only line ends, no header at all, header without body */
	parse_ok("\nbody only\n", &m);
	assert_string_equal(m.text, "body only\n");
	mime_message_free(&m);
	parse_ok("Subject: only a header", &m);
	assert_string_equal(m.subject, "only a header");
	assert_null(m.text);
	mime_message_free(&m);
	/* broken base64 and QP decode what they can */
	parse_ok("Content-Transfer-Encoding: base64\r\n\r\n!!!aGk=!!!\r\n", &m);
	mime_message_free(&m);
	parse_ok("Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=ZZ=4=\r\n", &m);
	mime_message_free(&m);
	/* binary junk */
	static const char junk[] = "\x00\x01\xff\xfe:\r\n\t\r\n--\x80";
	struct mime_message m2;
	const char *err;
	assert_int_equal(mime_parse(junk, sizeof(junk) - 1, NULL, &m2, &err),
	    0);
	mime_message_free(&m2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_rfc2047),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_calendar),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
