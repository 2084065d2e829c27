/*
 * crm-imip.c - iMIP invitations in captured mail onto crm.calendar.v1.
 *
 * A consumer group on crm.mail.v1: each mail record is parsed with
 * enrich/mime; each text/calendar part whose iTIP METHOD is REQUEST,
 * REPLY or CANCEL becomes one crm.calendar.v1 record (value: the part as
 * found in the message, decoded from its transfer encoding; headers and
 * idempotency key: docs/events.md, "iMIP").
 *
 * Delivery: at-least-once, effectively-once by key.  The producer is
 * idempotent (acks=all); a mail record's offset is stored only after every
 * calendar record made from it was acknowledged, and stored offsets are
 * committed every commit_interval_ms, synchronously on revoke and at
 * shutdown.  A crash in between replays a few mail records, whose
 * calendar records come out again with the same keys.
 *
 * A broken calendar part (libical refuses it, or it was cut at the size
 * limit) is counted and logged once per message; the other parts of the
 * message are still published and the consumer moves on.
 *
 *   SIGTERM, SIGINT  finish the current record, commit, leave the group.
 */
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/event.h"
#include "capture/ical_meta.h"
#include "enrich/imip/imip.h"
#include "enrich/imip/imip_conf.h"
#include "lib/clock_ms.h"
#include "lib/kafka.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define DEFAULT_CONFIG "/etc/crm-proxy/crm-imip.conf"
#define VERSION "0.1.0"
/* A 64 MiB message plus headers and framing (docs/events.md). */
#define FETCH_MAX_BYTES "70000000"
#define HDR_VALUE_MAX 8192

static volatile sig_atomic_t imip_stop;

struct imip_daemon {
	struct imip_conf *conf;
	struct mime_limits limits;
	rd_kafka_t *rk;		/* consumer */
	rd_kafka_t *pk;		/* producer */
	int pending;
	rd_kafka_resp_err_t dr_err;
	struct kafka_offsets offsets;	/* stored, not yet committed */
	uint64_t last_stats_ms;
	uint64_t n_mail, n_published, n_broken, n_broken_msgs, n_ignored,
	    n_unlabelled, n_unparsable, n_retries;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-imip [-c FILE] [-d] [--check] [--help] [--version]\n"
	    "\n"
	    "Reads captured mail from Kafka (crm.mail.v1) and publishes each\n"
	    "iMIP invitation, reply or cancellation it carries (text/calendar\n"
	    "METHOD REQUEST, REPLY, CANCEL) to crm.calendar.v1.\n"
	    "\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -d, --debug        log at debug level, whatever the file says\n"
	    "      --check        validate the configuration, then exit\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      print the version\n"
	    "\n"
	    "Signals: TERM and INT finish the current record, commit offsets "
	    "and\nleave the consumer group.  See man crm-imip(8).\n",
	    DEFAULT_CONFIG);
}

static void
on_signal(int sig)
{
	(void)sig;
	imip_stop = 1;
}

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct imip_daemon *d = opaque;

	(void)rk;
	d->pending--;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		d->dr_err = m->err;
}

static void
kafka_setup(struct imip_daemon *d)
{
	struct imip_conf *c = d->conf;
	char err[CONF_ERR_MAX];

	if ((d->rk = kafka_consumer_new(&c->kafka, "crm-imip",
	    FETCH_MAX_BYTES, &d->offsets, &c->input_topic, 1, err)) == NULL ||
	    (d->pk = kafka_side_producer_new(&c->kafka, "crm-imip-producer",
	    FETCH_MAX_BYTES, dr_cb, d, err)) == NULL)
		fatalx("%s", err);
}

/* The mail record's headers this daemon reads. */
struct mail_hdrs {
	char tenant[256], user[HDR_VALUE_MAX], direction[16];
	char observed_at[EVENT_TIME_LEN], idkey[EVENT_IDKEY_LEN + 1];
	bool headers_only;
};

static bool
hdr_copy(rd_kafka_headers_t *h, const char *name, char *buf, size_t size)
{
	const void *v;
	size_t n;

	buf[0] = '\0';
	if (h == NULL || rd_kafka_header_get_last(h, name, &v, &n) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR || v == NULL || n == 0 || n >= size ||
	    memchr(v, '\0', n) != NULL)
		return false;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return true;
}

static bool
mail_hdrs_read(const rd_kafka_message_t *m, struct mail_hdrs *mh)
{
	rd_kafka_headers_t *h = NULL;
	char content[32];

	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
		h = NULL;
	if (!hdr_copy(h, "tenant", mh->tenant, sizeof(mh->tenant)) ||
	    !hdr_copy(h, "user", mh->user, sizeof(mh->user)) ||
	    strchr(mh->tenant, '/') != NULL)
		return false;
	if (!hdr_copy(h, "direction", mh->direction, sizeof(mh->direction)))
		snprintf(mh->direction, sizeof(mh->direction), "other");
	if (!hdr_copy(h, "observed-at", mh->observed_at,
	    sizeof(mh->observed_at)))
		event_rfc3339_ms(wall_ms(), mh->observed_at);
	hdr_copy(h, "idempotency-key", mh->idkey, sizeof(mh->idkey));
	mh->headers_only = hdr_copy(h, "content", content, sizeof(content)) &&
	    strcmp(content, "headers-only") == 0;
	return true;
}

