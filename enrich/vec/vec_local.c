/*
 * vec_local.c - the embedded vector store: storage, crash safety,
 * compaction.  The search is in vec_local_search.c, the file format in
 * vec_log.h.
 *
 * Layout: <data_dir>/<tenant>/vec.log (the log), .../lock (flock'd while a
 * process has the tenant open).  A tenant is a directory of its own so
 * that nothing a caller passes can make one tenant's search read another's
 * rows: the tenant id is checked against [A-Za-z0-9_-] before it names a
 * path (vec.c), and the rows of a tenant live in their own structure.
 *
 * Crash safety rests on three rules:
 *  1. A write appends whole records and, under VEC_SYNC_BATCH, is
 *     fdatasync()ed before the call returns; memory changes only after.
 *  2. On open, the log is replayed record by record; a record that fails
 *     its checksum at the end is a torn tail and is cut off (ftruncate),
 *     one followed by valid records is skipped and the log compacted.
 *  3. Compaction writes a complete new log beside the old one, fsyncs it,
 *     rename()s it over the old one and fsyncs the directory: a crash
 *     leaves the old log or the new one, never a mix.
 */
#include "enrich/vec/vec_local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enrich/vec/vec_kernel.h"
#include "enrich/vec/vec_log.h"
#include "lib/xmalloc.h"

#define LOG_NAME "vec.log"
#define TMP_NAME "vec.log.tmp"

