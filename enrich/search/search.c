/*
 * search.c - hybrid search: configuration, the two retrievers, fusion.
 *
 * SQL text is fixed at compile time; user input travels only as libpq
 * parameters.  The text search configuration is chosen from an enum, never
 * from a string, because it is part of the statement.
 */
#include "enrich/search/search.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "enrich/search/search_int.h"
#include "lib/conf.h"
#include "lib/xmalloc.h"

int
search_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- configuration ---------------------------------------------------- */

void
search_config_init(struct search_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	embedder_config_init(&cfg->embed);
	vec_config_init(&cfg->vec);
	embedder_config_init(&cfg->embed2);
	vec_config_init(&cfg->vec2);
}

/* One key of [vector] or [vector2]. */
static int
vector_set(struct vec_config *v, const char *key, const char *value,
    char *err)
{
	if (strcmp(key, "backend") == 0) {
		if (strcmp(value, "local") == 0)
			v->backend = VEC_BACKEND_LOCAL;
		else if (strcmp(value, "qdrant") == 0)
			v->backend = VEC_BACKEND_QDRANT;
		else {
			snprintf(err, CONF_ERR_MAX, "backend: local or qdrant");
			return -1;
		}
	} else if (strcmp(key, "data_dir") == 0) {
		free((void *)(uintptr_t)v->data_dir);
		v->data_dir = xstrdup(value);
	} else if (strcmp(key, "url") == 0) {
		free((void *)(uintptr_t)v->url);
		v->url = xstrdup(value);
	} else if (strcmp(key, "sync") == 0) {
		if (strcmp(value, "batch") == 0)
			v->sync = VEC_SYNC_BATCH;
		else if (strcmp(value, "none") == 0)
			v->sync = VEC_SYNC_NONE;
		else {
			snprintf(err, CONF_ERR_MAX, "sync: batch or none");
			return -1;
		}
	} else {
		snprintf(err, CONF_ERR_MAX, "unknown key '%s'", key);
		return -1;
	}
	return 0;
}

bool
search_config_section(const char *section)
{
	return strcmp(section, "embed") == 0 ||
	    strcmp(section, "vector") == 0 ||
	    strcmp(section, "embed2") == 0 ||
	    strcmp(section, "vector2") == 0 ||
	    strcmp(section, "database") == 0;
}

bool
search_config_open(struct search_config *cfg, const char *section)
{
	if (strcmp(section, "embed2") == 0)
		cfg->has_embed2 = true;
	return search_config_section(section);
}

static int
conf_cb(void *ctx, const char *section, const char *name, const char *key,
    const char *value, int line, char *err)
{
	(void)name;
	(void)line;
	if (*key == '\0') {
		if (!search_config_open(ctx, section)) {
			snprintf(err, CONF_ERR_MAX, "unknown section [%s]",
			    section);
			return -1;
		}
		return 0;
	}
	return search_config_set(ctx, section, key, value, err);
}

int
search_config_set(struct search_config *cfg, const char *section,
    const char *key, const char *value, char *err)
{
	if (strcmp(section, "embed") == 0)
		return embedder_config_set(&cfg->embed, key, value, err,
		    CONF_ERR_MAX);
	if (strcmp(section, "embed2") == 0) {
		cfg->has_embed2 = true;
		return embedder_config_set(&cfg->embed2, key, value, err,
		    CONF_ERR_MAX);
	}
	if (strcmp(section, "vector2") == 0)
		return vector_set(&cfg->vec2, key, value, err);
	if (strcmp(section, "database") == 0) {
		if (strcmp(key, "conninfo") != 0) {
			snprintf(err, CONF_ERR_MAX, "unknown key '%s'", key);
			return -1;
		}
		/* a password here would sit in a config file in clear;
		 * libpq reads it from ~/.pgpass or PGPASSFILE instead */
		if (strcasestr(value, "password") != NULL) {
			snprintf(err, CONF_ERR_MAX, "conninfo: no password "
			    "in config files; use a password file "
			    "(PGPASSFILE or ~/.pgpass)");
			return -1;
		}
		free(cfg->conninfo);
		cfg->conninfo = xstrdup(value);
		return 0;
	}
	if (strcmp(section, "vector") == 0)
		return vector_set(&cfg->vec, key, value, err);
	snprintf(err, CONF_ERR_MAX, "key outside a section");
	return -1;
}

