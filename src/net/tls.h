/*
 * tls: the server-side OpenSSL contexts built from the configuration.
 *
 * One SSL_CTX per configuration snapshot carries the default certificate and,
 * attached to it, one context per `sni` certificate; a servername callback
 * switches a handshake to the matching one. Freeing the main context (its
 * last reference) frees the SNI contexts with it.
 */
#ifndef HERMOD_NET_TLS_H
#define HERMOD_NET_TLS_H

#include <openssl/ssl.h>

#include "config/config.h"

/*
 * Creates the server context for cfg's tls { } block: TLS 1.2 or newer,
 * forward-secret AEAD ciphers for TLS 1.2, no compression, no renegotiation,
 * no session cache or tickets. Returns NULL when TLS is not configured
 * (*errstr_r set to NULL) or on error (*errstr_r names the file and the
 * OpenSSL reason; static storage, valid until the next call). The caller owns
 * one reference (SSL_CTX_free).
 */
SSL_CTX *tls_server_ctx_new(const struct config *cfg, const char **errstr_r);

/*
 * Creates the context for outbound STARTTLS (conn_starttls_client): TLS 1.2
 * or newer, no compression or renegotiation, the system trust store loaded
 * so that verification can be recorded (opportunistic TLS never enforces
 * it). Returns NULL with *errstr_r on failure. The caller owns it.
 */
SSL_CTX *tls_client_ctx_new(const char **errstr_r);

#endif
