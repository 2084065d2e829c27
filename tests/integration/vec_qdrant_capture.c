/*
 * vec_qdrant_capture.c - drives the Qdrant backend through every request
 * it can make, with a transport that records each request instead of
 * sending it and answers from response files.  Run by
 * vec_qdrant_schema.sh, which validates the recorded bodies against
 * Qdrant's OpenAPI schema.
 *
 *   vec_qdrant_capture OUT_DIR RESP_DIR
 *
 * Writes OUT_DIR/NNN.json: {"method", "url", "api_key", "body"}.
 * Answers a request for operation X with RESP_DIR/X.json (made from the
 * schema's examples), X being upsert_points, query_points, ... .  Exits
 * non-zero if the backend fails or parses an answer wrongly.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/vec/vec.h"
#include "enrich/vec/vec_qdrant.h"
#include "lib/xmalloc.h"

#define DIM 8

struct capture {
	const char *out_dir, *resp_dir;
	int seq;
	bool exists;		/* what collection_exists answers */
	int failures;
};

static const char *
operation(const char *method, const char *url)
{
	const char *p = strstr(url, "/collections/");
	const char *rest;

	if (p == NULL)
		return NULL;
	rest = strchr(p + strlen("/collections/"), '/');
	if (rest == NULL || rest[0] == '?')
		return strcmp(method, "PUT") == 0 ? "create_collection" : NULL;
	if (strncmp(rest, "/exists", 7) == 0)
		return "collection_exists";
	if (strncmp(rest, "/index", 6) == 0)
		return "create_field_index";
	if (strncmp(rest, "/points/query", 13) == 0)
		return "query_points";
	if (strncmp(rest, "/points/delete", 14) == 0)
		return "delete_points";
	if (strncmp(rest, "/points/count", 13) == 0)
		return "count_points";
	if (strncmp(rest, "/points", 7) == 0 && strcmp(method, "PUT") == 0)
		return "upsert_points";
	return NULL;
}

static int
capture_request(void *ctx, const struct vec_http_request *req,
    struct vec_http_response *resp, char *err, size_t errlen)
{
	struct capture *c = ctx;
	const char *op = operation(req->method, req->url);
	json_t *rec, *body = NULL;
	json_error_t jerr;
	char *path;

	if (op == NULL) {
		snprintf(err, errlen, "unexpected request %s %s", req->method,
		    req->url);
		return -1;
	}
	if (req->body != NULL &&
	    (body = json_loadb(req->body, req->body_len, 0, &jerr)) == NULL) {
		snprintf(err, errlen, "request body is not JSON: %s",
		    jerr.text);
		return -1;
	}
	rec = json_pack("{s:s,s:s,s:s,s:s?,s:o?}", "operation", op,
	    "method", req->method, "url", req->url, "api_key", req->api_key,
	    "body", body);
	path = xasprintf("%s/%03d.json", c->out_dir, c->seq++);
	if (json_dump_file(rec, path, JSON_INDENT(1)) != 0) {
		snprintf(err, errlen, "cannot write %s", path);
		free(path);
		json_decref(rec);
		return -1;
	}
	free(path);
	json_decref(rec);

	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	if (strcmp(op, "collection_exists") == 0) {
		resp->body = xasprintf("{\"result\":{\"exists\":%s},"
		    "\"status\":\"ok\",\"time\":0.001}",
		    c->exists ? "true" : "false");
	} else {
		FILE *f;
		long n;

		path = xasprintf("%s/%s.json", c->resp_dir, op);
		f = fopen(path, "rb");
		free(path);
		if (f == NULL || fseek(f, 0, SEEK_END) != 0 ||
		    (n = ftell(f)) < 0) {
			snprintf(err, errlen, "no response file for %s", op);
			if (f != NULL)
				fclose(f);
			return -1;
		}
		rewind(f);
		resp->body = xmalloc((size_t)n + 1);
		resp->len = fread(resp->body, 1, (size_t)n, f);
		resp->body[resp->len] = '\0';
		fclose(f);
		return 0;
	}
	resp->len = strlen(resp->body);
	return 0;
}

#define CHECK(c, cond) do { if (!(cond)) { \
	fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
	(c)->failures++; } } while (0)

