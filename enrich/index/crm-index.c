/*
 * crm-index.c - keeps the search index in step with the messages table.
 *
 *   crm-index [-c FILE] [-d] [--check] [--backfill TENANT] [--help]
 *
 * One job: take what the index_queue trigger (enrich/sql/0011) records
 * for every message inserted or deleted, and write or remove that
 * message's chunk rows and vectors with search_ingest() / search_forget()
 * (docs/search.md, "Indexing").  The daemon LISTENs on crm_index; the
 * trigger's pg_notify wakes it at the COMMIT of the message, with the
 * tenant as payload.  A slow sweep of every known tenant covers a lost
 * notification (a dropped connection, a restart).
 *
 * Row-level security applies: the daemon connects as a non-owner role
 * (crm_enrich) and sets the tenant per transaction, so it can only see a
 * tenant it names.  Tenants come from the notifications, from [index]
 * tenants and from [index] tenants_file, where every tenant seen is kept
 * for the next start.
 *
 * Crash safety: a queue row is removed only after its message's chunks
 * and vectors are written (vectors first, then rows, search_ingest()).
 * A kill at any point leaves the row queued and the message is indexed
 * again; chunk ids derive from key and chunk number, so nothing doubles.
 *
 * Signals: SIGTERM, SIGINT finish the batch in hand and exit 0; SIGHUP
 * sweeps every known tenant now.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "enrich/index/index_conf.h"
#include "enrich/search/search.h"
#include "lib/clock_ms.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define DEFAULT_CONFIG "/etc/crm/crm-index.conf"
#define CHANNEL "crm_index"
#define ERR_KEPT 500	/* bytes of an error kept in index_queue */

static volatile sig_atomic_t index_stop, index_sweep;

struct tenant {
	char name[VEC_TENANT_MAX + 1];
	bool pending;
};

struct indexd {
	struct index_conf *conf;
	struct search_ctx *ctx;
	PGconn *q;		/* queue reads and LISTEN */
	struct tenant *t;
	size_t nt, cap;
	uint64_t last_sweep_ms;
	unsigned backoff_ms;	/* after an outage of embedder or store */
	uint64_t n_msgs, n_chunks, n_deleted, n_skipped, n_failed, n_batches;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-index [-c FILE] [-d] [--check] [--backfill TENANT] "
	    "[--help]\n"
	    "  -c, --config FILE    configuration (default " DEFAULT_CONFIG
	    ")\n"
	    "  -d, --debug          log debug lines\n"
	    "      --check          validate the configuration, then exit\n"
	    "      --backfill T     queue every message of tenant T that has "
	    "no\n"
	    "                       chunk rows yet (stored before the queue "
	    "existed),\n"
	    "                       then exit; a running crm-index indexes "
	    "them\n"
	    "  -h, --help           this text\n"
	    "Follows index_queue (migration 0011) and writes chunks and "
	    "vectors;\nsee crm-index(8) and docs/search.md.\n");
}

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		index_sweep = 1;
	else
		index_stop = 1;
}

/* libpq messages end in a newline; a log line must not. */
static const char *
pq_err(PGconn *c)
{
	static char buf[512];
	size_t l;

	snprintf(buf, sizeof(buf), "%s", PQerrorMessage(c));
	for (l = strlen(buf); l > 0 && (buf[l - 1] == '\n' ||
	    buf[l - 1] == ' '); l--)
		buf[l - 1] = '\0';
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	return buf;
}

static const char *
res_err(PGresult *r)
{
	const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	return m != NULL ? m : PQresStatus(PQresultStatus(r));
}

/* ---- tenants ---------------------------------------------------------- */

static struct tenant *
tenant_find(struct indexd *d, const char *name)
{
	for (size_t i = 0; i < d->nt; i++)
		if (strcmp(d->t[i].name, name) == 0)
			return &d->t[i];
	return NULL;
}

/* Adds NAME (already validated) and marks it pending; PERSIST appends it
 * to tenants_file so the next start sweeps it too. */
