/*
 * crm-search-eval.c - retrieval quality on a labelled set.
 *
 *   crm-search-eval [-c FILE] --tenant T [--k 10] [--json OUT] [--misses]
 *                   QUERIES.jsonl
 *
 * Each line: {"id", "text", "account_id": N|null, "since": ISO|null,
 * "until": ISO|null, "relevant": [message keys]}.  Every query runs
 * through search_query() in several configurations (dense, full text
 * with each text-search configuration and word rule, hybrid); for each
 * the mean recall@k (found relevant / min(relevant, k)) and the mean
 * reciprocal rank of the first relevant result within k are printed.
 * An optional "kind" field groups queries (the labelled set has
 * "paraphrase" and "lookup"); each kind is also reported on its own.
 * An optional "split" field ("dev" or "test") assigns a query to the half
 * used for tuning or the half held out for reporting; both halves and
 * all queries are reported.  --split dev|test evaluates one half only
 * (tuning runs use --split dev, so held-out numbers are never looked at
 * while choosing parameters).
 * The messages must already be indexed (crm-search-ingest).
 *
 * --try SPEC (repeatable) replaces the built-in configurations with the
 * ones given, for tuning: "NAME,synonyms=0,prf=3,prfw=0.5,rrfk=20"
 * (fuse=score fuses the lists' scores instead of their ranks).
 * With a second dense model configured ([embed2]), the hybrid rows fuse
 * its list too, and "dense2" (that model alone) and "hybrid-1model"
 * (hybrid without it) are added.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "enrich/search/search.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define DEFAULT_CONFIG "/etc/crm/crm-search.conf"

#define KINDS_MAX 8

/* Query halves: "dev" (tuning), "test" (held out); others count in all. */
enum { SPLIT_DEV, SPLIT_TEST, SPLIT_NONE, SPLITS };
static const char *const split_names[SPLITS] = { "dev", "test", "none" };

static int
split_index(const char *s)
{
	if (s != NULL && strcmp(s, "dev") == 0)
		return SPLIT_DEV;
	if (s != NULL && strcmp(s, "test") == 0)
		return SPLIT_TEST;
	return SPLIT_NONE;
}

struct score {
	double recall, mrr;
	size_t n, perfect;
};

struct run {
	const char *name;
	enum search_mode mode;
	enum search_fts_config cfg;
	enum search_fts_match match;
	unsigned rrf_k;
	bool expand, prf_fused;
	bool fuse_scores;	/* fuse=score: search_score3, not RRF */
	bool no_dense2;		/* hybrid without the second model */
	bool needs2;		/* listed only with a second model */
	unsigned prf_docs;
	double prf_weight, fts_weight, dsyn;
	size_t depth;
	double recall, mrr, ms;
	size_t perfect;
	struct score kind[KINDS_MAX];
	struct score split[SPLITS];
};

static const char *kinds[KINDS_MAX];
static size_t nkinds;

static size_t
kind_index(const char *k)
{
	if (k == NULL)
		k = "all";
	for (size_t i = 0; i < nkinds; i++)
		if (strcmp(kinds[i], k) == 0)
			return i;
	if (nkinds == KINDS_MAX)
		fatalx("more than %d query kinds", KINDS_MAX);
	kinds[nkinds] = k;
	return nkinds++;
}

#define RUN(n, m, c, w, k, ...) { .name = (n), .mode = (m), .cfg = (c), \
	.match = (w), .rrf_k = (k), __VA_ARGS__ }
static struct run runs[] = {
	RUN("dense", SEARCH_DENSE, SEARCH_FTS_ENGLISH, SEARCH_FTS_ANY, 0,
	    .expand = true),
	RUN("fts-english-any", SEARCH_FTS, SEARCH_FTS_ENGLISH, SEARCH_FTS_ANY,
	    0, .expand = false),
	RUN("fts-synonyms", SEARCH_FTS, SEARCH_FTS_ENGLISH, SEARCH_FTS_ANY,
	    0, .expand = true),
	RUN("fts-english-all", SEARCH_FTS, SEARCH_FTS_ENGLISH, SEARCH_FTS_ALL,
	    0, .expand = false),
	RUN("fts-simple-any", SEARCH_FTS, SEARCH_FTS_SIMPLE, SEARCH_FTS_ANY,
	    0, .expand = false),
	RUN("dense-prf", SEARCH_DENSE, SEARCH_FTS_ENGLISH, SEARCH_FTS_ANY, 0,
	    .expand = true, .prf_docs = 3, .prf_weight = 0.3),
	RUN("hybrid-simple", SEARCH_HYBRID, SEARCH_FTS_SIMPLE, SEARCH_FTS_ANY,
	    60, .expand = false),
	RUN("hybrid-plain", SEARCH_HYBRID, SEARCH_FTS_ENGLISH, SEARCH_FTS_ANY,
	    60, .expand = false),
	RUN("hybrid-k20", SEARCH_HYBRID, SEARCH_FTS_ENGLISH, SEARCH_FTS_ANY,
	    20, .expand = true),
	RUN("hybrid-prf", SEARCH_HYBRID, SEARCH_FTS_ENGLISH, SEARCH_FTS_ANY,
	    60, .expand = true, .prf_docs = 3, .prf_weight = 0.5),
	RUN("dense2", SEARCH_DENSE2, SEARCH_FTS_ENGLISH, SEARCH_FTS_ANY, 0,
	    .expand = true, .needs2 = true),
	RUN("hybrid-1model", SEARCH_HYBRID, SEARCH_FTS_ENGLISH,
	    SEARCH_FTS_ANY, 60, .expand = true, .no_dense2 = true,
	    .needs2 = true),
	/* what crm-search does by default; keep it last (--misses) */
	RUN("hybrid", SEARCH_HYBRID, SEARCH_FTS_ENGLISH, SEARCH_FTS_ANY, 60,
	    .expand = true),
};
#define NRUNS_DEFAULT (sizeof(runs) / sizeof(runs[0]))

