/*
 * search_int.h - what search.c and search_ingest.c share; not public.
 */
#ifndef CRM_SEARCH_INT_H
#define CRM_SEARCH_INT_H

#include <libpq-fe.h>

#include "enrich/search/search.h"

struct search_ctx {
	struct embedder *emb;
	struct vec_store *vec;
	PGconn *pg;
	size_t dim;
	/* the second dense model; NULL when not configured */
	struct embedder *emb2;
	struct vec_store *vec2;
	size_t dim2;
};

int search_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 0 if RES has status WANT (RES kept); else -1, RES cleared, err set. */
int search_pg_ok(PGresult *res, ExecStatusType want, char *err,
    size_t errlen, const char *what);
/* BEGIN [READ ONLY] and set crm.tenant_id for this transaction. */
int search_begin(struct search_ctx *c, const char *tenant, bool read_only,
    char *err, size_t errlen);
int search_end(struct search_ctx *c, bool commit);

#endif
