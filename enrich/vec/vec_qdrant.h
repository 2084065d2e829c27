/*
 * vec_qdrant.h - the Qdrant backend's pieces that tests reach: the HTTP
 * seam (a transport a test can replace to capture every request) and the
 * request-body builders and response parsers, which do no I/O.
 *
 * Mapping (docs/vector-store.md has the whole table):
 *   tenant T        collection "crm_T" (T is [A-Za-z0-9_-]{1,64}, checked
 *                   before it reaches a URL), vectors {size: dim,
 *                   distance: Cosine}
 *   payload         tenant, account_id, contact_id, direction ("in",
 *                   "out", "draft"), ts (integer seconds), message_ref,
 *                   chunk; indexes on account_id, contact_id, direction
 *                   (keyword) and ts (integer)
 *   upsert          PUT  /collections/C/points?wait=true
 *   search          POST /collections/C/points/query
 *   delete          POST /collections/C/points/delete?wait=true
 *   count           POST /collections/C/points/count
 */
#ifndef CRM_VEC_QDRANT_H
#define CRM_VEC_QDRANT_H

#include <stddef.h>

#include "enrich/vec/vec.h"

/* Points per upsert request: keeps a 384-dim body near 1.5 MB. */
#define VEC_QDRANT_BATCH 256
/* Largest response body accepted. */
#define VEC_QDRANT_RESPONSE_MAX (64u << 20)

struct vec_http_request {
	const char *method;	/* "GET", "PUT", "POST" */
	const char *url;	/* base URL + path + query */
	const char *body;	/* JSON or NULL */
	size_t body_len;
	const char *api_key;	/* NULL: no header */
	long connect_timeout_ms, timeout_ms;
};

struct vec_http_response {
	long status;
	char *body;		/* malloc'd, NUL-terminated; caller frees */
	size_t len;
};

/*
 * The HTTP seam.  request() returns 0 when an HTTP response arrived (any
 * status) and -1 with err filled when none did (connect, timeout, TLS).
 */
struct vec_qdrant_transport {
	int (*request)(void *ctx, const struct vec_http_request *req,
	    struct vec_http_response *resp, char *err, size_t errlen);
	void *ctx;
};

/* The libcurl transport (vec_qdrant_curl.c). */
extern const struct vec_qdrant_transport vec_qdrant_curl_transport;

/* Writes "crm_<tenant>" into buf; -1 if the tenant is invalid. */
int vec_qdrant_collection_name(const char *tenant, char *buf, size_t size);

/*
 * Body builders: each returns a malloc'd NUL-terminated JSON string or
 * NULL if the input cannot be expressed (a numeric id above INT64_MAX,
 * which JSON via jansson cannot carry; a non-finite float).
 */
char *vec_qdrant_body_create_collection(uint32_t dim);
char *vec_qdrant_body_create_index(const char *field, const char *schema);
char *vec_qdrant_body_upsert(const char *tenant,
    const struct vec_point *points, size_t n, uint32_t dim);
char *vec_qdrant_body_query(const char *tenant, const float *query,
    uint32_t dim, size_t k, const struct vec_filter *filter);
char *vec_qdrant_body_delete_ids(const struct vec_id *ids, size_t n);
char *vec_qdrant_body_delete_filter(const char *tenant,
    const struct vec_filter *filter);
char *vec_qdrant_body_count(const char *tenant);

/*
 * Response parsers over (body, len).  Each returns 0 on a well-formed
 * "status": "ok" response, else -1 with a message in err (Qdrant's own
 * status.error text when it sent one).
 */
int vec_qdrant_parse_ok(const char *body, size_t len, char *err,
    size_t errlen);
int vec_qdrant_parse_exists(const char *body, size_t len, bool *exists_r,
    char *err, size_t errlen);
int vec_qdrant_parse_count(const char *body, size_t len, uint64_t *count_r,
    char *err, size_t errlen);
/* Fills result (release with vec_result_fini()); at most k hits kept. */
int vec_qdrant_parse_query(const char *body, size_t len, size_t k,
    struct vec_result *result, char *err, size_t errlen);

#endif
