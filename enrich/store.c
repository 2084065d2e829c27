/*
 * store.c - enrich_process(): one record, one transaction.  See enrich.h.
 *
 * Idempotency: messages are inserted first, with ON CONFLICT (tenant_id,
 * idempotency_key) DO NOTHING.  When the row already exists (a replay, a
 * re-sent record, or the same message seen in another mailbox) the
 * transaction ends there, so threads, contacts and counters are touched
 * exactly once per key.  If two instances race on one key, the second
 * INSERT waits for the first transaction and then does nothing.
 * Meetings are keyed on (tenant, UID) and only move forward in SEQUENCE,
 * so replaying a calendar record rewrites the same values.
 *
 * Tenant isolation: every transaction starts with set_config(
 * 'crm.tenant_id', tenant, true), transaction-local, so a pooled or
 * reused connection never carries one tenant's setting into the next
 * record; the row-level-security policies do the rest.
 */
#include "enrich/enrich.h"

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

#define THREAD_SUBJECT_DAYS "30"

const char *const enrich_result_names[] = {
	"done", "duplicate", "ignored", "poison", "retry",
};

struct enrich_store {
	char *conninfo;
	PGconn *conn;
	bool failed;		/* a statement of this transaction failed */
	bool transient;
	unsigned piped;		/* statements sent in pipeline mode */
	bool committed;		/* COMMIT went out in the last pipeline */
	char err[ENRICH_REASON_MAX];
	struct resolve_rules *rules;
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

/*
 * Runs one statement.  After the first failure every later call is a
 * no-op returning NULL, so a write sequence reads straight through and
 * checks s->failed once at the end.
 */
static PGresult *
db(struct enrich_store *s, const char *sql, int n, const char *const *p)
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

static void
db_cmd(struct enrich_store *s, const char *sql, int n, const char *const *p)
{
	PGresult *r = db(s, sql, n, p);

	if (r != NULL)
		PQclear(r);
}

/* First column of the first row, copied, or NULL. */
static char *
db_value(struct enrich_store *s, const char *sql, int n,
    const char *const *p)
{
	PGresult *r = db(s, sql, n, p);
	char *v = NULL;

	if (r == NULL)
		return NULL;
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static enum enrich_result
finish(struct enrich_store *s, enum enrich_result ok, char *reason)
{
	if (!s->failed) {
		if (!s->committed)
			db_cmd(s, "COMMIT", 0, NULL);
		if (!s->failed)
			return ok;
	}
	if (PQstatus(s->conn) == CONNECTION_OK)
		PQclear(PQexec(s->conn, "ROLLBACK"));
	snprintf(reason, ENRICH_REASON_MAX, "%s", s->err);
	return s->transient ? ENRICH_RETRY : ENRICH_POISON;
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

/* "2026-11-25T22:08:01.123Z" shape, or NULL: a malformed optional header
 * must not turn the whole record into poison. */
static const char *
rfc3339_or_null(const char *s)
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

static char *
headers_json(const struct enrich_event *ev)
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
 * trip for all.  An error aborts the rest of the pipeline and leaves the
 * transaction failed; finish() rolls it back.
 */
static void
pipe_broken(struct enrich_store *s)
{
	s->failed = true;
	s->transient = true;
	snprintf(s->err, sizeof(s->err), "database: %s",
	    PQerrorMessage(s->conn));
	s->err[strcspn(s->err, "\n")] = '\0';
	/* The pipeline state is unknown: drop the connection; the next
	 * record reconnects. */
	PQfinish(s->conn);
	s->conn = NULL;
}

static void
pipe_begin(struct enrich_store *s)
{
	s->piped = 0;
	if (!s->failed && PQenterPipelineMode(s->conn) != 1)
		pipe_broken(s);
}

static void
pipe_send(struct enrich_store *s, const char *sql, int n,
    const char *const *p)
{
	if (s->failed)
		return;
	/* libpq copies the parameters into its output buffer here. */
	if (PQsendQueryParams(s->conn, sql, n, NULL, p, NULL, NULL, 0) != 1)
		pipe_broken(s);
	else
		s->piped++;
}

/* Reads every result; for each statement i (0-based) whose bit is set in
 * want, values[i] gets a copy of the first column of its single row. */
static void
pipe_end(struct enrich_store *s, unsigned want, char **values)
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
				s->transient = PQstatus(s->conn) !=
				    CONNECTION_OK || sqlstate_transient(state);
				snprintf(s->err, sizeof(s->err), "database: "
				    "%s %s", state ? state : "",
				    PQresultErrorMessage(r));
				s->err[strcspn(s->err, "\n")] = '\0';
			} else if (i < 32 && (want & (1u << i)) != 0 &&
			    st == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
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

/*
 * Opens the record's transaction in a pipeline: BEGIN, the tenant
 * setting, the tenants row, the mailbox owner's domain as an internal
 * domain, and (statement BEGIN_DOMAINS) the tenant's internal domains as
 * " a b c ".  The caller may add statements before pipe_end().
 */
#define BEGIN_DOMAINS 4
static void
begin_tenant_send(struct enrich_store *s, const char *tenant,
    const char *user)
{
	const char *at = strrchr(user, '@');
	const char *p[2] = { tenant, at != NULL && at[1] != '\0' ? at + 1 :
	    NULL };

	s->failed = false;
	s->transient = false;
	s->committed = false;
	pipe_begin(s);
	pipe_send(s, "BEGIN", 0, NULL);
	pipe_send(s, "SELECT set_config('crm.tenant_id', $1, true)", 1, p);
	pipe_send(s, "INSERT INTO tenants (tenant_id) VALUES ($1) ON CONFLICT "
	    "DO NOTHING", 1, p);
	pipe_send(s, "INSERT INTO tenant_domains (tenant_id, domain) SELECT "
	    "$1, $2::text WHERE $2::text IS NOT NULL ON CONFLICT DO NOTHING",
	    2, p);
	pipe_send(s, "SELECT ' ' || COALESCE(string_agg(domain, ' '), '') || "
	    "' ' FROM tenant_domains WHERE tenant_id = $1", 1, p);
}

/* begin_tenant_send() alone: the domains (caller frees), or NULL after a
 * failure.  One round trip. */
static char *
begin_tenant(struct enrich_store *s, const char *tenant, const char *user)
{
	char *v[BEGIN_DOMAINS + 1] = { NULL };

	begin_tenant_send(s, tenant, user);
	pipe_end(s, 1u << BEGIN_DOMAINS, v);
	if (s->failed || v[BEGIN_DOMAINS] == NULL) {
		s->failed = true;
		free(v[BEGIN_DOMAINS]);
		return NULL;
	}
	return v[BEGIN_DOMAINS];
}

/* The tenant's domains from begin_tenant()'s " a b c " (modified). */
struct tenant_domains {
	const char *v[64];
	size_t n;
};

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

/* resolve_party() for one address: internal flag and account domain. */
static enum resolve_kind
party(const struct enrich_store *s, const struct tenant_domains *td,
    const char *address, char *buf, size_t size)
{
	return resolve_party(s->rules, address, td->v, td->n, buf, size);
}

/* Contact (and account) for one address in one statement: $1 tenant, $2
 * address, $3 domain, $4 name, $5 seen, $6 internal, $7 account domain.
 * A seen time that is not known (NULL) leaves first_seen and last_seen
 * as they are (LEAST and GREATEST skip NULLs): never now(), or every
 * replay of the record would move them. */
#define CONTACT_SQL "crm_contact_for_address($1, $2, $3, $4, " \
	"$5::timestamptz, $6, CASE WHEN $7::text IS NULL " \
	"THEN NULL ELSE crm_account_for_domain($1, $7) END)"

/* Returns the contact id (copied), or NULL after a failure (s->failed). */
static char *
resolve_contact(struct enrich_store *s, const char *tenant,
    const struct tenant_domains *td, const char *address, const char *domain,
    const char *name, const char *seen)
{
	char buf[256];
	enum resolve_kind k = party(s, td, address, buf, sizeof(buf));
	const char *p[7] = { tenant, address, domain, name, seen,
	    k == RESOLVE_INTERNAL ? "t" : "f",
	    k == RESOLVE_COMPANY ? buf : NULL };

	/* Machines never become contacts. */
	if (k == RESOLVE_NOREPLY || k == RESOLVE_INVALID)
		return NULL;
	return db_value(s, "SELECT " CONTACT_SQL, 7, p);
}

static char *
pg_text_array(char *const *v, size_t n)
{
	/* '{"a","b"}' with " and \ escaped. */
	size_t cap = 3;
	char *out, *o;

	for (size_t i = 0; i < n; i++)
		cap += strlen(v[i]) * 2 + 3;
	out = o = xmalloc(cap);
	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*o++ = ',';
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

static char *
find_thread(struct enrich_store *s, const char *tenant, const char *msg_row,
    const struct mail_parsed *mp, const char *sent)
{
	char *tid = NULL;

	/* 1. A parent we know: In-Reply-To first, then References from
	 * the newest. */
	if (mp->in_reply_to != NULL || mp->nrefs > 0) {
		char **ids = xcalloc(mp->nrefs + 1, sizeof(*ids));
		size_t n = 0;
		char *arr;

		if (mp->in_reply_to != NULL)
			ids[n++] = mp->in_reply_to;
		for (size_t i = mp->nrefs; i > 0; i--)
			ids[n++] = mp->refs[i - 1];
		arr = pg_text_array(ids, n);
		{
			const char *p[3] = { tenant, arr, msg_row };
			tid = db_value(s, "SELECT m.thread_id FROM unnest("
			    "$2::text[]) WITH ORDINALITY AS r(mid, ord) "
			    "JOIN messages m ON m.tenant_id = $1 AND "
			    "m.message_id = r.mid WHERE m.thread_id IS NOT "
			    "NULL AND m.id <> $3 ORDER BY r.ord LIMIT 1", 3, p);
		}
		free(arr);
		free(ids);
		if (tid != NULL || s->failed)
			return tid;
	}
	/*
	 * 2. A child that arrived first (replies can overtake originals
	 * across mailboxes and partitions).
	 * 3. Subject fallback, for a "Re:"/"Fwd:" subject without usable
	 * references (some clients drop them), within a recent thread only,
	 * so two unrelated "Hello"s never merge.  An original (no prefix)
	 * joins only an orphan thread - one a reply started before its
	 * parent arrived - and makes it a normal thread.
	 * 4. A new thread (an orphan when the subject had a prefix).
	 * One statement, one round trip: each step runs only when the ones
	 * before it found nothing.
	 */
	{
		bool had_prefix = false;
		char *norm = mp->subject != NULL ?
		    subject_key(mp->subject, &had_prefix) : NULL;
		const char *p[7] = { tenant, mp->message_id, msg_row, norm,
		    sent, mp->subject, had_prefix ? "t" : "f" };

		tid = db_value(s, "WITH c AS (SELECT thread_id AS id FROM "
		    "messages WHERE $2::text IS NOT NULL AND tenant_id = $1 "
		    "AND id <> $3::bigint AND thread_id IS NOT NULL AND "
		    "(in_reply_to = $2::text OR refs @> ARRAY[$2::text]) "
		    "LIMIT 1), "
		    "f AS (SELECT id FROM threads WHERE NOT EXISTS (SELECT "
		    "FROM c) AND $4::text <> '' AND tenant_id = $1 AND "
		    "subject_norm = $4::text AND ($7::boolean OR orphan) AND "
		    "last_at >= COALESCE($5::timestamptz, now()) - interval '"
		    THREAD_SUBJECT_DAYS " days' ORDER BY last_at DESC LIMIT 1), "
		    "o AS (UPDATE threads SET orphan = false WHERE NOT "
		    "$7::boolean AND id IN (SELECT id FROM f) RETURNING id), "
		    "n AS (INSERT INTO threads (tenant_id, subject, "
		    "subject_norm, orphan) SELECT $1, $6::text, $4::text, "
		    "$7::boolean WHERE NOT EXISTS (SELECT FROM c) AND NOT "
		    "EXISTS (SELECT FROM f) RETURNING id) "
		    "SELECT id FROM c UNION ALL SELECT id FROM f UNION ALL "
		    "SELECT id FROM n LIMIT 1", 7, p);
		free(norm);
		return tid;
	}
}

/*
 * A root message (no In-Reply-To, no References) names its thread: the
 * thread takes its subject, and orphan threads with the same normalised
 * subject - replies that arrived before it and had nothing else to join
 * (docs/schema.md, threads) - are merged into it.
 */
static void
adopt_orphans(struct enrich_store *s, const char *tenant, const char *tid,
    const char *subject, const char *sent)
{
	bool had_prefix;
	char *norm = subject_key(subject, &had_prefix);

	if (!had_prefix && *norm != '\0') {
		const char *p[4] = { tenant, tid, norm, sent };
		const char *p2[4] = { tenant, tid, norm, subject };

		pipe_send(s, "UPDATE messages SET thread_id = $2 WHERE tenant_id = "
		    "$1 AND thread_id IN (SELECT id FROM threads WHERE "
		    "tenant_id = $1 AND id <> $2 AND orphan AND subject_norm = "
		    "$3 AND last_at >= COALESCE($4::timestamptz, now()) - "
		    "interval '" THREAD_SUBJECT_DAYS " days')", 4, p);
		pipe_send(s, "WITH o AS (DELETE FROM threads t WHERE tenant_id = "
		    "$1 AND id <> $2 AND orphan AND subject_norm = $3 AND NOT "
		    "EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = $1 "
		    "AND m.thread_id = t.id) RETURNING message_count, first_at, "
		    "last_at) UPDATE threads SET message_count = message_count "
		    "+ (SELECT COALESCE(sum(message_count), 0) FROM o), "
		    "first_at = LEAST(first_at, (SELECT min(first_at) FROM o)), "
		    "last_at = GREATEST(last_at, (SELECT max(last_at) FROM o)), "
		    "subject = $4, subject_norm = $3, orphan = false WHERE "
		    "tenant_id = $1 AND id = $2", 4, p2);
	}
	free(norm);
}

static enum enrich_result
process_mail(struct enrich_store *s, const struct enrich_event *ev,
    char *reason)
{
	const char *tenant, *idkey, *direction, *errstr;
	char *user = NULL, *hdrs, *row = NULL, *tid, *domains = NULL;
	char *sent_fixed = NULL;
	char part[32], off[32], size[32], *refs;
	struct mail_parsed mp;
	struct tenant_domains td;
	char *v[BEGIN_DOMAINS + 2] = { NULL };
	bool sig_done = false;
	enum enrich_result res;

	if ((res = check_envelope(ev, &tenant, &user, reason)) != ENRICH_DONE)
		return res;
	idkey = enrich_event_header(ev, "idempotency-key");
	if (idkey == NULL || strlen(idkey) != 64 ||
	    strspn(idkey, "0123456789abcdef") != 64) {
		free(user);
		return poison(reason, "missing or malformed idempotency-key");
	}
	if (mail_parse(ev->value, ev->len, &mp, &errstr) != 0) {
		free(user);
		return poison(reason, "%s", errstr);
	}
	direction = enrich_event_header(ev, "direction");
	if (direction == NULL || (strcmp(direction, "in") != 0 &&
	    strcmp(direction, "out") != 0 && strcmp(direction, "draft") != 0))
		direction = "other";
	snprintf(part, sizeof(part), "%d", (int)ev->partition);
	snprintf(off, sizeof(off), "%lld", (long long)ev->offset);
	snprintf(size, sizeof(size), "%zu", ev->len);
	hdrs = headers_json(ev);
	refs = pg_text_array(mp.refs, mp.nrefs);

	/* The opening statements and the message row: one round trip. */
	begin_tenant_send(s, tenant, user);
	{
		const char *uid = enrich_event_header(ev, "uid");
		const char *uidv = enrich_event_header(ev, "uidvalidity");
		const char *mbox = enrich_event_header(ev, "mailbox");
		const char *src = enrich_event_header(ev, "source");
		char *mbox_c = mbox ? text_utf8_clean(mbox, strlen(mbox), 1024)
		    : NULL;
		char *src_c = src ? text_utf8_clean(src, strlen(src), 64) : NULL;
		char *key_c = text_utf8_clean(ev->key, strlen(ev->key), 1024);
		const char *p[24] = {
			tenant, idkey, mp.message_id, mp.in_reply_to, refs,
			mp.subject, mp.date, direction, user, mbox_c,
			all_digits(uid, 18) ? uid : NULL,
			all_digits(uidv, 18) ? uidv : NULL, src_c,
			rfc3339_or_null(enrich_event_header(ev,
			    "observed-at")),
			size, mp.body_text, ev->topic, part, off, key_c, hdrs,
			mp.body_quoted, mp.body_signature, mp.body_disclaimer,
		};
		pipe_send(s, "INSERT INTO messages (tenant_id, "
		    "idempotency_key, message_id, in_reply_to, refs, subject, "
		    "sent_at, direction, mailbox_owner, mailbox, uid, "
		    "uidvalidity, source, observed_at, size_bytes, body_text, "
		    "kafka_topic, kafka_partition, kafka_offset, kafka_key, "
		    "kafka_headers, body_quoted, body_signature, "
		    "body_disclaimer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
		    "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, "
		    "$20, $21, $22, $23, $24) ON CONFLICT (tenant_id, "
		    "idempotency_key) DO NOTHING RETURNING id::text || '|' || "
		    "COALESCE(sent_at, observed_at, created_at)::text", 24, p);
		pipe_end(s, 1u << BEGIN_DOMAINS | 1u << (BEGIN_DOMAINS + 1),
		    v);
		if (s->failed || v[BEGIN_DOMAINS] == NULL) {
			s->failed = true;
			free(v[BEGIN_DOMAINS + 1]);
		} else if ((row = v[BEGIN_DOMAINS + 1]) != NULL) {
			/* "id|sent_at" as PostgreSQL read it, for thread
			 * times and contacts. */
			char *bar = strchr(row, '|');
			sent_fixed = xstrdup(bar != NULL ? bar + 1 : "");
			if (bar != NULL)
				*bar = '\0';
		}
		domains = v[BEGIN_DOMAINS] != NULL ? v[BEGIN_DOMAINS] :
		    xstrdup(" ");
		split_domains(domains, &td);
		free(mbox_c);
		free(src_c);
		free(key_c);
	}
	if (row == NULL) {
		/* Already stored (or a failure, which finish() reports). */
		res = finish(s, ENRICH_DUPLICATE, reason);
		goto out;
	}
	tid = find_thread(s, tenant, row, &mp, sent_fixed);
	/* Everything else depends only on row and tid: one pipeline. */
	pipe_begin(s);
	{
		const char *p[3] = { tenant, tid, sent_fixed };
		const char *p2[3] = { tenant, tid, row };
		pipe_send(s, "UPDATE threads SET message_count = message_count "
		    "+ 1, first_at = LEAST(first_at, $3::timestamptz), last_at "
		    "= GREATEST(last_at, $3::timestamptz) WHERE tenant_id = $1 "
		    "AND id = $2", 3, p);
		pipe_send(s, "UPDATE messages SET thread_id = $2 WHERE "
		    "tenant_id = $1 AND id = $3", 3, p2);
	}
	if (mp.in_reply_to == NULL && mp.nrefs == 0 && mp.subject != NULL &&
	    tid != NULL)
		adopt_orphans(s, tenant, tid, mp.subject, sent_fixed);
	free(tid);
	/* Contact, account and participant: one statement per address.
	 * Machines (a no-reply local part, or a sender whose headers say
	 * the message is automated) are participants without a contact. */
	for (size_t i = 0; i < mp.naddrs; i++) {
		const struct mail_addr *a = &mp.addrs[i];
		char pos[16], buf[256];
		enum resolve_kind k = party(s, &td, a->address, buf,
		    sizeof(buf));
		bool robot = k == RESOLVE_NOREPLY || k == RESOLVE_INVALID ||
		    (a->role == MAIL_ROLE_FROM && mp.auto_reasons != 0);
		const char *p[10] = { tenant, a->address, a->domain,
		    a->display_name, sent_fixed,
		    k == RESOLVE_INTERNAL ? "t" : "f",
		    k == RESOLVE_COMPANY ? buf : NULL, row,
		    mail_role_names[a->role], pos };

		snprintf(pos, sizeof(pos), "%zu", i);
		if (robot) {
			const char *pr[6] = { tenant, row, p[8], a->address,
			    a->display_name, pos };
			pipe_send(s, "INSERT INTO participants (tenant_id, "
			    "message_id, role, address, display_name, "
			    "position) VALUES ($1, $2, $3, $4, $5, $6) ON "
			    "CONFLICT DO NOTHING", 6, pr);
		} else
			pipe_send(s, "INSERT INTO participants (tenant_id, "
			    "message_id, role, address, display_name, "
			    "contact_id, position) VALUES ($1, $8, $9, $2, $4, "
			    CONTACT_SQL ", $10) ON CONFLICT DO NOTHING", 10, p);
		/* What the sender's signature says about them. */
		if (!robot && a->role == MAIL_ROLE_FROM && !sig_done &&
		    (mp.sig.title != NULL || mp.sig.phone != NULL ||
		    mp.sig.company != NULL)) {
			const char *p2[6] = { tenant, a->address, mp.sig.title,
			    mp.sig.phone, mp.sig.company, sent_fixed };

			/* Only from the newest message seen from them (the
			 * contact statement above has moved last_seen), so
			 * an old message processed late changes nothing. */
			sig_done = true;
			pipe_send(s, "UPDATE contacts c SET title = COALESCE("
			    "$3, c.title), phone = COALESCE($4, c.phone), "
			    "company = COALESCE($5, c.company) FROM "
			    "contact_addresses ca WHERE ca.tenant_id = $1 AND "
			    "ca.address = $2 AND c.tenant_id = $1 AND c.id = "
			    "ca.contact_id AND c.last_seen <= $6::timestamptz",
			    6, p2);
		}
	}
	for (size_t i = 0; i < mp.natts; i++) {
		const struct mail_attachment *a = &mp.atts[i];
		char pos[16], asz[32];
		const char *p[7] = { tenant, row, pos, a->filename,
		    a->content_type, asz, a->sha256 };

		snprintf(pos, sizeof(pos), "%zu", i);
		snprintf(asz, sizeof(asz), "%llu", (unsigned long long)a->size);
		pipe_send(s, "INSERT INTO attachments (tenant_id, message_id, "
		    "position, filename, content_type, size_bytes, sha256) "
		    "VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, p);
	}
	/* After an error in the pipeline the server skips the rest, COMMIT
	 * included, and the transaction stays open and failed: finish()
	 * rolls it back. */
	pipe_send(s, "COMMIT", 0, NULL);
	pipe_end(s, 0, NULL);
	s->committed = !s->failed;
	res = finish(s, ENRICH_DONE, reason);
	free(row);
out:
	free(domains);
	free(sent_fixed);
	free(refs);
	free(hdrs);
	free(user);
	mail_parsed_fini(&mp);
	return res;
}

/* A calendar address as an attendees/organizer key, or NULL. */
static char *
cal_addr(const char *addr)
{
	struct ident_addr a;
	const char *err;

	if (addr == NULL || ident_addr_parse(addr, strlen(addr), 0, &a,
	    &err) != 0)
		return NULL;
	return xstrdup(a.addr);
}

/* "YYYY-MM-DD HH:MM:SS+0000", or NULL. */
static char *
cal_time_str(const struct cal_time *t, bool has)
{
	time_t tt;
	struct tm tm;
	char buf[40];

	if (!has)
		return NULL;
	tt = (time_t)t->utc;
	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 < 1 ||
	    tm.tm_year + 1900 > 9999)
		return NULL;
	snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d+0000",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	return xstrdup(buf);
}

static const char *
cal_status_str(const struct cal_event *e)
{
	if (e->cancelled)
		return "CANCELLED";
	switch (e->status) {
	case CAL_STATUS_TENTATIVE:
		return "TENTATIVE";
	case CAL_STATUS_CONFIRMED:
		return "CONFIRMED";
	default:
		return NULL;
	}
}

static const char *
cal_role_str(enum cal_role r)
{
	static const char *const names[] = {
		NULL, "CHAIR", "REQ-PARTICIPANT", "OPT-PARTICIPANT",
		"NON-PARTICIPANT", NULL,
	};

	return (size_t)r < sizeof(names) / sizeof(*names) ? names[r] : NULL;
}

static const char *
cal_partstat_str(enum cal_partstat p)
{
	return p == CAL_PARTSTAT_NONE || p == CAL_PARTSTAT_OTHER ?
	    "NEEDS-ACTION" : cal_partstat_name(p);
}

static void
store_attendees(struct enrich_store *s, const char *tenant,
    const struct tenant_domains *td, const char *mid,
    const struct cal_event *e, const char *seen, bool keep_partstat,
    bool reply)
{
	char **addrs = xcalloc(e->n_attendees + 1, sizeof(*addrs));
	size_t n = 0;

	for (size_t j = 0; j < e->n_attendees && !s->failed; j++) {
		const struct cal_person *a = &e->attendees[j];
		char *addr = cal_addr(a->addr), *cid;
		const char *dom;

		if (addr == NULL)
			continue;
		addrs[n++] = addr;
		dom = strrchr(addr, '@') + 1;
		cid = resolve_contact(s, tenant, td, addr, dom, a->cn, seen);
		const char *p[7] = { tenant, mid, addr, a->cn,
		    cal_partstat_str(a->partstat), cal_role_str(a->role), cid };

		/* A re-sent invitation (same SEQUENCE) says NEEDS-ACTION
		 * for everyone; it must not undo the replies seen since. */
		if (reply)
			db_cmd(s, "INSERT INTO attendees (tenant_id, "
			    "meeting_id, address, display_name, partstat, role, "
			    "contact_id) VALUES ($1, $2, $3, $4, $5, $6, $7) "
			    "ON CONFLICT (meeting_id, address) DO UPDATE SET "
			    "partstat = EXCLUDED.partstat", 7, p);
		else
			db_cmd(s, keep_partstat ?
			    "INSERT INTO attendees (tenant_id, meeting_id, "
			    "address, display_name, partstat, role, contact_id) "
			    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT "
			    "(meeting_id, address) DO UPDATE SET display_name = "
			    "EXCLUDED.display_name, role = EXCLUDED.role, "
			    "contact_id = EXCLUDED.contact_id, partstat = CASE "
			    "WHEN EXCLUDED.partstat = 'NEEDS-ACTION' THEN "
			    "attendees.partstat ELSE EXCLUDED.partstat END" :
			    "INSERT INTO attendees (tenant_id, meeting_id, "
			    "address, display_name, partstat, role, contact_id) "
			    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT "
			    "(meeting_id, address) DO UPDATE SET display_name = "
			    "EXCLUDED.display_name, role = EXCLUDED.role, "
			    "contact_id = EXCLUDED.contact_id, partstat = "
			    "EXCLUDED.partstat", 7, p);
		free(cid);
	}
	if (!reply && !s->failed) {
		/* Attendees dropped from a new version of the meeting. */
		char *arr = pg_text_array(addrs, n);
		const char *p[3] = { tenant, mid, arr };

		db_cmd(s, "DELETE FROM attendees WHERE tenant_id = $1 AND "
		    "meeting_id = $2 AND NOT (address = ANY($3::text[]))", 3, p);
		free(arr);
	}
	for (size_t j = 0; j < n; j++)
		free(addrs[j]);
	free(addrs);
}

/* One meeting per UID: the master VEVENT (no RECURRENCE-ID) when the
 * object has one, else the first VEVENT of that UID.  Overridden
 * instances do not make meetings of their own. */
static bool
cal_event_is_meeting(const struct cal_object *obj, size_t i)
{
	const struct cal_event *e = &obj->events[i];

	for (size_t j = 0; j < obj->n_events; j++) {
		const struct cal_event *o = &obj->events[j];

		if (j == i || strcmp(o->uid, e->uid) != 0)
			continue;
		if (e->has_recurrence_id && !o->has_recurrence_id)
			return false;	/* the master speaks */
		if (j < i && e->has_recurrence_id == o->has_recurrence_id)
			return false;	/* a duplicate: the first wins */
	}
	return true;
}

static enum enrich_result
process_calendar(struct enrich_store *s, const struct enrich_event *ev,
    char *reason)
{
	const char *tenant, *errstr;
	char *user = NULL, *hdrs, *domains, *key_c;
	char part[32], off[32];
	struct cal_object *obj;
	struct tenant_domains td;
	bool reply;
	enum enrich_result res;
	const char *method = enrich_event_header(ev, "http-method");

	/* A CalDAV DELETE (docs/events.md: no value) takes the object out
	 * of one user's calendar only.  The meeting stays: the others still
	 * hold it, and a cancellation travels as STATUS:CANCELLED or
	 * METHOD:CANCEL in a PUT or an invitation. */
	if (ev->len == 0 && method != NULL && strcmp(method, "DELETE") == 0)
		return ENRICH_IGNORED;
	if ((res = check_envelope(ev, &tenant, &user, reason)) != ENRICH_DONE)
		return res;
	if ((obj = cal_parse(ev->value, ev->len, NULL, &errstr)) == NULL) {
		free(user);
		/* A calendar without events (a VTODO list) is valid. */
		if (strcmp(errstr, "no VEVENT") == 0)
			return ENRICH_IGNORED;
		return poison(reason, "%s", errstr);
	}
	reply = obj->method == CAL_METHOD_REPLY;
	snprintf(part, sizeof(part), "%d", (int)ev->partition);
	snprintf(off, sizeof(off), "%lld", (long long)ev->offset);
	hdrs = headers_json(ev);
	key_c = text_utf8_clean(ev->key, strlen(ev->key), 1024);
	if ((domains = begin_tenant(s, tenant, user)) == NULL)
		domains = xstrdup(" ");	/* s->failed: nothing more runs */
	split_domains(domains, &td);
	for (size_t i = 0; i < obj->n_events && !s->failed; i++) {
		const struct cal_event *e = &obj->events[i];
		char seq[16], *cid = NULL, *org, *starts, *ends, *uid, *sum,
		    *loc;
		const char *seen;
		PGresult *r;

		if (!cal_event_is_meeting(obj, i))
			continue;
		snprintf(seq, sizeof(seq), "%d", e->sequence);
		org = cal_addr(e->organizer.addr);
		starts = cal_time_str(&e->start, e->has_start);
		ends = cal_time_str(&e->end, e->has_start);
		uid = text_utf8_clean(e->uid, strlen(e->uid), 1024);
		sum = e->summary ? text_utf8_clean(e->summary,
		    strlen(e->summary), 4096) : NULL;
		loc = e->location ? text_utf8_clean(e->location,
		    strlen(e->location), 4096) : NULL;
		/* When the organizer and attendees were last seen: the
		 * meeting's start, else when the proxy saw the object.
		 * Never now(): a replayed record must write the same
		 * values it wrote the first time. */
		seen = starts != NULL ? starts :
		    rfc3339_or_null(enrich_event_header(ev, "observed-at"));
		if (org != NULL)
			cid = resolve_contact(s, tenant, &td, org,
			    strrchr(org, '@') + 1, e->organizer.cn, seen);
		free(cid);
		{
			const char *p[16] = { tenant, uid, seq, sum, loc,
			    cal_status_str(e), starts, ends, org, user,
			    ev->topic, part, off, key_c, hdrs, e->rrule };
			/* A REPLY carries the organizer's data too, but an
			 * attendee's client may have an older copy: it
			 * creates the meeting when unknown and otherwise
			 * only updates PARTSTATs.  Other methods move the
			 * meeting forward, never back, in SEQUENCE; a
			 * CANCEL without times keeps the known ones. */
			r = db(s, reply ?
			    "WITH old AS (SELECT id, sequence FROM meetings "
			    "WHERE tenant_id = $1 AND uid = $2), ins AS ("
			    "INSERT INTO meetings (tenant_id, uid, sequence, "
			    "summary, location, status, starts_at, ends_at, "
			    "organizer, mailbox_owner, kafka_topic, "
			    "kafka_partition, kafka_offset, kafka_key, "
			    "kafka_headers, rrule) SELECT $1, $2, $3, $4, $5, "
			    "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 "
			    "WHERE NOT EXISTS (SELECT FROM old) ON CONFLICT DO "
			    "NOTHING RETURNING id) SELECT id, true FROM ins "
			    "UNION ALL SELECT id, true FROM old" :
			    "WITH old AS (SELECT sequence FROM meetings WHERE "
			    "tenant_id = $1 AND uid = $2) "
			    "INSERT INTO meetings (tenant_id, uid, sequence, "
			    "summary, location, status, starts_at, ends_at, "
			    "organizer, mailbox_owner, kafka_topic, "
			    "kafka_partition, kafka_offset, kafka_key, "
			    "kafka_headers, rrule) VALUES ($1, $2, $3, $4, $5, "
			    "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
			    "ON CONFLICT (tenant_id, uid) DO UPDATE SET "
			    "sequence = EXCLUDED.sequence, summary = COALESCE("
			    "EXCLUDED.summary, meetings.summary), location = "
			    "COALESCE(EXCLUDED.location, meetings.location), "
			    "status = EXCLUDED.status, starts_at = COALESCE("
			    "EXCLUDED.starts_at, meetings.starts_at), ends_at = "
			    "COALESCE(EXCLUDED.ends_at, meetings.ends_at), "
			    "organizer = COALESCE(EXCLUDED.organizer, "
			    "meetings.organizer), rrule = CASE WHEN "
			    "EXCLUDED.starts_at IS NULL THEN meetings.rrule "
			    "ELSE EXCLUDED.rrule END, updated_at = CASE WHEN ("
			    "meetings.sequence, meetings.summary, "
			    "meetings.location, meetings.status, "
			    "meetings.starts_at, meetings.ends_at, "
			    "meetings.organizer, meetings.rrule) IS NOT "
			    "DISTINCT FROM (EXCLUDED.sequence, COALESCE("
			    "EXCLUDED.summary, meetings.summary), COALESCE("
			    "EXCLUDED.location, meetings.location), "
			    "EXCLUDED.status, COALESCE(EXCLUDED.starts_at, "
			    "meetings.starts_at), COALESCE(EXCLUDED.ends_at, "
			    "meetings.ends_at), COALESCE(EXCLUDED.organizer, "
			    "meetings.organizer), CASE WHEN EXCLUDED.starts_at "
			    "IS NULL THEN meetings.rrule ELSE EXCLUDED.rrule "
			    "END) THEN meetings.updated_at ELSE now() END WHERE "
			    "meetings.sequence <= EXCLUDED.sequence RETURNING "
			    "id, COALESCE((SELECT sequence FROM old) = "
			    "$3::integer, false)", 16, p);
		}
		free(org);
		free(ends);
		free(uid);
		free(sum);
		free(loc);
		if (r == NULL) {
			free(starts);
			break;
		}
		if (PQntuples(r) > 0) {
			char *mid = xstrdup(PQgetvalue(r, 0, 0));
			bool same = strcmp(PQgetvalue(r, 0, 1), "t") == 0;

			PQclear(r);
			/* A CANCEL lists whom it tells, not who is
			 * invited: it leaves the attendees alone. */
			if (obj->method != CAL_METHOD_CANCEL)
				store_attendees(s, tenant, &td, mid, e, seen,
				    same, reply);
			free(mid);
		} else
			PQclear(r);	/* an older SEQUENCE: nothing new */
		free(starts);	/* (seen may point into it) */
	}
	res = finish(s, ENRICH_DONE, reason);
	free(domains);
	free(key_c);
	free(hdrs);
	free(user);
	cal_object_free(&obj);
	return res;
}

enum enrich_result
enrich_process(struct enrich_store *s, const struct enrich_event *ev,
    char *reason)
{
	char err[ENRICH_REASON_MAX];
	const char *schema;

	reason[0] = '\0';
	if (enrich_store_connect(s, err, sizeof(err)) != 0) {
		snprintf(reason, ENRICH_REASON_MAX, "database: %s", err);
		return ENRICH_RETRY;
	}
	/* The schema header names the payload (docs/events.md); the topic
	 * name is the fallback, so renamed topics still work. */
	schema = enrich_event_header(ev, "schema");
	if (schema != NULL ? strncmp(schema, "crm.mail/1", 10) == 0 &&
	    (schema[10] == '\0' || schema[10] == '.') :
	    strcmp(ev->topic, "crm.mail.v1") == 0)
		return process_mail(s, ev, reason);
	if (schema != NULL ? strncmp(schema, "crm.calendar/1", 14) == 0 &&
	    (schema[14] == '\0' || schema[14] == '.') :
	    strcmp(ev->topic, "crm.calendar.v1") == 0)
		return process_calendar(s, ev, reason);
	return poison(reason, "no handler for schema %s on topic %s",
	    schema ? schema : "(none)", ev->topic);
}
