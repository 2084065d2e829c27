/*
 * cal.c - iCalendar text into struct cal_object, through libical.
 *
 * libical is lenient: it turns almost any text into a component tree with
 * X-LIC-ERROR properties where it gave up.  So the bounds that matter are
 * checked here before libical sees a byte (size, NUL bytes, component
 * count, nesting), and what libical returns is checked again after
 * (a VEVENT needs a UID and a DTSTART we can place in time).  VTIMEZONEs
 * whose rules libical would have to expand more often than yearly are
 * removed before any time is converted: a "FREQ=SECONDLY" daylight rule
 * would otherwise make one conversion cost billions of steps.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "enrich/cal/cal.h"
#include "enrich/cal/cal_int.h"
#include "lib/civil.h"
#include "lib/xmalloc.h"

#define CAL_DEPTH_MAX		6	/* VCALENDAR > VEVENT > VALARM is 3 */
#define CAL_TZID_MAX		128
#define CAL_ADDR_MAX		512
#define CAL_TZ_RDATES_MAX	500
#define CAL_RRULE_TEXT_MAX	1024
#define ARR_END			ICAL_RECURRENCE_ARRAY_MAX
#define CAL_VTIMEZONES_MAX	32	/* per VCALENDAR; more are dropped */
#define CAL_TZ_YEAR_MIN		1900

void
cal_limits_default(struct cal_limits *lim)
{
	lim->max_bytes = 1u << 20;
	lim->max_components = 2000;
	lim->max_events = 500;
	lim->max_attendees = 500;
	lim->max_text = 16u << 10;
	lim->max_instances = 1000;
	lim->max_iterations = 100000;
	lim->floating_tz = NULL;
}

/* Windows zone names Outlook/Exchange may put in TZID without a VTIMEZONE
 * (CLDR windowsZones.xml, territory "001"). */
static const struct {
	const char *win, *iana;
} win_zones[] = {
	{ "Dateline Standard Time", "Etc/GMT+12" },
	{ "Hawaiian Standard Time", "Pacific/Honolulu" },
	{ "Alaskan Standard Time", "America/Anchorage" },
	{ "Pacific Standard Time", "America/Los_Angeles" },
	{ "US Mountain Standard Time", "America/Phoenix" },
	{ "Mountain Standard Time", "America/Denver" },
	{ "Central Standard Time", "America/Chicago" },
	{ "Central Standard Time (Mexico)", "America/Mexico_City" },
	{ "Canada Central Standard Time", "America/Regina" },
	{ "SA Pacific Standard Time", "America/Bogota" },
	{ "Eastern Standard Time", "America/New_York" },
	{ "Atlantic Standard Time", "America/Halifax" },
	{ "E. South America Standard Time", "America/Sao_Paulo" },
	{ "Argentina Standard Time", "America/Buenos_Aires" },
	{ "UTC", "UTC" },
	{ "GMT Standard Time", "Europe/London" },
	{ "Greenwich Standard Time", "Atlantic/Reykjavik" },
	{ "W. Europe Standard Time", "Europe/Berlin" },
	{ "Central Europe Standard Time", "Europe/Budapest" },
	{ "Romance Standard Time", "Europe/Paris" },
	{ "Central European Standard Time", "Europe/Warsaw" },
	{ "W. Central Africa Standard Time", "Africa/Lagos" },
	{ "GTB Standard Time", "Europe/Bucharest" },
	{ "FLE Standard Time", "Europe/Kiev" },
	{ "Israel Standard Time", "Asia/Jerusalem" },
	{ "South Africa Standard Time", "Africa/Johannesburg" },
	{ "Turkey Standard Time", "Europe/Istanbul" },
	{ "Russian Standard Time", "Europe/Moscow" },
	{ "Arab Standard Time", "Asia/Riyadh" },
	{ "Arabian Standard Time", "Asia/Dubai" },
	{ "Pakistan Standard Time", "Asia/Karachi" },
	{ "India Standard Time", "Asia/Kolkata" },
	{ "SE Asia Standard Time", "Asia/Bangkok" },
	{ "China Standard Time", "Asia/Shanghai" },
	{ "Singapore Standard Time", "Asia/Singapore" },
	{ "Taipei Standard Time", "Asia/Taipei" },
	{ "Tokyo Standard Time", "Asia/Tokyo" },
	{ "Korea Standard Time", "Asia/Seoul" },
	{ "AUS Eastern Standard Time", "Australia/Sydney" },
	{ "E. Australia Standard Time", "Australia/Brisbane" },
	{ "New Zealand Standard Time", "Pacific/Auckland" },
};

