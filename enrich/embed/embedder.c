/*
 * embedder.c - the local and remote embedding backends behind embedder.h.
 *
 * Remote requests go out in batches of cfg->batch texts.  A batch that
 * fails on the way (connect error, timeout, HTTP 408/429/5xx) is retried
 * with exponential backoff; a batch the server refuses (other 4xx) or
 * answers with something unusable (malformed JSON, wrong count or
 * dimension) is not, since asking again would get the same answer.
 */
#include "enrich/embed/embedder.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enrich/embed/embed.h"
#include "lib/sink.h"
#include "lib/xmalloc.h"

struct embedder {
	enum embedder_backend backend;
	size_t dim;
	struct embed_model *model;	/* local */
	char *url, *model_name;	/* remote */
	char *auth_hdr;		/* "Authorization: Bearer ..."; secret */
	size_t batch;
	long connect_timeout_ms, timeout_ms, backoff_ms;
	unsigned retries;
};

static int eerr(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
eerr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void
embedder_config_init(struct embedder_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = EMBEDDER_LOCAL;
	cfg->retries = 3;
}

static int
parse_ulong(const char *s, unsigned long min, unsigned long max,
    unsigned long *v_r)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max ||
	    *s == '-')
		return -1;
	*v_r = v;
	return 0;
}

/* "250ms", "5s", "2m", or plain milliseconds. */
static int
parse_ms(const char *s, long *ms_r)
{
	char *end;
	unsigned long v;
	unsigned long mul = 1;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *s == '-')
		return -1;
	if (strcmp(end, "ms") == 0 || *end == '\0')
		mul = 1;
	else if (strcmp(end, "s") == 0)
		mul = 1000;
	else if (strcmp(end, "m") == 0)
		mul = 60000;
	else
		return -1;
	if (v == 0 || v > 3600000UL / mul)
		return -1;
	*ms_r = (long)(v * mul);
	return 0;
}

static void
set_str(const char **dst, const char *v)
{
	free((void *)(uintptr_t)*dst);
	*dst = xstrdup(v);
}

int
embedder_config_set(struct embedder_config *cfg, const char *key,
    const char *value, char *err, size_t errlen)
{
	unsigned long u;

	if (strcmp(key, "backend") == 0) {
		if (strcmp(value, "local") == 0)
			cfg->backend = EMBEDDER_LOCAL;
		else if (strcmp(value, "remote") == 0)
			cfg->backend = EMBEDDER_REMOTE;
		else
			return eerr(err, errlen, "backend: local or remote");
	} else if (strcmp(key, "model_dir") == 0)
		set_str(&cfg->model_dir, value);
	else if (strcmp(key, "url") == 0) {
		if (strncmp(value, "http://", 7) != 0 &&
		    strncmp(value, "https://", 8) != 0)
			return eerr(err, errlen, "url: http:// or https://");
		set_str(&cfg->url, value);
	} else if (strcmp(key, "model") == 0)
		set_str(&cfg->model, value);
	else if (strcmp(key, "api_key_file") == 0)
		set_str(&cfg->api_key_file, value);
	else if (strcmp(key, "api_key_env") == 0)
		set_str(&cfg->api_key_env, value);
	else if (strcmp(key, "api_key") == 0)
		return eerr(err, errlen, "api_key: keys are not kept in "
		    "config files; use api_key_file or api_key_env");
	else if (strcmp(key, "dim") == 0) {
		if (parse_ulong(value, 1, EMBEDDER_DIM_MAX, &u) != 0)
			return eerr(err, errlen, "dim: 1..%d",
			    EMBEDDER_DIM_MAX);
		cfg->dim = u;
	} else if (strcmp(key, "batch") == 0) {
		if (parse_ulong(value, 1, EMBEDDER_BATCH_MAX, &u) != 0)
			return eerr(err, errlen, "batch: 1..%d",
			    EMBEDDER_BATCH_MAX);
		cfg->batch = u;
	} else if (strcmp(key, "threads") == 0) {
		if (parse_ulong(value, 1, EMBED_THREADS_MAX, &u) != 0)
			return eerr(err, errlen, "threads: 1..%d",
			    EMBED_THREADS_MAX);
		cfg->threads = u;
	} else if (strcmp(key, "retries") == 0) {
		if (parse_ulong(value, 0, EMBEDDER_RETRIES_MAX, &u) != 0)
			return eerr(err, errlen, "retries: 0..%d",
			    EMBEDDER_RETRIES_MAX);
		cfg->retries = (unsigned)u;
	} else if (strcmp(key, "timeout") == 0) {
		if (parse_ms(value, &cfg->timeout_ms) != 0)
			return eerr(err, errlen, "timeout: e.g. 500ms, 30s");
	} else if (strcmp(key, "connect_timeout") == 0) {
		if (parse_ms(value, &cfg->connect_timeout_ms) != 0)
			return eerr(err, errlen,
			    "connect_timeout: e.g. 500ms, 5s");
	} else if (strcmp(key, "backoff") == 0) {
		if (parse_ms(value, &cfg->backoff_ms) != 0)
			return eerr(err, errlen, "backoff: e.g. 200ms");
	} else
		return eerr(err, errlen, "unknown key '%s'", key);
	return 0;
}

