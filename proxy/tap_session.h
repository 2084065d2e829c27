/*
 * tap_session.h - crm-proxy's side of the capture tap: builds a session's
 * imap_tap from the configuration, logs the audit trail and counts.
 */
#ifndef CRM_TAP_SESSION_H
#define CRM_TAP_SESSION_H

struct session;
struct worker;

/* Worker start (after dropping privileges): opens the spool writer pool
 * when [capture] enabled = yes.  A spool that cannot be opened is logged
 * and capture stays off for this worker: mail still flows. */
void tap_worker_init(struct worker *w);
void tap_worker_fini(struct worker *w);

/* relay_start: s->tap for a logged-in session (left NULL when capture is
 * off). */
void tap_session_start(struct session *s);
void tap_session_end(struct session *s);

#endif
