/*
 * test_cal.c - tests of enrich/cal (libcal): parsing real-world iCalendar
 * objects (Google, Outlook/Exchange, Apple styles), time zones and DST,
 * all-day and floating times, recurrence with exceptions and overrides,
 * iTIP METHOD and CANCEL, and refusal of malformed input.
 *
 * libical and the system zoneinfo database are the real ones.  Every
 * fixture is also parsed again with its lines folded at random places
 * (RFC 5545 3.1 allows a fold anywhere, even inside a UTF-8 sequence),
 * and must give the same events: the iCalendar analogue of feeding a
 * parser in random splits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "enrich/cal/cal.h"

static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	    .tm_hour = h, .tm_min = mi };

	return (int64_t)timegm(&tm);
}

/* ---- fixtures ----------------------------------------------------------- */

/* Google Calendar invitation: weekly across the US DST change (8 March
 * 2026), one EXDATE, one moved instance. */
static const char google_weekly[] =
    "BEGIN:VCALENDAR\r\n"
    "PRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
    "VERSION:2.0\r\n"
    "CALSCALE:GREGORIAN\r\n"
    "METHOD:REQUEST\r\n"
    "BEGIN:VTIMEZONE\r\n"
    "TZID:America/New_York\r\n"
    "X-LIC-LOCATION:America/New_York\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "TZOFFSETFROM:-0500\r\n"
    "TZOFFSETTO:-0400\r\n"
    "TZNAME:EDT\r\n"
    "DTSTART:19700308T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"
    "END:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\n"
    "TZOFFSETFROM:-0400\r\n"
    "TZOFFSETTO:-0500\r\n"
    "TZNAME:EST\r\n"
    "DTSTART:19701101T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"
    "END:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\n"
    "DTSTART;TZID=America/New_York:20260224T090000\r\n"
    "DTEND;TZID=America/New_York:20260224T093000\r\n"
    "RRULE:FREQ=WEEKLY;WKST=SU;COUNT=6;BYDAY=TU\r\n"
    "EXDATE;TZID=America/New_York:20260317T090000\r\n"
    "DTSTAMP:20260220T150000Z\r\n"
    "ORGANIZER;CN=Dana Rep:mailto:dana@acme.example\r\n"
    "UID:7kq2p0v9b1c3@google.com\r\n"
    "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE\r\n"
    " ;CN=Dana Rep;X-NUM-GUESTS=0:mailto:dana@acme.example\r\n"
    "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=\r\n"
    " TRUE;CN=buyer@customer.example;X-NUM-GUESTS=0:mailto:buyer@customer.example\r\n"
    "SEQUENCE:0\r\n"
    "STATUS:CONFIRMED\r\n"
    "SUMMARY:Weekly pipeline sync\r\n"
    "DESCRIPTION:Join with Google Meet: https://meet.google.com/abc-defg-hij\\n\\nAgenda\r\n"
    " : renewals\r\n"
    "LOCATION:\r\n"
    "TRANSP:OPAQUE\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\n"
    "DTSTART;TZID=America/New_York:20260324T110000\r\n"
    "DTEND;TZID=America/New_York:20260324T120000\r\n"
    "DTSTAMP:20260220T150000Z\r\n"
    "UID:7kq2p0v9b1c3@google.com\r\n"
    "RECURRENCE-ID;TZID=America/New_York:20260324T090000\r\n"
    "SEQUENCE:1\r\n"
    "SUMMARY:Weekly pipeline sync (moved)\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n";

/* Outlook / Exchange: Windows zone name, VTIMEZONE rules from 1601, EU
 * DST change on 29 March 2026. */
static const char outlook_request[] =
    "BEGIN:VCALENDAR\r\n"
    "METHOD:REQUEST\r\n"
    "PRODID:Microsoft Exchange Server 2010\r\n"
    "VERSION:2.0\r\n"
    "BEGIN:VTIMEZONE\r\n"
    "TZID:W. Europe Standard Time\r\n"
    "BEGIN:STANDARD\r\n"
    "DTSTART:16010101T030000\r\n"
    "TZOFFSETFROM:+0200\r\n"
    "TZOFFSETTO:+0100\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\n"
    "END:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "DTSTART:16010101T020000\r\n"
    "TZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\n"
    "END:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\n"
    "ORGANIZER;CN=\"M\xc3\xbcller, J\xc3\xbcrgen\":mailto:j.mueller@example.de\r\n"
    "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Alice Bu\r\n"
    " yer:mailto:alice@customer.example\r\n"
    "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Bob:mailt\r\n"
    " o:bob@customer.example\r\n"
    "DESCRIPTION;LANGUAGE=de-DE:Hallo zusammen\\,\\n\\nbitte um R\xc3\xbc"
    "ckmeldung.\\n\r\n"
    "UID:040000008200E00074C5B7101A82E00800000000B0A1C2D3E4F5A601000000000000000\r\n"
    " 0100000056A4B2D2A0E5F64E8B1C4C3D2E1F0A9B\r\n"
    "SUMMARY;LANGUAGE=de-DE:Angebotsbesprechung\r\n"
    "DTSTART;TZID=W. Europe Standard Time:20260325T100000\r\n"
    "DTEND;TZID=W. Europe Standard Time:20260325T110000\r\n"
    "CLASS:PUBLIC\r\n"
    "PRIORITY:5\r\n"
    "DTSTAMP:20260301T091500Z\r\n"
    "TRANSP:OPAQUE\r\n"
    "STATUS:CONFIRMED\r\n"
    "SEQUENCE:0\r\n"
    "LOCATION;LANGUAGE=de-DE:Microsoft Teams-Besprechung\r\n"
    "X-MICROSOFT-CDO-APPT-SEQUENCE:0\r\n"
    "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\n"
    "X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY\r\n"
    "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n"
    "X-MICROSOFT-CDO-IMPORTANCE:1\r\n"
    "X-MICROSOFT-CDO-INSTTYPE:0\r\n"
    "X-MICROSOFT-DONOTFORWARDMEETING:FALSE\r\n"
    "X-MICROSOFT-DISALLOW-COUNTER:FALSE\r\n"
    "BEGIN:VALARM\r\n"
    "DESCRIPTION:REMINDER\r\n"
    "TRIGGER;RELATED=START:-PT15M\r\n"
    "ACTION:DISPLAY\r\n"
    "END:VALARM\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n";

