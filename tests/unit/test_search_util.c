/*
 * test_search_util.c - the dependency-free parts of search: --since /
 * --until times, the "any word" full-text query, reciprocal rank fusion.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "enrich/search/search.h"

static void
test_parse_time(void **state)
{
	static const struct {
		const char *s;
		bool until_end;
		int rc;
		int64_t want;
	} t[] = {
		{ "30d", false, 0, 1000000000 - 30 * 86400 },
		{ "12h", false, 0, 1000000000 - 12 * 3600 },
		{ "2w", false, 0, 1000000000 - 14 * 86400 },
		{ "90m", false, 0, 1000000000 - 90 * 60 },
		{ "1970-01-01", false, 0, 0 },
		{ "2026-10-01", false, 0, 1790812800 },
		{ "2026-10-01", true, 0, 1790812800 + 86399 },
		{ "2026-10-14T15:20:00Z", false, 0, 1791991200 },
		{ "2026-10-14 15:20", false, 0, 1791991200 },
		{ "2024-02-29", false, 0, 1709164800 },
		{ "2026-02-29", false, -1, 0 },
		{ "2026-13-01", false, -1, 0 },
		{ "2026-10-01T25:00:00Z", false, -1, 0 },
		{ "2026-10-01T10:00:00+02:00", false, -1, 0 },
		{ "30", false, -1, 0 },
		{ "30y", false, -1, 0 },
		{ "d", false, -1, 0 },
		{ "-3d", false, -1, 0 },
		{ "yesterday", false, -1, 0 },
		{ "", false, -1, 0 },
		{ "1969-12-31", false, -1, 0 },
		{ "99999999999999999999d", false, -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t v = -1;
		int rc = search_parse_time(t[i].s, 1000000000, t[i].until_end,
		    &v);

		if (rc != t[i].rc || (rc == 0 && v != t[i].want))
			fail_msg("'%s': rc %d value %lld", t[i].s, rc,
			    (long long)v);
	}
}

static void
test_fts_any(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "buyer complained about pricing", "buyer or complained or "
		    "about or pricing" },
		{ "  \"SOC 2\" -legal!!", "SOC or 2 or legal" },
		{ "W-9", "W or 9" },
		{ "", "" },
		{ "?!", "" },
		{ "café Zürich", "café or Zürich" },
		{ "or", "or" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *s = search_fts_any(t[i].in);

		assert_string_equal(s, t[i].out);
		free(s);
	}
}

/* Long input is cut at a word or UTF-8 boundary, within the limit. */
static void
test_fts_any_limit(void **state)
{
	size_t n = SEARCH_QUERY_MAX * 3;
	char *in = malloc(n + 1), *out;

	(void)state;
	for (size_t i = 0; i < n; i += 3)
		memcpy(in + i, "\xc3\xa9 ", 3);	/* "é " */
	in[n] = '\0';
	out = search_fts_any(in);
	assert_true(strlen(out) <= SEARCH_QUERY_MAX);
	assert_true(strlen(out) > SEARCH_QUERY_MAX - 8);
	assert_true(strncmp(out + strlen(out) - 2, "\xc3\xa9", 2) == 0);
	free(out);
	memset(in, 'a', n);
	out = search_fts_any(in);
	assert_int_equal(strlen(out), SEARCH_QUERY_MAX);
	free(out);
	free(in);
}

