/*
 * config: the hermod configuration file, parsed into an immutable snapshot.
 *
 * Grammar (one statement per line or ';'-separated; '#' starts a comment;
 * values may be "quoted"):
 *
 *     hostname   mail.example.org
 *     data_dir   data                      # relative paths: to the file's dir
 *     log_level  info
 *     tls { certificate tls/cert.pem; key tls/key.pem }
 *     listen smtp 127.0.0.1:2525           # service name decides the TLS mode
 *     listen smtp [::1]:2525
 *     limits { connections 1000; command_timeout 300s; max_message_size 50M }
 *     plan starter { quota 10G; message_size 50M; recipients 100; daily_messages 500 }
 *     queue { retry 5m 10m 30m 1h 2h 4h; delay_warning 4h; max_lifetime 3d }
 *     dns { forward 127.0.0.1@5353; timeout 10s }
 *     helo_name mail.example.org
 *     transport example.net relay.example.net:2525   # like Postfix's transport maps
 *     transport * smarthost.example.org:587          # "*": every other domain
 *
 * Sizes take K, M, G suffixes (powers of 1024); durations take s, m, h, d.
 * Every setting, its default, bounds and meaning is listed in the settings
 * table in config.c; `hermod config dump` prints the effective values.
 */
#ifndef HERMOD_CONFIG_CONFIG_H
#define HERMOD_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum listen_service {
	LISTEN_SMTP,        /* MX, port 25: STARTTLS offered when TLS is set */
	LISTEN_SUBMISSION,  /* 587: STARTTLS */
	LISTEN_SUBMISSIONS, /* 465: implicit TLS */
	LISTEN_IMAP,        /* 143: STARTTLS */
	LISTEN_IMAPS,       /* 993: implicit TLS */
	LISTEN_POP3,        /* 110: STLS */
	LISTEN_POP3S,       /* 995: implicit TLS */
	LISTEN_HTTP,
	LISTEN_HTTPS,
	LISTEN_SERVICE_COUNT
};

enum tls_mode { TLS_MODE_NONE, TLS_MODE_STARTTLS, TLS_MODE_IMPLICIT };

/* When a password may cross an unencrypted connection (LOGINDISABLED otherwise). */
enum plaintext_auth { PLAINTEXT_AUTH_NEVER, PLAINTEXT_AUTH_LOOPBACK, PLAINTEXT_AUTH_ALWAYS };

#define CONFIG_LISTEN_MAX 32
#define CONFIG_PLAN_COUNT 3
#define CONFIG_TLS_CERT_MAX 8
#define CONFIG_RETRY_MAX 16
#define CONFIG_TRANSPORT_MAX 64

struct listen_cfg {
	enum listen_service service;
	enum tls_mode tls;
	char host[64]; /* numeric address, without brackets */
	uint16_t port; /* 0 = ephemeral (tests) */
};

/* Plan limits; the plan of a domain is stored with its mail service. */
enum plan { PLAN_FREE, PLAN_STARTER, PLAN_PRO };

struct plan_cfg {
	char name[16];              /* "free", "starter", "pro" */
	uint64_t quota_bytes;       /* storage per address */
	uint64_t message_size;      /* max message size, declared and actual */
	unsigned recipients;        /* per message, over To, Cc and Bcc */
	unsigned daily_messages;    /* per rolling 24 h, one per recipient */
};

/* An extra certificate chosen by SNI; the [tls] one is the default. */
struct tls_cert_cfg {
	char server_name[256];
	char *certificate;
	char *key;
};

/* The outbound queue's backoff: attempt n waits delay_s[n-1]; the last value repeats. */
struct retry_schedule {
	unsigned count; /* 1 to CONFIG_RETRY_MAX */
	unsigned delay_s[CONFIG_RETRY_MAX];
};

/*
 * A transport override (Postfix's transport maps): mail for domain goes to
 * host:port instead of the domain's MX hosts. host is resolved by A/AAAA,
 * never MX.
 */
struct transport_cfg {
	char domain[256]; /* lower case; "*" for every domain without its own line (a smart host) */
	char host[256];   /* a host name, or a numeric IPv4 / IPv6 address (no brackets) */
	uint16_t port;
};