/* libical opens /usr/share/zoneinfo/<name> for a name it does not know, so
 * only names shaped like zoneinfo names reach it. */
static icaltimezone *
builtin_zone(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > CAL_TZID_MAX || name[0] == '/' || name[0] == '.' ||
	    strstr(name, "..") != NULL ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789/_+-") != n)
		return NULL;
	return icaltimezone_get_builtin_timezone(name);
}

static icaltimezone *
zone_by_name(const char *tzid)
{
	icaltimezone *z;
	const char *p;
	int slashes = 0;

	if (strlen(tzid) > CAL_TZID_MAX)
		return NULL;
	if ((z = builtin_zone(tzid)) != NULL)
		return z;
	for (size_t i = 0; i < sizeof(win_zones) / sizeof(*win_zones); i++)
		if (strcasecmp(win_zones[i].win, tzid) == 0)
			return builtin_zone(win_zones[i].iana);
	/* "/mozilla.org/20050126_1/Europe/Berlin", "/citadel.org/.../Europe/
	 * Berlin": try each suffix after a '/' */
	for (p = strchr(tzid, '/'); p != NULL && slashes < 8;
	    p = strchr(p + 1, '/'), slashes++)
		if (p[1] != '\0' && (z = builtin_zone(p + 1)) != NULL)
			return z;
	return NULL;
}

static int64_t
local_as_utc(struct icaltimetype t)
{
	return civil_days(t.year, t.month, t.day) * 86400 +
	    (int64_t)t.hour * 3600 + (int64_t)t.minute * 60 + t.second;
}

/* UTC offset (seconds east) of zone z at the instant u. */
static int64_t
utc_offset_at(icaltimezone *z, int64_t u)
{
	struct icaltimetype tt;
	int is_dst = 0;

	tt = icaltime_from_timet_with_zone((time_t)u, 0,
	    icaltimezone_get_utc_timezone());
	return icaltimezone_get_utc_offset_of_utc_time(z, &tt, &is_dst);
}

void
cal_resolve(const struct cal_impl *impl, icalcomponent *comp,
    icalproperty *prop, struct icaltimetype t, struct cal_time *out,
    icaltimezone **zone_r)
{
	icalparameter *par;
	icaltimezone *z = NULL;
	const char *tzid = NULL;

	memset(out, 0, sizeof(*out));
	if (zone_r != NULL)
		*zone_r = NULL;
	if (t.is_date) {
		/* A date is a day, not an instant: kept as 00:00 UTC so the
		 * calendar date survives any later formatting. */
		out->all_day = true;
		t.hour = t.minute = t.second = 0;
		out->utc = local_as_utc(t);
		return;
	}
	if (icaltime_is_utc(t)) {
		out->utc = local_as_utc(t);
		return;
	}
	par = prop != NULL ? icalproperty_get_first_parameter(prop,
	    ICAL_TZID_PARAMETER) : NULL;
	if (par != NULL)
		tzid = icalparameter_get_tzid(par);
	if (tzid != NULL && tzid[0] != '\0') {
		icalcomponent *vcal = icalcomponent_get_parent(comp);

		/* A name the system's zoneinfo knows (directly or as a
		 * Windows zone) uses that data even when the object carries
		 * a VTIMEZONE: tzdata is authoritative and current, and it
		 * is loaded once per process, while libical expands an
		 * embedded definition from its DTSTART (1601 for Outlook)
		 * on every parse, about 20 ms each. */
		z = zone_by_name(tzid);
		if (z == NULL && vcal != NULL && icalcomponent_isa(vcal) ==
		    ICAL_VCALENDAR_COMPONENT)
			z = icalcomponent_get_timezone(vcal, tzid);
		if (z == NULL)
			out->tz_unresolved = true;
	} else
		out->floating = true;
	if (z == NULL)
		z = impl->floating;
	if (z == icaltimezone_get_utc_timezone())
		z = NULL;
	out->utc = cal_local_to_utc(t, z);
	if (zone_r != NULL)
		*zone_r = z;
}

