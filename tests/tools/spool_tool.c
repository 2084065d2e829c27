/*
 * spool_tool.c - test writer and verifier for the capture scenarios.
 *
 *   spool-tool write DIR [opts]         spool deterministic mail records the
 *                                       way the proxy does (streamed appends)
 *   spool-tool verify [opts] -- CMD...  run CMD (kcat consuming the topic
 *                                       with the format below), check every
 *                                       record, print latency and rate
 *
 * Options (both modes must agree on the generator ones):
 *   --run NAME       run id in Message-IDs          --count N   records
 *   --start I        first index (write)            --seed S
 *   --min B --max B  payload size range             --writer ID (write)
 *   --big-index I --big-size B   one large record   --rate R    rec/s (write)
 *   --timeout S      verify deadline                --tenant T
 *
 * The kcat format verify reads: -f '%S %k %h\n%s\n'.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture/event.h"
#include "capture/spool.h"

struct opts {
	const char *run, *writer, *tenant;
	uint64_t count, start, seed, min, max, big_index, big_size;
	double rate;
	unsigned timeout;
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static size_t
msg_size(const struct opts *o, uint64_t i)
{
	if (o->big_size > 0 && i == o->big_index)
		return (size_t)o->big_size;
	return (size_t)(o->min + mix(o->seed ^ (i * 7919)) %
	    (o->max - o->min + 1));
}

/* The message for index i: RFC 5322 headers, then a body of printable
 * lines; exactly msg_size() bytes. */
static char *
msg_make(const struct opts *o, uint64_t i, size_t *len_r)
{
	size_t n = msg_size(o, i), h;
	char *m = malloc(n + 256), hdr[256];
	uint64_t x = mix(o->seed + i + 1);

	h = (size_t)snprintf(hdr, sizeof(hdr),
	    "Message-ID: <%" PRIu64 ".%s@spool-tool.test>\r\n"
	    "Subject: capture test %" PRIu64 "\r\n\r\n", i, o->run, i);
	memcpy(m, hdr, h < n ? h : n);
	for (size_t k = h; k < n; k++) {
		if ((k - h) % 78 == 76) {
			m[k] = '\r';
		} else if ((k - h) % 78 == 77) {
			m[k] = '\n';
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			m[k] = (char)('A' + (x % 58));
		}
	}
	*len_r = n;
	return m;
}

static void
user_of(uint64_t i, char *buf, size_t size)
{
	snprintf(buf, size, "user%" PRIu64 "@spool-tool.test", i % 5);
}

static int
do_write(const char *dir, const struct opts *o)
{
	struct spool_limits lim = {
		.segment_size = 16 * 1024 * 1024,
		.payload_max = SPOOL_PAYLOAD_MAX,
	};
	const char *err = NULL;
	struct spool_writer *w = spool_writer_open(dir, o->writer, &lim, &err);
	uint64_t t0, spent = 0, bytes = 0;

	if (w == NULL) {
		fprintf(stderr, "spool-tool: %s: %s: %s\n", dir, err,
		    strerror(errno));
		return 1;
	}
	t0 = now_us();
	for (uint64_t i = o->start; i < o->start + o->count; i++) {
		char user[64], key[128], idkey[EVENT_IDKEY_LEN + 1];
		char idx[24], commit[24];
		struct event_meta m = {
			.schema = EVENT_SCHEMA_MAIL, .tenant = o->tenant,
			.user = user, .direction = EVENT_DIR_IN,
			.source = EVENT_SRC_IMAP_FETCH, .mailbox = "INBOX",
			.uid = (uint32_t)(i + 1), .uidvalidity = 1,
			.flags = "\\Seen",
		};
		struct event_headers eh;
		struct spool_header ch[3];
		size_t len;
		char *msg = msg_make(o, i, &len);
		uint64_t a;
		enum spool_status st;

		user_of(i, user, sizeof(user));
		event_key(o->tenant, user, key, sizeof(key));
		event_headers_fill(&eh, &m);
		a = now_us();
		st = spool_record_begin(w, EVENT_TOPIC_MAIL, key, strlen(key),
		    eh.h, eh.n);
		/* Streamed the way a proxy sees a literal: 16 KiB reads. */
		for (size_t off = 0; st == SPOOL_OK && off < len; off += 16384)
			st = spool_record_append(w, msg + off,
			    len - off < 16384 ? len - off : 16384);
		event_idkey_for_message(o->tenant, msg, len, idkey);
		snprintf(idx, sizeof(idx), "%" PRIu64, i);
		snprintf(commit, sizeof(commit), "%" PRIu64, now_us());
		ch[0] = (struct spool_header){ "idempotency-key", idkey,
			EVENT_IDKEY_LEN };
		ch[1] = (struct spool_header){ "x-test-index", idx,
			strlen(idx) };
		ch[2] = (struct spool_header){ "x-test-commit-us", commit,
			strlen(commit) };
		if (st == SPOOL_OK)
			st = spool_record_commit(w, ch, 3);
		spent += now_us() - a;
		free(msg);
		if (st != SPOOL_OK) {
			fprintf(stderr, "spool-tool: record %" PRIu64
			    ": status %d\n", i, (int)st);
			spool_writer_close(&w);
			return 1;
		}
		bytes += len;
		if (o->rate > 0) {
			uint64_t due = t0 + (uint64_t)((double)(i - o->start +
			    1) * 1e6 / o->rate), n = now_us();

			if (due > n)
				usleep((useconds_t)(due - n));
		}
	}
	spool_writer_close(&w);
	printf("spool append: %" PRIu64 " records, %.1f MB in %.3f s of "
	    "append time = %.0f MB/s\n", o->count, (double)bytes / 1e6,
	    (double)spent / 1e6,
	    spent > 0 ? (double)bytes / (double)spent : 0.0);
	return 0;
}

