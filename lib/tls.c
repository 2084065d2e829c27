/* tls.c - see tls.h. */
#include "lib/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* TLS 1.2 suites: ECDHE only (forward secrecy), AEAD only. */
#define TLS_CIPHERS_12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

void
tls_errors(char *buf, size_t size)
{
	unsigned long e;
	size_t n = strlen(buf);

	while ((e = ERR_get_error()) != 0 && n + 2 < size) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		snprintf(buf + n, size - n, "%s%s", n > 0 ? ": " : "", one);
		n = strlen(buf);
	}
	ERR_clear_error();
}

static int
tls_ctx_common(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	/* No SSL_MODE_ENABLE_PARTIAL_WRITE: libevent's OpenSSL bufferevent
	 * hands SSL_write one iovec after another and moves on to the next
	 * after a short write, so a partial write of one chain followed by
	 * the next would send bytes out of order.  Without it SSL_write
	 * either takes the whole iovec or asks to be retried with it. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return 0;
}

SSL_CTX *
tls_server_ctx_new(const char *cert_file, const char *key_file, char *err,
    size_t err_size)
{
	SSL_CTX *ctx;

	err[0] = '\0';
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    tls_ctx_common(ctx) != 0) {
		snprintf(err, err_size, "cannot create TLS context");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		snprintf(err, err_size, "certificate %s", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) !=
	    1) {
		snprintf(err, err_size, "private key %s", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, err_size, "key %s does not match %s", key_file,
		    cert_file);
		goto fail;
	}
	return ctx;
fail:
	tls_errors(err, err_size);
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_server_ctx_expiry(SSL_CTX *ctx, long long *left_r, char *when,
    size_t when_size)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	const ASN1_TIME *na;
	struct tm tm;
	int days, secs;

	if (x == NULL || (na = X509_get0_notAfter(x)) == NULL ||
	    ASN1_TIME_diff(&days, &secs, NULL, na) != 1 ||
	    ASN1_TIME_to_tm(na, &tm) != 1)
		return -1;
	*left_r = (long long)days * 86400 + secs;
	if (strftime(when, when_size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0 &&
	    when_size > 0)
		when[0] = '\0';
	return 0;
}

SSL_CTX *
tls_client_ctx_new(const char *ca_file, bool verify, char *err,
    size_t err_size)
{
	SSL_CTX *ctx;

	err[0] = '\0';
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    tls_ctx_common(ctx) != 0) {
		snprintf(err, err_size, "cannot create TLS context");
		goto fail;
	}
	if (ca_file != NULL && *ca_file != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			snprintf(err, err_size, "CA file %s", ca_file);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, err_size, "system CA store");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	return ctx;
fail:
	tls_errors(err, err_size);
	SSL_CTX_free(ctx);
	return NULL;
}

SSL *
tls_client_ssl_new(SSL_CTX *ctx, const char *host, bool verify)
{
	unsigned char addr[16];
	bool is_ip;
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	is_ip = inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;
	/* RFC 6066: SNI carries host names only, never literal addresses. */
	if (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	if (verify) {
		X509_VERIFY_PARAM *param = SSL_get0_param(ssl);

		X509_VERIFY_PARAM_set_hostflags(param,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1
		    : SSL_set1_host(ssl, host) != 1)
			goto fail;
	}
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}
