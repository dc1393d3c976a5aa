/*
 * config: a hand-written lexer and recursive-descent parser for hermod.conf.
 *
 * Every scalar setting lives in one table (settings[] for the top level and
 * limits { }, plan_settings[] for plan NAME { }). The table drives parsing,
 * defaults (the default is text, parsed by the same code as the file), bounds
 * checks and config_dump, so a setting cannot exist in one and not the other.
 */
#include "config/config.h"
#include "config/config_private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define TOKEN_MAX 4096
#define ARGS_MAX CONFIG_RETRY_MAX /* the longest statement: queue { retry ... } */

/* Where a setting may be written. */
enum section { SEC_TOP, SEC_LIMITS, SEC_TLS, SEC_PLAN, SEC_QUEUE, SEC_DNS };

/* ST_DURATIONS: a struct retry_schedule, written as 1 to CONFIG_RETRY_MAX durations. */
enum setting_type { ST_STRING, ST_PATH, ST_SIZE, ST_DURATION, ST_UINT, ST_BOOL, ST_ENUM, ST_DURATIONS };

struct setting {
	const char *name;
	enum section section;
	enum setting_type type;
	const char *def;           /* as written in the file; NULL: computed */
	uint64_t min, max;         /* numeric types, in bytes / seconds / units */
	size_t offset, size;       /* into struct config (or struct plan_cfg) */
	const char *const *names;  /* ST_ENUM: value i is names[i] */
	int (*check)(const char *value, const char **why_r);
	const char *doc;
};

static const char *const log_level_names[] = { "debug", "info", "warn", "error", NULL };
static const char *const plaintext_auth_names[] = { "never", "loopback", "always", NULL };

static int check_hostname(const char *value, const char **why_r);
static int check_public_url(const char *value, const char **why_r);
static int check_forward(const char *value, const char **why_r);

#define CFG(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define PLAN(field) offsetof(struct plan_cfg, field), sizeof(((struct plan_cfg *)0)->field)
#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)

static const struct setting settings[] = {
	{ "hostname", SEC_TOP, ST_STRING, NULL, 0, 0, CFG(hostname), NULL, check_hostname,
	  "our name in banners and Received headers (default: the system host name)" },
	{ "data_dir", SEC_TOP, ST_PATH, "data", 0, 0, CFG(data_dir), NULL, NULL,
	  "store and message files; relative to this file's directory" },
	{ "log_level", SEC_TOP, ST_ENUM, "info", 0, 0, CFG(log_level), log_level_names, NULL,
	  "debug, info, warn or error" },
	{ "connections", SEC_LIMITS, ST_UINT, "1000", 1, 1000000, CFG(max_connections), NULL, NULL,
	  "simultaneous connections, all services together" },
	{ "connections_per_ip", SEC_LIMITS, ST_UINT, "50", 1, 1000000, CFG(max_connections_per_ip), NULL,
	  NULL, "simultaneous connections from one client address" },
	{ "command_line_max", SEC_LIMITS, ST_SIZE, "4096", 512, 65536, CFG(command_line_max), NULL, NULL,
	  "longest command line accepted, in bytes" },
	{ "command_timeout", SEC_LIMITS, ST_DURATION, "300s", 1, 86400, CFG(command_timeout_s), NULL, NULL,
	  "idle time allowed while waiting for a command" },
	{ "data_timeout", SEC_LIMITS, ST_DURATION, "300s", 1, 86400, CFG(data_timeout_s), NULL, NULL,
	  "idle time allowed inside a message body" },
	{ "session_timeout", SEC_LIMITS, ST_DURATION, "1h", 1, 7 * 86400, CFG(session_timeout_s), NULL,
	  NULL, "longest session, however busy (slow-loris guard)" },
	{ "max_errors", SEC_LIMITS, ST_UINT, "10", 1, 10000, CFG(max_errors), NULL, NULL,
	  "protocol errors before the client is disconnected" },
	{ "max_recipients", SEC_LIMITS, ST_UINT, "100", 1, 100000, CFG(max_recipients), NULL, NULL,
	  "recipients per inbound message" },
	{ "max_message_size", SEC_LIMITS, ST_SIZE, "50M", 1024, TIB, CFG(max_message_size), NULL, NULL,
	  "largest inbound message, in bytes" },
	{ "shutdown_grace", SEC_LIMITS, ST_DURATION, "30s", 0, 3600, CFG(shutdown_grace_s), NULL, NULL,
	  "on SIGTERM, how long in-flight work may take to finish" },
	{ "plaintext_auth", SEC_TOP, ST_ENUM, "never", 0, 0, CFG(plaintext_auth), plaintext_auth_names, NULL,
	  "passwords over unencrypted connections: never, loopback (clients on 127.0.0.1/::1) or always" },
	{ "auth_max_failures", SEC_LIMITS, ST_UINT, "10", 1, 100000, CFG(auth_max_failures), NULL, NULL,
	  "failed logins from one IP, or for one address, before it is locked out" },
	{ "auth_lockout", SEC_LIMITS, ST_DURATION, "15m", 1, 7 * 86400, CFG(auth_lockout_s), NULL, NULL,
	  "how long a lockout lasts (and the window failures are counted in)" },
	{ "auth_failure_delay", SEC_LIMITS, ST_DURATION, "2s", 0, 60, CFG(auth_failure_delay_s), NULL, NULL,
	  "delay before answering a failed login (grows with repeated failures, at most 4x)" },
	{ "literal_max", SEC_LIMITS, ST_SIZE, "64K", 1024, 16 * 1024 * 1024, CFG(literal_max), NULL, NULL,
	  "largest IMAP literal outside APPEND (APPEND takes up to max_message_size)" },
	{ "idle_timeout", SEC_LIMITS, ST_DURATION, "30m", 1, 86400, CFG(idle_timeout_s), NULL, NULL,
	  "IMAP/POP3: inactivity allowed once logged in (RFC 3501 asks for at least 30 minutes)" },
	{ "helo_name", SEC_TOP, ST_STRING, NULL, 0, 0, CFG(helo_name), NULL, check_hostname,
	  "our name in EHLO/HELO when delivering to other servers (default: hostname)" },
	{ "public_url", SEC_TOP, ST_STRING, NULL, 0, 0, CFG(public_url), NULL, check_public_url,
	  "where people reach the Manager, for links in mail (default: the http(s) listener at hostname)" },
	{ "autoreply_period", SEC_TOP, ST_DURATION, "4d", 1, 365 * 86400, CFG(autoreply_period_s), NULL, NULL,
	  "an address's auto-reply answers one sender at most once in this period (RFC 3834 2)" },
	{ "retry", SEC_QUEUE, ST_DURATIONS, "5m 10m 30m 1h 2h 4h", 1, 7 * 86400, CFG(queue_retry), NULL, NULL,
	  "waits between delivery attempts (backoff); the last one repeats" },
	{ "delay_warning", SEC_QUEUE, ST_DURATION, "4h", 0, 365 * 86400, CFG(queue_delay_warning_s), NULL, NULL,
	  "the sender gets one delay notice once a message is undelivered this long (0: never)" },
	{ "max_lifetime", SEC_QUEUE, ST_DURATION, "3d", 1, 365 * 86400, CFG(queue_max_lifetime_s), NULL, NULL,
	  "after this long in the queue a message fails and the sender gets a failure notice" },
	{ "concurrency", SEC_QUEUE, ST_UINT, "20", 1, 10000, CFG(queue_concurrency), NULL, NULL,
	  "outbound connections at once (each holds one message in memory)" },
	{ "per_domain", SEC_QUEUE, ST_UINT, "5", 1, 10000, CFG(queue_per_domain), NULL, NULL,
	  "outbound connections at once to one recipient domain" },
	{ "connect_timeout", SEC_QUEUE, ST_DURATION, "30s", 1, 3600, CFG(queue_connect_timeout_s), NULL, NULL,
	  "time allowed to open a connection to a remote server" },
	{ "command_timeout", SEC_QUEUE, ST_DURATION, "5m", 1, 3600, CFG(queue_command_timeout_s), NULL, NULL,
	  "time allowed for each reply of a remote server (RFC 5321 4.5.3.2 asks for 5 minutes)" },
	{ "data_timeout", SEC_QUEUE, ST_DURATION, "10m", 1, 3600, CFG(queue_data_timeout_s), NULL, NULL,
	  "time allowed for each block of a message body to be taken, and for the reply after it" },
	{ "scan_interval", SEC_QUEUE, ST_DURATION, "1s", 1, 3600, CFG(queue_scan_interval_s), NULL, NULL,
	  "how often the queue looks for messages due for another attempt" },
	{ "mx_port", SEC_QUEUE, ST_UINT, "25", 1, 65535, CFG(queue_mx_port), NULL, NULL,
	  "TCP port of the mail servers found by MX lookups (25; tests use a high port)" },
	{ "forward", SEC_DNS, ST_STRING, NULL, 0, 0, CFG(dns_forward), NULL, check_forward,
	  "IP or IP@PORT of the resolver every query goes to (default: the nameservers of /etc/resolv.conf)" },
	{ "timeout", SEC_DNS, ST_DURATION, "10s", 1, 300, CFG(dns_timeout_s), NULL, NULL,
	  "time allowed for one lookup (MX and addresses together)" },
};
#define SETTINGS_COUNT (sizeof(settings) / sizeof(settings[0]))