void
embedder_config_fini(struct embedder_config *cfg)
{
	free((void *)(uintptr_t)cfg->model_dir);
	free((void *)(uintptr_t)cfg->url);
	free((void *)(uintptr_t)cfg->model);
	free((void *)(uintptr_t)cfg->api_key_file);
	free((void *)(uintptr_t)cfg->api_key_env);
	embedder_config_init(cfg);
}

static char *
default_model_dir(void)
{
	const char *e = getenv("CRM_MODEL_DIR");

	if (e != NULL && *e != '\0')
		return xstrdup(e);
	if ((e = getenv("XDG_CACHE_HOME")) != NULL && *e != '\0')
		return xasprintf("%s/crm/models/all-minilm-l6-v2", e);
	if ((e = getenv("HOME")) == NULL)
		return NULL;
	return xasprintf("%s/.cache/crm/models/all-minilm-l6-v2", e);
}

/* A key is one line of visible ASCII; anything else could split headers. */
static int
key_valid(const char *k, size_t len)
{
	if (len == 0 || len > EMBEDDER_KEY_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (k[i] <= ' ' || k[i] > '~')
			return 0;
	return 1;
}

static int
read_key(const struct embedder_config *cfg, char **key_r, char *err,
    size_t errlen)
{
	char buf[EMBEDDER_KEY_MAX + 2];
	size_t len = 0;

	*key_r = NULL;
	if (cfg->api_key_file != NULL) {
		FILE *f = fopen(cfg->api_key_file, "re");

		if (f == NULL)
			return eerr(err, errlen, "api_key_file %s: %s",
			    cfg->api_key_file, strerror(errno));
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		len = strcspn(buf, "\r\n");
		buf[len] = '\0';
		if (!key_valid(buf, len)) {
			explicit_bzero(buf, sizeof(buf));
			return eerr(err, errlen, "api_key_file %s: not one "
			    "line of printable text (at most %d bytes)",
			    cfg->api_key_file, EMBEDDER_KEY_MAX);
		}
	} else if (cfg->api_key_env != NULL) {
		const char *v = getenv(cfg->api_key_env);

		if (v == NULL || !key_valid(v, strlen(v)))
			return eerr(err, errlen, "api_key_env %s: unset or "
			    "not printable text", cfg->api_key_env);
		len = strlen(v);
		memcpy(buf, v, len + 1);
	} else
		return 0;	/* an endpoint without authentication */
	*key_r = xasprintf("Authorization: Bearer %s", buf);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
embedder_open(const struct embedder_config *cfg, struct embedder **e_r,
    char *err, size_t errlen)
{
	struct embedder *e;
	const char *errstr;

	*e_r = NULL;
	e = xcalloc(1, sizeof(*e));
	e->backend = cfg->backend;
	if (cfg->backend == EMBEDDER_LOCAL) {
		char *dir = cfg->model_dir != NULL ?
		    xstrdup(cfg->model_dir) : default_model_dir();
		size_t threads = cfg->threads;

		if (dir == NULL) {
			free(e);
			return eerr(err, errlen, "no model_dir and no $HOME");
		}
		e->model = embed_model_load(dir, &errstr);
		if (e->model == NULL) {
			eerr(err, errlen, "%s: %s", dir, errstr);
			free(dir);
			free(e);
			return -1;
		}
		free(dir);
		if (threads == 0) {
			long c = sysconf(_SC_NPROCESSORS_ONLN);

			threads = c < 1 ? 1 : c > EMBED_THREADS_MAX ?
			    EMBED_THREADS_MAX : (size_t)c;
		}
		(void)embed_model_set_threads(e->model, threads, &errstr);
		e->dim = embed_model_info(e->model)->hidden;
		if (cfg->dim != 0 && cfg->dim != e->dim) {
			size_t have = e->dim;

			embedder_close(&e);
			return eerr(err, errlen, "dim %zu configured, model "
			    "has %zu", cfg->dim, have);
		}
		*e_r = e;
		return 0;
	}
	if (cfg->url == NULL || cfg->model == NULL || cfg->dim == 0) {
		free(e);
		return eerr(err, errlen, "remote embedder needs url, model "
		    "and dim");
	}
	if (read_key(cfg, &e->auth_hdr, err, errlen) != 0) {
		free(e);
		return -1;
	}
	e->url = xstrdup(cfg->url);
	e->model_name = xstrdup(cfg->model);
	e->dim = cfg->dim;
	e->batch = cfg->batch != 0 ? cfg->batch : EMBEDDER_BATCH_DEFAULT;
	e->connect_timeout_ms = cfg->connect_timeout_ms != 0 ?
	    cfg->connect_timeout_ms : 5000;
	e->timeout_ms = cfg->timeout_ms != 0 ? cfg->timeout_ms : 60000;
	e->backoff_ms = cfg->backoff_ms != 0 ? cfg->backoff_ms : 200;
	e->retries = cfg->retries;
	(void)pthread_once(&curl_once, curl_init_once);
	*e_r = e;
	return 0;
}

void
embedder_close(struct embedder **ep)
{
	struct embedder *e = *ep;

	if (e == NULL)
		return;
	embed_model_free(&e->model);
	free(e->url);
	free(e->model_name);
	x_free_secret(&e->auth_hdr);
	free(e);
	*ep = NULL;
}

size_t
embedder_dim(const struct embedder *e)
{
	return e->dim;
}

enum embedder_backend
embedder_backend(const struct embedder *e)
{
	return e->backend;
}

struct embed_model *
embedder_local_model(struct embedder *e)
{
	return e->model;
}

/*
 * JSON strings must be UTF-8; message text sometimes is not.  Invalid
 * sequences become U+FFFD, which the model's normalizer drops anyway, so
 * local and remote see the same words.
 */
static char *
utf8_clean(const char *s, size_t len, size_t *len_r)
{
	char *o = xmalloc(len * 3 + 1);
	size_t i = 0, n = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t need = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 :
		    (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 99;
		uint32_t cp = need == 0 ? c : need == 1 ? c & 0x1fu :
		    need == 2 ? c & 0x0fu : c & 0x07u;
		size_t k;

		if (need != 99 && i + need < len + (need == 0)) {
			for (k = 1; k <= need; k++) {
				unsigned char d = (unsigned char)s[i + k];

				if ((d & 0xc0) != 0x80)
					break;
				cp = (cp << 6) | (d & 0x3fu);
			}
			if (k > need && c != 0 &&
			    !(need == 1 && cp < 0x80) &&
			    !(need == 2 && (cp < 0x800 ||
			    (cp >= 0xd800 && cp <= 0xdfff))) &&
			    !(need == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
				memcpy(o + n, s + i, need + 1);
				n += need + 1;
				i += need + 1;
				continue;
			}
		}
		memcpy(o + n, "\xef\xbf\xbd", 3);
		n += 3;
		i++;
	}
	o[n] = '\0';
	*len_r = n;
	return o;
}

enum attempt {
	ATTEMPT_OK,
	ATTEMPT_RETRY,	/* transient: may succeed if asked again */
	ATTEMPT_FAIL,
};

static enum attempt
post_once(struct embedder *e, const char *body, size_t body_len, size_t n,
    float *out, char *err, size_t errlen)
{
	struct sink s;
	struct curl_slist *hdrs = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	char msg[EMBEDDER_ERR_MAX];
	enum attempt r = ATTEMPT_FAIL;
	long status = 0;
	CURLcode rc;
	CURL *c;

	/* 20 bytes per number is generous for %.9g plus separators */
	sink_init(&s, n * e->dim * 24 + 65536 < EMBEDDER_RESPONSE_MAX ?
	    n * e->dim * 24 + 65536 : EMBEDDER_RESPONSE_MAX);
	if ((c = curl_easy_init()) == NULL) {
		eerr(err, errlen, "curl_easy_init failed");
		return ATTEMPT_FAIL;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (e->auth_hdr != NULL)
		hdrs = curl_slist_append(hdrs, e->auth_hdr);
	curl_easy_setopt(c, CURLOPT_URL, e->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, e->timeout_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		/* curl's messages name host and port, never headers */
		eerr(err, errlen, "%s: %s", e->url, s.overflow ?
		    "response larger than the limit" :
		    cerr[0] != '\0' ? cerr : curl_easy_strerror(rc));
		r = s.overflow ? ATTEMPT_FAIL : ATTEMPT_RETRY;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		if (embedder_parse_error(s.buf != NULL ? s.buf : "", s.len,
		    msg, sizeof(msg)) != 0)
			snprintf(msg, sizeof(msg), "no error message");
		eerr(err, errlen, "%s: HTTP %ld: %s", e->url, status, msg);
		r = status == 408 || status == 429 || status >= 500 ?
		    ATTEMPT_RETRY : ATTEMPT_FAIL;
		goto out;
	}
	if (embedder_parse_response(s.buf != NULL ? s.buf : "", s.len, n,
	    e->dim, out, msg, sizeof(msg)) != 0) {
		eerr(err, errlen, "%s: %s", e->url, msg);
		goto out;
	}
	r = ATTEMPT_OK;
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	sink_fini(&s);
	return r;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
normalize_row(float *v, size_t dim)
{
	double ss = 0;

	for (size_t i = 0; i < dim; i++)
		ss += (double)v[i] * v[i];
	if (!(ss > 0) || !isfinite(ss))
		return -1;
	ss = 1.0 / sqrt(ss);
	for (size_t i = 0; i < dim; i++)
		v[i] = (float)(v[i] * ss);
	return 0;
}

static int
remote_batch(struct embedder *e, const char *const *texts,
    const size_t *lens, size_t n, float *out, char *err, size_t errlen)
{
	json_t *req = json_object(), *input = json_array();
	char *body;
	long delay = e->backoff_ms;
	enum attempt r = ATTEMPT_FAIL;

	for (size_t i = 0; i < n; i++) {
		size_t cl;
		char *clean = utf8_clean(texts[i], lens[i], &cl);

		json_array_append_new(input, json_stringn(clean, cl));
		free(clean);
	}
	json_object_set_new(req, "model", json_string(e->model_name));
	json_object_set_new(req, "input", input);
	json_object_set_new(req, "encoding_format", json_string("float"));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (body == NULL)
		return eerr(err, errlen, "cannot encode the request");
	for (unsigned t = 0; t <= e->retries; t++) {
		if (t > 0) {
			sleep_ms(delay);
			delay = delay > 30000 ? 60000 : delay * 2;
		}
		r = post_once(e, body, strlen(body), n, out, err, errlen);
		if (r != ATTEMPT_RETRY)
			break;
	}
	free(body);
	if (r == ATTEMPT_RETRY && e->retries > 0) {
		size_t l = strlen(err);

		snprintf(err + l, errlen - l, " (after %u tries)",
		    e->retries + 1);
	}
	if (r != ATTEMPT_OK)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (normalize_row(out + i * e->dim, e->dim) != 0)
			return eerr(err, errlen, "%s: vector %zu is zero",
			    e->url, i);
	return 0;
}

int
embedder_texts(struct embedder *e, const char *const *texts,
    const size_t *lens, size_t n, float *out, char *err, size_t errlen)
{
	const char *errstr;

	if (e->backend == EMBEDDER_LOCAL) {
		/* the model's own batching packs sequences; 64 per call */
		for (size_t i = 0; i < n; i += 64) {
			size_t m = n - i < 64 ? n - i : 64;

			if (embed_model_texts(e->model, texts + i, lens + i,
			    m, out + i * e->dim, &errstr) != 0)
				return eerr(err, errlen, "embedding: %s",
				    errstr);
		}
		return 0;
	}
	for (size_t i = 0; i < n; i += e->batch) {
		size_t m = n - i < e->batch ? n - i : e->batch;

		if (remote_batch(e, texts + i, lens + i, m,
		    out + i * e->dim, err, errlen) != 0)
			return -1;
	}
	return 0;
}
