/*
 * search_ingest.c - messages in, chunk rows and chunk vectors out.
 *
 * Order of writes: vectors first, then the SQL rows in one transaction.
 * A crash between the two leaves vectors without rows, which search
 * ignores (a dense hit needs its row) and the next ingestion of the same
 * message overwrites (ids are derived from key and chunk number).  The
 * reverse order could leave rows that dense search never finds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/embed/embed.h"
#include "enrich/search/search_int.h"
#include "lib/xmalloc.h"

struct piece {
	size_t msg;
	int32_t chunk_no;
	const char *text;	/* into the message body */
	size_t len;
	char *embed_text;	/* subject + chunk, what the model sees */
	size_t embed_len;
};

struct pieces {
	struct piece *p;
	size_t n, cap;
};

static void
pieces_add(struct pieces *ps, size_t msg, int32_t chunk_no,
    const struct search_message *m, const char *text, size_t len)
{
	struct piece *p;
	const char *subj = m->subject != NULL ? m->subject : "";

	if (ps->n == ps->cap) {
		ps->cap = ps->cap * 2 + 16;
		ps->p = xreallocarray(ps->p, ps->cap, sizeof(*ps->p));
	}
	p = &ps->p[ps->n++];
	p->msg = msg;
	p->chunk_no = chunk_no;
	p->text = text;
	p->len = len;
	p->embed_text = xasprintf("%s\n%.*s", subj, (int)len, text);
	p->embed_len = strlen(p->embed_text);
}

/* Byte windows for a backend without a tokenizer, cut at whitespace. */
static void
chunk_bytes(struct pieces *ps, size_t msg, const struct search_message *m,
    const char *body, size_t len)
{
	size_t start = 0;
	int32_t no = 0;

	do {
		size_t end = start + SEARCH_CHUNK_BYTES;

		if (end >= len)
			end = len;
		else {
			size_t cut = end;

			while (cut > start + SEARCH_CHUNK_BYTES / 2 &&
			    body[cut] != ' ' && body[cut] != '\n')
				cut--;
			if (cut > start + SEARCH_CHUNK_BYTES / 2)
				end = cut;
			/* never split a UTF-8 sequence */
			while (end < len &&
			    ((unsigned char)body[end] & 0xc0) == 0x80)
				end++;
		}
		pieces_add(ps, msg, no++, m, body + start, end - start);
		if (end >= len)
			break;
		start = end > SEARCH_CHUNK_BYTES_OVERLAP ?
		    end - SEARCH_CHUNK_BYTES_OVERLAP : 0;
		while (start < end && body[start] != ' ' && body[start] != '\n')
			start++;
		while (start < len &&
		    ((unsigned char)body[start] & 0xc0) == 0x80)
			start++;
	} while (start < len);
}

static int
chunk_message(struct search_ctx *c, struct pieces *ps, size_t msg,
    const struct search_message *m, char *err, size_t errlen)
{
	struct embed_model *model = embedder_local_model(c->emb);
	const char *body = m->body != NULL ? m->body : "";
	size_t len = strlen(body);
	const struct embed_wordpiece *wp;
	struct embed_token *toks = NULL;
	struct embed_chunk *ch = NULL;
	size_t nt, nc;
	const char *errstr;

	if (len > SEARCH_BODY_MAX)
		len = SEARCH_BODY_MAX;
	while (len > 0 && ((unsigned char)body[len] & 0xc0) == 0x80 &&
	    len < strlen(body))
		len--;	/* do not end inside a UTF-8 sequence */
	if (model == NULL) {
		chunk_bytes(ps, msg, m, body, len);
		return 0;
	}
	wp = embed_model_tokenizer(model);
	if (embed_wordpiece_tokenize(wp, body, len, EMBED_TEXT_MAX, &toks,
	    &nt, &errstr) != 0 || embed_chunk_split(toks, nt,
	    SEARCH_CHUNK_TOKENS, SEARCH_CHUNK_OVERLAP, wp, &ch, &nc,
	    &errstr) != 0) {
		free(toks);
		return search_err(err, errlen, "%s: %s", m->message_key,
		    errstr);
	}
	if (nc == 0)	/* no words: the subject alone is indexed */
		pieces_add(ps, msg, 0, m, body, 0);
	for (size_t i = 0; i < nc; i++)
		pieces_add(ps, msg, (int32_t)i, m, body + ch[i].byte_start,
		    ch[i].byte_end - ch[i].byte_start);
	free(toks);
	free(ch);
	return 0;
}

static bool
message_valid(const struct search_message *m)
{
	return m->message_key != NULL && *m->message_key != '\0' &&
	    strlen(m->message_key) <= VEC_REF_MAX && m->direction != NULL &&
	    (strcmp(m->direction, "in") == 0 ||
	    strcmp(m->direction, "out") == 0 ||
	    strcmp(m->direction, "draft") == 0);
}