static const struct setting plan_settings[] = {
	{ "quota", SEC_PLAN, ST_SIZE, NULL, 1 * MIB, 1024 * TIB, PLAN(quota_bytes), NULL, NULL,
	  "storage per address" },
	{ "message_size", SEC_PLAN, ST_SIZE, NULL, 1024, TIB, PLAN(message_size), NULL, NULL,
	  "largest message, sent or received" },
	{ "recipients", SEC_PLAN, ST_UINT, NULL, 1, 100000, PLAN(recipients), NULL, NULL,
	  "recipients per message, over To, Cc and Bcc" },
	{ "daily_messages", SEC_PLAN, ST_UINT, NULL, 1, 100000000, PLAN(daily_messages), NULL, NULL,
	  "messages per rolling 24 hours, one per recipient" },
};
#define PLAN_SETTINGS_COUNT (sizeof(plan_settings) / sizeof(plan_settings[0]))

static const struct plan_cfg plan_defaults[CONFIG_PLAN_COUNT] = {
	[PLAN_FREE] = { "free", 1 * GIB, 25 * MIB, 10, 500 },
	[PLAN_STARTER] = { "starter", 10 * GIB, 50 * MIB, 100, 500 },
	[PLAN_PRO] = { "pro", 50 * GIB, 50 * MIB, 100, 1440 },
};

static const struct {
	const char *name;
	enum tls_mode tls;
} services[LISTEN_SERVICE_COUNT] = {
	[LISTEN_SMTP] = { "smtp", TLS_MODE_STARTTLS },
	[LISTEN_SUBMISSION] = { "submission", TLS_MODE_STARTTLS },
	[LISTEN_SUBMISSIONS] = { "submissions", TLS_MODE_IMPLICIT },
	[LISTEN_IMAP] = { "imap", TLS_MODE_STARTTLS },
	[LISTEN_IMAPS] = { "imaps", TLS_MODE_IMPLICIT },
	[LISTEN_POP3] = { "pop3", TLS_MODE_STARTTLS },
	[LISTEN_POP3S] = { "pop3s", TLS_MODE_IMPLICIT },
	[LISTEN_HTTP] = { "http", TLS_MODE_NONE },
	[LISTEN_HTTPS] = { "https", TLS_MODE_IMPLICIT },
};

/* Statement keywords other than table settings, for "did you mean". */
static const char *const top_keywords[] = { "tls", "listen", "limits", "plan", "queue", "dns", "transport", NULL };
static const char *const tls_keywords[] = { "certificate", "key", "sni", NULL };

/* ---- lexer ---- */

enum tok { TOK_WORD, TOK_EOS, TOK_LBRACE, TOK_RBRACE, TOK_EOF, TOK_ERROR };

struct parser {
	const char *name; /* file name for messages */
	const char *dir;  /* absolute directory for relative paths */
	const char *p, *end;
	unsigned line;

	enum tok tok;
	unsigned tok_line;
	char text[TOKEN_MAX + 1];
	bool pushed_back;

	struct config *cfg;
	unsigned seen[SETTINGS_COUNT];                           /* line, 0 = not set */
	unsigned plan_seen[CONFIG_PLAN_COUNT][PLAN_SETTINGS_COUNT];
	unsigned listen_line[CONFIG_LISTEN_MAX];
	unsigned transport_line[CONFIG_TRANSPORT_MAX];
	unsigned tls_line;
};

static char errbuf[1024];

