/*
 * vec_qdrant_curl.c - the libcurl transport behind the Qdrant backend.
 *
 * One easy handle per request keeps it simple and re-entrant; Qdrant
 * calls are batch-sized, so connection setup is not what dominates.  The
 * response is capped at VEC_QDRANT_RESPONSE_MAX before it is buffered,
 * and the API key goes only into a header, never into a URL or an error.
 */
#include "enrich/vec/vec_qdrant.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

struct sink {
	char *buf;
	size_t len, cap;
	bool overflow;
};

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (n > VEC_QDRANT_RESPONSE_MAX - s->len) {
		s->overflow = true;
		return 0;	/* makes curl fail the transfer */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap == 0 ? 4096 : s->cap;

		while (cap < s->len + n + 1)
			cap *= 2;
		s->buf = xreallocarray(s->buf, cap, 1);
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int
curl_request(void *ctx, const struct vec_http_request *req,
    struct vec_http_response *resp, char *err, size_t errlen)
{
	struct sink s = { 0 };
	struct curl_slist *hdrs = NULL;
	char *key_hdr = NULL;
	CURL *c;
	CURLcode rc;

	(void)ctx;
	memset(resp, 0, sizeof(*resp));
	(void)pthread_once(&curl_once, curl_init_once);
	if ((c = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (req->api_key != NULL) {
		key_hdr = xasprintf("api-key: %s", req->api_key);
		hdrs = curl_slist_append(hdrs, key_hdr);
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	if (req->body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->body_len);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		resp->body = s.buf != NULL ? s.buf : xstrdup("");
		resp->len = s.len;
	} else {
		snprintf(err, errlen, "%s", s.overflow ?
		    "response larger than the limit" :
		    curl_easy_strerror(rc));
		free(s.buf);
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	x_free_secret(&key_hdr);
	return rc == CURLE_OK ? 0 : -1;
}

const struct vec_qdrant_transport vec_qdrant_curl_transport = {
	.request = curl_request,
	.ctx = NULL,
};
