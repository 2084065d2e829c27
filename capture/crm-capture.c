/*
 * crm-capture.c - ships the proxy's capture spool to Kafka.
 *
 * One job (Postfix's lesson): tail every worker's spool segments, produce
 * each complete record to Kafka with an idempotent producer, and delete a
 * record's bytes only after Kafka acknowledged it.  The proxy never waits
 * on any of this: if we are slow or down, the spool grows; if it fills,
 * the proxy drops capture (counted) and mail still flows.
 *
 *   SIGTERM, SIGINT  stop reading, wait for outstanding delivery reports
 *                    (shutdown_timeout), save offsets, exit 0.
 *   kill -9          loses nothing: on restart every record after the last
 *                    saved offset is produced again (same idempotency key).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture_conf.h"
#include "capture/producer.h"
#include "capture/shipper.h"
#include "lib/clock_ms.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define DEFAULT_CONFIG "/etc/crm-proxy/crm-capture.conf"
#define VERSION "0.1.0"

static volatile sig_atomic_t capture_stop;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-capture [-c FILE] [-d] [--check] [--help] "
	    "[--version]\n"
	    "\n"
	    "Ships the crm-proxy capture spool to Kafka.\n"
	    "\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -d, --debug        log at debug level, whatever the file says\n"
	    "      --check        validate the configuration and the Kafka "
	    "settings, then exit\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      print the version\n"
	    "\n"
	    "Signals: TERM and INT stop after in-flight records are "
	    "acknowledged.\nSee docs/spool.md and docs/events.md.\n",
	    DEFAULT_CONFIG);
}

static void
on_signal(int sig)
{
	(void)sig;
	capture_stop = 1;
}

static void
metric(FILE *f, const char *name, const char *type, const char *help,
    uint64_t v)
{
	fprintf(f, "# HELP crm_capture_%s %s\n# TYPE crm_capture_%s %s\n"
	    "crm_capture_%s %" PRIu64 "\n", name, help, name, type, name, v);
}

/* Prometheus text format, written whole then renamed into place, so a
 * scraper (node_exporter's textfile collector) never sees half a file. */
