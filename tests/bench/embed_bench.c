/*
 * embed_bench.c - embedding throughput against this machine's sgemm.
 *
 *   embed_bench MODEL_DIR [SECONDS_PER_ROW [THREADS]]
 *
 * For 32, 128 and 256-token chunks, batched about 2,048 tokens per forward
 * pass (as crm-enrich batches a message's chunks), prints tokens/s,
 * chunks/s, the forward pass's GFLOP/s, and that as a fraction of OpenBLAS
 * sgemm measured in the same process on the model's own linear-layer
 * shapes at the same M.  Also prints batch-1 latency and tokenizer speed.
 * Rates are medians over WINDOWS alternating windows (see main).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "enrich/embed/embed.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define WINDOWS 7

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct gemm_job {
	size_t M, N, K;
	double secs, gflops;
};

static void *
gemm_run(void *arg)
{
	struct gemm_job *g = arg;
	size_t M = g->M, N = g->N, K = g->K;
	float *a = xcalloc(M * K, sizeof(float));
	float *b = xcalloc(N * K, sizeof(float));
	float *c = xcalloc(M * N, sizeof(float));
	double t0, t, flops = 2.0 * (double)M * (double)N * (double)K;
	long reps = 0;

	for (size_t i = 0; i < M * K; i++)
		a[i] = (float)(i % 7) * 0.1f;
	for (size_t i = 0; i < N * K; i++)
		b[i] = (float)(i % 5) * 0.1f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N,
	    (int)K, 1.0f, a, (int)K, b, (int)K, 0.0f, c, (int)N);
	t0 = now();
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M,
		    (int)N, (int)K, 1.0f, a, (int)K, b, (int)K, 0.0f, c,
		    (int)N);
		reps++;
	} while ((t = now() - t0) < g->secs);
	g->gflops = flops * (double)reps / t / 1e9;
	free(a);
	free(b);
	free(c);
	return NULL;
}

/*
 * GFLOP/s of C[M,N] = A[M,K] . B[N,K]^T (a linear layer) on THREADS cores,
 * the better of two ways to use them: OpenBLAS's own threads on the whole
 * product, or THREADS single-threaded products of M/THREADS rows at once.
 */
static double
sgemm_rate(size_t M, size_t N, size_t K, size_t threads, double secs)
{
	struct gemm_job g[EMBED_THREADS_MAX];
	pthread_t tid[EMBED_THREADS_MAX];
	double par = 0, whole;

	g[0] = (struct gemm_job){ M, N, K, secs, 0 };
	openblas_set_num_threads((int)threads);
	gemm_run(&g[0]);
	whole = g[0].gflops;
	openblas_set_num_threads(1);
	for (size_t i = 0; i < threads; i++) {
		g[i] = (struct gemm_job){ M / threads, N, K, secs, 0 };
		if (i > 0 && pthread_create(&tid[i], NULL, gemm_run, &g[i]))
			fatalx("pthread_create");
	}
	gemm_run(&g[0]);
	par = g[0].gflops;
	for (size_t i = 1; i < threads; i++) {
		pthread_join(tid[i], NULL);
		par += g[i].gflops;
	}
	return whole > par ? whole : par;
}

/*
 * sgemm GFLOP/s over the model's four linear-layer shapes at M = T, each
 * weighted by its share of a layer's flops.
 */
