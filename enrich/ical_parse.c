/* ical_parse.c - see ical_parse.h.  libical does the parsing; this file
 * bounds what comes out of it and repairs every string to UTF-8. */
#include "enrich/ical_parse.h"

#include <libical/ical.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "enrich/textutil.h"
#include "lib/xmalloc.h"

static char *
clean(const char *s)
{
	return s == NULL || *s == '\0' ? NULL :
	    text_utf8_clean(s, strlen(s), ICAL_FIELD_MAX);
}

static char *
cal_address(const char *s)
{
	const char *dom;
	char *c, *a;

	if (s == NULL)
		return NULL;
	if (strncasecmp(s, "mailto:", 7) == 0)
		s += 7;
	if ((c = clean(s)) == NULL)
		return NULL;
	a = text_address_canon(c, &dom);
	free(c);
	return a;
}

static char *
cal_time(struct icaltimetype t)
{
	time_t tt;
	struct tm tm;
	char buf[40];

	if (icaltime_is_null_time(t) || !icaltime_is_valid_time(t))
		return NULL;
	/* Floating times (no zone) are taken as UTC: there is no better
	 * guess on the server, and the original stays in Kafka. */
	tt = icaltime_as_timet_with_zone(t, t.zone ? t.zone :
	    icaltimezone_get_utc_timezone());
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S+0000", &tm) == 0)
		return NULL;
	return xstrdup(buf);
}

static void
add_attendee(struct ical_event *e, icalproperty *p)
{
	struct ical_attendee *a;
	char *addr = cal_address(icalproperty_get_attendee(p));
	const char *ps;

	if (addr == NULL)
		return;
	for (size_t i = 0; i < e->natt; i++)
		if (strcmp(e->att[i].address, addr) == 0) {
			free(addr);
			return;
		}
	if (e->natt == ICAL_ATTENDEES_MAX) {
		free(addr);
		return;
	}
	e->att = xreallocarray(e->att, e->natt + 1, sizeof(*e->att));
	a = &e->att[e->natt++];
	a->address = addr;
	a->display_name = clean(icalproperty_get_parameter_as_string(p, "CN"));
	ps = icalproperty_get_parameter_as_string(p, "PARTSTAT");
	a->partstat = clean(ps ? ps : "NEEDS-ACTION");
	for (char *c = a->partstat; c && *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	a->role = clean(icalproperty_get_parameter_as_string(p, "ROLE"));
}

static void
add_event(struct ical_parsed *ip, icalcomponent *c)
{
	struct ical_event *e;
	const char *uid = icalcomponent_get_uid(c);
	icalproperty *p;
	icalproperty_status st;

	if (uid == NULL || *uid == '\0' || ip->nev == ICAL_EVENTS_MAX)
		return;
	ip->ev = xreallocarray(ip->ev, ip->nev + 1, sizeof(*ip->ev));
	e = &ip->ev[ip->nev++];
	memset(e, 0, sizeof(*e));
	e->uid = clean(uid);
	e->sequence = icalcomponent_get_sequence(c);
	if (e->sequence < 0)
		e->sequence = 0;
	e->summary = clean(icalcomponent_get_summary(c));
	e->location = clean(icalcomponent_get_location(c));
	st = icalcomponent_get_status(c);
	if (st != ICAL_STATUS_NONE)
		e->status = clean(icalproperty_status_to_string(st));
	e->starts_at = cal_time(icalcomponent_get_dtstart(c));
	e->ends_at = cal_time(icalcomponent_get_dtend(c));
	p = icalcomponent_get_first_property(c, ICAL_ORGANIZER_PROPERTY);
	if (p != NULL)
		e->organizer = cal_address(icalproperty_get_organizer(p));
	for (p = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY);
	    p != NULL;
	    p = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY))
		add_attendee(e, p);
}

int
ical_parse(const char *p, size_t len, struct ical_parsed *ip,
    const char **errstr_r)
{
	icalcomponent *root, *cal, *c;
	char *copy;

	memset(ip, 0, sizeof(*ip));
	if (len == 0) {
		*errstr_r = "empty calendar object";
		return -1;
	}
	if (len > ICAL_INPUT_MAX) {
		*errstr_r = "calendar object larger than 4 MiB";
		return -1;
	}
	if (memchr(p, '\0', len) != NULL) {
		*errstr_r = "NUL byte in calendar object";
		return -1;
	}
	copy = xstrndup(p, len);
	root = icalparser_parse_string(copy);
	free(copy);
	if (root == NULL) {
		*errstr_r = "not iCalendar";
		return -1;
	}
	cal = icalcomponent_isa(root) == ICAL_VCALENDAR_COMPONENT ? root :
	    icalcomponent_get_first_component(root, ICAL_VCALENDAR_COMPONENT);
	if (cal == NULL) {
		icalcomponent_free(root);
		*errstr_r = "no VCALENDAR";
		return -1;
	}
	ip->reply = icalcomponent_get_method(cal) == ICAL_METHOD_REPLY;
	for (c = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
	    c != NULL;
	    c = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT))
		add_event(ip, c);
	icalcomponent_free(root);
	return 0;
}

void
ical_parsed_fini(struct ical_parsed *ip)
{
	for (size_t i = 0; i < ip->nev; i++) {
		struct ical_event *e = &ip->ev[i];

		free(e->uid);
		free(e->summary);
		free(e->location);
		free(e->status);
		free(e->starts_at);
		free(e->ends_at);
		free(e->organizer);
		for (size_t j = 0; j < e->natt; j++) {
			free(e->att[j].address);
			free(e->att[j].display_name);
			free(e->att[j].partstat);
			free(e->att[j].role);
		}
		free(e->att);
	}
	free(ip->ev);
	memset(ip, 0, sizeof(*ip));
}