static void
test_rrf(void **state)
{
	const struct search_ranked a[] = { { "x", 1, 0 }, { "y", 2, 0 }, { "z", 3, 0 } };
	const struct search_ranked b[] = { { "z", 1, 0 }, { "w", 2, 0 }, { "x", 3, 0 } };
	struct search_fused out[6];
	size_t n;

	(void)state;
	n = search_rrf(a, 3, b, 3, 60, out);
	assert_int_equal(n, 4);
	/* x: 1/61 + 1/63; z: 1/63 + 1/61 -> tie, broken by best single
	 * rank (both 1), then list A's rank: x first */
	assert_int_equal(out[0].a, 0);
	assert_int_equal(out[0].b, 2);
	assert_int_equal(out[1].a, 2);
	assert_int_equal(out[1].b, 0);
	assert_true(out[0].score == out[1].score);
	/* then y (A #2) and w (B #2): equal again, A first */
	assert_int_equal(out[2].a, 1);
	assert_int_equal(out[2].b, SIZE_MAX);
	assert_int_equal(out[3].a, SIZE_MAX);
	assert_int_equal(out[3].b, 1);
	/* scores are sorted, and each is the sum of its reciprocal ranks */
	for (size_t i = 1; i < n; i++)
		assert_true(out[i - 1].score >= out[i].score);
	assert_true(out[2].score == 1.0 / 62);

	/* one list empty: the other comes back in its own order */
	n = search_rrf(NULL, 0, b, 3, 60, out);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i].b, i);
	/* a message found by both lists beats one found by one list */
	{
		const struct search_ranked c[] = { { "y", 1, 0 }, { "x", 2, 0 } };
		const struct search_ranked d[] = { { "z", 1, 0 }, { "p", 2, 0 },
		    { "q", 3, 0 }, { "y", 4, 0 } };

		n = search_rrf(c, 2, d, 4, 1, out);
		assert_int_equal(out[0].a, 0);	/* y: 1/2 + 1/5 */
		assert_int_equal(out[1].b, 0);	/* z: 1/2 */
		n = search_rrf(c, 2, d, 4, 60, out);
		assert_int_equal(out[0].a, 0);	/* y */
		assert_int_equal(n, 5);
	}
}

/* Score fusion: each list scaled to 0..1 by its own range, then summed. */
static void
test_score3(void **state)
{
	/* dense: cosines; full text: ts_rank_cd, on another scale */
	const struct search_ranked a[] = { { "x", 1, 0.80 }, { "y", 2, 0.70 },
	    { "z", 3, 0.40 } };
	const struct search_ranked b[] = { { "z", 1, 3.0 }, { "w", 2, 1.0 },
	    { "x", 3, 0.5 } };
	const struct search_ranked c[] = { { "q", 1, 0.5 }, { "r", 2, 0.5 } };
	struct search_fused out[8];
	size_t n;

	(void)state;
	n = search_score3(a, 3, b, 3, NULL, 0, 1.0, 1.0, 0, out);
	assert_int_equal(n, 4);
	/* z: 0 + 1 = 1; x: 1 + 0 = 1 -> tie, best single rank (1 both),
	 * then A's rank: x first; y: 0.75; w: 0.2 */
	assert_int_equal(out[0].a, 0);
	assert_int_equal(out[1].a, 2);
	assert_true(fabs(out[0].score - 1.0) < 1e-12);
	assert_true(fabs(out[1].score - 1.0) < 1e-12);
	assert_int_equal(out[2].a, 1);
	assert_true(fabs(out[2].score - 0.75) < 1e-12);
	assert_int_equal(out[3].b, 1);
	assert_true(fabs(out[3].score - 0.2) < 1e-12);
	/* weights scale a list's part; RRF would rank by ranks alone */
	n = search_score3(a, 3, b, 3, NULL, 0, 1.0, 2.0, 0, out);
	assert_int_equal(out[0].b, 0);		/* z: 0 + 2 */
	assert_int_equal(out[1].a, 0);		/* x: 1 + 0 */
	/* a list of equal scores gives each entry its whole weight */
	n = search_score3(NULL, 0, NULL, 0, c, 2, 1.0, 1.0, 0.5, out);
	assert_int_equal(n, 2);
	assert_true(out[0].score == 0.5 && out[1].score == 0.5);
	assert_int_equal(out[0].c, 0);
	assert_int_equal(out[1].c, 1);
}

