/*
 * vec.h - the vector store: one interface, two backends.
 *
 * Enrichment writes message-chunk embeddings here and the draft and search
 * tools read them back.  Two backends sit behind the same calls:
 *
 *   VEC_BACKEND_LOCAL   the embedded store (vec_local.c): one directory per
 *                       tenant under a data dir, an append-only checksummed
 *                       log, exact or int8-quantized search in process.
 *   VEC_BACKEND_QDRANT  a Qdrant server over its REST API (vec_qdrant.c):
 *                       one collection per tenant.
 *
 * Tenant isolation is structural, not a filter that could be forgotten:
 * every call names the tenant, and the tenant selects a separate file set
 * or a separate collection.  A search therefore cannot reach another
 * tenant's rows, whatever the filter says.
 *
 * Vectors are dense float[dim].  Both backends score by cosine similarity:
 * the local store L2-normalizes on upsert and on query and takes the inner
 * product; Qdrant does the same for a Cosine collection.
 *
 * Errors: functions return 0 on success and -1 on failure with *errstr_r
 * set to a message owned by the store, valid until the next call on it.
 * Nothing here logs or exits (STYLE 17).  A store is not thread-safe: one
 * caller at a time (the daemons are single-threaded loops); the local
 * backend uses worker threads inside a search only.
 */
#ifndef CRM_VEC_H
#define CRM_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest tenant, account, contact id; longest message reference. */
#define VEC_TENANT_MAX 64
#define VEC_KEY_MAX 128
#define VEC_REF_MAX 512
/* Largest dimension either backend accepts. */
#define VEC_DIM_MAX 4096
/* Largest k a search may ask for. */
#define VEC_K_MAX 1000
/* Buffer size for vec_id_format(): a UUID and its NUL. */
#define VEC_ID_STRLEN 37

enum vec_backend {
	VEC_BACKEND_LOCAL,
	VEC_BACKEND_QDRANT,
};

/*
 * Durability of the local backend.  VEC_SYNC_BATCH (the default): every
 * upsert/delete call fdatasync()s the log before it returns 0, so an
 * acknowledged write survives a power cut.  VEC_SYNC_NONE: write(2) only;
 * it survives a crash of the process (the data is in the page cache) but
 * not of the machine.  For bulk loads and benchmarks.
 */
enum vec_sync {
	VEC_SYNC_BATCH,
	VEC_SYNC_NONE,
};

enum vec_direction {
	VEC_DIR_ANY = 0,	/* in a filter: no constraint */
	VEC_DIR_IN,
	VEC_DIR_OUT,
	VEC_DIR_DRAFT,
};

enum vec_id_kind {
	VEC_ID_NUM,
	VEC_ID_UUID,
};

/* A point id: an unsigned 64-bit number or a 128-bit UUID (Qdrant's two). */
struct vec_id {
	enum vec_id_kind kind;
	uint64_t num;
	uint8_t uuid[16];
};

/*
 * What is stored next to a vector.  Strings are NUL-terminated, at most
 * VEC_KEY_MAX (ids) or VEC_REF_MAX (message_ref) bytes; NULL means "".
 * ts is Unix seconds.
 */
struct vec_payload {
	const char *account_id;
	const char *contact_id;
	enum vec_direction direction;
	int64_t ts;
	const char *message_ref;
	uint32_t chunk;
};

struct vec_point {
	struct vec_id id;
	const float *vector;	/* dim floats; need not be normalized */
	struct vec_payload payload;
};

/*
 * A search or delete filter.  Empty strings / NULL mean "any"; the time
 * range is inclusive and applies only when has_since / has_until is set.
 */
struct vec_filter {
	const char *account_id;
	const char *contact_id;
	enum vec_direction direction;
	bool has_since, has_until;
	int64_t since, until;
};

struct vec_hit {
	struct vec_id id;
	float score;		/* cosine similarity, higher is closer */
	struct vec_payload payload;	/* strings owned by the result */
};

/* Search results, best first.  Release with vec_result_fini(). */
struct vec_result {
	size_t count;
	struct vec_hit *hits;
};

/* Search flags. */
#define VEC_SEARCH_EXACT 0x1	/* local: force the exact float scan */

struct vec_qdrant_transport;

struct vec_config {
	enum vec_backend backend;
	uint32_t dim;		/* required, 1..VEC_DIM_MAX */

	/* Local backend. */
	const char *data_dir;	/* created if missing (mode 0700) */
	enum vec_sync sync;
	/* Rows at or below which search is an exact float scan; 0: 20000. */
	size_t exact_max;
	/* Float-rescored candidates per query, at least k; 0: 100 + 8k. */
	size_t rescore;
	/*
	 * Live rows from which an unfiltered search uses the IVF index
	 * (0: 50000), its list count (0: 256) and lists probed (0: 32).
	 */
	size_t ivf_min;
	uint32_t nlist, nprobe;
	/* Search threads; 0: the number of online CPUs, at most 8. */
	unsigned threads;
	/* Compact when the log holds this many dead bytes; 0: 64 MiB. */
	uint64_t compact_dead_bytes;
	/*
	 * Open tenants as a reader beside the one writer process: no lock is
	 * taken, nothing is created, truncated or compacted, and every write
	 * call fails.  Each search and count first catches up with what the
	 * writer appended since (or reloads after a compaction), so a
	 * long-lived reader sees acknowledged writes.  A tenant with no log
	 * yet reads as empty.
	 */
	bool read_only;