static uint64_t
id_hash(const struct vec_id *id)
{
	uint64_t h;

	if (id->kind == VEC_ID_NUM) {
		h = id->num;
	} else {
		uint64_t a, b;

		memcpy(&a, id->uuid, 8);
		memcpy(&b, id->uuid + 8, 8);
		h = a ^ (b * 0x9E3779B97F4A7C15ULL) ^ 0x5555;
	}
	/* splitmix64 finalizer: sequential ids spread over the table. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static uint32_t *
slot_find(struct vec_tenant *t, const struct vec_id *id)
{
	size_t mask = t->slot_cap - 1, i = (size_t)id_hash(id) & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t s = t->slots[i];

		if (s == 0 || vec_id_equal(&t->ids[s - 1], id))
			return &t->slots[i];
	}
}

static void
slots_rebuild(struct vec_tenant *t, size_t want)
{
	size_t cap = 1024;

	while (cap < want * 2)
		cap *= 2;
	free(t->slots);
	t->slots = xcalloc(cap, sizeof(*t->slots));
	t->slot_cap = cap;
	for (size_t r = 0; r < t->rows; r++)
		*slot_find(t, &t->ids[r]) = (uint32_t)(r + 1);
}

static void
rows_reserve(struct vec_tenant *t, size_t want)
{
	size_t cap = t->cap == 0 ? 256 : t->cap, d = t->dim;

	if (want <= t->cap)
		return;
	while (cap < want)
		cap *= 2;
	t->vecs = xreallocarray(t->vecs, cap, d * sizeof(float));
	t->q = xreallocarray(t->q, cap, d);
	t->qscale = xreallocarray(t->qscale, cap, sizeof(float));
	t->meta = xreallocarray(t->meta, cap, sizeof(*t->meta));
	t->ids = xreallocarray(t->ids, cap, sizeof(*t->ids));
	t->strs = xreallocarray(t->strs, cap, sizeof(*t->strs));
	t->cap = cap;
}

static char *
strs_blob(const struct vec_payload *p)
{
	struct vec_hit h;

	vec_hit_set_payload(&h, p);
	return (char *)h.payload.account_id;
}

/* Applies one normalized point to memory.  Vector must be normalized. */
static void
row_put(struct vec_tenant *t, const struct vec_point *pt, size_t entry_bytes)
{
	uint32_t *slot;
	size_t r;

	if ((t->rows + 1) * 2 > t->slot_cap)
		slots_rebuild(t, t->rows + 1);
	slot = slot_find(t, &pt->id);
	if (*slot != 0) {
		r = *slot - 1;
		/* The old entry's log bytes are now dead. */
		t->dead_bytes += (uint64_t)t->meta[r].log_bytes * 64;
		if (t->meta[r].live)
			t->live--;
		free(t->strs[r]);
	} else {
		rows_reserve(t, t->rows + 1);
		r = t->rows++;
		t->ids[r] = pt->id;
		*slot = (uint32_t)(r + 1);
	}
	memcpy(t->vecs + r * t->dim, pt->vector, t->dim * sizeof(float));
	t->qscale[r] = vec_kernel_quantize(pt->vector, t->q + r * t->dim,
	    t->dim);
	t->meta[r].account_hash = vec_str_hash(pt->payload.account_id);
	t->meta[r].contact_hash = vec_str_hash(pt->payload.contact_id);
	t->meta[r].ts = pt->payload.ts;
	t->meta[r].chunk = pt->payload.chunk;
	t->meta[r].direction = (uint8_t)pt->payload.direction;
	t->meta[r].live = 1;
	t->meta[r].log_bytes = (uint16_t)((entry_bytes + 63) / 64);
	t->strs[r] = strs_blob(&pt->payload);
	t->live++;
	vec_local_ivf_assign(t, r);
}

static void
row_kill(struct vec_tenant *t, const struct vec_id *id)
{
	uint32_t *slot = slot_find(t, id);
	size_t r;

	if (*slot == 0 || !t->meta[*slot - 1].live)
		return;
	r = *slot - 1;
	t->meta[r].live = 0;
	t->live--;
	vec_local_ivf_remove(t, r);
	t->dead_bytes += (uint64_t)t->meta[r].log_bytes * 64 +
	    VEC_LOG_ID_SIZE;
}

static int
replay_upsert(void *ctx, const struct vec_point *pt)
{
	row_put(ctx, pt, vec_log_upsert_entry_size(pt, ((struct vec_tenant *)
	    ctx)->dim));
	return 0;
}

static int
replay_delete(void *ctx, const struct vec_id *id)
{
	row_kill(ctx, id);
	return 0;
}

static void
tenant_free(struct vec_tenant *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->lock_fd >= 0)
		close(t->lock_fd);	/* releases the flock */
	for (size_t r = 0; r < t->rows; r++)
		free(t->strs[r]);
	free(t->vecs);
	free(t->q);
	free(t->qscale);
	free(t->meta);
	free(t->ids);
	free(t->strs);
	free(t->slots);
	vec_local_ivf_free(&t->ivf);
	free(t->dir);
	free(t->log_path);
	free(t);
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	close(fd);
	return ret;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int local_compact_tenant(struct vec_store *store, struct vec_local *l,
    struct vec_tenant *t);

static int
tenant_load(struct vec_store *store, struct vec_tenant *t)
{
	struct vec_log_sink sink = { replay_upsert, replay_delete };
	struct vec_log_stats st;
	struct stat sb;
	const char *why;
	float *scratch;
	void *map;
	int ret;

	if (fstat(t->fd, &sb) != 0)
		return vec_set_error(store, "%s: %s", t->log_path,
		    strerror(errno));
	if (sb.st_size == 0) {
		uint8_t h[VEC_LOG_HEADER_SIZE];

		/* New (or created by a crash before its header landed). */
		vec_log_header_build(h, t->dim);
		if (write_all(t->fd, h, sizeof(h)) != 0 ||
		    fdatasync(t->fd) != 0 || fsync_dir(t->dir) != 0)
			return vec_set_error(store, "%s: %s", t->log_path,
			    strerror(errno));
		t->log_size = sizeof(h);
		return 0;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, t->fd, 0);
	if (map == MAP_FAILED)
		return vec_set_error(store, "%s: mmap: %s", t->log_path,
		    strerror(errno));
	scratch = xreallocarray(NULL, t->dim, sizeof(float));
	ret = vec_log_replay(map, (size_t)sb.st_size, t->dim, NULL, scratch,
	    &sink, t, &st, &why);
	free(scratch);
	munmap(map, (size_t)sb.st_size);
	if (ret != 0)
		return vec_set_error(store, "%s: %s", t->log_path, why);
	t->log_size = st.valid_end;
	t->replayed = st.records;
	t->torn_cut = st.torn_bytes;
	t->skipped = st.skipped_bytes;
	if (st.torn_bytes > 0) {
		/* Cut the torn tail so the next append starts clean. */
		if (ftruncate(t->fd, (off_t)st.valid_end) != 0 ||
		    fdatasync(t->fd) != 0)
			return vec_set_error(store, "%s: truncate: %s",
			    t->log_path, strerror(errno));
	}
	if (st.skipped_regions > 0)
		t->dead_bytes = UINT64_MAX / 2;	/* forces a rewrite */
	return 0;
}

/* ---- readers (vec_config.read_only) ------------------------------------
 *
 * A reader takes no lock and never writes.  The writer only ever appends
 * whole records, cuts back a record it failed to write, or replaces the
 * file by rename() in a compaction; a reader therefore applies complete,
 * checksummed records from where it stopped, and reloads from scratch
 * when the inode changed or anything looks out of place (the file shrank,
 * damage inside the new bytes).  Bytes past the last valid record are a
 * write in progress: they are read again next time.
 */

static void
tenant_clear(struct vec_tenant *t)
{
	for (size_t r = 0; r < t->rows; r++)
		free(t->strs[r]);
	t->rows = t->live = 0;
	t->dead_bytes = t->log_size = 0;
	t->replayed = t->torn_cut = t->skipped = 0;
	vec_local_ivf_free(&t->ivf);
	slots_rebuild(t, 0);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* Replays [from, size) of the open log; from 0 means the whole file. */
static int
reader_replay(struct vec_store *store, struct vec_tenant *t, uint64_t size)
{
	struct vec_log_sink sink = { replay_upsert, replay_delete };
	struct vec_log_stats st;
	uint64_t from = t->log_size;
	size_t len = (size_t)(size - from) + (from > 0 ? VEC_LOG_HEADER_SIZE :
	    0);
	uint8_t *buf = xmalloc(len);
	const char *why;
	float *scratch;
	bool ok;
	int ret;

	/* After the first load: the header again, then the new bytes, so
	 * the replay checks the dimension and sees whole records. */
	ok = from == 0 ? pread(t->fd, buf, len, 0) == (ssize_t)len :
	    pread(t->fd, buf, VEC_LOG_HEADER_SIZE, 0) ==
	    VEC_LOG_HEADER_SIZE && pread(t->fd, buf + VEC_LOG_HEADER_SIZE,
	    len - VEC_LOG_HEADER_SIZE, (off_t)from) ==
	    (ssize_t)(len - VEC_LOG_HEADER_SIZE);
	if (!ok) {
		free(buf);
		return vec_set_error(store, "%s: read: %s", t->log_path,
		    strerror(errno));
	}
	scratch = xreallocarray(NULL, t->dim, sizeof(float));
	ret = vec_log_replay(buf, len, t->dim, NULL, scratch, &sink, t, &st,
	    &why);
	free(scratch);
	free(buf);
	if (ret != 0)
		return vec_set_error(store, "%s: %s", t->log_path, why);
	if (from > 0 && st.skipped_regions > 0)
		return 1;	/* not a clean continuation: reload */
	t->log_size = from > 0 ? from + st.valid_end - VEC_LOG_HEADER_SIZE :
	    st.valid_end;
	t->replayed += st.records;
	t->skipped += st.skipped_bytes;
	return 0;
}

/* Brings a reader's tenant up to date with the file on disk. */
static int
reader_refresh(struct vec_store *store, struct vec_tenant *t)
{
	struct stat sb;
	int ret;

	for (int attempt = 0; attempt < 3; attempt++) {
		if (t->fd >= 0 && (stat(t->log_path, &sb) != 0 ||
		    (uint64_t)sb.st_ino != t->ino))
			tenant_clear(t);	/* compacted (or removed) */
		if (t->fd < 0) {
			t->fd = open(t->log_path, O_RDONLY | O_CLOEXEC);
			if (t->fd < 0)
				return errno == ENOENT ? 0 : vec_set_error(
				    store, "%s: %s", t->log_path,
				    strerror(errno));
		}
		if (fstat(t->fd, &sb) != 0)
			return vec_set_error(store, "%s: %s", t->log_path,
			    strerror(errno));
		t->ino = (uint64_t)sb.st_ino;
		if ((uint64_t)sb.st_size < t->log_size) {
			tenant_clear(t);	/* cut back: start over */
			continue;
		}
		if ((uint64_t)sb.st_size < VEC_LOG_HEADER_SIZE ||
		    (uint64_t)sb.st_size == t->log_size)
			return 0;	/* no header yet, or nothing new */
		ret = reader_replay(store, t, (uint64_t)sb.st_size);
		if (ret <= 0)
			return ret;
		tenant_clear(t);
	}
	return vec_set_error(store, "%s: the log keeps changing under the "
	    "reader", t->log_path);
}

static struct vec_tenant *
reader_get(struct vec_store *store, struct vec_local *l, const char *name)
{
	struct vec_tenant *t;

	for (t = l->tenants; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			break;
	if (t == NULL) {
		t = xcalloc(1, sizeof(*t));
		t->fd = t->lock_fd = -1;
		t->dim = store->dim;
		snprintf(t->name, sizeof(t->name), "%s", name);
		t->dir = xasprintf("%s/%s", l->data_dir, name);
		t->log_path = xasprintf("%s/%s", t->dir, LOG_NAME);
		slots_rebuild(t, 0);
		t->next = l->tenants;
		l->tenants = t;
	}
	return reader_refresh(store, t) == 0 ? t : NULL;
}

static struct vec_tenant *
tenant_get(struct vec_store *store, const char *name)
{
	struct vec_local *l = store->impl;
	struct vec_tenant *t;
	char *lock_path, *tmp_path;

	if (l->read_only)
		return reader_get(store, l, name);

	for (t = l->tenants; t != NULL; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	t = xcalloc(1, sizeof(*t));
	t->fd = t->lock_fd = -1;
	t->dim = store->dim;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->dir = xasprintf("%s/%s", l->data_dir, name);
	t->log_path = xasprintf("%s/%s", t->dir, LOG_NAME);
	slots_rebuild(t, 0);
	if (mkdir(t->dir, 0700) != 0 && errno != EEXIST) {
		vec_set_error(store, "%s: %s", t->dir, strerror(errno));
		tenant_free(t);
		return NULL;
	}
	lock_path = xasprintf("%s/lock", t->dir);
	t->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock_path);
	if (t->lock_fd < 0 || flock(t->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		vec_set_error(store, "%s: %s", t->dir, errno == EWOULDBLOCK ?
		    "tenant store is open in another process" :
		    strerror(errno));
		tenant_free(t);
		return NULL;
	}
	/* A compaction that died before its rename left only garbage. */
	tmp_path = xasprintf("%s/%s", t->dir, TMP_NAME);
	(void)unlink(tmp_path);
	free(tmp_path);
	t->fd = open(t->log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (t->fd < 0 || tenant_load(store, t) != 0) {
		if (t->fd < 0)
			vec_set_error(store, "%s: %s", t->log_path,
			    strerror(errno));
		tenant_free(t);
		return NULL;
	}
	t->next = l->tenants;
	l->tenants = t;
	if (t->dead_bytes >= l->compact_dead_bytes &&
	    local_compact_tenant(store, l, t) != 0)
		return NULL;
	return t;
}

/*
 * Appends buf as one or more whole records and makes it durable.  On
 * failure the log is cut back to where it was, so a half-written record
 * never precedes a later good one.
 */
static int
tenant_append(struct vec_store *store, struct vec_local *l,
    struct vec_tenant *t, const uint8_t *buf, size_t len)
{
	int saved;

	if (t->broken)
		return vec_set_error(store, "%s: an earlier write failed; "
		    "reopen the store", t->log_path);
	if (write_all(t->fd, buf, len) == 0 &&
	    (l->sync == VEC_SYNC_NONE || fdatasync(t->fd) == 0)) {
		t->log_size += len;
		return 0;
	}
	saved = errno;
	if (ftruncate(t->fd, (off_t)t->log_size) != 0)
		t->broken = true;
	return vec_set_error(store, "%s: write: %s", t->log_path,
	    strerror(saved));
}

static int
read_only_refuse(struct vec_store *store)
{
	return vec_set_error(store, "the store is open read-only");
}

static int
local_upsert(struct vec_store *store, const char *tenant,
    const struct vec_point *points, size_t n)
{
	struct vec_local *l = store->impl;
	struct vec_tenant *t;
	size_t dim = store->dim, i = 0;
	float *norm;
	int ret = 0;

	if (l->read_only)
		return read_only_refuse(store);
	t = tenant_get(store, tenant);

	if (t == NULL)
		return -1;
	norm = xreallocarray(NULL, n, dim * sizeof(float));
	for (i = 0; i < n; i++) {
		memcpy(norm + i * dim, points[i].vector, dim * sizeof(float));
		if (vec_normalize(norm + i * dim, dim) != 0) {
			free(norm);
			return vec_set_error(store, "point %zu: vector is "
			    "zero or not finite", i);
		}
	}
	/* Split into records that stay under the body limit. */
	for (i = 0; ret == 0 && i < n;) {
		size_t j = i, body = 4, cap, len = 0, start = 0;
		uint8_t *buf;

		while (j < n && body + vec_log_upsert_entry_size(&points[j],
		    store->dim) <= VEC_LOG_BODY_MAX)
			body += vec_log_upsert_entry_size(&points[j++],
			    store->dim);
		cap = VEC_LOG_REC_HEADER + body;
		buf = xmalloc(cap);
		ret = vec_log_rec_begin(buf, cap, &len, VEC_LOG_UPSERT,
		    (uint32_t)(j - i));
		for (size_t m = i; ret == 0 && m < j; m++)
			ret = vec_log_put_upsert(buf, cap, &len, &points[m],
			    norm + m * dim, store->dim);
		if (ret != 0) {
			ret = vec_set_error(store, "log encoding failed");
		} else {
			vec_log_rec_end(buf, start, len);
			ret = tenant_append(store, l, t, buf, len);
		}
		free(buf);
		for (size_t m = i; ret == 0 && m < j; m++) {
			struct vec_point p = points[m];

			p.vector = norm + m * dim;
			row_put(t, &p, vec_log_upsert_entry_size(&p,
			    store->dim));
		}
		i = j;
	}
	free(norm);
	if (ret == 0 && t->dead_bytes >= l->compact_dead_bytes)
		ret = local_compact_tenant(store, l, t);
	return ret;
}

/* Logs and applies deletes of the given ids (already known live). */
static int
delete_live(struct vec_store *store, struct vec_local *l,
    struct vec_tenant *t, const struct vec_id *ids, size_t n)
{
	size_t per = (VEC_LOG_BODY_MAX - 4) / VEC_LOG_ID_SIZE;
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < n; i += per) {
		size_t m = n - i < per ? n - i : per;
		size_t cap = VEC_LOG_REC_HEADER + 4 + m * VEC_LOG_ID_SIZE;
		size_t len = 0;
		uint8_t *buf = xmalloc(cap);

		ret = vec_log_rec_begin(buf, cap, &len, VEC_LOG_DELETE,
		    (uint32_t)m);
		for (size_t j = 0; ret == 0 && j < m; j++)
			ret = vec_log_put_id(buf, cap, &len, &ids[i + j]);
		if (ret == 0) {
			vec_log_rec_end(buf, 0, len);
			ret = tenant_append(store, l, t, buf, len);
		} else {
			ret = vec_set_error(store, "log encoding failed");
		}
		free(buf);
		for (size_t j = 0; ret == 0 && j < m; j++)
			row_kill(t, &ids[i + j]);
	}
	if (ret == 0 && t->dead_bytes >= l->compact_dead_bytes)
		ret = local_compact_tenant(store, l, t);
	return ret;
}

static int
local_delete_ids(struct vec_store *store, const char *tenant,
    const struct vec_id *ids, size_t n)
{
	struct vec_tenant *t;
	struct vec_id *live;
	size_t m = 0;
	int ret;

	if (((struct vec_local *)store->impl)->read_only)
		return read_only_refuse(store);
	t = tenant_get(store, tenant);

	if (t == NULL)
		return -1;
	live = xreallocarray(NULL, n, sizeof(*live));
	for (size_t i = 0; i < n; i++) {
		uint32_t s = *slot_find(t, &ids[i]);

		if (s != 0 && t->meta[s - 1].live)
			live[m++] = ids[i];
	}
	ret = delete_live(store, store->impl, t, live, m);
	free(live);
	return ret;
}

static int
local_delete_filter(struct vec_store *store, const char *tenant,
    const struct vec_filter *filter, uint64_t *deleted_r)
{
	struct vec_tenant *t;
	struct vec_local_filter lf;
	struct vec_id *ids;
	size_t m = 0;
	int ret;

	if (((struct vec_local *)store->impl)->read_only)
		return read_only_refuse(store);
	t = tenant_get(store, tenant);

	if (t == NULL)
		return -1;
	vec_local_filter_prepare(&lf, filter);
	ids = xreallocarray(NULL, t->live + 1, sizeof(*ids));
	for (size_t r = 0; r < t->rows; r++)
		if (t->meta[r].live && vec_local_row_match(t, r, &lf))
			ids[m++] = t->ids[r];
	ret = delete_live(store, store->impl, t, ids, m);
	free(ids);
	if (ret == 0)
		*deleted_r = m;
	return ret;
}

static int
local_search(struct vec_store *store, const char *tenant, const float *query,
    size_t k, const struct vec_filter *filter, unsigned flags,
    struct vec_result *result_r)
{
	struct vec_tenant *t = tenant_get(store, tenant);

	if (t == NULL)
		return -1;
	return vec_local_search_rows(store, store->impl, t, query, k, filter,
	    flags, result_r);
}

static int
local_count(struct vec_store *store, const char *tenant, uint64_t *count_r)
{
	struct vec_tenant *t = tenant_get(store, tenant);

	if (t == NULL)
		return -1;
	*count_r = t->live;
	return 0;
}

/* Writes the live rows as a fresh log at path; returns its size or 0. */
static uint64_t
write_snapshot(struct vec_tenant *t, const char *path)
{
	uint8_t h[VEC_LOG_HEADER_SIZE];
	uint64_t size = sizeof(h);
	size_t r = 0, cap = VEC_LOG_BODY_MAX + VEC_LOG_REC_HEADER;
	uint8_t *buf = xmalloc(cap);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0;

	vec_log_header_build(h, t->dim);
	ok = ok && write_all(fd, h, sizeof(h)) == 0;
	while (ok && r < t->rows) {
		size_t len = 0, body = 4;
		uint32_t count = 0;

		ok = vec_log_rec_begin(buf, cap, &len, VEC_LOG_UPSERT, 0) == 0;
		for (; ok && r < t->rows; r++) {
			char *s = t->strs[r];
			struct vec_point p = {
				.id = t->ids[r],
				.vector = t->vecs + r * t->dim,
				.payload = {
					.account_id = s,
					.contact_id = s + strlen(s) + 1,
					.direction = t->meta[r].direction,
					.ts = t->meta[r].ts,
					.chunk = t->meta[r].chunk,
				},
			};
			size_t es;

			if (!t->meta[r].live)
				continue;
			p.payload.message_ref = p.payload.contact_id +
			    strlen(p.payload.contact_id) + 1;
			es = vec_log_upsert_entry_size(&p, t->dim);
			if (body + es > VEC_LOG_BODY_MAX)
				break;
			ok = vec_log_put_upsert(buf, cap, &len, &p, p.vector,
			    t->dim) == 0;
			body += es;
			count++;
		}
		if (!ok || count == 0)
			break;
		memcpy(buf + VEC_LOG_REC_HEADER, &count, 4);
		vec_log_rec_end(buf, 0, len);
		ok = write_all(fd, buf, len) == 0;
		size += len;
	}
	free(buf);
	ok = ok && fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	return ok ? size : 0;
}

static int
local_compact_tenant(struct vec_store *store, struct vec_local *l,
    struct vec_tenant *t)
{
	char *tmp = xasprintf("%s/%s", t->dir, TMP_NAME);
	uint64_t size = write_snapshot(t, tmp);
	size_t w = 0;
	int fd;

	(void)l;
	if (size == 0 || rename(tmp, t->log_path) != 0 ||
	    fsync_dir(t->dir) != 0) {
		int saved = errno;

		(void)unlink(tmp);
		free(tmp);
		return vec_set_error(store, "%s: compaction: %s", t->log_path,
		    strerror(saved));
	}
	free(tmp);
	fd = open(t->log_path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		t->broken = true;
		return vec_set_error(store, "%s: reopen after compaction: %s",
		    t->log_path, strerror(errno));
	}
	close(t->fd);
	t->fd = fd;
	t->log_size = size;
	t->dead_bytes = 0;
	/* Squeeze dead rows out of memory too. */
	for (size_t r = 0; r < t->rows; r++) {
		if (!t->meta[r].live) {
			free(t->strs[r]);
			continue;
		}
		if (w != r) {
			memcpy(t->vecs + w * t->dim, t->vecs + r * t->dim,
			    t->dim * sizeof(float));
			memcpy(t->q + w * t->dim, t->q + r * t->dim, t->dim);
			t->qscale[w] = t->qscale[r];
			t->meta[w] = t->meta[r];
			t->ids[w] = t->ids[r];
			t->strs[w] = t->strs[r];
		}
		w++;
	}
	t->rows = w;
	slots_rebuild(t, w);
	/* Row numbers changed; the next large search rebuilds it. */
	vec_local_ivf_free(&t->ivf);
	return 0;
}

static int
local_compact(struct vec_store *store, const char *tenant)
{
	struct vec_tenant *t;

	if (((struct vec_local *)store->impl)->read_only)
		return read_only_refuse(store);
	t = tenant_get(store, tenant);
	if (t == NULL)
		return -1;
	return local_compact_tenant(store, store->impl, t);
}

static int
local_stats(struct vec_store *store, const char *tenant,
    struct vec_stats *s)
{
	struct vec_tenant *t = tenant_get(store, tenant);

	if (t == NULL)
		return -1;
	s->live = t->live;
	s->rows = t->rows;
	s->log_bytes = t->log_size;
	s->dead_bytes = t->dead_bytes;
	s->replayed_records = t->replayed;
	s->torn_bytes_cut = t->torn_cut;
	s->skipped_bytes = t->skipped;
	s->ivf_built = t->ivf != NULL;
	return 0;
}

static void
local_close(struct vec_store *store)
{
	struct vec_local *l = store->impl;

	while (l->tenants != NULL) {
		struct vec_tenant *t = l->tenants;

		l->tenants = t->next;
		tenant_free(t);
	}
	free(l->data_dir);
	free(l);
	store->impl = NULL;
}

static const struct vec_backend_ops local_ops = {
	.upsert = local_upsert,
	.delete_ids = local_delete_ids,
	.delete_filter = local_delete_filter,
	.search = local_search,
	.count = local_count,
	.compact = local_compact,
	.stats = local_stats,
	.close = local_close,
};

int
vec_local_open(struct vec_store *store, const struct vec_config *config)
{
	struct vec_local *l;
	long ncpu;

	if (config->data_dir == NULL || config->data_dir[0] == '\0')
		return vec_set_error(store, "local store needs a data_dir");
	if (!config->read_only && mkdir(config->data_dir, 0700) != 0 &&
	    errno != EEXIST)
		return vec_set_error(store, "%s: %s", config->data_dir,
		    strerror(errno));
	l = xcalloc(1, sizeof(*l));
	l->data_dir = xstrdup(config->data_dir);
	l->sync = config->sync;
	l->read_only = config->read_only;
	l->exact_max = config->exact_max != 0 ? config->exact_max : 20000;
	l->rescore = config->rescore;
	l->ivf_min = config->ivf_min != 0 ? config->ivf_min : 50000;
	l->nlist = config->nlist != 0 ? config->nlist : 256;
	l->nprobe = config->nprobe != 0 ? config->nprobe : 32;
	l->compact_dead_bytes = config->compact_dead_bytes != 0 ?
	    config->compact_dead_bytes : 64u << 20;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	l->threads = config->threads != 0 ? config->threads :
	    ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
	store->impl = l;
	store->ops = &local_ops;
	return 0;
}
