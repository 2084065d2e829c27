/*
 * tap_spool.h - the spool as an imap_tap sink: a small pool of spool
 * writers per worker process.
 *
 * A spool writer holds one open record at a time, while a worker relays
 * many sessions and a session may stream a FETCHed message while an APPEND
 * waits for its answer.  So each open record takes a writer of its own
 * from the pool, and gives it back at commit or abort.  Writer ids are
 * "w<slot>-i<k>" (k = 0, 1, ...; "w<slot>" itself is the worker's own
 * writer, used by the SMTP tap), so a restarted worker takes up its own ids
 * again (docs/spool.md: one live process per id, enforced by a lock).
 * Writers are opened on first need and stay open until the pool is freed.
 * Pure code over spool.h: no event loop, never logs.
 */
#ifndef CRM_TAP_SPOOL_H
#define CRM_TAP_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "capture/spool.h"
#include "proxy/imap_tap.h"

#define TAP_SPOOL_WRITERS_MAX 64

struct tap_spool;

/* A pool for worker slot `slot` on directory dir, at most max_writers
 * (1..TAP_SPOOL_WRITERS_MAX) writers.  Opens the first writer now so a
 * bad directory shows at start: returns NULL with *errstr_r then. */
struct tap_spool *tap_spool_new(const char *dir, unsigned slot,
    const struct spool_limits *limits, unsigned max_writers,
    const char **errstr_r);

/* Seals and closes every writer (open records are aborted). */
void tap_spool_free(struct tap_spool **pp);

/* The sink operations; pass the pool as sink_arg. */
extern const struct imap_tap_sink tap_spool_sink;

/* Bytes in the spool directory (shared counters) and counter snapshot;
 * false when no writer is open. */
bool tap_spool_counters(const struct tap_spool *p,
    struct spool_counters *c_r);

/* The last writer-open failure, for the daemon's log (static string, or
 * NULL); reading it clears it. */
const char *tap_spool_take_error(struct tap_spool *p);

#endif
