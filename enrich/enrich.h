/*
 * enrich.h - Kafka records in, PostgreSQL transactions out.
 *
 * crm-enrich's consume loop (crm-enrich.c) hands a batch of records to
 * enrich_process_batch(), which validates each against docs/events.md,
 * parses it (mail_parse / cal_parse) and writes the records of one tenant
 * in one transaction with the tenant set (crm.tenant_id), idempotently: a
 * record processed twice leaves the database as processing it once did.
 * The loop then decides from the results whether to store the offsets,
 * dead-letter records, or retry the batch.
 */
#ifndef CRM_ENRICH_ENRICH_H
#define CRM_ENRICH_ENRICH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENRICH_REASON_MAX 512
#define ENRICH_HEADERS_MAX 64
#define ENRICH_HEADER_VALUE_MAX 4096

struct enrich_event {
	const char *topic;
	int32_t partition;
	int64_t offset;
	const char *key;	/* NUL-terminated copy, or NULL */
	const char *value;
	size_t len;
	size_t nh;
	const char *hname[ENRICH_HEADERS_MAX];
	const char *hvalue[ENRICH_HEADERS_MAX];	/* NUL-terminated */
};

enum enrich_result {
	ENRICH_DONE,		/* written and committed */
	ENRICH_DUPLICATE,	/* already there: nothing changed */
	ENRICH_IGNORED,		/* valid but nothing to store */
	ENRICH_POISON,		/* can never succeed: dead-letter it */
	ENRICH_RETRY,		/* transient (database down, deadlock) */
};
extern const char *const enrich_result_names[];

struct enrich_store;

/* Does not connect yet; conninfo is copied. */
struct enrich_store *enrich_store_new(const char *conninfo);
void enrich_store_free(struct enrich_store **sp);
/*
 * Loads the resolution rules (Public Suffix List, free-mail list; NULL:
 * the defaults of resolve_rules_load()).  Must succeed before the first
 * enrich_process().  Returns 0, or -1 with a reason.
 */
int enrich_store_load_rules(struct enrich_store *s, const char *psl_path,
    const char *freemail_path, char *err, size_t errsize);
/* (Re)connects when needed.  Returns 0, or -1 with a reason (no secrets:
 * libpq's messages name host and user only). */
int enrich_store_connect(struct enrich_store *s, char *err, size_t errsize);

/* One record of a batch. */
struct enrich_item {
	const struct enrich_event *ev;	/* set by the caller */
	bool settled;		/* false from the caller; true once the
				 * result below is final */
	enum enrich_result result;	/* DONE, DUPLICATE, IGNORED, POISON */
	char reason[ENRICH_REASON_MAX];	/* why POISON */
};

/*
 * Processes n records: the records of one tenant in one transaction
 * (records of several tenants: one transaction per tenant, in order of
 * first appearance), in record order within it.  A record that fails
 * (bad input, or a statement the database refuses for that record) is
 * settled as ENRICH_POISON with its reason and the transaction is redone
 * without it, so it never costs the others their writes.
 *
 * Returns ENRICH_DONE when every item is settled (its transaction
 * committed, or it needed none).  Returns ENRICH_RETRY with a reason when
 * a transient failure (connection, deadlock, shutdown) rolled a
 * transaction back: the items not settled were not written; call again
 * with the same items, which skips the settled ones.
 */
enum enrich_result enrich_process_batch(struct enrich_store *s,
    struct enrich_item *items, size_t n, char *reason);

/*
 * One record: enrich_process_batch() with n = 1.  Returns the record's
 * result, or ENRICH_RETRY; on ENRICH_POISON and ENRICH_RETRY a reason is
 * written to reason (ENRICH_REASON_MAX).
 */
enum enrich_result enrich_process(struct enrich_store *s,
    const struct enrich_event *ev, char *reason);

/* First header named name, or NULL. */
const char *enrich_event_header(const struct enrich_event *ev,
    const char *name);

#endif
