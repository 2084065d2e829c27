/*
 * api_req.h - crm-api's request targets: the path and its query string,
 * parsed and checked before anything else looks at them (docs/api.md).
 *
 * Pure: no libevent, OpenSSL or libpq, so it links alone into the unit
 * test and the fuzz target.  Bounded: a target over API_TARGET_MAX bytes,
 * more than API_PARAMS_MAX parameters, a parameter twice, a name this
 * endpoint does not take, a malformed %-escape or a NUL are refused with
 * a message for the client, never guessed at.
 */
#ifndef CRM_API_REQ_H
#define CRM_API_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_TARGET_MAX 4096	/* request target: path and query */
#define API_QUERY_MAX 2048	/* bytes of search text, decoded */
#define API_LIMIT_MAX 100
#define API_LIMIT_DEFAULT 10

enum api_route {
	API_ROUTE_NONE,		/* 404 */
	API_ROUTE_HEALTH,	/* GET /v1/health */
	API_ROUTE_ACCOUNTS,	/* GET /v1/accounts */
	API_ROUTE_SEARCH,	/* GET /v1/search */
};

struct api_req {
	enum api_route route;
	unsigned limit;			/* 1..API_LIMIT_MAX */
	/* search */
	char q[API_QUERY_MAX + 1];	/* decoded, UTF-8, no control bytes */
	bool has_since, has_until;
	int64_t since, until;		/* Unix seconds */
	int64_t account;		/* -1: any */
	bool dates;			/* time phrases in q become a range */
};

/*
 * Parses target (len bytes: "/v1/search?q=...&since=30d") relative to
 * now.  Returns 0 with *r filled, or -1 with *errstr_r a static message
 * for a 400 answer; an unknown path is 0 with API_ROUTE_NONE.
 */
int api_req_parse(const char *target, size_t len, int64_t now,
    struct api_req *r, const char **errstr_r);

#endif
