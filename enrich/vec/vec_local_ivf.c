/*
 * vec_local_ivf.c - an inverted-file index over a tenant's int8 rows.
 *
 * A full int8 scan of a million 384-dim rows reads 384 MB per query; on
 * two cores that is ~20 ms and contended memory bandwidth makes the tail
 * worse.  Clustering the rows into `nlist` lists (k-means on a sample)
 * and scanning only the `nprobe` lists whose centres are closest to the
 * query reads about nprobe/nlist of that.  The candidates then go through
 * the same float rescoring as the full scan, so what IVF can lose is only
 * a true neighbour filed in a list that was not probed; nprobe is set so
 * that this stays rare on clustered data (docs/vector-store.md).
 *
 * Each list keeps its own copy of its rows' int8 codes, contiguous, so a
 * probe streams memory instead of chasing row numbers across the whole
 * table (a cache miss per row would cost more than the arithmetic).
 * Deleted rows leave their list at once, so a probe never needs the row
 * metadata: IVF is only used for unfiltered searches.
 *
 * The index lives in memory only: it is rebuilt from the rows the first
 * time a large tenant is searched after open or compaction, and kept up
 * to date by each upsert after that.  Nothing on disk depends on it, so
 * it cannot make crash recovery any harder.
 */
#include "enrich/vec/vec_local.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/vec/vec_kernel.h"
#include "lib/xmalloc.h"

#define KMEANS_ITERS 8
#define SAMPLE_PER_LIST 48

struct vec_ivf {
	uint32_t nlist, dim;
	float *centres;		/* nlist * dim, normalized */
	int8_t *qcentres;	/* quantized copies for assignment */
	float *qcscale;
	uint32_t **lists;	/* row numbers */
	int8_t **codes;		/* per list: len * dim, in list order */
	float **scales;
	size_t *len, *cap;
	uint32_t *row_list;	/* per row; UINT32_MAX: none */
	size_t row_cap;
};

static uint32_t
nearest_centre(const struct vec_ivf *ivf, const int8_t *q, float qs)
{
	vec_dot_i8_fn *dot = vec_kernel_dot_i8();
	uint32_t best = 0;
	float bs = -1e30f;

	for (uint32_t c = 0; c < ivf->nlist; c++) {
		float s = (float)dot(q, ivf->qcentres + (size_t)c * ivf->dim,
		    ivf->dim) * ivf->qcscale[c] * qs;

		if (s > bs) {
			bs = s;
			best = c;
		}
	}
	(void)bs;
	return best;
}

static void
list_add(struct vec_ivf *ivf, uint32_t c, uint32_t row, const int8_t *code,
    float scale)
{
	size_t i;

	if (ivf->len[c] == ivf->cap[c]) {
		ivf->cap[c] = ivf->cap[c] == 0 ? 64 : ivf->cap[c] * 2;
		ivf->lists[c] = xreallocarray(ivf->lists[c], ivf->cap[c],
		    sizeof(uint32_t));
		ivf->codes[c] = xreallocarray(ivf->codes[c], ivf->cap[c],
		    ivf->dim);
		ivf->scales[c] = xreallocarray(ivf->scales[c], ivf->cap[c],
		    sizeof(float));
	}
	i = ivf->len[c]++;
	ivf->lists[c][i] = row;
	memcpy(ivf->codes[c] + i * ivf->dim, code, ivf->dim);
	ivf->scales[c][i] = scale;
}

static void
list_remove(struct vec_ivf *ivf, uint32_t c, uint32_t row)
{
	for (size_t i = 0; i < ivf->len[c]; i++) {
		size_t last;

		if (ivf->lists[c][i] != row)
			continue;
		last = --ivf->len[c];
		ivf->lists[c][i] = ivf->lists[c][last];
		memcpy(ivf->codes[c] + i * ivf->dim,
		    ivf->codes[c] + last * ivf->dim, ivf->dim);
		ivf->scales[c][i] = ivf->scales[c][last];
		return;
	}
}

static void
row_list_reserve(struct vec_ivf *ivf, size_t rows)
{
	if (rows <= ivf->row_cap)
		return;
	ivf->row_list = xreallocarray(ivf->row_list, rows, sizeof(uint32_t));
	for (size_t r = ivf->row_cap; r < rows; r++)
		ivf->row_list[r] = UINT32_MAX;
	ivf->row_cap = rows;
}

