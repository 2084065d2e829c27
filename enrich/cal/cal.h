/*
 * cal.h - iCalendar objects for crm-enrich (libcal), on top of libical.
 *
 * cal_parse() turns one iCalendar text (a CalDAV resource, an iMIP
 * text/calendar part) into a bounded list of VEVENTs with every time
 * already in UTC; cal_expand() lists the occurrences that fall in a
 * window, applying RRULE, RDATE, EXDATE and overridden instances
 * (RECURRENCE-ID).  Nothing here logs or exits; input that is not
 * iCalendar, or is over a limit, is refused with a static reason.
 * The rules are written down in docs/enrich.md, "Identity resolution and
 * calendar rules".
 *
 * Thread safety: a cal_object is immutable after cal_parse(); cal_expand()
 * may run concurrently on it.  libical keeps a process-wide cache of the
 * zoneinfo time zones it has loaded (guarded by its own lock in Debian's
 * build).  cal_parse() turns libical's errors-are-fatal flag off, a
 * process-wide setting nothing else in the daemons relies on.
 */
#ifndef CRM_CAL_H
#define CRM_CAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cal_limits {
	size_t max_bytes;	/* whole text (default 1 MiB) */
	size_t max_components;	/* BEGIN: lines (default 2000) */
	size_t max_events;	/* VEVENTs kept (default 500) */
	size_t max_attendees;	/* per event (default 500) */
	size_t max_text;	/* bytes kept of SUMMARY, LOCATION,
				 * DESCRIPTION (default 16 KiB) */
	size_t max_instances;	/* per cal_expand() (default 1000) */
	size_t max_iterations;	/* recurrence steps per event and
				 * expansion (default 100000) */
	const char *floating_tz; /* IANA zone for floating times and
				  * unresolvable TZIDs; NULL: UTC.  Must
				  * outlive the object. */
};

/* Fills *lim with the defaults above. */
void cal_limits_default(struct cal_limits *lim);

enum cal_method {
	CAL_METHOD_NONE = 0,	/* no METHOD: a stored resource (CalDAV) */
	CAL_METHOD_PUBLISH,
	CAL_METHOD_REQUEST,
	CAL_METHOD_REPLY,
	CAL_METHOD_ADD,
	CAL_METHOD_CANCEL,
	CAL_METHOD_REFRESH,
	CAL_METHOD_COUNTER,
	CAL_METHOD_DECLINECOUNTER,
	CAL_METHOD_OTHER,
};

enum cal_status {
	CAL_STATUS_NONE = 0,
	CAL_STATUS_TENTATIVE,
	CAL_STATUS_CONFIRMED,
	CAL_STATUS_CANCELLED,
	CAL_STATUS_OTHER,
};

enum cal_partstat {
	CAL_PARTSTAT_NONE = 0,	/* not given (RFC 5545 default NEEDS-ACTION) */
	CAL_PARTSTAT_NEEDS_ACTION,
	CAL_PARTSTAT_ACCEPTED,
	CAL_PARTSTAT_DECLINED,
	CAL_PARTSTAT_TENTATIVE,
	CAL_PARTSTAT_DELEGATED,
	CAL_PARTSTAT_OTHER,
};

enum cal_role {
	CAL_ROLE_NONE = 0,	/* not given (default REQ-PARTICIPANT) */
	CAL_ROLE_CHAIR,
	CAL_ROLE_REQ_PARTICIPANT,
	CAL_ROLE_OPT_PARTICIPANT,
	CAL_ROLE_NON_PARTICIPANT,
	CAL_ROLE_OTHER,
};

struct cal_person {
	char *addr;		/* calendar address, "mailto:" removed; NULL
				 * when absent.  Not canonicalized: pass it
				 * to ident_addr_parse(). */
	char *cn;		/* CN parameter or NULL */
	enum cal_partstat partstat;
	enum cal_role role;
	bool rsvp;
};

struct cal_time {
	int64_t utc;		/* seconds since the epoch, UTC */
	bool all_day;		/* a DATE: utc is 00:00 UTC of that date */
	bool floating;		/* no zone: read in floating_tz (or UTC) */
	bool tz_unresolved;	/* TZID neither in the object nor known:
				 * read like a floating time */
};

struct cal_event {
	char *uid;
	int sequence;
	enum cal_status status;
	bool cancelled;		/* STATUS:CANCELLED or METHOD:CANCEL */
	char *summary, *location, *description;	/* NULL when absent */
	bool has_start;		/* false only in METHOD:CANCEL/REPLY */
	struct cal_time start;
	struct cal_time end;	/* DTEND, or DTSTART + DURATION, or DTSTART
				 * (+1 day for an all-day event) */
	bool has_recurrence_id;
	struct cal_time recurrence_id;	/* this VEVENT overrides one instance */
	bool recurs;		/* has RRULE or RDATE */
	char *rrule;		/* first RRULE as text, or NULL */
	struct cal_person organizer;	/* addr NULL when absent */
	struct cal_person *attendees;
	size_t n_attendees;
	size_t attendees_dropped;	/* over max_attendees */
};

struct cal_object {
	enum cal_method method;
	struct cal_event *events;
	size_t n_events;
	size_t events_dropped;	/* no UID / no DTSTART / over max_events */
	struct cal_limits limits;
	void *impl;		/* private: the libical tree */
};

/*
 * Parses an iCalendar text (text need not be NUL-terminated; a leading
 * UTF-8 BOM is allowed).  It must start with BEGIN:VCALENDAR (or a bare
 * BEGIN:VEVENT), stay within lim (NULL: defaults) and hold at least one
 * usable VEVENT.  Returns the object, to free with cal_object_free(), or
 * NULL with *errstr_r set to a static reason.
 */
struct cal_object *cal_parse(const char *text, size_t len,
    const struct cal_limits *lim, const char **errstr_r);

void cal_object_free(struct cal_object **objp);

struct cal_instance {
	int64_t start, end;	/* UTC */
	int64_t recurrence_id;	/* original start (UTC) of this occurrence */
	size_t event;		/* index into obj->events: the master or the
				 * overriding VEVENT */
	bool all_day;
	bool overridden;	/* comes from a RECURRENCE-ID VEVENT */
	bool cancelled;		/* its VEVENT (or the master) is cancelled */
};

/*
 * Lists the occurrences of every event of obj that overlap [from, to)
 * (start < to and end > from; a zero-length one when from <= start < to),
 * sorted by start.  At most obj->limits.max_instances are returned;
 * *truncated_r (may be NULL) says whether more existed or an iteration
 * cap was hit.  *inst_r is a malloc'd array (free() it; NULL when none).
 * Returns 0, or -1 with *errstr_r set (from >= to).
 */
int cal_expand(const struct cal_object *obj, int64_t from, int64_t to,
    struct cal_instance **inst_r, size_t *n_r, bool *truncated_r,
    const char **errstr_r);

const char *cal_method_name(enum cal_method m);
const char *cal_partstat_name(enum cal_partstat p);

#endif