/* Apple Calendar: Europe/London VTIMEZONE with Apple's style, an event in
 * summer time, LF line ends. */
static const char apple_event[] =
    "BEGIN:VCALENDAR\n"
    "VERSION:2.0\n"
    "PRODID:-//Apple Inc.//macOS 14.4//EN\n"
    "CALSCALE:GREGORIAN\n"
    "BEGIN:VTIMEZONE\n"
    "TZID:Europe/London\n"
    "BEGIN:DAYLIGHT\n"
    "TZOFFSETFROM:+0000\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\n"
    "DTSTART:19810329T010000\n"
    "TZNAME:BST\n"
    "TZOFFSETTO:+0100\n"
    "END:DAYLIGHT\n"
    "BEGIN:STANDARD\n"
    "TZOFFSETFROM:+0100\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\n"
    "DTSTART:19961027T020000\n"
    "TZNAME:GMT\n"
    "TZOFFSETTO:+0000\n"
    "END:STANDARD\n"
    "END:VTIMEZONE\n"
    "BEGIN:VEVENT\n"
    "CREATED:20260601T101010Z\n"
    "UID:3F2504E0-4F89-11D3-9A0C-0305E82C3301\n"
    "DTEND;TZID=Europe/London:20260715T113000\n"
    "TRANSP:OPAQUE\n"
    "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\n"
    "SUMMARY:Site visit \xe2\x80\x93 Leeds\n"
    "LAST-MODIFIED:20260601T101010Z\n"
    "DTSTAMP:20260601T101011Z\n"
    "DTSTART;TZID=Europe/London:20260715T100000\n"
    "LOCATION:1 Park Row\\, Leeds LS1 5HN\n"
    "SEQUENCE:3\n"
    "X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=1 Park Row:geo:53.79,-1.54\n"
    "END:VEVENT\n"
    "END:VCALENDAR\n";

static const char all_day[] =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
    "BEGIN:VEVENT\r\nUID:holiday-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;VALUE=DATE:20260704\r\nSUMMARY:Office closed\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:offsite-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;VALUE=DATE:20260706\r\nDTEND;VALUE=DATE:20260708\r\n"
    "SUMMARY:Offsite\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:bday-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;VALUE=DATE:19800229\r\nRRULE:FREQ=YEARLY\r\n"
    "SUMMARY:Leap birthday\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:renewal-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;VALUE=DATE:20260115\r\nRRULE:FREQ=MONTHLY;COUNT=12\r\n"
    "EXDATE;VALUE=DATE:20260315\r\n"
    "SUMMARY:Renewal reminder\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n";

static const char cancel_msg[] =
    "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
    "VERSION:2.0\r\nCALSCALE:GREGORIAN\r\nMETHOD:CANCEL\r\n"
    "BEGIN:VEVENT\r\nDTSTART:20260410T160000Z\r\nDTEND:20260410T170000Z\r\n"
    "DTSTAMP:20260405T120000Z\r\nORGANIZER;CN=Dana Rep:mailto:dana@acme.example\r\n"
    "UID:demo-42@google.com\r\n"
    "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=DECLINED;CN=Buyer:\r\n"
    " mailto:buyer@customer.example\r\n"
    "SEQUENCE:2\r\nSTATUS:CANCELLED\r\nSUMMARY:Demo\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n";

static const char reply_msg[] =
    "BEGIN:VCALENDAR\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\n"
    "VERSION:2.0\r\nMETHOD:REPLY\r\n"
    "BEGIN:VEVENT\r\n"
    "ATTENDEE;PARTSTAT=TENTATIVE:mailto:buyer@customer.example\r\n"
    "ORGANIZER:MAILTO:dana@acme.example\r\n"
    "UID:demo-42@google.com\r\nSEQUENCE:1\r\n"
    "DTSTAMP:20260405T120000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/* A daily stand-up with an override that is itself cancelled and an RDATE
 * period, no METHOD (a CalDAV resource). */
static const char caldav_daily[] =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
    "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260105T083000Z\r\nDURATION:PT15M\r\n"
    "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20260116T235959Z\r\n"
    "EXDATE:20260107T083000Z,20260108T083000Z\r\n"
    "RDATE;VALUE=PERIOD:20260110T100000Z/PT1H\r\n"
    "SUMMARY:Stand-up\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20260101T000000Z\r\n"
    "RECURRENCE-ID:20260112T083000Z\r\n"
    "DTSTART:20260112T083000Z\r\nDURATION:PT15M\r\nSTATUS:CANCELLED\r\n"
    "SUMMARY:Stand-up\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n";

/* ---- refolding ---------------------------------------------------------- */

/* Copies text, folding every line at random points with CRLF SPACE. */
static char *
refold(const char *text, unsigned seed, size_t *len_r)
{
	size_t n = strlen(text);
	char *out = malloc(n * 4 + 1);
	size_t o = 0, col = 0;

	assert_non_null(out);
	srand(seed);
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '\n' || text[i] == '\r') {
			out[o++] = text[i];
			col = 0;
			continue;
		}
		if (col > 0 && rand() % 7 == 0) {
			memcpy(out + o, "\r\n ", 3);
			o += 3;
		}
		out[o++] = text[i];
		col++;
	}
	out[o] = '\0';
	*len_r = o;
	return out;
}

