/*
 * test_vec_local.c - the embedded vector store: upsert, search, filters,
 * deletes, tenant isolation, reopen, torn tails, compaction, and the
 * agreement of the quantized and IVF paths with exact search.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enrich/vec/vec.h"
#include "enrich/vec/vec_log.h"
#include "lib/xmalloc.h"

#define DIM 16

struct fixture {
	char dir[64];
	struct vec_config cfg;
	struct vec_store *st;
};

static uint64_t rng_state;

static float
frand(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (float)((rng_state >> 33) & 0xffffff) / (float)0x800000 - 1.0f;
}

static void
randvec(float *v, size_t dim)
{
	for (size_t i = 0; i < dim; i++)
		v[i] = frand();
}

static void
reopen(struct fixture *f)
{
	const char *err = NULL;

	vec_close(&f->st);
	if (vec_open(&f->cfg, &f->st, &err) != 0)
		fail_msg("reopen: %s", err);
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *err = NULL;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_vec_local.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	vec_config_init(&f->cfg);
	f->cfg.dim = DIM;
	f->cfg.data_dir = f->dir;
	if (vec_open(&f->cfg, &f->st, &err) != 0)
		fail_msg("open: %s", err);
	rng_state = 42;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	vec_close(&f->st);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

static void
point(struct vec_point *p, uint64_t id, const float *v, const char *acc,
    const char *con, enum vec_direction dir, int64_t ts)
{
	memset(p, 0, sizeof(*p));
	p->id.kind = VEC_ID_NUM;
	p->id.num = id;
	p->vector = v;
	p->payload.account_id = acc;
	p->payload.contact_id = con;
	p->payload.direction = dir;
	p->payload.ts = ts;
	p->payload.message_ref = "<m@example.com>";
	p->payload.chunk = (uint32_t)id;
}

static void
upsert1(struct fixture *f, const char *tenant, uint64_t id, const float *v,
    const char *acc, const char *con, enum vec_direction dir, int64_t ts)
{
	struct vec_point p;
	const char *err = NULL;

	point(&p, id, v, acc, con, dir, ts);
	if (vec_upsert(f->st, tenant, &p, 1, &err) != 0)
		fail_msg("upsert: %s", err);
}

static uint64_t
count(struct fixture *f, const char *tenant)
{
	uint64_t n = 0;
	const char *err = NULL;

	if (vec_count(f->st, tenant, &n, &err) != 0)
		fail_msg("count: %s", err);
	return n;
}

/* Searches and returns the top id (or UINT64_MAX when empty). */
static uint64_t
top1(struct fixture *f, const char *tenant, const float *q,
    const struct vec_filter *flt, size_t *n_r)
{
	struct vec_result r;
	const char *err = NULL;
	uint64_t id;

	if (vec_search(f->st, tenant, q, 10, flt, 0, &r, &err) != 0)
		fail_msg("search: %s", err);
	id = r.count > 0 ? r.hits[0].id.num : UINT64_MAX;
	if (n_r != NULL)
		*n_r = r.count;
	vec_result_fini(&r);
	return id;
}

