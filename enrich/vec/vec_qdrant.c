/*
 * vec_qdrant.c - the Qdrant backend: vec.h's calls as REST requests.
 *
 * A tenant's collection is made on its first write: created with Cosine
 * vectors of the store's dim, then the payload indexes the filters use.
 * Reads and deletes on a tenant with no collection find nothing rather
 * than creating one.  Known collections are remembered for the life of
 * the store so the existence check costs one request per tenant.
 *
 * Bodies come from vec_qdrant_json.c; the HTTP goes through the
 * transport, libcurl unless a test substitutes its own.
 */
#include "enrich/vec/vec_qdrant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/vec/vec_impl.h"
#include "lib/xmalloc.h"

#define COLL_MAX (VEC_TENANT_MAX + 8)

struct known {
	char name[COLL_MAX];
	struct known *next;
};

struct vec_qdrant {
	char *url, *api_key;
	long connect_timeout_ms, timeout_ms;
	struct vec_qdrant_transport transport;
	struct known *known;
};

/* Payload fields with an index, and the index type. */
static const struct {
	const char *field, *schema;
} qdrant_indexes[] = {
	{ "tenant", "keyword" },
	{ "account_id", "keyword" },
	{ "contact_id", "keyword" },
	{ "direction", "keyword" },
	{ "ts", "integer" },
};

/*
 * One request.  Returns 0 with *resp filled for an HTTP 2xx; otherwise
 * -1 with the store's error set from the transport or Qdrant's message.
 * The caller frees resp->body.
 */
static int
call(struct vec_store *store, const char *method, const char *coll,
    const char *path_query, const char *body, struct vec_http_response *resp)
{
	struct vec_qdrant *q = store->impl;
	char err[256] = "";
	char *url = xasprintf("%s/collections/%s%s", q->url, coll, path_query);
	struct vec_http_request req = {
		.method = method,
		.url = url,
		.body = body,
		.body_len = body != NULL ? strlen(body) : 0,
		.api_key = q->api_key,
		.connect_timeout_ms = q->connect_timeout_ms,
		.timeout_ms = q->timeout_ms,
	};
	int ret;

	ret = q->transport.request(q->transport.ctx, &req, resp, err,
	    sizeof(err));
	if (ret != 0) {
		vec_set_error(store, "qdrant %s /collections/%s%s: %s", method,
		    coll, path_query, err);
	} else if (resp->status < 200 || resp->status > 299) {
		/* Qdrant's error object says why; keep it in the message. */
		if (vec_qdrant_parse_ok(resp->body, resp->len, err,
		    sizeof(err)) == 0)
			snprintf(err, sizeof(err), "no error message");
		vec_set_error(store, "qdrant %s /collections/%s%s: HTTP %ld: "
		    "%s", method, coll, path_query, resp->status, err);
		x_free(&resp->body);
		ret = -1;
	}
	free(url);
	return ret;
}

/* A request whose 2xx answer is only checked for "status": "ok". */
static int
call_ok(struct vec_store *store, const char *method, const char *coll,
    const char *path_query, char *body)
{
	struct vec_http_response resp;
	char err[256];
	int ret;

	if (body == NULL)
		return vec_set_error(store, "qdrant: cannot encode request "
		    "(numeric id above 2^63-1 or non-finite value)");
	ret = call(store, method, coll, path_query, body, &resp);
	free(body);
	if (ret == 0) {
		ret = vec_qdrant_parse_ok(resp.body, resp.len, err,
		    sizeof(err));
		if (ret != 0)
			vec_set_error(store, "%s", err);
		free(resp.body);
	}
	return ret;
}

static bool
is_known(struct vec_qdrant *q, const char *coll)
{
	for (struct known *k = q->known; k != NULL; k = k->next)
		if (strcmp(k->name, coll) == 0)
			return true;
	return false;
}

/*
 * Makes sure the tenant's collection exists (create: make it if not).
 * *exists_r says whether it exists afterwards.
 */
