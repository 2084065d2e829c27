/*
 * crm_vec.c - crm-vec, the vector store's admin and benchmark tool.
 *
 *   crm-vec bench   [--n N] [--dim D] [--queries Q] ...  load + measure
 *   crm-vec count   --dir DIR --tenant T --dim D
 *   crm-vec compact --dir DIR --tenant T --dim D
 *   crm-vec purge   --dir DIR --tenant T --dim D (--account A | --contact C)
 *   crm-vec writer  --dir DIR --tenant T --dim D     (crash test)
 *   crm-vec verify  --dir DIR --tenant T --dim D --acked N (crash test)
 *
 * Output is "key=value" lines so scripts can read it.  The synthetic data
 * is deterministic: the same --seed gives the same vectors everywhere.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enrich/vec/vec.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

struct opts {
	const char *cmd, *dir, *tenant, *account, *contact;
	uint64_t n, queries, recall_queries, acked, seed;
	uint32_t dim, clusters, k;
	unsigned threads;
	size_t rescore, batch, ivf_min;
	uint32_t nlist, nprobe;
	double noise;
	bool keep;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-vec COMMAND [options]\n"
	    "commands:\n"
	    "  bench     load N synthetic clustered vectors into a local\n"
	    "            store, then report build time, memory, search\n"
	    "            p50/p99 and recall@k against exact float search\n"
	    "  count     live points of a tenant, log size, and what the\n"
	    "            open found (replayed records, torn tail cut)\n"
	    "  compact   rewrite a tenant's log with live rows only\n"
	    "  purge     delete a tenant's points of an account or contact\n"
	    "  writer    upsert batches forever, printing 'ack N' after each\n"
	    "            durable batch (for the crash test)\n"
	    "  verify    check that ids 0..N-1 are present and every row is\n"
	    "            intact (after a writer was killed)\n"
	    "options:\n"
	    "  --dir DIR        data directory (bench: a temp dir)\n"
	    "  --tenant T       tenant id (default: bench)\n"
	    "  --dim D          vector dimension (default 384)\n"
	    "  --n N            bench: vectors to load (default 100000)\n"
	    "  --queries Q      bench: timed queries (default 500)\n"
	    "  --recall-queries R  bench: queries checked against exact\n"
	    "                   search (default 200)\n"
	    "  --clusters C     bench: cluster centres (default n/1000)\n"
	    "  --noise X        bench: cluster spread (default 0.8)\n"
	    "  --k K            results per query (default 10)\n"
	    "  --threads T      search threads (default: CPUs)\n"
	    "  --rescore R      float-rescored candidates (default 100+8k)\n"
	    "  --batch B        points per upsert (default 1000)\n"
	    "  --ivf-min N      rows from which search uses IVF (50000)\n"
	    "  --nlist L        IVF lists (256)\n"
	    "  --nprobe P       IVF lists probed per query (32)\n"
	    "  --seed S         data seed (default 1)\n"
	    "  --keep           bench: keep the data dir\n"
	    "  --account A, --contact C   purge: whose points\n"
	    "  --acked N        verify: ids below N must be present\n"
	    "  -h, --help       this text\n");
}

/* splitmix64: small, fast, and identical on every platform. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static double
rng_unit(uint64_t *s)
{
	return ((double)(rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static float
rng_gauss(uint64_t *s)
{
	double u = rng_unit(s), v = rng_unit(s);

	return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void
gauss_vec(uint64_t *s, float *v, uint32_t dim, float scale)
{
	for (uint32_t i = 0; i < dim; i++)
		v[i] = rng_gauss(s) * scale;
}

/*
 * Point i of the synthetic set: a centre chosen by i, plus noise, so a
 * query drawn the same way has many near neighbours at graded distances
 * (as sentence embeddings of related mail do) rather than uniform noise
 * where every neighbour is equally far.
 */
