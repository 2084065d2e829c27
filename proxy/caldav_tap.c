/*
 * caldav_tap.c - see caldav_tap.h.
 *
 * Records are written whole at the moment they are known to exist (the
 * server said 2xx, or a <response> element closed): begin, append, commit
 * in one go, so one worker's writer never has two records open however
 * many sessions interleave.  Calendar objects are small (object_max bounds
 * what is kept); the multistatus stream around them is parsed as it
 * passes, never held.
 */
#include "proxy/caldav_tap.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <zlib.h>

#include "capture/event.h"
#include "capture/ical_meta.h"
#include "capture/spool.h"
#include "lib/clock_ms.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define TAP_HREF_MAX 1024
#define TAP_HEADERS_MAX 24
#define SEEN_WAYS 4
#define INFLATE_CHUNK 16384

static const char dav_ns[] = "DAV:";
static const char caldav_ns[] = "urn:ietf:params:xml:ns:caldav";

static struct {
	struct spool_writer *w;
	const struct caldav_conf *cc;
	const struct capture_conf *cap;	/* [capture]: tenant, spool */
	const struct proxy_conf *conf;	/* [route caldav] tenants */
	struct caldav_tap_stats st;
} tap;

/* ---- the seen table, shared by every worker ------------------------- */

/*
 * A seqlock per slot: a writer moves seq from even to odd with a CAS,
 * writes, and publishes seq + 2; a reader copies and accepts the copy only
 * if seq was even and unchanged.  A writer that loses the CAS, or dies
 * holding a slot, costs a missed de-duplication (one duplicate record with
 * the same idempotency key), never a lost record or a stuck worker.
 */
struct seen_slot {
	_Atomic uint64_t seq;
	uint64_t key;		/* 0: empty */
	uint64_t version;
	char uid[ICAL_META_UID_MAX + 1];
};

static struct seen_slot *seen;
static size_t seen_buckets;

int
caldav_tap_seen_init(unsigned entries)
{
	size_t n = entries / SEEN_WAYS;
	void *p;

	if (seen != NULL || n == 0)
		return 0;
	p = mmap(NULL, n * SEEN_WAYS * sizeof(struct seen_slot),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	seen = p;
	seen_buckets = n;
	return 0;
}

static bool
seen_read(struct seen_slot *s, uint64_t *key_r, uint64_t *version_r,
    char *uid_r)
{
	uint64_t a = atomic_load_explicit(&s->seq, memory_order_acquire);

	if (a & 1)
		return false;
	*key_r = s->key;
	*version_r = s->version;
	if (uid_r != NULL)
		memcpy(uid_r, s->uid, sizeof(s->uid));
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&s->seq, memory_order_relaxed) == a;
}

static struct seen_slot *
seen_bucket(uint64_t key)
{
	return &seen[(key % seen_buckets) * SEEN_WAYS];
}

/* The slot holding key, with its version and UID, or NULL. */
static struct seen_slot *
seen_find(uint64_t key, uint64_t *version_r, char *uid_r)
{
	struct seen_slot *b;

	if (seen == NULL)
		return NULL;
	b = seen_bucket(key);
	for (int i = 0; i < SEEN_WAYS; i++) {
		uint64_t k, v;

		if (seen_read(&b[i], &k, &v, uid_r) && k == key) {
			*version_r = v;
			return &b[i];
		}
	}
	return NULL;
}

static void
seen_store(uint64_t key, uint64_t version, const char *uid)
{
	struct seen_slot *b, *s = NULL;
	uint64_t a;

	if (seen == NULL)
		return;
	b = seen_bucket(key);
	for (int i = 0; i < SEEN_WAYS && s == NULL; i++) {
		uint64_t k, v;

		if (seen_read(&b[i], &k, &v, NULL) && (k == key || k == 0))
			s = &b[i];
	}
	if (s == NULL)
		s = &b[version % SEEN_WAYS];	/* evict one */
	a = atomic_load_explicit(&s->seq, memory_order_relaxed);
	if ((a & 1) || !atomic_compare_exchange_strong(&s->seq, &a, a + 1))
		return;
	s->key = key;
	s->version = version;
	snprintf(s->uid, sizeof(s->uid), "%s", uid != NULL ? uid : "");
	atomic_store_explicit(&s->seq, a + 2, memory_order_release);
}

/* ---- keys ----------------------------------------------------------- */

/* The user's tenant: their [route caldav] route's "tenant=", else
 * [capture] tenant (the same rule as the mail taps). */
