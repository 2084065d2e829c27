/*
 * test_vec_qdrant.c - the Qdrant backend against a scripted transport:
 * the request sequence, what goes in bodies and headers, how errors and
 * odd responses come back.  Schema conformance of the bodies is checked
 * separately (tests/integration/vec_qdrant_schema.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/vec/vec.h"
#include "enrich/vec/vec_qdrant.h"
#include "lib/xmalloc.h"

#define DIM 4
#define MAXREQ 32

struct script {
	/* Answers, in order; a NULL body means "transport failure". */
	struct {
		long status;
		const char *body;
	} answers[MAXREQ];
	int nanswers, next;
	/* What was asked. */
	char *method[MAXREQ], *url[MAXREQ], *body[MAXREQ], *key[MAXREQ];
	long timeout[MAXREQ];
};

static int
scripted(void *ctx, const struct vec_http_request *req,
    struct vec_http_response *resp, char *err, size_t errlen)
{
	struct script *s = ctx;
	int i = s->next++;

	assert_true(i < s->nanswers);
	s->method[i] = xstrdup(req->method);
	s->url[i] = xstrdup(req->url);
	s->body[i] = req->body != NULL ? xstrndup(req->body, req->body_len) :
	    NULL;
	s->key[i] = req->api_key != NULL ? xstrdup(req->api_key) : NULL;
	s->timeout[i] = req->timeout_ms;
	if (s->answers[i].body == NULL) {
		snprintf(err, errlen, "Timeout was reached");
		return -1;
	}
	resp->status = s->answers[i].status;
	resp->body = xstrdup(s->answers[i].body);
	resp->len = strlen(resp->body);
	return 0;
}

static void
script_free(struct script *s)
{
	for (int i = 0; i < s->next; i++) {
		free(s->method[i]);
		free(s->url[i]);
		free(s->body[i]);
		free(s->key[i]);
	}
}

static void
answer(struct script *s, long status, const char *body)
{
	s->answers[s->nanswers].status = status;
	s->answers[s->nanswers].body = body;
	s->nanswers++;
}

#define OK_UPDATE "{\"result\":{\"operation_id\":1,\"status\":\"completed\"}," \
	"\"status\":\"ok\",\"time\":0.01}"
#define OK_TRUE "{\"result\":true,\"status\":\"ok\",\"time\":0.01}"
#define EXISTS(b) "{\"result\":{\"exists\":" b "},\"status\":\"ok\"}"

static struct vec_store *
open_store(struct script *s, const char *key)
{
	static struct vec_qdrant_transport tr;
	struct vec_config cfg;
	struct vec_store *st;
	const char *err = NULL;

	tr.request = scripted;
	tr.ctx = s;
	vec_config_init(&cfg);
	cfg.backend = VEC_BACKEND_QDRANT;
	cfg.dim = DIM;
	cfg.url = "http://qdrant.test:6333//";
	cfg.api_key = key;
	cfg.timeout_ms = 1234;
	cfg.transport = &tr;
	if (vec_open(&cfg, &st, &err) != 0)
		fail_msg("open: %s", err);
	return st;
}

static const float vec1[DIM] = { 0.5f, 0.5f, 0.5f, 0.5f };

static void
test_first_upsert_creates_collection(void **state)
{
	struct script s = { 0 };
	struct vec_store *st = open_store(&s, "sekrit");
	struct vec_point p = { .id = { .kind = VEC_ID_NUM, .num = 9 },
	    .vector = vec1, .payload = { .account_id = "acc",
	    .contact_id = "con", .direction = VEC_DIR_OUT, .ts = 1700000001,
	    .message_ref = "<x@y>", .chunk = 3 } };
	const char *err = NULL;

	(void)state;
	answer(&s, 200, EXISTS("false"));
	answer(&s, 200, OK_TRUE);
	for (int i = 0; i < 5; i++)
		answer(&s, 200, OK_UPDATE);
	answer(&s, 200, OK_UPDATE);
	answer(&s, 200, OK_UPDATE);	/* second upsert: no exists call */
	assert_int_equal(vec_upsert(st, "acme", &p, 1, &err), 0);
	assert_int_equal(vec_upsert(st, "acme", &p, 1, &err), 0);
	assert_int_equal(s.next, 9);
	assert_string_equal(s.method[0], "GET");
	assert_string_equal(s.url[0],
	    "http://qdrant.test:6333/collections/crm_acme/exists");
	assert_string_equal(s.method[1], "PUT");
	assert_string_equal(s.url[1],
	    "http://qdrant.test:6333/collections/crm_acme");
	assert_non_null(strstr(s.body[1], "\"distance\":\"Cosine\""));
	assert_non_null(strstr(s.body[1], "\"size\":4"));
	assert_non_null(strstr(s.body[4], "\"field_name\":\"contact_id\""));
	assert_non_null(strstr(s.body[6], "\"field_name\":\"ts\""));
	assert_non_null(strstr(s.body[6], "\"integer\""));
	assert_string_equal(s.url[7], "http://qdrant.test:6333/collections/"
	    "crm_acme/points?wait=true");
	assert_non_null(strstr(s.body[7], "\"id\":9"));
	assert_non_null(strstr(s.body[7], "\"tenant\":\"acme\""));
	assert_non_null(strstr(s.body[7], "\"direction\":\"out\""));
	assert_non_null(strstr(s.body[7], "\"ts\":1700000001"));
	for (int i = 0; i < s.next; i++) {
		assert_string_equal(s.key[i], "sekrit");
		assert_int_equal(s.timeout[i], 1234);
	}
	vec_close(&st);
	script_free(&s);
}