int
search_config_load(struct search_config *cfg, const char *path, char *err,
    size_t errlen)
{
	char e[CONF_ERR_MAX];

	if (conf_parse_file(path, conf_cb, cfg, e) != 0)
		return search_err(err, errlen, "%s", e);
	return search_config_check(cfg, path, err, errlen);
}

int
search_config_check(const struct search_config *cfg, const char *path,
    char *err, size_t errlen)
{
	if (cfg->vec.backend == VEC_BACKEND_LOCAL && cfg->vec.data_dir == NULL)
		return search_err(err, errlen, "%s: [vector] data_dir is "
		    "required", path);
	if (cfg->vec.backend == VEC_BACKEND_QDRANT && cfg->vec.url == NULL)
		return search_err(err, errlen, "%s: [vector] url is required "
		    "for qdrant", path);
	if (!cfg->has_embed2) {
		if (cfg->vec2.data_dir != NULL || cfg->vec2.url != NULL)
			return search_err(err, errlen, "%s: [vector2] needs "
			    "[embed2]", path);
		return 0;
	}
	/* the same point ids go to both stores: they must not be one */
	if (cfg->vec2.backend == VEC_BACKEND_LOCAL && (cfg->vec2.data_dir ==
	    NULL || (cfg->vec.backend == VEC_BACKEND_LOCAL &&
	    strcmp(cfg->vec2.data_dir, cfg->vec.data_dir) == 0)))
		return search_err(err, errlen, "%s: [vector2] needs a "
		    "data_dir of its own", path);
	if (cfg->vec2.backend == VEC_BACKEND_QDRANT && (cfg->vec2.url ==
	    NULL || (cfg->vec.backend == VEC_BACKEND_QDRANT &&
	    strcmp(cfg->vec2.url, cfg->vec.url) == 0)))
		return search_err(err, errlen, "%s: [vector2] needs a "
		    "Qdrant url of its own", path);
	return 0;
}

void
search_config_fini(struct search_config *cfg)
{
	embedder_config_fini(&cfg->embed);
	free((void *)(uintptr_t)cfg->vec.data_dir);
	free((void *)(uintptr_t)cfg->vec.url);
	embedder_config_fini(&cfg->embed2);
	free((void *)(uintptr_t)cfg->vec2.data_dir);
	free((void *)(uintptr_t)cfg->vec2.url);
	free(cfg->conninfo);
	search_config_init(cfg);
}

/* ---- context ---------------------------------------------------------- */

int
search_open(const struct search_config *cfg, struct search_ctx **ctx_r,
    char *err, size_t errlen)
{
	struct search_ctx *c = xcalloc(1, sizeof(*c));
	struct vec_config vc = cfg->vec;
	const char *errstr;
	char e[EMBEDDER_ERR_MAX];

	*ctx_r = NULL;
	if (embedder_open(&cfg->embed, &c->emb, e, sizeof(e)) != 0) {
		search_err(err, errlen, "embedder: %s", e);
		goto fail;
	}
	c->dim = embedder_dim(c->emb);
	vc.dim = (uint32_t)c->dim;
	if (vec_open(&vc, &c->vec, &errstr) != 0) {
		search_err(err, errlen, "vector store: %s", errstr);
		goto fail;
	}
	if (cfg->has_embed2) {
		struct vec_config vc2 = cfg->vec2;

		if (embedder_open(&cfg->embed2, &c->emb2, e, sizeof(e)) != 0) {
			search_err(err, errlen, "embedder2: %s", e);
			goto fail;
		}
		c->dim2 = embedder_dim(c->emb2);
		vc2.dim = (uint32_t)c->dim2;
		if (vec_open(&vc2, &c->vec2, &errstr) != 0) {
			search_err(err, errlen, "vector store2: %s", errstr);
			goto fail;
		}
	}
	c->pg = PQconnectdb(cfg->conninfo != NULL ? cfg->conninfo : "");
	if (PQstatus(c->pg) != CONNECTION_OK) {
		/* libpq's message names host/port/user, never a password */
		size_t l;

		search_err(err, errlen, "database: %s",
		    PQerrorMessage(c->pg));
		/* libpq ends its messages with a newline; logs add their own */
		for (l = strlen(err); l > 0 && (err[l - 1] == '\n' ||
		    err[l - 1] == ' '); l--)
			err[l - 1] = '\0';
		for (char *p = err; *p != '\0'; p++)
			if (*p == '\n')
				*p = ' ';
		goto fail;
	}
	*ctx_r = c;
	return 0;
fail:
	search_close(&c);
	return -1;
}