/* ---- verify ---------------------------------------------------------- */

struct vstate {
	FILE *in;
	uint8_t *seen;		/* per index: times seen */
	uint64_t distinct, dups, bad;
	double *lat;		/* ms, per first arrival */
	size_t nlat;
	uint64_t first_us, last_us;
};

static const char *
hdr_get(const char *hdrs, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	const char *p = hdrs;

	while (p != NULL && *p != '\0') {
		const char *e = strchr(p, ','), *eq = strchr(p, '=');
		size_t vl;

		if (e == NULL)
			e = p + strlen(p);
		if (eq != NULL && eq < e && (size_t)(eq - p) == nl &&
		    strncmp(p, name, nl) == 0) {
			vl = (size_t)(e - eq - 1);
			if (vl >= size)
				return NULL;
			memcpy(out, eq + 1, vl);
			out[vl] = '\0';
			return out;
		}
		p = *e == ',' ? e + 1 : NULL;
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static bool
check_one(const struct opts *o, struct vstate *v, const char *key,
    const char *hdrs, const uint8_t *val, size_t len)
{
	char buf[256], user[64], want_key[128], idkey[EVENT_IDKEY_LEN + 1];
	static const char *const fixed[][2] = {
		{ "schema", EVENT_SCHEMA_MAIL }, { "direction", "in" },
		{ "source", "imap-fetch" }, { "mailbox", "INBOX" },
		{ "uidvalidity", "1" }, { "flags", "\\Seen" },
	};
	uint64_t i, now = now_us();
	size_t mlen;
	char *msg, *end;
	bool ok = true;

	if (hdr_get(hdrs, "x-test-index", buf, sizeof(buf)) == NULL)
		return false;
	i = strtoull(buf, &end, 10);
	if (*end != '\0' || i < o->start || i >= o->start + o->count)
		return false;
	i -= o->start;
	if (v->seen[i]++ > 0) {
		v->dups++;
	} else {
		v->distinct++;
		if (hdr_get(hdrs, "x-test-commit-us", buf, sizeof(buf)) !=
		    NULL)
			v->lat[v->nlat++] = (double)(now - strtoull(buf, NULL,
			    10)) / 1000.0;
	}
	i += o->start;
	user_of(i, user, sizeof(user));
	event_key(o->tenant, user, want_key, sizeof(want_key));
	if (strcmp(key, want_key) != 0)
		ok = false;
	for (size_t k = 0; k < sizeof(fixed) / sizeof(*fixed); k++)
		if (hdr_get(hdrs, fixed[k][0], buf, sizeof(buf)) == NULL ||
		    strcmp(buf, fixed[k][1]) != 0)
			ok = false;
	if (hdr_get(hdrs, "tenant", buf, sizeof(buf)) == NULL ||
	    strcmp(buf, o->tenant) != 0 ||
	    hdr_get(hdrs, "user", buf, sizeof(buf)) == NULL ||
	    strcmp(buf, user) != 0 ||
	    hdr_get(hdrs, "uid", buf, sizeof(buf)) == NULL ||
	    strtoull(buf, NULL, 10) != i + 1 ||
	    hdr_get(hdrs, "observed-at", buf, sizeof(buf)) == NULL ||
	    strlen(buf) != EVENT_TIME_LEN - 1)
		ok = false;
	msg = msg_make(o, i, &mlen);
	if (mlen != len || memcmp(msg, val, len) != 0) {
		fprintf(stderr, "record %" PRIu64 ": value differs (%zu vs "
		    "%zu bytes)\n", i, len, mlen);
		ok = false;
	}
	event_idkey_for_message(o->tenant, msg, mlen, idkey);
	free(msg);
	if (hdr_get(hdrs, "idempotency-key", buf, sizeof(buf)) == NULL ||
	    strcmp(buf, idkey) != 0)
		ok = false;
	if (!ok)
		fprintf(stderr, "record %" PRIu64 ": bad key or headers: %s "
		    "%s\n", i, key, hdrs);
	if (v->first_us == 0)
		v->first_us = now;
	v->last_us = now;
	return ok;
}

static volatile pid_t verify_child;

static void
on_alarm(int sig)
{
	(void)sig;
	kill(verify_child, SIGTERM);
}

static int
do_verify(const struct opts *o, char **cmd)
{
	struct vstate v = { 0 };
	int pfd[2], status;
	pid_t pid;
	char line[8192];

	if (pipe(pfd) != 0 || (pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	close(pfd[1]);
	/* The deadline stops the consumer; its end of the pipe closes and
	 * the read loop ends. */
	verify_child = pid;
	signal(SIGALRM, on_alarm);
	alarm(o->timeout);
	v.in = fdopen(pfd[0], "r");
	v.seen = calloc(o->count, 1);
	v.lat = calloc(o->count, sizeof(double));
	while (v.distinct < o->count) {
		long size;
		char *key, *hdrs, *sp;
		uint8_t *val;

		if (fgets(line, sizeof(line), v.in) == NULL)
			break;
		line[strcspn(line, "\n")] = '\0';
		size = strtol(line, &sp, 10);
		if (*sp != ' ' || size < 0 || size > 80000000) {
			fprintf(stderr, "unparsable kcat line: %.200s\n",
			    line);
			v.bad++;
			continue;
		}
		key = sp + 1;
		hdrs = strchr(key, ' ');
		if (hdrs == NULL) {
			v.bad++;
			continue;
		}
		*hdrs++ = '\0';
		val = malloc((size_t)size + 1);
		if (fread(val, 1, (size_t)size + 1, v.in) !=
		    (size_t)size + 1) {
			free(val);
			break;
		}
		if (!check_one(o, &v, key, hdrs, val, (size_t)size))
			v.bad++;
		free(val);
	}
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	qsort(v.lat, v.nlat, sizeof(double), cmp_double);
	printf("verify: %" PRIu64 "/%" PRIu64 " distinct, %" PRIu64
	    " duplicates (same idempotency key), %" PRIu64 " bad\n",
	    v.distinct, o->count, v.dups, v.bad);
	if (v.nlat > 0)
		printf("latency spool commit -> kcat: p50 %.0f ms, p95 %.0f "
		    "ms, max %.0f ms\n", v.lat[v.nlat / 2],
		    v.lat[(v.nlat * 95) / 100 < v.nlat ?
		    (v.nlat * 95) / 100 : v.nlat - 1], v.lat[v.nlat - 1]);
	if (v.last_us > v.first_us)
		printf("consumed %" PRIu64 " records in %.2f s = %.0f "
		    "records/s\n", v.distinct + v.dups,
		    (double)(v.last_us - v.first_us) / 1e6,
		    (double)(v.distinct + v.dups) * 1e6 /
		    (double)(v.last_us - v.first_us));
	if (v.distinct < o->count)
		for (uint64_t i = 0, shown = 0; i < o->count && shown < 20;
		    i++)
			if (v.seen[i] == 0) {
				printf("missing: %" PRIu64 "\n", i + o->start);
				shown++;
			}
	fclose(v.in);
	free(v.seen);
	free(v.lat);
	return v.distinct == o->count && v.bad == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct opts o = { .run = "run", .writer = "test", .tenant = "acme",
		.count = 10, .seed = 1, .min = 500, .max = 20000,
		.big_index = UINT64_MAX, .timeout = 120 };
	const char *mode, *dir = NULL;
	int i;

	if (argc < 2)
		goto usage;
	mode = argv[1];
	i = 2;
	if (strcmp(mode, "write") == 0) {
		if (argc < 3)
			goto usage;
		dir = argv[2];
		i = 3;
	}
	for (; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--run") == 0)
			o.run = v;
		else if (strcmp(a, "--writer") == 0)
			o.writer = v;
		else if (strcmp(a, "--tenant") == 0)
			o.tenant = v;
		else if (strcmp(a, "--count") == 0)
			o.count = strtoull(v, NULL, 10);
		else if (strcmp(a, "--start") == 0)
			o.start = strtoull(v, NULL, 10);
		else if (strcmp(a, "--seed") == 0)
			o.seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--min") == 0)
			o.min = strtoull(v, NULL, 10);
		else if (strcmp(a, "--max") == 0)
			o.max = strtoull(v, NULL, 10);
		else if (strcmp(a, "--big-index") == 0)
			o.big_index = strtoull(v, NULL, 10);
		else if (strcmp(a, "--big-size") == 0)
			o.big_size = strtoull(v, NULL, 10);
		else if (strcmp(a, "--rate") == 0)
			o.rate = strtod(v, NULL);
		else if (strcmp(a, "--timeout") == 0)
			o.timeout = (unsigned)strtoul(v, NULL, 10);
		else
			goto usage;
		i++;
	}
	if (o.min < 200 || o.max < o.min || o.count == 0)
		goto usage;
	if (strcmp(mode, "write") == 0)
		return do_write(dir, &o);
	if (strcmp(mode, "verify") == 0 && i < argc)
		return do_verify(&o, argv + i);
usage:
	fprintf(stderr, "usage: spool-tool write DIR [opts] | "
	    "spool-tool verify [opts] -- kcat ...\n");
	return 2;
}
