/*
 * cal_int.h - shared between cal.c and cal_expand.c; not public.
 */
#ifndef CRM_CAL_INT_H
#define CRM_CAL_INT_H

#include <libical/ical.h>

#include "enrich/cal/cal.h"

struct cal_impl {
	icalcomponent *root;
	icalcomponent **comps;	/* the VEVENT of each obj->events[i] */
	icaltimezone *floating;	/* zone for floating times, NULL = UTC */
};

/*
 * Resolves t (the value of prop, inside VEVENT comp) to UTC: DATE values
 * to 00:00 UTC, Z times as they are, TZID from the enclosing VCALENDAR's
 * VTIMEZONEs, then the zoneinfo database, then Windows zone names;
 * otherwise floating.  *zone_r (may be NULL) gets the zone the local
 * time is in (NULL for UTC and DATE).
 */
void cal_resolve(const struct cal_impl *impl, icalcomponent *comp,
    icalproperty *prop, struct icaltimetype t, struct cal_time *out,
    icaltimezone **zone_r);

/* UTC seconds of local time t in zone z (NULL: t is UTC or floating read
 * as UTC; DATE values: 00:00 UTC of the date). */
int64_t cal_local_to_utc(struct icaltimetype t, icaltimezone *z);

#endif
