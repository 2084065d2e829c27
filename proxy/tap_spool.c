/* tap_spool.c - see tap_spool.h. */
#include "proxy/tap_spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xmalloc.h"

struct tap_spool {
	char *dir;
	unsigned slot;
	struct spool_limits limits;
	unsigned max;
	struct spool_writer *w[TAP_SPOOL_WRITERS_MAX];
	unsigned n;
	const char *error;
};

/* "w<slot>" itself is the worker's own writer (worker.c, the SMTP tap);
 * the IMAP tap's pool is "w<slot>-i<k>". */
static void
tap_spool_id(const struct tap_spool *p, unsigned k,
    char id[SPOOL_WRITER_ID_MAX + 1])
{
	snprintf(id, SPOOL_WRITER_ID_MAX + 1, "w%u-i%u", p->slot, k);
}

static struct spool_writer *
tap_spool_open(struct tap_spool *p, const char **errstr_r)
{
	char id[SPOOL_WRITER_ID_MAX + 1];
	struct spool_writer *w;

	tap_spool_id(p, p->n, id);
	w = spool_writer_open(p->dir, id, &p->limits, errstr_r);
	if (w == NULL)
		return NULL;
	p->w[p->n++] = w;
	if (spool_writer_stage_error(w) != NULL)
		log_warnx("capture: writer %s: no stage in %s (%s); it writes "
		    "its segments directly", id, p->limits.stage_dir,
		    spool_writer_stage_error(w));
	return w;
}

struct tap_spool *
tap_spool_new(const char *dir, unsigned slot,
    const struct spool_limits *limits, unsigned max_writers,
    const char **errstr_r)
{
	struct tap_spool *p = xcalloc(1, sizeof(*p));

	p->dir = xstrdup(dir);
	p->slot = slot;
	p->limits = *limits;
	p->max = max_writers == 0 ? 1 : max_writers > TAP_SPOOL_WRITERS_MAX ?
	    TAP_SPOOL_WRITERS_MAX : max_writers;
	if (tap_spool_open(p, errstr_r) == NULL) {
		tap_spool_free(&p);
		return NULL;
	}
	return p;
}

/* A staged writer's thread lost records after their commit: counted
 * already, said here (the relay's thread logs), at the writer's next
 * record or at its close. */
static void
tap_spool_tell_lost(const struct tap_spool *p, unsigned i, uint64_t lost)
{
	char id[SPOOL_WRITER_ID_MAX + 1];

	if (lost == 0)
		return;
	tap_spool_id(p, i, id);
	log_warnx("capture: writer %s: a write error lost %llu committed "
	    "record%s (counted in crm_proxy_spool_records_failed_total)", id,
	    (unsigned long long)lost, lost == 1 ? "" : "s");
}

void
tap_spool_free(struct tap_spool **pp)
{
	struct tap_spool *p = *pp;

	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->n; i++)
		tap_spool_tell_lost(p, i, spool_writer_close(&p->w[i]));
	free(p->dir);
	x_free(pp);
}

static void *
tap_spool_begin(void *arg, const char *topic, const void *key,
    size_t key_len, const struct spool_header *h, size_t n,
    enum spool_status *st_r)
{
	struct tap_spool *p = arg;
	struct spool_writer *w = NULL;
	const char *err = NULL;

	for (unsigned i = 0; i < p->n; i++) {
		tap_spool_tell_lost(p, i, spool_writer_take_lost(p->w[i]));
		if (w == NULL && !spool_record_is_open(p->w[i]))
			w = p->w[i];
	}
	if (w == NULL) {
		if (p->n == p->max) {
			*st_r = SPOOL_FULL;
			return NULL;
		}
		if ((w = tap_spool_open(p, &err)) == NULL) {
			p->error = err;
			*st_r = SPOOL_IO_ERROR;
			return NULL;
		}
	}
	*st_r = spool_record_begin(w, topic, key, key_len, h, n);
	return *st_r == SPOOL_OK ? w : NULL;
}

static enum spool_status
tap_spool_append(void *arg, void *rec, const void *data, size_t len)
{
	(void)arg;
	return spool_record_append(rec, data, len);
}

static enum spool_status
tap_spool_commit(void *arg, void *rec, const struct spool_header *h,
    size_t n)
{
	(void)arg;
	return spool_record_commit(rec, h, n);
}

static void
tap_spool_abort(void *arg, void *rec)
{
	(void)arg;
	spool_record_abort(rec);
}

const struct imap_tap_sink tap_spool_sink = {
	.begin = tap_spool_begin,
	.append = tap_spool_append,
	.commit = tap_spool_commit,
	.abort = tap_spool_abort,
};

bool
tap_spool_counters(const struct tap_spool *p, struct spool_counters *c_r)
{
	if (p == NULL || p->n == 0)
		return false;
	spool_writer_counters(p->w[0], c_r);
	return true;
}

const char *
tap_spool_take_error(struct tap_spool *p)
{
	const char *e = p->error;

	p->error = NULL;
	return e;
}
