/*
 * vec_local_search.c - the embedded store's search.
 *
 * Small tenants (up to exact_max live rows) get an exact float scan.
 * Larger ones get a two-stage scan: an int8 pass over every row keeps the
 * best `rescore` candidates by approximate score, then those are scored
 * again in float and the best k returned.  With per-vector scales the
 * int8 score differs from the float one by well under the gap between
 * the 10th and the ~100th neighbour, which is why a few hundred
 * candidates give recall@10 near 1 (docs/vector-store.md has the
 * numbers).  Either scan is split over worker threads by row range.
 *
 * Filters are checked on the row's fixed-size metadata before any vector
 * is touched; string ids are compared by hash first and then exactly, so
 * a hash collision can cost time but never return a wrong row.
 */
#include "enrich/vec/vec_local.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/vec/vec_kernel.h"
#include "lib/xmalloc.h"

/* Below this many rows per thread, threads cost more than they save. */
#define ROWS_PER_THREAD_MIN 16384

void
vec_local_filter_prepare(struct vec_local_filter *lf,
    const struct vec_filter *f)
{
	memset(lf, 0, sizeof(*lf));
	lf->any = true;
	if (f == NULL)
		return;
	lf->has_account = f->account_id != NULL && f->account_id[0] != '\0';
	lf->has_contact = f->contact_id != NULL && f->contact_id[0] != '\0';
	lf->account_id = f->account_id;
	lf->contact_id = f->contact_id;
	lf->account_hash = vec_str_hash(f->account_id);
	lf->contact_hash = vec_str_hash(f->contact_id);
	lf->direction = (uint8_t)f->direction;
	lf->has_since = f->has_since;
	lf->has_until = f->has_until;
	lf->since = f->since;
	lf->until = f->until;
	lf->any = !lf->has_account && !lf->has_contact &&
	    lf->direction == VEC_DIR_ANY && !lf->has_since && !lf->has_until;
}

bool
vec_local_row_match(const struct vec_tenant *t, size_t r,
    const struct vec_local_filter *lf)
{
	const struct vec_row_meta *m = &t->meta[r];

	if (lf->any)
		return true;
	if (lf->direction != VEC_DIR_ANY && m->direction != lf->direction)
		return false;
	if (lf->has_since && m->ts < lf->since)
		return false;
	if (lf->has_until && m->ts > lf->until)
		return false;
	if (lf->has_account && (m->account_hash != lf->account_hash ||
	    strcmp(t->strs[r], lf->account_id) != 0))
		return false;
	if (lf->has_contact) {
		const char *c = t->strs[r] + strlen(t->strs[r]) + 1;

		if (m->contact_hash != lf->contact_hash ||
		    strcmp(c, lf->contact_id) != 0)
			return false;
	}
	return true;
}

struct scan_job {
	const struct vec_tenant *t;
	const struct vec_local_filter *lf;
	const float *qf;
	const int8_t *qq;
	float qscale;
	bool exact;
	size_t from, to;	/* rows, or indexes into lists */
	const uint32_t *lists;	/* IVF: probed lists; NULL: row range */
	struct vec_topk top;
};

static void
scan_q8_rows(struct scan_job *j, size_t from, size_t to)
{
	const struct vec_tenant *t = j->t;
	vec_dot_i8_fn *dot = vec_kernel_dot_i8();
	size_t dim = t->dim;

	for (size_t r = from; r < to; r++) {
		float s;

		if (!t->meta[r].live || !vec_local_row_match(t, r, j->lf))
			continue;
		s = (float)dot(j->qq, t->q + r * dim, dim) * t->qscale[r] *
		    j->qscale;
		if (s > vec_topk_floor(&j->top))
			vec_topk_push(&j->top, s, (uint32_t)r);
	}
}

static void *
scan_run(void *arg)
{
	struct scan_job *j = arg;
	const struct vec_tenant *t = j->t;
	size_t dim = t->dim;

	if (j->exact) {
		vec_dot_f32_fn *dot = vec_kernel_dot_f32();

		for (size_t r = j->from; r < j->to; r++) {
			if (!t->meta[r].live ||
			    !vec_local_row_match(t, r, j->lf))
				continue;
			vec_topk_push(&j->top, dot(j->qf, t->vecs + r * dim,
			    dim), (uint32_t)r);
		}
	} else if (j->lists == NULL) {
		scan_q8_rows(j, j->from, j->to);
	} else {
		vec_dot_i8_fn *dot = vec_kernel_dot_i8();

		/* Lists hold live rows only and the filter is "any". */
		for (size_t i = j->from; i < j->to; i++) {
			const int8_t *codes;
			const float *scales;
			size_t len;
			const uint32_t *rows = vec_local_ivf_list(t,
			    j->lists[i], &codes, &scales, &len);

			for (size_t m = 0; m < len; m++) {
				float s = (float)dot(j->qq, codes + m * dim,
				    dim) * scales[m] * j->qscale;

				if (s > vec_topk_floor(&j->top))
					vec_topk_push(&j->top, s, rows[m]);
			}
		}
	}
	return NULL;
}