struct config {
	char *path;           /* the file this snapshot came from */
	char *hostname;       /* our name in banners and Received headers */
	char *data_dir;       /* absolute */
	int log_level;        /* enum log_level */

	char *tls_certificate; /* absolute; NULL when TLS is not configured */
	char *tls_key;
	struct tls_cert_cfg tls_sni[CONFIG_TLS_CERT_MAX];
	size_t tls_sni_count;

	struct listen_cfg listen[CONFIG_LISTEN_MAX];
	size_t listen_count;

	/* limits { } */
	unsigned max_connections;         /* all services together */
	unsigned max_connections_per_ip;
	size_t command_line_max;          /* hard cap on one command line, bytes */
	unsigned command_timeout_s;       /* idle time waiting for a command */
	unsigned data_timeout_s;          /* idle time inside DATA/BDAT */
	unsigned session_timeout_s;       /* whole session, slow-loris guard */
	unsigned max_errors;              /* protocol errors before disconnect */
	unsigned max_recipients;          /* inbound (MX) recipients per message */
	uint64_t max_message_size;        /* inbound (MX) message size */
	unsigned shutdown_grace_s;        /* SIGTERM: wait this long for in-flight work */

	int plaintext_auth;               /* enum plaintext_auth */
	unsigned auth_max_failures;       /* failed logins (per IP, per address) before lockout */
	unsigned auth_lockout_s;          /* lockout length and counting window */
	unsigned auth_failure_delay_s;    /* delay before a failure is answered */
	size_t literal_max;               /* IMAP literals outside APPEND */
	unsigned idle_timeout_s;          /* IMAP/POP3 inactivity once logged in */

	struct plan_cfg plans[CONFIG_PLAN_COUNT]; /* indexed by enum plan */

	/* queue { }: outbound delivery */
	struct retry_schedule queue_retry;
	unsigned queue_delay_warning_s;   /* one delay notice after this long undelivered; 0: none */
	unsigned queue_max_lifetime_s;    /* then the message fails with a notice (4.4.7) */
	unsigned queue_concurrency;       /* outbound connections at once */
	unsigned queue_per_domain;        /* outbound connections at once to one recipient domain */
	unsigned queue_connect_timeout_s;
	unsigned queue_command_timeout_s; /* banner, EHLO, MAIL, RCPT, DATA and the final dot's reply */
	unsigned queue_data_timeout_s;    /* each block of the message body written */
	unsigned queue_scan_interval_s;   /* how often the store is asked for due entries */
	unsigned queue_mx_port;           /* TCP port of MX hosts (25; tests use a high port) */

	/* dns { } */
	char *dns_forward;                /* "IP" or "IP@PORT"; NULL: /etc/resolv.conf */
	unsigned dns_timeout_s;

	char *helo_name;                  /* EHLO name of outbound connections (default: hostname) */
	char *public_url;                 /* base of links in mail (NULL: derived, manage_public_url) */
	unsigned autoreply_period_s;      /* an auto-reply answers one sender at most once in this */
	struct transport_cfg transports[CONFIG_TRANSPORT_MAX];
	size_t transport_count;
};

/*
 * The transport override for domain (case-insensitive): its own line, else
 * the "*" line, else NULL (route by MX).
 */
const struct transport_cfg *config_transport_find(const struct config *cfg, const char *domain);

/*
 * Reads and validates the file at path. On success returns 0 and a new
 * snapshot in *cfg_r; on failure -1 and an error naming the file, line and
 * cause in *errstr_r (static or thread-local storage, valid until the next
 * call).
 */
int config_load(const char *path, struct config **cfg_r, const char **errstr_r);
void config_free(struct config *cfg);

/* Writes every effective setting, in the file's own syntax. */
void config_dump(const struct config *cfg, FILE *out);

/* Name of a service as written after "listen", e.g. "submissions". */
const char *config_service_name(enum listen_service service);
/* Plan by name; returns -1 for an unknown name. */
int config_plan_parse(const char *name, enum plan *plan_r);
const char *config_plan_name(enum plan plan);

/* The configuration file's path when -c is not given: $HERMOD_CONFIG or ./var/hermod.conf */
const char *config_default_path(void);

#endif
