/*
 * vec_qdrant_json.c - Qdrant request bodies and response parsing, with
 * jansson and without I/O, so a test can check every body against the
 * published OpenAPI schema and feed the parsers its examples.
 *
 * Every search and purge filter carries the tenant as a must-match
 * condition even though the collection already belongs to the tenant: if
 * a collection were ever shared by mistake, rows still would not cross.
 */
#include "enrich/vec/vec_qdrant.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "enrich/vec/vec_impl.h"
#include "lib/xmalloc.h"

/* Nine significant digits round-trip any float exactly. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

int
vec_qdrant_collection_name(const char *tenant, char *buf, size_t size)
{
	int n;

	if (!vec_tenant_valid(tenant))
		return -1;
	n = snprintf(buf, size, "crm_%s", tenant);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static char *
dump(json_t *j)
{
	char *s = j == NULL ? NULL : json_dumps(j, DUMP_FLAGS);

	json_decref(j);
	return s;
}

static json_t *
id_json(const struct vec_id *id)
{
	char buf[VEC_ID_STRLEN];

	if (id->kind == VEC_ID_NUM) {
		if (id->num > INT64_MAX)
			return NULL;
		return json_integer((json_int_t)id->num);
	}
	vec_id_format(id, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
floats_json(const float *v, uint32_t dim)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < dim; i++) {
		if (!isfinite(v[i])) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, json_real((double)v[i]));
	}
	return a;
}

char *
vec_qdrant_body_create_collection(uint32_t dim)
{
	return dump(json_pack("{s:{s:I,s:s}}", "vectors", "size",
	    (json_int_t)dim, "distance", "Cosine"));
}

char *
vec_qdrant_body_create_index(const char *field, const char *schema)
{
	return dump(json_pack("{s:s,s:s}", "field_name", field,
	    "field_schema", schema));
}

static const char *
nz(const char *s)
{
	return s == NULL ? "" : s;
}

char *
vec_qdrant_body_upsert(const char *tenant, const struct vec_point *points,
    size_t n, uint32_t dim)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		const struct vec_payload *p = &points[i].payload;
		json_t *id = id_json(&points[i].id);
		json_t *vec = floats_json(points[i].vector, dim);

		if (id == NULL || vec == NULL) {
			json_decref(id);
			json_decref(vec);
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, json_pack(
		    "{s:o,s:o,s:{s:s,s:s,s:s,s:s,s:I,s:s,s:I}}",
		    "id", id, "vector", vec, "payload",
		    "tenant", tenant,
		    "account_id", nz(p->account_id),
		    "contact_id", nz(p->contact_id),
		    "direction", vec_direction_name(p->direction),
		    "ts", (json_int_t)p->ts,
		    "message_ref", nz(p->message_ref),
		    "chunk", (json_int_t)p->chunk));
	}
	return dump(json_pack("{s:o}", "points", arr));
}

static json_t *
match_cond(const char *key, const char *value)
{
	return json_pack("{s:s,s:{s:s}}", "key", key, "match", "value", value);
}

/* {"must": [...]} for the tenant and whatever the filter sets. */
static json_t *
filter_json(const char *tenant, const struct vec_filter *f)
{
	json_t *must = json_array();

	json_array_append_new(must, match_cond("tenant", tenant));
	if (f != NULL) {
		if (f->account_id != NULL && f->account_id[0] != '\0')
			json_array_append_new(must, match_cond("account_id",
			    f->account_id));
		if (f->contact_id != NULL && f->contact_id[0] != '\0')
			json_array_append_new(must, match_cond("contact_id",
			    f->contact_id));
		if (f->direction != VEC_DIR_ANY)
			json_array_append_new(must, match_cond("direction",
			    vec_direction_name(f->direction)));
		if (f->has_since || f->has_until) {
			json_t *range = json_object();

			/* Seconds fit a double's 53-bit mantissa exactly. */
			if (f->has_since)
				json_object_set_new(range, "gte",
				    json_integer(f->since));
			if (f->has_until)
				json_object_set_new(range, "lte",
				    json_integer(f->until));
			json_array_append_new(must, json_pack("{s:s,s:o}",
			    "key", "ts", "range", range));
		}
	}
	return json_pack("{s:o}", "must", must);
}

char *
vec_qdrant_body_query(const char *tenant, const float *query, uint32_t dim,
    size_t k, const struct vec_filter *filter)
{
	json_t *vec = floats_json(query, dim);

	if (vec == NULL)
		return NULL;
	return dump(json_pack("{s:o,s:I,s:b,s:o}", "query", vec,
	    "limit", (json_int_t)k, "with_payload", 1,
	    "filter", filter_json(tenant, filter)));
}

char *
vec_qdrant_body_delete_ids(const struct vec_id *ids, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *id = id_json(&ids[i]);

		if (id == NULL) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, id);
	}
	return dump(json_pack("{s:o}", "points", arr));
}

char *
vec_qdrant_body_delete_filter(const char *tenant,
    const struct vec_filter *filter)
{
	return dump(json_pack("{s:o}", "filter", filter_json(tenant, filter)));
}