void
search_close(struct search_ctx **cp)
{
	struct search_ctx *c = *cp;

	if (c == NULL)
		return;
	if (c->pg != NULL)
		PQfinish(c->pg);
	vec_close(&c->vec);
	embedder_close(&c->emb);
	if (c->vec2 != NULL)
		vec_close(&c->vec2);
	if (c->emb2 != NULL)
		embedder_close(&c->emb2);
	free(c);
	*cp = NULL;
}

bool
search_db_ok(const struct search_ctx *c)
{
	return c != NULL && c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK;
}

bool
search_db_reset(struct search_ctx *c)
{
	if (c == NULL || c->pg == NULL)
		return false;
	if (PQstatus(c->pg) != CONNECTION_OK)
		PQreset(c->pg);
	return PQstatus(c->pg) == CONNECTION_OK;
}

void
search_chunk_id(const char *message_key, int32_t chunk_no,
    struct vec_id *id_r)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t klen = strlen(message_key);
	char *buf = xmalloc(klen + 16);
	int n;

	memcpy(buf, message_key, klen + 1);
	n = snprintf(buf + klen + 1, 15, "%" PRId32, chunk_no);
	/* SHA-256 is always available in libcrypto; failure is a bug */
	if (EVP_Digest(buf, klen + 1 + (size_t)n, md, NULL, EVP_sha256(),
	    NULL) != 1)
		abort();
	free(buf);
	memset(id_r, 0, sizeof(*id_r));
	id_r->kind = VEC_ID_UUID;
	memcpy(id_r->uuid, md, 16);
	id_r->uuid[6] = (uint8_t)((id_r->uuid[6] & 0x0f) | 0x80); /* v8 */
	id_r->uuid[8] = (uint8_t)((id_r->uuid[8] & 0x3f) | 0x80); /* variant */
}

/* ---- transactions ----------------------------------------------------- */

int
search_pg_ok(PGresult *res, ExecStatusType want, char *err, size_t errlen,
    const char *what)
{
	if (PQresultStatus(res) == want)
		return 0;
	search_err(err, errlen, "%s: %s", what,
	    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) != NULL ?
	    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
	    PQresStatus(PQresultStatus(res)));
	PQclear(res);
	return -1;
}

int
search_begin(struct search_ctx *c, const char *tenant, bool read_only,
    char *err, size_t errlen)
{
	const char *params[1] = { tenant };
	PGresult *res;

	res = PQexec(c->pg, read_only ? "BEGIN READ ONLY" : "BEGIN");
	if (search_pg_ok(res, PGRES_COMMAND_OK, err, errlen, "BEGIN") != 0)
		return -1;
	PQclear(res);
	/* is_local = true: the setting ends with this transaction */
	res = PQexecParams(c->pg,
	    "SELECT set_config('crm.tenant_id', $1, true)", 1, NULL, params,
	    NULL, NULL, 0);
	if (search_pg_ok(res, PGRES_TUPLES_OK, err, errlen,
	    "set tenant") != 0) {
		search_end(c, false);
		return -1;
	}
	PQclear(res);
	return 0;
}

int
search_end(struct search_ctx *c, bool commit)
{
	PGresult *res = PQexec(c->pg, commit ? "COMMIT" : "ROLLBACK");
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;

	PQclear(res);
	return rc;
}

/* ---- retrieval -------------------------------------------------------- */

void
search_opts_init(struct search_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = SEARCH_HYBRID;
	o->account_id = -1;
	o->fts_expand = true;
	o->dense2 = true;
}

static void
ranked_free(struct search_ranked *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((void *)(uintptr_t)r[i].key);
	free(r);
}

/* Appends KEY unless already listed: a message ranks at its best chunk. */
static void
ranked_add(struct search_ranked *r, size_t *n, const char *key,
    double score, int32_t *chunks, int32_t chunk)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(r[i].key, key) == 0)
			return;
	r[*n].key = xstrdup(key);
	r[*n].rank = (unsigned)(*n + 1);
	r[*n].score = score;
	chunks[*n] = chunk;
	(*n)++;
}

