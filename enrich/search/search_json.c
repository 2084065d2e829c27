/* search_json.c - see search_json.h. */
#include "enrich/search/search_json.h"

#include <stdbool.h>
#include <time.h>

#include "lib/xmalloc.h"

size_t *
search_group_order(const struct search_result *r, size_t *ngroups_r)
{
	size_t *first = xcalloc(r->count + 1, sizeof(*first));
	size_t n = 0;

	for (size_t i = 0; i < r->count; i++) {
		bool seen = false;

		for (size_t g = 0; g < n && !seen; g++)
			seen = r->hits[first[g]].account_id ==
			    r->hits[i].account_id;
		if (!seen)
			first[n++] = i;
	}
	*ngroups_r = n;
	return first;
}

static const char *
iso_time_buf(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static json_t *
iso_time(int64_t t)
{
	char buf[32];

	return json_string(iso_time_buf(t, buf));
}

json_t *
search_result_json(const struct search_result *r,
    const struct search_opts *o, const char *tenant, const char *query,
    const char *mode)
{
	size_t ng, *first = search_group_order(r, &ng);
	json_t *root = json_object(), *groups = json_array();

	json_object_set_new(root, "tenant", json_string(tenant));
	json_object_set_new(root, "query", json_string(query));
	json_object_set_new(root, "mode", json_string(mode));
	json_object_set_new(root, "since", o->has_since ? iso_time(o->since) :
	    json_null());
	json_object_set_new(root, "until", o->has_until ? iso_time(o->until) :
	    json_null());
	json_object_set_new(root, "count", json_integer((json_int_t)r->count));
	for (size_t g = 0; g < ng; g++) {
		int64_t acct = r->hits[first[g]].account_id;
		const char *name = r->hits[first[g]].account_name;
		json_t *grp = json_object(), *hits = json_array();
		/* NULL too for a name that is not valid UTF-8 */
		json_t *jname = name != NULL && *name != '\0' ?
		    json_string(name) : NULL;

		json_object_set_new(grp, "account_id", acct >= 0 ?
		    json_integer(acct) : json_null());
		json_object_set_new(grp, "account_name", jname != NULL ? jname :
		    json_null());
		for (size_t i = 0; i < r->count; i++) {
			const struct search_hit *h = &r->hits[i];
			json_t *hit;
			char sent[32];

			if (h->account_id != acct)
				continue;
			iso_time_buf(h->sent_at, sent);
			hit = json_pack("{s:I, s:s, s:i, s:f, s:s, s:s, s:s?, "
			    "s:s, s:s}", "rank", (json_int_t)(i + 1),
			    "message_key", h->message_key, "chunk_no",
			    (int)h->chunk_no, "score", h->score, "sent_at",
			    sent, "direction", h->direction, "contact",
			    *h->contact != '\0' ? h->contact : NULL,
			    "subject", h->subject, "text", h->body);
			/* NULL: invalid UTF-8 in a stored row */
			if (hit == NULL)
				continue;
			json_object_set_new(hit, "dense_rank", h->dense_rank ?
			    json_integer(h->dense_rank) : json_null());
			json_object_set_new(hit, "fts_rank", h->fts_rank ?
			    json_integer(h->fts_rank) : json_null());
			json_object_set_new(hit, "dense2_rank",
			    h->dense2_rank ? json_integer(h->dense2_rank) :
			    json_null());
			json_array_append_new(hits, hit);
		}
		json_object_set_new(grp, "results", hits);
		json_array_append_new(groups, grp);
	}
	json_object_set_new(root, "accounts", groups);
	free(first);
	return root;
}