static int perr(struct parser *ps, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int perr(struct parser *ps, unsigned line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(errbuf, sizeof(errbuf), "%s:%u: %s", ps->name, line, msg);
	else
		snprintf(errbuf, sizeof(errbuf), "%s: %s", ps->name, msg);
	return -1;
}

static bool is_word_char(unsigned char ch)
{
	return ch > ' ' && ch != 0x7f && ch != '{' && ch != '}' && ch != ';' && ch != '#' && ch != '"';
}

static enum tok lex_quoted(struct parser *ps)
{
	size_t n = 0;

	ps->p++; /* opening quote */
	while (ps->p < ps->end && *ps->p != '"') {
		unsigned char ch = (unsigned char)*ps->p;
		if (ch == '\\' && ps->p + 1 < ps->end)
			ch = (unsigned char)*++ps->p;
		if (ch == '\n' || ch == '\0') {
			perr(ps, ps->line, "unterminated quoted value");
			return TOK_ERROR;
		}
		if (n == TOKEN_MAX) {
			perr(ps, ps->line, "value longer than %d bytes", TOKEN_MAX);
			return TOK_ERROR;
		}
		ps->text[n++] = (char)ch;
		ps->p++;
	}
	if (ps->p == ps->end) {
		perr(ps, ps->line, "unterminated quoted value");
		return TOK_ERROR;
	}
	ps->p++;
	ps->text[n] = '\0';
	return TOK_WORD;
}

static enum tok lex_word(struct parser *ps)
{
	size_t n = 0;

	while (ps->p < ps->end && is_word_char((unsigned char)*ps->p)) {
		if (n == TOKEN_MAX) {
			perr(ps, ps->line, "value longer than %d bytes", TOKEN_MAX);
			return TOK_ERROR;
		}
		ps->text[n++] = *ps->p++;
	}
	ps->text[n] = '\0';
	return TOK_WORD;
}

static enum tok lex(struct parser *ps)
{
	for (;;) {
		if (ps->p == ps->end)
			return TOK_EOF;
		unsigned char ch = (unsigned char)*ps->p;
		ps->tok_line = ps->line;
		if (ch == ' ' || ch == '\t' || ch == '\r') {
			ps->p++;
		} else if (ch == '#') {
			while (ps->p < ps->end && *ps->p != '\n')
				ps->p++;
		} else if (ch == '\n' || ch == ';') {
			ps->p++;
			if (ch == '\n')
				ps->line++;
			return TOK_EOS;
		} else if (ch == '{' || ch == '}') {
			ps->p++;
			return ch == '{' ? TOK_LBRACE : TOK_RBRACE;
		} else if (ch == '"') {
			return lex_quoted(ps);
		} else if (is_word_char(ch)) {
			return lex_word(ps);
		} else {
			perr(ps, ps->line, "unexpected control character 0x%02x", ch);
			return TOK_ERROR;
		}
	}
}

static enum tok next(struct parser *ps)
{
	if (ps->pushed_back)
		ps->pushed_back = false;
	else
		ps->tok = lex(ps);
	return ps->tok;
}

/* ---- value parsers ---- */

static int parse_u64(const char *s, uint64_t *v_r, const char **rest_r)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*v_r = v;
	*rest_r = s;
	return 0;
}

static int parse_scaled(const char *s, const char *units, const uint64_t *factors, uint64_t *v_r)
{
	const char *rest;
	uint64_t v, f = 1;

	if (parse_u64(s, &v, &rest) < 0)
		return -1;
	if (*rest != '\0') {
		const char *u = strchr(units, *rest);
		if (u == NULL || rest[1] != '\0')
			return -1;
		f = factors[u - units];
	}
	if (v != 0 && f > UINT64_MAX / v)
		return -1;
	*v_r = v * f;
	return 0;
}

static const uint64_t size_factors[] = { KIB, MIB, GIB, TIB, KIB, MIB, GIB, TIB };
static const uint64_t duration_factors[] = { 1, 60, 3600, 86400 };

static int parse_size(const char *s, uint64_t *v_r)
{
	return parse_scaled(s, "KMGTkmgt", size_factors, v_r);
}

static int parse_duration(const char *s, uint64_t *v_r)
{
	return parse_scaled(s, "smhd", duration_factors, v_r);
}

/* Writes v with the largest unit that represents it exactly ("50M", "1h"). */
static void format_scaled(uint64_t v, const char *units, const uint64_t *factors, size_t n, char *out,
			  size_t outlen)
{
	for (size_t i = n; i-- > 0;) {
		if (factors[i] > 1 && v != 0 && v % factors[i] == 0) {
			snprintf(out, outlen, "%llu%c", (unsigned long long)(v / factors[i]), units[i]);
			return;
		}
	}
	snprintf(out, outlen, "%llu%s", (unsigned long long)v, factors[0] == 1 ? "s" : "");
}

static void format_number(enum setting_type type, uint64_t v, char *out, size_t outlen)
{
	if (type == ST_SIZE)
		format_scaled(v, "KMGT", size_factors, 4, out, outlen);
	else if (type == ST_DURATION)
		format_scaled(v, "smhd", duration_factors, 4, out, outlen);
	else
		snprintf(out, outlen, "%llu", (unsigned long long)v);
}

static int parse_bool(const char *s, bool *v_r)
{
	static const char *const yes[] = { "yes", "true", "on" }, *const no[] = { "no", "false", "off" };

	for (size_t i = 0; i < 3; i++) {
		if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
			*v_r = strcmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return -1;
}

/* RFC 1123 host name: labels of letters, digits and '-', dot-separated. */
/* An absolute http(s) URL without a trailing slash, query or fragment. */
static int check_public_url(const char *value, const char **why_r)
{
	size_t len = strlen(value);

	if (strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0) {
		*why_r = "must start with https:// or http://";
		return -1;
	}
	if (len > 200 || strpbrk(value, "?# \t\"<>") != NULL || value[len - 1] == '/') {
		*why_r = "must be at most 200 characters, without a trailing '/', query, fragment or spaces";
		return -1;
	}
	return 0;
}

static int check_hostname(const char *value, const char **why_r)
{
	size_t label = 0, len = strlen(value);

	if (len == 0 || len > 253) {
		*why_r = "must be 1 to 253 characters long";
		return -1;
	}
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-') {
				*why_r = "has an empty label or a label ending with '-'";
				return -1;
			}
			label = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			   (*p == '-' && label > 0)) {
			if (++label > 63) {
				*why_r = "has a label longer than 63 characters";
				return -1;
			}
		} else {
			*why_r = "may only contain letters, digits, '-' and '.'";
			return -1;
		}
	}
	if (label == 0 || value[len - 1] == '-') {
		*why_r = "has an empty label or a label ending with '-'";
		return -1;
	}
	return 0;
}

/* "IP" or "IP@PORT" (libunbound's forward syntax), IPv4 or IPv6, numeric only. */
static int check_forward(const char *value, const char **why_r)
{
	unsigned char bin[16];
	char ip[64];
	const char *at = strchr(value, '@');
	size_t len = at != NULL ? (size_t)(at - value) : strlen(value);

	if (len == 0 || len >= sizeof(ip)) {
		*why_r = "expected IP or IP@PORT, e.g. 127.0.0.1@5353";
		return -1;
	}
	memcpy(ip, value, len);
	ip[len] = '\0';
	if (inet_pton(AF_INET, ip, bin) != 1 && inet_pton(AF_INET6, ip, bin) != 1) {
		*why_r = "the resolver must be a numeric IPv4 or IPv6 address (e.g. 127.0.0.1@5353)";
		return -1;
	}
	if (at != NULL) {
		char *end;
		errno = 0;
		unsigned long port = strtoul(at + 1, &end, 10);
		if (at[1] < '0' || at[1] > '9' || *end != '\0' || errno != 0 || port == 0 || port > 65535) {
			*why_r = "the port after '@' must be a number from 1 to 65535";
			return -1;
		}
	}
	return 0;
}