static void
same_events(const struct cal_object *a, const struct cal_object *b)
{
	assert_int_equal(a->n_events, b->n_events);
	assert_int_equal(a->method, b->method);
	for (size_t i = 0; i < a->n_events; i++) {
		const struct cal_event *x = &a->events[i], *y = &b->events[i];

		assert_string_equal(x->uid, y->uid);
		assert_true(x->start.utc == y->start.utc);
		assert_true(x->end.utc == y->end.utc);
		assert_int_equal(x->n_attendees, y->n_attendees);
		if (x->summary != NULL)
			assert_string_equal(x->summary, y->summary);
		if (x->organizer.addr != NULL)
			assert_string_equal(x->organizer.addr,
			    y->organizer.addr);
	}
}

static struct cal_object *
parse_ok(const char *text)
{
	const char *err = NULL;
	size_t len = strlen(text);
	char *copy = malloc(len);
	struct cal_object *obj;

	assert_non_null(copy);
	memcpy(copy, text, len);	/* not NUL-terminated */
	obj = cal_parse(copy, len, NULL, &err);
	free(copy);
	if (obj == NULL)
		fail_msg("cal_parse: %s", err);
	for (unsigned seed = 1; seed <= 5; seed++) {
		size_t fl;
		char *f = refold(text, seed, &fl);
		struct cal_object *o2 = cal_parse(f, fl, NULL, &err);

		if (o2 == NULL)
			fail_msg("refolded (seed %u): %s", seed, err);
		same_events(obj, o2);
		cal_object_free(&o2);
		free(f);
	}
	return obj;
}