/*
 * Rocchio feedback: Q += WEIGHT * mean of the vectors of the best NDOCS
 * chunks of VR (distinct messages), then Q is normalized again.  The
 * vectors are not stored with the hits, so the chunks are read from SQL
 * (as this tenant) and embedded again exactly as ingestion did
 * (subject + "\n" + chunk).  A chunk without a visible row is skipped.
 */
static int
prf_vector(struct search_ctx *c, const char *tenant,
    const char *const *keys, const int32_t *chunks, size_t nkeys,
    unsigned ndocs, double weight, float *q, char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT subject || E'\\n' || body FROM message_chunks"
	    " WHERE tenant_id = $1 AND message_key = $2 AND chunk_no = $3";
	char **texts = xcalloc(ndocs, sizeof(*texts));
	size_t *lens = xcalloc(ndocs, sizeof(*lens));
	float *dv = NULL;
	size_t n = 0;
	int rc = -1;
	char e[EMBEDDER_ERR_MAX];

	for (size_t i = 0; i < nkeys && n < ndocs; i++) {
		const char *key = keys[i];
		char chunk[24];
		const char *params[3] = { tenant, key, chunk };
		PGresult *res;
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(keys[j], key) == 0;
		if (dup)
			continue;
		snprintf(chunk, sizeof(chunk), "%" PRId32, chunks[i]);
		res = PQexecParams(c->pg, sql, 3, NULL, params, NULL, NULL, 0);
		if (search_pg_ok(res, PGRES_TUPLES_OK, err, errlen,
		    "feedback rows") != 0)
			goto out;
		if (PQntuples(res) == 1) {
			texts[n] = xstrdup(PQgetvalue(res, 0, 0));
			lens[n] = strlen(texts[n]);
			n++;
		}
		PQclear(res);
	}
	if (n == 0) {
		rc = 0;
		goto out;
	}
	dv = xreallocarray(NULL, n * c->dim, sizeof(*dv));
	if (embedder_texts(c->emb, (const char *const *)texts, lens, n, dv,
	    e, sizeof(e)) != 0) {
		search_err(err, errlen, "embedding feedback chunks: %s", e);
		goto out;
	}
	for (size_t d = 0; d < c->dim; d++) {
		double m = 0;

		for (size_t i = 0; i < n; i++)
			m += dv[i * c->dim + d];
		q[d] += (float)(weight * m / (double)n);
	}
	(void)vec_normalize(q, c->dim);
	rc = 0;
out:
	for (size_t i = 0; i < ndocs; i++)
		free(texts[i]);
	free(texts);
	free(lens);
	free(dv);
	return rc;
}

/*
 * Dense retrieval.  Q (c->dim floats) is the query vector: computed here
 * unless HAVE_Q; with OWN_PRF and o->prf_docs, feedback from this list is
 * added to it before the final search.  SECOND: the second model and its
 * store instead (Q has c->dim2 floats; no synonyms, no feedback).
 */