/* ---- paths ---- */

static char *path_resolve(const char *dir, const char *value, bool canonical)
{
	char *joined = value[0] == '/' ? xstrdup(value) : xasprintf("%s/%s", dir, value);
	char *real;

	if (!canonical)
		return joined;
	real = realpath(joined, NULL);
	if (real == NULL)
		return joined;
	free(joined);
	return real;
}

/* ---- settings ---- */

static void store_number(void *base, const struct setting *s, uint64_t v)
{
	char *field = (char *)base + s->offset;

	if (s->size == sizeof(uint64_t)) {
		memcpy(field, &v, sizeof(uint64_t));
	} else if (s->size == sizeof(unsigned)) {
		unsigned u = (unsigned)v;
		memcpy(field, &u, sizeof(u));
	} else if (s->size == sizeof(bool)) {
		bool b = v != 0;
		memcpy(field, &b, sizeof(b));
	} else {
		panic("config: setting %s has an unsupported field size %zu", s->name, s->size);
	}
}

static uint64_t load_number(const void *base, const struct setting *s)
{
	const char *field = (const char *)base + s->offset;
	uint64_t v = 0;

	if (s->size == sizeof(uint64_t)) {
		memcpy(&v, field, sizeof(v));
	} else if (s->size == sizeof(unsigned)) {
		unsigned u;
		memcpy(&u, field, sizeof(u));
		v = u;
	} else if (s->size == sizeof(bool)) {
		bool b;
		memcpy(&b, field, sizeof(b));
		v = b;
	}
	return v;
}

static int parse_enum(const struct setting *s, const char *value, uint64_t *v_r)
{
	for (size_t i = 0; s->names[i] != NULL; i++) {
		if (strcmp(value, s->names[i]) == 0) {
			*v_r = i;
			return 0;
		}
	}
	return -1;
}

static void join_names(const char *const *names, char *out, size_t outlen)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; names[i] != NULL && n < outlen; i++) {
		int w = snprintf(out + n, outlen - n, "%s%s", i > 0 ? ", " : "", names[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

static const char *type_help(const struct setting *s)
{
	switch (s->type) {
	case ST_SIZE:
		return "a number of bytes with an optional K, M, G or T suffix";
	case ST_DURATION:
		return "a number of seconds, or a number with an s, m, h or d suffix";
	case ST_DURATIONS:
		return "durations: numbers of seconds, or numbers with an s, m, h or d suffix";
	case ST_UINT:
		return "a whole number";
	case ST_BOOL:
		return "yes or no";
	default:
		return "a value";
	}
}

static int apply_number(struct parser *ps, unsigned line, void *base, const struct setting *s, const char *value)
{
	char bound[32];
	uint64_t v;
	bool b;
	int r;

	if (s->type == ST_SIZE) {
		r = parse_size(value, &v);
	} else if (s->type == ST_DURATION) {
		r = parse_duration(value, &v);
	} else if (s->type == ST_BOOL) {
		r = parse_bool(value, &b);
		v = r == 0 && b;
	} else {
		const char *rest;
		r = parse_u64(value, &v, &rest) == 0 && *rest == '\0' ? 0 : -1;
	}
	if (r < 0)
		return perr(ps, line, "invalid value '%s' for %s (expected %s)", value, s->name, type_help(s));
	if (s->type != ST_BOOL && v < s->min) {
		format_number(s->type, s->min, bound, sizeof(bound));
		return perr(ps, line, "value %s for %s is below the minimum %s", value, s->name, bound);
	}
	if (s->type != ST_BOOL && v > s->max) {
		format_number(s->type, s->max, bound, sizeof(bound));
		return perr(ps, line, "value %s for %s is above the maximum %s", value, s->name, bound);
	}
	store_number(base, s, v);
	return 0;
}

/* A space-separated list of durations into a struct retry_schedule. */
static int apply_durations(struct parser *ps, unsigned line, void *base, const struct setting *s, const char *value)
{
	struct retry_schedule rs = { 0 };
	char word[64], bound[32];
	uint64_t v;

	for (const char *p = value; *p != '\0';) {
		size_t n = strcspn(p, " ");
		if (n == 0) {
			p++;
			continue;
		}
		if (rs.count == CONFIG_RETRY_MAX)
			return perr(ps, line, "too many values for %s (at most %d)", s->name, CONFIG_RETRY_MAX);
		snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1), p);
		if (n >= sizeof(word) || parse_duration(word, &v) < 0)
			return perr(ps, line, "invalid value '%s' for %s (expected %s)", word, s->name, type_help(s));
		if (v < s->min || v > s->max) {
			format_number(ST_DURATION, v < s->min ? s->min : s->max, bound, sizeof(bound));
			return perr(ps, line, "value %s for %s is %s the %s %s", word, s->name,
				    v < s->min ? "below" : "above", v < s->min ? "minimum" : "maximum", bound);
		}
		rs.delay_s[rs.count++] = (unsigned)v;
		p += n;
	}
	if (rs.count == 0)
		return perr(ps, line, "empty value for %s", s->name);
	ASSERT(s->size == sizeof(rs));
	memcpy((char *)base + s->offset, &rs, sizeof(rs));
	return 0;
}

/* Sets one table setting from its text; line 0 means a built-in default. */
static int apply_setting(struct parser *ps, unsigned line, void *base, const struct setting *s, const char *value)
{
	char **strp = (char **)(void *)((char *)base + s->offset);
	const char *why;
	uint64_t v;

	switch (s->type) {
	case ST_STRING:
	case ST_PATH:
		if (value[0] == '\0')
			return perr(ps, line, "empty value for %s", s->name);
		if (s->check != NULL && s->check(value, &why) < 0)
			return perr(ps, line, "invalid value '%s' for %s: %s", value, s->name, why);
		free(*strp);
		*strp = s->type == ST_PATH ? path_resolve(ps->dir, value, true) : xstrdup(value);
		return 0;
	case ST_ENUM:
		if (parse_enum(s, value, &v) < 0) {
			char list[256];
			join_names(s->names, list, sizeof(list));
			return perr(ps, line, "invalid value '%s' for %s (expected one of: %s)", value, s->name, list);
		}
		store_number(base, s, v);
		return 0;
	case ST_DURATIONS:
		return apply_durations(ps, line, base, s, value);
	default:
		return apply_number(ps, line, base, s, value);
	}
}

static void apply_defaults(struct parser *ps)
{
	char host[256];

	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		if (settings[i].def != NULL && apply_setting(ps, 0, ps->cfg, &settings[i], settings[i].def) < 0)
			panic("config: bad built-in default for %s: %s", settings[i].name, errbuf);
	}
	if (gethostname(host, sizeof(host)) < 0 || memchr(host, '\0', sizeof(host)) == NULL ||
	    check_hostname(host, &(const char *){ NULL }) < 0)
		snprintf(host, sizeof(host), "localhost");
	ps->cfg->hostname = xstrdup(host);
	memcpy(ps->cfg->plans, plan_defaults, sizeof(plan_defaults));
}

