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

#include "lib/sink.h"
#include "lib/xmalloc.h"

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
	struct sink s;
	struct curl_slist *hdrs = NULL;
	char *key_hdr = NULL;
	CURL *c;
	CURLcode rc;

	(void)ctx;
	sink_init(&s, VEC_QDRANT_RESPONSE_MAX);
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
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
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
		sink_fini(&s);
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