static int
dense(struct search_ctx *c, const char *tenant, const char *query,
    const struct search_opts *o, size_t depth, float *q, bool have_q,
    bool own_prf, bool second, struct search_ranked **r_r,
    int32_t **chunks_r, size_t *n_r, char *err, size_t errlen)
{
	size_t qlen = strlen(query);
	struct vec_filter f = { 0 };
	struct vec_result vr = { 0 };
	char acct[24];
	const char *errstr;
	char e[EMBEDDER_ERR_MAX];
	struct embedder *emb = second ? c->emb2 : c->emb;
	struct vec_store *vec = second ? c->vec2 : c->vec;

	*r_r = NULL;
	*n_r = 0;
	if (!have_q && embedder_texts(emb, &query, &qlen, 1, q, e,
	    sizeof(e)) != 0)
		return search_err(err, errlen, "embedding the query: %s", e);
	if (second)
		own_prf = false;
	if (!have_q && !second && o->dense_syn_weight > 0) {
		char *syn = search_synonyms(query);
		const char *sp = syn;
		size_t sl = strlen(syn);
		float *sv;

		if (sl > 0) {
			sv = xreallocarray(NULL, c->dim, sizeof(*sv));
			if (embedder_texts(c->emb, &sp, &sl, 1, sv, e,
			    sizeof(e)) != 0) {
				free(sv);
				free(syn);
				return search_err(err, errlen,
				    "embedding synonyms: %s", e);
			}
			for (size_t d = 0; d < c->dim; d++)
				q[d] += (float)o->dense_syn_weight * sv[d];
			(void)vec_normalize(q, c->dim);
			free(sv);
		}
		free(syn);
	}
	if (o->account_id >= 0) {
		snprintf(acct, sizeof(acct), "%" PRId64, o->account_id);
		f.account_id = acct;
	}
	f.has_since = o->has_since;
	f.since = o->since;
	f.has_until = o->has_until;
	f.until = o->until;
	if (vec_search(vec, tenant, q, depth, &f, 0, &vr, &errstr) != 0) {
		vec_result_fini(&vr);
		return search_err(err, errlen, "vector search: %s", errstr);
	}
	if (o->prf_docs > 0 && own_prf && vr.count > 0) {
		const char **keys = xcalloc(vr.count, sizeof(*keys));
		int32_t *chs = xcalloc(vr.count, sizeof(*chs));
		int prc;

		for (size_t i = 0; i < vr.count; i++) {
			keys[i] = vr.hits[i].payload.message_ref;
			chs[i] = (int32_t)vr.hits[i].payload.chunk;
		}
		prc = prf_vector(c, tenant, keys, chs, vr.count, o->prf_docs,
		    o->prf_weight, q, err, errlen);
		free(keys);
		free(chs);
		if (prc != 0) {
			vec_result_fini(&vr);
			return -1;
		}
		vec_result_fini(&vr);
		if (vec_search(vec, tenant, q, depth, &f, 0, &vr,
		    &errstr) != 0) {
			vec_result_fini(&vr);
			return search_err(err, errlen, "vector search: %s",
			    errstr);
		}
	}
	*r_r = xcalloc(vr.count + 1, sizeof(**r_r));
	*chunks_r = xcalloc(vr.count + 1, sizeof(**chunks_r));
	for (size_t i = 0; i < vr.count; i++)
		ranked_add(*r_r, n_r, vr.hits[i].payload.message_ref,
		    vr.hits[i].score, *chunks_r,
		    (int32_t)vr.hits[i].payload.chunk);
	vec_result_fini(&vr);
	return 0;
}

/*
 * The stored column is english; 'simple' is computed per row, which only
 * the evaluation uses (it scans the tenant's rows).
 */
static const char *const fts_sql[2] = {
	[SEARCH_FTS_ENGLISH] =
	    "SELECT message_key, chunk_no, ts_rank_cd(tsv, q)"
	    " FROM message_chunks,"
	    " websearch_to_tsquery('english', $2) q"
	    " WHERE tenant_id = $1 AND tsv @@ q"
	    " AND ($3::bigint IS NULL OR account_id = $3)"
	    " AND ($4::bigint IS NULL OR sent_at >= to_timestamp($4))"
	    " AND ($5::bigint IS NULL OR sent_at <= to_timestamp($5))"
	    " ORDER BY ts_rank_cd(tsv, q) DESC, sent_at DESC LIMIT $6",
	[SEARCH_FTS_SIMPLE] =
	    "SELECT message_key, chunk_no, ts_rank_cd(stsv, q)"
	    " FROM (SELECT *,"
	    " setweight(to_tsvector('simple', subject), 'A') ||"
	    " setweight(to_tsvector('simple', body), 'B') AS stsv"
	    " FROM message_chunks WHERE tenant_id = $1) m,"
	    " websearch_to_tsquery('simple', $2) q"
	    " WHERE stsv @@ q"
	    " AND ($3::bigint IS NULL OR account_id = $3)"
	    " AND ($4::bigint IS NULL OR sent_at >= to_timestamp($4))"
	    " AND ($5::bigint IS NULL OR sent_at <= to_timestamp($5))"
	    " ORDER BY ts_rank_cd(stsv, q) DESC, sent_at DESC LIMIT $6",
};