/* --try: measured configurations replace the default list. */
#define TRIES_MAX 32
static struct run tries[TRIES_MAX];
static struct run *run_list = runs;
static size_t NRUNS = NRUNS_DEFAULT;

/*
 * "NAME,mode=hybrid|dense|dense2|fts,synonyms=0|1,prf=N,prfw=W,prffused=0|1,
 * dsyn=W,dense2=0|1,depth=D" -> one run (unset fields as crm-search's
 * defaults).
 */
static void
parse_try(char *spec, struct run *r)
{
	char *save = NULL, *f;

	memset(r, 0, sizeof(*r));
	r->mode = SEARCH_HYBRID;
	r->expand = true;
	r->name = strtok_r(spec, ",", &save);
	if (r->name == NULL)
		fatalx("--try: empty");
	while ((f = strtok_r(NULL, ",", &save)) != NULL) {
		char *v = strchr(f, '=');

		if (v == NULL)
			fatalx("--try: %s: want key=value", f);
		*v++ = '\0';
		if (strcmp(f, "mode") == 0)
			r->mode = strcmp(v, "dense") == 0 ? SEARCH_DENSE :
			    strcmp(v, "dense2") == 0 ? SEARCH_DENSE2 :
			    strcmp(v, "fts") == 0 ? SEARCH_FTS : SEARCH_HYBRID;
		else if (strcmp(f, "dense2") == 0)
			r->no_dense2 = atoi(v) == 0;
		else if (strcmp(f, "synonyms") == 0 || strcmp(f, "expand") == 0)
			r->expand = atoi(v) != 0;
		else if (strcmp(f, "prf") == 0)
			r->prf_docs = (unsigned)atoi(v);
		else if (strcmp(f, "dsyn") == 0)
			r->dsyn = atof(v);
		else if (strcmp(f, "prffused") == 0)
			r->prf_fused = atoi(v) != 0;
		else if (strcmp(f, "prfw") == 0)
			r->prf_weight = atof(v);
		else if (strcmp(f, "ftsw") == 0)
			r->fts_weight = atof(v);
		else if (strcmp(f, "rrfk") == 0)
			r->rrf_k = (unsigned)atoi(v);
		else if (strcmp(f, "depth") == 0)
			r->depth = (size_t)atoi(v);
		else if (strcmp(f, "fuse") == 0)
			r->fuse_scores = strcmp(v, "score") == 0;
		else
			fatalx("--try: unknown key %s", f);
	}
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-search-eval [-c FILE] --tenant T [--k N] [--json OUT]\n"
	    "                       [--misses] [--split dev|test] [--try SPEC]...\n"
	    "                       QUERIES.jsonl\n"
	    "SPEC: NAME,mode=hybrid|dense|dense2|fts,synonyms=0|1,prf=N,prfw=W,prffused=0|1,dsyn=W,"
	    "ftsw=W,dense2=0|1,rrfk=K,depth=D,fuse=rrf|score\n");
}

