/*
 * shipper.c - see shipper.h.
 *
 * The invariant everything here protects: an offset is saved as
 * acknowledged only when every record before it was acknowledged by Kafka
 * (acks=all) or was never a record (aborted, corrupt, torn).  Records are
 * acknowledged out of order, so each segment keeps its in-flight records
 * in file order and the saved offset is the start of the oldest one not
 * yet acknowledged.  A failed delivery rewinds the segment to that record:
 * records after it that did arrive are sent again, which at-least-once
 * allows and the idempotency key makes harmless.
 */
#include "capture/shipper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture/event.h"
#include "capture/producer.h"
#include "capture/spool.h"
#include "lib/clock_ms.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define SHIP_ACKS_FILE "crm-capture.acks"
#define SHIP_ACKS_MAGIC "crm-capture acks 1"
#define SHIP_ACKS_MAX 100000
#define SHIP_NAME_MAX 64
#define SHIP_PROBE_MS 500
#define SHIP_BACKOFF_MIN_MS 500
#define SHIP_BACKOFF_MAX_MS 30000
#define SHIP_BATCH_MAX 1000	/* records read per segment per pass */

struct seg;

struct inflight {
	struct seg *seg;
	uint64_t start, end;
	uint64_t begin_ms;
	size_t bytes;
	bool done, failed;
	struct inflight *next;
};

struct seg {
	char name[SHIP_NAME_MAX];
	char writer[SPOOL_WRITER_ID_MAX + 1];
	uint64_t seq;
	uint64_t nonce;
	struct spool_reader *r;
	uint64_t synced;	/* bytes known fdatasynced */
	bool present;		/* seen by the last scan */
	bool final;		/* will not grow */
	bool ended;		/* read to its end */
	bool failing;		/* a delivery failed: rewind when quiet */
	bool fail_logged;
	unsigned pending;	/* handed to Kafka, not reported */
	unsigned backoff_ms;
	uint64_t retry_at;
	struct inflight *head, *tail;
	struct spool_reader_stats counted;
	struct seg *next;
};

struct saved_ack {
	char name[SHIP_NAME_MAX];
	uint64_t nonce;
	uint64_t offset;
};

struct shipper {
	const struct capture_conf *conf;
	struct producer *prod;
	struct spool_shm *shm;
	int dirfd;
	struct seg *segs;
	struct saved_ack *saved;
	size_t nsaved;
	bool dirty;
	bool draining;
	uint64_t last_save;
	uint64_t last_probe;
	struct shipper_stats st;
};

/* The delivery callback has no other way back to us. */
static struct shipper *ship_self;

static uint64_t
seg_ack(const struct seg *g, const struct saved_ack *saved)
{
	if (g->head != NULL)
		return g->head->start;
	if (g->r != NULL)
		return spool_reader_position(g->r);
	return saved != NULL ? saved->offset : 0;
}

static struct saved_ack *
ship_saved_find(struct shipper *s, const char *name)
{
	for (size_t i = 0; i < s->nsaved; i++)
		if (strcmp(s->saved[i].name, name) == 0)
			return &s->saved[i];
	return NULL;
}

/* ---- the acknowledgement file ---------------------------------------- */

static void
ship_load_acks(struct shipper *s)
{
	char line[256], w[SPOOL_WRITER_ID_MAX + 1];
	FILE *f;
	int fd = openat(s->dirfd, SHIP_ACKS_FILE, O_RDONLY | O_CLOEXEC);
	size_t n = 0, want = SIZE_MAX;
	bool ok = false;

	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("%s/%s", s->conf->spool_dir, SHIP_ACKS_FILE);
		return;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return;
	}
	s->saved = xreallocarray(NULL, SHIP_ACKS_MAX, sizeof(*s->saved));
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, SHIP_ACKS_MAGIC "\n") != 0)
		goto done;
	while (fgets(line, sizeof(line), f) != NULL) {
		char name[SHIP_NAME_MAX], *e1, *e2;
		unsigned long long nonce, off;
		uint64_t seq;
		char *sp = strchr(line, ' ');

		if (strncmp(line, "end ", 4) == 0) {
			want = strtoull(line + 4, NULL, 10);
			ok = want == n;
			break;
		}
		if (sp == NULL || (size_t)(sp - line) >= sizeof(name) ||
		    n == SHIP_ACKS_MAX)
			goto done;
		memcpy(name, line, (size_t)(sp - line));
		name[sp - line] = '\0';
		nonce = strtoull(sp + 1, &e1, 16);
		if (*e1 != ' ')
			goto done;
		off = strtoull(e1 + 1, &e2, 10);
		if (*e2 != '\n' || !spool_segment_name_parse(name, w, &seq))
			goto done;
		memcpy(s->saved[n].name, name, sizeof(name));
		s->saved[n].nonce = nonce;
		s->saved[n].offset = off;
		n++;
	}