static void
synth_point(const struct opts *o, const float *centres, uint64_t i,
    uint64_t stream, float *v)
{
	uint64_t s = o->seed * 0x1000003ULL ^ (i * 2 + stream) * 0x9E37ULL;
	uint32_t c = (uint32_t)(rng_next(&s) % o->clusters);

	gauss_vec(&s, v, o->dim, (float)(o->noise / sqrt((double)o->dim)));
	for (uint32_t d = 0; d < o->dim; d++)
		v[d] += centres[(size_t)c * o->dim + d];
}

static float *
synth_centres(const struct opts *o)
{
	float *c = xreallocarray(NULL, o->clusters, o->dim * sizeof(float));
	uint64_t s = o->seed ^ 0xC0FFEEULL;

	for (uint32_t j = 0; j < o->clusters; j++) {
		gauss_vec(&s, c + (size_t)j * o->dim, o->dim, 1.0f);
		(void)vec_normalize(c + (size_t)j * o->dim, o->dim);
	}
	return c;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long
proc_status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	fclose(f);
	return v;
}

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct vec_store *
open_local(const struct opts *o, enum vec_sync sync)
{
	struct vec_config cfg;
	struct vec_store *st;
	const char *err;

	vec_config_init(&cfg);
	cfg.dim = o->dim;
	cfg.data_dir = o->dir;
	cfg.sync = sync;
	cfg.threads = o->threads;
	cfg.rescore = o->rescore;
	cfg.ivf_min = o->ivf_min;
	cfg.nlist = o->nlist;
	cfg.nprobe = o->nprobe;
	if (vec_open(&cfg, &st, &err) != 0)
		fatalx("open %s: %s", o->dir, err);
	return st;
}

static void
point_payload(uint64_t i, struct vec_point *p, char *acc, char *con,
    char *ref, size_t sz)
{
	snprintf(acc, sz, "acct-%" PRIu64, i % 97);
	snprintf(con, sz, "contact-%" PRIu64, i % 1013);
	snprintf(ref, sz, "<m%" PRIu64 "@example.com>", i / 4);
	p->id.kind = VEC_ID_NUM;
	p->id.num = i;
	p->payload.account_id = acc;
	p->payload.contact_id = con;
	p->payload.message_ref = ref;
	p->payload.direction = (enum vec_direction)(1 + i % 3);
	p->payload.ts = 1700000000 + (int64_t)(i * 37 % 86400000);
	p->payload.chunk = (uint32_t)(i % 4);
}

/* Upserts ids [from, to) of the synthetic set. */
static void
load_range(const struct opts *o, struct vec_store *st, const float *centres,
    uint64_t from, uint64_t to)
{
	size_t b = o->batch;
	float *vecs = xreallocarray(NULL, b, o->dim * sizeof(float));
	struct vec_point *pts = xcalloc(b, sizeof(*pts));
	char (*strs)[3][48] = xcalloc(b, sizeof(*strs));
	const char *err;

	for (uint64_t i = from; i < to; i += b) {
		size_t m = to - i < b ? (size_t)(to - i) : b;

		for (size_t j = 0; j < m; j++) {
			synth_point(o, centres, i + j, 0,
			    vecs + j * o->dim);
			point_payload(i + j, &pts[j], strs[j][0], strs[j][1],
			    strs[j][2], sizeof(strs[j][0]));
			pts[j].vector = vecs + j * o->dim;
		}
		if (vec_upsert(st, o->tenant, pts, m, &err) != 0)
			fatalx("upsert: %s", err);
	}
	free(vecs);
	free(pts);
	free(strs);
}

