/*
 * cli_init: `hermod init` creates an instance: a commented development
 * configuration (only if absent), the data and TLS directories, a
 * self-signed certificate (only if absent), the store, and optionally a
 * first domain. Running it again changes nothing and says so.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/xalloc.h"

#define CLI_CERT_DAYS 3650 /* a development certificate: ten years */

static const char cli_config_template[] =
	"# hermod configuration, written by `hermod init` for development.\n"
	"# Every setting and its default: `hermod config dump`.\n"
	"# Relative paths are relative to this file's directory.\n"
	"\n"
	"# Our name in the SMTP banner, Received headers and the TLS certificate.\n"
	"hostname   %s\n"
	"# Database and message files (created with mode 0700).\n"
	"data_dir   data\n"
	"# debug, info, warn or error\n"
	"log_level  info\n"
	"\n"
	"# The default certificate; `hermod init` made a self-signed one.\n"
	"tls { certificate tls/cert.pem; key tls/key.pem }\n"
	"\n"
	"# One line per listener: service and address. The service decides the TLS\n"
	"# mode (smtp, submission, imap, pop3: STARTTLS/STLS; submissions, imaps,\n"
	"# pop3s: implicit TLS).\n"
	"listen smtp 127.0.0.1:2525\n"
	"# Submission for mail clients, devices, printers (587 and 465 in production).\n"
	"listen submission 127.0.0.1:2587\n"
	"listen submissions 127.0.0.1:2465\n"
	"listen imap 127.0.0.1:2143\n"
	"listen imaps 127.0.0.1:2993\n"
	"listen pop3 127.0.0.1:2110\n"
	"listen pop3s 127.0.0.1:2995\n"
	"# The Manager's JSON API (/api/v1), autoconfig and settings pages (https: TLS).\n"
	"listen http 127.0.0.1:8080\n"
	"\n"
	"# IMAP/POP3/submission passwords over unencrypted connections: only from this machine.\n"
	"plaintext_auth loopback\n"
	"\n"
	"# Limits for every connection (sizes take K, M, G; durations s, m, h, d):\n"
	"# limits { connections 1000; command_timeout 300s; max_message_size 50M }\n"
	"\n"
	"# What each plan allows (per address and per message):\n"
	"# plan free    { quota 1G;  message_size 25M; recipients 10;  daily_messages 500 }\n"
	"# plan starter { quota 10G; message_size 50M; recipients 100; daily_messages 500 }\n"
	"# plan pro     { quota 50G; message_size 50M; recipients 100; daily_messages 1440 }\n";

struct init_state {
	const char *hostname;
	bool changed;
};

/*
 * The hostname goes into the config file and the certificate's SAN string:
 * LDH labels and dots only, so nothing can be injected into either.
 */
static int check_hostname(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 253 || name[0] == '.' || name[0] == '-' || name[len - 1] == '.')
		return cli_error("hostname '%s' is not valid: letters, digits, '-' and '.' only", name);
	for (const char *p = name; *p != '\0'; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			  *p == '-' || *p == '.';
		if (!ok || (p[0] == '.' && p[1] == '.'))
			return cli_error("hostname '%s' is not valid: letters, digits, '-' and '.' only", name);
	}
	return 0;
}

/* Creates dir (mode) unless it exists as a directory. */
static int ensure_dir(struct init_state *st, const char *dir, mode_t mode, const char *what)
{
	struct stat sb;

	if (stat(dir, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return 0;
		return cli_error("%s %s exists but is not a directory", what, dir);
	}
	if (mkdir(dir, mode) < 0)
		return cli_error("cannot create the %s %s: %s", what, dir, strerror(errno));
	printf("created %s %s\n", what, dir);
	st->changed = true;
	return 0;
}

static int write_config(struct init_state *st, const char *path)
{
	char *copy = xstrdup(path);
	int r = ensure_dir(st, dirname(copy), 0700, "directory");

	free(copy);
	if (r != 0)
		return r;
	/* O_EXCL: never overwrite a file someone wrote in the meantime. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return cli_error("cannot create %s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return cli_error("cannot write %s: %s", path, strerror(errno));
	}
	fprintf(f, cli_config_template, st->hostname);
	if (fflush(f) != 0 || fsync(fd) != 0 || fclose(f) != 0)
		return cli_error("cannot write %s: %s", path, strerror(errno));
	printf("created configuration %s (hostname %s)\n", path, st->hostname);
	st->changed = true;
	return 0;
}

/* ---- the self-signed certificate (OpenSSL 3) ------------------------------ */

static int openssl_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "unknown error";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return cli_error("cannot %s: %s", what, buf);
}

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	int r = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return r == 1 ? 0 : -1;
}

/* A random positive 127-bit serial (RFC 5280 4.1.2.2: unique, at most 20 octets). */
static int set_serial(X509 *cert)
{
	unsigned char raw[16];
	int r = -1;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	raw[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL)
		r = 0;
	BN_free(bn);
	return r;
}