static const struct cal_event *
find_uid(const struct cal_object *obj, const char *uid, bool override)
{
	for (size_t i = 0; i < obj->n_events; i++)
		if (strcmp(obj->events[i].uid, uid) == 0 &&
		    obj->events[i].has_recurrence_id == override)
			return &obj->events[i];
	fail_msg("no event %s", uid);
	return NULL;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_google_weekly_dst(void **state)
{
	struct cal_object *obj = parse_ok(google_weekly);
	const struct cal_event *m = find_uid(obj, "7kq2p0v9b1c3@google.com",
	    false);
	struct cal_instance *in;
	size_t n;
	bool trunc;
	const char *err;
	static const int64_t *want;
	int64_t w[5];

	(void)state;
	assert_int_equal(obj->method, CAL_METHOD_REQUEST);
	assert_string_equal(cal_method_name(obj->method), "REQUEST");
	assert_int_equal(obj->n_events, 2);
	assert_true(m->start.utc == utc(2026, 2, 24, 14, 0));	/* EST */
	assert_true(m->end.utc == utc(2026, 2, 24, 14, 30));
	assert_false(m->start.floating);
	assert_false(m->start.tz_unresolved);
	assert_true(m->recurs);
	assert_non_null(m->rrule);
	assert_non_null(strstr(m->rrule, "FREQ=WEEKLY"));
	assert_int_equal(m->status, CAL_STATUS_CONFIRMED);
	assert_false(m->cancelled);
	assert_string_equal(m->summary, "Weekly pipeline sync");
	assert_non_null(strstr(m->description, "Agenda: renewals"));
	assert_string_equal(m->organizer.addr, "dana@acme.example");
	assert_string_equal(m->organizer.cn, "Dana Rep");
	assert_int_equal(m->n_attendees, 2);
	assert_string_equal(m->attendees[1].addr, "buyer@customer.example");
	assert_int_equal(m->attendees[0].partstat, CAL_PARTSTAT_ACCEPTED);
	assert_int_equal(m->attendees[1].partstat, CAL_PARTSTAT_NEEDS_ACTION);
	assert_int_equal(m->attendees[1].role, CAL_ROLE_REQ_PARTICIPANT);
	assert_true(m->attendees[1].rsvp);

	assert_int_equal(cal_expand(obj, utc(2026, 1, 1, 0, 0),
	    utc(2027, 1, 1, 0, 0), &in, &n, &trunc, &err), 0);
	w[0] = utc(2026, 2, 24, 14, 0);		/* 09:00 EST */
	w[1] = utc(2026, 3, 3, 14, 0);
	w[2] = utc(2026, 3, 10, 13, 0);		/* 09:00 EDT after 8 March */
	w[3] = utc(2026, 3, 24, 15, 0);		/* moved to 11:00 EDT */
	w[4] = utc(2026, 3, 31, 13, 0);		/* 17 March: EXDATE */
	want = w;
	assert_int_equal(n, 5);
	assert_false(trunc);
	for (size_t i = 0; i < n; i++) {
		assert_true(in[i].start == want[i]);
		assert_false(in[i].cancelled);
	}
	assert_true(in[2].end - in[2].start == 1800);
	assert_true(in[3].overridden);
	assert_true(in[3].recurrence_id == utc(2026, 3, 24, 13, 0));
	assert_true(in[3].end == utc(2026, 3, 24, 16, 0));
	assert_string_equal(obj->events[in[3].event].summary,
	    "Weekly pipeline sync (moved)");
	free(in);

	/* a window holding only the moved instance's original slot */
	assert_int_equal(cal_expand(obj, utc(2026, 3, 24, 12, 0),
	    utc(2026, 3, 24, 14, 0), &in, &n, NULL, &err), 0);
	assert_int_equal(n, 0);
	assert_null(in);
	cal_object_free(&obj);
	assert_null(obj);
}

static void
test_outlook_windows_zone(void **state)
{
	struct cal_object *obj = parse_ok(outlook_request);
	const struct cal_event *e = &obj->events[0];

	(void)state;
	assert_int_equal(obj->method, CAL_METHOD_REQUEST);
	assert_int_equal(obj->n_events, 1);
	/* 25 March: CET (+01:00), before the 29 March change */
	assert_true(e->start.utc == utc(2026, 3, 25, 9, 0));
	assert_true(e->end.utc == utc(2026, 3, 25, 10, 0));
	assert_false(e->start.tz_unresolved);
	assert_string_equal(e->organizer.addr, "j.mueller@example.de");
	assert_string_equal(e->organizer.cn, "M\xc3\xbcller, J\xc3\xbcrgen");
	assert_int_equal(e->n_attendees, 2);
	assert_string_equal(e->attendees[0].cn, "Alice Buyer");
	assert_string_equal(e->attendees[1].addr, "bob@customer.example");
	assert_int_equal(e->attendees[1].role, CAL_ROLE_OPT_PARTICIPANT);
	assert_string_equal(e->summary, "Angebotsbesprechung");
	assert_string_equal(e->location, "Microsoft Teams-Besprechung");
	assert_non_null(strstr(e->description, "Hallo zusammen,\n"));
	assert_string_equal(e->uid, "040000008200E00074C5B7101A82E0080000"
	    "0000B0A1C2D3E4F5A6010000000000000000100000056A4B2D2A0E5F64E8B1C4"
	    "C3D2E1F0A9B");	/* unfolded */
	cal_object_free(&obj);
}

static void
test_outlook_after_dst(void **state)
{
	/* the same zone after the 29 March change: CEST (+02:00) */
	char *t = strdup(outlook_request);
	char *p;
	struct cal_object *obj;
	const char *err;

	(void)state;
	while ((p = strstr(t, "20260325T")) != NULL)
		memcpy(p, "20260330T", 9);
	obj = cal_parse(t, strlen(t), NULL, &err);
	assert_non_null(obj);
	assert_true(obj->events[0].start.utc == utc(2026, 3, 30, 8, 0));
	cal_object_free(&obj);
	free(t);
}

/* Outlook names a zone it has no Windows name for "Customized Time Zone":
 * then only the embedded VTIMEZONE can place the time. */
static void
test_outlook_custom_zone(void **state)
{
	char *t = strdup(outlook_request), *p;
	struct cal_object *obj;
	const char *err;

	(void)state;
	assert_non_null(t);
	while ((p = strstr(t, "W. Europe Standard Time")) != NULL)
		memcpy(p, "Customized Time Zone   ", 23);
	obj = cal_parse(t, strlen(t), NULL, &err);
	assert_non_null(obj);
	assert_false(obj->events[0].start.tz_unresolved);
	assert_true(obj->events[0].start.utc == utc(2026, 3, 25, 9, 0));
	cal_object_free(&obj);
	while ((p = strstr(t, "20260325T")) != NULL)
		memcpy(p, "20260330T", 9);
	obj = cal_parse(t, strlen(t), NULL, &err);
	assert_non_null(obj);
	assert_true(obj->events[0].start.utc == utc(2026, 3, 30, 8, 0));
	cal_object_free(&obj);
	free(t);
}

static void
test_apple_london(void **state)
{
	struct cal_object *obj = parse_ok(apple_event);
	const struct cal_event *e = &obj->events[0];

	(void)state;
	assert_int_equal(obj->method, CAL_METHOD_NONE);
	assert_true(e->start.utc == utc(2026, 7, 15, 9, 0));	/* BST */
	assert_true(e->end.utc == utc(2026, 7, 15, 10, 30));
	assert_int_equal(e->sequence, 3);
	assert_string_equal(e->location, "1 Park Row, Leeds LS1 5HN");
	assert_string_equal(e->summary, "Site visit \xe2\x80\x93 Leeds");
	assert_null(e->organizer.addr);
	assert_int_equal(e->n_attendees, 0);
	assert_false(e->recurs);
	cal_object_free(&obj);
}

static void
test_all_day(void **state)
{
	struct cal_object *obj = parse_ok(all_day);
	const struct cal_event *h = find_uid(obj, "holiday-1", false);
	const struct cal_event *o = find_uid(obj, "offsite-1", false);
	struct cal_instance *in;
	size_t n, k;
	const char *err;

	(void)state;
	assert_true(h->start.all_day);
	assert_true(h->start.utc == utc(2026, 7, 4, 0, 0));
	assert_true(h->end.utc == utc(2026, 7, 5, 0, 0));	/* +1 day */
	assert_true(o->end.utc - o->start.utc == 2 * 86400);

	/* 29 February birthdays: RFC 5545 skips non-leap years */
	assert_int_equal(cal_expand(obj, utc(2026, 1, 1, 0, 0),
	    utc(2031, 1, 1, 0, 0), &in, &n, NULL, &err), 0);
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(obj->events[in[i].event].uid, "bday-1") == 0) {
			assert_true(in[i].start == utc(2028, 2, 29, 0, 0));
			assert_true(in[i].all_day);
			k++;
		}
	assert_int_equal(k, 1);
	/* monthly renewals: 12 minus the March EXDATE, all in 2026 */
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(obj->events[in[i].event].uid, "renewal-1") == 0) {
			assert_true(in[i].start != utc(2026, 3, 15, 0, 0));
			k++;
		}
	assert_int_equal(k, 11);
	/* sorted */
	for (size_t i = 1; i < n; i++)
		assert_true(in[i - 1].start <= in[i].start);
	free(in);
	cal_object_free(&obj);
}

static void
test_cancel_and_reply(void **state)
{
	struct cal_object *obj = parse_ok(cancel_msg);
	struct cal_instance *in;
	size_t n;
	const char *err;

	(void)state;
	assert_int_equal(obj->method, CAL_METHOD_CANCEL);
	assert_true(obj->events[0].cancelled);
	assert_int_equal(obj->events[0].status, CAL_STATUS_CANCELLED);
	assert_int_equal(obj->events[0].sequence, 2);
	assert_int_equal(obj->events[0].attendees[0].partstat,
	    CAL_PARTSTAT_DECLINED);
	assert_int_equal(cal_expand(obj, utc(2026, 4, 1, 0, 0),
	    utc(2026, 5, 1, 0, 0), &in, &n, NULL, &err), 0);
	assert_int_equal(n, 1);
	assert_true(in[0].cancelled);
	free(in);
	cal_object_free(&obj);

	/* REPLY without DTSTART is kept: it carries the attendee's answer */
	obj = parse_ok(reply_msg);
	assert_int_equal(obj->method, CAL_METHOD_REPLY);
	assert_false(obj->events[0].has_start);
	assert_false(obj->events[0].cancelled);
	assert_string_equal(obj->events[0].organizer.addr,
	    "dana@acme.example");
	assert_int_equal(obj->events[0].attendees[0].partstat,
	    CAL_PARTSTAT_TENTATIVE);
	assert_string_equal(cal_partstat_name(CAL_PARTSTAT_TENTATIVE),
	    "TENTATIVE");
	cal_object_free(&obj);
}

