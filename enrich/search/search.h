/*
 * search.h - hybrid search over message chunks (docs/search.md).
 *
 * Two retrievers, one ranking:
 *   dense      the query embedded (embedder.h) and matched by cosine in the
 *              vector store (vec.h), one collection / directory per tenant
 *   full text  PostgreSQL websearch_to_tsquery over message_chunks.tsv,
 *              ranked by ts_rank_cd, under row-level security
 * Optionally a second dense retriever: another model ([embed2]) with its
 * own vector store ([vector2]), fed by the same ingestion.
 * Each returns its best `depth` chunks; chunks collapse to messages (a
 * message ranks at its best chunk); the message lists are fused by
 * reciprocal rank fusion, score = sum over lists of 1 / (rrf_k + rank).
 *
 * Every SQL statement runs in a transaction that first sets crm.tenant_id,
 * and the session role is expected to be a non-owner (crm_api for search,
 * crm_enrich for ingestion), so the policy on message_chunks applies.
 * Vector hits are kept only if their chunk is visible in SQL as well.
 *
 * Nothing here logs or exits; errors go to a caller buffer of
 * SEARCH_ERR_MAX bytes.  A context is single-threaded.
 */
#ifndef CRM_SEARCH_H
#define CRM_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enrich/embed/embedder.h"
#include "enrich/vec/vec.h"

#define SEARCH_ERR_MAX 512
#define SEARCH_QUERY_MAX 2048	/* bytes of query text */
#define SEARCH_K_MAX 200	/* results returned */
#define SEARCH_DEPTH_MAX 1000	/* candidates per retriever */
#define SEARCH_RRF_K_DEFAULT 60
#define SEARCH_DEPTH_DEFAULT 50
/* Chunking for ingestion: tokens per window and overlap (local model). */
#define SEARCH_CHUNK_TOKENS 200
#define SEARCH_CHUNK_OVERLAP 32
/* Remote embedder (no tokenizer): bytes per window and overlap. */
#define SEARCH_CHUNK_BYTES 1000
#define SEARCH_CHUNK_BYTES_OVERLAP 200
#define SEARCH_BODY_MAX (1u << 20)	/* bytes of body indexed per message */

enum search_mode {
	SEARCH_HYBRID,
	SEARCH_DENSE,
	SEARCH_FTS,
	SEARCH_DENSE2,	/* the second dense model alone */
};

/* How query words combine in full-text search. */
enum search_fts_match {
	SEARCH_FTS_ANY,	/* any word may match (words joined by "or") */
	SEARCH_FTS_ALL,	/* websearch_to_tsquery of the text as typed */
};

/* Text search configuration; the stored column uses ENGLISH. */
enum search_fts_config {
	SEARCH_FTS_ENGLISH,
	SEARCH_FTS_SIMPLE,	/* computed per query: measurement only */
};

/* Everything a daemon or CLI reads from its config file. */
struct search_config {
	struct embedder_config embed;	/* [embed] */
	struct vec_config vec;		/* [vector]; dim comes from embed */
	char *conninfo;			/* [database]; NULL: libpq env */
	/*
	 * Optional second dense model: [embed2] and [vector2] take the keys
	 * of [embed] and [vector].  Its store must be another data_dir (or
	 * another Qdrant server): point ids are the same in both.
	 */
	bool has_embed2;
	struct embedder_config embed2;
	struct vec_config vec2;
};

void search_config_init(struct search_config *cfg);
/*
 * Reads [embed], [vector] (backend local|qdrant, data_dir, url, sync),
 * [database] (conninfo) and, optionally, [embed2] with [vector2].
 * Returns 0, or -1 with "file:line: msg" in err.
 */
int search_config_load(struct search_config *cfg, const char *path,
    char *err, size_t errlen);
void search_config_fini(struct search_config *cfg);
/*
 * For daemons whose config file adds sections of their own: true if
 * SECTION is one of [embed], [vector], [embed2], [vector2], [database];
 * search_config_open() says the same of a section header and notes that
 * [embed2] is present, even with no keys; search_config_set()
 * applies one key of those (0, or -1 with a message in err, CONF_ERR_MAX
 * bytes, without file:line); search_config_check() checks what must be
 * set once the file is read (-1 with "path: msg").
 */
bool search_config_section(const char *section);
bool search_config_open(struct search_config *cfg, const char *section);
int search_config_set(struct search_config *cfg, const char *section,
    const char *key, const char *value, char *err);
int search_config_check(const struct search_config *cfg, const char *path,
    char *err, size_t errlen);

struct search_ctx;

/*
 * Opens the embedder, the vector store and the database connection.
 * Returns 0 and *ctx_r, or -1 with a message in err.
 */