static void
test_upsert_search(void **state)
{
	struct fixture *f = *state;
	float v[50][DIM];
	struct vec_result r;
	const char *err = NULL;

	for (int i = 0; i < 50; i++) {
		randvec(v[i], DIM);
		upsert1(f, "acme", (uint64_t)i, v[i], "a1", "c1", VEC_DIR_IN,
		    1000 + i);
	}
	assert_int_equal(count(f, "acme"), 50);
	for (int i = 0; i < 50; i++)
		assert_int_equal(top1(f, "acme", v[i], NULL, NULL), i);
	assert_int_equal(vec_search(f->st, "acme", v[7], 5, NULL, 0, &r,
	    &err), 0);
	assert_int_equal(r.count, 5);
	assert_true(r.hits[0].score > 0.9999f && r.hits[0].score < 1.0001f);
	for (size_t i = 1; i < r.count; i++)
		assert_true(r.hits[i - 1].score >= r.hits[i].score);
	assert_string_equal(r.hits[0].payload.account_id, "a1");
	assert_string_equal(r.hits[0].payload.contact_id, "c1");
	assert_string_equal(r.hits[0].payload.message_ref,
	    "<m@example.com>");
	assert_int_equal(r.hits[0].payload.ts, 1007);
	assert_int_equal(r.hits[0].payload.chunk, 7);
	assert_int_equal(r.hits[0].payload.direction, VEC_DIR_IN);
	vec_result_fini(&r);

	/* Replacing by id keeps the count and moves the point. */
	upsert1(f, "acme", 7, v[8], "a2", "c2", VEC_DIR_OUT, 5);
	assert_int_equal(count(f, "acme"), 50);
	assert_int_equal(vec_search(f->st, "acme", v[8], 2, NULL, 0, &r,
	    &err), 0);
	assert_true((r.hits[0].id.num == 7 && r.hits[1].id.num == 8) ||
	    (r.hits[0].id.num == 8 && r.hits[1].id.num == 7));
	vec_result_fini(&r);
}

static void
test_filters(void **state)
{
	struct fixture *f = *state;
	static const char *const accs[] = { "acc-a", "acc-b" };
	static const char *const cons[] = { "con-x", "con-y", "con-z" };
	float v[60][DIM], q[DIM];
	struct vec_result r;
	const char *err = NULL;

	for (int i = 0; i < 60; i++) {
		randvec(v[i], DIM);
		upsert1(f, "t1", (uint64_t)i, v[i], accs[i % 2], cons[i % 3],
		    (enum vec_direction)(1 + i % 3), 100 * i);
	}
	randvec(q, DIM);
	struct {
		struct vec_filter flt;
		size_t want;
	} cases[] = {
		{ { .account_id = "acc-a" }, 10 },
		{ { .contact_id = "con-z" }, 10 },
		{ { .account_id = "acc-a", .contact_id = "con-x" }, 10 },
		{ { .direction = VEC_DIR_DRAFT }, 10 },
		{ { .has_since = true, .since = 5500 }, 5 },
		{ { .has_until = true, .until = 300 }, 4 },
		{ { .has_since = true, .since = 1000, .has_until = true,
		    .until = 1200 }, 3 },
		{ { .account_id = "nobody" }, 0 },
		{ { .account_id = "acc-a", .has_since = true, .since = 5000,
		    .direction = VEC_DIR_IN }, 1 },	/* i = 54 */
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct vec_filter *flt = &cases[c].flt;

		assert_int_equal(vec_search(f->st, "t1", q, 10, flt, 0, &r,
		    &err), 0);
		assert_int_equal(r.count, cases[c].want);
		for (size_t i = 0; i < r.count; i++) {
			const struct vec_payload *p = &r.hits[i].payload;

			if (flt->account_id != NULL)
				assert_string_equal(p->account_id,
				    flt->account_id);
			if (flt->contact_id != NULL)
				assert_string_equal(p->contact_id,
				    flt->contact_id);
			if (flt->direction != VEC_DIR_ANY)
				assert_int_equal(p->direction, flt->direction);
			if (flt->has_since)
				assert_true(p->ts >= flt->since);
			if (flt->has_until)
				assert_true(p->ts <= flt->until);
		}
		vec_result_fini(&r);
	}
	/* An empty range is refused rather than silently empty. */
	assert_int_equal(vec_search(f->st, "t1", q, 10, &(struct vec_filter){
	    .has_since = true, .since = 10, .has_until = true, .until = 5 },
	    0, &r, &err), -1);
}