static void
write_metrics(const struct capture_conf *conf, struct shipper *s)
{
	struct shipper_stats st;
	char tmp[4096];
	uint64_t now = wall_ms();
	FILE *f;

	if (conf->metrics_file == NULL)
		return;
	shipper_stats(s, &st);
	snprintf(tmp, sizeof(tmp), "%s.tmp", conf->metrics_file);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("%s", tmp);
		return;
	}
	metric(f, "records_spooled_total", "counter",
	    "Records committed to the spool by the proxy's writers.",
	    st.spooled_total);
	metric(f, "records_dropped_total", "counter",
	    "Records the writers refused because the spool was full or the "
	    "message too big.", st.dropped_total);
	metric(f, "records_write_failed_total", "counter",
	    "Records lost to a spool write error (disk full, I/O error).",
	    st.write_failed_total);
	metric(f, "records_read_total", "counter",
	    "Complete records read from the spool.", st.records_read);
	metric(f, "records_published_total", "counter",
	    "Records handed to the Kafka producer (resends included).",
	    st.records_published);
	metric(f, "records_acked_total", "counter",
	    "Records acknowledged by Kafka (acks=all).", st.records_acked);
	metric(f, "delivery_failures_total", "counter",
	    "Failed deliveries; the records stay spooled and are retried.",
	    st.delivery_failures);
	metric(f, "records_aborted_total", "counter",
	    "Aborted records skipped.", st.records_aborted);
	metric(f, "records_corrupt_total", "counter",
	    "Corrupt records (bad checksum or framing) skipped.",
	    st.records_corrupt);
	metric(f, "corrupt_bytes_total", "counter",
	    "Bytes skipped as corrupt.", st.corrupt_bytes);
	metric(f, "records_torn_total", "counter",
	    "Incomplete records at the end of a finished segment skipped.",
	    st.records_torn);
	metric(f, "segments_deleted_total", "counter",
	    "Segments shipped completely and deleted.", st.segments_deleted);
	metric(f, "spool_bytes", "gauge",
	    "Bytes in the spool directory's segments.", st.spool_bytes);
	metric(f, "spool_segments", "gauge",
	    "Segment files in the spool directory.", st.segments);
	metric(f, "spool_records", "gauge",
	    "Records committed and not yet acknowledged (estimate; resends "
	    "after a crash can make it low).",
	    st.spooled_total > st.acked_total ?
	    st.spooled_total - st.acked_total : 0);
	metric(f, "in_flight_records", "gauge",
	    "Records sent and awaiting Kafka's acknowledgement.",
	    st.inflight_records);
	metric(f, "in_flight_bytes", "gauge",
	    "Payload bytes awaiting Kafka's acknowledgement.",
	    st.inflight_bytes);
	fprintf(f, "# HELP crm_capture_oldest_unacked_seconds Age of the "
	    "oldest record awaiting acknowledgement (0: none).\n"
	    "# TYPE crm_capture_oldest_unacked_seconds gauge\n"
	    "crm_capture_oldest_unacked_seconds %.3f\n",
	    st.oldest_unacked_ms == 0 || st.oldest_unacked_ms > now ? 0.0 :
	    (double)(now - st.oldest_unacked_ms) / 1000.0);
	if (fclose(f) != 0 || rename(tmp, conf->metrics_file) != 0)
		log_warn("%s", conf->metrics_file);
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
	bool check = false, debug = false;
	struct capture_conf *conf;
	struct shipper *s;
	struct sigaction sa;
	char err[CONF_ERR_MAX];
	uint64_t last_metrics = 0;
	int ch, rc = 0, left;

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
			printf("crm-capture %s\n", VERSION);
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
	log_init("crm-capture", false);
	if ((conf = capture_conf_load(path, err)) == NULL) {
		log_warnx("%s", err);
		return 1;
	}
	log_set_level(debug ? LOG_LEVEL_DEBUG : conf->log_level);
	if (check) {
		if (producer_check(conf, err) != 0) {
			log_warnx("%s: %s", path, err);
			capture_conf_free(&conf);
			return 1;
		}
		if (access(conf->spool_dir, R_OK | W_OK | X_OK) != 0)
			log_warn("%s (crm-capture creates it when it can)",
			    conf->spool_dir);
		printf("%s: configuration OK\n", path);
		capture_conf_free(&conf);
		return 0;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if ((s = shipper_new(conf, err)) == NULL) {
		log_warnx("%s", err);
		capture_conf_free(&conf);
		return 1;
	}
	log_info("shipping %s to %s (compression %s, fsync %s)",
	    conf->spool_dir, conf->kafka.brokers, conf->compression,
	    conf->fsync ? "on" : "off");
	while (!capture_stop) {
		if (shipper_run(s, (int)conf->poll_ms) != 0) {
			/* The idempotent producer's state is gone; a new
			 * process starts clean from the saved offsets. */
			log_warnx("fatal producer error; exiting to be "
			    "restarted");
			rc = 1;
			break;
		}
		if (mono_ms() - last_metrics >= conf->metrics_interval_ms) {
			write_metrics(conf, s);
			last_metrics = mono_ms();
		}
	}
	if (rc == 0) {
		log_info("stopping: waiting up to %us for Kafka to "
		    "acknowledge in-flight records", conf->shutdown_timeout);
		left = shipper_drain(s, conf->shutdown_timeout);
		if (left > 0)
			log_warnx("%d records unacknowledged at exit; they stay "
			    "in the spool", left);
	}
	write_metrics(conf, s);
	shipper_free(&s);
	capture_conf_free(&conf);
	log_info("stopped");
	return rc;
}