int search_open(const struct search_config *cfg, struct search_ctx **ctx_r,
    char *err, size_t errlen);
void search_close(struct search_ctx **ctx);
/* True while the context's database connection is up. */
bool search_db_ok(const struct search_ctx *ctx);
/* A long-lived caller (crm-api) after the database went away: reconnects
 * if the connection is down.  Returns whether it is up now. */
bool search_db_reset(struct search_ctx *ctx);

struct search_opts {
	enum search_mode mode;
	size_t k;		/* results; 0: 10 */
	size_t depth;		/* per retriever; 0: SEARCH_DEPTH_DEFAULT */
	unsigned rrf_k;		/* 0: SEARCH_RRF_K_DEFAULT */
	enum search_fts_match fts_match;
	enum search_fts_config fts_config;
	int64_t account_id;	/* < 0: any account */
	bool has_since, has_until;
	int64_t since, until;	/* Unix seconds, inclusive */
	/*
	 * Full text, "any word": add the sales-domain synonyms of the query
	 * words (search_fts_expand).  On by default (search_opts_init).
	 */
	bool fts_expand;
	/*
	 * Dense pseudo-relevance feedback (Rocchio): the best prf_docs chunks
	 * of a first search are embedded again, and the query vector plus
	 * prf_weight times their mean searches once more.  0 docs: off.
	 */
	unsigned prf_docs;
	double prf_weight;
	/* Hybrid: take the feedback chunks from the fused list instead. */
	bool prf_fused;
	/*
	 * Dense: add this weight times the embedding of the query's synonyms
	 * (search_synonyms) to the query vector.  0: off.
	 */
	double dense_syn_weight;
	/* Weight of the full-text list in the fusion (dense is 1); <= 0: 1. */
	double fts_weight;
	/*
	 * Hybrid: fuse the second dense model's list too, when one is
	 * configured.  On by default (search_opts_init).
	 */
	bool dense2;
	/*
	 * Hybrid: fuse scores instead of ranks (search_score3: each list's
	 * scores scaled to 0..1 by its own minimum and maximum, then summed
	 * with the lists' weights).  Off by default: RRF.
	 */
	bool fuse_scores;
};

void search_opts_init(struct search_opts *o);

struct search_hit {
	char *message_key;
	int32_t chunk_no;
	int64_t account_id;	/* -1: none */
	char *account_name;	/* "" when none (or not visible) */
	char *contact;		/* "" when none */
	char direction[8];
	int64_t sent_at;
	char *subject;
	char *body;		/* the chunk's text */
	double score;		/* fused (hybrid) or the retriever's own */
	unsigned dense_rank, fts_rank;	/* 1-based; 0: not found by it */
	unsigned dense2_rank;		/* the second dense model's; 0: none */
};

struct search_result {
	size_t count;
	struct search_hit *hits;	/* best first, one per message */
};

/*
 * Runs QUERY for TENANT.  On 0, *r holds up to o->k messages, best first;
 * release with search_result_fini() (also after -1).
 */
int search_query(struct search_ctx *ctx, const char *tenant,
    const char *query, const struct search_opts *o, struct search_result *r,
    char *err, size_t errlen);
void search_result_fini(struct search_result *r);

/* One message to index.  Strings are NUL-terminated UTF-8. */
struct search_message {
	const char *message_key;	/* the event's idempotency key */
	int64_t account_id;		/* -1: none */
	const char *contact;		/* NULL: none */
	const char *direction;		/* "in", "out", "draft" */
	int64_t sent_at;
	const char *subject;		/* NULL: "" */
	const char *body;
};

/*
 * Chunks, embeds and stores N messages for TENANT: vectors are upserted
 * into the store (and into the second model's, when configured), then
 * the chunk rows are written in one transaction
 * (insert or update by primary key; chunks beyond the new count are
 * removed).  Idempotent: ingesting a message again replaces it.
 * *chunks_r, if not NULL, gets the number of chunks written.
 */
int search_ingest(struct search_ctx *ctx, const char *tenant,
    const struct search_message *msgs, size_t n, size_t *chunks_r,
    char *err, size_t errlen);

/*
 * Removes the chunk rows and vectors of N messages (by key) of TENANT:
 * the chunk numbers are read from message_chunks, the vectors deleted,
 * then the rows, in one transaction.  Keys with no rows are no error.
 * A crash in between leaves rows whose vectors are gone; the next call
 * finishes the job.  *chunks_r, if not NULL, gets the rows removed.
 */
int search_forget(struct search_ctx *ctx, const char *tenant,
    const char *const *keys, size_t n, size_t *chunks_r, char *err,
    size_t errlen);