/* Embeds every piece with EMB (DIM floats) and upserts it into VEC. */
static int
upsert_vectors(struct embedder *emb, struct vec_store *vec, size_t dim,
    const char *tenant, const struct search_message *msgs, struct pieces *ps,
    char *err, size_t errlen)
{
	enum { BATCH = 64 };
	float *vecs = xreallocarray(NULL, BATCH * dim, sizeof(float));
	struct vec_point pts[BATCH];
	char accts[BATCH][24];
	const char *texts[BATCH];
	size_t lens[BATCH];
	const char *errstr;
	char e[EMBEDDER_ERR_MAX];
	int rc = -1;

	for (size_t i = 0; i < ps->n; i += BATCH) {
		size_t n = ps->n - i < BATCH ? ps->n - i : BATCH;

		for (size_t j = 0; j < n; j++) {
			texts[j] = ps->p[i + j].embed_text;
			lens[j] = ps->p[i + j].embed_len;
		}
		if (embedder_texts(emb, texts, lens, n, vecs, e,
		    sizeof(e)) != 0) {
			search_err(err, errlen, "embedding: %s", e);
			goto out;
		}
		for (size_t j = 0; j < n; j++) {
			const struct piece *p = &ps->p[i + j];
			const struct search_message *m = &msgs[p->msg];
			struct vec_point *pt = &pts[j];

			memset(pt, 0, sizeof(*pt));
			search_chunk_id(m->message_key, p->chunk_no, &pt->id);
			pt->vector = vecs + j * dim;
			accts[j][0] = '\0';
			if (m->account_id >= 0)
				snprintf(accts[j], sizeof(accts[j]),
				    "%" PRId64, m->account_id);
			pt->payload.account_id = accts[j];
			/* an address past the store's id limit is left out
			 * of the payload; SQL still has it */
			pt->payload.contact_id = m->contact != NULL &&
			    strlen(m->contact) <= VEC_KEY_MAX ? m->contact : "";
			(void)vec_direction_parse(m->direction,
			    &pt->payload.direction);
			pt->payload.ts = m->sent_at;
			pt->payload.message_ref = m->message_key;
			pt->payload.chunk = (uint32_t)p->chunk_no;
		}
		if (vec_upsert(vec, tenant, pts, n, &errstr) != 0) {
			search_err(err, errlen, "vector store: %s", errstr);
			goto out;
		}
	}
	rc = 0;
out:
	free(vecs);
	return rc;
}

static int
write_rows(struct search_ctx *c, const char *tenant,
    const struct search_message *msgs, size_t nmsg, struct pieces *ps,
    char *err, size_t errlen)
{
	static const char ins[] =
	    "INSERT INTO message_chunks (tenant_id, message_key, chunk_no,"
	    " account_id, contact_address, direction, sent_at, subject, body)"
	    " VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7), $8, $9)"
	    " ON CONFLICT (tenant_id, message_key, chunk_no) DO UPDATE SET"
	    " account_id = EXCLUDED.account_id,"
	    " contact_address = EXCLUDED.contact_address,"
	    " direction = EXCLUDED.direction, sent_at = EXCLUDED.sent_at,"
	    " subject = EXCLUDED.subject, body = EXCLUDED.body";
	static const char del[] =
	    "DELETE FROM message_chunks WHERE tenant_id = $1"
	    " AND message_key = $2 AND chunk_no >= $3";
	int32_t *count = xcalloc(nmsg + 1, sizeof(*count));
	char no[16], acct[24], ts[24];
	PGresult *res;
	int rc = -1;

	if (search_begin(c, tenant, false, err, errlen) != 0) {
		free(count);
		return -1;
	}
	for (size_t i = 0; i < ps->n; i++) {
		const struct piece *p = &ps->p[i];
		const struct search_message *m = &msgs[p->msg];
		char *body = xstrndup(p->text, p->len);
		const char *params[9] = { tenant, m->message_key, no,
		    m->account_id >= 0 ? acct : NULL, m->contact, m->direction,
		    ts, m->subject != NULL ? m->subject : "", body };

		snprintf(no, sizeof(no), "%" PRId32, p->chunk_no);
		snprintf(acct, sizeof(acct), "%" PRId64, m->account_id);
		snprintf(ts, sizeof(ts), "%" PRId64, m->sent_at);
		res = PQexecParams(c->pg, ins, 9, NULL, params, NULL, NULL, 0);
		free(body);
		if (search_pg_ok(res, PGRES_COMMAND_OK, err, errlen,
		    m->message_key) != 0)
			goto out;
		PQclear(res);
		if (p->chunk_no + 1 > count[p->msg])
			count[p->msg] = p->chunk_no + 1;
	}
	for (size_t i = 0; i < nmsg; i++) {
		const char *params[3] = { tenant, msgs[i].message_key, no };

		snprintf(no, sizeof(no), "%" PRId32, count[i]);
		res = PQexecParams(c->pg, del, 3, NULL, params, NULL, NULL, 0);
		if (search_pg_ok(res, PGRES_COMMAND_OK, err, errlen,
		    msgs[i].message_key) != 0)
			goto out;
		PQclear(res);
	}
	rc = 0;
out:
	if (search_end(c, rc == 0) != 0 && rc == 0)
		rc = search_err(err, errlen, "COMMIT: %s",
		    PQerrorMessage(c->pg));
	free(count);
	return rc;
}