static void
test_caldav_daily(void **state)
{
	struct cal_object *obj = parse_ok(caldav_daily);
	struct cal_instance *in;
	size_t n;
	const char *err;
	static const struct {
		int d, h, mi, dur;
		bool cancelled;
	} want[] = {
		{ 5, 8, 30, 900, false }, { 6, 8, 30, 900, false },
		/* 7 and 8: EXDATE (one property, two values) */
		{ 9, 8, 30, 900, false },
		{ 10, 10, 0, 3600, false },	/* RDATE period */
		{ 12, 8, 30, 900, true },	/* cancelled override */
		{ 13, 8, 30, 900, false }, { 14, 8, 30, 900, false },
		{ 15, 8, 30, 900, false }, { 16, 8, 30, 900, false },
	};

	(void)state;
	assert_int_equal(obj->method, CAL_METHOD_NONE);
	assert_int_equal(cal_expand(obj, utc(2026, 1, 1, 0, 0),
	    utc(2026, 2, 1, 0, 0), &in, &n, NULL, &err), 0);
	assert_int_equal(n, sizeof(want) / sizeof(*want));
	for (size_t i = 0; i < n; i++) {
		if (in[i].start != utc(2026, 1, want[i].d, want[i].h,
		    want[i].mi))
			fail_msg("instance %zu starts %lld", i,
			    (long long)in[i].start);
		assert_true(in[i].end - in[i].start == want[i].dur);
		assert_int_equal(in[i].cancelled, want[i].cancelled);
	}
	free(in);
	cal_object_free(&obj);
}

static void
test_floating_and_zones(void **state)
{
	static const struct {
		const char *dtstart;
		const char *floating_tz;
		int h;
		bool floating, unresolved;
	} cases[] = {
		{ "DTSTART:20260601T090000", NULL, 9, true, false },
		{ "DTSTART:20260601T090000", "America/Los_Angeles", 16, true,
		  false },
		{ "DTSTART:20260601T090000Z", "America/Los_Angeles", 9, false,
		  false },
		{ "DTSTART;TZID=Europe/Paris:20260601T090000", NULL, 7, false,
		  false },
		{ "DTSTART;TZID=Pacific Standard Time:20260601T090000", NULL,
		  16, false, false },
		{ "DTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin:"
		  "20260601T090000", NULL, 7, false, false },
		{ "DTSTART;TZID=Mars/Olympus_Mons:20260601T090000", NULL, 9,
		  false, true },
		{ "DTSTART;TZID=Mars/Olympus_Mons:20260601T090000", "Asia/Tokyo",
		  0, false, true },
		{ "DTSTART;TZID=../../etc/passwd:20260601T090000", NULL, 9,
		  false, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char text[512];
		struct cal_limits lim;
		struct cal_object *obj;
		const char *err = NULL;
		int len;

		len = snprintf(text, sizeof(text),
		    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
		    "UID:z%zu\r\n%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", i,
		    cases[i].dtstart);
		cal_limits_default(&lim);
		lim.floating_tz = cases[i].floating_tz;
		obj = cal_parse(text, (size_t)len, &lim, &err);
		if (obj == NULL)
			fail_msg("case %zu: %s", i, err);
		if (obj->events[0].start.utc != utc(2026, 6, 1, cases[i].h, 0))
			fail_msg("case %zu: utc %lld", i,
			    (long long)obj->events[0].start.utc);
		assert_int_equal(obj->events[0].start.floating,
		    cases[i].floating);
		assert_int_equal(obj->events[0].start.tz_unresolved,
		    cases[i].unresolved);
		assert_true(obj->events[0].end.utc ==
		    obj->events[0].start.utc);
		cal_object_free(&obj);
	}
}

/* Local times at DST transitions, RFC 5545 3.3.5: a repeated local time
 * is its first occurrence, a skipped one uses the offset before the gap.
 * Checked with the zoneinfo zone and with an Outlook-style VTIMEZONE. */
static void
test_dst_edges(void **state)
{
	static const char vtz[] =
	    "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\n"
	    "BEGIN:STANDARD\r\nDTSTART:16010101T020000\r\n"
	    "TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n"
	    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11\r\n"
	    "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\n"
	    "TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n"
	    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3\r\n"
	    "END:DAYLIGHT\r\nEND:VTIMEZONE\r\n";
	static const struct {
		const char *local;
		int64_t want;
	} cases[] = {
		{ "20260308T013000", 1772951400 },	/* 01:30 EST = 06:30Z */
		{ "20260308T023000", 1772955000 },	/* gap: 02:30 EST */
		{ "20260308T030000", 1772953200 },	/* 03:00 EDT = 07:00Z */
		{ "20261101T003000", 1793507400 },	/* 00:30 EDT = 04:30Z */
		{ "20261101T013000", 1793511000 },	/* twice: EDT, 05:30Z */
		{ "20261101T023000", 1793518200 },	/* 02:30 EST = 07:30Z */
	};

	(void)state;
	assert_true(cases[0].want == utc(2026, 3, 8, 6, 30));
	assert_true(cases[1].want == utc(2026, 3, 8, 7, 30));
	assert_true(cases[4].want == utc(2026, 11, 1, 5, 30));
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
			char text[2048];
			struct cal_object *obj;
			const char *err;
			int len = snprintf(text, sizeof(text),
			    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n%s"
			    "BEGIN:VEVENT\r\nUID:d\r\nDTSTART;TZID=%s:%s\r\n"
			    "END:VEVENT\r\nEND:VCALENDAR\r\n", k ? vtz : "",
			    k ? "Customized Time Zone" : "America/New_York",
			    cases[i].local);

			obj = cal_parse(text, (size_t)len, NULL, &err);
			assert_non_null(obj);
			if (obj->events[0].start.utc != cases[i].want)
				fail_msg("%s %s: %lld want %lld", k ? "vtz" :
				    "zoneinfo", cases[i].local,
				    (long long)obj->events[0].start.utc,
				    (long long)cases[i].want);
			cal_object_free(&obj);
		}
	}
}