static void
test_search_filter_and_parse(void **state)
{
	struct script s = { 0 };
	struct vec_store *st = open_store(&s, NULL);
	struct vec_result r;
	const char *err = NULL;
	struct vec_filter f = { .account_id = "acc\"1", .direction =
	    VEC_DIR_IN, .has_since = true, .since = 100 };

	(void)state;
	answer(&s, 200, EXISTS("true"));
	answer(&s, 200, "{\"result\":{\"points\":["
	    "{\"id\":7,\"version\":1,\"score\":0.9,\"payload\":{"
	    "\"account_id\":\"acc\\\"1\",\"contact_id\":\"c\","
	    "\"direction\":\"in\",\"ts\":150,\"message_ref\":\"<m>\","
	    "\"chunk\":2}},"
	    "{\"id\":\"550e8400-e29b-41d4-a716-446655440000\",\"version\":1,"
	    "\"score\":0.5,\"payload\":null},"
	    "{\"id\":8,\"version\":1,\"score\":0.1}]},"
	    "\"status\":\"ok\",\"time\":0.002}");
	assert_int_equal(vec_search(st, "acme", vec1, 2, &f, 0, &r, &err), 0);
	assert_null(s.key[0]);
	assert_string_equal(s.url[1],
	    "http://qdrant.test:6333/collections/crm_acme/points/query");
	/* The tenant is always a condition, even in its own collection. */
	assert_non_null(strstr(s.body[1], "{\"key\":\"tenant\",\"match\":"
	    "{\"value\":\"acme\"}}"));
	assert_non_null(strstr(s.body[1], "\"value\":\"acc\\\"1\""));
	assert_non_null(strstr(s.body[1], "\"range\":{\"gte\":100}"));
	assert_non_null(strstr(s.body[1], "\"limit\":2"));
	assert_null(strstr(s.body[1], "contact_id"));
	/* k caps the hits even if the server sends more. */
	assert_int_equal(r.count, 2);
	assert_int_equal(r.hits[0].id.num, 7);
	assert_string_equal(r.hits[0].payload.account_id, "acc\"1");
	assert_int_equal(r.hits[0].payload.direction, VEC_DIR_IN);
	assert_int_equal(r.hits[0].payload.ts, 150);
	assert_int_equal(r.hits[0].payload.chunk, 2);
	assert_int_equal(r.hits[1].id.kind, VEC_ID_UUID);
	assert_string_equal(r.hits[1].payload.account_id, "");
	vec_result_fini(&r);
	vec_close(&st);
	script_free(&s);
}