static const char *
tap_tenant(const char *user)
{
	const char *t = config_tenant_caldav(tap.conf, user);

	return t != NULL ? t : "";	/* no tenant: event_key() refuses */
}

static void
digest_str(struct event_digest *d, const char *s)
{
	/* each part ends in a NUL byte, so parts cannot run together */
	event_digest_update(d, s, strlen(s) + 1);
}

/* SHA-256 of tenant, user and href: who owns which object. */
static uint64_t
object_key(const char *user, const char *href)
{
	struct event_digest *d = event_digest_new();
	uint8_t out[32];
	uint64_t k;

	digest_str(d, "crm-caldav-seen/1");
	digest_str(d, tap_tenant(user));
	digest_str(d, user);
	digest_str(d, href);
	event_digest_final(d, out);
	event_digest_free(&d);
	memcpy(&k, out, sizeof(k));
	return k == 0 ? 1 : k;
}

static void
idkey(const char *const *parts, size_t nparts, char *out)
{
	static const char hex[] = "0123456789abcdef";
	struct event_digest *d = event_digest_new();
	uint8_t md[32];

	digest_str(d, "crm-idkey/1");
	for (size_t i = 0; i < nparts; i++)
		digest_str(d, parts[i]);
	event_digest_final(d, md);
	event_digest_free(&d);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[EVENT_IDKEY_LEN] = '\0';
}

/* Percent-decodes an href's path (absolute URIs lose scheme and host, the
 * query goes) so a request target and a multistatus href compare equal. */
static bool
href_normalize(const char *in, size_t len, char *out, size_t size)
{
	size_t o = 0, i = 0;

	if (len > 8 && (strncasecmp(in, "http://", 7) == 0 ||
	    strncasecmp(in, "https://", 8) == 0)) {
		const char *p = memchr(in + 8, '/', len - 8);

		if (p == NULL)
			return false;
		i = (size_t)(p - in);
	}
	for (; i < len && in[i] != '?' && in[i] != '#'; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '%' && i + 2 < len) {
			char h[3] = { in[i + 1], in[i + 2], '\0' };
			char *end;
			long v = strtol(h, &end, 16);

			if (*end != '\0' || v <= 0)
				return false;
			c = (unsigned char)v;
			i += 2;
		}
		if (c < 0x20 || o + 1 >= size)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o > 0;
}

/* ---- records -------------------------------------------------------- */

static void
tap_commit(const char *sid, const char *user, const char *href,
    const char *method, enum event_direction dir, const char *id_key,
    const struct ical_meta *m, const char *del_uid, const uint8_t *val,
    size_t len)
{
	struct event_meta meta = {
		.schema = EVENT_SCHEMA_CALENDAR,
		.tenant = tap_tenant(user),
		.user = user,
		.direction = dir,
		.source = EVENT_SRC_CALDAV,
		.idempotency_key = id_key,
	};
	struct event_headers eh;
	struct spool_header h[TAP_HEADERS_MAX];
	char key[SPOOL_KEY_MAX + 1], seq[16];
	size_t n;
	int klen;
	enum spool_status st;

	if ((klen = event_key(tap_tenant(user), user, key, sizeof(key))) < 0 ||
	    event_headers_fill(&eh, &meta) != 0) {
		tap.st.refused++;
		log_info("session=%s caldav tap: no key for user \"%s\"", sid,
		    user);
		return;
	}
	memcpy(h, eh.h, eh.n * sizeof(h[0]));
	n = eh.n;
#define ADD(name, v) do { if ((v) != NULL && *(v) != '\0') \
	h[n++] = (struct spool_header){ name, v, strlen(v) }; } while (0)
	ADD("href", href);
	ADD("http-method", method);
	if (m != NULL) {
		snprintf(seq, sizeof(seq), "%d", m->sequence);
		ADD("ical-component", m->component);
		ADD("ical-uid", m->uid);
		ADD("ical-sequence", seq);
		ADD("ical-method", m->method);
		ADD("organizer", m->organizer);
		ADD("attendees", m->attendees);
		ADD("dtstart", m->dtstart);
	} else {
		ADD("ical-uid", del_uid);
	}