static void
tenant_add(struct indexd *d, const char *name, bool persist)
{
	struct tenant *t = tenant_find(d, name);
	FILE *f;

	if (t != NULL) {
		t->pending = true;
		return;
	}
	if (d->nt == d->cap) {
		d->cap = d->cap * 2 + 8;
		d->t = xreallocarray(d->t, d->cap, sizeof(*d->t));
	}
	t = &d->t[d->nt++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->pending = true;
	log_info("tenant %s: following", name);
	if (!persist || d->conf->tenants_file == NULL)
		return;
	if ((f = fopen(d->conf->tenants_file, "ae")) == NULL ||
	    fprintf(f, "%s\n", name) < 0 || fflush(f) != 0 ||
	    fdatasync(fileno(f)) != 0)
		log_warn("%s: cannot record tenant %s",
		    d->conf->tenants_file, name);
	if (f != NULL)
		fclose(f);
}

static void
tenants_load(struct indexd *d)
{
	const char *path = d->conf->tenants_file;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	FILE *f;

	for (unsigned i = 0; i < d->conf->ntenants; i++)
		tenant_add(d, d->conf->tenants[i], false);
	if (path == NULL)
		return;
	if ((f = fopen(path, "re")) == NULL) {
		if (errno != ENOENT)
			log_warn("%s", path);
		return;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (!vec_tenant_valid(line)) {
			log_warnx("%s:%u: not a tenant id, ignored", path,
			    lineno);
			continue;
		}
		tenant_add(d, line, false);
	}
	free(line);
	fclose(f);
}

static void
sweep_all(struct indexd *d)
{
	for (size_t i = 0; i < d->nt; i++)
		d->t[i].pending = true;
	d->last_sweep_ms = mono_ms();
}

/* ---- connections ------------------------------------------------------ */

static void
disconnect(struct indexd *d)
{
	if (d->q != NULL)
		PQfinish(d->q);
	d->q = NULL;
	search_close(&d->ctx);
}

static int
connect_once(struct indexd *d, char *err, size_t errlen)
{
	const char *ci = d->conf->search.conninfo;
	PGresult *r;

	if (search_open(&d->conf->search, &d->ctx, err, errlen) != 0)
		return -1;
	d->q = PQconnectdb(ci != NULL ? ci : "");
	if (PQstatus(d->q) != CONNECTION_OK) {
		snprintf(err, errlen, "database: %s", pq_err(d->q));
		disconnect(d);
		return -1;
	}
	/* LISTEN before the sweep: a message committed in between is
	 * either seen by the sweep or notified. */
	r = PQexec(d->q, "LISTEN " CHANNEL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "LISTEN: %s", res_err(r));
		PQclear(r);
		disconnect(d);
		return -1;
	}
	PQclear(r);
	return 0;
}

/* Connects with backoff until it works or a stop is asked. */
static int
connect_all(struct indexd *d)
{
	char err[SEARCH_ERR_MAX];
	unsigned backoff = d->conf->retry_initial_ms;

	disconnect(d);
	while (!index_stop) {
		if (connect_once(d, err, sizeof(err)) == 0) {
			sweep_all(d);
			return 0;
		}
		log_warnx("database unavailable, retrying in %u ms: %s",
		    backoff, err);
		usleep(backoff * 1000);
		backoff = backoff * 2 > d->conf->retry_max_ms ?
		    d->conf->retry_max_ms : backoff * 2;
	}
	return -1;
}

static bool
db_ok(struct indexd *d)
{
	return d->q != NULL && PQstatus(d->q) == CONNECTION_OK &&
	    search_db_ok(d->ctx);
}

