/*
 * tls.h - OpenSSL contexts with the project's defaults.
 *
 * Server side: TLS 1.2 and 1.3 only, the server's cipher preference,
 * forward-secret AEAD suites for 1.2, no renegotiation, no compression,
 * no session tickets by default (no key rotation story yet), buffers released
 * while idle (SSL_MODE_RELEASE_BUFFERS: an idle TLS connection then costs a
 * few KB instead of ~34 KB).
 * Client side (to providers): the same protocol floor, peer verification on
 * unless explicitly disabled, SNI and host-name checks set per connection.
 */
#ifndef CRM_TLS_H
#define CRM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

/* Returns a server context for cert/key (PEM files), or NULL with a
 * message (including OpenSSL's reason) in err. */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file,
    char *err, size_t err_size);

/*
 * The server certificate ctx presents: seconds until its notAfter in
 * *left_r (negative once expired) and notAfter in when ("2027-12-29
 * 05:53:09 UTC").  Returns 0, or -1 when ctx has no certificate.
 */
int tls_server_ctx_expiry(SSL_CTX *ctx, long long *left_r, char *when,
    size_t when_size);

/* Returns a client context trusting ca_file (PEM bundle) or, when ca_file
 * is NULL or "", the system store; verify=false disables chain checks (an
 * explicit, logged configuration choice). NULL with err on failure. */
SSL_CTX *tls_client_ctx_new(const char *ca_file, bool verify, char *err,
    size_t err_size);

/* A new SSL for a connection to host: sets SNI (unless host is an IP
 * literal) and the expected name or IP.  NULL on failure. */
SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *host, bool verify);

/* Appends OpenSSL's queued errors (and clears them) to buf. */
void tls_errors(char *buf, size_t size);

#endif