static int cert_fill(X509 *cert, EVP_PKEY *key, const char *hostname)
{
	char san[600];
	X509_NAME *name = X509_get_subject_name(cert);

	/* localhost is always there so that local test clients can verify us. */
	if (strcmp(hostname, "localhost") == 0)
		snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1");
	else
		snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,IP:127.0.0.1", hostname);
	if (X509_set_version(cert, 2) != 1 || set_serial(cert) < 0 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), CLI_CERT_DAYS, 0, NULL) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, name) != 1 || X509_set_pubkey(cert, key) != 1)
		return -1;
	if (add_ext(cert, NID_subject_alt_name, san) < 0 ||
	    add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(cert, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(cert, NID_subject_key_identifier, "hash") < 0)
		return -1;
	return X509_sign(cert, key, EVP_sha256()) > 0 ? 0 : -1;
}

/* Writes a PEM file through a temporary name, so a crash leaves no half file. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
	char *tmp = xasprintf("%s.tmp", path);

	errno = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	int ok = f != NULL && (key != NULL ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
					   : PEM_write_X509(f, cert)) == 1;

	if (f != NULL) {
		ok = ok && fflush(f) == 0 && fsync(fd) == 0;
		ok = fclose(f) == 0 && ok;
	} else if (fd >= 0) {
		close(fd);
	}
	ok = ok && rename(tmp, path) == 0;
	if (!ok) {
		cli_error("cannot write %s: %s", path, errno != 0 ? strerror(errno) : "OpenSSL error");
		unlink(tmp);
	}
	free(tmp);
	return ok ? 0 : -1;
}

static int make_certificate(struct init_state *st, const char *cert_path, const char *key_path)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	int r = -1;

	if (key == NULL || cert == NULL)
		r = openssl_error("generate the TLS key");
	else if (cert_fill(cert, key, st->hostname) < 0)
		r = openssl_error("build the self-signed certificate");
	else if (write_pem(key_path, 0600, key, NULL) == 0 && write_pem(cert_path, 0644, NULL, cert) == 0)
		r = 0;
	X509_free(cert);
	EVP_PKEY_free(key);
	if (r == 0) {
		printf("created self-signed certificate %s for %s (key %s, valid %d days)\n", cert_path,
		       st->hostname, key_path, CLI_CERT_DAYS);
		st->changed = true;
	}
	return r;
}

static int ensure_certificate(struct init_state *st, const struct config *cfg)
{
	if (cfg->tls_certificate == NULL || cfg->tls_key == NULL)
		return 0; /* TLS not configured: nothing to make */
	if (access(cfg->tls_certificate, F_OK) == 0)
		return 0;
	char *dir = xstrdup(cfg->tls_certificate);
	int r = ensure_dir(st, dirname(dir), 0700, "TLS directory");
	free(dir);
	return r != 0 ? r : make_certificate(st, cfg->tls_certificate, cfg->tls_key);
}

/* ---- store and first domain ----------------------------------------------- */

/* True when dir holds nothing yet: the store will be created, not reopened. */
static bool dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool empty = true;

	if (d == NULL)
		return true;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

static int ensure_store(struct init_state *st, struct cli *c)
{
	bool fresh = dir_is_empty(c->cfg->data_dir);

	if (cli_open_store(c) < 0)
		return -1;
	if (fresh) {
		printf("created store in %s (schema version %d)\n", c->cfg->data_dir,
		       store_schema_version(c->store));
		st->changed = true;
	}
	return 0;
}

static int ensure_domain(struct init_state *st, struct cli *c, const char *name)
{
	char domain[MAIL_DOMAIN_MAX + 1], err[512];
	struct store_domain dom;
	const char *errstr = NULL;

	if (mail_domain_parse(name, domain, err, sizeof(err)) < 0)
		return cli_error("%s", err);
	int found = store_domain_get(c->store, domain, &dom, &errstr);
	if (found < 0)
		return cli_error("%s", errstr);
	if (found == 1)
		return 0;
	/* the same operation as `domain add`: the domain gets its DKIM key too */
	json_t *params = json_pack("{s:s, s:s}", "domain", domain, "plan", "starter"), *res;
	int status = cli_call(c, "domain.add", params, &res);
	json_decref(params);
	json_decref(res);
	if (status != CLI_OK)
		return status;
	printf("added domain %s (plan starter) with its DKIM key\n", domain);
	st->changed = true;
	return 0;
}

int cli_init(struct cli *c, const struct cli_args *a)
{
	struct init_state st = { .hostname = cli_opt_value(a, "hostname") };
	const char *domain = cli_opt_value(a, "domain");

	if (st.hostname != NULL && check_hostname(st.hostname) != 0)
		return CLI_ERROR;
	if (st.hostname == NULL)
		st.hostname = "localhost";
	if (access(c->config_path, F_OK) < 0 && write_config(&st, c->config_path) != 0)
		return CLI_ERROR;
	if (cli_open_config(c) < 0)
		return CLI_ERROR;
	if (cli_opt_value(a, "hostname") != NULL && strcmp(c->cfg->hostname, st.hostname) != 0 && !st.changed)
		printf("note: %s already exists; its hostname %s is kept\n", c->config_path, c->cfg->hostname);
	/* The certificate is for the name the configuration actually uses. */
	st.hostname = c->cfg->hostname;
	if (ensure_dir(&st, c->cfg->data_dir, 0700, "data directory") != 0 || ensure_certificate(&st, c->cfg) != 0 ||
	    ensure_store(&st, c) != 0)
		return CLI_ERROR;
	if (domain != NULL && ensure_domain(&st, c, domain) != 0)
		return CLI_ERROR;
	if (!st.changed)
		printf("instance %s is already initialised: nothing changed\n", c->config_path);
	return CLI_OK;
}