static int
cmd_bench(struct opts *o)
{
	char tmpl[] = "/tmp/crm-vec-bench.XXXXXX";
	struct vec_store *st;
	float *centres, *q;
	double t0, t_build, t_open, t_index, *lat, hits = 0, cpu_ms = 0;
	struct vec_result res, ex;
	const char *err;
	uint64_t count;

	if (o->dir == NULL && (o->dir = mkdtemp(tmpl)) == NULL)
		fatal("mkdtemp");
	if (o->clusters == 0)
		o->clusters = (uint32_t)(o->n / 1000 > 0 ? o->n / 1000 : 1);
	centres = synth_centres(o);
	st = open_local(o, VEC_SYNC_NONE);
	t0 = now_s();
	load_range(o, st, centres, 0, o->n);
	if (vec_count(st, o->tenant, &count, &err) != 0)
		fatalx("count: %s", err);
	t_build = now_s() - t0;
	vec_close(&st);
	/* Reopen: the replay of the log is part of a restart's cost. */
	t0 = now_s();
	st = open_local(o, VEC_SYNC_NONE);
	if (vec_count(st, o->tenant, &count, &err) != 0 || count != o->n)
		fatalx("reopen: %" PRIu64 " points, want %" PRIu64, count,
		    o->n);
	t_open = now_s() - t0;

	/* The first search of a large tenant builds its IVF index. */
	q = xreallocarray(NULL, o->dim, sizeof(float));
	synth_point(o, centres, 0, 2, q);
	t0 = now_s();
	if (vec_search(st, o->tenant, q, o->k, NULL, 0, &res, &err) != 0)
		fatalx("search: %s", err);
	vec_result_fini(&res);
	t_index = now_s() - t0;

	lat = xcalloc(o->queries + 1, sizeof(*lat));
	for (uint64_t i = 0; i < o->queries; i++) {
		double c0;

		synth_point(o, centres, i, 1, q);
		c0 = cpu_s();
		t0 = now_s();
		if (vec_search(st, o->tenant, q, o->k, NULL, 0, &res, &err))
			fatalx("search: %s", err);
		lat[i] = (now_s() - t0) * 1000;
		cpu_ms += (cpu_s() - c0) * 1000;
		if (i < o->recall_queries) {
			if (vec_search(st, o->tenant, q, o->k, NULL,
			    VEC_SEARCH_EXACT, &ex, &err) != 0)
				fatalx("exact search: %s", err);
			for (size_t a = 0; a < ex.count; a++)
				for (size_t b = 0; b < res.count; b++)
					if (vec_id_equal(&ex.hits[a].id,
					    &res.hits[b].id)) {
						hits++;
						break;
					}
			vec_result_fini(&ex);
		}
		vec_result_fini(&res);
	}
	qsort(lat, o->queries, sizeof(*lat), cmp_double);
	printf("n=%" PRIu64 "\ndim=%u\nclusters=%u\nk=%u\n", o->n, o->dim,
	    o->clusters, o->k);
	printf("build_s=%.2f\nreopen_s=%.2f\nfirst_search_s=%.2f\n",
	    t_build, t_open, t_index);
	printf("rss_mb=%.0f\npeak_rss_mb=%.0f\n",
	    (double)proc_status_kb("VmRSS") / 1024,
	    (double)proc_status_kb("VmHWM") / 1024);
	printf("queries=%" PRIu64 "\np50_ms=%.2f\np99_ms=%.2f\nmax_ms=%.2f\n",
	    o->queries, lat[o->queries / 2],
	    lat[(size_t)((double)o->queries * 0.99)],
	    lat[o->queries - 1]);
	printf("cpu_ms_per_query=%.2f\n", cpu_ms / (double)o->queries);
	{
		double la[3];

		if (getloadavg(la, 3) == 3)
			printf("loadavg_1m=%.2f\n", la[0]);
	}
	printf("recall_queries=%" PRIu64 "\nrecall_at_k=%.4f\n",
	    o->recall_queries, o->recall_queries == 0 ? 0.0 :
	    hits / (double)(o->recall_queries * o->k));
	vec_close(&st);
	if (!o->keep && strcmp(o->dir, tmpl) == 0) {
		char *cmd = xasprintf("rm -rf '%s'", tmpl);

		if (system(cmd) != 0)
			log_warnx("could not remove %s", tmpl);
		free(cmd);
	}
	free(lat);
	free(q);
	free(centres);
	return 0;
}

