/*
 * api_rate.h - crm-api's request rate per token: a token bucket for each
 * token seen lately (docs/api.md, "Rate limits").
 *
 * A bucket holds up to BURST requests and refills at RATE a second; a
 * request takes one or is refused with the time until one is there.  The
 * table has a fixed number of slots: when it is full, the bucket used
 * longest ago is forgotten (it starts full when its token comes back), so
 * memory is bounded whatever the number of tokens.
 *
 * Pure: no clock, no I/O (the caller passes the time), so it links alone
 * into its unit test.
 */
#ifndef CRM_API_RATE_H
#define CRM_API_RATE_H

#include <stddef.h>
#include <stdint.h>

#define API_RATE_KEY_MAX 383	/* "tenant/name": 255 + 1 + 127 */
#define API_RATE_N_MAX 100000	/* requests per period */
#define API_BURST_MAX 100000

struct api_rate;

/* N (1..API_RATE_N_MAX) requests every SECS (1, 60 or 3600) seconds,
 * bursts of BURST (1..API_BURST_MAX), SLOTS >= 1 buckets; NULL when out
 * of bounds. */
struct api_rate *api_rate_new(unsigned n, unsigned secs, unsigned burst,
    size_t slots);
void api_rate_free(struct api_rate **rp);

/*
 * One request for KEY at NOW_MS (a monotonic clock).  0 when it may go
 * on; otherwise the milliseconds until the bucket holds a request again
 * (at least 1).  A key longer than API_RATE_KEY_MAX is cut there.
 */
uint64_t api_rate_take(struct api_rate *r, const char *key, uint64_t now_ms);

/*
 * A rate as configured: "0" (no limit), "N" or "N/s" a second, "N/min",
 * "N/h"; N a whole number up to API_RATE_N_MAX.  0 with *N and *SECS set
 * (*N 0: no limit), or -1 with a message in ERR (ERRLEN bytes).
 */
int api_rate_parse(const char *s, unsigned *n, unsigned *secs, char *err,
    size_t errlen);

/* Buckets in use (for tests). */
size_t api_rate_used(const struct api_rate *r);

#endif