/* ---- "did you mean" ---- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(size_t) * (lb + 1));
	}
	return prev[lb];
}

static void suggest_consider(const char *word, const char *cand, const char **best, size_t *best_d)
{
	size_t d = edit_distance(word, cand);

	if (d < *best_d) {
		*best_d = d;
		*best = cand;
	}
}

/* The closest known name within two edits, or NULL. */
static const char *suggest(const char *word, enum section sec)
{
	const char *const *kw = sec == SEC_TOP ? top_keywords : sec == SEC_TLS ? tls_keywords : NULL;
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; kw != NULL && kw[i] != NULL; i++)
		suggest_consider(word, kw[i], &best, &best_d);
	if (sec == SEC_PLAN) {
		for (size_t i = 0; i < PLAN_SETTINGS_COUNT; i++)
			suggest_consider(word, plan_settings[i].name, &best, &best_d);
	}
	for (size_t i = 0; i < SETTINGS_COUNT && sec != SEC_TLS && sec != SEC_PLAN; i++) {
		if (settings[i].section == sec)
			suggest_consider(word, settings[i].name, &best, &best_d);
	}
	return best;
}

static const char *section_name(enum section sec)
{
	static const char *const names[] = { "at the top level", "in limits { }", "in tls { }", "in plan { }",
					     "in queue { }", "in dns { }" };
	return names[sec];
}

/* A table setting of another section within two edits, or NULL. */
static const struct setting *suggest_elsewhere(const char *word, enum section sec)
{
	const struct setting *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		size_t d = edit_distance(word, settings[i].name);
		if (settings[i].section != sec && d < best_d) {
			best_d = d;
			best = &settings[i];
		}
	}
	return best;
}

static int unknown_setting(struct parser *ps, unsigned line, const char *name, enum section sec)
{
	const char *hint = suggest(name, sec);
	const struct setting *other;

	if (hint != NULL)
		return perr(ps, line, "unknown setting '%s' (did you mean '%s'?)", name, hint);
	other = suggest_elsewhere(name, sec);
	if (other != NULL && strcmp(other->name, name) == 0)
		return perr(ps, line, "setting '%s' belongs %s, not %s", name, section_name(other->section),
			    section_name(sec));
	if (other != NULL)
		return perr(ps, line, "unknown setting '%s' (did you mean '%s' %s?)", name, other->name,
			    section_name(other->section));
	return perr(ps, line, "unknown setting '%s' %s", name, section_name(sec));
}

/* ---- statements ---- */

struct stmt {
	char *name;
	char *args[ARGS_MAX];
	size_t nargs;
	unsigned line;
	bool block; /* followed by '{' (already consumed) */
};

static void stmt_clear(struct stmt *st)
{
	free(st->name);
	for (size_t i = 0; i < st->nargs; i++)
		free(st->args[i]);
	memset(st, 0, sizeof(*st));
}

static int parse_block(struct parser *ps, enum section sec, size_t plan);

static int want_args(struct parser *ps, const struct stmt *st, size_t n, bool block, const char *usage)
{
	if (st->nargs != n || st->block != block)
		return perr(ps, st->line, "usage: %s", usage);
	return 0;
}

/* A list setting's values, joined by spaces: the same text form as its built-in default. */
static int apply_list(struct parser *ps, const struct stmt *st, void *base, const struct setting *s)
{
	struct buf joined;
	int r;

	buf_init(&joined, 0);
	for (size_t i = 0; i < st->nargs; i++) {
		if (strchr(st->args[i], ' ') != NULL) {
			buf_free(&joined);
			return perr(ps, st->line, "invalid value '%s' for %s (expected %s)", st->args[i], s->name,
				    type_help(s));
		}
		buf_appendf(&joined, "%s%s", i > 0 ? " " : "", st->args[i]);
	}
	r = apply_setting(ps, st->line, base, s, joined.data);
	buf_free(&joined);
	return r;
}

static int do_table_setting(struct parser *ps, const struct stmt *st, const struct setting *table, size_t count,
			    unsigned *seen, void *base, enum section sec)
{
	for (size_t i = 0; i < count; i++) {
		const struct setting *s = &table[i];
		if (s->section != sec || strcmp(s->name, st->name) != 0)
			continue;
		if (s->type == ST_DURATIONS && st->nargs >= 1 && !st->block) {
			if (seen[i] != 0)
				return perr(ps, st->line, "%s is already set on line %u", s->name, seen[i]);
			seen[i] = st->line;
			return apply_list(ps, st, base, s);
		}
		if (st->nargs != 1 || st->block)
			return perr(ps, st->line, "%s takes exactly one value", s->name);
		if (seen[i] != 0)
			return perr(ps, st->line, "%s is already set on line %u", s->name, seen[i]);
		seen[i] = st->line;
		return apply_setting(ps, st->line, base, s, st->args[0]);
	}
	return unknown_setting(ps, st->line, st->name, sec);
}

static int parse_tls_path(struct parser *ps, const struct stmt *st, char **field_r)
{
	if (want_args(ps, st, 1, false, "certificate FILE / key FILE") < 0)
		return -1;
	if (*field_r != NULL)
		return perr(ps, st->line, "%s is already set in this tls block", st->name);
	if (st->args[0][0] == '\0')
		return perr(ps, st->line, "empty value for %s", st->name);
	*field_r = path_resolve(ps->dir, st->args[0], false);
	return 0;
}

static int do_tls_statement(struct parser *ps, const struct stmt *st)
{
	struct config *cfg = ps->cfg;
	const char *why;

	if (strcmp(st->name, "certificate") == 0)
		return parse_tls_path(ps, st, &cfg->tls_certificate);
	if (strcmp(st->name, "key") == 0)
		return parse_tls_path(ps, st, &cfg->tls_key);
	if (strcmp(st->name, "sni") != 0)
		return unknown_setting(ps, st->line, st->name, SEC_TLS);
	if (want_args(ps, st, 3, false, "sni SERVER_NAME CERTIFICATE KEY") < 0)
		return -1;
	if (cfg->tls_sni_count == CONFIG_TLS_CERT_MAX)
		return perr(ps, st->line, "too many sni certificates (at most %d)", CONFIG_TLS_CERT_MAX);
	if (check_hostname(st->args[0], &why) < 0)
		return perr(ps, st->line, "invalid sni server name '%s': %s", st->args[0], why);
	struct tls_cert_cfg *tc = &cfg->tls_sni[cfg->tls_sni_count++];
	snprintf(tc->server_name, sizeof(tc->server_name), "%s", st->args[0]);
	tc->certificate = path_resolve(ps->dir, st->args[1], false);
	tc->key = path_resolve(ps->dir, st->args[2], false);
	return 0;
}