#undef ADD
	st = spool_record_begin(tap.w, EVENT_TOPIC_CALENDAR, key, (size_t)klen,
	    h, n);
	if (st == SPOOL_OK && len > 0)
		st = spool_record_append(tap.w, val, len);
	if (st == SPOOL_OK)
		st = spool_record_commit(tap.w, NULL, 0);
	else
		spool_record_abort(tap.w);
	if (st != SPOOL_OK) {
		tap.st.dropped++;
		log_warnx("session=%s caldav tap: %s %s not captured: %s", sid,
		    method, href, st == SPOOL_FULL ? "spool full" :
		    st == SPOOL_TOO_BIG ? "too big" : "spool write failed");
		return;
	}
	tap.st.published++;
	log_debug("session=%s caldav tap: %s %s uid=%s published", sid,
	    method, href, m != NULL ? m->uid : del_uid ? del_uid : "-");
}

/* An object seen through PUT or a multistatus answer. */
static void
tap_object(const char *sid, const char *user, const char *raw_href,
    size_t href_len, const char *method, enum event_direction dir,
    const uint8_t *ics, size_t len)
{
	struct ical_meta m;
	const char *why = NULL;
	char href[TAP_HREF_MAX + 1], fp[17], id[EVENT_IDKEY_LEN + 1];
	uint64_t key, have;

	if (tap.w == NULL)
		return;
	if (!href_normalize(raw_href, href_len, href, sizeof(href))) {
		tap.st.refused++;
		log_info("session=%s caldav tap: %s: unusable href", sid,
		    method);
		return;
	}
	if (ical_meta_parse((const char *)ics, len, &m, &why) != 0) {
		tap.st.refused++;
		log_info("session=%s caldav tap: %s %s refused: %s", sid,
		    method, href, why);
		return;
	}
	key = object_key(user, href);
	if (seen_find(key, &have, NULL) != NULL && have == m.fingerprint) {
		tap.st.duplicates++;
		log_debug("session=%s caldav tap: %s %s uid=%s already "
		    "published", sid, method, href, m.uid);
		return;
	}
	snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)m.fingerprint);
	{
		char seq[16];
		const char *parts[] = { tap_tenant(user), "ical", user, href,
		    m.uid, seq, fp };

		snprintf(seq, sizeof(seq), "%d", m.sequence);
		idkey(parts, 7, id);
	}
	tap_commit(sid, user, href, method, dir, id, &m, NULL, ics, len);
	seen_store(key, m.fingerprint, m.uid);
}

void
caldav_tap_put(const char *sid, const char *user, const char *href,
    const uint8_t *ics, size_t len)
{
	tap_object(sid, user, href, strlen(href), "PUT", EVENT_DIR_OUT, ics,
	    len);
}

void
caldav_tap_delete(const char *sid, const char *user, const char *raw_href)
{
	char href[TAP_HREF_MAX + 1], uid[ICAL_META_UID_MAX + 1] = "";
	char id[EVENT_IDKEY_LEN + 1], ver[24];
	struct seen_slot *slot;
	uint64_t key, have = 0;

	if (tap.w == NULL)
		return;
	if (!href_normalize(raw_href, strlen(raw_href), href, sizeof(href))) {
		tap.st.refused++;
		return;
	}
	key = object_key(user, href);
	slot = seen_find(key, &have, uid);
	/* The version deleted names the event; unknown, the time does. */
	if (slot != NULL)
		snprintf(ver, sizeof(ver), "%016llx", (unsigned long long)have);
	else
		snprintf(ver, sizeof(ver), "t%llu",
		    (unsigned long long)wall_ms());
	{
		const char *parts[] = { tap_tenant(user), "ical-delete", user,
		    href, ver };

		idkey(parts, 5, id);
	}
	tap_commit(sid, user, href, "DELETE", EVENT_DIR_OUT, id, NULL,
	    slot != NULL ? uid : NULL, NULL, 0);
	if (slot != NULL)
		seen_store(key, 0, NULL);
}

void
caldav_tap_count_too_big(void)
{
	tap.st.too_big++;
}

void
caldav_tap_count_blind(void)
{
	tap.st.blind++;
}

/* ---- worker life ---------------------------------------------------- */

void
caldav_tap_worker_init(const struct proxy_conf *conf, unsigned slot)
{
	struct spool_limits lim;
	const char *errstr = NULL;
	char id[16];

	tap.cc = &conf->caldav;
	tap.cap = &conf->capture;
	tap.conf = conf;
	if (conf->capture.spool_dir == NULL)
		return;
	/* A writer of its own: the mail taps stream their records, which
	 * stay open while a message passes; ours are written whole. */
	lim = (struct spool_limits){
		.segment_size = 64ULL << 20,
		.spool_max = conf->capture.spool_max,
		.payload_max = conf->caldav.object_max,
	};
	snprintf(id, sizeof(id), "cal%u", slot);
	tap.w = spool_writer_open(conf->capture.spool_dir, id, &lim, &errstr);
	if (tap.w == NULL) {
		log_warn("caldav tap: spool %s (writer %s): %s; calendars "
		    "are relayed without capture", conf->capture.spool_dir, id,
		    errstr);
		return;
	}
	ical_meta_init();
	xmlInitParser();
}

