/*
 * ical_parse.h - the meeting fields crm-enrich takes from an iCalendar
 * object (crm.calendar.v1).  Like mail_parse(), one function fills one
 * struct, so the parser behind it (libical) can change alone.
 */
#ifndef CRM_ENRICH_ICAL_PARSE_H
#define CRM_ENRICH_ICAL_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define ICAL_INPUT_MAX (4u * 1024 * 1024)
#define ICAL_EVENTS_MAX 1000
#define ICAL_ATTENDEES_MAX 1000
#define ICAL_FIELD_MAX 4096

struct ical_attendee {
	char *address;		/* lower case, without mailto: */
	char *display_name;	/* CN, or NULL */
	char *partstat;		/* upper case; NEEDS-ACTION when absent */
	char *role;		/* or NULL */
};

struct ical_event {
	char *uid;
	int sequence;
	char *summary, *location, *status;	/* or NULL */
	char *starts_at, *ends_at;	/* "YYYY-MM-DD HH:MM:SS+0000" or NULL */
	char *organizer;	/* lower case, without mailto:, or NULL */
	struct ical_attendee *att;
	size_t natt;
};

struct ical_parsed {
	bool reply;		/* METHOD:REPLY: only PARTSTATs are news */
	struct ical_event *ev;
	size_t nev;
};

/*
 * Parses (p, len).  Returns 0 and fills *ip (free with ical_parsed_fini;
 * VEVENTs without a UID are skipped), or -1 with a static reason.
 */
int ical_parse(const char *p, size_t len, struct ical_parsed *ip,
    const char **errstr_r);
void ical_parsed_fini(struct ical_parsed *ip);

#endif