/* Recurrence far from DTSTART must give the same instances as a walk from
 * DTSTART (the iterator is moved close to the window). */
static void
test_recurrence_consistency(void **state)
{
	static const char *const rules[] = {
		"FREQ=DAILY",
		"FREQ=DAILY;INTERVAL=3",
		"FREQ=WEEKLY;BYDAY=MO,WE,FR",
		"FREQ=WEEKLY;INTERVAL=2;BYDAY=TH",
		"FREQ=MONTHLY;BYDAY=2TU",
		"FREQ=MONTHLY;BYMONTHDAY=31",
		"FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
		"FREQ=YEARLY;BYMONTH=6;BYDAY=1MO",
		"FREQ=DAILY;UNTIL=20260320T000000Z",
		"FREQ=WEEKLY;COUNT=1000",
	};

	(void)state;
	for (size_t r = 0; r < sizeof(rules) / sizeof(*rules); r++) {
		char text[2048];
		struct cal_limits lim;
		struct cal_object *obj;
		struct cal_instance *all, *win;
		size_t n_all, n_win, k = 0;
		const char *err = NULL;
		int64_t from = utc(2026, 3, 1, 0, 0), to = utc(2026, 7, 1, 0, 0);
		int len;

		len = snprintf(text, sizeof(text), "%s"
		    "BEGIN:VEVENT\r\nUID:r%zu\r\n"
		    "DTSTART;TZID=America/New_York:20100104T093000\r\n"
		    "DTEND;TZID=America/New_York:20100104T100000\r\n"
		    "RRULE:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n", r, rules[r]);
		cal_limits_default(&lim);
		lim.max_instances = 20000;
		obj = cal_parse(text, (size_t)len, &lim, &err);
		assert_non_null(obj);
		assert_int_equal(cal_expand(obj, utc(2010, 1, 1, 0, 0), to,
		    &all, &n_all, NULL, &err), 0);
		assert_int_equal(cal_expand(obj, from, to, &win, &n_win, NULL,
		    &err), 0);
		for (size_t i = 0; i < n_all; i++) {
			if (all[i].end <= from)
				continue;
			if (k >= n_win || all[i].start != win[k].start)
				fail_msg("rule %s: instance %zu differs", rules[r],
				    k);
			k++;
		}
		if (k != n_win)
			fail_msg("rule %s: %zu vs %zu", rules[r], k, n_win);
		if (strstr(rules[r], "UNTIL") == NULL &&
		    strstr(rules[r], "COUNT") == NULL && n_win == 0)
			fail_msg("rule %s: no instance in the window (%zu "
			    "from 2010)", rules[r], n_all);
		/* 09:30 New York, whatever the season */
		for (size_t i = 0; i < n_win; i++) {
			int64_t tod = ((win[i].start % 86400) + 86400) % 86400;

			assert_true(tod == 13 * 3600 + 1800 ||
			    tod == 14 * 3600 + 1800);
		}
		free(all);
		free(win);
		cal_object_free(&obj);
	}
}

static void
test_expand_caps(void **state)
{
	static const char daily[] =
	    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:s\r\n"
	    "DTSTART:20200101T090000Z\r\nRRULE:FREQ=DAILY\r\n"
	    "END:VEVENT\r\nEND:VCALENDAR\r\n";
	static const char counted[] =
	    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:r\r\n"
	    "DTSTART:20260101T000000Z\r\nRRULE:FREQ=DAILY;COUNT=100000"
	    "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
	struct cal_limits lim;
	struct cal_object *obj;
	struct cal_instance *in;
	size_t n;
	bool trunc;
	const char *err;

	(void)state;
	/* the instance cap keeps the earliest max_instances */
	cal_limits_default(&lim);
	obj = cal_parse(daily, sizeof(daily) - 1, &lim, &err);
	assert_non_null(obj);
	assert_int_equal(cal_expand(obj, utc(2020, 1, 1, 0, 0),
	    utc(2030, 1, 1, 0, 0), &in, &n, &trunc, &err), 0);
	assert_int_equal(n, lim.max_instances);
	assert_true(trunc);
	assert_true(in[0].start == utc(2020, 1, 1, 9, 0));
	assert_true(in[n - 1].start == utc(2020, 1, 1, 9, 0) +
	    ((int64_t)n - 1) * 86400);
	free(in);
	assert_int_equal(cal_expand(obj, 10, 10, &in, &n, &trunc, &err), -1);
	cal_object_free(&obj);

	/* the iteration cap: COUNT forces a walk from DTSTART */
	lim.max_iterations = 1000;
	obj = cal_parse(counted, sizeof(counted) - 1, &lim, &err);
	assert_non_null(obj);
	assert_int_equal(cal_expand(obj, utc(2030, 3, 1, 0, 0),
	    utc(2030, 3, 2, 0, 0), &in, &n, &trunc, &err), 0);
	assert_int_equal(n, 0);
	assert_true(trunc);
	free(in);
	cal_object_free(&obj);
}

/* Rules libical would search for years are not expanded: only DTSTART
 * is an instance, the result says truncated, and it is fast. */