int
main(int argc, char **argv)
{
	struct capture cap = { 0 };
	struct vec_qdrant_transport tr = { capture_request, &cap };
	struct vec_config cfg;
	struct vec_store *st;
	struct vec_point pts[3];
	struct vec_result res;
	struct vec_id ids[2];
	float v[3][DIM];
	const char *err;
	uint64_t n;
	static const struct vec_filter filters[] = {
		{ .account_id = "acct-1" },
		{ .contact_id = "contact-9" },
		{ .direction = VEC_DIR_OUT },
		{ .has_since = true, .since = 1700000000 },
		{ .has_until = true, .until = 1800000000 },
		{ .account_id = "acct-1", .contact_id = "contact-9",
		    .direction = VEC_DIR_IN, .has_since = true,
		    .since = 1700000000, .has_until = true,
		    .until = 1800000000 },
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s OUT_DIR RESP_DIR\n", argv[0]);
		return 2;
	}
	cap.out_dir = argv[1];
	cap.resp_dir = argv[2];
	vec_config_init(&cfg);
	cfg.backend = VEC_BACKEND_QDRANT;
	cfg.dim = DIM;
	cfg.url = "http://127.0.0.1:6333/";
	cfg.api_key = "test-key";
	cfg.transport = &tr;
	if (vec_open(&cfg, &st, &err) != 0) {
		fprintf(stderr, "open: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		for (int d = 0; d < DIM; d++)
			v[i][d] = (float)(i + 1) * 0.1f + (float)d * 0.01f;
		memset(&pts[i], 0, sizeof(pts[i]));
		pts[i].vector = v[i];
		pts[i].payload = (struct vec_payload){ .account_id = "acct-1",
		    .contact_id = "contact-9", .direction = VEC_DIR_IN,
		    .ts = 1750000000, .message_ref = "<a\"b@example.com>",
		    .chunk = (uint32_t)i };
	}
	pts[0].id = (struct vec_id){ .kind = VEC_ID_NUM, .num = 42 };
	vec_id_parse("550e8400-e29b-41d4-a716-446655440000", &pts[1].id);
	pts[2].id = (struct vec_id){ .kind = VEC_ID_NUM, .num = 0 };
	pts[2].payload.account_id = NULL;	/* sent as "" */
	pts[2].payload.direction = VEC_DIR_DRAFT;

	/* A first write creates the collection and its indexes. */
	cap.exists = false;
	if (vec_upsert(st, "tenant-A_1", pts, 3, &err) != 0) {
		fprintf(stderr, "upsert: %s\n", err);
		return 1;
	}
	if (vec_search(st, "tenant-A_1", v[0], 5, NULL, 0, &res, &err) != 0) {
		fprintf(stderr, "search: %s\n", err);
		return 1;
	}
	/* The schema's ScoredPoint example: id 42, score 0.75. */
	CHECK(&cap, res.count >= 1);
	if (res.count >= 1) {
		CHECK(&cap, res.hits[0].score > 0.74f &&
		    res.hits[0].score < 0.76f);
	}
	vec_result_fini(&res);
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (vec_search(st, "tenant-A_1", v[1], 10, &filters[i], 0,
		    &res, &err) != 0) {
			fprintf(stderr, "search %zu: %s\n", i, err);
			return 1;
		}
		vec_result_fini(&res);
	}
	ids[0] = pts[0].id;
	ids[1] = pts[1].id;
	if (vec_delete_ids(st, "tenant-A_1", ids, 2, &err) != 0 ||
	    vec_delete_filter(st, "tenant-A_1", &filters[0], NULL, &err) != 0 ||
	    vec_delete_filter(st, "tenant-A_1", &filters[1], NULL, &err) != 0 ||
	    vec_count(st, "tenant-A_1", &n, &err) != 0) {
		fprintf(stderr, "delete/count: %s\n", err);
		return 1;
	}
	/* An existing collection for another tenant: no create calls. */
	cap.exists = true;
	if (vec_upsert(st, "other", pts, 1, &err) != 0) {
		fprintf(stderr, "upsert other: %s\n", err);
		return 1;
	}
	vec_close(&st);
	printf("captured %d requests, %d check failures\n", cap.seq,
	    cap.failures);
	return cap.failures == 0 ? 0 : 1;
}