int64_t
cal_local_to_utc(struct icaltimetype t, icaltimezone *z)
{
	if (t.is_date) {
		t.hour = t.minute = t.second = 0;
		return local_as_utc(t);
	}
	if (icaltime_is_utc(t) || z == NULL ||
	    z == icaltimezone_get_utc_timezone())
		return local_as_utc(t);
	{
		/*
		 * RFC 5545 3.3.5: a local time that occurs twice (the
		 * autumn fall-back) means the first occurrence; one that
		 * falls in the spring gap is read with the offset before
		 * the gap.  libical picks the second and the offset after,
		 * so the choice is made here from the offsets one day on
		 * either side (zones do not change twice within two days).
		 */
		int64_t l = local_as_utc(t);
		int64_t oa = utc_offset_at(z, l - 86400);
		int64_t ob = utc_offset_at(z, l + 86400);
		int64_t ua = l - oa, ub = l - ob;
		bool va = ua + utc_offset_at(z, ua) == l;
		bool vb = ub + utc_offset_at(z, ub) == l;

		if (va && vb)
			return ua < ub ? ua : ub;
		if (vb)
			return ub;
		return ua;	/* valid, or in the gap: offset before it */
	}
}

/* ---- pre-scan ----------------------------------------------------------- */

static bool
is_name(const char *hd, size_t hn, const char *name)
{
	size_t n = strlen(name);

	return hn > n && strncasecmp(hd, name, n) == 0 &&
	    (hd[n] == ':' || hd[n] == ';');
}

/* Counts one logical line whose first bytes (unfolded) are in hd.  An END
 * without its BEGIN is refused here: libical would print a warning on
 * stderr for it, and a library must not write to stderr. */
static int
prescan_line(const char *hd, size_t hn, size_t *comps, size_t *depth,
    bool *first, const struct cal_limits *lim, const char **errstr_r)
{
	if (hn == 0)
		return 0;
	if (is_name(hd, hn, "BEGIN")) {
		*first = false;
		if (++*comps > lim->max_components) {
			*errstr_r = "too many components";
			return -1;
		}
		if (++*depth > CAL_DEPTH_MAX) {
			*errstr_r = "components nested too deep";
			return -1;
		}
	} else if (*first) {
		*errstr_r = "does not start with BEGIN:VCALENDAR";
		return -1;
	} else if (is_name(hd, hn, "END")) {
		if (*depth == 0) {
			*errstr_r = "END without BEGIN";
			return -1;
		}
		(*depth)--;
	}
	return 0;
}

/*
 * Counts components and nesting before libical builds a tree.  Lines are
 * unfolded (RFC 5545 3.1) for the first bytes we look at, so a folded
 * "BEG\r\n IN:VEVENT" is counted like libical will read it.
 */
