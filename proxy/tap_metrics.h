/*
 * tap_metrics.h - the capture tap's counters, shared by all workers.
 *
 * One anonymous shared mapping made by the parent before it forks (like
 * limits.h), so counters survive a worker's restart; workers add with
 * relaxed atomics, the parent reads them and rewrites a Prometheus text
 * file (node_exporter's textfile format) together with the spool's own
 * counters from DIR/spool.shm.
 */
#ifndef CRM_TAP_METRICS_H
#define CRM_TAP_METRICS_H

#include <stdint.h>

#include "capture/spool.h"

enum tap_metric {
	TAP_M_CAPTURED,		/* whole messages committed to the spool */
	TAP_M_HEADERS_ONLY,	/* committed without body (policy) */
	TAP_M_SEEN,		/* seen notices committed */
	TAP_M_BLOCKED,		/* dropped by policy */
	TAP_M_ABORTED,		/* APPEND refused / message cut short */
	TAP_M_REFUSED,		/* lost: spool full, too big, I/O error */
	TAP_M_BLIND,		/* sessions whose tap went blind */
	TAP_M_SESSIONS,		/* sessions tapped */
	TAP_M_BYTES,		/* message bytes committed */
	TAP_M_COUNT,
};

/* Parent, before forking: maps the region.  Returns 0 or -1 (errno). */
int tap_metrics_init(void);
/* No-ops before tap_metrics_init(). */
void tap_metrics_add(enum tap_metric m, uint64_t n);
uint64_t tap_metrics_get(enum tap_metric m);

/*
 * Writes every counter to path (via path.tmp and rename, so readers never
 * see half a file).  spool may be NULL (no spool counters).  Returns 0 or
 * -1 with errno.
 */
int tap_metrics_write(const char *path, const struct spool_counters *spool);

#endif