static double
model_sgemm_rate(size_t T, size_t H, size_t F, size_t threads, double secs)
{
	double fl[4], r[4], t = 0, total = 0;
	size_t shapes[4][2] = { { 3 * H, H }, { H, H }, { F, H }, { H, F } };

	for (int i = 0; i < 4; i++) {
		fl[i] = 2.0 * (double)T * (double)shapes[i][0] *
		    (double)shapes[i][1];
		r[i] = sgemm_rate(T, shapes[i][0], shapes[i][1], threads,
		    secs / 8);
		t += fl[i] / (r[i] * 1e9);
		total += fl[i];
	}
	return total / t / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	static const size_t lens[] = { 32, 128, 256 };
	const size_t batch_tokens = 2048;
	const struct embed_model_info *in;
	struct embed_model *m;
	const char *errstr;
	double secs = argc > 2 ? strtod(argv[2], NULL) : 2.0;
	long ncpu = argc > 3 ? strtol(argv[3], NULL, 10) :
	    sysconf(_SC_NPROCESSORS_ONLN);
	size_t threads = ncpu < 1 ? 1 : ncpu > EMBED_THREADS_MAX ?
	    EMBED_THREADS_MAX : (size_t)ncpu;

	log_init("embed_bench", false);
	if (argc < 2)
		fatalx("usage: embed_bench MODEL_DIR [SECONDS]");
	if ((m = embed_model_load(argv[1], &errstr)) == NULL)
		fatalx("%s: %s", argv[1], errstr);
	if (embed_model_set_threads(m, threads, &errstr) != 0)
		fatalx("%s", errstr);
	in = embed_model_info(m);
	srandom(1);
	printf("model: %zu layers, hidden %zu, heads %zu, ffn %zu; "
	    "%zu threads; %s\n", in->layers, in->hidden, in->heads,
	    in->intermediate, threads, openblas_get_config());
	printf("%6s %6s %12s %10s %9s %9s %7s %10s\n", "tokens", "batch",
	    "tokens/s", "chunks/s", "GFLOP/s", "sgemm", "frac", "b1 ms");
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t L = lens[li], B = batch_tokens / L, H = in->hidden;
		size_t F = in->intermediate, T = B * L;
		int32_t **ids = xcalloc(B, sizeof(*ids));
		size_t *nl = xcalloc(B, sizeof(*nl));
		float *out = xcalloc(B * H, sizeof(float));
		double t0, t, fl, rate, ref, b1;
		double rates[WINDOWS], refs[WINDOWS], fracs[WINDOWS];
		long reps = 0;

		if (L > in->max_tokens)
			continue;
		for (size_t s = 0; s < B; s++) {
			ids[s] = xcalloc(L, sizeof(**ids));
			nl[s] = L;
			ids[s][0] = embed_wordpiece_cls(embed_model_tokenizer(m));
			for (size_t p = 1; p + 1 < L; p++)
				ids[s][p] = (int32_t)(1000 + random() % 28000);
			ids[s][L - 1] =
			    embed_wordpiece_sep(embed_model_tokenizer(m));
		}
		fl = embed_model_flops(m, nl, B);
		if (embed_model_forward(m, (const int32_t *const *)ids, nl, B,
		    out, &errstr) != 0)
			fatalx("forward: %s", errstr);
		/*
		 * Forward-pass windows alternate with sgemm windows and the
		 * median of the per-pair ratios is reported: on a shared
		 * machine both sides of each ratio see the same neighbours.
		 */
		for (int win = 0; win < WINDOWS; win++) {
			reps = 0;
			t0 = now();
			do {
				embed_model_forward(m,
				    (const int32_t *const *)ids, nl, B, out,
				    &errstr);
				reps++;
			} while ((t = now() - t0) < secs / WINDOWS);
			rates[win] = fl * (double)reps / t / 1e9;
			refs[win] = model_sgemm_rate(T, H, F, threads,
			    secs / WINDOWS);
			fracs[win] = rates[win] / refs[win];
		}
		qsort(rates, WINDOWS, sizeof(double), cmp_double);
		qsort(refs, WINDOWS, sizeof(double), cmp_double);
		qsort(fracs, WINDOWS, sizeof(double), cmp_double);
		rate = rates[WINDOWS / 2];
		ref = refs[WINDOWS / 2];

		/* Batch-1 latency. */
		reps = 0;
		t0 = now();
		do {
			embed_model_forward(m, (const int32_t *const *)ids, nl,
			    1, out, &errstr);
			reps++;
		} while ((t = now() - t0) < secs / 4);
		b1 = t / (double)reps * 1e3;

		printf("%6zu %6zu %12.0f %10.1f %9.1f %9.1f %7.2f %10.2f\n",
		    L, B, rate * 1e9 / (fl / (double)T),
		    rate * 1e9 / (fl / (double)B), rate, ref, fracs[WINDOWS / 2],
		    b1);
		for (size_t s = 0; s < B; s++)
			free(ids[s]);
		free(ids);
		free(nl);
		free(out);
	}

	{
		/* Tokenizer alone, on mail-like text. */
		static const char para[] = "Hi Jane, thanks for the call "
		    "yesterday. Procurement flagged the renewal price as "
		    "too high (\xe2\x82\xac" "48k vs. \xe2\x82\xac" "39k last "
		    "year); could we revisit the discount before Friday? "
		    "Best, R\xc3\xa9mi M\xc3\xbcller\n> On Tue, Jane wrote:\n";
		size_t len = 0, cap = 1 << 20, n, total = 0;
		char *text = xmalloc(cap);
		struct embed_token *toks;
		double t0, t;
		long reps = 0;

		while (len + sizeof(para) < cap) {
			memcpy(text + len, para, sizeof(para) - 1);
			len += sizeof(para) - 1;
		}
		t0 = now();
		do {
			embed_wordpiece_tokenize(embed_model_tokenizer(m), text,
			    len, EMBED_TEXT_MAX, &toks, &n, &errstr);
			free(toks);
			total += n;
			reps++;
		} while ((t = now() - t0) < secs / 2);
		printf("tokenizer: %.1f MB/s, %.0f tokens/s (1 thread)\n",
		    (double)len * (double)reps / t / 1e6,
		    (double)total / t);
		free(text);
	}
	embed_model_free(&m);
	return 0;
}
