/*
 * crm-search.c - hybrid search from the command line.
 *
 *   crm-search --tenant T [--since 30d] [--until DATE] [--account N]
 *              [--mode hybrid|dense|dense2|fts] [--limit K] [--json] QUERY...
 *
 * Results are grouped by account: accounts in the order of their best
 * result, results inside an account by rank.  Without --since/--until, a
 * time phrase in the query ("last month", "this week", "past 3 days")
 * becomes the filter and leaves the query text.  See docs/search.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "enrich/search/search.h"
#include "enrich/search/search_json.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define DEFAULT_CONFIG "/etc/crm/crm-search.conf"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-search [options] --tenant T QUERY...\n"
	    "  -c, --config FILE   configuration (default $CRM_SEARCH_CONFIG,\n"
	    "                      else " DEFAULT_CONFIG ")\n"
	    "  -t, --tenant T      tenant to search (required)\n"
	    "  --since WHEN        only messages at or after WHEN: 30d, 12h,\n"
	    "                      2w, 90m (before now), 2026-10-01, or\n"
	    "                      2026-10-01T09:00:00Z\n"
	    "  --until WHEN        only messages at or before WHEN (a bare\n"
	    "                      date includes that whole day)\n"
	    "  --now WHEN          the time relative WHENs count back from\n"
	    "                      (default: the current time)\n"
	    "  -a, --account N     only this account id\n"
	    "  -n, --limit K       results (default 10, at most %d)\n"
	    "  --mode MODE         hybrid (default), dense, dense2 (the\n"
	    "                      [embed2] model alone) or fts\n"
	    "  --no-dense2         hybrid without the [embed2] model\n"
	    "  --depth N           candidates per retriever (default %d)\n"
	    "  --rrf-k K           rank fusion constant (default %d)\n"
	    "  --no-dates          keep time phrases (\"last month\") as\n"
	    "                      words instead of turning them into --since\n"
	    "  --all-words         full text needs every word (websearch\n"
	    "                      syntax: \"phrase\", -word, or)\n"
	    "  --no-synonyms       full text without the sales synonyms\n"
	    "                      (\"pricing\" also finds \"quote\", \"budget\")\n"
	    "  --json              print JSON instead of text\n"
	    "  -h, --help          this text\n",
	    SEARCH_K_MAX, SEARCH_DEPTH_DEFAULT, SEARCH_RRF_K_DEFAULT);
}

static unsigned long
number(const char *s, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == '-' || v > max)
		fatalx("%s: not a number up to %lu: %s", what, max, s);
	return v;
}

static void
iso_date(int64_t t, char *buf, size_t size, bool with_time)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, size, with_time ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d",
	    &tm);
}

static void
snippet(const char *body, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = body; *p != '\0' && o + 4 < size; p++)
		out[o++] = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;
	if (o + 4 >= size) {
		/* back off to a UTF-8 boundary before the ellipsis */
		while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80)
			o--;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static void
print_text(const struct search_result *r, const struct search_opts *o,
    const char *query)
{
	size_t ng, *first = search_group_order(r, &ng);
	char date[32], snip[160];

	printf("\"%s\"", query);
	if (o->has_since) {
		iso_date(o->since, date, sizeof(date), true);
		printf(" since %s", date);
	}
	if (o->has_until) {
		iso_date(o->until, date, sizeof(date), true);
		printf(" until %s", date);
	}
	if (o->account_id >= 0)
		printf(" account %" PRId64, o->account_id);
	printf("\n");

	if (r->count == 0)
		printf("no results\n");
	for (size_t g = 0; g < ng; g++) {
		int64_t acct = r->hits[first[g]].account_id;
		const char *name = r->hits[first[g]].account_name;
		size_t n = 0;

		for (size_t i = 0; i < r->count; i++)
			n += r->hits[i].account_id == acct;
		if (acct >= 0 && name != NULL && *name != '\0')
			printf("%s (account %" PRId64 ", %zu)\n", name, acct,
			    n);
		else if (acct >= 0)
			printf("account %" PRId64 " (%zu)\n", acct, n);
		else
			printf("no account (%zu)\n", n);
		for (size_t i = 0; i < r->count; i++) {
			const struct search_hit *h = &r->hits[i];

			if (h->account_id != acct)
				continue;
			iso_date(h->sent_at, date, sizeof(date), false);
			snippet(h->body, snip, sizeof(snip));
			printf("  %2zu. %s %-5s %s  %s\n", i + 1, date,
			    h->direction, *h->contact != '\0' ? h->contact :
			    "-", h->subject);
			printf("      %s\n", snip);
			printf("      [%s#%" PRId32 " score %.4f",
			    h->message_key, h->chunk_no, h->score);
			if (h->dense_rank > 0)
				printf(" dense #%u", h->dense_rank);
			if (h->fts_rank > 0)
				printf(" text #%u", h->fts_rank);
			if (h->dense2_rank > 0)
				printf(" dense2 #%u", h->dense2_rank);
			printf("]\n");
		}
	}
	free(first);
}

