/*
 * ical_meta.h - what the capture tap needs to know about an iCalendar
 * object (RFC 5545), read with libical: UID, SEQUENCE, METHOD, organizer,
 * attendees, DTSTART, and a fingerprint of its content that ignores how
 * it was serialized.
 *
 * Used by the CalDAV tap and meant for iMIP invitations found in captured
 * mail (text/calendar parts).  A library: never logs, never exits.
 * Bounded: input over ICAL_META_INPUT_MAX is refused before libical sees
 * it; every output field has a fixed size and is truncated (flagged) when
 * the object holds more.
 */
#ifndef CRM_ICAL_META_H
#define CRM_ICAL_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ICAL_META_INPUT_MAX (16u << 20)
#define ICAL_META_UID_MAX 255
#define ICAL_META_ATTENDEES_MAX 4096	/* comma-separated addresses */

struct ical_meta {
	char component[16];	/* VEVENT, VTODO, VJOURNAL, VFREEBUSY */
	char uid[ICAL_META_UID_MAX + 1];
	int sequence;		/* 0 when absent (RFC 5545 3.8.7.4) */
	char method[32];	/* iTIP METHOD, "" for a stored object */
	char organizer[320];	/* "mailto:" stripped */
	char attendees[ICAL_META_ATTENDEES_MAX];
	bool attendees_truncated;
	char dtstart[64];	/* RFC 5545 form; "TZID=Europe/Paris:2026..." */
	unsigned components;	/* scheduling components in the object */
	/* FNV-1a 64 over the parsed content, with properties and components
	 * in a canonical order: equal for the same object however a server
	 * re-serialized it (folding, order, case).  Not cryptographic. */
	uint64_t fingerprint;
};

/* Calls libical's one-time set-up (errors never fatal).  Idempotent. */
void ical_meta_init(void);

/*
 * Parses text (len bytes, need not be NUL-terminated).  The object must be
 * one VCALENDAR holding at least one VEVENT/VTODO/VJOURNAL/VFREEBUSY with
 * a UID, all components sharing it (RFC 4791 4.1).  The first component
 * without RECURRENCE-ID (else the first) fills the fields.  Returns 0, or
 * -1 with a static reason in *errstr_r (not iCalendar, no UID, ...).
 */
int ical_meta_parse(const char *text, size_t len, struct ical_meta *m,
    const char **errstr_r);

#endif
