/*
 * test_ical_meta.c - table-driven tests of capture/ical_meta.c (libical):
 * the fields the tap publishes, what is refused, and the fingerprint that
 * must not care how a server re-serialized an object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "capture/ical_meta.h"

#define EV(body) "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" \
	body "END:VCALENDAR\r\n"

struct im_case {
	const char *name;
	const char *in;
	int rc;
	const char *uid, *component, *method, *organizer, *attendees,
	    *dtstart;
	int sequence;
};

/* Refusals leave the expected fields out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct im_case cases[] = {
{ "event", EV("BEGIN:VEVENT\r\nUID:a@x\r\nSEQUENCE:3\r\nDTSTAMP:20260101T"
  "000000Z\r\nDTSTART:20260115T100000Z\r\nORGANIZER;CN=A:mailto:a@x.example"
  "\r\nATTENDEE;PARTSTAT=ACCEPTED:MAILTO:b@y.example\r\nATTENDEE:mailto:c@y"
  ".example\r\nEND:VEVENT\r\n"), 0, "a@x", "VEVENT", "", "a@x.example",
  "b@y.example,c@y.example", "20260115T100000Z", 3 },
{ "folded UID, LF only, no sequence", "BEGIN:VCALENDAR\nVERSION:2.0\n"
  "BEGIN:VTODO\nUID:long-\n uid\nDTSTART;TZID=Europe/Paris:20260115T100000"
  "\nEND:VTODO\nEND:VCALENDAR\n", 0, "long-uid", "VTODO", "", "", "",
  "TZID=Europe/Paris:20260115T100000", 0 },
{ "iMIP request", "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nVERSION:2.0\r\n"
  "BEGIN:VEVENT\r\nUID:inv-1\r\nSEQUENCE:1\r\nDTSTART;VALUE=DATE:20260201\r\n"
  "END:VEVENT\r\nEND:VCALENDAR\r\n", 0, "inv-1", "VEVENT", "REQUEST", "",
  "", "20260201", 1 },
{ "override first, master wins", EV("BEGIN:VEVENT\r\nUID:r\r\n"
  "RECURRENCE-ID:20260108T100000Z\r\nSEQUENCE:5\r\nDTSTART:20260108T120000Z"
  "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:r\r\nSEQUENCE:2\r\nDTSTART:"
  "20260101T100000Z\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n"), 0, "r",
  "VEVENT", "", "", "", "20260101T100000Z", 2 },
{ "with a VTIMEZONE", EV("BEGIN:VTIMEZONE\r\nTZID:X\r\nBEGIN:STANDARD\r\n"
  "DTSTART:19700101T000000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\n"
  "END:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:tz\r\nDTSTART;TZID="
  "X:20260101T100000\r\nEND:VEVENT\r\n"), 0, "tz", "VEVENT", "", "", "",
  "TZID=X:20260101T100000", 0 },
/* refused */
{ "empty", "", -1 },
{ "text", "hello world", -1 },
{ "vcard", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n", -1 },
{ "no component", EV(""), -1 },
{ "no UID", EV("BEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\n"),
  -1 },
{ "two UIDs", EV("BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n"
  "UID:b\r\nEND:VEVENT\r\n"), -1 },
{ "only a timezone", EV("BEGIN:VTIMEZONE\r\nTZID:X\r\nEND:VTIMEZONE\r\n"),
  -1 },
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct im_case *c = &cases[i];
		struct ical_meta m;
		const char *err = NULL;
		int rc = ical_meta_parse(c->in, strlen(c->in), &m, &err);

		if (rc != c->rc)
			fail_msg("%s: rc %d (%s), want %d", c->name, rc,
			    err ? err : "-", c->rc);
		if (rc != 0) {
			assert_non_null(err);
			continue;
		}
		assert_string_equal(m.uid, c->uid);
		assert_string_equal(m.component, c->component);
		assert_string_equal(m.method, c->method);
		assert_string_equal(m.organizer, c->organizer);
		assert_string_equal(m.attendees, c->attendees);
		assert_string_equal(m.dtstart, c->dtstart);
		assert_int_equal(m.sequence, c->sequence);
	}
}

static uint64_t
fp(const char *s)
{
	struct ical_meta m;
	const char *err = NULL;

	assert_int_equal(ical_meta_parse(s, strlen(s), &m, &err), 0);
	return m.fingerprint;
}

/* Same object, re-serialized (order, folding, line ends, name case):
 * same fingerprint.  Any change of content: a different one. */
static void
test_fingerprint(void **state)
{
	const char *a = EV("BEGIN:VEVENT\r\nUID:f\r\nSUMMARY:Deal review\r\n"
	    "DTSTART:20260115T100000Z\r\nEND:VEVENT\r\n");
	const char *b = "BEGIN:VCALENDAR\nPRODID:-//t//EN\nVERSION:2.0\n"
	    "BEGIN:VEVENT\ndtstart:20260115T100000Z\nSUMMARY:Deal re\n view\n"
	    "UID:f\nEND:VEVENT\nEND:VCALENDAR\n";
	const char *c = EV("BEGIN:VEVENT\r\nUID:f\r\nSUMMARY:Deal review!\r\n"
	    "DTSTART:20260115T100000Z\r\nEND:VEVENT\r\n");
	const char *d = EV("BEGIN:VEVENT\r\nUID:f\r\nSUMMARY:Deal review\r\n"
	    "DTSTART:20260115T100000Z\r\nSEQUENCE:1\r\nEND:VEVENT\r\n");

	(void)state;
	assert_true(fp(a) == fp(b));
	assert_true(fp(a) != fp(c));
	assert_true(fp(a) != fp(d));
}

/* Bounds: NUL bytes and oversized input never reach libical. */
static void
test_bounds(void **state)
{
	static char big[ICAL_META_INPUT_MAX + 2];
	const char nul[] = "BEGIN:VCALENDAR\r\nX:\0\r\nEND:VCALENDAR\r\n";
	struct ical_meta m;
	const char *err = NULL;
	char uid[600];

	(void)state;
	assert_int_equal(ical_meta_parse(nul, sizeof(nul) - 1, &m, &err), -1);
	memset(big, ' ', sizeof(big));
	assert_int_equal(ical_meta_parse(big, sizeof(big), &m, &err), -1);
	assert_string_equal(err, "object too large");
	memset(uid, 'u', sizeof(uid));
	uid[sizeof(uid) - 1] = '\0';
	snprintf(big, sizeof(big), EV("BEGIN:VEVENT\r\nUID:%s\r\nEND:VEVENT"
	    "\r\n"), uid);
	assert_int_equal(ical_meta_parse(big, strlen(big), &m, &err), -1);
	assert_string_equal(err, "UID too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