static void
test_delete(void **state)
{
	struct fixture *f = *state;
	float v[30][DIM];
	struct vec_id ids[3];
	uint64_t n = 0;
	const char *err = NULL;

	for (int i = 0; i < 30; i++) {
		randvec(v[i], DIM);
		upsert1(f, "t", (uint64_t)i, v[i], i < 10 ? "gone" : "kept",
		    i % 2 ? "c-odd" : "c-even", VEC_DIR_IN, i);
	}
	for (int i = 0; i < 3; i++) {
		ids[i].kind = VEC_ID_NUM;
		ids[i].num = (uint64_t)(20 + i);
	}
	assert_int_equal(vec_delete_ids(f->st, "t", ids, 3, &err), 0);
	assert_int_equal(count(f, "t"), 27);
	assert_int_not_equal(top1(f, "t", v[21], NULL, NULL), 21);
	/* Deleting again is not an error. */
	assert_int_equal(vec_delete_ids(f->st, "t", ids, 3, &err), 0);

	assert_int_equal(vec_delete_filter(f->st, "t", &(struct vec_filter){
	    .account_id = "gone" }, &n, &err), 0);
	assert_int_equal(n, 10);
	assert_int_equal(count(f, "t"), 17);
	assert_int_equal(vec_delete_filter(f->st, "t", &(struct vec_filter){
	    .contact_id = "c-odd" }, &n, &err), 0);
	assert_int_equal(n, 9);	/* 11..19 and 23..29, odd */
	assert_int_equal(count(f, "t"), 8);
	/* A purge must say whose data goes. */
	assert_int_equal(vec_delete_filter(f->st, "t", &(struct vec_filter){
	    .direction = VEC_DIR_IN }, &n, &err), -1);
	assert_non_null(strstr(err, "account or a contact"));

	reopen(f);
	assert_int_equal(count(f, "t"), 8);
	assert_int_equal(top1(f, "t", v[12], NULL, NULL), 12);
	assert_int_not_equal(top1(f, "t", v[3], NULL, NULL), 3);
}

static void
test_tenant_isolation(void **state)
{
	struct fixture *f = *state;
	float v[DIM];
	size_t n;
	const char *err = NULL;
	struct vec_result r;
	static const char *const bad[] = {
		"", "../etc", "a/b", ".", "..", "-rf", "a b", "t\n",
		"x123456789012345678901234567890123456789012345678901234567890"
		    "12345",
	};

	randvec(v, DIM);
	upsert1(f, "alpha", 1, v, "shared-acc", "shared-con", VEC_DIR_IN, 1);
	/* The same query, even with alpha's filter, finds nothing in beta. */
	assert_int_equal(top1(f, "beta", v, NULL, &n), UINT64_MAX);
	assert_int_equal(n, 0);
	assert_int_equal(top1(f, "beta", v, &(struct vec_filter){
	    .account_id = "shared-acc" }, &n), UINT64_MAX);
	assert_int_equal(count(f, "beta"), 0);
	assert_int_equal(top1(f, "alpha", v, NULL, &n), 1);
	/* Deleting in beta leaves alpha alone. */
	assert_int_equal(vec_delete_filter(f->st, "beta", &(struct vec_filter){
	    .account_id = "shared-acc" }, NULL, &err), 0);
	assert_int_equal(count(f, "alpha"), 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(vec_tenant_valid(bad[i]));
		assert_int_equal(vec_search(f->st, bad[i], v, 1, NULL, 0, &r,
		    &err), -1);
	}
	assert_int_equal(vec_search(f->st, NULL, v, 1, NULL, 0, &r, &err), -1);
}

static void
test_bad_input(void **state)
{
	struct fixture *f = *state;
	float zero[DIM] = { 0 }, v[DIM], nan_v[DIM];
	struct vec_point p;
	struct vec_result r;
	char longs[VEC_KEY_MAX + 2];
	const char *err = NULL;

	randvec(v, DIM);
	memcpy(nan_v, v, sizeof(v));
	nan_v[3] = __builtin_nanf("");
	point(&p, 1, zero, "a", "c", VEC_DIR_IN, 0);
	assert_int_equal(vec_upsert(f->st, "t", &p, 1, &err), -1);
	p.vector = nan_v;
	assert_int_equal(vec_upsert(f->st, "t", &p, 1, &err), -1);
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	point(&p, 1, v, longs, "c", VEC_DIR_IN, 0);
	assert_int_equal(vec_upsert(f->st, "t", &p, 1, &err), -1);
	assert_int_equal(count(f, "t"), 0);
	assert_int_equal(vec_search(f->st, "t", v, 0, NULL, 0, &r, &err), -1);
	assert_int_equal(vec_search(f->st, "t", v, VEC_K_MAX + 1, NULL, 0, &r,
	    &err), -1);
	assert_int_equal(vec_search(f->st, "t", zero, 1, NULL, 0, &r, &err),
	    -1);
}

