/*
 * crm-search-ingest.c - index messages for search from JSON Lines.
 *
 *   crm-search-ingest [-c FILE] --tenant T [FILE.jsonl]
 *
 * One message per line: {"id": KEY, "account_id": N|null, "contact":
 * ADDR|null, "direction": "in"|"out"|"draft", "sent_at":
 * "2026-10-14T15:20:00Z"|unix, "subject": S, "body": S}.  Each batch goes
 * through search_ingest(), the same call the enrichment daemon makes.
 * Used to load test and evaluation sets and to re-index by hand.
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
#define LINE_MAX_BYTES (4u * 1024 * 1024)
#define BATCH 64

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-search-ingest [-c FILE] --tenant T [FILE.jsonl]\n"
	    "  -c, --config FILE   configuration (default $CRM_SEARCH_CONFIG,\n"
	    "                      else " DEFAULT_CONFIG ")\n"
	    "  -t, --tenant T      tenant the messages belong to\n"
	    "Reads JSON Lines messages from FILE or stdin (docs/search.md).\n");
}

struct batch {
	struct search_message m[BATCH];
	json_t *doc[BATCH];
	size_t n;
};

static void
flush(struct search_ctx *ctx, const char *tenant, struct batch *b,
    size_t *msgs, size_t *chunks)
{
	char err[SEARCH_ERR_MAX];
	size_t nc;

	if (b->n == 0)
		return;
	if (search_ingest(ctx, tenant, b->m, b->n, &nc, err,
	    sizeof(err)) != 0)
		fatalx("ingest: %s", err);
	*msgs += b->n;
	*chunks += nc;
	for (size_t i = 0; i < b->n; i++)
		json_decref(b->doc[i]);
	b->n = 0;
}

static const char *
opt_str(json_t *o, const char *k, size_t line)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v))
		fatalx("line %zu: %s is not a string", line, k);
	return json_string_value(v);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = getenv("CRM_SEARCH_CONFIG"), *tenant = NULL;
	struct search_config cfg;
	struct search_ctx *ctx;
	struct batch b = { 0 };
	char err[SEARCH_ERR_MAX];
	char *line = NULL;
	size_t cap = 0, lineno = 0, msgs = 0, chunks = 0;
	ssize_t len;
	FILE *in = stdin;
	int ch;

	log_init("crm-search-ingest", false);
	while ((ch = getopt_long(argc, argv, "c:t:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 't':
			tenant = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (tenant == NULL || argc - optind > 1) {
		usage(stderr);
		return 2;
	}
	if (optind < argc && (in = fopen(argv[optind], "re")) == NULL)
		fatal("%s", argv[optind]);
	search_config_init(&cfg);
	if (search_config_load(&cfg, config != NULL ? config : DEFAULT_CONFIG,
	    err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (search_open(&cfg, &ctx, err, sizeof(err)) != 0)
		fatalx("%s", err);
	search_config_fini(&cfg);
	while ((len = getline(&line, &cap, in)) >= 0) {
		struct search_message *m = &b.m[b.n];
		json_error_t jerr;
		json_t *o, *v;

		lineno++;
		if ((size_t)len > LINE_MAX_BYTES)
			fatalx("line %zu: longer than %u bytes", lineno,
			    LINE_MAX_BYTES);
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		if ((o = json_loadb(line, (size_t)len, 0, &jerr)) == NULL ||
		    !json_is_object(o))
			fatalx("line %zu: %s", lineno, o == NULL ? jerr.text :
			    "not an object");
		memset(m, 0, sizeof(*m));
		m->message_key = opt_str(o, "id", lineno);
		m->contact = opt_str(o, "contact", lineno);
		m->direction = opt_str(o, "direction", lineno);
		m->subject = opt_str(o, "subject", lineno);
		m->body = opt_str(o, "body", lineno);
		v = json_object_get(o, "account_id");
		m->account_id = json_is_integer(v) &&
		    json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
		v = json_object_get(o, "sent_at");
		if (json_is_integer(v))
			m->sent_at = json_integer_value(v);
		else if (!json_is_string(v) ||
		    search_parse_time(json_string_value(v), 0, false,
		    &m->sent_at) != 0)
			fatalx("line %zu: sent_at: ISO 8601 UTC or Unix "
			    "seconds", lineno);
		if (m->message_key == NULL || m->direction == NULL)
			fatalx("line %zu: id and direction are required",
			    lineno);
		b.doc[b.n++] = o;
		if (b.n == BATCH)
			flush(ctx, tenant, &b, &msgs, &chunks);
	}
	if (ferror(in))
		fatal("reading input");
	flush(ctx, tenant, &b, &msgs, &chunks);
	printf("ingested %zu messages, %zu chunks for tenant %s\n", msgs,
	    chunks, tenant);
	free(line);
	if (in != stdin)
		fclose(in);
	search_close(&ctx);
	return 0;
}