/*
 * The crash test's writer: id i's vector and payload follow from i alone,
 * so verify can check every row it finds.  "ack N" is printed only after
 * vec_upsert() returned, i.e. after fdatasync.
 */
static int
cmd_writer(struct opts *o)
{
	struct vec_store *st = open_local(o, VEC_SYNC_BATCH);
	float *centres;
	uint64_t next;
	const char *err;

	o->clusters = 16;
	centres = synth_centres(o);
	if (vec_count(st, o->tenant, &next, &err) != 0)
		fatalx("count: %s", err);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		load_range(o, st, centres, next, next + o->batch);
		next += o->batch;
		printf("ack %" PRIu64 "\n", next);
		/*
		 * Now and then rewrite the last batch (same content: dead
		 * entries for replay) and compact, so kills land in those
		 * paths too.
		 */
		if (next % (o->batch * 8) == 0) {
			load_range(o, st, centres, next - o->batch, next);
			if (vec_compact(st, o->tenant, &err) != 0)
				fatalx("compact: %s", err);
			printf("compacted %" PRIu64 "\n", next);
		}
	}
}

static int
cmd_verify(struct opts *o)
{
	struct vec_store *st = open_local(o, VEC_SYNC_BATCH);
	float *centres, *v;
	uint64_t count, bad = 0;
	const char *err;

	o->clusters = 16;
	centres = synth_centres(o);
	v = xreallocarray(NULL, o->dim, sizeof(float));
	if (vec_count(st, o->tenant, &count, &err) != 0)
		fatalx("open/count: %s", err);
	printf("count=%" PRIu64 "\nacked=%" PRIu64 "\n", count, o->acked);
	if (count < o->acked) {
		printf("error=lost acknowledged points\n");
		bad++;
	}
	/* Each present id must come back as its own nearest neighbour. */
	for (uint64_t i = 0; i < count; i++) {
		struct vec_result r;
		char acc[48], con[48], ref[48];
		struct vec_point p;

		synth_point(o, centres, i, 0, v);
		point_payload(i, &p, acc, con, ref, sizeof(acc));
		if (vec_search(st, o->tenant, v, 1, &(struct vec_filter){
		    .account_id = acc, .contact_id = con }, VEC_SEARCH_EXACT,
		    &r, &err) != 0)
			fatalx("search: %s", err);
		if (r.count != 1 || r.hits[0].id.num != i ||
		    r.hits[0].score < 0.9999f ||
		    strcmp(r.hits[0].payload.message_ref, ref) != 0 ||
		    r.hits[0].payload.ts != p.payload.ts) {
			if (bad < 5)
				printf("error=id %" PRIu64 " missing or "
				    "corrupt\n", i);
			bad++;
		}
		vec_result_fini(&r);
	}
	printf("bad=%" PRIu64 "\n", bad);
	vec_close(&st);
	free(v);
	free(centres);
	return bad == 0 ? 0 : 1;
}

static int
cmd_admin(struct opts *o)
{
	struct vec_store *st = open_local(o, VEC_SYNC_BATCH);
	const char *err;
	uint64_t n = 0;
	int ret = 0;

	if (strcmp(o->cmd, "count") == 0) {
		struct vec_stats s;

		ret = vec_stats(st, o->tenant, &s, &err);
		if (ret == 0)
			printf("count=%" PRIu64 "\nrows=%" PRIu64 "\n"
			    "log_bytes=%" PRIu64 "\ndead_bytes=%" PRIu64 "\n"
			    "replayed_records=%" PRIu64 "\n"
			    "torn_bytes_cut=%" PRIu64 "\n"
			    "skipped_bytes=%" PRIu64 "\n", s.live, s.rows,
			    s.log_bytes, s.dead_bytes, s.replayed_records,
			    s.torn_bytes_cut, s.skipped_bytes);
	} else if (strcmp(o->cmd, "compact") == 0) {
		ret = vec_compact(st, o->tenant, &err);
	} else {
		struct vec_filter f = { .account_id = o->account,
		    .contact_id = o->contact };

		ret = vec_delete_filter(st, o->tenant, &f, &n, &err);
		if (ret == 0)
			printf("deleted=%" PRIu64 "\n", n);
	}
	if (ret != 0)
		log_warnx("%s: %s", o->cmd, err);
	vec_close(&st);
	return ret == 0 ? 0 : 1;
}