static int
collection(struct vec_store *store, const char *tenant, bool create,
    char *coll, bool *exists_r)
{
	struct vec_qdrant *q = store->impl;
	struct vec_http_response resp;
	struct known *k;
	char err[256];
	bool exists;

	if (vec_qdrant_collection_name(tenant, coll, COLL_MAX) != 0)
		return vec_set_error(store, "invalid tenant id");
	*exists_r = true;
	if (is_known(q, coll))
		return 0;
	if (call(store, "GET", coll, "/exists", NULL, &resp) != 0)
		return -1;
	if (vec_qdrant_parse_exists(resp.body, resp.len, &exists, err,
	    sizeof(err)) != 0) {
		free(resp.body);
		return vec_set_error(store, "%s", err);
	}
	free(resp.body);
	if (!exists && !create) {
		*exists_r = false;
		return 0;
	}
	if (!exists) {
		if (call_ok(store, "PUT", coll, "",
		    vec_qdrant_body_create_collection(store->dim)) != 0)
			return -1;
		for (size_t i = 0; i < sizeof(qdrant_indexes) /
		    sizeof(qdrant_indexes[0]); i++)
			if (call_ok(store, "PUT", coll, "/index?wait=true",
			    vec_qdrant_body_create_index(
			    qdrant_indexes[i].field,
			    qdrant_indexes[i].schema)) != 0)
				return -1;
	}
	k = xcalloc(1, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", coll);
	k->next = q->known;
	q->known = k;
	return 0;
}

static int
qdrant_upsert(struct vec_store *store, const char *tenant,
    const struct vec_point *points, size_t n)
{
	char coll[COLL_MAX];
	bool exists;

	if (collection(store, tenant, true, coll, &exists) != 0)
		return -1;
	for (size_t i = 0; i < n; i += VEC_QDRANT_BATCH) {
		size_t m = n - i < VEC_QDRANT_BATCH ? n - i : VEC_QDRANT_BATCH;

		if (call_ok(store, "PUT", coll, "/points?wait=true",
		    vec_qdrant_body_upsert(tenant, points + i, m,
		    store->dim)) != 0)
			return -1;
	}
	return 0;
}

static int
qdrant_delete_ids(struct vec_store *store, const char *tenant,
    const struct vec_id *ids, size_t n)
{
	char coll[COLL_MAX];
	bool exists;

	if (collection(store, tenant, false, coll, &exists) != 0)
		return -1;
	if (!exists)
		return 0;
	for (size_t i = 0; i < n; i += 1024) {
		size_t m = n - i < 1024 ? n - i : 1024;

		if (call_ok(store, "POST", coll, "/points/delete?wait=true",
		    vec_qdrant_body_delete_ids(ids + i, m)) != 0)
			return -1;
	}
	return 0;
}

static int
qdrant_delete_filter(struct vec_store *store, const char *tenant,
    const struct vec_filter *filter, uint64_t *deleted_r)
{
	char coll[COLL_MAX];
	bool exists;

	*deleted_r = 0;
	if (collection(store, tenant, false, coll, &exists) != 0)
		return -1;
	if (!exists)
		return 0;
	return call_ok(store, "POST", coll, "/points/delete?wait=true",
	    vec_qdrant_body_delete_filter(tenant, filter));
}

static int
qdrant_search(struct vec_store *store, const char *tenant, const float *query,
    size_t k, const struct vec_filter *filter, unsigned flags,
    struct vec_result *result_r)
{
	struct vec_http_response resp;
	char coll[COLL_MAX], err[256];
	bool exists;
	char *body;
	int ret;

	(void)flags;	/* Qdrant's exactness is its own HNSW business. */
	if (collection(store, tenant, false, coll, &exists) != 0)
		return -1;
	if (!exists) {
		result_r->hits = xcalloc(1, sizeof(*result_r->hits));
		return 0;
	}
	body = vec_qdrant_body_query(tenant, query, store->dim, k, filter);
	if (body == NULL)
		return vec_set_error(store, "query vector is not finite");
	ret = call(store, "POST", coll, "/points/query", body, &resp);
	free(body);
	if (ret != 0)
		return -1;
	ret = vec_qdrant_parse_query(resp.body, resp.len, k, result_r, err,
	    sizeof(err));
	free(resp.body);
	if (ret != 0)
		return vec_set_error(store, "%s", err);
	return 0;
}

static int
qdrant_count(struct vec_store *store, const char *tenant, uint64_t *count_r)
{
	struct vec_http_response resp;
	char coll[COLL_MAX], err[256];
	bool exists;
	char *body;
	int ret;

	if (collection(store, tenant, false, coll, &exists) != 0)
		return -1;
	if (!exists)
		return 0;
	body = vec_qdrant_body_count(tenant);
	ret = call(store, "POST", coll, "/points/count", body, &resp);
	free(body);
	if (ret != 0)
		return -1;
	ret = vec_qdrant_parse_count(resp.body, resp.len, count_r, err,
	    sizeof(err));
	free(resp.body);
	return ret != 0 ? vec_set_error(store, "%s", err) : 0;
}

static int
qdrant_compact(struct vec_store *store, const char *tenant)
{
	(void)store;
	(void)tenant;
	return 0;
}

static int
qdrant_stats(struct vec_store *store, const char *tenant,
    struct vec_stats *s)
{
	return qdrant_count(store, tenant, &s->live);
}

static void
qdrant_close(struct vec_store *store)
{
	struct vec_qdrant *q = store->impl;

	while (q->known != NULL) {
		struct known *k = q->known;

		q->known = k->next;
		free(k);
	}
	free(q->url);
	x_free_secret(&q->api_key);
	free(q);
	store->impl = NULL;
}

static const struct vec_backend_ops qdrant_ops = {
	.upsert = qdrant_upsert,
	.delete_ids = qdrant_delete_ids,
	.delete_filter = qdrant_delete_filter,
	.search = qdrant_search,
	.count = qdrant_count,
	.compact = qdrant_compact,
	.stats = qdrant_stats,
	.close = qdrant_close,
};

int
vec_qdrant_open(struct vec_store *store, const struct vec_config *config)
{
	struct vec_qdrant *q;
	size_t len;

	if (config->url == NULL || (strncmp(config->url, "http://", 7) != 0 &&
	    strncmp(config->url, "https://", 8) != 0))
		return vec_set_error(store, "qdrant url must start with "
		    "http:// or https://");
	q = xcalloc(1, sizeof(*q));
	q->url = xstrdup(config->url);
	/* "http://h:6333/" and "http://h:6333" name the same server. */
	len = strlen(q->url);
	while (len > 0 && q->url[len - 1] == '/')
		q->url[--len] = '\0';
	q->api_key = config->api_key != NULL && config->api_key[0] != '\0' ?
	    xstrdup(config->api_key) : NULL;
	q->connect_timeout_ms = config->connect_timeout_ms > 0 ?
	    config->connect_timeout_ms : 2000;
	q->timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : 10000;
	q->transport = config->transport != NULL ? *config->transport :
	    vec_qdrant_curl_transport;
	store->impl = q;
	store->ops = &qdrant_ops;
	return 0;
}