static bool
time_field(json_t *q, const char *k, bool until, int64_t *t_r)
{
	json_t *v = json_object_get(q, k);

	if (!json_is_string(v))
		return false;
	if (search_parse_time(json_string_value(v), 0, until, t_r) != 0)
		fatalx("%s: bad time %s", k, json_string_value(v));
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "k", required_argument, NULL, 'k' },
		{ "json", required_argument, NULL, 'j' },
		{ "misses", no_argument, NULL, 'm' },
		{ "split", required_argument, NULL, 's' },
		{ "try", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = getenv("CRM_SEARCH_CONFIG"), *tenant = NULL;
	const char *json_out = NULL;
	struct search_config cfg;
	struct search_ctx *ctx;
	char err[SEARCH_ERR_MAX];
	json_error_t jerr;
	json_t *queries = json_array(), *summary;
	size_t k = 10, nq;
	bool misses = false, has2;
	int only = -1;
	FILE *in;
	char *line = NULL;
	size_t cap = 0;
	int ch;

	log_init("crm-search-eval", false);
	while ((ch = getopt_long(argc, argv, "c:t:k:j:ms:T:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 't':
			tenant = optarg;
			break;
		case 'k':
			k = strtoul(optarg, NULL, 10);
			if (k == 0 || k > SEARCH_K_MAX)
				fatalx("--k: 1..%d", SEARCH_K_MAX);
			break;
		case 'j':
			json_out = optarg;
			break;
		case 'm':
			misses = true;
			break;
		case 'T':
			if (run_list == runs) {
				run_list = tries;
				NRUNS = 0;
			}
			if (NRUNS == TRIES_MAX)
				fatalx("--try: at most %d", TRIES_MAX);
			parse_try(optarg, &tries[NRUNS++]);
			break;
		case 's':
			if ((only = split_index(optarg)) == SPLIT_NONE)
				fatalx("--split: dev or test");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (tenant == NULL || argc - optind != 1) {
		usage(stderr);
		return 2;
	}
	if ((in = fopen(argv[optind], "re")) == NULL)
		fatal("%s", argv[optind]);
	while (getline(&line, &cap, in) >= 0) {
		json_t *q;

		if (strspn(line, " \t\r\n") == strlen(line))
			continue;
		if ((q = json_loads(line, 0, &jerr)) == NULL)
			fatalx("%s: %s", argv[optind], jerr.text);
		if (only >= 0 && split_index(json_string_value(
		    json_object_get(q, "split"))) != only) {
			json_decref(q);
			continue;
		}
		json_array_append_new(queries, q);
	}
	free(line);
	fclose(in);
	nq = json_array_size(queries);
	if (nq == 0)
		fatalx("no queries");
	search_config_init(&cfg);
	if (search_config_load(&cfg, config != NULL ? config : DEFAULT_CONFIG,
	    err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (search_open(&cfg, &ctx, err, sizeof(err)) != 0)
		fatalx("%s", err);
	has2 = cfg.has_embed2;
	search_config_fini(&cfg);
	if (!has2 && run_list == runs) {	/* drop the two-model rows */
		size_t n = 0;

		for (size_t i = 0; i < NRUNS; i++)
			if (!runs[i].needs2)
				runs[n++] = runs[i];
		NRUNS = n;
	}

	for (size_t ri = 0; ri < NRUNS; ri++) {
		struct run *run = &run_list[ri];
		size_t qi;
		json_t *q;

		json_array_foreach(queries, qi, q) {
			json_t *rel = json_object_get(q, "relevant"), *acct;
			const char *text = json_string_value(
			    json_object_get(q, "text"));
			struct search_opts o;
			struct search_result r;
			size_t nrel = json_array_size(rel), found = 0;
			size_t first = 0;
			double t0;

			if (text == NULL || nrel == 0)
				fatalx("query %zu: needs text and relevant",
				    qi + 1);
			search_opts_init(&o);
			o.mode = run->mode;
			o.fts_config = run->cfg;
			o.fts_match = run->match;
			o.rrf_k = run->rrf_k;
			o.fts_expand = run->expand;
			o.prf_docs = run->prf_docs;
			o.prf_weight = run->prf_weight;
			o.prf_fused = run->prf_fused;
			o.dense_syn_weight = run->dsyn;
			o.fts_weight = run->fts_weight;
			o.dense2 = !run->no_dense2;
			o.depth = run->depth;
			o.fuse_scores = run->fuse_scores;
			o.k = k;
			acct = json_object_get(q, "account_id");
			if (json_is_integer(acct))
				o.account_id = json_integer_value(acct);
			o.has_since = time_field(q, "since", false, &o.since);
			o.has_until = time_field(q, "until", true, &o.until);
			t0 = now_ms();
			if (search_query(ctx, tenant, text, &o, &r, err,
			    sizeof(err)) != 0)
				fatalx("%s: %s", run->name, err);
			run->ms += now_ms() - t0;
			for (size_t i = 0; i < r.count; i++) {
				size_t j;
				json_t *id;
				bool hit = false;

				json_array_foreach(rel, j, id)
					hit |= strcmp(json_string_value(id),
					    r.hits[i].message_key) == 0;
				if (hit) {
					found++;
					if (first == 0)
						first = i + 1;
				}
			}
			{
				double rc = (double)found /
				    (double)(nrel < k ? nrel : k);
				double rr = first ? 1.0 / (double)first : 0.0;
				bool all = found == (nrel < k ? nrel : k);
				struct score *ks = &run->kind[kind_index(
				    json_string_value(json_object_get(q,
				    "kind")))];
				struct score *ss = &run->split[split_index(
				    json_string_value(json_object_get(q,
				    "split")))];

				run->recall += rc;
				run->mrr += rr;
				run->perfect += all;
				ks->recall += rc;
				ks->mrr += rr;
				ks->perfect += all;
				ks->n++;
				ss->recall += rc;
				ss->mrr += rr;
				ss->perfect += all;
				ss->n++;
			}
			if (misses && ri == NRUNS - 1 && found <
			    (nrel < k ? nrel : k)) {
				size_t j;
				json_t *id;

				printf("miss %s \"%s\": %zu/%zu;",
				    json_string_value(json_object_get(q, "id")),
				    text, found, nrel);
				json_array_foreach(rel, j, id) {
					bool got = false;

					for (size_t i = 0; i < r.count; i++)
						got |= strcmp(json_string_value(
						    id), r.hits[i].message_key)
						    == 0;
					if (!got)
						printf(" %s", json_string_value(
						    id));
				}
				printf("\n");
			}
			search_result_fini(&r);
		}
		run->recall /= (double)nq;
		run->mrr /= (double)nq;
		run->ms /= (double)nq;
	}
	printf("%zu queries, k = %zu\n", nq, k);
	printf("%-17s %9s %7s %9s %9s", "retriever", "recall@k", "MRR",
	    "all found", "ms/query");
	for (size_t ki = 0; ki < nkinds; ki++)
		printf("  %s (%zu): recall MRR", kinds[ki], run_list[0].kind[ki].n);
	printf("\n");
	summary = json_object();
	for (size_t ri = 0; ri < NRUNS; ri++) {
		json_t *o, *bk = json_object(), *bs = json_object();

		printf("%-17s %9.3f %7.3f %5zu/%-3zu %9.1f", run_list[ri].name,
		    run_list[ri].recall, run_list[ri].mrr, run_list[ri].perfect, nq,
		    run_list[ri].ms);
		for (size_t ki = 0; ki < nkinds; ki++) {
			struct score *ks = &run_list[ri].kind[ki];
			double n = ks->n ? (double)ks->n : 1.0;

			printf("  %*s %5.3f %5.3f", (int)strlen(kinds[ki]) + 2,
			    "", ks->recall / n, ks->mrr / n);
			json_object_set_new(bk, kinds[ki], json_pack(
			    "{s:f, s:f, s:I}", "recall", ks->recall / n,
			    "mrr", ks->mrr / n, "queries", (json_int_t)ks->n));
		}
		for (size_t si = 0; si < SPLITS; si++) {
			struct score *ss = &run_list[ri].split[si];
			double n = ss->n ? (double)ss->n : 1.0;

			if (ss->n == 0)
				continue;
			json_object_set_new(bs, split_names[si], json_pack(
			    "{s:f, s:f, s:I}", "recall", ss->recall / n,
			    "mrr", ss->mrr / n, "queries", (json_int_t)ss->n));
		}
		printf("\n");
		o = json_pack("{s:f, s:f, s:I, s:f}", "recall",
		    run_list[ri].recall, "mrr", run_list[ri].mrr, "all_found",
		    (json_int_t)run_list[ri].perfect, "ms_per_query", run_list[ri].ms);
		json_object_set_new(o, "by_kind", bk);
		json_object_set_new(o, "by_split", bs);
		json_object_set_new(summary, run_list[ri].name, o);
	}
	printf("\n%-17s", "recall@k / MRR");
	for (size_t si = 0; si < SPLITS; si++)
		if (run_list[0].split[si].n > 0)
			printf("  %5s (%2zu)  ", split_names[si],
			    run_list[0].split[si].n);
	printf("    all (%zu)\n", nq);
	for (size_t ri = 0; ri < NRUNS; ri++) {
		printf("%-17s", run_list[ri].name);
		for (size_t si = 0; si < SPLITS; si++) {
			struct score *ss = &run_list[ri].split[si];

			if (ss->n > 0)
				printf("  %5.3f / %5.3f", ss->recall /
				    (double)ss->n, ss->mrr / (double)ss->n);
		}
		printf("  %5.3f / %5.3f\n", run_list[ri].recall, run_list[ri].mrr);
	}
	json_object_set_new(summary, "queries", json_integer((json_int_t)nq));
	json_object_set_new(summary, "k", json_integer((json_int_t)k));
	if (json_out != NULL && json_dump_file(summary, json_out,
	    JSON_INDENT(2)) != 0)
		fatalx("cannot write %s", json_out);
	json_decref(summary);
	json_decref(queries);
	search_close(&ctx);
	return 0;
}