static uint64_t
num_arg(const char *name, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		fatalx("--%s: not a number: %s", name, s);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "tenant", required_argument, NULL, 't' },
		{ "dim", required_argument, NULL, 'D' },
		{ "n", required_argument, NULL, 'n' },
		{ "queries", required_argument, NULL, 'q' },
		{ "recall-queries", required_argument, NULL, 'R' },
		{ "clusters", required_argument, NULL, 'c' },
		{ "noise", required_argument, NULL, 'N' },
		{ "k", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 'T' },
		{ "rescore", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'b' },
		{ "ivf-min", required_argument, NULL, 'I' },
		{ "nlist", required_argument, NULL, 'L' },
		{ "nprobe", required_argument, NULL, 'P' },
		{ "seed", required_argument, NULL, 's' },
		{ "keep", no_argument, NULL, 'K' },
		{ "account", required_argument, NULL, 'a' },
		{ "contact", required_argument, NULL, 'C' },
		{ "acked", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.tenant = "bench", .n = 100000, .queries = 500,
		.recall_queries = 200, .seed = 1, .dim = 384, .k = 10,
		.batch = 1000, .noise = 0.8,
	};
	int ch;

	log_init("crm-vec", false);
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	o.cmd = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o.dir = optarg; break;
		case 't': o.tenant = optarg; break;
		case 'D': o.dim = (uint32_t)num_arg("dim", optarg); break;
		case 'n': o.n = num_arg("n", optarg); break;
		case 'q': o.queries = num_arg("queries", optarg); break;
		case 'R': o.recall_queries = num_arg("recall-queries",
		    optarg); break;
		case 'c': o.clusters = (uint32_t)num_arg("clusters", optarg);
			break;
		case 'N': o.noise = strtod(optarg, NULL); break;
		case 'k': o.k = (uint32_t)num_arg("k", optarg); break;
		case 'T': o.threads = (unsigned)num_arg("threads", optarg);
			break;
		case 'r': o.rescore = num_arg("rescore", optarg); break;
		case 'b': o.batch = num_arg("batch", optarg); break;
		case 'I': o.ivf_min = num_arg("ivf-min", optarg); break;
		case 'L': o.nlist = (uint32_t)num_arg("nlist", optarg); break;
		case 'P': o.nprobe = (uint32_t)num_arg("nprobe", optarg);
			break;
		case 's': o.seed = num_arg("seed", optarg); break;
		case 'K': o.keep = true; break;
		case 'a': o.account = optarg; break;
		case 'C': o.contact = optarg; break;
		case 'A': o.acked = num_arg("acked", optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.dim == 0 || o.dim > VEC_DIM_MAX || o.k == 0 || o.batch == 0 ||
	    !(o.noise >= 0))
		fatalx("bad --dim, --k, --batch or --noise");
	if (o.recall_queries > o.queries)
		o.recall_queries = o.queries;
	if (strcmp(o.cmd, "bench") == 0) {
		if (o.n == 0 || o.queries == 0)
			fatalx("bench needs --n and --queries above 0");
		return cmd_bench(&o);
	}
	if (o.dir == NULL)
		fatalx("%s needs --dir", o.cmd);
	if (strcmp(o.cmd, "writer") == 0)
		return cmd_writer(&o);
	if (strcmp(o.cmd, "verify") == 0)
		return cmd_verify(&o);
	if (strcmp(o.cmd, "count") == 0 || strcmp(o.cmd, "compact") == 0 ||
	    strcmp(o.cmd, "purge") == 0)
		return cmd_admin(&o);
	log_warnx("unknown command '%s'", o.cmd);
	usage(stderr);
	return 2;
}