static int
prescan(const char *t, size_t len, const struct cal_limits *lim,
    const char **errstr_r)
{
	char hd[8];
	size_t comps = 0, depth = 0, hn = 0;
	bool first = true;

	if (memchr(t, '\0', len) != NULL) {
		*errstr_r = "NUL byte in iCalendar text";
		return -1;
	}
	for (size_t i = 0; i < len;) {
		const char *l = t + i, *e = memchr(l, '\n', len - i);
		size_t n = e != NULL ? (size_t)(e - l) : len - i;

		i += n + (e != NULL);
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (n > 0 && (l[0] == ' ' || l[0] == '\t')) {
			l++;	/* continuation of the logical line */
			n--;
		} else {
			if (prescan_line(hd, hn, &comps, &depth, &first, lim,
			    errstr_r) != 0)
				return -1;
			hn = 0;
		}
		while (n > 0 && hn < sizeof(hd)) {
			hd[hn++] = *l++;
			n--;
		}
	}
	if (prescan_line(hd, hn, &comps, &depth, &first, lim, errstr_r) != 0)
		return -1;
	if (first) {
		*errstr_r = "empty iCalendar text";
		return -1;
	}
	return 0;
}

/*
 * libical expands a VTIMEZONE's yearly rules from the observance's DTSTART
 * (1601 in Outlook's, year 1 in a hostile one) on first use.  For a
 * yearly rule the years before CAL_TZ_YEAR_MIN change nothing after it,
 * so such DTSTARTs are moved up to that year.
 */
static void
clamp_observances(icalcomponent *tz)
{
	for (icalcomponent *o = icalcomponent_get_first_component(tz,
	    ICAL_ANY_COMPONENT); o != NULL;
	    o = icalcomponent_get_next_component(tz, ICAL_ANY_COMPONENT)) {
		icalproperty *p = icalcomponent_get_first_property(o,
		    ICAL_DTSTART_PROPERTY);
		struct icaltimetype t;

		if (p == NULL || icalcomponent_get_first_property(o,
		    ICAL_RRULE_PROPERTY) == NULL)
			continue;
		t = icalproperty_get_dtstart(p);
		if (t.year < CAL_TZ_YEAR_MIN) {
			t.year = CAL_TZ_YEAR_MIN;
			icalproperty_set_dtstart(p, t);
		}
	}
}

/* VTIMEZONEs whose observances recur more often than yearly, or list
 * hundreds of RDATEs, are dropped; events using them become unresolved. */
static void
drop_bad_timezones(icalcomponent *vcal)
{
	icalcomponent *tz, *next;
	size_t kept = 0;

	for (tz = icalcomponent_get_first_component(vcal,
	    ICAL_VTIMEZONE_COMPONENT); tz != NULL; tz = next) {
		bool bad = false;

		next = icalcomponent_get_next_component(vcal,
		    ICAL_VTIMEZONE_COMPONENT);
		icalproperty *p;

		for (icalcomponent *o = icalcomponent_get_first_component(tz,
		    ICAL_ANY_COMPONENT); o != NULL && !bad;
		    o = icalcomponent_get_next_component(tz,
		    ICAL_ANY_COMPONENT)) {
			size_t rdates = 0;

			for (p = icalcomponent_get_first_property(
			    o, ICAL_RRULE_PROPERTY); p != NULL;
			    p = icalcomponent_get_next_property(o,
			    ICAL_RRULE_PROPERTY)) {
				struct icalrecurrencetype r =
				    icalproperty_get_rrule(p);

				/* what time zone rules use: a month and a
				 * (nth) weekday or a day range; anything else
				 * can make libical's search run for years */
				if (r.freq != ICAL_YEARLY_RECURRENCE ||
				    r.interval != 1 || r.rscale != NULL ||
				    r.by_set_pos[0] != ARR_END ||
				    r.by_year_day[0] != ARR_END ||
				    r.by_week_no[0] != ARR_END ||
				    r.by_hour[0] != ARR_END ||
				    r.by_minute[0] != ARR_END ||
				    r.by_second[0] != ARR_END)
					bad = true;
			}
			for (p = icalcomponent_get_first_property(
			    o, ICAL_RDATE_PROPERTY); p != NULL;
			    p = icalcomponent_get_next_property(o,
			    ICAL_RDATE_PROPERTY))
				if (++rdates > CAL_TZ_RDATES_MAX)
					bad = true;
			p = icalcomponent_get_first_property(o,
			    ICAL_DTSTART_PROPERTY);
			if (p == NULL || icaltime_is_null_time(
			    icalproperty_get_dtstart(p)))
				bad = true;
		}
		if (icalcomponent_get_first_property(tz, ICAL_TZID_PROPERTY) ==
		    NULL)
			bad = true;
		if (!bad && ++kept > CAL_VTIMEZONES_MAX)
			bad = true;
		if (!bad)
			clamp_observances(tz);
		if (bad) {
			icalcomponent_remove_component(vcal, tz);
			icalcomponent_free(tz);
		}
	}
}