static void
test_rule_admission(void **state)
{
	static const struct {
		const char *rule;
		bool expanded;
	} cases[] = {
		{ "FREQ=SECONDLY", false },
		{ "FREQ=MINUTELY;INTERVAL=15", false },
		{ "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=31", false },
		{ "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-31", false },
		{ "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-7", false },
		{ "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2", false },
		{ "RSCALE=HEBREW;FREQ=YEARLY", false },
		{ "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", true },
		{ "FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=1,-1", true },
		{ "FREQ=WEEKLY;BYDAY=MO,WE;BYSETPOS=2", true },
		{ "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", true },	/* never */
		{ "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", true },		/* never */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char text[512];
		struct cal_object *obj;
		struct cal_instance *in;
		size_t n;
		bool trunc;
		const char *err;
		clock_t c0 = clock();
		int len = snprintf(text, sizeof(text),
		    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
		    "UID:a%zu\r\nDTSTART:20260105T090000Z\r\nRRULE:%s\r\n"
		    "END:VEVENT\r\nEND:VCALENDAR\r\n", i, cases[i].rule);

		obj = cal_parse(text, (size_t)len, NULL, &err);
		assert_non_null(obj);
		assert_int_equal(cal_expand(obj, utc(2026, 1, 1, 0, 0),
		    utc(2027, 1, 1, 0, 0), &in, &n, &trunc, &err), 0);
		if (cases[i].expanded == trunc)
			fail_msg("%s: truncated %d", cases[i].rule, trunc);
		if (!cases[i].expanded)
			assert_int_equal(n, 1);	/* DTSTART */
		if ((double)(clock() - c0) / CLOCKS_PER_SEC > 0.5)
			fail_msg("%s: too slow", cases[i].rule);
		free(in);
		cal_object_free(&obj);
	}
}

static void
test_limits_on_fields(void **state)
{
	char *text = malloc(200000);
	size_t o = 0;
	struct cal_limits lim;
	struct cal_object *obj;
	const char *err;

	(void)state;
	assert_non_null(text);
	o += (size_t)sprintf(text, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
	    "BEGIN:VEVENT\r\nUID:big\r\nDTSTART:20260101T100000Z\r\n"
	    "SUMMARY:");
	for (int i = 0; i < 5000; i++)
		o += (size_t)sprintf(text + o, "\xc3\xa9");	/* é */
	o += (size_t)sprintf(text + o, "\r\n");
	for (int i = 0; i < 40; i++)
		o += (size_t)sprintf(text + o,
		    "ATTENDEE;CN=P%d:mailto:p%d@example.com\r\n", i, i);
	o += (size_t)sprintf(text + o, "END:VEVENT\r\n");
	for (int i = 0; i < 5; i++)
		o += (size_t)sprintf(text + o, "BEGIN:VEVENT\r\nUID:e%d\r\n"
		    "DTSTART:20260101T100000Z\r\nEND:VEVENT\r\n", i);
	o += (size_t)sprintf(text + o, "END:VCALENDAR\r\n");
	cal_limits_default(&lim);
	lim.max_text = 101;
	lim.max_attendees = 17;
	lim.max_events = 3;
	obj = cal_parse(text, o, &lim, &err);
	assert_non_null(obj);
	assert_int_equal(obj->n_events, 3);
	assert_int_equal(obj->events_dropped, 3);
	assert_int_equal(strlen(obj->events[0].summary), 100);	/* whole é */
	assert_int_equal(obj->events[0].n_attendees, 17);
	assert_int_equal(obj->events[0].attendees_dropped, 23);
	assert_string_equal(obj->events[0].attendees[16].addr,
	    "p16@example.com");
	cal_object_free(&obj);
	free(text);
}

struct bad_case {
	const char *name;
	const char *text;
	size_t len;		/* 0: strlen */
	const char *reason;	/* substring of the error */
};

#define VC(x) "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" x "END:VCALENDAR\r\n"

static const struct bad_case bad_cases[] = {
	{ "empty", "", 0, "empty" },
	{ "blank lines", "\r\n\r\n", 0, "empty" },
	{ "prose", "Hello, see you Tuesday", 0, "BEGIN" },
	{ "html", "<html><body>BEGIN:VCALENDAR</body></html>", 0, "BEGIN" },
	{ "NUL byte", "BEGIN:VCALENDAR\r\n\0END:VCALENDAR\r\n", 33, "NUL" },
	{ "todo only", VC("BEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n"), 0,
	  "no VEVENT" },
	{ "no uid", VC("BEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\n"
	  "END:VEVENT\r\n"), 0, "usable" },
	{ "no dtstart", VC("BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n"), 0,
	  "usable" },
	{ "bad dtstart", VC("BEGIN:VEVENT\r\nUID:x\r\nDTSTART:tomorrow\r\n"
	  "END:VEVENT\r\n"), 0, "usable" },
	{ "vcard", "BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n", 0, "VCALENDAR" },
	{ "deep", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nBEGIN:VALARM\r\n"
	  "BEGIN:X\r\nBEGIN:X\r\nBEGIN:X\r\nBEGIN:X\r\n", 0, "deep" },
	{ "END first", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nEND:VEVENT\r\n", 0,
	  "END without BEGIN" },
	{ "END with parameter", "BEGIN:VCALENDAR\r\nEND;X=1:VCALENDAR\r\n"
	  "END:VCALENDAR\r\n", 0, "END without BEGIN" },
	{ "folded deep", "BEGIN:VCALENDAR\r\nBEG\r\n IN:X\r\nBEGIN:X\r\n"
	  "B\r\n EGIN:X\r\nBEGIN:X\r\nBEGIN:X\r\nBEGIN:X\r\n", 0, "deep" },
};

static void
test_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(*bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len ? c->len : strlen(c->text);
		const char *err = NULL;
		struct cal_object *obj = cal_parse(c->text, len, NULL, &err);

		if (obj != NULL)
			fail_msg("%s: accepted", c->name);
		if (err == NULL || strstr(err, c->reason) == NULL)
			fail_msg("%s: reason '%s', want '%s'", c->name,
			    err ? err : "(null)", c->reason);
	}
}

/* libical writes some parse warnings to stderr; libcal must keep it from
 * ever getting input that triggers them (a library never logs). */
