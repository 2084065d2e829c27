/*
 * civil.h - calendar arithmetic without time zones or libc state: the
 * day number of a proleptic Gregorian date, for the date parsers (mail
 * Date headers, iCalendar times, search's --since) that must not depend
 * on timegm() or TZ.
 */
#ifndef CRM_CIVIL_H
#define CRM_CIVIL_H

#include <stdint.h>

/* Days from 1970-01-01 to y-m-d (m 1..12, d 1..31, not checked against
 * the month); negative before 1970.  Exact for any int32 year. */
int64_t civil_days(int64_t y, int64_t m, int64_t d);

#endif