static void
test_missing_collection_reads_empty(void **state)
{
	struct script s = { 0 };
	struct vec_store *st = open_store(&s, NULL);
	struct vec_result r;
	struct vec_id id = { .kind = VEC_ID_NUM, .num = 1 };
	uint64_t n = 99;
	const char *err = NULL;

	(void)state;
	answer(&s, 200, EXISTS("false"));
	answer(&s, 200, EXISTS("false"));
	answer(&s, 200, EXISTS("false"));
	answer(&s, 200, EXISTS("false"));
	assert_int_equal(vec_search(st, "nobody", vec1, 5, NULL, 0, &r, &err),
	    0);
	assert_int_equal(r.count, 0);
	vec_result_fini(&r);
	assert_int_equal(vec_count(st, "nobody", &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(vec_delete_ids(st, "nobody", &id, 1, &err), 0);
	assert_int_equal(vec_delete_filter(st, "nobody", &(struct vec_filter){
	    .contact_id = "c" }, NULL, &err), 0);
	assert_int_equal(s.next, 4);	/* only existence checks */
	vec_close(&st);
	script_free(&s);
}

static void
test_errors(void **state)
{
	struct script s = { 0 };
	struct vec_store *st = open_store(&s, "k");
	struct vec_point p = { .id = { .kind = VEC_ID_NUM, .num = 1 },
	    .vector = vec1 };
	struct vec_result r;
	const char *err = NULL;

	(void)state;
	/* Qdrant's own message comes through with the HTTP status. */
	answer(&s, 403, "{\"status\":{\"error\":\"Invalid api-key\"},"
	    "\"time\":0}");
	assert_int_equal(vec_upsert(st, "acme", &p, 1, &err), -1);
	assert_non_null(strstr(err, "HTTP 403"));
	assert_non_null(strstr(err, "Invalid api-key"));
	assert_null(strstr(err, "k\""));
	/* No response at all. */
	answer(&s, 0, NULL);
	assert_int_equal(vec_upsert(st, "acme", &p, 1, &err), -1);
	assert_non_null(strstr(err, "Timeout"));
	/* 200 with garbage, and 200 without status ok. */
	answer(&s, 200, EXISTS("true"));
	answer(&s, 200, "<html>");
	assert_int_equal(vec_search(st, "acme", vec1, 1, NULL, 0, &r, &err),
	    -1);
	assert_non_null(strstr(err, "not a JSON object"));
	answer(&s, 200, "{\"status\":\"accepted\",\"result\":{}}");
	assert_int_equal(vec_search(st, "acme", vec1, 1, NULL, 0, &r, &err),
	    -1);
	answer(&s, 200, "{\"status\":\"ok\",\"result\":{\"points\":"
	    "[{\"id\":-5,\"score\":1}]}}");
	assert_int_equal(vec_search(st, "acme", vec1, 1, NULL, 0, &r, &err),
	    -1);
	assert_non_null(strstr(err, "valid id"));
	/* Ids JSON cannot carry are refused before any request. */
	p.id.num = UINT64_MAX;
	answer(&s, 200, OK_UPDATE);
	assert_int_equal(vec_upsert(st, "acme", &p, 1, &err), -1);
	assert_int_equal(s.next, 6);
	/* Bad tenants never reach a URL. */
	assert_int_equal(vec_search(st, "../x", vec1, 1, NULL, 0, &r, &err),
	    -1);
	assert_int_equal(s.next, 6);
	vec_close(&st);
	script_free(&s);
}

static void
test_batches_and_names(void **state)
{
	enum { N = VEC_QDRANT_BATCH * 2 + 3 };
	struct script s = { 0 };
	struct vec_store *st = open_store(&s, NULL);
	struct vec_point *p = xcalloc(N, sizeof(*p));
	char name[80];
	const char *err = NULL;

	(void)state;
	for (int i = 0; i < N; i++) {
		p[i].id.num = (uint64_t)i;
		p[i].vector = vec1;
	}
	answer(&s, 200, EXISTS("true"));
	for (int i = 0; i < 3; i++)
		answer(&s, 200, OK_UPDATE);
	assert_int_equal(vec_upsert(st, "big", p, N, &err), 0);
	assert_int_equal(s.next, 4);
	assert_non_null(strstr(s.body[3], "\"id\":514"));
	free(p);
	assert_int_equal(vec_qdrant_collection_name("T-1_x", name,
	    sizeof(name)), 0);
	assert_string_equal(name, "crm_T-1_x");
	assert_int_equal(vec_qdrant_collection_name("a/b", name,
	    sizeof(name)), -1);
	assert_int_equal(vec_qdrant_collection_name("a%2f", name,
	    sizeof(name)), -1);
	vec_close(&st);
	script_free(&s);
}

static void
test_open_checks(void **state)
{
	struct vec_config cfg;
	struct vec_store *st;
	const char *err = NULL;

	(void)state;
	vec_config_init(&cfg);
	cfg.backend = VEC_BACKEND_QDRANT;
	cfg.dim = 4;
	cfg.url = "file:///etc/passwd";
	assert_int_equal(vec_open(&cfg, &st, &err), -1);
	assert_non_null(strstr(err, "http"));
	cfg.url = NULL;
	assert_int_equal(vec_open(&cfg, &st, &err), -1);
	cfg.url = "http://x";
	cfg.dim = 0;
	assert_int_equal(vec_open(&cfg, &st, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_upsert_creates_collection),
		cmocka_unit_test(test_search_filter_and_parse),
		cmocka_unit_test(test_missing_collection_reads_empty),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_batches_and_names),
		cmocka_unit_test(test_open_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