done:
	fclose(f);
	if (!ok) {
		/* Starting from zero re-sends; guessing could lose. */
		log_warnx("%s/%s is damaged; shipping every segment from "
		    "its start (duplicates carry the same idempotency key)",
		    s->conf->spool_dir, SHIP_ACKS_FILE);
		n = 0;
	}
	s->nsaved = n;
	log_info("resuming: %zu saved segment offsets", n);
}

static int
ship_save_acks(struct shipper *s)
{
	char tmp[] = SHIP_ACKS_FILE ".tmp";
	FILE *f;
	size_t n = 0;
	int fd;

	fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0640);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		log_warn("%s/%s", s->conf->spool_dir, tmp);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "%s\n", SHIP_ACKS_MAGIC);
	for (struct seg *g = s->segs; g != NULL; g = g->next) {
		struct saved_ack *sa = g->r == NULL ?
		    ship_saved_find(s, g->name) : NULL;

		if (g->r == NULL && sa == NULL)
			continue;
		fprintf(f, "%s %016" PRIx64 " %" PRIu64 "\n", g->name,
		    g->r != NULL ? g->nonce : sa->nonce, seg_ack(g, sa));
		n++;
	}
	fprintf(f, "end %zu\n", n);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		log_warn("%s/%s", s->conf->spool_dir, tmp);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* rename + directory fsync: the old file or the new one, whole. */
	if (renameat(s->dirfd, tmp, s->dirfd, SHIP_ACKS_FILE) != 0 ||
	    fsync(s->dirfd) != 0) {
		log_warn("%s/%s", s->conf->spool_dir, SHIP_ACKS_FILE);
		return -1;
	}
	s->dirty = false;
	s->last_save = mono_ms();
	return 0;
}

/* ---- segments ------------------------------------------------------- */

static void
seg_account(struct shipper *s, struct seg *g)
{
	const struct spool_reader_stats *rs;

	if (g->r == NULL)
		return;
	rs = spool_reader_stats(g->r);
	if (rs->corrupt > g->counted.corrupt || rs->torn > g->counted.torn)
		log_warnx("segment %s: %" PRIu64 " corrupt record(s) "
		    "(%" PRIu64 " bytes) and %" PRIu64 " torn tail(s) "
		    "(%" PRIu64 " bytes) skipped so far", g->name,
		    rs->corrupt, rs->corrupt_bytes, rs->torn, rs->torn_bytes);
	s->st.records_aborted += rs->aborted - g->counted.aborted;
	s->st.records_corrupt += rs->corrupt - g->counted.corrupt;
	s->st.corrupt_bytes += rs->corrupt_bytes - g->counted.corrupt_bytes;
	s->st.records_torn += rs->torn - g->counted.torn;
	s->st.torn_bytes += rs->torn_bytes - g->counted.torn_bytes;
	g->counted = *rs;
}

static void
seg_drop_queue(struct seg *g)
{
	while (g->head != NULL) {
		struct inflight *f = g->head;

		g->head = f->next;
		free(f);
	}
	g->tail = NULL;
}

static void
ship_remove(struct shipper *s, struct seg *g, bool unlink_file)
{
	struct seg **pp;
	struct stat st;

	if (unlink_file) {
		if (g->r != NULL && fstat(spool_reader_fd(g->r), &st) == 0 &&
		    unlinkat(s->dirfd, g->name, 0) == 0) {
			spool_shm_release(s->shm, (uint64_t)st.st_size);
			s->st.segments_deleted++;
			log_debug("segment %s shipped and deleted", g->name);
		} else {
			log_warn("cannot delete segment %s", g->name);
		}
	}
	for (pp = &s->segs; *pp != g; pp = &(*pp)->next)
		;
	*pp = g->next;
	seg_drop_queue(g);
	spool_reader_close(&g->r);
	free(g);
	s->dirty = true;
}