void
caldav_tap_worker_fini(void)
{
	if (tap.w == NULL)
		return;
	log_info("caldav tap: published=%llu duplicates=%llu refused=%llu "
	    "too_big=%llu dropped=%llu blind=%llu",
	    (unsigned long long)tap.st.published,
	    (unsigned long long)tap.st.duplicates,
	    (unsigned long long)tap.st.refused,
	    (unsigned long long)tap.st.too_big,
	    (unsigned long long)tap.st.dropped,
	    (unsigned long long)tap.st.blind);
	spool_writer_close(&tap.w);
}

bool
caldav_tap_enabled(void)
{
	return tap.w != NULL;
}

const struct caldav_tap_stats *
caldav_tap_stats(void)
{
	return &tap.st;
}

/* ---- multistatus answers ------------------------------------------- */

struct caldav_report {
	xmlParserCtxtPtr ctx;
	z_stream z;
	bool inflating, failed;
	char sid[24];
	char *user;
	int depth;
	bool in_response, in_href, in_data, have_href;
	char href[TAP_HREF_MAX + 1];
	size_t href_len;
	bool href_long;
	uint8_t *data;
	size_t data_len, data_cap;
	bool data_long;
};

static void
report_text(void *arg, const xmlChar *ch, int len)
{
	struct caldav_report *r = arg;
	size_t n = (size_t)len;

	if (r->in_href && !r->href_long) {
		if (r->href_len + n > TAP_HREF_MAX) {
			r->href_long = true;
			return;
		}
		memcpy(r->href + r->href_len, ch, n);
		r->href_len += n;
	} else if (r->in_data && !r->data_long) {
		if (r->data_len + n > tap.cc->object_max) {
			r->data_long = true;
			return;
		}
		if (r->data_len + n > r->data_cap) {
			size_t cap = r->data_cap ? r->data_cap : 4096;

			while (cap < r->data_len + n)
				cap *= 2;
			r->data = xreallocarray(r->data, cap, 1);
			r->data_cap = cap;
		}
		memcpy(r->data + r->data_len, ch, n);
		r->data_len += n;
	}
}

static bool
ns_is(const xmlChar *uri, const char *ns)
{
	return uri != NULL && strcmp((const char *)uri, ns) == 0;
}

static void
report_start(void *arg, const xmlChar *local, const xmlChar *prefix,
    const xmlChar *uri, int nns, const xmlChar **nss, int nattr, int ndef,
    const xmlChar **attrs)
{
	struct caldav_report *r = arg;
	const char *name = (const char *)local;

	(void)prefix, (void)nns, (void)nss, (void)nattr, (void)ndef;
	(void)attrs;
	r->depth++;
	if (ns_is(uri, dav_ns) && strcmp(name, "response") == 0) {
		r->in_response = true;
		r->have_href = r->href_long = r->data_long = false;
		r->href_len = r->data_len = 0;
	} else if (r->in_response && ns_is(uri, dav_ns) &&
	    strcmp(name, "href") == 0 && !r->have_href) {
		r->in_href = true;
	} else if (r->in_response && ns_is(uri, caldav_ns) &&
	    strcmp(name, "calendar-data") == 0) {
		r->in_data = true;
		r->data_len = 0;
	}
}

static void
report_end(void *arg, const xmlChar *local, const xmlChar *prefix,
    const xmlChar *uri)
{
	struct caldav_report *r = arg;
	const char *name = (const char *)local;

	(void)prefix;
	r->depth--;
	if (r->in_href && ns_is(uri, dav_ns) && strcmp(name, "href") == 0) {
		r->in_href = false;
		r->have_href = true;
	} else if (r->in_data && ns_is(uri, caldav_ns) &&
	    strcmp(name, "calendar-data") == 0) {
		r->in_data = false;
	} else if (r->in_response && ns_is(uri, dav_ns) &&
	    strcmp(name, "response") == 0) {
		r->in_response = false;
		if (r->data_long) {
			tap.st.too_big++;
		} else if (r->data_len > 0 && r->have_href && !r->href_long) {
			tap_object(r->sid, r->user, r->href, r->href_len,
			    "REPORT", EVENT_DIR_IN, r->data, r->data_len);
		}
		r->data_len = 0;
	}
}