static int parse_port(const char *s, uint16_t *port_r)
{
	uint64_t v;
	const char *rest;

	if (strlen(s) > 5 || parse_u64(s, &v, &rest) < 0 || *rest != '\0' || v > 65535)
		return -1;
	*port_r = (uint16_t)v;
	return 0;
}

/* HOST:PORT with a numeric IPv4 host, or [IPv6]:PORT. */
static int parse_listen_address(struct parser *ps, unsigned line, const char *addr, struct listen_cfg *lc)
{
	unsigned char bin[16];
	char host[64];
	const char *colon, *hstart = addr;
	size_t hlen;
	int af = AF_INET;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':')
			return perr(ps, line, "invalid listen address '%s' (expected [IPv6]:PORT)", addr);
		hstart = addr + 1, hlen = (size_t)(close - hstart), colon = close + 1, af = AF_INET6;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL)
			return perr(ps, line, "invalid listen address '%s' (expected HOST:PORT)", addr);
		if (memchr(addr, ':', (size_t)(colon - addr)) != NULL)
			return perr(ps, line, "invalid listen address '%s' (write IPv6 addresses in brackets, "
				    "e.g. [::1]:25)", addr);
		hlen = (size_t)(colon - addr);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return perr(ps, line, "invalid listen address '%s' (missing or overlong host)", addr);
	memcpy(host, hstart, hlen);
	host[hlen] = '\0';
	if (inet_pton(af, host, bin) != 1)
		return perr(ps, line, "invalid listen address '%s': '%s' is not a numeric %s address", addr, host,
			    af == AF_INET ? "IPv4" : "IPv6");
	if (parse_port(colon + 1, &lc->port) < 0)
		return perr(ps, line, "invalid port '%s' in listen address '%s' (expected 0 to 65535)", colon + 1,
			    addr);
	inet_ntop(af, bin, lc->host, sizeof(lc->host)); /* canonical form, so duplicates compare equal */
	return 0;
}

static int do_listen(struct parser *ps, const struct stmt *st)
{
	struct config *cfg = ps->cfg;
	struct listen_cfg lc;
	size_t svc;

	if (want_args(ps, st, 2, false, "listen SERVICE HOST:PORT") < 0)
		return -1;
	for (svc = 0; svc < LISTEN_SERVICE_COUNT && strcmp(services[svc].name, st->args[0]) != 0; svc++)
		;
	if (svc == LISTEN_SERVICE_COUNT)
		return perr(ps, st->line, "unknown service '%s' (expected smtp, submission, submissions, imap, "
			    "imaps, pop3, pop3s, http or https)", st->args[0]);
	memset(&lc, 0, sizeof(lc));
	lc.service = (enum listen_service)svc;
	lc.tls = services[svc].tls;
	if (parse_listen_address(ps, st->line, st->args[1], &lc) < 0)
		return -1;
	for (size_t i = 0; i < cfg->listen_count; i++) {
		if (lc.port != 0 && cfg->listen[i].port == lc.port && strcmp(cfg->listen[i].host, lc.host) == 0)
			return perr(ps, st->line, "address %s is already used on line %u", st->args[1],
				    ps->listen_line[i]);
	}
	if (cfg->listen_count == CONFIG_LISTEN_MAX)
		return perr(ps, st->line, "too many listen lines (at most %d)", CONFIG_LISTEN_MAX);
	ps->listen_line[cfg->listen_count] = st->line;
	cfg->listen[cfg->listen_count++] = lc;
	return 0;
}

/* HOST, HOST:PORT, [IPv6] or [IPv6]:PORT of a transport line; the port defaults to 25. */
static int parse_transport_host(struct parser *ps, unsigned line, const char *addr, struct transport_cfg *tc)
{
	unsigned char bin[16];
	const char *hstart = addr, *port = NULL, *why;
	size_t hlen;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return perr(ps, line, "invalid transport host '%s' (expected [IPv6]:PORT)", addr);
		hstart = addr + 1, hlen = (size_t)(close - hstart), port = close[1] == ':' ? close + 2 : NULL;
	} else {
		const char *colon = strchr(addr, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return perr(ps, line, "invalid transport host '%s' (write IPv6 addresses in brackets, "
				    "e.g. [::1]:25)", addr);
		hlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
		port = colon != NULL ? colon + 1 : NULL;
	}
	if (hlen == 0 || hlen >= sizeof(tc->host))
		return perr(ps, line, "invalid transport host '%s' (missing or overlong host)", addr);
	memcpy(tc->host, hstart, hlen);
	tc->host[hlen] = '\0';
	if (hstart != addr && inet_pton(AF_INET6, tc->host, bin) != 1)
		return perr(ps, line, "invalid transport host '%s': '%s' is not a numeric IPv6 address", addr,
			    tc->host);
	if (hstart == addr && check_hostname(tc->host, &why) < 0)
		return perr(ps, line, "invalid transport host '%s': '%s' %s", addr, tc->host, why);
	tc->port = 25;
	if (port != NULL && (parse_port(port, &tc->port) < 0 || tc->port == 0))
		return perr(ps, line, "invalid port '%s' in transport host '%s' (expected 1 to 65535)", port, addr);
	return 0;
}