/* Sales synonyms: a group member in the query brings in the rest. */
static void
test_fts_expand(void **state)
{
	char *s;

	(void)state;
	/* no group word: the plain "any word" form */
	s = search_fts_expand("Tacoma hospital");
	assert_string_equal(s, "Tacoma or hospital");
	free(s);
	/* inflections meet the group member ("cancelling" -> cancel) */
	s = search_fts_expand("accounts cancelling");
	assert_non_null(strstr(s, "accounts or cancelling or "));
	assert_non_null(strstr(s, " or churn"));
	assert_non_null(strstr(s, " or termination"));
	assert_null(strstr(s, " or cancel "));	/* the query's own word */
	free(s);
	/* phrases are quoted for websearch_to_tsquery, hyphens too */
	s = search_fts_expand("Security review");
	assert_non_null(strstr(s, " or \"pen test\""));
	assert_non_null(strstr(s, " or \"soc 2\""));
	assert_non_null(strstr(s, " or questionnaire"));
	free(s);
	/* a group is added once, however many of its words are asked */
	s = search_fts_expand("price cost discount");
	{
		const char *p = strstr(s, " or budget");

		assert_non_null(p);
		assert_null(strstr(p + 1, " or budget"));
	}
	free(s);
	/* technical and service groups: integration, outages, visits */
	s = search_fts_expand("integrating systems");
	assert_non_null(strstr(s, " or connector"));
	assert_non_null(strstr(s, " or webhook"));
	free(s);
	s = search_fts_expand("site visited");
	assert_non_null(strstr(s, " or \"in person\""));
	assert_null(strstr(s, " or downtime"));
	free(s);
	/* short words are not stripped into a group word ("is" !~ "i") */
	s = search_fts_expand("is it");
	assert_string_equal(s, "is or it");
	free(s);
	s = search_fts_expand("");
	assert_string_equal(s, "");
	free(s);
}

/* Expansion never passes the query limit, and ends on a whole term. */
static void
test_fts_expand_limit(void **state)
{
	size_t n = SEARCH_QUERY_MAX - 40;
	char *in = malloc(n + 1), *out;

	(void)state;
	memset(in, 'a', n);
	memcpy(in, "pricing renewal security ", 25);
	in[n] = '\0';
	out = search_fts_expand(in);
	assert_true(strlen(out) <= SEARCH_QUERY_MAX);
	assert_true(strncmp(out, "pricing or renewal or security or aaa", 37) == 0);
	free(out);
	free(in);
}

static void
test_rrf_weighted(void **state)
{
	const struct search_ranked a[] = { { "x", 1, 0 }, { "y", 2, 0 } };
	const struct search_ranked b[] = { { "z", 1, 0 }, { "y", 5, 0 } };
	struct search_fused out[4];
	size_t n;

	(void)state;
	/* equal weights: as search_rrf */
	n = search_rrf_weighted(a, 2, b, 2, 60, 1.0, 1.0, out);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].a, 1);		/* y, in both */
	/* B weighted up: z (B #1) passes x (A #1) */
	n = search_rrf_weighted(a, 2, b, 2, 60, 1.0, 2.0, out);
	assert_true(out[0].score == 1.0 / 62 + 2.0 / 65);
	assert_int_equal(out[1].b, 0);		/* z: 2/61 */
	assert_int_equal(out[2].a, 0);		/* x: 1/61 */
	(void)n;
}

/* Three lists: sums over all three, ties by best rank, then A, B, C. */
static void
test_rrf3(void **state)
{
	const struct search_ranked a[] = { { "x", 1, 0 }, { "y", 2, 0 } };
	const struct search_ranked b[] = { { "z", 1, 0 }, { "y", 3, 0 } };
	const struct search_ranked c[] = { { "y", 1, 0 }, { "w", 2, 0 },
	    { "v", 3, 0 }, { "z", 4, 0 } };
	const struct search_ranked p[] = { { "p", 1, 0 }, { "q", 2, 0 } };
	const struct search_ranked q[] = { { "q", 1, 0 }, { "p", 2, 0 } };
	struct search_fused out[8], two[8];
	size_t n, m;

	(void)state;
	n = search_rrf3(a, 2, b, 2, c, 4, 60, 1.0, 1.0, 1.0, out);
	assert_int_equal(n, 5);			/* x y z w v */
	assert_int_equal(out[0].a, 1);		/* y: 1/62 + 1/63 + 1/61 */
	assert_int_equal(out[0].b, 1);
	assert_int_equal(out[0].c, 0);
	assert_true(out[0].score == 1.0 / 62 + 1.0 / 63 + 1.0 / 61);
	assert_int_equal(out[1].b, 0);		/* z: 1/61 + 1/64 */
	assert_int_equal(out[1].c, 3);
	assert_int_equal(out[1].a, SIZE_MAX);
	assert_int_equal(out[2].a, 0);		/* x: 1/61 */
	assert_int_equal(out[3].c, 1);		/* w: 1/62 */
	assert_int_equal(out[4].c, 2);		/* v: 1/63 */
	/* C weighted 0 changes the scores, never the membership */
	n = search_rrf3(a, 2, b, 2, c, 4, 60, 1.0, 1.0, 0.0, out);
	assert_int_equal(n, 5);
	assert_true(out[0].score == 1.0 / 62 + 1.0 / 63);
	/* without C it is search_rrf_weighted(), entry for entry */
	n = search_rrf3(a, 2, b, 2, NULL, 0, 60, 1.0, 2.0, 1.0, out);
	m = search_rrf_weighted(a, 2, b, 2, 60, 1.0, 2.0, two);
	assert_int_equal(n, m);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(out[i].a, two[i].a);
		assert_int_equal(out[i].b, two[i].b);
		assert_int_equal(out[i].c, SIZE_MAX);
		assert_true(out[i].score == two[i].score);
	}
	/* a full tie outside A (p: B1 + C2, q: B2 + C1): B decides */
	n = search_rrf3(NULL, 0, p, 2, q, 2, 60, 1.0, 1.0, 1.0, out);
	assert_int_equal(n, 2);
	assert_true(out[0].score == out[1].score);
	assert_int_equal(out[0].b, 0);		/* p */
	assert_int_equal(out[0].c, 1);
	assert_int_equal(out[1].b, 1);		/* q */
}