/* ---- events ------------------------------------------------------------- */

static char *
dup_text(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return NULL;
	n = strnlen(s, max + 1);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return xstrndup(s, n);
}

static char *
dup_addr(const char *v)
{
	if (v == NULL)
		return NULL;
	while (*v == ' ')
		v++;
	if (strncasecmp(v, "mailto:", 7) == 0)
		v += 7;
	if (*v == '\0')
		return NULL;
	return dup_text(v, CAL_ADDR_MAX);
}

static void
person_fill(struct cal_person *p, icalproperty *prop, const char *value)
{
	icalparameter *par;

	p->addr = dup_addr(value);
	if ((par = icalproperty_get_first_parameter(prop, ICAL_CN_PARAMETER))
	    != NULL)
		p->cn = dup_text(icalparameter_get_cn(par), 256);
	if ((par = icalproperty_get_first_parameter(prop,
	    ICAL_PARTSTAT_PARAMETER)) != NULL) {
		switch (icalparameter_get_partstat(par)) {
		case ICAL_PARTSTAT_NEEDSACTION:
			p->partstat = CAL_PARTSTAT_NEEDS_ACTION;
			break;
		case ICAL_PARTSTAT_ACCEPTED:
			p->partstat = CAL_PARTSTAT_ACCEPTED;
			break;
		case ICAL_PARTSTAT_DECLINED:
			p->partstat = CAL_PARTSTAT_DECLINED;
			break;
		case ICAL_PARTSTAT_TENTATIVE:
			p->partstat = CAL_PARTSTAT_TENTATIVE;
			break;
		case ICAL_PARTSTAT_DELEGATED:
			p->partstat = CAL_PARTSTAT_DELEGATED;
			break;
		default:
			p->partstat = CAL_PARTSTAT_OTHER;
			break;
		}
	}
	if ((par = icalproperty_get_first_parameter(prop,
	    ICAL_ROLE_PARAMETER)) != NULL) {
		switch (icalparameter_get_role(par)) {
		case ICAL_ROLE_CHAIR:
			p->role = CAL_ROLE_CHAIR;
			break;
		case ICAL_ROLE_REQPARTICIPANT:
			p->role = CAL_ROLE_REQ_PARTICIPANT;
			break;
		case ICAL_ROLE_OPTPARTICIPANT:
			p->role = CAL_ROLE_OPT_PARTICIPANT;
			break;
		case ICAL_ROLE_NONPARTICIPANT:
			p->role = CAL_ROLE_NON_PARTICIPANT;
			break;
		default:
			p->role = CAL_ROLE_OTHER;
			break;
		}
	}
	if ((par = icalproperty_get_first_parameter(prop,
	    ICAL_RSVP_PARAMETER)) != NULL)
		p->rsvp = icalparameter_get_rsvp(par) == ICAL_RSVP_TRUE;
}

static void
person_free(struct cal_person *p)
{
	x_free(&p->addr);
	x_free(&p->cn);
}

