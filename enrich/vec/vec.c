/*
 * vec.c - the backend-neutral half of vec.h: argument checks that both
 * backends rely on, ids, directions, normalization, dispatch.
 *
 * Every argument a backend sees has been checked here first, so a backend
 * never has to ask whether a tenant is safe to put in a path or a URL.
 */
#include "enrich/vec/vec_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hex.h"
#include "lib/xmalloc.h"

void
vec_config_init(struct vec_config *config)
{
	memset(config, 0, sizeof(*config));
	config->backend = VEC_BACKEND_LOCAL;
	config->sync = VEC_SYNC_BATCH;
}

int
vec_set_error(struct vec_store *store, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(store->err, sizeof(store->err), fmt, ap);
	va_end(ap);
	return -1;
}

bool
vec_tenant_valid(const char *tenant)
{
	size_t i;

	if (tenant == NULL || tenant[0] == '\0' || tenant[0] == '-')
		return false;
	for (i = 0; tenant[i] != '\0'; i++) {
		unsigned char c = (unsigned char)tenant[i];

		if (i >= VEC_TENANT_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool
str_ok(const char *s, size_t max)
{
	return s == NULL || strnlen(s, max + 1) <= max;
}

const char *
vec_payload_check(const struct vec_payload *p)
{
	if (!str_ok(p->account_id, VEC_KEY_MAX))
		return "account_id too long";
	if (!str_ok(p->contact_id, VEC_KEY_MAX))
		return "contact_id too long";
	if (!str_ok(p->message_ref, VEC_REF_MAX))
		return "message_ref too long";
	if (p->direction < VEC_DIR_ANY || p->direction > VEC_DIR_DRAFT)
		return "bad direction";
	return NULL;
}

const char *
vec_filter_check(const struct vec_filter *f)
{
	if (!str_ok(f->account_id, VEC_KEY_MAX))
		return "filter account_id too long";
	if (!str_ok(f->contact_id, VEC_KEY_MAX))
		return "filter contact_id too long";
	if (f->direction < VEC_DIR_ANY || f->direction > VEC_DIR_DRAFT)
		return "bad filter direction";
	if (f->has_since && f->has_until && f->since > f->until)
		return "filter time range is empty (since > until)";
	return NULL;
}

uint64_t
vec_str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	if (s == NULL)
		return h;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

int
vec_normalize(float *v, size_t dim)
{
	double sum = 0;
	float inv;
	size_t i;

	for (i = 0; i < dim; i++) {
		if (!isfinite(v[i]))
			return -1;
		sum += (double)v[i] * (double)v[i];
	}
	if (!(sum > 0) || !isfinite(sum))
		return -1;
	inv = (float)(1.0 / sqrt(sum));
	for (i = 0; i < dim; i++)
		v[i] *= inv;
	return 0;
}

int
vec_id_parse(const char *s, struct vec_id *id_r)
{
	size_t len = strnlen(s, VEC_ID_STRLEN + 1);

	memset(id_r, 0, sizeof(*id_r));
	if (len == 36) {
		/* 8-4-4-4-12 hex digits, the form Qdrant accepts. */
		size_t i, o = 0;

		for (i = 0; i < 36; i++) {
			int hi, lo;

			if (i == 8 || i == 13 || i == 18 || i == 23) {
				if (s[i] != '-')
					return -1;
				continue;
			}
			hi = hex_value(s[i]);
			lo = i + 1 < 36 ? hex_value(s[i + 1]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			id_r->uuid[o++] = (uint8_t)(hi << 4 | lo);
			i++;
		}
		id_r->kind = VEC_ID_UUID;
		return 0;
	}
	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (id_r->num > (UINT64_MAX - d) / 10)
			return -1;
		id_r->num = id_r->num * 10 + d;
	}
	id_r->kind = VEC_ID_NUM;
	return 0;
}

void
vec_id_format(const struct vec_id *id, char *buf, size_t size)
{
	const uint8_t *u = id->uuid;

	if (id->kind == VEC_ID_NUM) {
		snprintf(buf, size, "%llu", (unsigned long long)id->num);
		return;
	}
	snprintf(buf, size,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
	    u[10], u[11], u[12], u[13], u[14], u[15]);
}

bool
vec_id_equal(const struct vec_id *a, const struct vec_id *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == VEC_ID_NUM)
		return a->num == b->num;
	return memcmp(a->uuid, b->uuid, sizeof(a->uuid)) == 0;
}

static const char *const vec_direction_names[] = {
	[VEC_DIR_ANY] = "any",
	[VEC_DIR_IN] = "in",
	[VEC_DIR_OUT] = "out",
	[VEC_DIR_DRAFT] = "draft",
};

const char *
vec_direction_name(enum vec_direction dir)
{
	if (dir < VEC_DIR_ANY || dir > VEC_DIR_DRAFT)
		return "?";
	return vec_direction_names[dir];
}

int
vec_direction_parse(const char *s, enum vec_direction *dir_r)
{
	for (int i = VEC_DIR_ANY; i <= VEC_DIR_DRAFT; i++) {
		if (strcmp(s, vec_direction_names[i]) == 0) {
			*dir_r = (enum vec_direction)i;
			return 0;
		}
	}
	return -1;
}

void
vec_hit_set_payload(struct vec_hit *hit, const struct vec_payload *src)
{
	const char *a = src->account_id != NULL ? src->account_id : "";
	const char *c = src->contact_id != NULL ? src->contact_id : "";
	const char *r = src->message_ref != NULL ? src->message_ref : "";
	size_t la = strlen(a) + 1, lc = strlen(c) + 1, lr = strlen(r) + 1;
	char *blob = xmalloc(la + lc + lr);

	memcpy(blob, a, la);
	memcpy(blob + la, c, lc);
	memcpy(blob + la + lc, r, lr);
	hit->payload = *src;
	hit->payload.account_id = blob;
	hit->payload.contact_id = blob + la;
	hit->payload.message_ref = blob + la + lc;
}

void
vec_result_fini(struct vec_result *result)
{
	if (result->hits != NULL) {
		for (size_t i = 0; i < result->count; i++)
			free((char *)result->hits[i].payload.account_id);
	}
	x_free(&result->hits);
	result->count = 0;
}

int
vec_open(const struct vec_config *config, struct vec_store **store_r,
    const char **errstr_r)
{
	struct vec_store *store;
	int ret;

	*store_r = NULL;
	if (config->dim == 0 || config->dim > VEC_DIM_MAX) {
		*errstr_r = "vector dimension out of range (1..4096)";
		return -1;
	}
	store = xcalloc(1, sizeof(*store));
	store->dim = config->dim;
	switch (config->backend) {
	case VEC_BACKEND_LOCAL:
		ret = vec_local_open(store, config);
		break;
	case VEC_BACKEND_QDRANT:
		ret = vec_qdrant_open(store, config);
		break;
	default:
		ret = vec_set_error(store, "unknown backend");
		break;
	}
	if (ret != 0) {
		/* Static: the store and its buffer are about to go. */
		static char open_err[sizeof(store->err)];

		memcpy(open_err, store->err, sizeof(open_err));
		*errstr_r = open_err;
		free(store);
		return -1;
	}
	*store_r = store;
	return 0;
}

void
vec_close(struct vec_store **store)
{
	if (*store == NULL)
		return;
	(*store)->ops->close(*store);
	x_free(store);
}

static int
check_call(struct vec_store *store, const char *tenant)
{
	store->err[0] = '\0';
	if (!vec_tenant_valid(tenant))
		return vec_set_error(store,
		    "invalid tenant id (1-64 of [A-Za-z0-9_-])");
	return 0;
}

#define RETURN_ERR(store, errstr_r, expr) do {			\
	if ((expr) != 0) {					\
		*(errstr_r) = (store)->err;			\
		return -1;					\
	}							\
	return 0;						\
} while (0)

int
vec_upsert(struct vec_store *store, const char *tenant,
    const struct vec_point *points, size_t n, const char **errstr_r)
{
	int ret = check_call(store, tenant);

	for (size_t i = 0; ret == 0 && i < n; i++) {
		const char *why = vec_payload_check(&points[i].payload);

		if (why != NULL)
			ret = vec_set_error(store, "point %zu: %s", i, why);
		else if (points[i].vector == NULL)
			ret = vec_set_error(store, "point %zu: no vector", i);
	}
	if (ret == 0 && n > 0)
		ret = store->ops->upsert(store, tenant, points, n);
	RETURN_ERR(store, errstr_r, ret);
}

int
vec_delete_ids(struct vec_store *store, const char *tenant,
    const struct vec_id *ids, size_t n, const char **errstr_r)
{
	int ret = check_call(store, tenant);

	if (ret == 0 && n > 0)
		ret = store->ops->delete_ids(store, tenant, ids, n);
	RETURN_ERR(store, errstr_r, ret);
}

int
vec_delete_filter(struct vec_store *store, const char *tenant,
    const struct vec_filter *filter, uint64_t *deleted_r,
    const char **errstr_r)
{
	uint64_t dummy;
	int ret = check_call(store, tenant);
	const char *why;

	if (deleted_r == NULL)
		deleted_r = &dummy;
	*deleted_r = 0;
	if (ret == 0 && (why = vec_filter_check(filter)) != NULL)
		ret = vec_set_error(store, "%s", why);
	/* A purge names whose data goes; "everything" is not a purge. */
	if (ret == 0 && (filter->account_id == NULL ||
	    filter->account_id[0] == '\0') && (filter->contact_id == NULL ||
	    filter->contact_id[0] == '\0'))
		ret = vec_set_error(store,
		    "delete by filter needs an account or a contact");
	if (ret == 0)
		ret = store->ops->delete_filter(store, tenant, filter,
		    deleted_r);
	RETURN_ERR(store, errstr_r, ret);
}

int
vec_search(struct vec_store *store, const char *tenant, const float *query,
    size_t k, const struct vec_filter *filter, unsigned flags,
    struct vec_result *result_r, const char **errstr_r)
{
	int ret = check_call(store, tenant);
	const char *why;

	memset(result_r, 0, sizeof(*result_r));
	if (ret == 0 && (k == 0 || k > VEC_K_MAX))
		ret = vec_set_error(store, "k out of range (1..%d)",
		    VEC_K_MAX);
	if (ret == 0 && filter != NULL &&
	    (why = vec_filter_check(filter)) != NULL)
		ret = vec_set_error(store, "%s", why);
	if (ret == 0)
		ret = store->ops->search(store, tenant, query, k, filter,
		    flags, result_r);
	if (ret != 0)
		vec_result_fini(result_r);
	RETURN_ERR(store, errstr_r, ret);
}

int
vec_count(struct vec_store *store, const char *tenant, uint64_t *count_r,
    const char **errstr_r)
{
	int ret = check_call(store, tenant);

	*count_r = 0;
	if (ret == 0)
		ret = store->ops->count(store, tenant, count_r);
	RETURN_ERR(store, errstr_r, ret);
}

int
vec_stats(struct vec_store *store, const char *tenant,
    struct vec_stats *stats_r, const char **errstr_r)
{
	int ret = check_call(store, tenant);

	memset(stats_r, 0, sizeof(*stats_r));
	if (ret == 0)
		ret = store->ops->stats(store, tenant, stats_r);
	RETURN_ERR(store, errstr_r, ret);
}

int
vec_compact(struct vec_store *store, const char *tenant,
    const char **errstr_r)
{
	int ret = check_call(store, tenant);

	if (ret == 0)
		ret = store->ops->compact(store, tenant);
	RETURN_ERR(store, errstr_r, ret);
}