static int
fulltext(struct search_ctx *c, const char *tenant, const char *query,
    const struct search_opts *o, size_t depth, struct search_ranked **r_r,
    int32_t **chunks_r, size_t *n_r, char *err, size_t errlen)
{
	char acct[24], since[24], until[24], lim[24];
	char *q = o->fts_match == SEARCH_FTS_ALL ? xstrdup(query) :
	    o->fts_expand ? search_fts_expand(query) : search_fts_any(query);
	const char *params[6] = { tenant, q,
	    o->account_id >= 0 ? acct : NULL, o->has_since ? since : NULL,
	    o->has_until ? until : NULL, lim };
	PGresult *res;
	int rows;

	*r_r = NULL;
	*n_r = 0;
	snprintf(acct, sizeof(acct), "%" PRId64, o->account_id);
	snprintf(since, sizeof(since), "%" PRId64, o->since);
	snprintf(until, sizeof(until), "%" PRId64, o->until);
	snprintf(lim, sizeof(lim), "%zu", depth);
	res = PQexecParams(c->pg, fts_sql[o->fts_config], 6,
	    NULL, params, NULL, NULL, 0);
	free(q);
	if (search_pg_ok(res, PGRES_TUPLES_OK, err, errlen,
	    "full-text search") != 0)
		return -1;
	rows = PQntuples(res);
	*r_r = xcalloc((size_t)rows + 1, sizeof(**r_r));
	*chunks_r = xcalloc((size_t)rows + 1, sizeof(**chunks_r));
	for (int i = 0; i < rows; i++)
		ranked_add(*r_r, n_r, PQgetvalue(res, i, 0),
		    strtod(PQgetvalue(res, i, 2), NULL), *chunks_r,
		    (int32_t)strtol(PQgetvalue(res, i, 1), NULL, 10));
	PQclear(res);
	return 0;
}

/*
 * Fills hit I's columns from SQL.  A chunk invisible to this tenant's
 * transaction (or deleted since it was embedded) drops the hit: the
 * database, under its policy, has the last word on what a tenant sees.
 */
static int
fetch_rows(struct search_ctx *c, struct search_result *r, char *err,
    size_t errlen)
{
	static const char sql[] =
	    "SELECT k.ord, m.message_key, m.chunk_no,"
	    " coalesce(m.account_id, -1), coalesce(m.contact_address, ''),"
	    " m.direction, extract(epoch from m.sent_at)::bigint, m.subject,"
	    " m.body, coalesce(a.name, '')"
	    " FROM unnest($1::text[], $2::int[]) WITH ORDINALITY"
	    " AS k(key, chunk, ord) JOIN message_chunks m"
	    " ON m.message_key = k.key AND m.chunk_no = k.chunk"
	    " AND m.tenant_id = current_setting('crm.tenant_id', true)"
	    " LEFT JOIN accounts a ON a.id = m.account_id"
	    " AND a.tenant_id = m.tenant_id"
	    " ORDER BY k.ord";
	size_t cap = 64, len;
	char *keys, *chunks;
	const char *params[2];
	PGresult *res;
	size_t kept = 0;
	int rows;
	bool *seen;

	if (r->count == 0)
		return 0;
	for (size_t i = 0; i < r->count; i++)
		cap += strlen(r->hits[i].message_key) * 2 + 16;
	keys = xmalloc(cap);
	chunks = xmalloc(r->count * 16 + 8);
	/* array literals: keys quoted with " and \ escaped */
	len = 0;
	keys[len++] = '{';
	for (size_t i = 0; i < r->count; i++) {
		const char *k = r->hits[i].message_key;

		if (i > 0)
			keys[len++] = ',';
		keys[len++] = '"';
		for (; *k != '\0'; k++) {
			if (*k == '"' || *k == '\\')
				keys[len++] = '\\';
			keys[len++] = *k;
		}
		keys[len++] = '"';
	}
	keys[len++] = '}';
	keys[len] = '\0';
	len = 0;
	chunks[len++] = '{';
	for (size_t i = 0; i < r->count; i++)
		len += (size_t)snprintf(chunks + len, 16, "%s%" PRId32,
		    i > 0 ? "," : "", r->hits[i].chunk_no);
	chunks[len++] = '}';
	chunks[len] = '\0';
	params[0] = keys;
	params[1] = chunks;
	res = PQexecParams(c->pg, sql, 2, NULL, params, NULL, NULL, 0);
	free(keys);
	free(chunks);
	if (search_pg_ok(res, PGRES_TUPLES_OK, err, errlen, "chunk rows") != 0)
		return -1;
	rows = PQntuples(res);
	seen = xcalloc(r->count, sizeof(*seen));
	for (int i = 0; i < rows; i++) {
		size_t at = strtoul(PQgetvalue(res, i, 0), NULL, 10) - 1;
		struct search_hit *h;

		if (at >= r->count || seen[at])
			continue;
		seen[at] = true;
		h = &r->hits[at];
		h->account_id = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		h->account_name = xstrdup(PQgetvalue(res, i, 9));
		h->contact = xstrdup(PQgetvalue(res, i, 4));
		snprintf(h->direction, sizeof(h->direction), "%s",
		    PQgetvalue(res, i, 5));
		h->sent_at = strtoll(PQgetvalue(res, i, 6), NULL, 10);
		h->subject = xstrdup(PQgetvalue(res, i, 7));
		h->body = xstrdup(PQgetvalue(res, i, 8));
	}
	PQclear(res);
	for (size_t i = 0; i < r->count; i++) {
		if (seen[i]) {
			r->hits[kept++] = r->hits[i];
			continue;
		}
		free(r->hits[i].message_key);
	}
	r->count = kept;
	free(seen);
	return 0;
}