static enum cal_method
method_of(icalcomponent *vcal)
{
	icalproperty *p;

	if (vcal == NULL || (p = icalcomponent_get_first_property(vcal,
	    ICAL_METHOD_PROPERTY)) == NULL)
		return CAL_METHOD_NONE;
	switch (icalproperty_get_method(p)) {
	case ICAL_METHOD_PUBLISH:
		return CAL_METHOD_PUBLISH;
	case ICAL_METHOD_REQUEST:
		return CAL_METHOD_REQUEST;
	case ICAL_METHOD_REPLY:
		return CAL_METHOD_REPLY;
	case ICAL_METHOD_ADD:
		return CAL_METHOD_ADD;
	case ICAL_METHOD_CANCEL:
		return CAL_METHOD_CANCEL;
	case ICAL_METHOD_REFRESH:
		return CAL_METHOD_REFRESH;
	case ICAL_METHOD_COUNTER:
		return CAL_METHOD_COUNTER;
	case ICAL_METHOD_DECLINECOUNTER:
		return CAL_METHOD_DECLINECOUNTER;
	default:
		return CAL_METHOD_OTHER;
	}
}

/* Fills ev from comp; returns -1 (nothing to free) when the VEVENT is not
 * usable. */
static int
event_fill(struct cal_object *obj, struct cal_impl *impl, icalcomponent *c,
    struct cal_event *ev)
{
	const struct cal_limits *lim = &obj->limits;
	icalproperty *p;
	const char *uid = icalcomponent_get_uid(c);

	memset(ev, 0, sizeof(*ev));
	if (uid == NULL || uid[0] == '\0')
		return -1;

	if ((p = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY))
	    != NULL) {
		struct icaltimetype s = icalproperty_get_dtstart(p);

		if (!icaltime_is_null_time(s) && icaltime_is_valid_time(s)) {
			ev->has_start = true;
			cal_resolve(impl, c, p, s, &ev->start, NULL);
		}
	}
	if (!ev->has_start && obj->method != CAL_METHOD_CANCEL &&
	    obj->method != CAL_METHOD_REPLY)
		return -1;

	ev->uid = dup_text(uid, 1024);
	ev->sequence = icalcomponent_get_sequence(c);
	if (ev->sequence < 0)
		ev->sequence = 0;
	switch (icalcomponent_get_status(c)) {
	case ICAL_STATUS_NONE:
		ev->status = CAL_STATUS_NONE;
		break;
	case ICAL_STATUS_TENTATIVE:
		ev->status = CAL_STATUS_TENTATIVE;
		break;
	case ICAL_STATUS_CONFIRMED:
		ev->status = CAL_STATUS_CONFIRMED;
		break;
	case ICAL_STATUS_CANCELLED:
		ev->status = CAL_STATUS_CANCELLED;
		break;
	default:
		ev->status = CAL_STATUS_OTHER;
		break;
	}
	ev->cancelled = ev->status == CAL_STATUS_CANCELLED ||
	    obj->method == CAL_METHOD_CANCEL;
	ev->summary = dup_text(icalcomponent_get_summary(c), lim->max_text);
	ev->location = dup_text(icalcomponent_get_location(c), lim->max_text);
	ev->description = dup_text(icalcomponent_get_description(c),
	    lim->max_text);

	/* DTEND, else DURATION, else the RFC 5545 3.6.1 defaults */
	ev->end = ev->start;
	if (ev->has_start) {
		if ((p = icalcomponent_get_first_property(c,
		    ICAL_DTEND_PROPERTY)) != NULL) {
			struct icaltimetype e = icalproperty_get_dtend(p);

			if (!icaltime_is_null_time(e) &&
			    icaltime_is_valid_time(e))
				cal_resolve(impl, c, p, e, &ev->end, NULL);
		} else if ((p = icalcomponent_get_first_property(c,
		    ICAL_DURATION_PROPERTY)) != NULL) {
			struct icaldurationtype d =
			    icalproperty_get_duration(p);
			int secs = icaldurationtype_as_int(d);

			if (!icaldurationtype_is_bad_duration(d) && secs > 0)
				ev->end.utc = ev->start.utc + secs;
		} else if (ev->start.all_day)
			ev->end.utc = ev->start.utc + 86400;
		if (ev->end.utc < ev->start.utc)
			ev->end.utc = ev->start.utc; /* DTEND < DTSTART */
	}

	if ((p = icalcomponent_get_first_property(c,
	    ICAL_RECURRENCEID_PROPERTY)) != NULL) {
		struct icaltimetype r = icalproperty_get_recurrenceid(p);

		if (!icaltime_is_null_time(r) && icaltime_is_valid_time(r)) {
			ev->has_recurrence_id = true;
			cal_resolve(impl, c, p, r, &ev->recurrence_id, NULL);
		}
	}
	if ((p = icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY))
	    != NULL) {
		char *s = icalproperty_get_value_as_string_r(p);

		ev->recurs = true;
		ev->rrule = dup_text(s, CAL_RRULE_TEXT_MAX);
		free(s);
	}
	if (icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY) != NULL)
		ev->recurs = true;

	if ((p = icalcomponent_get_first_property(c, ICAL_ORGANIZER_PROPERTY))
	    != NULL)
		person_fill(&ev->organizer, p, icalproperty_get_organizer(p));
	for (p = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY);
	    p != NULL; p = icalcomponent_get_next_property(c,
	    ICAL_ATTENDEE_PROPERTY)) {
		if (ev->n_attendees >= lim->max_attendees) {
			ev->attendees_dropped++;
			continue;
		}
		if (ev->attendees == NULL)
			ev->attendees = xcalloc(lim->max_attendees < 16 ?
			    lim->max_attendees : 16, sizeof(*ev->attendees));
		else if (ev->n_attendees >= 16 &&
		    (ev->n_attendees & (ev->n_attendees - 1)) == 0)
			ev->attendees = xreallocarray(ev->attendees,
			    ev->n_attendees * 2, sizeof(*ev->attendees));
		memset(&ev->attendees[ev->n_attendees], 0,
		    sizeof(*ev->attendees));
		person_fill(&ev->attendees[ev->n_attendees++], p,
		    icalproperty_get_attendee(p));
	}
	return 0;
}

