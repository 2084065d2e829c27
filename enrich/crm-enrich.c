/*
 * crm-enrich.c - consumes crm.mail.v1 / crm.calendar.v1 and writes
 * PostgreSQL.  A plain consume -> process -> commit loop (STYLE 2).
 *
 * Batches: the record a poll returns plus the records already fetched
 * behind it (up to batch_records), written with one transaction per
 * tenant (enrich_process_batch()).  Under a backlog that saves most of
 * the per-record round trips; a quiet stream still goes one record at a
 * time, without waiting.
 *
 * Delivery: at-least-once in, effectively-once in the database.  Offsets
 * are stored (enable.auto.offset.store=false) only after every record of
 * the batch took effect: its transaction committed, or (poison) the
 * dead-letter topic acknowledged it; stored offsets are committed every
 * commit_interval_ms, synchronously when partitions are revoked and at
 * shutdown.  A crash between a database commit and the next offset commit
 * replays a few records, which the idempotent writes turn into no-ops.
 *
 * Order: records of one tenant are written in the order they were
 * polled, so one mailbox's records (one key, one partition) keep their
 * order.  A transient database error retries the same batch with
 * exponential back-off; meanwhile the assigned partitions are paused and
 * the consumer keeps polling, so the group membership stays alive and
 * nothing behind the batch overtakes it.
 *
 *   SIGTERM, SIGINT  finish the current batch, commit offsets, leave
 *                    the group, exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enrich/enrich.h"
#include "enrich/enrich_conf.h"
#include "lib/clock_ms.h"
#include "lib/kafka.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define DEFAULT_CONFIG "/etc/crm-proxy/crm-enrich.conf"
#define VERSION "0.1.0"
/* A 64 MiB message plus headers and framing (docs/events.md). */
#define FETCH_MAX_BYTES "70000000"
/* A batch stops growing past this many payload bytes. */
#define BATCH_BYTES_MAX (16u * 1024 * 1024)

static volatile sig_atomic_t enrich_stop;

struct enrich_daemon {
	struct enrich_conf *conf;
	struct enrich_store *store;
	rd_kafka_t *rk;		/* consumer */
	rd_kafka_t *dlq;	/* dead-letter producer */
	rd_kafka_resp_err_t dlq_err;
	int dlq_pending;
	struct kafka_offsets offsets;	/* stored, not yet committed */
	uint64_t n_done, n_dup, n_ignored, n_dead, n_retries;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-enrich [-c FILE] [-d] [--check] [--help] [--version]\n"
	    "\n"
	    "Consumes captured mail and calendar events from Kafka and writes\n"
	    "accounts, contacts, threads, messages and meetings to PostgreSQL.\n"
	    "\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -d, --debug        log at debug level, whatever the file says\n"
	    "      --check        validate the configuration, then exit\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      print the version\n"
	    "\n"
	    "Signals: TERM and INT finish the current batch, commit offsets "
	    "and\nleave the consumer group.  See man crm-enrich(8).\n",
	    DEFAULT_CONFIG);
}

static void
on_signal(int sig)
{
	(void)sig;
	enrich_stop = 1;
}

static void
dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct enrich_daemon *d = opaque;

	(void)rk;
	d->dlq_pending--;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		d->dlq_err = m->err;
}

static void
kafka_setup(struct enrich_daemon *d)
{
	struct enrich_conf *c = d->conf;
	char err[CONF_ERR_MAX];

	/* read_committed: only committed transactional records (crm-capture
	 * does not use transactions today; this keeps it safe if it ever
	 * does). */
	if ((d->rk = kafka_consumer_new(&c->kafka, "crm-enrich",
	    FETCH_MAX_BYTES, &d->offsets, c->topics, c->ntopics, err)) ==
	    NULL ||
	    (d->dlq = kafka_side_producer_new(&c->kafka,
	    "crm-enrich-deadletter", FETCH_MAX_BYTES, dlq_dr_cb, d, err)) ==
	    NULL)
		fatalx("%s", err);
}

/* Sleeps ms while keeping the group membership alive: partitions are
 * paused, so any record that still arrives is pushed back by a seek. */
static void
idle_poll(struct enrich_daemon *d, unsigned ms)
{
	uint64_t end = mono_ms() + ms;

	while (!enrich_stop && mono_ms() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(d->rk, 100);

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->rkt != NULL) {
			rd_kafka_topic_partition_list_t *l =
			    rd_kafka_topic_partition_list_new(1);
			rd_kafka_topic_partition_list_add(l,
			    rd_kafka_topic_name(m->rkt), m->partition)->offset =
			    m->offset;
			rd_kafka_error_t *e = rd_kafka_seek_partitions(d->rk, l,
			    5000);
			if (e != NULL)
				rd_kafka_error_destroy(e);
			rd_kafka_topic_partition_list_destroy(l);
		}
		rd_kafka_message_destroy(m);
	}
}