static int do_transport(struct parser *ps, const struct stmt *st)
{
	struct config *cfg = ps->cfg;
	struct transport_cfg tc;
	const char *why;

	if (want_args(ps, st, 2, false, "transport DOMAIN HOST:PORT (DOMAIN \"*\" for every other domain)") < 0)
		return -1;
	memset(&tc, 0, sizeof(tc));
	if (strcmp(st->args[0], "*") != 0 && check_hostname(st->args[0], &why) < 0)
		return perr(ps, st->line, "invalid transport domain '%s': %s", st->args[0], why);
	snprintf(tc.domain, sizeof(tc.domain), "%s", st->args[0]);
	for (char *p = tc.domain; *p != '\0'; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	if (parse_transport_host(ps, st->line, st->args[1], &tc) < 0)
		return -1;
	for (size_t i = 0; i < cfg->transport_count; i++) {
		if (strcmp(cfg->transports[i].domain, tc.domain) == 0)
			return perr(ps, st->line, "a transport for %s is already set on line %u", tc.domain,
				    ps->transport_line[i]);
	}
	if (cfg->transport_count == CONFIG_TRANSPORT_MAX)
		return perr(ps, st->line, "too many transport lines (at most %d)", CONFIG_TRANSPORT_MAX);
	ps->transport_line[cfg->transport_count] = st->line;
	cfg->transports[cfg->transport_count++] = tc;
	return 0;
}

static int do_block(struct parser *ps, const struct stmt *st, enum section sec, size_t plan)
{
	if (st->block)
		return parse_block(ps, sec, plan);
	return perr(ps, st->line, "%s needs a { } block", st->name);
}

static int do_top_statement(struct parser *ps, const struct stmt *st)
{
	enum plan plan;

	if (strcmp(st->name, "listen") == 0)
		return do_listen(ps, st);
	if (strcmp(st->name, "transport") == 0)
		return do_transport(ps, st);
	if (strcmp(st->name, "queue") == 0 || strcmp(st->name, "dns") == 0) {
		if (st->nargs != 0)
			return perr(ps, st->line, "usage: %s { ... }", st->name);
		return do_block(ps, st, st->name[0] == 'q' ? SEC_QUEUE : SEC_DNS, 0);
	}
	if (strcmp(st->name, "tls") == 0 || strcmp(st->name, "limits") == 0) {
		if (st->nargs != 0)
			return perr(ps, st->line, "usage: %s { ... }", st->name);
		if (st->name[0] == 't') {
			if (ps->tls_line != 0)
				return perr(ps, st->line, "tls is already configured on line %u", ps->tls_line);
			ps->tls_line = st->line;
		}
		return do_block(ps, st, st->name[0] == 't' ? SEC_TLS : SEC_LIMITS, 0);
	}
	if (strcmp(st->name, "plan") == 0) {
		if (st->nargs != 1)
			return perr(ps, st->line, "usage: plan NAME { ... }");
		if (config_plan_parse(st->args[0], &plan) < 0)
			return perr(ps, st->line, "unknown plan '%s' (expected free, starter or pro)", st->args[0]);
		return do_block(ps, st, SEC_PLAN, plan);
	}
	return do_table_setting(ps, st, settings, SETTINGS_COUNT, ps->seen, ps->cfg, SEC_TOP);
}

static int do_statement(struct parser *ps, const struct stmt *st, enum section sec, size_t plan)
{
	switch (sec) {
	case SEC_TOP:
		return do_top_statement(ps, st);
	case SEC_LIMITS:
	case SEC_QUEUE:
	case SEC_DNS:
		if (st->block)
			return perr(ps, st->line, "unexpected '{' after %s", st->name);
		return do_table_setting(ps, st, settings, SETTINGS_COUNT, ps->seen, ps->cfg, sec);
	case SEC_TLS:
		if (st->block)
			return perr(ps, st->line, "unexpected '{' after %s", st->name);
		return do_tls_statement(ps, st);
	case SEC_PLAN:
		if (st->block)
			return perr(ps, st->line, "unexpected '{' after %s", st->name);
		return do_table_setting(ps, st, plan_settings, PLAN_SETTINGS_COUNT, ps->plan_seen[plan],
					&ps->cfg->plans[plan], SEC_PLAN);
	}
	return -1;
}

/* Reads the words after a statement's name up to its end or its '{'. */
static int read_statement(struct parser *ps, struct stmt *st)
{
	for (;;) {
		switch (next(ps)) {
		case TOK_WORD:
			if (st->nargs == ARGS_MAX)
				return perr(ps, ps->tok_line, "too many values for %s", st->name);
			st->args[st->nargs++] = xstrdup(ps->text);
			break;
		case TOK_LBRACE:
			st->block = true;
			return 0;
		case TOK_RBRACE:
		case TOK_EOF:
			ps->pushed_back = true; /* ends the enclosing block */
			return 0;
		case TOK_EOS:
			return 0;
		case TOK_ERROR:
			return -1;
		}
	}
}

static int parse_block(struct parser *ps, enum section sec, size_t plan)
{
	unsigned open_line = ps->tok_line;

	for (;;) {
		struct stmt st;
		int r;

		switch (next(ps)) {
		case TOK_EOS:
			continue;
		case TOK_EOF:
			if (sec != SEC_TOP)
				return perr(ps, open_line, "missing '}' for the block opened here");
			return 0;
		case TOK_RBRACE:
			if (sec == SEC_TOP)
				return perr(ps, ps->tok_line, "unexpected '}'");
			return 0;
		case TOK_LBRACE:
			return perr(ps, ps->tok_line, "unexpected '{'");
		case TOK_ERROR:
			return -1;
		case TOK_WORD:
			break;
		}
		memset(&st, 0, sizeof(st));
		st.name = xstrdup(ps->text);
		st.line = ps->tok_line;
		r = read_statement(ps, &st);
		if (r == 0)
			r = do_statement(ps, &st, sec, plan);
		stmt_clear(&st);
		if (r < 0)
			return -1;
	}
}

static int validate(struct parser *ps)
{
	struct config *cfg = ps->cfg;

	if (cfg->helo_name == NULL)
		cfg->helo_name = xstrdup(cfg->hostname);
	if (ps->tls_line != 0 && (cfg->tls_certificate == NULL || cfg->tls_key == NULL))
		return perr(ps, ps->tls_line, "tls needs both a certificate and a key");
	for (size_t i = 0; i < cfg->listen_count; i++) {
		if (cfg->listen[i].tls == TLS_MODE_IMPLICIT && cfg->tls_certificate == NULL)
			return perr(ps, ps->listen_line[i], "service %s needs TLS, but no tls { } block is configured",
				    config_service_name(cfg->listen[i].service));
	}
	return 0;
}

int config_parse_text(const char *name, const char *dir, const char *text, size_t len, struct config **cfg_r,
		      const char **errstr_r)
{
	struct parser *ps = xcalloc(1, sizeof(*ps));
	int r;

	ps->name = name;
	ps->dir = dir;
	ps->p = text;
	ps->end = text + len;
	ps->line = 1;
	ps->cfg = xcalloc(1, sizeof(*ps->cfg));
	ps->cfg->path = xasprintf("%s/%s", dir, strrchr(name, '/') ? strrchr(name, '/') + 1 : name);
	apply_defaults(ps);
	r = parse_block(ps, SEC_TOP, 0);
	if (r == 0)
		r = validate(ps);
	if (r < 0) {
		config_free(ps->cfg);
		*errstr_r = errbuf;
	} else {
		*cfg_r = ps->cfg;
	}
	free(ps);
	return r;
}

/* ---- loading ---- */

static int read_file(const char *path, char **text_r, size_t *len_r)
{
	FILE *f = fopen(path, "r");
	char *text;
	size_t n;

	if (f == NULL) {
		snprintf(errbuf, sizeof(errbuf), "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	text = xmalloc(CONFIG_FILE_MAX_BYTES + 1);
	n = fread(text, 1, CONFIG_FILE_MAX_BYTES + 1, f);
	if (ferror(f) || n > CONFIG_FILE_MAX_BYTES) {
		snprintf(errbuf, sizeof(errbuf), "%s: %s", path,
			 ferror(f) ? "read error" : "file is larger than 1 MiB");
		free(text);
		fclose(f);
		return -1;
	}
	fclose(f);
	*text_r = text;
	*len_r = n;
	return 0;
}

/* The file's directory as an absolute, canonical path. */
static char *config_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? xstrdup(".") : slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
	char *real = realpath(dir, NULL);

	free(dir);
	return real;
}

int config_load(const char *path, struct config **cfg_r, const char **errstr_r)
{
	char *text, *dir;
	size_t len;
	int r;

	if (read_file(path, &text, &len) < 0) {
		*errstr_r = errbuf;
		return -1;
	}
	dir = config_dir(path);
	if (dir == NULL) {
		snprintf(errbuf, sizeof(errbuf), "%s: cannot resolve its directory: %s", path, strerror(errno));
		free(text);
		*errstr_r = errbuf;
		return -1;
	}
	r = config_parse_text(path, dir, text, len, cfg_r, errstr_r);
	free(dir);
	free(text);
	return r;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->hostname);
	free(cfg->data_dir);
	free(cfg->tls_certificate);
	free(cfg->tls_key);
	free(cfg->dns_forward);
	free(cfg->helo_name);
	free(cfg->public_url);
	for (size_t i = 0; i < cfg->tls_sni_count; i++) {
		free(cfg->tls_sni[i].certificate);
		free(cfg->tls_sni[i].key);
	}
	free(cfg);
}

/* ---- dump ---- */

static void dump_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void dump_setting(FILE *out, const void *base, const struct setting *s, const char *indent)
{
	const char *str = NULL;
	char num[32];

	if (s->type == ST_STRING || s->type == ST_PATH)
		str = *(char *const *)(const void *)((const char *)base + s->offset);
	/* an unset optional string (dns forward) stays unset when read back */
	fprintf(out, "%s# %s\n%s%s%s ", indent, s->doc, indent, (s->type == ST_STRING && str == NULL) ? "# " : "",
		s->name);
	if ((s->type == ST_STRING || s->type == ST_PATH) && str == NULL) {
		fputs("(not set)", out);
	} else if (s->type == ST_DURATIONS) {
		const struct retry_schedule *rs = (const void *)((const char *)base + s->offset);
		for (unsigned i = 0; i < rs->count; i++) {
			format_number(ST_DURATION, rs->delay_s[i], num, sizeof(num));
			fprintf(out, "%s%s", i > 0 ? " " : "", num);
		}
	} else if (s->type == ST_STRING || s->type == ST_PATH) {
		dump_quoted(out, *(char *const *)(const void *)((const char *)base + s->offset));
	} else if (s->type == ST_ENUM) {
		fputs(s->names[load_number(base, s)], out);
	} else if (s->type == ST_BOOL) {
		fputs(load_number(base, s) ? "yes" : "no", out);
	} else {
		format_number(s->type, load_number(base, s), num, sizeof(num));
		fputs(num, out);
	}
	fputc('\n', out);
}

static void dump_tls(const struct config *cfg, FILE *out)
{
	if (cfg->tls_certificate == NULL) {
		fputs("# tls { certificate FILE; key FILE; sni NAME FILE FILE }  (not configured)\n", out);
		return;
	}
	fputs("tls {\n\tcertificate ", out);
	dump_quoted(out, cfg->tls_certificate);
	fputs("\n\tkey ", out);
	dump_quoted(out, cfg->tls_key);
	fputc('\n', out);
	for (size_t i = 0; i < cfg->tls_sni_count; i++) {
		fprintf(out, "\tsni %s ", cfg->tls_sni[i].server_name);
		dump_quoted(out, cfg->tls_sni[i].certificate);
		fputc(' ', out);
		dump_quoted(out, cfg->tls_sni[i].key);
		fputc('\n', out);
	}
	fputs("}\n", out);
}

static void dump_section(const struct config *cfg, FILE *out, const char *name, enum section sec)
{
	fprintf(out, "%s {\n", name);
	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		if (settings[i].section == sec)
			dump_setting(out, cfg, &settings[i], "\t");
	}
	fputs("}\n", out);
}

