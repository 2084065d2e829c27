/*
 * api_rate.c - token buckets per API token (api_rate.h).
 *
 * The table is searched linearly: crm-api answers a few hundred requests
 * a second at most, and the default table has 256 slots.  Not locked:
 * crm-api's workers share one table behind their own mutex.
 */
#include "api/api_rate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

/*
 * N requests every SECS seconds, counted in ticks: one request is SECS *
 * 1000 ticks and a millisecond refills N of them, so refills and waits
 * are exact integers at any rate.
 */
struct bucket {
	char key[API_RATE_KEY_MAX + 1];
	uint64_t tokens;	/* ticks, 0..burst */
	uint64_t last_ms;	/* last refill, and last use */
	int used;
};

struct api_rate {
	uint64_t per_ms;	/* ticks refilled a ms: N */
	uint64_t cost;		/* ticks a request takes: SECS * 1000 */
	uint64_t burst;		/* ticks */
	size_t nslots;
	struct bucket *slots;
};

struct api_rate *
api_rate_new(unsigned n, unsigned secs, unsigned burst, size_t slots)
{
	struct api_rate *r;

	if (n < 1 || n > API_RATE_N_MAX || (secs != 1 && secs != 60 &&
	    secs != 3600) || burst < 1 || burst > API_BURST_MAX || slots < 1)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->per_ms = n;
	r->cost = (uint64_t)secs * 1000;
	r->burst = (uint64_t)burst * r->cost;
	r->nslots = slots;
	r->slots = xcalloc(slots, sizeof(*r->slots));
	return r;
}

void
api_rate_free(struct api_rate **rp)
{
	if (*rp == NULL)
		return;
	free((*rp)->slots);
	x_free(rp);
}

/* KEY's bucket; a new full one (in a free slot, or in place of the one
 * used longest ago) when it has none. */
static struct bucket *
bucket_for(struct api_rate *r, const char *key, uint64_t now_ms)
{
	struct bucket *free_b = NULL, *oldest = NULL;

	for (size_t i = 0; i < r->nslots; i++) {
		struct bucket *b = &r->slots[i];

		if (!b->used) {
			if (free_b == NULL)
				free_b = b;
			continue;
		}
		if (strcmp(b->key, key) == 0)
			return b;
		if (oldest == NULL || b->last_ms < oldest->last_ms)
			oldest = b;
	}
	if (free_b == NULL)
		free_b = oldest;
	memset(free_b, 0, sizeof(*free_b));
	memcpy(free_b->key, key, strlen(key));
	free_b->tokens = r->burst;
	free_b->last_ms = now_ms;
	free_b->used = 1;
	return free_b;
}

uint64_t
api_rate_take(struct api_rate *r, const char *key, uint64_t now_ms)
{
	char k[API_RATE_KEY_MAX + 1];
	size_t len = strnlen(key, API_RATE_KEY_MAX);
	struct bucket *b;

	memcpy(k, key, len);
	k[len] = '\0';
	b = bucket_for(r, k, now_ms);
	if (now_ms > b->last_ms) {
		uint64_t ms = now_ms - b->last_ms;

		/* a pause long enough to fill any bucket */
		if (ms >= (r->burst + r->per_ms - 1) / r->per_ms)
			b->tokens = r->burst;
		else if ((b->tokens += ms * r->per_ms) > r->burst)
			b->tokens = r->burst;
		b->last_ms = now_ms;
	}
	if (b->tokens >= r->cost) {
		b->tokens -= r->cost;
		return 0;
	}
	return (r->cost - b->tokens + r->per_ms - 1) / r->per_ms; /* >= 1 */
}

int
api_rate_parse(const char *s, unsigned *n_r, unsigned *secs_r, char *err,
    size_t errlen)
{
	static const struct {
		const char *unit;
		unsigned secs;
	} units[] = { { "", 1 }, { "/s", 1 }, { "/min", 60 }, { "/h", 3600 } };
	unsigned n = 0;
	size_t i = 0;

	while (s[i] >= '0' && s[i] <= '9' && n <= API_RATE_N_MAX)
		n = n * 10 + (unsigned)(s[i++] - '0');
	if (i > 0 && n > API_RATE_N_MAX) {
		snprintf(err, errlen, "rate %s: at most %d requests a period",
		    s, API_RATE_N_MAX);
		return -1;
	}
	for (size_t u = 0; i > 0 && u < sizeof(units) / sizeof(units[0]);
	    u++) {
		if (strcmp(s + i, units[u].unit) != 0)
			continue;
		*n_r = n;
		*secs_r = units[u].secs;
		return 0;
	}
	snprintf(err, errlen, "rate %s: not N, N/s, N/min or N/h (0: no "
	    "limit)", s);
	return -1;
}

size_t
api_rate_used(const struct api_rate *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nslots; i++)
		n += r->slots[i].used != 0;
	return n;
}