/* BEGIN and the tenant, on the queue connection. */
static int
q_begin(struct indexd *d, const char *tenant)
{
	const char *p[1] = { tenant };
	PGresult *r = PQexec(d->q, "BEGIN");

	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_warnx("BEGIN: %s", res_err(r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	r = PQexecParams(d->q, "SELECT set_config('crm.tenant_id', $1, true)",
	    1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("set tenant: %s", res_err(r));
		PQclear(r);
		PQclear(PQexec(d->q, "ROLLBACK"));
		return -1;
	}
	PQclear(r);
	return 0;
}

static int
q_end(struct indexd *d, bool commit)
{
	PGresult *r = PQexec(d->q, commit ? "COMMIT" : "ROLLBACK");
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;

	if (rc != 0)
		log_warnx("%s: %s", commit ? "COMMIT" : "ROLLBACK",
		    res_err(r));
	PQclear(r);
	return rc;
}

/* ---- one batch -------------------------------------------------------- */

/*
 * The message fields search needs.  The contact is the sender of an
 * inbound message and the first addressee of an outbound one; the account
 * is that party's, else the first party's that has one.  Messages without
 * a Date header use the time they were observed, else stored.  Bodies
 * are read up to 1 Mi characters: search indexes at most SEARCH_BODY_MAX
 * (1 MiB) of each, so no more needs to cross the connection.
 */
static const char batch_sql[] =
    "SELECT q.id, q.op, q.message_key, m.id IS NOT NULL, m.direction,"
    " extract(epoch FROM COALESCE(m.sent_at, m.observed_at,"
    "  m.created_at))::bigint,"
    " COALESCE(m.subject, ''), left(COALESCE(m.body_text, ''), 1048576),"
    " (SELECT p.address FROM participants p WHERE p.tenant_id = m.tenant_id"
    "  AND p.message_id = m.id AND p.role = CASE WHEN m.direction = 'in'"
    "  THEN 'from' ELSE 'to' END ORDER BY p.position LIMIT 1),"
    " (SELECT c.account_id FROM participants p JOIN contacts c"
    "  ON c.tenant_id = p.tenant_id AND c.id = p.contact_id"
    "  WHERE p.tenant_id = m.tenant_id AND p.message_id = m.id"
    "  AND c.account_id IS NOT NULL ORDER BY (p.role = CASE WHEN"
    "  m.direction = 'in' THEN 'from' ELSE 'to' END) DESC, p.position"
    "  LIMIT 1),"
    " (extract(epoch FROM clock_timestamp() - q.enqueued_at)"
    "  * 1000)::bigint"
    " FROM index_queue q LEFT JOIN messages m"
    " ON m.tenant_id = q.tenant_id AND m.id = q.message_id"
    " WHERE q.tenant_id = $1 AND q.attempts < $3"
    " ORDER BY q.id LIMIT $2";

enum row_kind { ROW_INDEX, ROW_DELETE, ROW_SKIP };

struct batch {
	PGresult *res;
	size_t n;
	enum row_kind *kind;
	struct search_message *msg;	/* for ROW_INDEX, by row */
	char **qid;			/* index_queue.id, by row */
	bool *done;
	int64_t lag_max;
	bool cut;		/* stopped at batch_bytes: more is waiting */
};

static void
batch_free(struct batch *b)
{
	PQclear(b->res);
	free(b->kind);
	free(b->msg);
	free(b->qid);
	free(b->done);
	memset(b, 0, sizeof(*b));
}

static int
batch_read(struct indexd *d, const char *tenant, struct batch *b)
{
	char lim[16], att[16];
	const char *p[3] = { tenant, lim, att };
	PGresult *r;
	uint64_t text = 0;

	memset(b, 0, sizeof(*b));
	snprintf(lim, sizeof(lim), "%u", d->conf->batch);
	snprintf(att, sizeof(att), "%u", d->conf->max_attempts);
	if (q_begin(d, tenant) != 0)
		return -1;
	r = PQexecParams(d->q, batch_sql, 3, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("tenant %s: reading the queue: %s", tenant,
		    res_err(r));
		PQclear(r);
		q_end(d, false);
		return -1;
	}
	if (q_end(d, true) != 0) {
		PQclear(r);
		return -1;
	}
	b->res = r;
	b->n = (size_t)PQntuples(r);
	b->kind = xcalloc(b->n + 1, sizeof(*b->kind));
	b->msg = xcalloc(b->n + 1, sizeof(*b->msg));
	b->qid = xcalloc(b->n + 1, sizeof(*b->qid));
	b->done = xcalloc(b->n + 1, sizeof(*b->done));
	for (size_t i = 0; i < b->n; i++) {
		int row = (int)i;
		const char *op = PQgetvalue(r, row, 1);
		const char *dir = PQgetvalue(r, row, 4);
		struct search_message *m = &b->msg[i];
		int64_t lag = strtoll(PQgetvalue(r, row, 10), NULL, 10);

		b->qid[i] = PQgetvalue(r, row, 0);
		if (lag > b->lag_max)
			b->lag_max = lag;
		if (strcmp(op, "delete") == 0) {
			b->kind[i] = ROW_DELETE;
			continue;
		}
		/* deleted since (its delete row follows), or a direction
		 * search does not index ("other") */
		if (strcmp(PQgetvalue(r, row, 3), "t") != 0 ||
		    (strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0 &&
		    strcmp(dir, "draft") != 0)) {
			b->kind[i] = ROW_SKIP;
			continue;
		}
		/* A batch is also bounded by its text: the model's time
		 * grows with the tokens, and a message of another tenant
		 * waits for the batch in hand. */
		if (i > 0 && text >= d->conf->batch_bytes) {
			b->n = i;
			b->cut = true;
			break;
		}
		text += (uint64_t)PQgetlength(r, row, 6) +
		    (uint64_t)PQgetlength(r, row, 7);
		b->kind[i] = ROW_INDEX;
		m->message_key = PQgetvalue(r, row, 2);
		m->direction = dir;
		m->sent_at = strtoll(PQgetvalue(r, row, 5), NULL, 10);
		m->subject = PQgetvalue(r, row, 6);
		m->body = PQgetvalue(r, row, 7);
		m->contact = PQgetisnull(r, row, 8) ? NULL :
		    PQgetvalue(r, row, 8);
		m->account_id = PQgetisnull(r, row, 9) ? -1 :
		    strtoll(PQgetvalue(r, row, 9), NULL, 10);
	}
	return 0;
}

/* Removes the queue rows marked done, in one statement. */
static int
batch_ack(struct indexd *d, const char *tenant, struct batch *b)
{
	char *ids = NULL;
	size_t len = 0, cap = 0, n = 0;
	const char *p[2];
	PGresult *r;
	int rc;

	for (size_t i = 0; i < b->n; i++) {
		size_t l = strlen(b->qid[i]);

		if (!b->done[i])
			continue;
		if (len + l + 3 > cap) {
			cap = (len + l + 3) * 2;
			ids = xreallocarray(ids, cap, 1);
		}
		ids[len++] = n++ == 0 ? '{' : ',';
		memcpy(ids + len, b->qid[i], l);
		len += l;
		ids[len] = '\0';
	}
	if (n == 0)
		return 0;
	ids[len++] = '}';
	ids[len] = '\0';
	p[0] = tenant;
	p[1] = ids;
	if (q_begin(d, tenant) != 0) {
		free(ids);
		return -1;
	}
	r = PQexecParams(d->q, "DELETE FROM index_queue WHERE tenant_id = $1"
	    " AND id = ANY($2::bigint[])", 2, NULL, p, NULL, NULL, 0);
	free(ids);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_warnx("tenant %s: removing done queue rows: %s", tenant,
		    res_err(r));
		PQclear(r);
		q_end(d, false);
		return -1;
	}
	PQclear(r);
	rc = q_end(d, true);
	return rc;
}

/* Counts a failure on queue row I; past max_attempts the row stays put
 * and is no longer taken (its last error is kept for the operator). */
static void
batch_fail(struct indexd *d, const char *tenant, struct batch *b, size_t i,
    const char *why)
{
	char e[ERR_KEPT + 1];
	const char *p[3] = { tenant, b->qid[i], e };
	PGresult *r;

	snprintf(e, sizeof(e), "%s", why);
	d->n_failed++;
	log_warnx("tenant %s: queue row %s (%s %s) failed: %s", tenant,
	    b->qid[i], PQgetvalue(b->res, (int)i, 1),
	    PQgetvalue(b->res, (int)i, 2), why);
	if (q_begin(d, tenant) != 0)
		return;
	r = PQexecParams(d->q, "UPDATE index_queue SET attempts = attempts + 1,"
	    " last_error = $3 WHERE tenant_id = $1 AND id = $2::bigint", 3,
	    NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warnx("tenant %s: counting the failure: %s", tenant,
		    res_err(r));
	PQclear(r);
	q_end(d, true);
}

/*
 * Indexes up to [index] batch queue rows of TENANT.  Deletes run first:
 * a key deleted and stored again within the batch ends up indexed, as
 * its newest row says.  Returns the rows taken (a full batch means more
 * may wait), -1 when the database went away, or -2 when nothing at all
 * could be written: the embedder or the vector store is failing, which
 * is an outage to wait out, not the messages' fault, so no attempt is
 * counted against them.  A failure that spares some messages of the
 * batch is theirs, and is counted.
 */
static ssize_t
index_batch(struct indexd *d, const char *tenant)
{
	struct batch b;
	struct search_message *msgs;
	const char **keys;
	size_t nm = 0, nk = 0, chunks = 0, removed = 0, skipped = 0;
	char err[SEARCH_ERR_MAX];
	uint64_t t0 = mono_ms();
	char **failed;		/* by row: the error of a lone retry */
	bool outage = false;
	ssize_t rc;

	if (batch_read(d, tenant, &b) != 0)
		return db_ok(d) ? 0 : -1;
	if (b.n == 0) {
		batch_free(&b);
		return 0;
	}
	msgs = xcalloc(b.n, sizeof(*msgs));
	keys = xcalloc(b.n, sizeof(*keys));
	failed = xcalloc(b.n, sizeof(*failed));
	for (size_t i = 0; i < b.n; i++) {
		if (b.kind[i] == ROW_INDEX)
			msgs[nm++] = b.msg[i];
		else if (b.kind[i] == ROW_DELETE)
			keys[nk++] = PQgetvalue(b.res, (int)i, 2);
		else {
			b.done[i] = true;
			skipped++;
		}
	}
	if (nk > 0) {
		if (search_forget(d->ctx, tenant, keys, nk, &removed, err,
		    sizeof(err)) == 0) {
			for (size_t i = 0; i < b.n; i++)
				if (b.kind[i] == ROW_DELETE)
					b.done[i] = true;
		} else if (!db_ok(d)) {
			goto lost;
		} else {
			nk = 0;
			outage = true;
		}
	}
	if (nm > 0 && !outage) {
		if (search_ingest(d->ctx, tenant, msgs, nm, &chunks, err,
		    sizeof(err)) == 0) {
			for (size_t i = 0; i < b.n; i++)
				if (b.kind[i] == ROW_INDEX)
					b.done[i] = true;
		} else if (!db_ok(d)) {
			goto lost;
		} else {
			/* One by one, so one bad message does not hold back
			 * the others. */
			log_warnx("tenant %s: batch of %zu failed (%s); "
			    "retrying one by one", tenant, nm, err);
			nm = chunks = 0;
			for (size_t i = 0; i < b.n; i++) {
				size_t c1;

				if (b.kind[i] != ROW_INDEX)
					continue;
				if (search_ingest(d->ctx, tenant, &b.msg[i],
				    1, &c1, err, sizeof(err)) == 0) {
					b.done[i] = true;
					nm++;
					chunks += c1;
				} else if (!db_ok(d)) {
					goto lost;
				} else {
					failed[i] = xstrdup(err);
				}
			}
			if (nm == 0)
				outage = true;
			else
				for (size_t i = 0; i < b.n; i++)
					if (failed[i] != NULL)
						batch_fail(d, tenant, &b, i,
						    failed[i]);
		}
	}
	if (batch_ack(d, tenant, &b) != 0 && !db_ok(d))
		goto lost;
	if (outage) {
		log_warnx("tenant %s: nothing could be indexed (%s)", tenant,
		    err);
		rc = -2;
		goto out;
	}
	d->n_batches++;
	d->n_msgs += nm;
	d->n_chunks += chunks;
	d->n_deleted += nk;
	d->n_skipped += skipped;
	log_info("tenant %s: indexed=%zu chunks=%zu deleted=%zu "
	    "chunks_removed=%zu skipped=%zu ms=%" PRIu64 " lag_ms=%" PRId64,
	    tenant, nm, chunks, nk, removed, skipped, mono_ms() - t0,
	    b.lag_max);
	/* a full or cut batch: more may be waiting */
	rc = b.cut ? (ssize_t)d->conf->batch : (ssize_t)b.n;
	goto out;
lost:
	log_warnx("tenant %s: database connection lost: %s", tenant, err);
	rc = -1;
out:
	for (size_t i = 0; i < b.n; i++)
		free(failed[i]);
	free(msgs);
	free(keys);
	free(failed);
	batch_free(&b);
	return rc;
}

/* ---- the loop --------------------------------------------------------- */

static void
drain_notifications(struct indexd *d)
{
	PGnotify *n;

	if (PQconsumeInput(d->q) == 0)
		return;
	while ((n = PQnotifies(d->q)) != NULL) {
		if (vec_tenant_valid(n->extra))
			tenant_add(d, n->extra, true);
		else
			log_warnx("notification with a bad tenant id "
			    "ignored");
		PQfreemem(n);
	}
}

/*
 * Waits for a signal and at most MS milliseconds; with LISTEN, also for a
 * notification (input on the queue connection).
 */
static void
wait_event(struct indexd *d, uint64_t ms, bool listen)
{
	sigset_t block, old;
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000 };
	fd_set rf;
	int fd = listen && d->q != NULL ? PQsocket(d->q) : -1;

	FD_ZERO(&rf);
	if (fd >= 0)
		FD_SET(fd, &rf);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	/* The flags are checked with the signals blocked and pselect()
	 * unblocks them atomically: a signal cannot slip in between. */
	sigprocmask(SIG_BLOCK, &block, &old);
	if (!index_stop && !index_sweep)
		(void)pselect(fd + 1, &rf, NULL, NULL, &ts, &old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void
run(struct indexd *d)
{
	uint64_t last_stats = mono_ms();

	while (!index_stop) {
		bool more = false, outage = false;

		if (!db_ok(d) && connect_all(d) != 0)
			break;
		drain_notifications(d);
		if (index_sweep ||
		    mono_ms() - d->last_sweep_ms >=
		    (uint64_t)d->conf->poll_interval * 1000) {
			index_sweep = 0;
			sweep_all(d);
		}
		/* One batch per pending tenant per pass: a tenant with a
		 * backlog does not starve the others. */
		for (size_t i = 0; i < d->nt && !index_stop; i++) {
			ssize_t n;

			if (!d->t[i].pending)
				continue;
			n = index_batch(d, d->t[i].name);
			if (n == -2) {
				outage = true;
				continue;	/* still pending */
			}
			if (n < 0) {
				disconnect(d);
				more = true;
				break;
			}
			d->backoff_ms = 0;
			d->t[i].pending = (size_t)n >= d->conf->batch;
			more = more || d->t[i].pending;
			drain_notifications(d);
		}
		if (mono_ms() - last_stats >= 60000) {
			log_info("stats: indexed=%" PRIu64 " chunks=%" PRIu64
			    " deleted=%" PRIu64 " skipped=%" PRIu64
			    " failed=%" PRIu64 " batches=%" PRIu64, d->n_msgs,
			    d->n_chunks, d->n_deleted, d->n_skipped,
			    d->n_failed, d->n_batches);
			last_stats = mono_ms();
		}
		if (outage) {
			/* back off; every tenant that failed stays pending */
			d->backoff_ms = d->backoff_ms == 0 ?
			    d->conf->retry_initial_ms : d->backoff_ms * 2;
			if (d->backoff_ms > d->conf->retry_max_ms)
				d->backoff_ms = d->conf->retry_max_ms;
			log_warnx("indexing unavailable, retrying in %u ms",
			    d->backoff_ms);
			wait_event(d, d->backoff_ms, false);
			continue;
		}
		for (size_t i = 0; i < d->nt; i++)
			more = more || d->t[i].pending;
		if (!more && db_ok(d)) {
			uint64_t now = mono_ms(), next = d->last_sweep_ms +
			    (uint64_t)d->conf->poll_interval * 1000;

			wait_event(d, next > now ? next - now : 0, true);
		}
	}
}

/* --backfill: queue what was stored before the queue existed. */
static int
backfill(struct indexd *d, const char *tenant)
{
	const char *p[1] = { tenant };
	PGresult *r;

	if (q_begin(d, tenant) != 0)
		return 1;
	r = PQexecParams(d->q,
	    "INSERT INTO index_queue (tenant_id, message_id, message_key, op)"
	    " SELECT m.tenant_id, m.id, m.idempotency_key, 'index'"
	    " FROM messages m WHERE m.tenant_id = $1 AND NOT EXISTS"
	    " (SELECT 1 FROM message_chunks c WHERE c.tenant_id = m.tenant_id"
	    "  AND c.message_key = m.idempotency_key) AND NOT EXISTS"
	    " (SELECT 1 FROM index_queue q WHERE q.tenant_id = m.tenant_id"
	    "  AND q.message_id = m.id) ORDER BY m.id", 1, NULL, p, NULL,
	    NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "crm-index: backfill: %s\n", res_err(r));
		PQclear(r);
		q_end(d, false);
		return 1;
	}
	printf("crm-index: tenant %s: %s messages queued\n", tenant,
	    PQcmdTuples(r));
	PQclear(r);
	PQclear(PQexecParams(d->q, "SELECT pg_notify('" CHANNEL "', $1)", 1,
	    NULL, p, NULL, NULL, 0));
	return q_end(d, true) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'C' },
		{ "backfill", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG, *fill = NULL;
	bool debug = false, check = false;
	struct indexd d;
	char err[SEARCH_ERR_MAX > CONF_ERR_MAX ? SEARCH_ERR_MAX :
	    CONF_ERR_MAX];
	struct sigaction sa;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "c:dh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'd': debug = true; break;
		case 'C': check = true; break;
		case 'B': fill = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	memset(&d, 0, sizeof(d));
	if ((d.conf = index_conf_load(path, err)) == NULL) {
		fprintf(stderr, "crm-index: %s\n", err);
		return 1;
	}
	if (check) {
		printf("crm-index: %s: ok\n", path);
		index_conf_free(&d.conf);
		return 0;
	}
	if (fill != NULL) {
		PGconn *c;

		if (!vec_tenant_valid(fill)) {
			fprintf(stderr, "crm-index: bad tenant id\n");
			index_conf_free(&d.conf);
			return 2;
		}
		c = PQconnectdb(d.conf->search.conninfo != NULL ?
		    d.conf->search.conninfo : "");
		d.q = c;
		if (PQstatus(c) != CONNECTION_OK) {
			fprintf(stderr, "crm-index: database: %s\n",
			    pq_err(c));
			rc = 1;
		} else
			rc = backfill(&d, fill);
		PQfinish(c);
		index_conf_free(&d.conf);
		return rc;
	}
	log_init("crm-index", d.conf->syslog);
	log_set_level(debug ? LOG_LEVEL_DEBUG : d.conf->log_level);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: a signal ends the wait at once */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	tenants_load(&d);
	if (connect_all(&d) == 0) {
		log_info("started: tenants=%zu batch=%u poll_interval=%us "
		    "channel=" CHANNEL, d.nt, d.conf->batch,
		    d.conf->poll_interval);
		run(&d);
	}
	log_info("stopped: indexed=%" PRIu64 " chunks=%" PRIu64 " deleted=%"
	    PRIu64 " skipped=%" PRIu64 " failed=%" PRIu64 " batches=%" PRIu64,
	    d.n_msgs, d.n_chunks, d.n_deleted, d.n_skipped, d.n_failed,
	    d.n_batches);
	disconnect(&d);
	free(d.t);
	index_conf_free(&d.conf);
	return 0;
}
