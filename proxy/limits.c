/* limits.c - see limits.h. */
#include "proxy/limits.h"

#include <ctype.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/random.h>

struct limits_region {
	uint64_t seed;
	uint32_t load[LIMITS_SLOTS];
	uint32_t counts[LIMITS_SLOTS][2][LIMITS_BUCKETS];
};

static struct limits_region *limits;
static unsigned limits_slot;

int
limits_init(void)
{
	void *p = mmap(NULL, sizeof(*limits), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	limits = p;
	if (getrandom(&limits->seed, sizeof(limits->seed), 0) !=
	    sizeof(limits->seed))
		limits->seed = (uint64_t)(uintptr_t)p ^ 0x9e3779b97f4a7c15ULL;
	for (unsigned s = 0; s < LIMITS_SLOTS; s++)
		limits->load[s] = LIMITS_LOAD_NONE;
	return 0;
}

void
limits_slot_reset(unsigned slot)
{
	if (limits == NULL || slot >= LIMITS_SLOTS)
		return;
	__atomic_store_n(&limits->load[slot], LIMITS_LOAD_NONE,
	    __ATOMIC_RELAXED);
	for (unsigned k = 0; k < 2; k++)
		for (unsigned b = 0; b < LIMITS_BUCKETS; b++)
			__atomic_store_n(&limits->counts[slot][k][b], 0,
			    __ATOMIC_RELAXED);
}

void
limits_set_slot(unsigned slot)
{
	limits_slot = slot;
}

uint32_t
limits_hash(const char *key)
{
	/* FNV-1a over the lower-cased key, seeded. */
	uint64_t h = 0xcbf29ce484222325ULL ^ (limits ? limits->seed : 0);

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= (uint64_t)tolower(*p);
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	return (uint32_t)(h % LIMITS_BUCKETS);
}

bool
limits_acquire(enum limits_kind kind, uint32_t hash, unsigned max)
{
	uint64_t total = 0;

	if (limits == NULL)
		return true;
	for (unsigned s = 0; s < LIMITS_SLOTS; s++)
		total += __atomic_load_n(&limits->counts[s][kind][hash],
		    __ATOMIC_RELAXED);
	if (total >= max)
		return false;
	__atomic_add_fetch(&limits->counts[limits_slot][kind][hash], 1,
	    __ATOMIC_RELAXED);
	return true;
}

void
limits_release(enum limits_kind kind, uint32_t hash)
{
	uint32_t *c;

	if (limits == NULL)
		return;
	c = &limits->counts[limits_slot][kind][hash];
	if (__atomic_load_n(c, __ATOMIC_RELAXED) > 0)
		__atomic_sub_fetch(c, 1, __ATOMIC_RELAXED);
}

void
limits_load_publish(uint32_t sessions)
{
	if (limits != NULL)
		__atomic_store_n(&limits->load[limits_slot], sessions,
		    __ATOMIC_RELAXED);
}

bool
limits_load_peer_lighter(uint32_t sessions)
{
	if (limits == NULL)
		return false;
	for (unsigned s = 0; s < LIMITS_SLOTS; s++) {
		if (s != limits_slot && __atomic_load_n(&limits->load[s],
		    __ATOMIC_RELAXED) < sessions)
			return true;
	}
	return false;
}
