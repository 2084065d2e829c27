/*
 * store_int.h - what store.c (the batch, mail) and store_cal.c (calendar
 * objects) share.  Not a public interface: enrich.h is.
 */
#ifndef CRM_ENRICH_STORE_INT_H
#define CRM_ENRICH_STORE_INT_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "enrich/enrich.h"
#include "enrich/resolve.h"

struct cal_object;

struct enrich_store {
	char *conninfo;
	PGconn *conn;
	bool failed;		/* a statement of this transaction failed */
	bool transient;
	int fail_item;		/* the batch item it ran for, or -1 */
	char err[ENRICH_REASON_MAX];
	/* Statements sent in pipeline mode since the last sync, and the
	 * batch item each one runs for (-1: the transaction's own). */
	unsigned piped;
	int *piped_item;
	unsigned piped_cap;
	unsigned txns;		/* transactions on this connection */
	struct resolve_rules *rules;
};

/* The tenant's internal domains, read at the start of a transaction. */
struct tenant_domains {
	const char *v[64];
	size_t n;
};

/*
 * Runs one statement outside pipeline mode.  After the first failure of
 * a transaction every later call is a no-op returning NULL, so a write
 * sequence reads straight through and checks s->failed once at the end;
 * s->err has the reason and s->transient whether retrying may help.
 */
PGresult *store_db(struct enrich_store *s, const char *sql, int n,
    const char *const *p);
void store_db_cmd(struct enrich_store *s, const char *sql, int n,
    const char *const *p);
/* First column of the first row, copied, or NULL. */
char *store_db_value(struct enrich_store *s, const char *sql, int n,
    const char *const *p);

/* resolve_party() with the tenant's domains. */
enum resolve_kind store_party(const struct enrich_store *s,
    const struct tenant_domains *td, const char *address, char *buf,
    size_t size);

/* '{"a","b"}' for a text[] parameter; a NULL element is written NULL.
 * Caller frees. */
char *store_text_array(char *const *v, size_t n);
/* "2026-11-25T22:08:01.123Z" shape, or NULL: a malformed optional header
 * must not turn the whole record into poison. */
const char *store_rfc3339_or_null(const char *s);

/* JSON object of the record's Kafka headers (caller frees). */
char *store_headers_json(const struct enrich_event *ev);

/*
 * store_cal.c: parses the calendar object of ev; NULL with the result
 * (ENRICH_IGNORED for a calendar without events, else ENRICH_POISON with
 * a reason) in *res_r.
 */
struct cal_object *store_cal_parse(const struct enrich_event *ev,
    enum enrich_result *res_r, char *reason);
/*
 * Writes the meetings of obj inside the open transaction (pipeline mode
 * off).  user: the canonical mailbox owner.  A failure is left in
 * s->failed / s->err.
 */
void store_cal_write(struct enrich_store *s, const char *tenant,
    const char *user, const struct tenant_domains *td,
    const struct enrich_event *ev, const struct cal_object *obj);

#endif
