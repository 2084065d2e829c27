/*
 * manifest_produce.c - produces every record of an enrich_gen.py manifest
 * (topic, key, value file, name=value headers; tab-separated) to Kafka
 * with an idempotent acks=all producer, then waits for every delivery
 * report.  kcat does the same one process per record; this is for the
 * benchmark, where thousands of records must land quickly.
 *
 *   manifest-produce BROKERS MANIFEST
 *
 * Exit 0 when every record was acknowledged, 1 otherwise.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 65536
#define VALUE_MAX_BYTES (64 * 1024 * 1024)

static unsigned long failed;

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "delivery failed: %s\n",
		    rd_kafka_err2str(m->err));
		failed++;
	}
}

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    n > VALUE_MAX_BYTES || fseek(f, 0, SEEK_SET) != 0) {
		if (f)
			fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len_r = (size_t)n;
	return buf;
}

int
main(int argc, char **argv)
{
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512], *line;
	FILE *mf;
	unsigned long n = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: manifest-produce BROKERS MANIFEST\n");
		return 2;
	}
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err,
	    sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", err,
	    sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if ((mf = fopen(argv[2], "r")) == NULL) {
		perror(argv[2]);
		return 1;
	}
	line = malloc(LINE_MAX_BYTES);
	while (line != NULL && fgets(line, LINE_MAX_BYTES, mf) != NULL) {
		char *save = NULL, *topic, *key, *file, *h;
		rd_kafka_headers_t *hdrs = rd_kafka_headers_new(16);
		rd_kafka_resp_err_t e;
		size_t len = 0;
		char *value;

		line[strcspn(line, "\n")] = '\0';
		topic = strtok_r(line, "\t", &save);
		key = strtok_r(NULL, "\t", &save);
		file = strtok_r(NULL, "\t", &save);
		if (topic == NULL || key == NULL || file == NULL) {
			rd_kafka_headers_destroy(hdrs);
			continue;
		}
		while ((h = strtok_r(NULL, "\t", &save)) != NULL) {
			char *eq = strchr(h, '=');
			if (eq == NULL)
				continue;
			*eq = '\0';
			rd_kafka_header_add(hdrs, h, -1, eq + 1, -1);
		}
		if ((value = slurp(file, &len)) == NULL) {
			fprintf(stderr, "%s: cannot read\n", file);
			return 1;
		}
		do {
			e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
			    RD_KAFKA_V_KEY(key, strlen(key)),
			    RD_KAFKA_V_VALUE(value, len),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
			if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 100);
		} while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		free(value);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
			rd_kafka_headers_destroy(hdrs);
			return 1;
		}
		n++;
		rd_kafka_poll(rk, 0);
	}
	free(line);
	fclose(mf);
	rd_kafka_flush(rk, 60000);
	if (rd_kafka_outq_len(rk) > 0)
		failed++;
	rd_kafka_destroy(rk);
	printf("%lu records produced, %lu failed\n", n, failed);
	return failed ? 1 : 0;
}
