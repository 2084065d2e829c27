/*
 * store.c - enrich_process_batch(): a batch of records, one transaction
 * per tenant.  See enrich.h.
 *
 * Round trips: one to open the transaction (tenant setting, tenants row,
 * the mailbox owners' domains, the tenant's internal domains), then one
 * pipeline with a crm_store_message() call per mail record and the
 * COMMIT.  crm_store_message() (enrich/sql/0013) runs the statements of
 * one message with plans cached for the session; the call itself is a
 * prepared statement.  Calendar records (few) run their statements one by
 * one in the same transaction (store_cal.c).
 *
 * Idempotency: crm_store_message() looks the idempotency key up first.
 * When the row already exists (a replay, a re-sent record, the same
 * message seen in another mailbox, also earlier in the same batch) it
 * returns NULL and writes nothing, so threads, contacts and counters are
 * touched exactly once per key.  If two instances race on one key, the
 * second one's INSERT (ON CONFLICT DO NOTHING) waits for the first
 * transaction, then the call undoes its thread lookup and returns NULL;
 * when their batches wait on each other, one gets a deadlock error,
 * which is transient: its batch is rolled back and retried.  Meetings
 * are keyed on (tenant, UID) and only move forward in SEQUENCE, so
 * replaying a calendar record rewrites the same values.
 *
 * A record the database refuses (a constraint, a value out of range)
 * fails its statement, and with it the transaction: the transaction is
 * rolled back, the record is settled as poison, and the transaction is
 * redone without it.  A failure that cannot be pinned on one record (the
 * COMMIT itself) makes every record of the batch go alone.
 *
 * Tenant isolation: every transaction starts with set_config(
 * 'crm.tenant_id', tenant, true), transaction-local, so a pooled or
 * reused connection never carries one tenant's setting into the next
 * transaction; the row-level-security policies do the rest.  Only the
 * records of that tenant run in it.
 */
#include "enrich/enrich.h"
#include "enrich/store_int.h"

#include <ctype.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrich/cal/cal.h"
#include "enrich/ident/ident.h"
#include "enrich/mail_parse.h"
#include "enrich/resolve.h"
#include "enrich/textutil.h"
#include "lib/xmalloc.h"

#define STORE_MESSAGE_NPARAMS 43
#define STORE_MESSAGE_SQL "SELECT crm_store_message($1, $2, $3, $4, $5, " \
	"$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, " \
	"$20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, " \
	"$33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43)"

const char *const enrich_result_names[] = {
	"done", "duplicate", "ignored", "poison", "retry",
};


struct enrich_store *
enrich_store_new(const char *conninfo)
{
	struct enrich_store *s = xcalloc(1, sizeof(*s));

	s->conninfo = xstrdup(conninfo);
	return s;
}

void
enrich_store_free(struct enrich_store **sp)
{
	struct enrich_store *s = *sp;

	if (s == NULL)
		return;
	if (s->conn != NULL)
		PQfinish(s->conn);
	free(s->piped_item);
	resolve_rules_free(&s->rules);
	free(s->conninfo);
	x_free(sp);
}

int
enrich_store_load_rules(struct enrich_store *s, const char *psl_path,
    const char *freemail_path, char *err, size_t errsize)
{
	const char *e;

	resolve_rules_free(&s->rules);
	if ((s->rules = resolve_rules_load(psl_path, freemail_path, &e)) ==
	    NULL) {
		snprintf(err, errsize, "%s", e);
		return -1;
	}
	return 0;
}

int
enrich_store_connect(struct enrich_store *s, char *err, size_t errsize)
{
	PGresult *r;

	if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	if (s->conn != NULL)
		PQfinish(s->conn);
	s->conn = PQconnectdb(s->conninfo);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		snprintf(err, errsize, "%s", PQerrorMessage(s->conn));
		err[strcspn(err, "\n")] = '\0';
		PQfinish(s->conn);
		s->conn = NULL;
		return -1;
	}
	r = PQexec(s->conn, "SET application_name = 'crm-enrich'");
	PQclear(r);
	/* The one statement of every mail record: parsed and planned once
	 * per connection. */
	r = PQprepare(s->conn, "crm_store_message", STORE_MESSAGE_SQL,
	    STORE_MESSAGE_NPARAMS, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errsize, "preparing crm_store_message() (is "
		    "the schema migrated?): %s", PQresultErrorMessage(r));
		err[strcspn(err, "\n")] = '\0';
		PQclear(r);
		PQfinish(s->conn);
		s->conn = NULL;
		return -1;
	}
	PQclear(r);
	s->txns = 0;
	return 0;
}