static bool
ship_writer_gone(struct shipper *s, const char *writer)
{
	char path[SPOOL_WRITER_ID_MAX + 8];
	int fd;
	bool gone;

	snprintf(path, sizeof(path), "%s.lock", writer);
	if ((fd = openat(s->dirfd, path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT;
	/* The writer holds LOCK_EX for its lifetime.  Closing the fd drops
	 * our shared lock at once, so a writer starting now only waits a
	 * moment (spool_writer_open retries). */
	gone = flock(fd, LOCK_SH | LOCK_NB) == 0;
	close(fd);
	if (gone) {
		/* A staged writer killed before its thread caught up: its
		 * last records are still in the stage (docs/spool.md). */
		int rc = spool_writer_recover(s->conf->spool_dir, writer);

		if (rc < 0)
			log_warn("writer %s: cannot write out its stage; its "
			    "segment waits", writer);
		if (rc == 2)
			log_info("writer %s: gone; wrote out what its stage "
			    "held", writer);
		if (rc == 0 || rc == 2)
			return true;
		gone = false;
	}
	return gone;
}

static void
ship_scan(struct shipper *s)
{
	char w[SPOOL_WRITER_ID_MAX + 1];
	struct dirent *de;
	uint64_t seq, now = mono_ms();
	bool probe = now - s->last_probe >= SHIP_PROBE_MS;
	DIR *d;
	int fd;

	if ((fd = dup(s->dirfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		log_warn("%s", s->conf->spool_dir);
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	for (struct seg *g = s->segs; g != NULL; g = g->next)
		g->present = false;
	while ((de = readdir(d)) != NULL) {
		struct seg *g, **pp;

		if (!spool_segment_name_parse(de->d_name, w, &seq) ||
		    strlen(de->d_name) >= SHIP_NAME_MAX)
			continue;
		for (pp = &s->segs; *pp != NULL &&
		    strcmp((*pp)->name, de->d_name) < 0; pp = &(*pp)->next)
			;
		if (*pp != NULL && strcmp((*pp)->name, de->d_name) == 0) {
			(*pp)->present = true;
			continue;
		}
		g = xcalloc(1, sizeof(*g));
		memcpy(g->name, de->d_name, strlen(de->d_name) + 1);
		memcpy(g->writer, w, strlen(w) + 1);
		g->seq = seq;
		g->present = true;
		g->next = *pp;
		*pp = g;
	}
	closedir(d);
	/* Names sort by writer then sequence: all but a writer's newest
	 * segment are final; the newest is final once sealed or once its
	 * writer's lock is free. */
	for (struct seg *g = s->segs, *next; g != NULL; g = next) {
		next = g->next;
		if (!g->present) {
			if (g->pending == 0) {
				log_warnx("segment %s vanished", g->name);
				ship_remove(s, g, false);
			}
			continue;
		}
		if (next != NULL && strcmp(next->writer, g->writer) == 0)
			g->final = true;
		else if (!g->final && probe && ship_writer_gone(s, g->writer))
			g->final = true;
	}
	if (probe)
		s->last_probe = now;
}

static bool
seg_open(struct shipper *s, struct seg *g)
{
	struct saved_ack *sa = ship_saved_find(s, g->name);
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", s->conf->spool_dir, g->name);
	if ((g->r = spool_reader_open(path, 0, &g->nonce)) == NULL) {
		if (errno == EAGAIN && g->final) {
			/* Created, then its writer died before the header:
			 * nothing in it. */
			if (unlinkat(s->dirfd, g->name, 0) == 0)
				log_info("removed empty segment %s", g->name);
		} else if (errno != EAGAIN) {
			log_warn("segment %s", g->name);
		}
		return false;
	}
	if (sa != NULL && sa->nonce == g->nonce) {
		spool_reader_seek(g->r, sa->offset);
		log_debug("segment %s: resuming at %" PRIu64, g->name,
		    sa->offset);
	}
	return true;
}

/* ---- shipping --------------------------------------------------------- */

static void
ship_delivered(void *opaque, bool ok, const char *errstr)
{
	struct inflight *f = opaque;
	struct seg *g = f->seg;
	struct shipper *s = ship_self;

	g->pending--;
	s->st.inflight_records--;
	s->st.inflight_bytes -= f->bytes;
	if (ok) {
		f->done = true;
		s->st.records_acked++;
		spool_shm_acked(s->shm, 1);
		g->fail_logged = false;
		g->backoff_ms = 0;
	} else {
		f->failed = true;
		g->failing = true;
		s->st.delivery_failures++;
		if (!g->fail_logged) {
			log_warnx("segment %s: delivery of the record at %"
			    PRIu64 " failed: %s; it stays in the spool and "
			    "is retried", g->name, f->start, errstr);
			g->fail_logged = true;
		}
	}
	while (g->head != NULL && g->head->done) {
		struct inflight *h = g->head;

		g->head = h->next;
		if (g->head == NULL)
			g->tail = NULL;
		free(h);
		s->dirty = true;
	}
}

static void
ship_send(struct shipper *s, struct seg *g, struct spool_record *rec)
{
	char idkey[EVENT_IDKEY_LEN + 1];
	const char *key = NULL, *errstr = NULL;
	struct inflight *f = xcalloc(1, sizeof(*f));
	size_t len;

	f->seg = g;
	f->start = rec->offset;
	f->end = rec->end;
	f->begin_ms = rec->begin_ms;
	f->bytes = rec->payload_len;
	if (event_header_find(rec->headers, rec->nheaders, "idempotency-key",
	    &len) == NULL) {
		const char *t = event_header_find(rec->headers,
		    rec->nheaders, "tenant", &len);

		if (t != NULL && len > 0 && event_idkey_for_message(t,
		    rec->payload, rec->payload_len, idkey) == 0)
			key = idkey;
	}
	if (g->tail != NULL)
		g->tail->next = f;
	else
		g->head = f;
	g->tail = f;
	g->pending++;
	s->st.inflight_records++;
	s->st.inflight_bytes += f->bytes;
	for (;;) {
		switch (producer_send(s->prod, rec, key, f, &errstr)) {
		case PRODUCER_SENT:
			s->st.records_published++;
			return;
		case PRODUCER_QUEUE_FULL:
			producer_poll(s->prod, 10);
			continue;
		case PRODUCER_REJECTED:
			ship_delivered(f, false, errstr);
			return;
		}
	}
}

static void
ship_segment(struct shipper *s, struct seg *g, uint64_t now)
{
	struct spool_record rec;
	struct stat st;
	unsigned n = 0;

	if (g->r == NULL && !seg_open(s, g))
		return;
	if (g->failing) {
		if (g->pending > 0 || now < g->retry_at)
			return;
		if (g->retry_at == 0) {
			g->backoff_ms = g->backoff_ms == 0 ?
			    SHIP_BACKOFF_MIN_MS : g->backoff_ms * 2;
			if (g->backoff_ms > SHIP_BACKOFF_MAX_MS)
				g->backoff_ms = SHIP_BACKOFF_MAX_MS;
			g->retry_at = now + g->backoff_ms;
			return;
		}
		spool_reader_seek(g->r, g->head != NULL ? g->head->start :
		    spool_reader_position(g->r));
		seg_drop_queue(g);
		g->failing = false;
		g->ended = false;
		g->retry_at = 0;
	}
	if (g->ended)
		return;
	/* Group commit: one fdatasync covers everything every writer
	 * appended to this segment since the last pass. */
	if (s->conf->fsync && fstat(spool_reader_fd(g->r), &st) == 0 &&
	    (uint64_t)st.st_size > g->synced) {
		if (fdatasync(spool_reader_fd(g->r)) != 0)
			log_warn("fdatasync %s", g->name);
		else
			g->synced = (uint64_t)st.st_size;
	}
	memset(&rec, 0, sizeof(rec));
	while (!s->draining && n < SHIP_BATCH_MAX &&
	    s->st.inflight_bytes < s->conf->inflight_max_bytes &&
	    s->st.inflight_records < s->conf->inflight_max_records) {
		enum spool_read_result rr = spool_reader_next(g->r, g->final,
		    &rec);

		if (rr == SPOOL_READ_RECORD) {
			s->st.records_read++;
			ship_send(s, g, &rec);
			spool_record_clear(&rec);
			n++;
			continue;
		}
		if (rr == SPOOL_READ_END) {
			g->ended = true;
			g->final = true;
			s->dirty = true;
		} else if (rr == SPOOL_READ_ERROR) {
			log_warn("reading segment %s", g->name);
		}
		break;
	}
	spool_record_clear(&rec);
	seg_account(s, g);
}

int
shipper_run(struct shipper *s, int wait_ms)
{
	uint64_t now = mono_ms();

	if (!s->draining) {
		ship_scan(s);
		for (struct seg *g = s->segs; g != NULL; g = g->next)
			ship_segment(s, g, now);
	}
	producer_poll(s->prod, wait_ms);
	for (struct seg *g = s->segs, *next; g != NULL; g = next) {
		next = g->next;
		if (g->final && g->ended && g->head == NULL &&
		    g->pending == 0 && !g->failing)
			ship_remove(s, g, true);
	}
	if (s->dirty && mono_ms() - s->last_save >=
	    s->conf->ack_interval_ms)
		(void)ship_save_acks(s);
	if (producer_fatal(s->prod) != NULL) {
		(void)ship_save_acks(s);
		return -1;
	}
	return 0;
}

int
shipper_drain(struct shipper *s, unsigned timeout_s)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_s * 1000;

	s->draining = true;
	while (s->st.inflight_records > 0 && mono_ms() < deadline &&
	    producer_fatal(s->prod) == NULL)
		producer_poll(s->prod, 100);
	(void)ship_save_acks(s);
	return (int)s->st.inflight_records;
}

/* ---- set-up ----------------------------------------------------------- */

static uint64_t
ship_disk_usage(struct shipper *s)
{
	char w[SPOOL_WRITER_ID_MAX + 1];
	struct dirent *de;
	struct stat st;
	uint64_t sum = 0, seq;
	DIR *d = opendir(s->conf->spool_dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (spool_segment_name_parse(de->d_name, w, &seq) &&
		    fstatat(s->dirfd, de->d_name, &st, 0) == 0)
			sum += (uint64_t)st.st_size;
	closedir(d);
	return sum;
}

struct shipper *
shipper_new(const struct capture_conf *conf, char *err)
{
	struct shipper *s = xcalloc(1, sizeof(*s));

	s->conf = conf;
	s->dirfd = -1;
	if (mkdir(conf->spool_dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, CONF_ERR_MAX, "%s: %s", conf->spool_dir,
		    strerror(errno));
		goto fail;
	}
	if ((s->dirfd = open(conf->spool_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0 || (s->shm = spool_shm_open(conf->spool_dir)) ==
	    NULL) {
		snprintf(err, CONF_ERR_MAX, "%s: %s", conf->spool_dir,
		    strerror(errno));
		goto fail;
	}
	if ((s->prod = producer_new(conf, ship_delivered, err)) == NULL)
		goto fail;
	ship_self = s;
	spool_shm_reconcile(s->shm, ship_disk_usage(s));
	ship_load_acks(s);
	return s;
fail:
	shipper_free(&s);
	return NULL;
}

void
shipper_stats(struct shipper *s, struct shipper_stats *st_r)
{
	struct spool_counters c;

	s->st.segments = 0;
	s->st.oldest_unacked_ms = 0;
	for (struct seg *g = s->segs; g != NULL; g = g->next) {
		s->st.segments++;
		if (g->head != NULL && (s->st.oldest_unacked_ms == 0 ||
		    g->head->begin_ms < s->st.oldest_unacked_ms))
			s->st.oldest_unacked_ms = g->head->begin_ms;
	}
	spool_shm_counters(s->shm, &c);
	s->st.spool_bytes = c.bytes_written > c.bytes_released ?
	    c.bytes_written - c.bytes_released : 0;
	s->st.spooled_total = c.records_committed;
	s->st.dropped_total = c.records_dropped;
	s->st.write_failed_total = c.records_failed;
	s->st.acked_total = c.records_acked;
	*st_r = s->st;
}

void
shipper_free(struct shipper **sp)
{
	struct shipper *s = *sp;

	if (s == NULL)
		return;
	/* The producer first: its destructor may still report. */
	producer_free(&s->prod);
	while (s->segs != NULL)
		ship_remove(s, s->segs, false);
	spool_shm_close(&s->shm);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->saved);
	if (ship_self == s)
		ship_self = NULL;
	x_free(sp);
}
