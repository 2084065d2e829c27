/*
 * test_imip.c - enrich/imip: which text/calendar parts of a mail message
 * become crm.calendar.v1 records, what they carry, and the idempotency
 * key rule of docs/events.md ("iMIP").  Real enrich/mime and libical
 * underneath; the messages are built here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "enrich/imip/imip.h"

#define CAL(method_line, body) "BEGIN:VCALENDAR\r\nPRODID:-//t//EN\r\n" \
	"VERSION:2.0\r\n" method_line "BEGIN:VEVENT\r\n" body \
	"END:VEVENT\r\nEND:VCALENDAR\r\n"
#define EVT(uid, seq, extra) "UID:" uid "\r\nSEQUENCE:" seq "\r\n" \
	"DTSTAMP:20261126T030000Z\r\nDTSTART:20261210T100000Z\r\n" \
	"ORGANIZER;CN=A:mailto:alice@acme.example\r\n" extra

static const char req1[] = CAL("METHOD:REQUEST\r\n", EVT("m1@x", "0",
    "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@y.example\r\n"));

static char *
b64(const char *s)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), o = 0;
	char *out = malloc(n * 2 + 8);

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
		if (o % 77 == 76)
			out[o++] = '\n';
	}
	out[o] = '\0';
	return out;
}

/* Quoted-printable: '=' escaped, lines kept (they are short). */
static char *
qp(const char *s)
{
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	for (; *s; s++)
		if (*s == '=') {
			memcpy(o, "=3D", 3);
			o += 3;
		} else
			*o++ = *s;
	*o = '\0';
	return out;
}

/* An Outlook-style message: text/plain + text/html + text/calendar. */
static char *
outlook(const char *ctype_params, const char *cte, const char *cal)
{
	char *body = strcmp(cte, "base64") == 0 ? b64(cal) :
	    strcmp(cte, "quoted-printable") == 0 ? qp(cal) : strdup(cal);
	char *m;

	if (asprintf(&m,
	    "From: Alice <alice@acme.example>\r\nTo: bob@y.example\r\n"
	    "Subject: Q3\r\nMessage-ID: <q3@acme.example>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
	    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
	    "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>"
	    "\r\n--b1\r\nContent-Type: text/calendar; charset=\"utf-8\"%s\r\n"
	    "Content-Transfer-Encoding: %s\r\n\r\n%s\r\n--b1--\r\n",
	    ctype_params, cte, body) < 0)
		abort();
	free(body);
	return m;
}

struct x_case {
	const char *name;
	const char *params, *cte, *cal;
	unsigned ok, broken, ignored;
	const char *method, *uid;
	int seq;
};

static const struct x_case xcases[] = {
	{ "outlook base64 request", "; method=REQUEST", "base64", req1,
	  1, 0, 0, "REQUEST", "m1@x", 0 },
	{ "no method= parameter, METHOD in the object", "", "8bit", req1,
	  1, 0, 0, "REQUEST", "m1@x", 0 },
	{ "quoted-printable cancel", "; method=CANCEL", "quoted-printable",
	  CAL("METHOD:CANCEL\r\n", EVT("m1@x", "3", "STATUS:CANCELLED\r\n")),
	  1, 0, 0, "CANCEL", "m1@x", 3 },
	{ "reply", "; method=REPLY", "7bit",
	  CAL("METHOD:REPLY\r\n", EVT("m1@x", "1",
	  "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@y.example\r\n")),
	  1, 0, 0, "REPLY", "m1@x", 1 },
	{ "stored object (no METHOD): not iMIP", "", "7bit",
	  CAL("", EVT("m1@x", "0", "")), 0, 0, 1, NULL, NULL, 0 },
	{ "PUBLISH: not published", "; method=PUBLISH", "7bit",
	  CAL("METHOD:PUBLISH\r\n", EVT("m1@x", "0", "")), 0, 0, 1, NULL,
	  NULL, 0 },
	{ "garbage", "; method=REQUEST", "base64",
	  "this is not a calendar at all", 0, 1, 0, NULL, NULL, 0 },
	{ "no UID", "; method=REQUEST", "7bit",
	  CAL("METHOD:REQUEST\r\n", "DTSTART:20261210T100000Z\r\n"),
	  0, 1, 0, NULL, NULL, 0 },
	{ "two UIDs", "; method=REQUEST", "7bit",
	  "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:a\r\n"
	  "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:b\r\nEND:VEVENT\r\n"
	  "END:VCALENDAR\r\n", 0, 1, 0, NULL, NULL, 0 },
};

