/*
 * tls: server SSL_CTX construction and SNI certificate selection.
 */
#include "net/tls.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "lib/log.h"
#include "lib/xalloc.h"

/*
 * TLS 1.2 suites: forward secrecy and AEAD only (Mozilla "intermediate").
 * Port 25 is opportunistic TLS, where anything usable beats plaintext, but
 * every MTA worth talking to since 2015 offers one of these.
 */
#define TLS12_CIPHERS                                                                     \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                      \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                      \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                      \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

struct sni_entry {
	char name[256];
	SSL_CTX *ctx;
};

struct sni_table {
	size_t count;
	struct sni_entry e[CONFIG_TLS_CERT_MAX];
};

static char errbuf[1024];
static int sni_index = -1;
static pthread_once_t sni_once = PTHREAD_ONCE_INIT;

/* ex_data destructor: the SNI contexts live exactly as long as the main one. */
static void sni_table_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct sni_table *t = ptr;

	if (t == NULL)
		return;
	for (size_t i = 0; i < t->count; i++)
		SSL_CTX_free(t->e[i].ctx);
	free(t);
}

static void sni_index_init(void)
{
	sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sni_table_free);
}

static const char *tls_error(const char *what, const char *path)
{
	char reason[256];
	unsigned long e = ERR_peek_last_error();

	ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(errbuf, sizeof(errbuf), "%s %s: %s", what, path, e != 0 ? reason : "unknown error");
	return errbuf;
}

static int ctx_setup(SSL_CTX *ctx)
{
	/* Renegotiation is a DoS lever and an old injection vector; compression is CRIME. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_dh_auto(ctx, 1);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
		return -1;
	return 0;
}

/* A context holding one certificate chain and its key. */
static SSL_CTX *ctx_new_with_cert(const char *cert, const char *key, const char **errstr_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		*errstr_r = tls_error("cannot create a TLS context for", cert);
		return NULL;
	}
	if (ctx_setup(ctx) < 0) {
		*errstr_r = tls_error("cannot set the TLS parameters for", cert);
	} else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*errstr_r = tls_error("cannot load the TLS certificate", cert);
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		*errstr_r = tls_error("cannot load the TLS key", key);
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		*errstr_r = tls_error("the TLS key does not match the certificate", cert);
	} else {
		return ctx;
	}
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * Picks the certificate by the client's server name (RFC 6066 section 3).
 * An unknown or missing name keeps the default certificate rather than
 * failing: MTAs rarely check names, and a certificate beats no TLS.
 */
static int sni_select(SSL *ssl, int *alert, void *arg)
{
	const struct sni_table *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (name == NULL || t == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	for (size_t i = 0; i < t->count; i++) {
		if (strcasecmp(name, t->e[i].name) == 0) {
			if (SSL_set_SSL_CTX(ssl, t->e[i].ctx) == NULL)
				return SSL_TLSEXT_ERR_ALERT_FATAL;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

static int attach_sni(SSL_CTX *ctx, const struct config *cfg, const char **errstr_r)
{
	struct sni_table *t = xcalloc(1, sizeof(*t));

	pthread_once(&sni_once, sni_index_init);
	if (sni_index < 0 || SSL_CTX_set_ex_data(ctx, sni_index, t) != 1) {
		free(t);
		*errstr_r = tls_error("cannot attach SNI certificates for", cfg->tls_certificate);
		return -1;
	}
	/* From here the table belongs to ctx, even if a later certificate fails. */
	for (size_t i = 0; i < cfg->tls_sni_count; i++) {
		const struct tls_cert_cfg *tc = &cfg->tls_sni[i];
		SSL_CTX *sub = ctx_new_with_cert(tc->certificate, tc->key, errstr_r);
		if (sub == NULL)
			return -1;
		snprintf(t->e[t->count].name, sizeof(t->e[0].name), "%s", tc->server_name);
		t->e[t->count++].ctx = sub;
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);
	return 0;
}

SSL_CTX *tls_server_ctx_new(const struct config *cfg, const char **errstr_r)
{
	SSL_CTX *ctx;

	*errstr_r = NULL;
	if (cfg->tls_certificate == NULL)
		return NULL;
	ctx = ctx_new_with_cert(cfg->tls_certificate, cfg->tls_key, errstr_r);
	if (ctx == NULL)
		return NULL;
	if (attach_sni(ctx, cfg, errstr_r) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *tls_client_ctx_new(const char **errstr_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		*errstr_r = tls_error("cannot create a TLS context for", "outbound SMTP");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		*errstr_r = tls_error("cannot set the TLS parameters for", "outbound SMTP");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* A missing system store only means nothing verifies; TLS still encrypts. */
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		ERR_clear_error();
	return ctx;
}
