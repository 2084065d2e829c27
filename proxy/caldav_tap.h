/*
 * caldav_tap.h - the CalDAV capture tap: calendar objects written (PUT),
 * deleted (DELETE) or read (calendar-data in REPORT multistatus answers)
 * become records on crm.calendar.v1 through the capture spool.
 *
 * A side channel (STYLE 3): every call returns at once, nothing here can
 * hold the relay up, and anything that goes wrong (not iCalendar, too
 * large, spool full) is counted and logged, never passed to the client.
 *
 * De-duplication (docs/events.md, "Calendar events"): a worker-shared
 * table remembers, per (tenant, user, href), the fingerprint of the last
 * version published; a version already there is not published again.
 */
#ifndef CRM_PROXY_CALDAV_TAP_H
#define CRM_PROXY_CALDAV_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"

struct caldav_tap_stats {
	uint64_t published;	/* records committed to the spool */
	uint64_t duplicates;	/* versions already published */
	uint64_t refused;	/* not iCalendar / no UID: not published */
	uint64_t too_big;	/* over [caldav] object_max */
	uint64_t dropped;	/* spool full or write error */
	uint64_t blind;		/* answers the tap could not read */
};

/* Parent, before forking workers: maps the shared seen table (entries
 * slots, 0 disables de-duplication).  Returns 0 or -1 (errno). */
int caldav_tap_seen_init(unsigned entries);

/* Worker, after fork and before dropping privileges: opens this worker's
 * spool writer ("cal<slot>") when [caldav] spool_dir is set.  Failure is
 * logged; the proxy then relays without capture. */
void caldav_tap_worker_init(const struct proxy_conf *conf, unsigned slot);
/* Worker exit: logs the counters, seals the spool segment. */
void caldav_tap_worker_fini(void);
bool caldav_tap_enabled(void);
const struct caldav_tap_stats *caldav_tap_stats(void);

/* A calendar object the server accepted (PUT answered 2xx). */
void caldav_tap_put(const char *sid, const char *user, const char *href,
    const uint8_t *ics, size_t len);
/* A calendar object the server deleted (DELETE answered 2xx). */
void caldav_tap_delete(const char *sid, const char *user, const char *href);
/* The request body was larger than object_max: counted only. */
void caldav_tap_count_too_big(void);
/* An answer the tap could not follow (encoding, parse error). */
void caldav_tap_count_blind(void);

/*
 * A multistatus answer (REPORT, PROPFIND) streaming by.  compressed: the
 * body has Content-Encoding gzip or deflate.  Feed decoded (de-chunked)
 * body bytes; end() publishes nothing more and frees.  Each <response>
 * with calendar-data is handled like an object read from the server.
 */
struct caldav_report;
struct caldav_report *caldav_report_new(const char *sid, const char *user,
    bool compressed);
void caldav_report_feed(struct caldav_report *r, const uint8_t *p, size_t n);
void caldav_report_free(struct caldav_report **rp);

#endif