static void
event_free(struct cal_event *ev)
{
	x_free(&ev->uid);
	x_free(&ev->summary);
	x_free(&ev->location);
	x_free(&ev->description);
	x_free(&ev->rrule);
	person_free(&ev->organizer);
	for (size_t i = 0; i < ev->n_attendees; i++)
		person_free(&ev->attendees[i]);
	x_free(&ev->attendees);
}

static void
add_events(struct cal_object *obj, struct cal_impl *impl,
    icalcomponent *vcal, size_t *cap)
{
	for (icalcomponent *c = icalcomponent_get_first_component(vcal,
	    ICAL_VEVENT_COMPONENT); c != NULL;
	    c = icalcomponent_get_next_component(vcal,
	    ICAL_VEVENT_COMPONENT)) {
		if (obj->n_events >= obj->limits.max_events) {
			obj->events_dropped++;
			continue;
		}
		if (obj->n_events == *cap) {
			*cap = *cap == 0 ? 4 : *cap * 2;
			obj->events = xreallocarray(obj->events, *cap,
			    sizeof(*obj->events));
			impl->comps = xreallocarray(impl->comps, *cap,
			    sizeof(*impl->comps));
		}
		if (event_fill(obj, impl, c, &obj->events[obj->n_events])
		    != 0) {
			obj->events_dropped++;
			continue;
		}
		impl->comps[obj->n_events++] = c;
	}
}

