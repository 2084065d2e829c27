/*
 * fuzz_search_query.c - the query builders of search on arbitrary text:
 * the "any word" form, the sales-synonym expansion, the synonyms alone
 * and the time phrase.  Outputs must stay within SEARCH_QUERY_MAX, be
 * NUL-terminated, and the expansion must start with the "any word" form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/search/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *q, *any, *exp, *syn, *stripped;
	int64_t since = 0, until = 0;
	bool has_until = false;

	if (size > 3 * SEARCH_QUERY_MAX)
		return 0;
	q = malloc(size + 1);
	memcpy(q, data, size);
	q[size] = '\0';		/* a NUL inside ends the query early, as in C */
	any = search_fts_any(q);
	exp = search_fts_expand(q);
	syn = search_synonyms(q);
	if (strlen(any) > SEARCH_QUERY_MAX || strlen(exp) > SEARCH_QUERY_MAX ||
	    strlen(syn) > SEARCH_QUERY_MAX)
		abort();
	if (strncmp(exp, any, strlen(any)) != 0)
		abort();
	if ((*syn != '\0') != (strlen(exp) > strlen(any)) &&
	    strlen(any) < SEARCH_QUERY_MAX - 64)
		abort();
	stripped = malloc(strlen(q) + 1);
	if (search_time_phrase(q, 1795186800, stripped, &since, &has_until,
	    &until) < 0 || strlen(stripped) > strlen(q))
		abort();
	free(stripped);
	free(syn);
	free(exp);
	free(any);
	free(q);
	return 0;
}