const char *
enrich_event_header(const struct enrich_event *ev, const char *name)
{
	for (size_t i = 0; i < ev->nh; i++)
		if (strcmp(ev->hname[i], name) == 0)
			return ev->hvalue[i];
	return NULL;
}

/* SQLSTATE classes worth retrying: connection (08), transaction rollback
 * (40: serialization, deadlock), resources (53), operator intervention
 * (57: shutdown, cancel), system (58), lock not available (55P03). */
static bool
sqlstate_transient(const char *st)
{
	if (st == NULL)
		return true;	/* no answer at all: the connection broke */
	return strncmp(st, "08", 2) == 0 || strncmp(st, "40", 2) == 0 ||
	    strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	    strncmp(st, "58", 2) == 0 || strcmp(st, "55P03") == 0;
}

PGresult *
store_db(struct enrich_store *s, const char *sql, int n,
    const char *const *p)
{
	PGresult *r;
	ExecStatusType st;

	if (s->failed)
		return NULL;
	r = PQexecParams(s->conn, sql, n, NULL, p, NULL, NULL, 0);
	st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	s->failed = true;
	s->transient = PQstatus(s->conn) != CONNECTION_OK ||
	    sqlstate_transient(PQresultErrorField(r, PG_DIAG_SQLSTATE));
	snprintf(s->err, sizeof(s->err), "database: %s%s%s",
	    PQresultErrorField(r, PG_DIAG_SQLSTATE) ?
	    PQresultErrorField(r, PG_DIAG_SQLSTATE) : "", 
	    PQresultErrorField(r, PG_DIAG_SQLSTATE) ? " " : "",
	    PQresultErrorMessage(r));
	s->err[strcspn(s->err, "\n")] = '\0';
	PQclear(r);
	return NULL;
}

void
store_db_cmd(struct enrich_store *s, const char *sql, int n,
    const char *const *p)
{
	PGresult *r = store_db(s, sql, n, p);

	if (r != NULL)
		PQclear(r);
}

char *
store_db_value(struct enrich_store *s, const char *sql, int n,
    const char *const *p)
{
	PGresult *r = store_db(s, sql, n, p);
	char *v = NULL;

	if (r == NULL)
		return NULL;
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static enum enrich_result
poison(char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum enrich_result
poison(char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, ENRICH_REASON_MAX, fmt, ap);
	va_end(ap);
	return ENRICH_POISON;
}

static bool
all_digits(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++, n++)
		if (!isdigit((unsigned char)*s) || n >= max)
			return false;
	return true;
}

const char *
store_rfc3339_or_null(const char *s)
{
	if (s == NULL || strlen(s) < 20 || strlen(s) > 35)
		return NULL;
	for (int i = 0; i < 19; i++) {
		char c = s[i];
		bool digit = isdigit((unsigned char)c);
		if ((i == 4 || i == 7) ? c != '-' : i == 10 ? c != 'T' &&
		    c != 't' && c != ' ' : (i == 13 || i == 16) ? c != ':' :
		    !digit)
			return NULL;
	}
	return s;
}

char *
store_headers_json(const struct enrich_event *ev)
{
	json_t *o = json_object();
	char *s, *out;

	for (size_t i = 0; i < ev->nh; i++) {
		char *v = text_utf8_clean(ev->hvalue[i], strlen(ev->hvalue[i]),
		    ENRICH_HEADER_VALUE_MAX);
		char *k = text_utf8_clean(ev->hname[i], strlen(ev->hname[i]),
		    256);
		if (json_object_get(o, k) == NULL)
			json_object_set_new(o, k, json_string(v));
		free(v);
		free(k);
	}
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	out = xstrdup(s ? s : "{}");
	free(s);
	return out;
}