static void
test_uuid_ids(void **state)
{
	struct fixture *f = *state;
	const char *s = "550e8400-e29b-41d4-a716-446655440000";
	char buf[VEC_ID_STRLEN];
	struct vec_point p;
	struct vec_result r;
	float v[DIM];
	const char *err = NULL;

	randvec(v, DIM);
	point(&p, 0, v, "a", "c", VEC_DIR_OUT, 0);
	assert_int_equal(vec_id_parse(s, &p.id), 0);
	vec_id_format(&p.id, buf, sizeof(buf));
	assert_string_equal(buf, s);
	assert_int_equal(vec_upsert(f->st, "t", &p, 1, &err), 0);
	reopen(f);
	assert_int_equal(vec_search(f->st, "t", v, 1, NULL, 0, &r, &err), 0);
	assert_int_equal(r.count, 1);
	assert_true(vec_id_equal(&r.hits[0].id, &p.id));
	vec_result_fini(&r);
	assert_int_equal(vec_id_parse("18446744073709551615", &p.id), 0);
	assert_int_equal(p.id.num, UINT64_MAX);
	assert_int_equal(vec_id_parse("18446744073709551616", &p.id), -1);
	assert_int_equal(vec_id_parse("550e8400-e29b-41d4-a716-44665544000g",
	    &p.id), -1);
	assert_int_equal(vec_id_parse("", &p.id), -1);
}

static char *
log_path(struct fixture *f, const char *tenant)
{
	return xasprintf("%s/%s/vec.log", f->dir, tenant);
}

static off_t
file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

static void
test_reopen_torn_tail(void **state)
{
	struct fixture *f = *state;
	float v[20][DIM];
	char *path = log_path(f, "t");
	off_t good, full;
	int fd;

	for (int i = 0; i < 10; i++) {
		randvec(v[i], DIM);
		upsert1(f, "t", (uint64_t)i, v[i], "a", "c", VEC_DIR_IN, i);
	}
	good = file_size(path);
	randvec(v[10], DIM);
	upsert1(f, "t", 10, v[10], "a", "c", VEC_DIR_IN, 10);
	full = file_size(path);
	vec_close(&f->st);

	/* Every cut inside the last record: the first ten survive. */
	for (off_t cut = full - 1; cut > good; cut -= 7) {
		assert_int_equal(truncate(path, cut), 0);
		reopen(f);
		assert_int_equal(count(f, "t"), 10);
		assert_int_equal(top1(f, "t", v[9], NULL, NULL), 9);
		/* The torn bytes were cut, so this append lands cleanly. */
		assert_int_equal(file_size(path), good);
		upsert1(f, "t", 10, v[10], "a", "c", VEC_DIR_IN, 10);
		vec_close(&f->st);
		assert_int_equal(file_size(path), full);
	}
	/* Garbage appended after a good log is a torn tail too. */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "CEVR\x01\x00garbage", 13), 13);
	close(fd);
	reopen(f);
	assert_int_equal(count(f, "t"), 11);
	free(path);
}