	/* Qdrant backend. */
	const char *url;	/* e.g. "http://127.0.0.1:6333" */
	const char *api_key;	/* sent as "api-key:"; NULL for none */
	long connect_timeout_ms;	/* 0: 2000 */
	long timeout_ms;	/* whole request; 0: 10000 */
	/* Tests substitute the HTTP layer; NULL means libcurl. */
	const struct vec_qdrant_transport *transport;
};

struct vec_store;

/* Fills in defaults: local backend, VEC_SYNC_BATCH, zeros elsewhere. */
void vec_config_init(struct vec_config *config);

/*
 * Opens a store.  The config's strings are copied.  Local: creates the
 * data dir; tenants are opened (and their logs replayed) lazily on first
 * use.  Qdrant: no request is made until first use, when the tenant's
 * collection is created if missing.  Returns 0 and *store_r, or -1 with
 * *errstr_r pointing at a static message.
 */
int vec_open(const struct vec_config *config, struct vec_store **store_r,
    const char **errstr_r);

/* Closes the store and frees everything; *store becomes NULL. */
void vec_close(struct vec_store **store);

/*
 * True if tenant is a valid tenant id: 1..VEC_TENANT_MAX bytes of
 * [A-Za-z0-9_-], not starting with '-'.  It becomes a directory or a
 * collection name, so nothing else is accepted.
 */
bool vec_tenant_valid(const char *tenant);

/*
 * Inserts or replaces n points (by id) for the tenant.  Vectors must be
 * finite and non-zero.  Returns 0 once the write is durable per the sync
 * policy (local) or acknowledged with wait=true (Qdrant).  On -1 a prefix
 * of the batch may have been applied; retrying the batch is safe because
 * upserts are idempotent.
 */
int vec_upsert(struct vec_store *store, const char *tenant,
    const struct vec_point *points, size_t n, const char **errstr_r);

/* Deletes the given ids (missing ids are not an error). */
int vec_delete_ids(struct vec_store *store, const char *tenant,
    const struct vec_id *ids, size_t n, const char **errstr_r);

/*
 * Deletes every point matching the filter: the purge of a contact or an
 * account.  The filter must name an account or a contact (a filter that
 * would match the whole tenant is refused).  *deleted_r, if not NULL, gets
 * the count deleted (local) or 0 (Qdrant does not report it).
 */
int vec_delete_filter(struct vec_store *store, const char *tenant,
    const struct vec_filter *filter, uint64_t *deleted_r,
    const char **errstr_r);

/*
 * Finds the k points of the tenant closest to query (dim floats) that
 * match filter (NULL: any).  k is 1..VEC_K_MAX.  flags: VEC_SEARCH_*.
 * On success *result_r holds up to k hits, best first, and must be
 * released with vec_result_fini() even when empty.
 */
int vec_search(struct vec_store *store, const char *tenant,
    const float *query, size_t k, const struct vec_filter *filter,
    unsigned flags, struct vec_result *result_r, const char **errstr_r);

/* Frees a result's hits; safe on a zeroed or already released result. */
void vec_result_fini(struct vec_result *result);

/*
 * Counts the live points of a tenant (local: exact; Qdrant: the
 * collection's exact count).  Creates nothing.
 */
int vec_count(struct vec_store *store, const char *tenant, uint64_t *count_r,
    const char **errstr_r);

/*
 * Local only: rewrites the tenant's log with live rows only, atomically.
 * Also happens by itself past compact_dead_bytes.  Qdrant: a no-op.
 */
int vec_compact(struct vec_store *store, const char *tenant,
    const char **errstr_r);

/*
 * What the local backend knows about a tenant's storage; the recovery
 * fields describe what its open (log replay) found.  Qdrant fills only
 * live (as vec_count does).
 */
struct vec_stats {
	uint64_t live;		/* points */
	uint64_t rows;		/* in memory, including dead ones */
	uint64_t log_bytes, dead_bytes;
	uint64_t replayed_records;
	uint64_t torn_bytes_cut;	/* torn tail removed on open */
	uint64_t skipped_bytes;		/* damaged records skipped on open */
	bool ivf_built;
};

int vec_stats(struct vec_store *store, const char *tenant,
    struct vec_stats *stats_r, const char **errstr_r);

/* Parses decimal "123" or a UUID "550e8400-e29b-41d4-a716-446655440000". */
int vec_id_parse(const char *s, struct vec_id *id_r);
/* Formats an id as vec_id_parse() reads it; buf is VEC_ID_STRLEN bytes. */
void vec_id_format(const struct vec_id *id, char *buf, size_t size);
bool vec_id_equal(const struct vec_id *a, const struct vec_id *b);

/* "in", "out", "draft" (and "any" for VEC_DIR_ANY). */
const char *vec_direction_name(enum vec_direction dir);
int vec_direction_parse(const char *s, enum vec_direction *dir_r);

/*
 * L2-normalizes v in place.  Returns -1 (leaving v alone) if v has a
 * non-finite element or zero norm.
 */
int vec_normalize(float *v, size_t dim);

#endif
