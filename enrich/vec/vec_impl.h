/*
 * vec_impl.h - what the backends share behind vec.h.  Not installed, not
 * for callers outside enrich/vec/.
 */
#ifndef CRM_VEC_IMPL_H
#define CRM_VEC_IMPL_H

#include "enrich/vec/vec.h"

struct vec_backend_ops {
	int (*upsert)(struct vec_store *store, const char *tenant,
	    const struct vec_point *points, size_t n);
	int (*delete_ids)(struct vec_store *store, const char *tenant,
	    const struct vec_id *ids, size_t n);
	int (*delete_filter)(struct vec_store *store, const char *tenant,
	    const struct vec_filter *filter, uint64_t *deleted_r);
	int (*search)(struct vec_store *store, const char *tenant,
	    const float *query, size_t k, const struct vec_filter *filter,
	    unsigned flags, struct vec_result *result_r);
	int (*count)(struct vec_store *store, const char *tenant,
	    uint64_t *count_r);
	int (*compact)(struct vec_store *store, const char *tenant);
	int (*stats)(struct vec_store *store, const char *tenant,
	    struct vec_stats *stats_r);
	void (*close)(struct vec_store *store);
};

struct vec_store {
	const struct vec_backend_ops *ops;
	uint32_t dim;
	void *impl;
	char err[512];
};

/* Formats the store's error message; always returns -1. */
int vec_set_error(struct vec_store *store, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Backend constructors; fill store->ops and store->impl. */
int vec_local_open(struct vec_store *store, const struct vec_config *config);
int vec_qdrant_open(struct vec_store *store, const struct vec_config *config);

/* Checks a payload's string lengths and direction; NULL if fine. */
const char *vec_payload_check(const struct vec_payload *payload);
/* Checks a filter's string lengths; NULL if fine. */
const char *vec_filter_check(const struct vec_filter *filter);

/* 64-bit FNV-1a of a NUL-terminated string; NULL hashes as "". */
uint64_t vec_str_hash(const char *s);

/*
 * Copies src into hit->payload; the three strings share one allocation
 * that starts at hit->payload.account_id, freed by vec_result_fini().
 */
void vec_hit_set_payload(struct vec_hit *hit, const struct vec_payload *src);

#endif
