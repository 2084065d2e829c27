/*
 * vec_local.h - the embedded backend's in-memory tenant, shared by
 * vec_local.c (storage, log, compaction) and vec_local_search.c (scan).
 * Internal to enrich/vec/.
 */
#ifndef CRM_VEC_LOCAL_H
#define CRM_VEC_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#include "enrich/vec/vec_impl.h"

/* Per-row data the scan reads to filter without touching strings. */
struct vec_row_meta {
	uint64_t account_hash, contact_hash;
	int64_t ts;
	uint32_t chunk;
	uint8_t direction;
	uint8_t live;
	uint16_t log_bytes;	/* approx. size of its log entry / 64 */
};

/*
 * One tenant's rows.  Row r's vector is vecs[r * dim], its quantized copy
 * q[r * dim] with scale qscale[r].  Dead rows (deleted or replaced) stay
 * in place until compaction so row numbers are stable between writes.
 */
struct vec_tenant {
	char name[VEC_TENANT_MAX + 1];
	char *dir, *log_path;
	int fd, lock_fd;
	uint64_t log_size, dead_bytes;
	/* Read-only: the log's inode when opened (a compaction replaces it). */
	uint64_t ino;
	bool broken;		/* a failed write could not be undone */
	uint64_t replayed, torn_cut, skipped;	/* what open found */

	uint32_t dim;
	size_t rows, cap, live;
	float *vecs;
	int8_t *q;
	float *qscale;
	struct vec_row_meta *meta;
	struct vec_id *ids;
	char **strs;		/* "account\0contact\0ref\0" per row */

	uint32_t *slots;	/* id hash: row + 1, 0 empty */
	size_t slot_cap;

	struct vec_ivf *ivf;	/* NULL until a large tenant is searched */

	struct vec_tenant *next;
};

struct vec_local {
	char *data_dir;
	enum vec_sync sync;
	size_t exact_max, rescore;
	unsigned threads;
	uint64_t compact_dead_bytes;
	size_t ivf_min;
	uint32_t nlist, nprobe;
	bool read_only;
	struct vec_tenant *tenants;
};

/* A filter prepared for the scan: hashes computed once. */
struct vec_local_filter {
	bool any;
	bool has_account, has_contact;
	uint64_t account_hash, contact_hash;
	const char *account_id, *contact_id;
	uint8_t direction;
	bool has_since, has_until;
	int64_t since, until;
};

void vec_local_filter_prepare(struct vec_local_filter *lf,
    const struct vec_filter *f);
bool vec_local_row_match(const struct vec_tenant *t, size_t row,
    const struct vec_local_filter *lf);

/*
 * The IVF index (vec_local_ivf.c).  build: clusters the live rows into
 * nlist lists.  assign: files row r after an upsert, remove: drops it
 * after a delete (both no-ops without an index).  probe: the nprobe
 * lists nearest to the normalized query.
 */
struct vec_ivf;
void vec_local_ivf_build(struct vec_tenant *t, uint32_t nlist,
    unsigned threads);
void vec_local_ivf_assign(struct vec_tenant *t, size_t row);
void vec_local_ivf_remove(struct vec_tenant *t, size_t row);
void vec_local_ivf_free(struct vec_ivf **ivf);
uint32_t vec_local_ivf_probe(const struct vec_tenant *t, const float *q,
    uint32_t nprobe, uint32_t *lists_r);
const uint32_t *vec_local_ivf_list(const struct vec_tenant *t, uint32_t c,
    const int8_t **codes_r, const float **scales_r, size_t *len_r);

/* The search itself (vec_local_search.c). */
int vec_local_search_rows(struct vec_store *store, struct vec_local *l,
    struct vec_tenant *t, const float *query, size_t k,
    const struct vec_filter *filter, unsigned flags,
    struct vec_result *result_r);

#endif