static rd_kafka_headers_t *
calendar_headers(const struct mail_hdrs *mh, const struct imip_part *p)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(16);
	char seq[16];

	snprintf(seq, sizeof(seq), "%d", p->meta.sequence);
	rd_kafka_header_add(h, "schema", -1, EVENT_SCHEMA_CALENDAR, -1);
	rd_kafka_header_add(h, "tenant", -1, mh->tenant, -1);
	rd_kafka_header_add(h, "user", -1, mh->user, -1);
	rd_kafka_header_add(h, "direction", -1, mh->direction, -1);
	rd_kafka_header_add(h, "source", -1, IMIP_SOURCE, -1);
	rd_kafka_header_add(h, "observed-at", -1, mh->observed_at, -1);
	rd_kafka_header_add(h, "idempotency-key", -1, p->idkey, -1);
	rd_kafka_header_add(h, "ical-component", -1, p->meta.component, -1);
	rd_kafka_header_add(h, "ical-uid", -1, p->meta.uid, -1);
	rd_kafka_header_add(h, "ical-sequence", -1, seq, -1);
	rd_kafka_header_add(h, "ical-method", -1, p->method, -1);
	if (p->meta.organizer[0])
		rd_kafka_header_add(h, "organizer", -1, p->meta.organizer, -1);
	if (p->meta.attendees[0])
		rd_kafka_header_add(h, "attendees", -1, p->meta.attendees, -1);
	if (p->meta.dtstart[0])
		rd_kafka_header_add(h, "dtstart", -1, p->meta.dtstart, -1);
	if (mh->idkey[0])
		rd_kafka_header_add(h, "mail-idempotency-key", -1, mh->idkey,
		    -1);
	return h;
}

/* Publishes the OK parts of r and waits for their acknowledgements.
 * Returns 0 when all were acknowledged, else the error. */
static rd_kafka_resp_err_t
publish(struct imip_daemon *d, const rd_kafka_message_t *m,
    const struct mail_hdrs *mh, const struct imip_result *r)
{
	d->dr_err = RD_KAFKA_RESP_ERR_NO_ERROR;
	for (size_t i = 0; i < r->n; i++) {
		const struct imip_part *p = &r->parts[i];
		rd_kafka_headers_t *h;
		rd_kafka_resp_err_t e;

		if (p->status != IMIP_PART_OK)
			continue;
		h = calendar_headers(mh, p);
		e = rd_kafka_producev(d->pk,
		    RD_KAFKA_V_TOPIC(d->conf->output_topic),
		    RD_KAFKA_V_KEY(m->key, m->key_len),
		    RD_KAFKA_V_VALUE((void *)(uintptr_t)p->text, p->len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_headers_destroy(h);
			d->dr_err = e;
			break;
		}
		d->pending++;
	}
	/* Wait for every acknowledgement, also after a failed produce, so
	 * no delivery report of this round arrives in the next.  Bounded by
	 * librdkafka's delivery.timeout.ms; a stop leaves the offset
	 * unstored, so the mail is read again after the restart. */
	while (d->pending > 0 && !imip_stop)
		rd_kafka_poll(d->pk, 100);
	if (d->pending > 0 && d->dr_err == RD_KAFKA_RESP_ERR_NO_ERROR)
		d->dr_err = RD_KAFKA_RESP_ERR__TIMED_OUT;
	return d->dr_err;
}

static void
store_offset(struct imip_daemon *d, const rd_kafka_message_t *m)
{
	rd_kafka_topic_partition_list_t *l =
	    rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt),
	    m->partition)->offset = m->offset + 1;
	if (rd_kafka_offsets_store(d->rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_debug("offset store refused (partition revoked?)");
	rd_kafka_topic_partition_list_destroy(l);
	d->offsets.stored++;
}

/* Sleeps ms in small steps so a signal is seen. */
static void
nap(unsigned ms)
{
	uint64_t end = mono_ms() + ms;

	while (!imip_stop && mono_ms() < end)
		usleep(50 * 1000);
}

/* One mail record.  Returns 0 when its offset may be stored, -1 on
 * stop before its records were acknowledged. */
static int
process(struct imip_daemon *d, const rd_kafka_message_t *m)
{
	struct mail_hdrs mh;
	struct imip_result r;
	const char *err = NULL;
	unsigned backoff = d->conf->retry_initial_ms;

	d->n_mail++;
	if (!mail_hdrs_read(m, &mh)) {
		d->n_unlabelled++;
		log_debug("%s[%" PRId32 "]@%" PRId64 ": no tenant/user; "
		    "skipped", rd_kafka_topic_name(m->rkt), m->partition,
		    m->offset);
		return 0;
	}
	if (mh.headers_only || m->len == 0)
		return 0;
	if (imip_extract(mh.tenant, m->payload, m->len, &d->limits, &r,
	    &err) != 0) {
		d->n_unparsable++;
		log_debug("%s[%" PRId32 "]@%" PRId64 ": not a message: %s",
		    rd_kafka_topic_name(m->rkt), m->partition, m->offset, err);
		return 0;
	}
	d->n_ignored += r.n_ignored;
	if (r.n_broken > 0) {
		const char *why = NULL;

		for (size_t i = 0; i < r.n && why == NULL; i++)
			if (r.parts[i].status == IMIP_PART_BROKEN)
				why = r.parts[i].error;
		d->n_broken += r.n_broken;
		d->n_broken_msgs++;
		log_info("%s[%" PRId32 "]@%" PRId64 " (tenant %s): %u broken "
		    "calendar part(s) not published: %s",
		    rd_kafka_topic_name(m->rkt), m->partition, m->offset,
		    mh.tenant, r.n_broken, why);
	}
	while (r.n_ok > 0) {
		rd_kafka_resp_err_t e = publish(d, m, &mh, &r);

		if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
			d->n_published += r.n_ok;
			log_debug("%s[%" PRId32 "]@%" PRId64 ": %u calendar "
			    "record(s) published", rd_kafka_topic_name(m->rkt),
			    m->partition, m->offset, r.n_ok);
			break;
		}
		d->n_retries++;
		log_warnx("publishing to %s failed: %s; retrying in %u ms",
		    d->conf->output_topic, rd_kafka_err2str(e), backoff);
		nap(backoff);
		if (imip_stop) {
			imip_result_free(&r);
			return -1;
		}
		backoff = backoff * 2 > d->conf->retry_max_ms ?
		    d->conf->retry_max_ms : backoff * 2;
	}
	imip_result_free(&r);
	return 0;
}

