/*
 * search_json.h - a search result as JSON, the one shape crm-search
 * --json prints and crm-api serves (docs/api.md, "GET /v1/search").
 */
#ifndef CRM_SEARCH_JSON_H
#define CRM_SEARCH_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "enrich/search/search.h"

/*
 * Indices of r's hits that open each account's group, in the order of the
 * accounts' best results; *ngroups_r of them.  The caller frees the array.
 */
size_t *search_group_order(const struct search_result *r, size_t *ngroups_r);

/*
 * {"tenant", "query", "mode", "since", "until", "count", "accounts": [{
 * "account_id", "account_name", "results": [{"rank", "message_key",
 * "chunk_no", "score", "sent_at", "direction", "contact", "subject",
 * "text", "dense_rank", "fts_rank", "dense2_rank"}]}]}.  A hit whose stored
 * text is not valid UTF-8 is left out.  The caller owns the result.
 */
json_t *search_result_json(const struct search_result *r,
    const struct search_opts *o, const char *tenant, const char *query,
    const char *mode);

#endif