void config_dump(const struct config *cfg, FILE *out)
{
	fprintf(out, "# hermod configuration: effective values of %s\n", cfg->path);
	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		if (settings[i].section == SEC_TOP)
			dump_setting(out, cfg, &settings[i], "");
	}
	dump_tls(cfg, out);
	for (size_t i = 0; i < cfg->listen_count; i++) {
		const struct listen_cfg *lc = &cfg->listen[i];
		bool v6 = strchr(lc->host, ':') != NULL;
		fprintf(out, "listen %s %s%s%s:%u\n", config_service_name(lc->service), v6 ? "[" : "", lc->host,
			v6 ? "]" : "", lc->port);
	}
	fputs("limits {\n", out);
	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		if (settings[i].section == SEC_LIMITS)
			dump_setting(out, cfg, &settings[i], "\t");
	}
	fputs("}\n", out);
	for (size_t p = 0; p < CONFIG_PLAN_COUNT; p++) {
		fprintf(out, "plan %s {\n", cfg->plans[p].name);
		for (size_t i = 0; i < PLAN_SETTINGS_COUNT; i++)
			dump_setting(out, &cfg->plans[p], &plan_settings[i], "\t");
		fputs("}\n", out);
	}
	dump_section(cfg, out, "queue", SEC_QUEUE);
	dump_section(cfg, out, "dns", SEC_DNS);
	fputs("# transport DOMAIN HOST:PORT  (\"*\": every other domain; the host by A/AAAA, not MX)\n", out);
	for (size_t i = 0; i < cfg->transport_count; i++) {
		const struct transport_cfg *tc = &cfg->transports[i];
		bool v6 = strchr(tc->host, ':') != NULL;
		fprintf(out, "transport %s %s%s%s:%u\n", tc->domain, v6 ? "[" : "", tc->host, v6 ? "]" : "", tc->port);
	}
}

/* ---- small lookups ---- */

const struct transport_cfg *config_transport_find(const struct config *cfg, const char *domain)
{
	const struct transport_cfg *wildcard = NULL;

	for (size_t i = 0; i < cfg->transport_count; i++) {
		if (strcasecmp(cfg->transports[i].domain, domain) == 0)
			return &cfg->transports[i];
		if (strcmp(cfg->transports[i].domain, "*") == 0)
			wildcard = &cfg->transports[i];
	}
	return wildcard;
}

const char *config_service_name(enum listen_service service)
{
	ASSERT(service < LISTEN_SERVICE_COUNT);
	return services[service].name;
}

int config_plan_parse(const char *name, enum plan *plan_r)
{
	for (size_t i = 0; i < CONFIG_PLAN_COUNT; i++) {
		if (strcmp(name, plan_defaults[i].name) == 0) {
			*plan_r = (enum plan)i;
			return 0;
		}
	}
	return -1;
}

const char *config_plan_name(enum plan plan)
{
	ASSERT(plan < CONFIG_PLAN_COUNT);
	return plan_defaults[plan].name;
}

const char *config_default_path(void)
{
	const char *env = getenv("HERMOD_CONFIG");

	return env != NULL && env[0] != '\0' ? env : "./var/hermod.conf";
}