static void
log_stats(struct imip_daemon *d, const char *when)
{
	log_info("%s: mail %" PRIu64 ", published %" PRIu64 ", broken parts %"
	    PRIu64 " in %" PRIu64 " message(s), ignored parts %" PRIu64
	    ", unlabelled %" PRIu64 ", unparsable %" PRIu64 ", retries %"
	    PRIu64, when, d->n_mail, d->n_published, d->n_broken,
	    d->n_broken_msgs, d->n_ignored, d->n_unlabelled, d->n_unparsable,
	    d->n_retries);
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
	struct imip_daemon d;
	const char *path = DEFAULT_CONFIG;
	bool debug = false, check = false;
	char err[CONF_ERR_MAX];
	struct sigaction sa;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:dhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("crm-imip %s\n", VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("crm-imip", false);
	memset(&d, 0, sizeof(d));
	if ((d.conf = imip_conf_load(path, err)) == NULL) {
		fprintf(stderr, "crm-imip: %s\n", err);
		return 1;
	}
	if (check) {
		printf("crm-imip: %s: configuration ok\n", path);
		imip_conf_free(&d.conf);
		return 0;
	}
	log_set_level(debug ? LOG_LEVEL_DEBUG : d.conf->log_level);
	mime_limits_default(&d.limits);
	d.limits.max_message = (size_t)d.conf->message_max;
	d.limits.max_calendar = (size_t)d.conf->calendar_max;
	ical_meta_init();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	kafka_setup(&d);
	log_info("consuming %s as group %s, publishing to %s",
	    d.conf->input_topic, d.conf->kafka.group_id, d.conf->output_topic);
	d.last_stats_ms = mono_ms();
	while (!imip_stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(d.rk, 200);
		uint64_t t;

		if (m != NULL) {
			if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
				log_warnx("consume: %s",
				    rd_kafka_message_errstr(m));
			else if (process(&d, m) == 0)
				store_offset(&d, m);
			rd_kafka_message_destroy(m);
		}
		rd_kafka_poll(d.pk, 0);
		t = mono_ms();
		if (kafka_offsets_due(&d.offsets, t))
			kafka_offsets_commit(&d.offsets, false, "interval");
		if (t - d.last_stats_ms >= 60000) {
			log_stats(&d, "stats");
			d.last_stats_ms = t;
		}
	}
	log_info("stopping");
	if (d.offsets.stored > 0)
		kafka_offsets_commit(&d.offsets, false, "shutdown");
	rd_kafka_consumer_close(d.rk);
	rd_kafka_destroy(d.rk);
	rd_kafka_flush(d.pk, 10000);
	rd_kafka_destroy(d.pk);
	log_stats(&d, "exit");
	imip_conf_free(&d.conf);
	return 0;
}