/* Common envelope checks (docs/events.md): tenant, user, key. */
static enum enrich_result
check_envelope(const struct enrich_event *ev, const char **tenant_r,
    char **user_r, char *reason)
{
	const char *tenant = enrich_event_header(ev, "tenant");
	const char *user = enrich_event_header(ev, "user");
	const char *dom;
	size_t tl;

	if (tenant == NULL || *tenant == '\0')
		return poison(reason, "missing tenant header");
	tl = strlen(tenant);
	if (tl > 200 || strchr(tenant, '/') != NULL) {
		return poison(reason, "invalid tenant header");
	}
	{
		char *c = text_utf8_clean(tenant, tl, 256);
		bool ok = strcmp(c, tenant) == 0;
		free(c);
		if (!ok)
			return poison(reason, "tenant header is not UTF-8");
	}
	if (user == NULL || *user == '\0')
		return poison(reason, "missing user header");
	if (ev->key == NULL || strncmp(ev->key, tenant, tl) != 0 ||
	    ev->key[tl] != '/' || strcasecmp(ev->key + tl + 1, user) != 0)
		return poison(reason, "key is not <tenant>/<user> of the "
		    "tenant and user headers");
	if (ev->len == 0)
		return poison(reason, "empty value");
	*user_r = text_address_canon(user, &dom);
	if (*user_r == NULL) {
		/* Not every provider login is an address ("alice"). */
		*user_r = text_utf8_clean(user, strlen(user), 320);
		for (char *c = *user_r; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	*tenant_r = tenant;
	return ENRICH_DONE;
}

/*
 * Pipeline mode (libpq 14+): statements whose results the next statement
 * does not need are sent back to back and read after one sync, one round
 * trip for all.  An error makes the server skip the rest up to the sync
 * and leaves the transaction failed; the caller rolls it back.
 */
static void
pipe_broken(struct enrich_store *s)
{
	s->failed = true;
	s->transient = true;
	snprintf(s->err, sizeof(s->err), "database: %s",
	    s->conn != NULL ? PQerrorMessage(s->conn) : "no connection");
	s->err[strcspn(s->err, "\n")] = '\0';
	/* The pipeline state is unknown: drop the connection; the next
	 * batch reconnects. */
	if (s->conn != NULL)
		PQfinish(s->conn);
	s->conn = NULL;
}

static void
pipe_begin(struct enrich_store *s)
{
	s->piped = 0;
	if (!s->failed && (s->conn == NULL ||
	    PQenterPipelineMode(s->conn) != 1))
		pipe_broken(s);
}

static void
pipe_note(struct enrich_store *s, int item)
{
	if (s->piped == s->piped_cap) {
		s->piped_cap = s->piped_cap ? s->piped_cap * 2 : 64;
		s->piped_item = xreallocarray(s->piped_item, s->piped_cap,
		    sizeof(*s->piped_item));
	}
	s->piped_item[s->piped++] = item;
}

/* item: the batch item the statement runs for, -1 for none. */
static void
pipe_send(struct enrich_store *s, const char *sql, int n,
    const char *const *p, int item)
{
	if (s->failed)
		return;
	/* libpq copies the parameters into its output buffer here. */
	if (PQsendQueryParams(s->conn, sql, n, NULL, p, NULL, NULL, 0) != 1)
		pipe_broken(s);
	else
		pipe_note(s, item);
}

static void
pipe_send_prepared(struct enrich_store *s, const char *name, int n,
    const char *const *p, int item)
{
	if (s->failed)
		return;
	if (PQsendQueryPrepared(s->conn, name, n, p, NULL, NULL, 0) != 1)
		pipe_broken(s);
	else
		pipe_note(s, item);
}

/*
 * Sends the sync and reads every result.  values (NULL, or s->piped
 * entries, all NULL) gets for each statement a copy of the first column
 * of its single row, NULL for SQL NULL or no row.  The first error sets
 * s->failed, s->err, s->transient and s->fail_item.
 */
static void
pipe_end(struct enrich_store *s, char **values)
{
	PGresult *r;

	/* Not entered (an earlier statement failed): nothing was sent. */
	if (s->conn == NULL || PQpipelineStatus(s->conn) == PQ_PIPELINE_OFF)
		return;
	if (PQpipelineSync(s->conn) != 1) {
		pipe_broken(s);
		return;
	}
	for (unsigned i = 0; i < s->piped; i++) {
		while ((r = PQgetResult(s->conn)) != NULL) {
			ExecStatusType st = PQresultStatus(r);

			if (st == PGRES_FATAL_ERROR && !s->failed) {
				const char *state = PQresultErrorField(r,
				    PG_DIAG_SQLSTATE);
				s->failed = true;
				s->fail_item = s->piped_item[i];
				s->transient = PQstatus(s->conn) !=
				    CONNECTION_OK || sqlstate_transient(state);
				snprintf(s->err, sizeof(s->err), "database: "
				    "%s %s", state ? state : "",
				    PQresultErrorMessage(r));
				s->err[strcspn(s->err, "\n")] = '\0';
			} else if (values != NULL && st == PGRES_TUPLES_OK &&
			    PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
			    values[i] == NULL)
				values[i] = xstrdup(PQgetvalue(r, 0, 0));
			PQclear(r);
		}
	}
	if ((r = PQgetResult(s->conn)) != NULL)	/* the sync point */
		PQclear(r);
	if (PQexitPipelineMode(s->conn) != 1)
		pipe_broken(s);
}

static void
rollback(struct enrich_store *s)
{
	if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK)
		PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* The tenant's domains from " a b c " (modified in place). */
static void
split_domains(char *list, struct tenant_domains *td)
{
	char *save = NULL;

	td->n = 0;
	for (char *t = strtok_r(list, " ", &save); t != NULL &&
	    td->n < sizeof(td->v) / sizeof(td->v[0]);
	    t = strtok_r(NULL, " ", &save))
		td->v[td->n++] = t;
}

enum resolve_kind
store_party(const struct enrich_store *s, const struct tenant_domains *td,
    const char *address, char *buf, size_t size)
{
	return resolve_party(s->rules, address, td->v, td->n, buf, size);
}

char *
store_text_array(char *const *v, size_t n)
{
	/* '{"a","b",NULL}' with " and \ escaped. */
	size_t cap = 3;
	char *out, *o;

	for (size_t i = 0; i < n; i++)
		cap += (v[i] != NULL ? strlen(v[i]) * 2 : 4) + 3;
	out = o = xmalloc(cap);
	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*o++ = ',';
		if (v[i] == NULL) {
			memcpy(o, "NULL", 4);
			o += 4;
			continue;
		}
		*o++ = '"';
		for (const char *c = v[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*o++ = '\\';
			*o++ = *c;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return out;
}

/* '{t,f}' for a boolean[] parameter.  Caller frees. */
static char *
bool_array(const bool *v, size_t n)
{
	char *out = xmalloc(2 * n + 3), *o = out;

	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*o++ = ',';
		*o++ = v[i] ? 't' : 'f';
	}
	*o++ = '}';
	*o = '\0';
	return out;
}
/*
 * Thread key of a subject: ident_subject_base() folded.  *had_prefix_r:
 * something (a reply/forward prefix, a list tag) was taken off, so this
 * is not the thread's first message.  Caller frees.
 */
static char *
subject_key(const char *subject, bool *had_prefix_r)
{
	size_t len = strlen(subject), n = 0;
	char *norm = xmalloc(len + 1), *plain = xmalloc(len + 1);
	bool space = true;

	ident_subject_base(subject, len, true, norm, len + 1);
	/* The subject with only white space collapsed and ASCII folded. */
	for (const char *c = subject; *c != '\0'; c++) {
		if (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n') {
			space = true;
			continue;
		}
		if (space && n > 0)
			plain[n++] = ' ';
		space = false;
		plain[n++] = (char)tolower((unsigned char)*c);
	}
	plain[n] = '\0';
	*had_prefix_r = strcmp(norm, plain) != 0;
	free(plain);
	return norm;
}

/* One record of a batch, parsed, waiting for its transaction. */
struct prep {
	struct enrich_item *it;
	const char *tenant;	/* the record's header */
	char *user;		/* canonical mailbox owner */
	bool mail;		/* else a calendar object */
	bool duplicate;		/* crm_store_message() said so */
	struct mail_parsed mp;
	struct cal_object *obj;
};

static void
settle(struct enrich_item *it, enum enrich_result r, const char *why)
{
	it->settled = true;
	it->result = r;
	snprintf(it->reason, sizeof(it->reason), "%s", why ? why : "");
}

static void
prep_fini(struct prep *p)
{
	free(p->user);
	p->user = NULL;
	if (p->mail)
		mail_parsed_fini(&p->mp);
	cal_object_free(&p->obj);
}

/*
 * Everything that needs no database: the schema, the envelope, the
 * payload parsed.  Returns true when the record must be written; else it
 * is settled (poison or ignored).
 */
static bool
prep_item(struct prep *p)
{
	const struct enrich_event *ev = p->it->ev;
	const char *schema = enrich_event_header(ev, "schema");
	char reason[ENRICH_REASON_MAX];
	enum enrich_result res;
	const char *errstr, *method;

	memset(&p->mp, 0, sizeof(p->mp));
	/* The schema header names the payload (docs/events.md); the topic
	 * name is the fallback, so renamed topics still work. */
	if (schema != NULL ? strncmp(schema, "crm.mail/1", 10) == 0 &&
	    (schema[10] == '\0' || schema[10] == '.') :
	    strcmp(ev->topic, "crm.mail.v1") == 0)
		p->mail = true;
	else if (!(schema != NULL ? strncmp(schema, "crm.calendar/1", 14) ==
	    0 && (schema[14] == '\0' || schema[14] == '.') :
	    strcmp(ev->topic, "crm.calendar.v1") == 0)) {
		poison(reason, "no handler for schema %s on topic %s",
		    schema ? schema : "(none)", ev->topic);
		settle(p->it, ENRICH_POISON, reason);
		return false;
	}
	/* A CalDAV DELETE (docs/events.md: no value) takes the object out
	 * of one user's calendar only.  The meeting stays: the others still
	 * hold it, and a cancellation travels as STATUS:CANCELLED or
	 * METHOD:CANCEL in a PUT or an invitation. */
	if (!p->mail && ev->len == 0 && (method = enrich_event_header(ev,
	    "http-method")) != NULL && strcmp(method, "DELETE") == 0) {
		settle(p->it, ENRICH_IGNORED, "");
		return false;
	}
	if (check_envelope(ev, &p->tenant, &p->user, reason) != ENRICH_DONE) {
		settle(p->it, ENRICH_POISON, reason);
		return false;
	}
	if (p->mail) {
		const char *idkey = enrich_event_header(ev, "idempotency-key");

		if (idkey == NULL || strlen(idkey) != 64 ||
		    strspn(idkey, "0123456789abcdef") != 64) {
			settle(p->it, ENRICH_POISON,
			    "missing or malformed idempotency-key");
			return false;
		}
		if (mail_parse(ev->value, ev->len, &p->mp, &errstr) != 0) {
			settle(p->it, ENRICH_POISON, errstr);
			return false;
		}
		return true;
	}
	if ((p->obj = store_cal_parse(ev, &res, reason)) == NULL) {
		settle(p->it, res, reason);
		return false;
	}
	return true;
}

/* Queues the crm_store_message() call of one mail record (item). */
static void
mail_send(struct enrich_store *s, const struct tenant_domains *td,
    struct prep *pr, int item)
{
	const struct enrich_event *ev = pr->it->ev;
	const struct mail_parsed *mp = &pr->mp;
	const char *direction = enrich_event_header(ev, "direction");
	const char *uid = enrich_event_header(ev, "uid");
	const char *uidv = enrich_event_header(ev, "uidvalidity");
	const char *mbox = enrich_event_header(ev, "mailbox");
	const char *src = enrich_event_header(ev, "source");
	size_t na = mp->naddrs, nt = mp->natts, np = 0;
	char part[32], off[32], size[32], sigpos[16];
	char *hdrs, *refs, *parents = NULL, *norm = NULL, *mbox_c, *src_c;
	char *key_c, *roles, *addrs, *doms, *names, *robot_a, *internal_a;
	char *accounts, *att_names, *att_types, *att_sizes, *att_sha;
	char **v = xcalloc(na + nt + mp->nrefs + 2, sizeof(*v));
	char (*acct)[256] = xcalloc(na + 1, sizeof(*acct));
	bool *robot = xcalloc(na + 1, sizeof(*robot));
	bool *internal = xcalloc(na + 1, sizeof(*internal));
	bool had_prefix = false, adopt, sig = false;
	char *sz;

	if (direction == NULL || (strcmp(direction, "in") != 0 &&
	    strcmp(direction, "out") != 0 && strcmp(direction, "draft") != 0))
		direction = "other";
	snprintf(part, sizeof(part), "%d", (int)ev->partition);
	snprintf(off, sizeof(off), "%lld", (long long)ev->offset);
	snprintf(size, sizeof(size), "%zu", ev->len);
	hdrs = store_headers_json(ev);
	refs = store_text_array(mp->refs, mp->nrefs);
	mbox_c = mbox ? text_utf8_clean(mbox, strlen(mbox), 1024) : NULL;
	src_c = src ? text_utf8_clean(src, strlen(src), 64) : NULL;
	key_c = text_utf8_clean(ev->key, strlen(ev->key), 1024);

	/* Known parents: In-Reply-To first, then References from the
	 * newest. */
	if (mp->in_reply_to != NULL || mp->nrefs > 0) {
		if (mp->in_reply_to != NULL)
			v[np++] = mp->in_reply_to;
		for (size_t i = mp->nrefs; i > 0; i--)
			v[np++] = mp->refs[i - 1];
		parents = store_text_array(v, np);
	}
	if (mp->subject != NULL)
		norm = subject_key(mp->subject, &had_prefix);
	adopt = mp->in_reply_to == NULL && mp->nrefs == 0 && norm != NULL &&
	    !had_prefix && *norm != '\0';

	/* Participants.  Machines (a no-reply local part, or a sender
	 * whose headers say the message is automated) get no contact. */
	for (size_t i = 0; i < na; i++) {
		const struct mail_addr *a = &mp->addrs[i];
		enum resolve_kind k = store_party(s, td, a->address, acct[i],
		    sizeof(acct[i]));

		robot[i] = k == RESOLVE_NOREPLY || k == RESOLVE_INVALID ||
		    (a->role == MAIL_ROLE_FROM && mp->auto_reasons != 0);
		internal[i] = k == RESOLVE_INTERNAL;
		if (k != RESOLVE_COMPANY)
			acct[i][0] = '\0';
		/* What the sender's signature says about them. */
		if (!sig && !robot[i] && a->role == MAIL_ROLE_FROM &&
		    (mp->sig.title != NULL || mp->sig.phone != NULL ||
		    mp->sig.company != NULL)) {
			sig = true;
			snprintf(sigpos, sizeof(sigpos), "%zu", i);
		}
	}
	for (size_t i = 0; i < na; i++)
		v[i] = (char *)mail_role_names[mp->addrs[i].role];
	roles = store_text_array(v, na);
	for (size_t i = 0; i < na; i++)
		v[i] = mp->addrs[i].address;
	addrs = store_text_array(v, na);
	for (size_t i = 0; i < na; i++)
		v[i] = (char *)mp->addrs[i].domain;
	doms = store_text_array(v, na);
	for (size_t i = 0; i < na; i++)
		v[i] = mp->addrs[i].display_name;
	names = store_text_array(v, na);
	for (size_t i = 0; i < na; i++)
		v[i] = acct[i][0] != '\0' ? acct[i] : NULL;
	accounts = store_text_array(v, na);
	robot_a = bool_array(robot, na);
	internal_a = bool_array(internal, na);

	for (size_t i = 0; i < nt; i++)
		v[i] = mp->atts[i].filename;
	att_names = store_text_array(v, nt);
	for (size_t i = 0; i < nt; i++)
		v[i] = mp->atts[i].content_type;
	att_types = store_text_array(v, nt);
	for (size_t i = 0; i < nt; i++)
		v[i] = mp->atts[i].sha256;
	att_sha = store_text_array(v, nt);
	att_sizes = sz = xmalloc(nt * 22 + 3);
	*sz++ = '{';
	for (size_t i = 0; i < nt; i++)
		sz += snprintf(sz, 23, "%s%llu", i > 0 ? "," : "",
		    (unsigned long long)mp->atts[i].size);
	*sz++ = '}';
	*sz = '\0';

	{
		const char *p[STORE_MESSAGE_NPARAMS] = {
			pr->tenant, enrich_event_header(ev, "idempotency-key"),
			mp->message_id, mp->in_reply_to, refs, mp->subject,
			mp->date, direction, pr->user, mbox_c,
			all_digits(uid, 18) ? uid : NULL,
			all_digits(uidv, 18) ? uidv : NULL, src_c,
			store_rfc3339_or_null(enrich_event_header(ev,
			    "observed-at")),
			size, mp->body_text, ev->topic, part, off, key_c, hdrs,
			mp->body_quoted, mp->body_signature,
			mp->body_disclaimer,
			parents, norm, had_prefix ? "t" : "f",
			adopt ? "t" : "f",
			roles, addrs, doms, names, robot_a, internal_a,
			accounts, sig ? sigpos : NULL, mp->sig.title,
			mp->sig.phone, mp->sig.company,
			att_names, att_types, att_sizes, att_sha,
		};
		pipe_send_prepared(s, "crm_store_message",
		    STORE_MESSAGE_NPARAMS, p, item);
	}
	free(att_sizes);
	free(att_sha);
	free(att_types);
	free(att_names);
	free(internal_a);
	free(robot_a);
	free(accounts);
	free(names);
	free(doms);
	free(addrs);
	free(roles);
	free(internal);
	free(robot);
	free(acct);
	free(v);
	free(key_c);
	free(src_c);
	free(mbox_c);
	free(norm);
	free(parents);
	free(refs);
	free(hdrs);
}

/* pipe_end(), then each mail record's verdict from its call's result:
 * the new message's id, or NULL for a duplicate. */
static void
pipe_flush(struct enrich_store *s, struct prep *pv)
{
	unsigned n = s->piped;
	char **values = xcalloc(n + 1, sizeof(*values));

	pipe_end(s, values);
	for (unsigned i = 0; i < n && !s->failed; i++)
		if (s->piped_item[i] >= 0)
			pv[s->piped_item[i]].duplicate = values[i] == NULL;
	for (unsigned i = 0; i < n; i++)
		free(values[i]);
	free(values);
	s->piped = 0;
}

/*
 * Opens the transaction of the n records pv (one tenant) and reads the
 * tenant's domains as " a b c " (caller frees); NULL after a failure.
 * The mailbox owners' domains are internal domains from now on.
 */
static char *
txn_begin(struct enrich_store *s, const char *tenant, const struct prep *pv,
    size_t n)
{
	char **doms = xcalloc(n + 1, sizeof(*doms)), *arr, *v[6] = { NULL };
	size_t nd = 0;
	unsigned nv;

	for (size_t i = 0; i < n; i++) {
		const char *at;

		if (pv[i].it->settled)
			continue;
		at = strrchr(pv[i].user, '@');
		if (at != NULL && at[1] != '\0')
			doms[nd++] = (char *)at + 1;
	}
	arr = store_text_array(doms, nd);
	s->failed = false;
	s->transient = false;
	s->fail_item = -1;
	pipe_begin(s);
	{
		const char *p[2] = { tenant, arr };

		/* Cached plans (crm_store_message()'s statements, the
		 * foreign-key checks) were made for the tables' sizes when
		 * they were first used.  A young table - a new install, a
		 * backfill - outgrows them long before autovacuum analyzes
		 * it, and a plan made for 10 rows scans 100,000.  The
		 * planner sees a table's current size, so planning again
		 * is enough: at the 4th, 8th, 16th ... transaction of a
		 * connection, and every 4096th, so no plan is older than
		 * twice the work done since it was made. */
		s->txns++;
		if (s->txns >= 4 && ((s->txns & (s->txns - 1)) == 0 ||
		    s->txns % 4096 == 0))
			pipe_send(s, "DISCARD PLANS", 0, NULL, -1);
		pipe_send(s, "BEGIN", 0, NULL, -1);
		pipe_send(s, "SELECT set_config('crm.tenant_id', $1, true)",
		    1, p, -1);
		pipe_send(s, "INSERT INTO tenants (tenant_id) VALUES ($1) ON "
		    "CONFLICT DO NOTHING", 1, p, -1);
		pipe_send(s, "INSERT INTO tenant_domains (tenant_id, domain) "
		    "SELECT $1, d FROM unnest($2::text[]) AS d ON CONFLICT DO "
		    "NOTHING", 2, p, -1);
		pipe_send(s, "SELECT ' ' || COALESCE(string_agg(domain, ' '), "
		    "'') || ' ' FROM tenant_domains WHERE tenant_id = $1", 1,
		    p, -1);
	}
	nv = s->piped;
	pipe_end(s, v);
	s->piped = 0;
	free(arr);
	free(doms);
	for (unsigned i = 0; i + 1 < nv; i++)
		free(v[i]);
	if (s->failed || v[nv - 1] == NULL) {
		s->failed = true;
		free(v[nv - 1]);
		return NULL;
	}
	return v[nv - 1];
}

/*
 * The n records pv of one tenant: one transaction, redone without a
 * record that fails.  Returns ENRICH_DONE when all are settled, or
 * ENRICH_RETRY with a reason.
 */
static enum enrich_result
run_tenant(struct enrich_store *s, struct prep *pv, size_t n, char *reason)
{
	for (;;) {
		struct tenant_domains td;
		size_t live = 0;
		char *domains;

		for (size_t i = 0; i < n; i++)
			live += !pv[i].it->settled;
		if (live == 0)
			return ENRICH_DONE;
		if ((domains = txn_begin(s, pv[0].tenant, pv, n)) != NULL) {
			split_domains(domains, &td);
			pipe_begin(s);
			for (size_t i = 0; i < n && !s->failed; i++) {
				if (pv[i].it->settled)
					continue;
				if (pv[i].mail) {
					mail_send(s, &td, &pv[i], (int)i);
					continue;
				}
				pipe_flush(s, pv);
				store_cal_write(s, pv[i].tenant, pv[i].user,
				    &td, pv[i].it->ev, pv[i].obj);
				if (s->failed && s->fail_item < 0)
					s->fail_item = (int)i;
				pipe_begin(s);
			}
			pipe_send(s, "COMMIT", 0, NULL, -1);
			pipe_flush(s, pv);
			free(domains);
		}
		if (!s->failed) {
			for (size_t i = 0; i < n; i++)
				if (!pv[i].it->settled)
					settle(pv[i].it, pv[i].mail &&
					    pv[i].duplicate ? ENRICH_DUPLICATE :
					    ENRICH_DONE, NULL);
			return ENRICH_DONE;
		}
		rollback(s);
		if (s->transient) {
			snprintf(reason, ENRICH_REASON_MAX, "%s", s->err);
			return ENRICH_RETRY;
		}
		if (s->fail_item >= 0) {
			/* That record's own statement: the others go on
			 * without it. */
			settle(pv[s->fail_item].it, ENRICH_POISON, s->err);
			continue;
		}
		if (live == 1) {
			for (size_t i = 0; i < n; i++)
				if (!pv[i].it->settled)
					settle(pv[i].it, ENRICH_POISON, s->err);
			return ENRICH_DONE;
		}
		/* Not one record's fault (the opening statements or the
		 * COMMIT): each record alone finds out which. */
		for (size_t i = 0; i < n; i++)
			if (!pv[i].it->settled &&
			    run_tenant(s, &pv[i], 1, reason) == ENRICH_RETRY)
				return ENRICH_RETRY;
		return ENRICH_DONE;
	}
}

static bool
same_tenant(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

enum enrich_result
enrich_process_batch(struct enrich_store *s, struct enrich_item *items,
    size_t n, char *reason)
{
	struct prep *pv = xcalloc(n + 1, sizeof(*pv));
	struct prep *grp = xcalloc(n + 1, sizeof(*grp));
	bool *taken = xcalloc(n + 1, sizeof(*taken));
	enum enrich_result res = ENRICH_DONE;
	char err[ENRICH_REASON_MAX];
	size_t np = 0, ng = 0;

	reason[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (items[i].settled)
			continue;
		pv[np].it = &items[i];
		if (prep_item(&pv[np]))
			np++;
		else
			prep_fini(&pv[np]);
	}
	if (np > 0 && enrich_store_connect(s, err, sizeof(err)) != 0) {
		snprintf(reason, ENRICH_REASON_MAX, "database: %s", err);
		res = ENRICH_RETRY;
		goto out;
	}
	/* Tenants in order of first appearance, each its records in
	 * record order. */
	for (size_t i = 0; i < np && res == ENRICH_DONE; i++) {
		size_t first = ng;

		if (taken[i])
			continue;
		for (size_t j = i; j < np; j++)
			if (!taken[j] && same_tenant(pv[i].tenant,
			    pv[j].tenant)) {
				grp[ng++] = pv[j];
				taken[j] = true;
			}
		res = run_tenant(s, grp + first, ng - first, reason);
	}
out:
	/* Each prep is in pv or, once grouped, in grp: free it once. */
	for (size_t i = 0; i < np; i++)
		if (!taken[i])
			prep_fini(&pv[i]);
	for (size_t i = 0; i < ng; i++)
		prep_fini(&grp[i]);
	free(taken);
	free(grp);
	free(pv);
	return res;
}

enum enrich_result
enrich_process(struct enrich_store *s, const struct enrich_event *ev,
    char *reason)
{
	struct enrich_item it;
	enum enrich_result r;

	memset(&it, 0, sizeof(it));
	it.ev = ev;
	if ((r = enrich_process_batch(s, &it, 1, reason)) == ENRICH_RETRY)
		return r;
	if (it.result == ENRICH_POISON)
		snprintf(reason, ENRICH_REASON_MAX, "%s", it.reason);
	return it.result;
}