char *
vec_qdrant_body_count(const char *tenant)
{
	return dump(json_pack("{s:o,s:b}", "filter",
	    filter_json(tenant, NULL), "exact", 1));
}

/* Loads body and checks "status": "ok"; returns the root or NULL. */
static json_t *
load_ok(const char *body, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *status;

	if (len > VEC_QDRANT_RESPONSE_MAX) {
		snprintf(err, errlen, "qdrant response too large");
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		snprintf(err, errlen, "qdrant response is not a JSON object"
		    " (%s)", root == NULL ? jerr.text : "wrong type");
		json_decref(root);
		return NULL;
	}
	status = json_object_get(root, "status");
	if (json_is_string(status) && strcmp(json_string_value(status),
	    "ok") == 0)
		return root;
	if (json_is_object(status) &&
	    json_is_string(json_object_get(status, "error")))
		snprintf(err, errlen, "qdrant: %.300s", json_string_value(
		    json_object_get(status, "error")));
	else
		snprintf(err, errlen, "qdrant response without status ok");
	json_decref(root);
	return NULL;
}

int
vec_qdrant_parse_ok(const char *body, size_t len, char *err, size_t errlen)
{
	json_t *root = load_ok(body, len, err, errlen);

	json_decref(root);
	return root == NULL ? -1 : 0;
}

int
vec_qdrant_parse_exists(const char *body, size_t len, bool *exists_r,
    char *err, size_t errlen)
{
	json_t *root = load_ok(body, len, err, errlen), *e;

	if (root == NULL)
		return -1;
	e = json_object_get(json_object_get(root, "result"), "exists");
	if (!json_is_boolean(e)) {
		json_decref(root);
		snprintf(err, errlen, "qdrant: result.exists missing");
		return -1;
	}
	*exists_r = json_is_true(e);
	json_decref(root);
	return 0;
}

int
vec_qdrant_parse_count(const char *body, size_t len, uint64_t *count_r,
    char *err, size_t errlen)
{
	json_t *root = load_ok(body, len, err, errlen), *c;

	if (root == NULL)
		return -1;
	c = json_object_get(json_object_get(root, "result"), "count");
	if (!json_is_integer(c) || json_integer_value(c) < 0) {
		json_decref(root);
		snprintf(err, errlen, "qdrant: result.count missing");
		return -1;
	}
	*count_r = (uint64_t)json_integer_value(c);
	json_decref(root);
	return 0;
}

static int
parse_id(json_t *j, struct vec_id *id)
{
	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		memset(id, 0, sizeof(*id));
		id->kind = VEC_ID_NUM;
		id->num = (uint64_t)json_integer_value(j);
		return 0;
	}
	if (json_is_string(j))
		return vec_id_parse(json_string_value(j), id);
	return -1;
}

static const char *
payload_str(json_t *payload, const char *key, size_t max)
{
	json_t *v = json_object_get(payload, key);
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	/* Over-long values are foreign data: drop rather than truncate. */
	return strlen(s) > max ? "" : s;
}

int
vec_qdrant_parse_query(const char *body, size_t len, size_t k,
    struct vec_result *result, char *err, size_t errlen)
{
	json_t *root = load_ok(body, len, err, errlen), *points, *pt;
	size_t i;

	memset(result, 0, sizeof(*result));
	if (root == NULL)
		return -1;
	points = json_object_get(json_object_get(root, "result"), "points");
	if (!json_is_array(points)) {
		json_decref(root);
		snprintf(err, errlen, "qdrant: result.points missing");
		return -1;
	}
	result->hits = xcalloc(json_array_size(points) + 1,
	    sizeof(*result->hits));
	json_array_foreach(points, i, pt) {
		struct vec_hit *h = &result->hits[result->count];
		json_t *payload = json_object_get(pt, "payload");
		json_t *score = json_object_get(pt, "score");
		json_t *v;
		struct vec_payload p = { 0 };

		if (result->count >= k)
			break;
		if (parse_id(json_object_get(pt, "id"), &h->id) != 0 ||
		    !json_is_number(score)) {
			vec_result_fini(result);
			json_decref(root);
			snprintf(err, errlen, "qdrant: point %zu lacks a valid "
			    "id or score", i);
			return -1;
		}
		h->score = (float)json_number_value(score);
		p.account_id = payload_str(payload, "account_id", VEC_KEY_MAX);
		p.contact_id = payload_str(payload, "contact_id", VEC_KEY_MAX);
		p.message_ref = payload_str(payload, "message_ref",
		    VEC_REF_MAX);
		v = json_object_get(payload, "direction");
		if (!json_is_string(v) || vec_direction_parse(
		    json_string_value(v), &p.direction) != 0)
			p.direction = VEC_DIR_ANY;
		v = json_object_get(payload, "ts");
		p.ts = json_is_integer(v) ? json_integer_value(v) : 0;
		v = json_object_get(payload, "chunk");
		p.chunk = json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= UINT32_MAX ?
		    (uint32_t)json_integer_value(v) : 0;
		vec_hit_set_payload(h, &p);
		result->count++;
	}
	json_decref(root);
	return 0;
}