static void
pause_all(struct enrich_daemon *d, bool pause)
{
	rd_kafka_topic_partition_list_t *a = NULL;

	if (rd_kafka_assignment(d->rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    a == NULL)
		return;
	if (pause)
		rd_kafka_pause_partitions(d->rk, a);
	else
		rd_kafka_resume_partitions(d->rk, a);
	rd_kafka_topic_partition_list_destroy(a);
}

/*
 * Copies the record to the dead-letter topic with its key, value and
 * headers, plus error (the reason) and where it came from.  Returns only
 * once the broker acknowledged it (acks=all), or -1 on stop.
 */
static int
deadletter(struct enrich_daemon *d, const rd_kafka_message_t *m,
    const char *reason)
{
	unsigned backoff = d->conf->retry_initial_ms;
	char part[32], off[32];

	snprintf(part, sizeof(part), "%" PRId32, m->partition);
	snprintf(off, sizeof(off), "%" PRId64, m->offset);
	for (;;) {
		rd_kafka_headers_t *src = NULL, *h;
		rd_kafka_resp_err_t e;

		if (rd_kafka_message_headers(m, &src) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR && src != NULL)
			h = rd_kafka_headers_copy(src);
		else
			h = rd_kafka_headers_new(8);
		rd_kafka_header_add(h, "error", -1, reason, -1);
		rd_kafka_header_add(h, "error-topic", -1,
		    rd_kafka_topic_name(m->rkt), -1);
		rd_kafka_header_add(h, "error-partition", -1, part, -1);
		rd_kafka_header_add(h, "error-offset", -1, off, -1);
		rd_kafka_header_add(h, "error-consumer", -1, "crm-enrich", -1);
		d->dlq_err = RD_KAFKA_RESP_ERR_NO_ERROR;
		e = rd_kafka_producev(d->dlq,
		    RD_KAFKA_V_TOPIC(d->conf->deadletter_topic),
		    RD_KAFKA_V_KEY(m->key, m->key_len),
		    RD_KAFKA_V_VALUE(m->payload, m->len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
			d->dlq_pending++;
			rd_kafka_flush(d->dlq, 30000);
			if (d->dlq_pending == 0 &&
			    d->dlq_err == RD_KAFKA_RESP_ERR_NO_ERROR)
				return 0;
			e = d->dlq_err != RD_KAFKA_RESP_ERR_NO_ERROR ?
			    d->dlq_err : RD_KAFKA_RESP_ERR__TIMED_OUT;
		} else
			rd_kafka_headers_destroy(h);
		log_warnx("dead-letter produce to %s failed: %s; retrying in "
		    "%u ms", d->conf->deadletter_topic, rd_kafka_err2str(e),
		    backoff);
		pause_all(d, true);
		idle_poll(d, backoff);
		if (enrich_stop)
			return -1;
		backoff = backoff * 2 > d->conf->retry_max_ms ?
		    d->conf->retry_max_ms : backoff * 2;
	}
}

static void
event_from_message(struct enrich_event *ev, const rd_kafka_message_t *m,
    char **key_r)
{
	rd_kafka_headers_t *h = NULL;
	const char *name;
	const void *val;
	size_t sz;

	memset(ev, 0, sizeof(*ev));
	ev->topic = rd_kafka_topic_name(m->rkt);
	ev->partition = m->partition;
	ev->offset = m->offset;
	ev->value = m->payload;
	ev->len = m->len;
	*key_r = m->key != NULL ? xstrndup(m->key, m->key_len) : NULL;
	if (*key_r != NULL && strlen(*key_r) != m->key_len)
		x_free(key_r);	/* a NUL inside the key: not ours */
	ev->key = *key_r;
	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	for (size_t i = 0; ev->nh < ENRICH_HEADERS_MAX &&
	    rd_kafka_header_get_all(h, i, &name, &val, &sz) ==
	    RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
		ev->hname[ev->nh] = name;
		ev->hvalue[ev->nh++] = val ? xstrndup(val,
		    sz > ENRICH_HEADER_VALUE_MAX ? ENRICH_HEADER_VALUE_MAX : sz)
		    : xstrdup("");
	}
}

static void
event_fini(struct enrich_event *ev)
{
	for (size_t i = 0; i < ev->nh; i++)
		free((char *)ev->hvalue[i]);
}

/*
 * Stores, per partition, the offset after the batch's last record there.
 * Called once every record of the batch took effect (its transaction
 * committed, or it was dead-lettered).
 */
static void
store_offsets(struct enrich_daemon *d, rd_kafka_message_t *const *msgs,
    size_t n)
{
	rd_kafka_topic_partition_list_t *l =
	    rd_kafka_topic_partition_list_new((int)n);
	rd_kafka_resp_err_t e;

	for (size_t i = 0; i < n; i++) {
		const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
		rd_kafka_topic_partition_t *tp =
		    rd_kafka_topic_partition_list_find(l, topic,
		    msgs[i]->partition);

		if (tp == NULL)
			tp = rd_kafka_topic_partition_list_add(l, topic,
			    msgs[i]->partition);
		if (msgs[i]->offset + 1 > tp->offset)
			tp->offset = msgs[i]->offset + 1;
	}
	e = rd_kafka_offsets_store(d->rk, l);
	for (int i = 0; i < l->cnt; i++) {
		rd_kafka_resp_err_t pe = e != RD_KAFKA_RESP_ERR_NO_ERROR ? e :
		    l->elems[i].err;

		if (pe != RD_KAFKA_RESP_ERR_NO_ERROR)
			/* The partition moved to another member while we
			 * worked; it replays these records, harmlessly. */
			log_info("offset not stored for %s[%" PRId32 "]@%"
			    PRId64 ": %s", l->elems[i].topic,
			    l->elems[i].partition, l->elems[i].offset,
			    rd_kafka_err2str(pe));
		else
			d->offsets.stored++;
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * One batch: every record is settled (written, a duplicate, ignored or
 * dead-lettered) before any offset of the batch is stored.  A transient
 * database error retries the whole batch with exponential back-off
 * (records already settled are not redone).
 */
static void
handle_batch(struct enrich_daemon *d, rd_kafka_message_t *const *msgs,
    size_t n)
{
	struct enrich_event *evs = xcalloc(n, sizeof(*evs));
	struct enrich_item *items = xcalloc(n, sizeof(*items));
	char **keys = xcalloc(n, sizeof(*keys));
	char reason[ENRICH_REASON_MAX];
	unsigned backoff = d->conf->retry_initial_ms;
	uint64_t t0 = mono_ms(), ms;
	enum enrich_result r;
	bool paused = false;

	for (size_t i = 0; i < n; i++) {
		event_from_message(&evs[i], msgs[i], &keys[i]);
		items[i].ev = &evs[i];
	}
	for (;;) {
		r = enrich_process_batch(d->store, items, n, reason);
		if (r != ENRICH_RETRY)
			break;
		d->n_retries++;
		log_warnx("retry %s[%" PRId32 "]@%" PRId64 " (batch of %zu) "
		    "in %u ms: %s", evs[0].topic, evs[0].partition,
		    evs[0].offset, n, backoff, reason);
		if (!paused) {
			pause_all(d, true);
			paused = true;
		}
		idle_poll(d, backoff);
		if (enrich_stop) {
			/* Not stored: the next owner processes them. */
			log_info("stopping during retry of %s[%" PRId32 "]@%"
			    PRId64 " (batch of %zu)", evs[0].topic,
			    evs[0].partition, evs[0].offset, n);
			goto out;
		}
		backoff = backoff * 2 > d->conf->retry_max_ms ?
		    d->conf->retry_max_ms : backoff * 2;
	}
	ms = mono_ms() - t0;
	for (size_t i = 0; i < n; i++) {
		const struct enrich_event *ev = &evs[i];
		const char *tenant = enrich_event_header(ev, "tenant");

		switch (items[i].result) {
		case ENRICH_DONE: d->n_done++; break;
		case ENRICH_DUPLICATE: d->n_dup++; break;
		case ENRICH_IGNORED: d->n_ignored++; break;
		default: break;
		}
		if (items[i].result != ENRICH_POISON) {
			log_debug("record %s[%" PRId32 "]@%" PRId64
			    " tenant=%s %s %" PRIu64 " ms (batch of %zu)",
			    ev->topic, ev->partition, ev->offset,
			    tenant ? tenant : "-",
			    enrich_result_names[items[i].result], ms, n);
			continue;
		}
		log_warnx("dead-letter %s[%" PRId32 "]@%" PRId64 " tenant=%s: "
		    "%s", ev->topic, ev->partition, ev->offset,
		    tenant ? tenant : "-", items[i].reason);
		if (deadletter(d, msgs[i], items[i].reason) != 0)
			goto out;	/* stopping: nothing stored */
		d->n_dead++;
	}
	store_offsets(d, msgs, n);
out:
	if (paused)
		pause_all(d, false);
	for (size_t i = 0; i < n; i++) {
		event_fini(&evs[i]);
		free(keys[i]);
	}
	free(keys);
	free(items);
	free(evs);
}

/* A batch: the record just polled, then whatever is already fetched, up
 * to batch_records records or BATCH_BYTES_MAX bytes.  Nothing waits for
 * more: an idle stream is processed one record at a time, as it comes. */
static size_t
collect_batch(struct enrich_daemon *d, rd_kafka_message_t *first,
    rd_kafka_message_t **msgs)
{
	size_t n = 0, bytes = 0;
	rd_kafka_message_t *m = first;

	while (m != NULL) {
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			msgs[n++] = m;
			bytes += m->len;
		} else {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				log_warnx("kafka: %s",
				    rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
		}
		if (n == d->conf->batch_records || bytes >= BATCH_BYTES_MAX ||
		    enrich_stop)
			break;
		m = rd_kafka_consumer_poll(d->rk, 0);
	}
	return n;
}

static void
run(struct enrich_daemon *d)
{
	rd_kafka_message_t **msgs = xcalloc(d->conf->batch_records,
	    sizeof(*msgs));
	uint64_t last_stats = mono_ms();

	while (!enrich_stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(d->rk, 200);
		uint64_t now;

		if (m != NULL) {
			size_t n = collect_batch(d, m, msgs);

			if (n > 0)
				handle_batch(d, msgs, n);
			for (size_t i = 0; i < n; i++)
				rd_kafka_message_destroy(msgs[i]);
		}
		now = mono_ms();
		if (kafka_offsets_due(&d->offsets, now))
			kafka_offsets_commit(&d->offsets, true, "interval");
		if (now - last_stats >= 60000) {
			log_info("stats: done=%" PRIu64 " duplicate=%" PRIu64
			    " ignored=%" PRIu64 " deadletter=%" PRIu64
			    " retries=%" PRIu64, d->n_done, d->n_dup,
			    d->n_ignored, d->n_dead, d->n_retries);
			last_stats = now;
		}
	}
	free(msgs);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG;
	bool debug = false, check = false;
	struct enrich_daemon d;
	char err[CONF_ERR_MAX];
	struct sigaction sa;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:dhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'd': debug = true; break;
		case 'C': check = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("crm-enrich %s\n", VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	memset(&d, 0, sizeof(d));
	if ((d.conf = enrich_conf_load(path, err)) == NULL) {
		fprintf(stderr, "crm-enrich: %s\n", err);
		return 1;
	}
	if (check) {
		printf("crm-enrich: %s: ok\n", path);
		enrich_conf_free(&d.conf);
		return 0;
	}
	log_init("crm-enrich", d.conf->syslog);
	log_set_level(debug ? LOG_LEVEL_DEBUG : d.conf->log_level);
	if (d.conf->passfile != NULL)
		setenv("PGPASSFILE", d.conf->passfile, 1);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	d.store = enrich_store_new(d.conf->conninfo);
	if (enrich_store_load_rules(d.store, d.conf->psl_file,
	    d.conf->freemail_file, err, sizeof(err)) != 0) {
		log_warnx("%s: resolution rules: %s", d.conf->path, err);
		enrich_store_free(&d.store);
		enrich_conf_free(&d.conf);
		return 1;
	}
	/* Wait for the database before joining the group: a member that
	 * cannot write would only hold partitions hostage. */
	for (unsigned backoff = d.conf->retry_initial_ms; !enrich_stop;) {
		if (enrich_store_connect(d.store, err, sizeof(err)) == 0)
			break;
		log_warnx("database unavailable, retrying in %u ms: %s",
		    backoff, err);
		usleep(backoff * 1000);
		backoff = backoff * 2 > d.conf->retry_max_ms ?
		    d.conf->retry_max_ms : backoff * 2;
	}
	kafka_setup(&d);
	log_info("started: group=%s brokers=%s topics=%u deadletter=%s",
	    d.conf->kafka.group_id, d.conf->kafka.brokers, d.conf->ntopics,
	    d.conf->deadletter_topic);
	run(&d);

	log_info("stopping: committing offsets and leaving the group");
	kafka_offsets_commit(&d.offsets, false, "shutdown");
	rd_kafka_consumer_close(d.rk);
	rd_kafka_destroy(d.rk);
	rd_kafka_flush(d.dlq, 10000);
	rd_kafka_destroy(d.dlq);
	enrich_store_free(&d.store);
	log_info("stopped: done=%" PRIu64 " duplicate=%" PRIu64 " ignored=%"
	    PRIu64 " deadletter=%" PRIu64 " retries=%" PRIu64, d.n_done,
	    d.n_dup, d.n_ignored, d.n_dead, d.n_retries);
	enrich_conf_free(&d.conf);
	return 0;
}