static void
test_extract(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(xcases) / sizeof(xcases[0]); i++) {
		const struct x_case *c = &xcases[i];
		char *msg = outlook(c->params, c->cte, c->cal);
		struct imip_result r;
		const char *err = NULL;

		printf("# %s\n", c->name);
		assert_int_equal(imip_extract("acme", msg, strlen(msg), NULL,
		    &r, &err), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.n_ok, c->ok);
		assert_int_equal(r.n_broken, c->broken);
		assert_int_equal(r.n_ignored, c->ignored);
		if (c->ok) {
			const struct imip_part *p = &r.parts[0];
			char want[EVENT_IDKEY_LEN + 1];

			assert_int_equal(p->status, IMIP_PART_OK);
			/* the value is the part, decoded, byte for byte */
			assert_int_equal(p->len, strlen(c->cal));
			assert_memory_equal(p->text, c->cal, p->len);
			assert_string_equal(p->method, c->method);
			assert_string_equal(p->meta.uid, c->uid);
			assert_int_equal(p->meta.sequence, c->seq);
			assert_string_equal(p->meta.organizer,
			    "alice@acme.example");
			assert_int_equal(imip_idkey("acme", c->method, c->uid,
			    c->seq, p->meta.attendees, p->meta.fingerprint,
			    want), 0);
			assert_string_equal(p->idkey, want);
		} else
			assert_non_null(r.parts[0].error);
		imip_result_free(&r);
		free(msg);
	}
}

/* A good and a broken part in one message: the good one still goes. */
static void
test_mixed(void **state)
{
	char *g = b64(req1);
	char *msg;
	struct imip_result r;
	const char *err;

	(void)state;
	assert_true(asprintf(&msg, "Content-Type: multipart/mixed; "
	    "boundary=x\r\n\r\n--x\r\nContent-Type: text/calendar; "
	    "method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\n"
	    "garbage\r\n--x\r\nContent-Type: text/calendar; method=REQUEST\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--x--\r\n", g) > 0);
	assert_int_equal(imip_extract("acme", msg, strlen(msg), NULL, &r,
	    &err), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.n_ok, 1);
	assert_int_equal(r.n_broken, 1);
	assert_int_equal(r.parts[0].status, IMIP_PART_BROKEN);
	assert_int_equal(r.parts[1].status, IMIP_PART_OK);
	imip_result_free(&r);
	free(msg);
	free(g);
}

/* Over calendar_max: cut by mime, so counted broken, never published. */
static void
test_too_big(void **state)
{
	struct mime_limits l;
	char *msg = outlook("; method=REQUEST", "7bit", req1);
	struct imip_result r;
	const char *err;

	(void)state;
	mime_limits_default(&l);
	l.max_calendar = 64;
	assert_int_equal(imip_extract("acme", msg, strlen(msg), &l, &r,
	    &err), 0);
	assert_int_equal(r.n_broken, 1);
	assert_int_equal(r.n_ok, 0);
	imip_result_free(&r);
	free(msg);
}

static void
test_not_a_message(void **state)
{
	struct imip_result r;
	const char *err = NULL;

	(void)state;
	assert_int_equal(imip_extract("acme", "", 0, NULL, &r, &err), -1);
	assert_non_null(err);
	imip_result_free(&r);
}

static void
key_of(const char *cal, const char *tenant, char *out)
{
	char *msg = outlook("", "7bit", cal);
	struct imip_result r;
	const char *err;

	assert_int_equal(imip_extract(tenant, msg, strlen(msg), NULL, &r,
	    &err), 0);
	assert_int_equal(r.n_ok, 1);
	memcpy(out, r.parts[0].idkey, EVENT_IDKEY_LEN + 1);
	imip_result_free(&r);
	free(msg);
}