static void
report_error(void *arg, const xmlError *err)
{
	struct caldav_report *r = arg;

	if (err != NULL && err->level >= XML_ERR_ERROR && !r->failed) {
		r->failed = true;
		tap.st.blind++;
		log_info("session=%s caldav tap: multistatus not understood "
		    "(line %d: %s)", r->sid, err->line, err->message ?
		    err->message : "?");
	}
}

/* A multistatus answer has no business with a DTD: refusing it keeps
 * entity declarations (and their expansion) out altogether. */
static void
report_dtd(void *arg, const xmlChar *name, const xmlChar *ext_id,
    const xmlChar *sys_id)
{
	struct caldav_report *r = arg;

	(void)name, (void)ext_id, (void)sys_id;
	if (!r->failed) {
		r->failed = true;
		tap.st.blind++;
		log_info("session=%s caldav tap: multistatus with a DTD "
		    "ignored", r->sid);
	}
	xmlStopParser(r->ctx);
}

struct caldav_report *
caldav_report_new(const char *sid, const char *user, bool compressed)
{
	struct caldav_report *r;
	xmlSAXHandler sax;

	if (tap.w == NULL)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	snprintf(r->sid, sizeof(r->sid), "%s", sid);
	r->user = xstrdup(user);
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = report_start;
	sax.endElementNs = report_end;
	sax.characters = report_text;
	sax.cdataBlock = report_text;
	sax.serror = (xmlStructuredErrorFunc)report_error;
	sax.internalSubset = report_dtd;
	r->ctx = xmlCreatePushParserCtxt(&sax, r, NULL, 0, NULL);
	if (r->ctx == NULL) {
		caldav_report_free(&r);
		return NULL;
	}
	/* No network, no DTD, no entity substitution; libxml2's default
	 * depth and size limits stay on (no XML_PARSE_HUGE). */
	xmlCtxtUseOptions(r->ctx, XML_PARSE_NONET | XML_PARSE_NOERROR |
	    XML_PARSE_NOWARNING);
	if (compressed) {
		/* 32 + MAX_WBITS: gzip or zlib, told apart by the header */
		if (inflateInit2(&r->z, 32 + MAX_WBITS) != Z_OK) {
			caldav_report_free(&r);
			return NULL;
		}
		r->inflating = true;
	}
	return r;
}

static void
report_parse(struct caldav_report *r, const uint8_t *p, size_t n)
{
	while (n > 0 && !r->failed) {
		int chunk = n > INT32_MAX / 2 ? INT32_MAX / 2 : (int)n;

		if (xmlParseChunk(r->ctx, (const char *)p, chunk, 0) != 0 &&
		    !r->failed) {
			r->failed = true;
			tap.st.blind++;
		}
		p += chunk;
		n -= (size_t)chunk;
	}
}

void
caldav_report_feed(struct caldav_report *r, const uint8_t *p, size_t n)
{
	uint8_t out[INFLATE_CHUNK];

	if (r == NULL || r->failed)
		return;
	if (!r->inflating) {
		report_parse(r, p, n);
		return;
	}
	r->z.next_in = (Bytef *)(uintptr_t)p;
	r->z.avail_in = (uInt)n;
	while (r->z.avail_in > 0 && !r->failed) {
		int zr;

		r->z.next_out = out;
		r->z.avail_out = sizeof(out);
		zr = inflate(&r->z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			r->failed = true;
			tap.st.blind++;
			break;
		}
		report_parse(r, out, sizeof(out) - r->z.avail_out);
		if (zr == Z_STREAM_END || (zr == Z_BUF_ERROR &&
		    r->z.avail_out != 0))
			break;
	}
}

void
caldav_report_free(struct caldav_report **rp)
{
	struct caldav_report *r = *rp;

	if (r == NULL)
		return;
	if (r->ctx != NULL) {
		if (!r->failed)
			xmlParseChunk(r->ctx, NULL, 0, 1);
		/* the parser's own document (a DTD may have made one) is
		 * the caller's to free */
		if (r->ctx->myDoc != NULL)
			xmlFreeDoc(r->ctx->myDoc);
		xmlFreeParserCtxt(r->ctx);
	}
	if (r->inflating)
		inflateEnd(&r->z);
	free(r->data);
	free(r->user);
	x_free(rp);
}