/*
 * The vector point id of a chunk: a UUID (version 8, RFC 9562) made of
 * SHA-256 over the key, a NUL and the decimal chunk number.
 */
void search_chunk_id(const char *message_key, int32_t chunk_no,
    struct vec_id *id_r);

/* ---- pieces with no library dependencies (search_util.c) -------------- */

/*
 * Parses a time for --since / --until: "30d", "12h", "2w", "90m" (before
 * NOW), "2026-10-01" (midnight UTC) or "2026-10-01T12:00:00Z".
 * UNTIL_END makes a bare date mean its last second.  Returns 0 or -1.
 */
int search_parse_time(const char *s, int64_t now, bool until_end,
    int64_t *t_r);

/*
 * Finds one time phrase in QUERY ("today", "yesterday", "this week",
 * "last week", "this month", "last month", "this quarter", "last
 * quarter", "this year", "last year", "last|past N days|weeks|months",
 * case-insensitive, whole words) and turns it into a range relative to
 * NOW (UTC): "last month" is the 30 days before NOW, "this month" starts
 * on the 1st, "yesterday" is that whole day.  On a match returns 1, sets
 * *since_r (and *has_until_r / *until_r, for "yesterday") and writes the
 * query without the phrase to STRIPPED (room for strlen(query) + 1).
 * Returns 0 when there is no phrase (STRIPPED = QUERY).
 */
int search_time_phrase(const char *query, int64_t now, char *stripped,
    int64_t *since_r, bool *has_until_r, int64_t *until_r);

/*
 * What crm-search and crm-api do with a query before searching: when o
 * has neither since nor until, a time phrase in QUERY (search_time_phrase)
 * becomes o's range and leaves QUERY, in place.  A query that is only a
 * time phrase keeps its words (and no range).  Returns true when a phrase
 * was taken.
 */
bool search_query_dates(char *query, int64_t now, struct search_opts *o);

/*
 * Builds the "any word" form of a query for websearch_to_tsquery: words
 * of letters and digits joined by " or ", at most SEARCH_QUERY_MAX bytes.
 * Returns a malloc'd string ("" for no words).
 */
char *search_fts_any(const char *query);

/*
 * search_fts_any() plus, for each query word that belongs to one of the
 * built-in sales-domain synonym groups (search_synonyms.c), the other
 * members of that group, each as one more "or" term (phrases in double
 * quotes).  At most SEARCH_QUERY_MAX bytes.  Returns a malloc'd string.
 */
char *search_fts_expand(const char *query);

/*
 * Only the added synonyms of search_fts_expand(), as plain text joined by
 * ", " ("" when no query word is in a group).  Malloc'd.
 */
char *search_synonyms(const char *query);

/* One ranked list in, fused list out: see search_rrf(). */
struct search_ranked {
	const char *key;	/* message key */
	unsigned rank;		/* 1-based */
	double score;		/* the retriever's own, higher is better:
				 * cosine (dense), ts_rank_cd (full text) */
};

struct search_fused {
	size_t a, b, c;		/* index into list A / B / C, or SIZE_MAX */
	double score;
};

/*
 * Reciprocal rank fusion of two lists of distinct keys.  Writes one entry
 * per distinct key to OUT (room for na + nb), sorted by score, ties broken
 * by the better single rank, then by list A.  Returns the count.
 */
size_t search_rrf(const struct search_ranked *a, size_t na,
    const struct search_ranked *b, size_t nb, unsigned k,
    struct search_fused *out);
/* The same with weights: score = wa / (k + rank in A) + wb / (k + rank in B). */
size_t search_rrf_weighted(const struct search_ranked *a, size_t na,
    const struct search_ranked *b, size_t nb, unsigned k, double wa,
    double wb, struct search_fused *out);
/*
 * Three lists (OUT has room for na + nb + nc; C may be NULL with nc 0):
 * score = wa / (k + rank in A) + wb / (k + rank in B) + wc / (k + rank in
 * C).  Ties go to the better best single rank, then to the better rank
 * in A, B, C in that order.  With nc 0 it is search_rrf_weighted().
 */
size_t search_rrf3(const struct search_ranked *a, size_t na,
    const struct search_ranked *b, size_t nb,
    const struct search_ranked *c, size_t nc, unsigned k, double wa,
    double wb, double wc, struct search_fused *out);
/*
 * The same lists fused by score: wa * (s - min) / (max - min) over list A,
 * and so on (a list whose scores are all equal gives each entry its full
 * weight); same ties and OUT as search_rrf3().
 */
size_t search_score3(const struct search_ranked *a, size_t na,
    const struct search_ranked *b, size_t nb,
    const struct search_ranked *c, size_t nc, double wa, double wb,
    double wc, struct search_fused *out);

#endif