struct cal_object *
cal_parse(const char *text, size_t len, const struct cal_limits *lim,
    const char **errstr_r)
{
	struct cal_object *obj;
	struct cal_impl *impl;
	icalcomponent *root;
	char *buf;
	size_t cap = 0;

	obj = xcalloc(1, sizeof(*obj));
	if (lim != NULL)
		obj->limits = *lim;
	else
		cal_limits_default(&obj->limits);
	lim = &obj->limits;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	if (len == 0) {
		*errstr_r = "empty iCalendar text";
		goto fail;
	}
	if (len > lim->max_bytes) {
		*errstr_r = "iCalendar text too large";
		goto fail;
	}
	if (prescan(text, len, lim, errstr_r) != 0)
		goto fail;

	buf = xstrndup(text, len);
	icalerror_set_errors_are_fatal(0);
	root = icalparser_parse_string(buf);
	free(buf);
	icalerror_clear_errno();
	if (root == NULL) {
		*errstr_r = "not iCalendar";
		goto fail;
	}
	impl = xcalloc(1, sizeof(*impl));
	impl->root = root;
	obj->impl = impl;
	if (lim->floating_tz != NULL &&
	    (impl->floating = zone_by_name(lim->floating_tz)) == NULL) {
		*errstr_r = "unknown floating_tz";
		goto fail;
	}

	switch (icalcomponent_isa(root)) {
	case ICAL_VCALENDAR_COMPONENT:
		drop_bad_timezones(root);
		obj->method = method_of(root);
		add_events(obj, impl, root, &cap);
		break;
	case ICAL_XROOT_COMPONENT:
		/* several VCALENDARs back to back: the first METHOD wins */
		for (icalcomponent *v = icalcomponent_get_first_component(root,
		    ICAL_VCALENDAR_COMPONENT); v != NULL;
		    v = icalcomponent_get_next_component(root,
		    ICAL_VCALENDAR_COMPONENT)) {
			drop_bad_timezones(v);
			if (obj->method == CAL_METHOD_NONE)
				obj->method = method_of(v);
		}
		for (icalcomponent *v = icalcomponent_get_first_component(root,
		    ICAL_VCALENDAR_COMPONENT); v != NULL;
		    v = icalcomponent_get_next_component(root,
		    ICAL_VCALENDAR_COMPONENT))
			add_events(obj, impl, v, &cap);
		break;
	case ICAL_VEVENT_COMPONENT: {
		/* a bare VEVENT: wrap it so the loop below is the same */
		icalcomponent *v = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);

		icalcomponent_add_component(v, root);
		impl->root = root = v;
		add_events(obj, impl, root, &cap);
		break;
	}
	default:
		*errstr_r = "not a VCALENDAR";
		goto fail;
	}
	if (obj->n_events == 0) {
		*errstr_r = obj->events_dropped > 0 ?
		    "no usable VEVENT (missing UID or DTSTART)" : "no VEVENT";
		goto fail;
	}
	/* libical parks temporary strings in a per-thread ring of up to
	 * 2500 buffers; release them so a parse retains nothing but obj. */
	icalmemory_free_ring();
	return obj;
fail:
	icalmemory_free_ring();
	cal_object_free(&obj);
	return NULL;
}

void
cal_object_free(struct cal_object **objp)
{
	struct cal_object *obj = *objp;
	struct cal_impl *impl;

	if (obj == NULL)
		return;
	for (size_t i = 0; i < obj->n_events; i++)
		event_free(&obj->events[i]);
	x_free(&obj->events);
	if ((impl = obj->impl) != NULL) {
		if (impl->root != NULL)
			icalcomponent_free(impl->root);
		x_free(&impl->comps);
		x_free(&obj->impl);
	}
	x_free(objp);
}

const char *
cal_method_name(enum cal_method m)
{
	static const char *const names[] = {
		"", "PUBLISH", "REQUEST", "REPLY", "ADD", "CANCEL", "REFRESH",
		"COUNTER", "DECLINECOUNTER", "OTHER",
	};

	return (size_t)m < sizeof(names) / sizeof(*names) ? names[m] : "?";
}

const char *
cal_partstat_name(enum cal_partstat p)
{
	static const char *const names[] = {
		"", "NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE",
		"DELEGATED", "OTHER",
	};

	return (size_t)p < sizeof(names) / sizeof(*names) ? names[p] : "?";
}