void
vec_local_ivf_assign(struct vec_tenant *t, size_t row)
{
	struct vec_ivf *ivf = t->ivf;
	uint32_t c;

	if (ivf == NULL)
		return;
	row_list_reserve(ivf, t->cap);
	c = nearest_centre(ivf, t->q + row * t->dim, t->qscale[row]);
	/* A replaced row's code changed even if its list did not. */
	if (ivf->row_list[row] != UINT32_MAX)
		list_remove(ivf, ivf->row_list[row], (uint32_t)row);
	list_add(ivf, c, (uint32_t)row, t->q + row * t->dim, t->qscale[row]);
	ivf->row_list[row] = c;
}

void
vec_local_ivf_remove(struct vec_tenant *t, size_t row)
{
	struct vec_ivf *ivf = t->ivf;

	if (ivf == NULL || row >= ivf->row_cap ||
	    ivf->row_list[row] == UINT32_MAX)
		return;
	list_remove(ivf, ivf->row_list[row], (uint32_t)row);
	ivf->row_list[row] = UINT32_MAX;
}

void
vec_local_ivf_free(struct vec_ivf **ivfp)
{
	struct vec_ivf *ivf = *ivfp;

	if (ivf == NULL)
		return;
	for (uint32_t c = 0; c < ivf->nlist; c++) {
		free(ivf->lists[c]);
		free(ivf->codes[c]);
		free(ivf->scales[c]);
	}
	free(ivf->lists);
	free(ivf->codes);
	free(ivf->scales);
	free(ivf->len);
	free(ivf->cap);
	free(ivf->centres);
	free(ivf->qcentres);
	free(ivf->qcscale);
	free(ivf->row_list);
	x_free(ivfp);
}

static void
requantize(struct vec_ivf *ivf)
{
	for (uint32_t c = 0; c < ivf->nlist; c++)
		ivf->qcscale[c] = vec_kernel_quantize(ivf->centres +
		    (size_t)c * ivf->dim, ivf->qcentres + (size_t)c * ivf->dim,
		    ivf->dim);
}

struct assign_job {
	const struct vec_tenant *t;
	const struct vec_ivf *ivf;
	const uint32_t *rows;
	size_t from, to;
	uint32_t *out;
};

static void *
assign_run(void *arg)
{
	struct assign_job *j = arg;

	for (size_t i = j->from; i < j->to; i++) {
		size_t r = j->rows != NULL ? j->rows[i] : i;

		j->out[i] = nearest_centre(j->ivf, j->t->q + r * j->t->dim,
		    j->t->qscale[r]);
	}
	return NULL;
}

/* out[i] = nearest centre of rows[i] (or of row i when rows is NULL). */
static void
assign_many(const struct vec_tenant *t, const struct vec_ivf *ivf,
    const uint32_t *rows, size_t n, uint32_t *out, unsigned threads)
{
	struct assign_job *jobs = xcalloc(threads, sizeof(*jobs));
	pthread_t *tids = xcalloc(threads, sizeof(*tids));
	bool *started = xcalloc(threads, sizeof(*started));

	for (unsigned i = 0; i < threads; i++) {
		jobs[i] = (struct assign_job){ t, ivf, rows, n * i / threads,
		    n * (i + 1) / threads, out };
		if (i > 0)
			started[i] = pthread_create(&tids[i], NULL,
			    assign_run, &jobs[i]) == 0;
	}
	assign_run(&jobs[0]);
	for (unsigned i = 1; i < threads; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		else
			assign_run(&jobs[i]);
	}
	free(jobs);
	free(tids);
	free(started);
}