static void
print_json(const struct search_result *r, const struct search_opts *o,
    const char *tenant, const char *query, const char *mode)
{
	json_t *root = search_result_json(r, o, tenant, query, mode);
	char *s = json_dumps(root, JSON_INDENT(2));

	if (s != NULL)
		puts(s);
	free(s);
	json_decref(root);
}

int
main(int argc, char **argv)
{
	enum { OPT_SINCE = 256, OPT_UNTIL, OPT_NOW, OPT_MODE, OPT_DEPTH,
	    OPT_RRF, OPT_JSON, OPT_ALL, OPT_NODATES,
	    OPT_NOSYN, OPT_NODENSE2 };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "account", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "now", required_argument, NULL, OPT_NOW },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "depth", required_argument, NULL, OPT_DEPTH },
		{ "rrf-k", required_argument, NULL, OPT_RRF },
		{ "all-words", no_argument, NULL, OPT_ALL },
		{ "no-dates", no_argument, NULL, OPT_NODATES },
		{ "no-synonyms", no_argument, NULL, OPT_NOSYN },
		{ "no-dense2", no_argument, NULL, OPT_NODENSE2 },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = getenv("CRM_SEARCH_CONFIG");
	const char *tenant = NULL, *since = NULL, *until = NULL;
	const char *mode = "hybrid";
	struct search_config cfg;
	struct search_opts o;
	struct search_result r;
	struct search_ctx *ctx;
	char err[SEARCH_ERR_MAX];
	int64_t now = (int64_t)time(NULL);
	bool json = false, dates = true;
	char *query;
	size_t qlen = 0;
	int ch;

	log_init("crm-search", false);
	search_opts_init(&o);
	while ((ch = getopt_long(argc, argv, "c:t:a:n:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 't':
			tenant = optarg;
			break;
		case 'a':
			o.account_id = (int64_t)number(optarg, INT64_MAX,
			    "--account");
			break;
		case 'n':
			o.k = number(optarg, SEARCH_K_MAX, "--limit");
			if (o.k == 0)
				fatalx("--limit: at least 1");
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_UNTIL:
			until = optarg;
			break;
		case OPT_NOW:
			if (search_parse_time(optarg, now, false, &now) != 0)
				fatalx("--now: not a time: %s", optarg);
			break;
		case OPT_MODE:
			mode = optarg;
			if (strcmp(mode, "hybrid") == 0)
				o.mode = SEARCH_HYBRID;
			else if (strcmp(mode, "dense") == 0)
				o.mode = SEARCH_DENSE;
			else if (strcmp(mode, "dense2") == 0)
				o.mode = SEARCH_DENSE2;
			else if (strcmp(mode, "fts") == 0)
				o.mode = SEARCH_FTS;
			else
				fatalx("--mode: hybrid, dense, dense2 or fts");
			break;
		case OPT_DEPTH:
			o.depth = number(optarg, SEARCH_DEPTH_MAX, "--depth");
			break;
		case OPT_RRF:
			o.rrf_k = (unsigned)number(optarg, 100000, "--rrf-k");
			break;
		case OPT_ALL:
			o.fts_match = SEARCH_FTS_ALL;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_NODATES:
			dates = false;
			break;
		case OPT_NODENSE2:
			o.dense2 = false;
			break;
		case OPT_NOSYN:
			o.fts_expand = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (tenant == NULL || optind == argc) {
		usage(stderr);
		return 2;
	}
	if (since != NULL) {
		if (search_parse_time(since, now, false, &o.since) != 0)
			fatalx("--since: not a time: %s", since);
		o.has_since = true;
	}
	if (until != NULL) {
		if (search_parse_time(until, now, true, &o.until) != 0)
			fatalx("--until: not a time: %s", until);
		o.has_until = true;
	}
	for (int i = optind; i < argc; i++)
		qlen += strlen(argv[i]) + 1;
	if (qlen > SEARCH_QUERY_MAX)
		fatalx("query longer than %d bytes", SEARCH_QUERY_MAX);
	query = xcalloc(qlen + 1, 1);
	qlen = 0;
	for (int i = optind; i < argc; i++) {
		size_t l = strlen(argv[i]);

		if (i > optind)
			query[qlen++] = ' ';
		memcpy(query + qlen, argv[i], l);
		qlen += l;
	}
	if (dates)
		(void)search_query_dates(query, now, &o);
	if (config == NULL)
		config = DEFAULT_CONFIG;
	search_config_init(&cfg);
	if (search_config_load(&cfg, config, err, sizeof(err)) != 0)
		fatalx("%s", err);
	/* A reader: the indexing daemon keeps writing the embedded store
	 * meanwhile (vec.h, read_only). */
	cfg.vec.read_only = true;
	cfg.vec2.read_only = true;
	if (search_open(&cfg, &ctx, err, sizeof(err)) != 0)
		fatalx("%s", err);
	search_config_fini(&cfg);
	if (search_query(ctx, tenant, query, &o, &r, err, sizeof(err)) != 0)
		fatalx("search: %s", err);
	if (json)
		print_json(&r, &o, tenant, query, mode);
	else
		print_text(&r, &o, query);
	if (fflush(stdout) != 0)
		fatal("writing stdout");
	search_result_fini(&r);
	search_close(&ctx);
	free(query);
	return 0;
}