static void
test_corrupt_middle(void **state)
{
	struct fixture *f = *state;
	float v[3][DIM];
	char *path = log_path(f, "t");
	off_t first = 0;
	int fd;
	char b;

	for (int i = 0; i < 3; i++) {
		randvec(v[i], DIM);
		upsert1(f, "t", (uint64_t)i, v[i], "a", "c", VEC_DIR_IN, i);
		if (i == 0)
			first = file_size(path);
	}
	vec_close(&f->st);
	/* Flip a byte inside the second record's vector. */
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, first + 60), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, first + 60), 1);
	close(fd);
	reopen(f);
	/* Record 2 is lost; records 1 and 3 are intact and replayed. */
	assert_int_equal(count(f, "t"), 2);
	assert_int_equal(top1(f, "t", v[0], NULL, NULL), 0);
	assert_int_equal(top1(f, "t", v[2], NULL, NULL), 2);
	/* The log was rewritten, so the next open is clean and the same. */
	reopen(f);
	assert_int_equal(count(f, "t"), 2);
	free(path);
}

static void
test_compaction(void **state)
{
	struct fixture *f = *state;
	float v[DIM];
	char *path = log_path(f, "t");
	const char *err = NULL;
	off_t before, after;
	struct vec_id id = { .kind = VEC_ID_NUM };

	/* Rewrite the same 20 ids 10 times: 180 dead entries. */
	for (int round = 0; round < 10; round++)
		for (int i = 0; i < 20; i++) {
			randvec(v, DIM);
			upsert1(f, "t", (uint64_t)i, v, "a", "c", VEC_DIR_IN,
			    round);
		}
	for (id.num = 0; id.num < 5; id.num++)
		assert_int_equal(vec_delete_ids(f->st, "t", &id, 1, &err), 0);
	before = file_size(path);
	assert_int_equal(vec_compact(f->st, "t", &err), 0);
	after = file_size(path);
	assert_true(after < before / 8);
	assert_int_equal(count(f, "t"), 15);
	/* Writes after compaction append to the new log. */
	randvec(v, DIM);
	upsert1(f, "t", 99, v, "a", "c", VEC_DIR_IN, 99);
	reopen(f);
	assert_int_equal(count(f, "t"), 16);
	assert_int_equal(top1(f, "t", v, NULL, NULL), 99);
	free(path);
}

static void
test_auto_compaction(void **state)
{
	struct fixture *f = *state;
	float v[DIM];
	char *path = log_path(f, "t");

	f->cfg.compact_dead_bytes = 4096;
	reopen(f);
	for (int round = 0; round < 50; round++) {
		randvec(v, DIM);
		upsert1(f, "t", 1, v, "a", "c", VEC_DIR_IN, round);
	}
	assert_true(file_size(path) < 4096 + 1024);
	reopen(f);
	assert_int_equal(count(f, "t"), 1);
	assert_int_equal(top1(f, "t", v, NULL, NULL), 1);
	free(path);
}

static void
test_second_process_locked_out(void **state)
{
	struct fixture *f = *state;
	struct vec_store *other;
	float v[DIM];
	struct vec_result r;
	const char *err = NULL;

	randvec(v, DIM);
	upsert1(f, "t", 1, v, "a", "c", VEC_DIR_IN, 0);
	/* flock is per open file description: a second store is refused. */
	assert_int_equal(vec_open(&f->cfg, &other, &err), 0);
	assert_int_equal(vec_search(other, "t", v, 1, NULL, 0, &r, &err), -1);
	assert_non_null(strstr(err, "another process"));
	vec_close(&other);
}

/*
 * A reader beside the writer: no lock, sees each acknowledged write on its
 * next search, ignores a half-written record until it is complete, and
 * follows a compaction (the log replaced by rename).  Writes are refused.
 */