static void
fill_hit(const struct vec_tenant *t, size_t r, float score,
    struct vec_hit *h)
{
	const char *s = t->strs[r];
	struct vec_payload p = {
		.account_id = s,
		.direction = t->meta[r].direction,
		.ts = t->meta[r].ts,
		.chunk = t->meta[r].chunk,
	};

	p.contact_id = s + strlen(s) + 1;
	p.message_ref = p.contact_id + strlen(p.contact_id) + 1;
	h->id = t->ids[r];
	h->score = score;
	vec_hit_set_payload(h, &p);
}

int
vec_local_search_rows(struct vec_store *store, struct vec_local *l,
    struct vec_tenant *t, const float *query, size_t k,
    const struct vec_filter *filter, unsigned flags,
    struct vec_result *result_r)
{
	struct vec_local_filter lf;
	struct scan_job *jobs;
	pthread_t *tids;
	struct vec_topk all;
	size_t dim = t->dim, nthreads, cand, span;
	uint32_t *probe = NULL, nprobe = 0;
	bool *started;
	bool exact = (flags & VEC_SEARCH_EXACT) != 0 || t->live <= l->exact_max;
	float *qf = xreallocarray(NULL, dim, sizeof(float));
	int8_t *qq = xmalloc(dim);
	float qscale;

	memcpy(qf, query, dim * sizeof(float));
	if (vec_normalize(qf, dim) != 0) {
		free(qf);
		free(qq);
		return vec_set_error(store, "query vector is zero or not "
		    "finite");
	}
	qscale = vec_kernel_quantize(qf, qq, dim);
	vec_local_filter_prepare(&lf, filter);
	cand = exact ? k : l->rescore != 0 ? l->rescore : 100 + 8 * k;
	if (cand < k)
		cand = k;

	/*
	 * IVF only without a filter: a selective filter could leave fewer
	 * than k matches in the probed lists while the full scan, which
	 * skips non-matching rows before any arithmetic, is cheap for it.
	 */
	if (!exact && lf.any && t->live >= l->ivf_min &&
	    t->live >= (size_t)l->nlist * 64) {
		if (t->ivf == NULL)
			vec_local_ivf_build(t, l->nlist, l->threads);
		probe = xcalloc(l->nprobe, sizeof(*probe));
		nprobe = vec_local_ivf_probe(t, qf, l->nprobe, probe);
	}
	span = probe != NULL ? nprobe : t->rows;
	nthreads = t->rows / ROWS_PER_THREAD_MIN;
	if (nthreads > l->threads)
		nthreads = l->threads;
	if (nthreads > span)
		nthreads = span;
	if (nthreads == 0)
		nthreads = 1;
	jobs = xcalloc(nthreads, sizeof(*jobs));
	tids = xcalloc(nthreads, sizeof(*tids));
	started = xcalloc(nthreads, sizeof(*started));
	for (size_t i = 0; i < nthreads; i++) {
		jobs[i] = (struct scan_job){
			.t = t, .lf = &lf, .qf = qf, .qq = qq,
			.qscale = qscale, .exact = exact, .lists = probe,
			.from = span * i / nthreads,
			.to = span * (i + 1) / nthreads,
		};
		vec_topk_init(&jobs[i].top, cand);
	}
	/* Job 0 runs here; a thread that fails to start runs here too. */
	for (size_t i = 1; i < nthreads; i++)
		started[i] = pthread_create(&tids[i], NULL, scan_run,
		    &jobs[i]) == 0;
	scan_run(&jobs[0]);
	for (size_t i = 1; i < nthreads; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		else
			scan_run(&jobs[i]);
	}
	free(started);
	free(probe);

	/* Merge the candidates; rescore them in float when they are approx. */
	vec_topk_init(&all, k);
	{
		vec_dot_f32_fn *dot = vec_kernel_dot_f32();
		struct vec_topk merged;

		vec_topk_init(&merged, cand);
		for (size_t i = 0; i < nthreads; i++) {
			for (size_t j = 0; j < jobs[i].top.count; j++)
				vec_topk_push(&merged,
				    jobs[i].top.items[j].score,
				    jobs[i].top.items[j].row);
			vec_topk_fini(&jobs[i].top);
		}
		for (size_t j = 0; j < merged.count; j++) {
			uint32_t r = merged.items[j].row;
			float s = exact ? merged.items[j].score :
			    dot(qf, t->vecs + (size_t)r * dim, dim);

			vec_topk_push(&all, s, r);
		}
		vec_topk_fini(&merged);
	}
	vec_topk_sort(&all);
	result_r->hits = xcalloc(all.count == 0 ? 1 : all.count,
	    sizeof(*result_r->hits));
	for (size_t j = 0; j < all.count; j++)
		fill_hit(t, all.items[j].row, all.items[j].score,
		    &result_r->hits[j]);
	result_r->count = all.count;
	vec_topk_fini(&all);
	free(jobs);
	free(tids);
	free(qf);
	free(qq);
	return 0;
}