void
vec_local_ivf_build(struct vec_tenant *t, uint32_t nlist, unsigned threads)
{
	struct vec_ivf *ivf = xcalloc(1, sizeof(*ivf));
	size_t dim = t->dim, ns = 0, want = (size_t)nlist * SAMPLE_PER_LIST;
	uint32_t *sample, *assign;
	double *sums;
	size_t *counts;

	vec_local_ivf_free(&t->ivf);
	ivf->nlist = nlist;
	ivf->dim = t->dim;
	ivf->centres = xreallocarray(NULL, nlist, dim * sizeof(float));
	ivf->qcentres = xreallocarray(NULL, nlist, dim);
	ivf->qcscale = xcalloc(nlist, sizeof(float));
	ivf->lists = xcalloc(nlist, sizeof(*ivf->lists));
	ivf->codes = xcalloc(nlist, sizeof(*ivf->codes));
	ivf->scales = xcalloc(nlist, sizeof(*ivf->scales));
	ivf->len = xcalloc(nlist, sizeof(size_t));
	ivf->cap = xcalloc(nlist, sizeof(size_t));

	/* An evenly strided sample of live rows: deterministic. */
	sample = xreallocarray(NULL, want, sizeof(uint32_t));
	for (size_t r = 0, step = t->live / want > 0 ? t->live / want : 1,
	    seen = 0; r < t->rows && ns < want; r++) {
		if (!t->meta[r].live)
			continue;
		if (seen++ % step == 0)
			sample[ns++] = (uint32_t)r;
	}
	for (uint32_t c = 0; c < nlist; c++)
		memcpy(ivf->centres + c * dim, t->vecs +
		    (size_t)sample[(size_t)c * ns / nlist] * dim,
		    dim * sizeof(float));
	requantize(ivf);

	/* Spherical k-means: centres are normalized means. */
	assign = xcalloc(ns, sizeof(uint32_t));
	sums = xcalloc((size_t)nlist * dim, sizeof(double));
	counts = xcalloc(nlist, sizeof(size_t));
	for (int it = 0; it < KMEANS_ITERS; it++) {
		assign_many(t, ivf, sample, ns, assign, threads);
		memset(sums, 0, (size_t)nlist * dim * sizeof(double));
		memset(counts, 0, nlist * sizeof(size_t));
		for (size_t i = 0; i < ns; i++) {
			const float *v = t->vecs + (size_t)sample[i] * dim;
			double *s = sums + (size_t)assign[i] * dim;

			for (size_t d = 0; d < dim; d++)
				s[d] += v[d];
			counts[assign[i]]++;
		}
		for (uint32_t c = 0; c < nlist; c++) {
			float *ce = ivf->centres + (size_t)c * dim;

			/* An empty list keeps its centre. */
			if (counts[c] == 0)
				continue;
			for (size_t d = 0; d < dim; d++)
				ce[d] = (float)sums[(size_t)c * dim + d];
			(void)vec_normalize(ce, dim);
		}
		requantize(ivf);
	}
	free(sums);
	free(counts);
	free(assign);
	free(sample);

	row_list_reserve(ivf, t->cap);
	assign = xcalloc(t->rows + 1, sizeof(uint32_t));
	assign_many(t, ivf, NULL, t->rows, assign, threads);
	for (size_t r = 0; r < t->rows; r++) {
		if (!t->meta[r].live)
			continue;
		list_add(ivf, assign[r], (uint32_t)r, t->q + r * dim,
		    t->qscale[r]);
		ivf->row_list[r] = assign[r];
	}
	free(assign);
	t->ivf = ivf;
}

uint32_t
vec_local_ivf_probe(const struct vec_tenant *t, const float *q,
    uint32_t nprobe, uint32_t *lists_r)
{
	const struct vec_ivf *ivf = t->ivf;
	vec_dot_f32_fn *dot = vec_kernel_dot_f32();
	struct vec_topk top;
	uint32_t n;

	if (nprobe > ivf->nlist)
		nprobe = ivf->nlist;
	vec_topk_init(&top, nprobe);
	for (uint32_t c = 0; c < ivf->nlist; c++)
		vec_topk_push(&top, dot(q, ivf->centres + (size_t)c * ivf->dim,
		    ivf->dim), c);
	n = (uint32_t)top.count;
	for (uint32_t i = 0; i < n; i++)
		lists_r[i] = top.items[i].row;
	vec_topk_fini(&top);
	return n;
}

const uint32_t *
vec_local_ivf_list(const struct vec_tenant *t, uint32_t c,
    const int8_t **codes_r, const float **scales_r, size_t *len_r)
{
	*codes_r = t->ivf->codes[c];
	*scales_r = t->ivf->scales[c];
	*len_r = t->ivf->len[c];
	return t->ivf->lists[c];
}