static void
test_reader_follows_writer(void **state)
{
	struct fixture *f = *state;
	struct vec_config rc = f->cfg;
	struct vec_store *rd;
	struct vec_point p;
	struct vec_result r;
	float v[40][DIM];
	char *path = log_path(f, "t");
	const char *err = NULL;
	uint64_t n = 0;
	off_t end;
	int fd;

	rc.read_only = true;
	assert_int_equal(vec_open(&rc, &rd, &err), 0);
	/* Nothing written yet: empty, and no directory is created. */
	assert_int_equal(vec_count(rd, "t", &n, &err), 0);
	assert_int_equal(n, 0);
	for (int i = 0; i < 40; i++)
		randvec(v[i], DIM);
	for (int i = 0; i < 10; i++)
		upsert1(f, "t", (uint64_t)i, v[i], "a", "c", VEC_DIR_IN, i);
	assert_int_equal(vec_search(rd, "t", v[3], 1, NULL, 0, &r, &err), 0);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.hits[0].id.num, 3);
	vec_result_fini(&r);
	/* More appends, a replacement and a delete: caught up incrementally. */
	for (int i = 10; i < 20; i++)
		upsert1(f, "t", (uint64_t)i, v[i], "a", "c", VEC_DIR_IN, i);
	upsert1(f, "t", 3, v[30], "a", "c", VEC_DIR_IN, 3);
	p.id.kind = VEC_ID_NUM;
	p.id.num = 5;
	assert_int_equal(vec_delete_ids(f->st, "t", &p.id, 1, &err), 0);
	assert_int_equal(vec_count(rd, "t", &n, &err), 0);
	assert_int_equal(n, 19);
	assert_int_equal(vec_search(rd, "t", v[30], 1, NULL, 0, &r, &err), 0);
	assert_int_equal(r.hits[0].id.num, 3);
	vec_result_fini(&r);
	/* A record cut in the middle (a write in progress) is not applied. */
	end = file_size(path);
	upsert1(f, "t", 20, v[20], "a", "c", VEC_DIR_IN, 20);
	{
		off_t full = file_size(path);
		uint8_t *buf = xmalloc((size_t)(full - end));

		fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, buf, (size_t)(full - end), end),
		    full - end);
		assert_int_equal(ftruncate(fd, end + (full - end) / 2), 0);
		assert_int_equal(vec_count(rd, "t", &n, &err), 0);
		assert_int_equal(n, 19);
		/* the rest of the write lands: now it counts */
		assert_int_equal(pwrite(fd, buf, (size_t)(full - end), end),
		    full - end);
		close(fd);
		free(buf);
	}
	assert_int_equal(vec_count(rd, "t", &n, &err), 0);
	assert_int_equal(n, 20);
	/* Compaction renames a new log over the old one. */
	assert_int_equal(vec_compact(f->st, "t", &err), 0);
	upsert1(f, "t", 21, v[21], "a", "c", VEC_DIR_IN, 21);
	assert_int_equal(vec_count(rd, "t", &n, &err), 0);
	assert_int_equal(n, 21);
	assert_int_equal(vec_search(rd, "t", v[21], 1, NULL, 0, &r, &err), 0);
	assert_int_equal(r.hits[0].id.num, 21);
	vec_result_fini(&r);
	/* The reader writes nothing. */
	point(&p, 99, v[0], "a", "c", VEC_DIR_IN, 0);
	assert_int_equal(vec_upsert(rd, "t", &p, 1, &err), -1);
	assert_non_null(strstr(err, "read-only"));
	assert_int_equal(vec_compact(rd, "t", &err), -1);
	assert_int_equal(vec_count(f->st, "t", &n, &err), 0);
	assert_int_equal(n, 21);
	vec_close(&rd);
	free(path);
}