int
search_ingest(struct search_ctx *c, const char *tenant,
    const struct search_message *msgs, size_t n, size_t *chunks_r,
    char *err, size_t errlen)
{
	struct pieces ps = { 0 };
	int rc = -1;

	if (chunks_r != NULL)
		*chunks_r = 0;
	if (!vec_tenant_valid(tenant))
		return search_err(err, errlen, "bad tenant id");
	for (size_t i = 0; i < n; i++) {
		if (!message_valid(&msgs[i])) {
			search_err(err, errlen, "message %zu: needs a key "
			    "(1..%d bytes) and direction in/out/draft", i + 1,
			    VEC_REF_MAX);
			goto out;
		}
		if (chunk_message(c, &ps, i, &msgs[i], err, errlen) != 0)
			goto out;
	}
	if (upsert_vectors(c->emb, c->vec, c->dim, tenant, msgs, &ps, err,
	    errlen) != 0 || (c->emb2 != NULL && upsert_vectors(c->emb2,
	    c->vec2, c->dim2, tenant, msgs, &ps, err, errlen) != 0) ||
	    write_rows(c, tenant, msgs, n, &ps, err, errlen) != 0)
		goto out;
	if (chunks_r != NULL)
		*chunks_r = ps.n;
	rc = 0;
out:
	for (size_t i = 0; i < ps.n; i++)
		free(ps.p[i].embed_text);
	free(ps.p);
	return rc;
}

int
search_forget(struct search_ctx *c, const char *tenant,
    const char *const *keys, size_t n, size_t *chunks_r, char *err,
    size_t errlen)
{
	static const char sel[] =
	    "SELECT chunk_no FROM message_chunks"
	    " WHERE tenant_id = $1 AND message_key = $2";
	static const char del[] =
	    "DELETE FROM message_chunks WHERE tenant_id = $1"
	    " AND message_key = $2";
	struct vec_id *ids = NULL;
	size_t nids = 0, cap = 0, removed = 0;
	const char *errstr;
	PGresult *res;
	int rc = -1;

	if (chunks_r != NULL)
		*chunks_r = 0;
	if (!vec_tenant_valid(tenant))
		return search_err(err, errlen, "bad tenant id");
	if (search_begin(c, tenant, false, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *params[2] = { tenant, keys[i] };

		res = PQexecParams(c->pg, sel, 2, NULL, params, NULL, NULL, 0);
		if (search_pg_ok(res, PGRES_TUPLES_OK, err, errlen,
		    keys[i]) != 0)
			goto out;
		for (int r = 0; r < PQntuples(res); r++) {
			if (nids == cap) {
				cap = cap * 2 + 16;
				ids = xreallocarray(ids, cap, sizeof(*ids));
			}
			search_chunk_id(keys[i],
			    (int32_t)strtol(PQgetvalue(res, r, 0), NULL, 10),
			    &ids[nids++]);
		}
		PQclear(res);
	}
	/* Vectors first: a row left without its vector is still a row a
	 * retry finds; a vector left without a row could never be found
	 * again to delete. */
	if (nids > 0 && vec_delete_ids(c->vec, tenant, ids, nids,
	    &errstr) != 0) {
		search_err(err, errlen, "vector store: %s", errstr);
		goto out;
	}
	if (nids > 0 && c->vec2 != NULL && vec_delete_ids(c->vec2, tenant,
	    ids, nids, &errstr) != 0) {
		search_err(err, errlen, "second vector store: %s", errstr);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *params[2] = { tenant, keys[i] };

		res = PQexecParams(c->pg, del, 2, NULL, params, NULL, NULL, 0);
		if (search_pg_ok(res, PGRES_COMMAND_OK, err, errlen,
		    keys[i]) != 0)
			goto out;
		removed += strtoul(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	rc = 0;
out:
	if (search_end(c, rc == 0) != 0 && rc == 0)
		rc = search_err(err, errlen, "COMMIT: %s",
		    PQerrorMessage(c->pg));
	if (rc == 0 && chunks_r != NULL)
		*chunks_r = removed;
	free(ids);
	return rc;
}