static void
test_quiet(void **state)
{
	static const char *const odd[] = {
		VC("END:VEVENT\r\n"),
		VC("BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T100000Z\r\n"
		   "X-UNKNOWN;FOO=BAR:baz\r\nBOGUS LINE\r\nNOTAPROP\r\n"
		   "ATTENDEE;PARTSTAT=WHATEVER;NOPE=1:mailto:a@b\r\n"
		   "DTEND;TZID=:20260101T110000\r\nRRULE:FREQ=NEVER\r\n"
		   "END:VEVENT\r\n"),
		"BEGIN:VCALENDAR\r\nBEGIN:\r\nEND:\r\nEND:VCALENDAR\r\n",
		"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n"
		"END:VEVENT\r\n",
		"BEGIN:VEVENT\r\nUID:y\r\nDTSTART:20260101\r\nEND:VEVENT\r\n"
		"END:VCALENDAR\r\n",
	};
	FILE *tmp = tmpfile();
	int saved;
	long size;

	(void)state;
	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) == 2);
	for (size_t i = 0; i < sizeof(odd) / sizeof(*odd); i++) {
		const char *err;
		struct cal_object *obj = cal_parse(odd[i], strlen(odd[i]),
		    NULL, &err);
		struct cal_instance *in;
		size_t n;

		if (obj != NULL && cal_expand(obj, 0, INT64_C(1) << 40, &in,
		    &n, NULL, &err) == 0)
			free(in);
		cal_object_free(&obj);
	}
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(*bad_cases); i++) {
		const char *err;
		size_t len = bad_cases[i].len ? bad_cases[i].len :
		    strlen(bad_cases[i].text);
		struct cal_object *obj = cal_parse(bad_cases[i].text, len,
		    NULL, &err);

		cal_object_free(&obj);
	}
	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	size = ftell(tmp) >= 0 ? (fseek(tmp, 0, SEEK_END), ftell(tmp)) : -1;
	fclose(tmp);
	assert_int_equal(size, 0);
}

static void
test_size_limits(void **state)
{
	struct cal_limits lim;
	const char *err;
	char *big;
	size_t o = 0;

	(void)state;
	cal_limits_default(&lim);
	lim.max_bytes = 64;
	assert_null(cal_parse(apple_event, strlen(apple_event), &lim, &err));
	assert_non_null(strstr(err, "too large"));
	/* many components */
	cal_limits_default(&lim);
	big = malloc(64 * 3000);
	assert_non_null(big);
	o += (size_t)sprintf(big, "BEGIN:VCALENDAR\r\n");
	for (int i = 0; i < 2500; i++)
		o += (size_t)sprintf(big + o, "BEGIN:VEVENT\r\nEND:VEVENT\r\n");
	assert_null(cal_parse(big, o, &lim, &err));
	assert_non_null(strstr(err, "too many components"));
	free(big);
	/* an unknown floating_tz is a caller error */
	lim.floating_tz = "Nowhere/Special";
	assert_null(cal_parse(apple_event, strlen(apple_event), &lim, &err));
	assert_non_null(strstr(err, "floating_tz"));
}

/* A VTIMEZONE whose rule would need an expansion per second is dropped:
 * its events fall back to the floating rule instead of costing hours. */
static void
test_hostile_vtimezone(void **state)
{
	static const char text[] =
	    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
	    "BEGIN:VTIMEZONE\r\nTZID:Evil\r\n"
	    "BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\n"
	    "TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100\r\n"
	    "RRULE:FREQ=SECONDLY\r\nEND:STANDARD\r\n"
	    "END:VTIMEZONE\r\n"
	    "BEGIN:VEVENT\r\nUID:e\r\nDTSTART;TZID=Evil:20260601T090000\r\n"
	    "END:VEVENT\r\nEND:VCALENDAR\r\n";
	const char *err;
	struct cal_object *obj = cal_parse(text, sizeof(text) - 1, NULL, &err);

	(void)state;
	assert_non_null(obj);
	assert_true(obj->events[0].start.tz_unresolved);
	assert_true(obj->events[0].start.utc == utc(2026, 6, 1, 9, 0));
	cal_object_free(&obj);
}

/* Two VCALENDARs back to back (some mailers concatenate parts). */
static void
test_concatenated(void **state)
{
	char *t;
	const char *err;
	struct cal_object *obj;
	size_t a = strlen(apple_event), b = strlen(cancel_msg);

	(void)state;
	t = malloc(a + b);
	assert_non_null(t);
	memcpy(t, apple_event, a);
	memcpy(t + a, cancel_msg, b);
	obj = cal_parse(t, a + b, NULL, &err);
	if (obj == NULL)
		fail_msg("%s", err);
	assert_int_equal(obj->n_events, 2);
	cal_object_free(&obj);
	free(t);
	/* a UTF-8 BOM in front */
	t = malloc(a + 3);
	assert_non_null(t);
	memcpy(t, "\xef\xbb\xbf", 3);
	memcpy(t + 3, apple_event, a);
	obj = cal_parse(t, a + 3, NULL, &err);
	assert_non_null(obj);
	cal_object_free(&obj);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_google_weekly_dst),
		cmocka_unit_test(test_outlook_windows_zone),
		cmocka_unit_test(test_outlook_after_dst),
		cmocka_unit_test(test_outlook_custom_zone),
		cmocka_unit_test(test_apple_london),
		cmocka_unit_test(test_all_day),
		cmocka_unit_test(test_cancel_and_reply),
		cmocka_unit_test(test_caldav_daily),
		cmocka_unit_test(test_floating_and_zones),
		cmocka_unit_test(test_dst_edges),
		cmocka_unit_test(test_recurrence_consistency),
		cmocka_unit_test(test_expand_caps),
		cmocka_unit_test(test_rule_admission),
		cmocka_unit_test(test_limits_on_fields),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_quiet),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_hostile_vtimezone),
		cmocka_unit_test(test_concatenated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