static void
test_time_phrase(void **state)
{
	/* 2026-11-20T15:00:00Z, a Friday */
	const int64_t now = 1795186800, day = 1795132800;
	static const struct {
		const char *in, *out;
		int rc;
		int64_t since_back;	/* now - since */
		bool until;
	} t[] = {
		{ "buyer complained about pricing last month",
		    "buyer complained about pricing", 1, 30 * 86400, false },
		{ "Last Week: renewal risk", ": renewal risk", 1, 7 * 86400,
		    false },
		{ "pricing in the past 3 days", "pricing", 1,
		    3 * 86400, false },
		{ "pricing over the last 2 weeks", "pricing", 1,
		    14 * 86400, false },
		{ "security reviews in last quarter", "security reviews", 1,
		    90 * 86400, false },
		{ "who is leaving today", "who is leaving", 1,
		    1795186800 - 1795132800, false },
		{ "calls from yesterday", "calls", 1,
		    1795186800 - (1795132800 - 86400), true },
		{ "renewals this week", "renewals", 1,
		    1795186800 - (1795132800 - 4 * 86400), false },
		{ "renewals this month", "renewals", 1,
		    1795186800 - (1795132800 - 19 * 86400), false },
		{ "deals this quarter", "deals", 1,
		    1795186800 - 1790812800, false },
		{ "deals this year", "deals", 1, 1795186800 - 1767225600,
		    false },
		{ "the last monthly report", "the last monthly report", 0, 0,
		    false },
		{ "lastmonth", "lastmonth", 0, 0, false },
		{ "last 0 days of pricing", "last 0 days of pricing", 0, 0,
		    false },
		{ "past 5 decades", "past 5 decades", 0, 0, false },
		{ "", "", 0, 0, false },
	};

	(void)state;
	(void)day;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char out[128];
		int64_t since = -1, until = -1;
		bool has_until = false;
		int rc = search_time_phrase(t[i].in, now, out, &since,
		    &has_until, &until);

		if (rc != t[i].rc || strcmp(out, t[i].out) != 0)
			fail_msg("'%s': rc %d, '%s'", t[i].in, rc, out);
		if (rc == 1) {
			if (now - since != t[i].since_back)
				fail_msg("'%s': since %lld back", t[i].in,
				    (long long)(now - since));
			assert_int_equal(has_until, t[i].until);
			if (has_until)
				assert_int_equal(until, since + 86399);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_fts_any),
		cmocka_unit_test(test_fts_expand),
		cmocka_unit_test(test_fts_expand_limit),
		cmocka_unit_test(test_rrf_weighted),
		cmocka_unit_test(test_rrf3),
		cmocka_unit_test(test_fts_any_limit),
		cmocka_unit_test(test_rrf),
		cmocka_unit_test(test_score3),
		cmocka_unit_test(test_time_phrase),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
