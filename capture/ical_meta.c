/* ical_meta.c - see ical_meta.h. */
#include "capture/ical_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define ICAL_META_DEPTH_MAX 8
#define ICAL_META_PROPS_MAX 512	/* per component; the rest is ignored */

void
ical_meta_init(void)
{
	static bool done;

	if (done)
		return;
	/* libical aborts on some errors unless told otherwise; garbage from
	 * the network must never take the process down. */
	icalerror_set_errors_are_fatal(0);
	done = true;
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * FNV_PRIME;
	return h;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Order-insensitive: sorted property lines, then sorted child hashes. */
static uint64_t
fingerprint(icalcomponent *c, int depth)
{
	char *props[ICAL_META_PROPS_MAX];
	uint64_t kids[ICAL_META_PROPS_MAX];
	size_t np = 0, nk = 0;
	uint64_t h = FNV_OFFSET;
	icalproperty *p;
	icalcomponent *k;
	const char *name = icalcomponent_kind_to_string(
	    icalcomponent_isa(c));

	/* libical has no name for kinds it does not know (X- components) */
	if (name == NULL)
		name = "?";
	h = fnv(h, name, strlen(name));
	if (depth >= ICAL_META_DEPTH_MAX)
		return h;
	for (p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY);
	    p != NULL && np < ICAL_META_PROPS_MAX;
	    p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
		/* libical's own error notes are not content */
		if (icalproperty_isa(p) == ICAL_XLICERROR_PROPERTY)
			continue;
		if ((props[np] = icalproperty_as_ical_string_r(p)) != NULL)
			np++;
	}
	qsort(props, np, sizeof(props[0]), cmp_str);
	for (size_t i = 0; i < np; i++) {
		h = fnv(h, props[i], strlen(props[i]));
		free(props[i]);
	}
	for (k = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT);
	    k != NULL && nk < ICAL_META_PROPS_MAX;
	    k = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT))
		kids[nk++] = fingerprint(k, depth + 1);
	qsort(kids, nk, sizeof(kids[0]), cmp_u64);
	return fnv(h, kids, nk * sizeof(kids[0]));
}

static bool
scheduling_kind(icalcomponent_kind k)
{
	return k == ICAL_VEVENT_COMPONENT || k == ICAL_VTODO_COMPONENT ||
	    k == ICAL_VJOURNAL_COMPONENT || k == ICAL_VFREEBUSY_COMPONENT;
}

static const char *
strip_mailto(const char *v)
{
	return strncasecmp(v, "mailto:", 7) == 0 ? v + 7 : v;
}

static void
fill_from(struct ical_meta *m, icalcomponent *c)
{
	icalproperty *p;
	size_t n = 0;

	snprintf(m->component, sizeof(m->component), "%s",
	    icalcomponent_kind_to_string(icalcomponent_isa(c)));
	m->sequence = 0;
	if ((p = icalcomponent_get_first_property(c, ICAL_SEQUENCE_PROPERTY))
	    != NULL)
		m->sequence = icalproperty_get_sequence(p);
	if ((p = icalcomponent_get_first_property(c,
	    ICAL_ORGANIZER_PROPERTY)) != NULL &&
	    icalproperty_get_organizer(p) != NULL)
		snprintf(m->organizer, sizeof(m->organizer), "%s",
		    strip_mailto(icalproperty_get_organizer(p)));
	for (p = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY);
	    p != NULL;
	    p = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
		const char *a = icalproperty_get_attendee(p);
		int w;

		if (a == NULL)
			continue;
		a = strip_mailto(a);
		w = snprintf(m->attendees + n, sizeof(m->attendees) - n, "%s%s",
		    n > 0 ? "," : "", a);
		if (w < 0 || (size_t)w >= sizeof(m->attendees) - n) {
			/* keep whole addresses only */
			m->attendees[n] = '\0';
			m->attendees_truncated = true;
			break;
		}
		n += (size_t)w;
	}
	if ((p = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY))
	    != NULL) {
		struct icaltimetype t = icalproperty_get_dtstart(p);
		icalparameter *tz = icalproperty_get_first_parameter(p,
		    ICAL_TZID_PARAMETER);
		const char *v = icaltime_as_ical_string(t);

		if (tz != NULL && !icaltime_is_utc(t))
			snprintf(m->dtstart, sizeof(m->dtstart), "TZID=%s:%s",
			    icalparameter_get_tzid(tz), v);
		else
			snprintf(m->dtstart, sizeof(m->dtstart), "%s", v);
	}
}

int
ical_meta_parse(const char *text, size_t len, struct ical_meta *m,
    const char **errstr_r)
{
	icalcomponent *root, *c, *master = NULL, *first = NULL;
	icalproperty *p;
	char *buf;
	size_t skip = 0;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	ical_meta_init();
	if (len > ICAL_META_INPUT_MAX) {
		*errstr_r = "object too large";
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		*errstr_r = "NUL byte in iCalendar text";
		return -1;
	}
	while (skip < len && (text[skip] == ' ' || text[skip] == '\t' ||
	    text[skip] == '\r' || text[skip] == '\n'))
		skip++;
	if (len - skip >= 3 && memcmp(text + skip, "\xef\xbb\xbf", 3) == 0)
		skip += 3;
	if (len - skip < 15 || strncasecmp(text + skip, "BEGIN:VCALENDAR",
	    15) != 0) {
		*errstr_r = "not an iCalendar object";
		return -1;
	}
	if ((buf = malloc(len - skip + 1)) == NULL) {
		*errstr_r = "out of memory";
		return -1;
	}
	memcpy(buf, text + skip, len - skip);
	buf[len - skip] = '\0';
	root = icalparser_parse_string(buf);
	free(buf);
	if (root == NULL || icalcomponent_isa(root) !=
	    ICAL_VCALENDAR_COMPONENT) {
		*errstr_r = "not a VCALENDAR";
		goto out;
	}
	for (c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT);
	    c != NULL;
	    c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
		const char *uid;

		if (!scheduling_kind(icalcomponent_isa(c)))
			continue;
		uid = icalcomponent_get_uid(c);
		if (uid == NULL || *uid == '\0') {
			*errstr_r = "component without UID";
			goto out;
		}
		if (m->components == 0) {
			if (strlen(uid) > ICAL_META_UID_MAX) {
				*errstr_r = "UID too long";
				goto out;
			}
			snprintf(m->uid, sizeof(m->uid), "%s", uid);
		} else if (strcmp(uid, m->uid) != 0) {
			*errstr_r = "components with different UIDs";
			goto out;
		}
		m->components++;
		if (first == NULL)
			first = c;
		if (master == NULL && icalcomponent_get_first_property(c,
		    ICAL_RECURRENCEID_PROPERTY) == NULL)
			master = c;
	}
	if (m->components == 0) {
		*errstr_r = "no event, to-do or journal";
		goto out;
	}
	fill_from(m, master != NULL ? master : first);
	if ((p = icalcomponent_get_first_property(root,
	    ICAL_METHOD_PROPERTY)) != NULL)
		snprintf(m->method, sizeof(m->method), "%s",
		    icalproperty_method_to_string(icalproperty_get_method(p)));
	m->fingerprint = fingerprint(root, 0);
	rc = 0;
out:
	if (root != NULL)
		icalcomponent_free(root);
	return rc;
}
