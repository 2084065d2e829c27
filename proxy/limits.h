/*
 * limits.h - connection counts per client address and per user, shared by
 * every worker process.
 *
 * The parent maps one anonymous shared region before forking.  Each worker
 * writes only its own slice (no locks, no atomics on the write side) and a
 * check sums all slices; when a worker dies the parent zeroes its slice, so
 * a crash never leaks counts.  Keys are hashed (keyed with a per-start
 * random seed so clients cannot aim collisions) into LIMITS_BUCKETS buckets:
 * a collision can only make a limit stricter for two keys, never looser.
 * Two workers racing on the last free place may both take it: a limit can be
 * overshot by at most workers-1.
 */
#ifndef CRM_PROXY_LIMITS_H
#define CRM_PROXY_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#define LIMITS_SLOTS 32		/* worker slots (two generations of 16) */
#define LIMITS_BUCKETS 16384
#define LIMITS_LOAD_NONE UINT32_MAX	/* the slot does not accept */

enum limits_kind {
	LIMITS_IP,
	LIMITS_USER,
};

/* Parent, before forking: maps the region. Returns 0 or -1 (errno). */
int limits_init(void);
/* Parent: zero a dead worker's slice. */
void limits_slot_reset(unsigned slot);
/* Worker: which slice is ours. */
void limits_set_slot(unsigned slot);

/* Hash of a key ("192.0.2.1", "alice@example.com"); case-insensitive. */
uint32_t limits_hash(const char *key);
/* Takes one place for key if fewer than max are taken; true on success. */
bool limits_acquire(enum limits_kind kind, uint32_t hash, unsigned max);
void limits_release(enum limits_kind kind, uint32_t hash);

/*
 * Worker load, for spreading connections over the workers (worker.c).
 * Every accepting worker publishes how many sessions it serves in its own
 * slot; a slot that does not accept (free, draining, dead) holds
 * LIMITS_LOAD_NONE, which limits_init() and limits_slot_reset() set.
 */
void limits_load_publish(uint32_t sessions);
/* True when another accepting worker serves fewer than `sessions`. */
bool limits_load_peer_lighter(uint32_t sessions);

#endif