/* Quantized and IVF search agree with exact search on clustered data. */
static void
test_quantized_recall(void **state)
{
	struct fixture *f = *state;
	enum { N = 30000, D = 64, C = 60, Q = 50 };
	float *cent = xcalloc((size_t)C * D, sizeof(float));
	float *data = xcalloc((size_t)N * D, sizeof(float));
	struct vec_point *pts = xcalloc(N, sizeof(*pts));
	const char *err = NULL;
	double hits = 0, hits_ivf = 0;

	f->cfg.dim = D;
	f->cfg.exact_max = 1000;
	reopen(f);
	for (int c = 0; c < C; c++)
		randvec(cent + c * D, D);
	for (int i = 0; i < N; i++) {
		int c = i % C;

		for (int d = 0; d < D; d++)
			data[i * D + d] = cent[c * D + d] + 0.3f * frand();
		point(&pts[i], (uint64_t)i, data + i * D, "a", "c",
		    VEC_DIR_IN, i);
	}
	assert_int_equal(vec_upsert(f->st, "t", pts, N, &err), 0);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			/* Force the IVF path at this size. */
			f->cfg.ivf_min = 1000;
			f->cfg.nlist = 64;
			f->cfg.nprobe = 16;
			reopen(f);
		}
		for (int qi = 0; qi < Q; qi++) {
			float q[D];
			struct vec_result a, e;

			for (int d = 0; d < D; d++)
				q[d] = cent[(qi % C) * D + d] + 0.3f * frand();
			assert_int_equal(vec_search(f->st, "t", q, 10, NULL, 0,
			    &a, &err), 0);
			assert_int_equal(vec_search(f->st, "t", q, 10, NULL,
			    VEC_SEARCH_EXACT, &e, &err), 0);
			assert_int_equal(a.count, 10);
			for (size_t i = 0; i < e.count; i++)
				for (size_t j = 0; j < a.count; j++)
					if (e.hits[i].id.num ==
					    a.hits[j].id.num) {
						*(pass ? &hits_ivf : &hits) +=
						    1;
						break;
					}
			vec_result_fini(&a);
			vec_result_fini(&e);
		}
	}
	print_message("recall@10 int8 %.4f, ivf %.4f\n", hits / (Q * 10),
	    hits_ivf / (Q * 10));
	assert_true(hits / (Q * 10) >= 0.98);
	assert_true(hits_ivf / (Q * 10) >= 0.98);
	/* IVF stays right after deletes and replacements. */
	{
		struct vec_id id = { .kind = VEC_ID_NUM, .num = 5 };
		struct vec_result a;

		assert_int_equal(vec_delete_ids(f->st, "t", &id, 1, &err), 0);
		assert_int_equal(vec_search(f->st, "t", data + 5 * D, 10,
		    NULL, 0, &a, &err), 0);
		for (size_t j = 0; j < a.count; j++)
			assert_int_not_equal(a.hits[j].id.num, 5);
		vec_result_fini(&a);
		pts[7].vector = data + 5 * D;
		assert_int_equal(vec_upsert(f->st, "t", &pts[7], 1, &err), 0);
		assert_int_equal(vec_search(f->st, "t", data + 5 * D, 1, NULL,
		    0, &a, &err), 0);
		assert_int_equal(a.hits[0].id.num, 7);
		vec_result_fini(&a);
	}
	free(cent);
	free(data);
	free(pts);
}

static void
test_log_format_bounds(void **state)
{
	uint8_t h[VEC_LOG_HEADER_SIZE];
	struct vec_log_stats st;
	float scratch[VEC_DIM_MAX];
	struct vec_log_sink sink = { NULL, NULL };
	const char *err = NULL;
	uint32_t dim = 0;

	(void)state;
	vec_log_header_build(h, 8);
	assert_int_equal(vec_log_replay(h, sizeof(h), 0, &dim, scratch, &sink,
	    NULL, &st, &err), 0);
	assert_int_equal(dim, 8);
	assert_int_equal(vec_log_replay(h, sizeof(h), 9, &dim, scratch, &sink,
	    NULL, &st, &err), -1);
	h[3] ^= 1;
	assert_int_equal(vec_log_replay(h, sizeof(h), 0, &dim, scratch, &sink,
	    NULL, &st, &err), -1);
	assert_int_equal(vec_log_replay(h, 10, 0, &dim, scratch, &sink, NULL,
	    &st, &err), -1);
	/* CRC-32C check value (RFC 3720 B.4): 32 bytes of zeros. */
	memset(h, 0, sizeof(h));
	assert_int_equal(vec_crc32c(0, h, 32), 0x8A9136AA);
	assert_int_equal(vec_crc32c(0, "123456789", 9), 0xE3069283);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upsert_search, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_isolation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_uuid_ids, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reopen_torn_tail, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_middle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_compaction, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auto_compaction, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_second_process_locked_out,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_follows_writer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_quantized_recall, setup,
		    teardown),
		cmocka_unit_test(test_log_format_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