static void
hit_fini(struct search_hit *h)
{
	free(h->message_key);
	free(h->account_name);
	free(h->contact);
	free(h->subject);
	free(h->body);
}

void
search_result_fini(struct search_result *r)
{
	for (size_t i = 0; i < r->count; i++)
		hit_fini(&r->hits[i]);
	free(r->hits);
	memset(r, 0, sizeof(*r));
}

/* Dense, full text (weight FW) and second dense lists into OUT, by rank
 * (RRF) or, with o->fuse_scores, by score. */
static size_t
fuse_lists(const struct search_opts *o, const struct search_ranked *da,
    size_t nd, const struct search_ranked *fa, size_t nf,
    const struct search_ranked *d2a, size_t nd2, unsigned rrf_k, double fw,
    struct search_fused *out)
{
	if (o->fuse_scores)
		return search_score3(da, nd, fa, nf, d2a, nd2, 1.0, fw, 1.0,
		    out);
	return search_rrf3(da, nd, fa, nf, d2a, nd2, rrf_k, 1.0, fw, 1.0,
	    out);
}

int
search_query(struct search_ctx *c, const char *tenant, const char *query,
    const struct search_opts *o, struct search_result *r, char *err,
    size_t errlen)
{
	struct search_ranked *da = NULL, *fa = NULL, *d2a = NULL;
	int32_t *dch = NULL, *fch = NULL, *d2ch = NULL;
	struct search_fused *fused = NULL;
	size_t nd = 0, nf = 0, nd2 = 0, nfused, k, depth;
	unsigned rrf_k;
	int rc = -1;
	float *qv = NULL, *qv2 = NULL;
	bool use2 = c->emb2 != NULL && ((o->mode == SEARCH_HYBRID &&
	    o->dense2) || o->mode == SEARCH_DENSE2);
	bool fb_fused = o->prf_docs > 0 && o->prf_fused &&
	    o->mode == SEARCH_HYBRID;
	double fw = o->fts_weight > 0 ? o->fts_weight : 1.0;

	memset(r, 0, sizeof(*r));
	k = o->k != 0 ? o->k : 10;
	depth = o->depth != 0 ? o->depth : SEARCH_DEPTH_DEFAULT;
	rrf_k = o->rrf_k != 0 ? o->rrf_k : SEARCH_RRF_K_DEFAULT;
	if (!vec_tenant_valid(tenant))
		return search_err(err, errlen, "bad tenant id");
	if (strlen(query) > SEARCH_QUERY_MAX || *query == '\0')
		return search_err(err, errlen, "query empty or longer than "
		    "%d bytes", SEARCH_QUERY_MAX);
	if (k > SEARCH_K_MAX || depth > SEARCH_DEPTH_MAX || depth > VEC_K_MAX)
		return search_err(err, errlen, "k or depth too large");
	if (depth < k)
		depth = k;
	if (o->mode == SEARCH_DENSE2 && c->emb2 == NULL)
		return search_err(err, errlen, "no second dense model "
		    "configured ([embed2])");
	if (search_begin(c, tenant, true, err, errlen) != 0)
		return -1;
	qv = xreallocarray(NULL, c->dim, sizeof(*qv));
	if ((o->mode == SEARCH_HYBRID || o->mode == SEARCH_DENSE) &&
	    dense(c, tenant, query, o, depth, qv, false, !fb_fused, false,
	    &da, &dch, &nd, err, errlen) != 0)
		goto out;
	if (use2) {
		qv2 = xreallocarray(NULL, c->dim2, sizeof(*qv2));
		if (dense(c, tenant, query, o, depth, qv2, false, false, true,
		    &d2a, &d2ch, &nd2, err, errlen) != 0)
			goto out;
	}
	if ((o->mode == SEARCH_HYBRID || o->mode == SEARCH_FTS) &&
	    fulltext(c, tenant, query, o, depth, &fa, &fch, &nf, err,
	    errlen) != 0)
		goto out;
	fused = xcalloc(nd + nf + nd2 + 1, sizeof(*fused));
	nfused = fuse_lists(o, da, nd, fa, nf, d2a, nd2, rrf_k, fw, fused);
	if (fb_fused && nfused > 0) {
		/* feedback from the fused list, then dense and fusion again */
		size_t m = nfused < o->prf_docs ? nfused : o->prf_docs;
		const char **keys = xcalloc(m, sizeof(*keys));
		int32_t *chs = xcalloc(m, sizeof(*chs));
		int prc;

		for (size_t i = 0; i < m; i++) {
			bool in_a = fused[i].a != SIZE_MAX;
			bool in_b = fused[i].b != SIZE_MAX;

			keys[i] = in_a ? da[fused[i].a].key : in_b ?
			    fa[fused[i].b].key : d2a[fused[i].c].key;
			chs[i] = in_a ? dch[fused[i].a] : in_b ?
			    fch[fused[i].b] : d2ch[fused[i].c];
		}
		prc = prf_vector(c, tenant, keys, chs, m, o->prf_docs,
		    o->prf_weight, qv, err, errlen);
		free(keys);
		free(chs);
		if (prc != 0)
			goto out;
		ranked_free(da, nd);
		free(dch);
		da = NULL;
		dch = NULL;
		nd = 0;
		if (dense(c, tenant, query, o, depth, qv, true, false, false,
		    &da, &dch, &nd, err, errlen) != 0)
			goto out;
		free(fused);
		fused = xcalloc(nd + nf + nd2 + 1, sizeof(*fused));
		nfused = fuse_lists(o, da, nd, fa, nf, d2a, nd2, rrf_k, fw,
		    fused);
	}
	/* a few spare candidates, in case some are not visible in SQL */
	r->hits = xcalloc(nfused + 1, sizeof(*r->hits));
	for (size_t i = 0; i < nfused && r->count < k + 16; i++) {
		struct search_hit *h = &r->hits[r->count++];
		bool in_a = fused[i].a != SIZE_MAX;
		bool in_b = fused[i].b != SIZE_MAX;
		bool in_c = fused[i].c != SIZE_MAX;

		h->message_key = xstrdup(in_a ? da[fused[i].a].key : in_b ?
		    fa[fused[i].b].key : d2a[fused[i].c].key);
		h->chunk_no = in_a ? dch[fused[i].a] : in_b ?
		    fch[fused[i].b] : d2ch[fused[i].c];
		h->dense_rank = in_a ? da[fused[i].a].rank : 0;
		h->fts_rank = in_b ? fa[fused[i].b].rank : 0;
		h->dense2_rank = in_c ? d2a[fused[i].c].rank : 0;
		h->score = fused[i].score;
	}
	if (fetch_rows(c, r, err, errlen) != 0)
		goto out;
	while (r->count > k)
		hit_fini(&r->hits[--r->count]);
	rc = 0;
out:
	(void)search_end(c, rc == 0);
	free(qv);
	free(qv2);
	ranked_free(da, nd);
	ranked_free(fa, nf);
	ranked_free(d2a, nd2);
	free(dch);
	free(fch);
	free(d2ch);
	free(fused);
	if (rc != 0)
		search_result_fini(r);
	return rc;
}