/* The key rule: what collapses and what does not. */
static void
test_key_rule(void **state)
{
	char a[65], b[65];

	(void)state;
	/* pinned vectors (docs/events.md) */
	assert_int_equal(imip_idkey("acme", "REQUEST", "m1@x", 0, "x", 7, a),
	    0);
	assert_string_equal(a, "1856a0ac59bc68d0fc03d60bb6f1782d"
	    "c4b837d58dbe0cd1882be22027950b0e");
	assert_int_equal(imip_idkey("acme", "REPLY", "m1@x", 2,
	    "Bob@Y.example", 0x0123456789abcdefULL, a), 0);
	assert_string_equal(a, "3edecc20a976667cc35c8e6f19776269"
	    "3ea614bec95822e7fa4cd612e4f433f8");
	assert_int_equal(imip_idkey("", "REQUEST", "u", 0, "", 0, a), -1);
	assert_int_equal(imip_idkey("t", "REQUEST", "", 0, "", 0, a), -1);

	/* REQUEST re-sent with a new DTSTAMP, another attendee list and
	 * re-folded: one key */
	key_of(req1, "acme", a);
	key_of(CAL("METHOD:REQUEST\r\n", "UID:m1@x\r\nSEQUENCE:0\r\n"
	    "DTSTAMP:20261127T090000Z\r\nDTSTART:20261210T100000Z\r\n"
	    "ORGANIZER:mailto:alice@acme.example\r\n"
	    "ATTENDEE:mailto:bob@y.example\r\nATTENDEE:mailto:carol@y.example"
	    "\r\n"), "acme", b);
	assert_string_equal(a, b);
	/* SEQUENCE + 1: another */
	key_of(CAL("METHOD:REQUEST\r\n", EVT("m1@x", "1", "")), "acme", b);
	assert_string_not_equal(a, b);
	/* CANCEL of the same version: another */
	key_of(CAL("METHOD:CANCEL\r\n", EVT("m1@x", "0", "")), "acme", b);
	assert_string_not_equal(a, b);
	/* another tenant: another */
	key_of(req1, "other", b);
	assert_string_not_equal(a, b);

	/* REPLY: per attendee, and a changed answer is a new record */
	key_of(CAL("METHOD:REPLY\r\n", EVT("m1@x", "0",
	    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@y.example\r\n")), "acme", a);
	key_of(CAL("METHOD:REPLY\r\n", EVT("m1@x", "0",
	    "ATTENDEE;PARTSTAT=ACCEPTED:MAILTO:BOB@Y.EXAMPLE\r\n")), "acme",
	    b);
	assert_int_not_equal(strcmp(a, b), 0);	/* bytes differ: fingerprint */
	key_of(CAL("METHOD:REPLY\r\n", EVT("m1@x", "0",
	    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@y.example\r\n")), "acme", b);
	assert_string_equal(a, b);		/* the same reply seen twice */
	key_of(CAL("METHOD:REPLY\r\n", EVT("m1@x", "0",
	    "ATTENDEE;PARTSTAT=DECLINED:mailto:bob@y.example\r\n")), "acme", b);
	assert_string_not_equal(a, b);
	key_of(CAL("METHOD:REPLY\r\n", EVT("m1@x", "0",
	    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:carol@y.example\r\n")), "acme",
	    b);
	assert_string_not_equal(a, b);
}

static void
test_methods(void **state)
{
	(void)state;
	assert_string_equal(imip_method("request"), "REQUEST");
	assert_string_equal(imip_method("Reply"), "REPLY");
	assert_string_equal(imip_method("CANCEL"), "CANCEL");
	assert_null(imip_method("PUBLISH"));
	assert_null(imip_method("COUNTER"));
	assert_null(imip_method(""));
	assert_null(imip_method(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extract),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_not_a_message),
		cmocka_unit_test(test_key_rule),
		cmocka_unit_test(test_methods),
	};

	ical_meta_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
