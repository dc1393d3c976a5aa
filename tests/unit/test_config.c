/* Unit tests for src/config: the settings table, the grammar, errors, dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static char tmpdir[PATH_MAX];
static char conf_path[PATH_MAX + 32];
static char last_err[1024];

static int group_setup(void **state)
{
	const char *base = getenv("HERMOD_TEST_TMP");
	char *real;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_config.XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* Compare against the canonical form, as config does. */
	real = realpath(tmpdir, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);
	snprintf(conf_path, sizeof(conf_path), "%s/hermod.conf", tmpdir);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct config *load_ok(const char *text)
{
	struct config *cfg = NULL;
	const char *err = NULL;

	write_file(conf_path, text);
	if (config_load(conf_path, &cfg, &err) < 0)
		fail_msg("config_load failed: %s", err);
	return cfg;
}

/* Returns the message with the temp dir prefix cut, e.g. "hermod.conf:2: ...". */
static const char *load_err(const char *text)
{
	struct config *cfg = NULL;
	const char *err = NULL;
	size_t n = strlen(tmpdir) + 1;

	write_file(conf_path, text);
	assert_int_equal(config_load(conf_path, &cfg, &err), -1);
	assert_non_null(err);
	assert_true(strncmp(err, tmpdir, strlen(tmpdir)) == 0);
	snprintf(last_err, sizeof(last_err), "%s", err + n);
	return last_err;
}

static void test_defaults(void **state)
{
	struct config *cfg = load_ok("");
	char expect[PATH_MAX + 16];
	char host[256];

	snprintf(expect, sizeof(expect), "%s/data", tmpdir);
	assert_string_equal(cfg->data_dir, expect);
	assert_string_equal(cfg->path, conf_path);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	assert_string_equal(cfg->hostname, host);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_null(cfg->tls_certificate);
	assert_int_equal(cfg->listen_count, 0);
	assert_int_equal(cfg->max_connections, 1000);
	assert_int_equal(cfg->max_connections_per_ip, 50);
	assert_int_equal(cfg->command_line_max, 4096);
	assert_int_equal(cfg->command_timeout_s, 300);
	assert_int_equal(cfg->data_timeout_s, 300);
	assert_int_equal(cfg->session_timeout_s, 3600);
	assert_int_equal(cfg->max_errors, 10);
	assert_int_equal(cfg->max_recipients, 100);
	assert_int_equal(cfg->max_message_size, 50ULL << 20);
	assert_int_equal(cfg->shutdown_grace_s, 30);

	assert_string_equal(cfg->plans[PLAN_FREE].name, "free");
	assert_int_equal(cfg->plans[PLAN_FREE].quota_bytes, 1ULL << 30);
	assert_int_equal(cfg->plans[PLAN_FREE].message_size, 25ULL << 20);
	assert_int_equal(cfg->plans[PLAN_FREE].recipients, 10);
	assert_int_equal(cfg->plans[PLAN_FREE].daily_messages, 500);
	assert_int_equal(cfg->plans[PLAN_STARTER].quota_bytes, 10ULL << 30);
	assert_int_equal(cfg->plans[PLAN_STARTER].message_size, 50ULL << 20);
	assert_int_equal(cfg->plans[PLAN_STARTER].recipients, 100);
	assert_int_equal(cfg->plans[PLAN_STARTER].daily_messages, 500);
	assert_int_equal(cfg->plans[PLAN_PRO].quota_bytes, 50ULL << 30);
	assert_int_equal(cfg->plans[PLAN_PRO].message_size, 50ULL << 20);
	assert_int_equal(cfg->plans[PLAN_PRO].recipients, 100);
	assert_int_equal(cfg->plans[PLAN_PRO].daily_messages, 1440);
	config_free(cfg);
}

static void test_every_type(void **state)
{
	struct config *cfg = load_ok("hostname mail.example.org\n"
				     "data_dir /var/lib/hermod-test\n"
				     "log_level debug\n"
				     "limits {\n"
				     "  connections 7\n"
				     "  connections_per_ip 3\n"
				     "  command_line_max 1K   # size with a suffix\n"
				     "  command_timeout 90\n"
				     "  data_timeout 2m\n"
				     "  session_timeout 2h\n"
				     "  max_errors 4\n"
				     "  max_recipients 12\n"
				     "  max_message_size 3G\n"
				     "  shutdown_grace 0\n"
				     "}\n");

	assert_string_equal(cfg->hostname, "mail.example.org");
	assert_string_equal(cfg->data_dir, "/var/lib/hermod-test");
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg->max_connections, 7);
	assert_int_equal(cfg->max_connections_per_ip, 3);
	assert_int_equal(cfg->command_line_max, 1024);
	assert_int_equal(cfg->command_timeout_s, 90);
	assert_int_equal(cfg->data_timeout_s, 120);
	assert_int_equal(cfg->session_timeout_s, 7200);
	assert_int_equal(cfg->max_errors, 4);
	assert_int_equal(cfg->max_recipients, 12);
	assert_int_equal(cfg->max_message_size, 3ULL << 30);
	assert_int_equal(cfg->shutdown_grace_s, 0);
	config_free(cfg);
}

static void test_units(void **state)
{
	struct config *cfg = load_ok("limits { max_message_size 2048K; session_timeout 1d; command_line_max 512 }\n"
				     "plan pro { quota 1T }\n");

	assert_int_equal(cfg->max_message_size, 2ULL << 20);
	assert_int_equal(cfg->session_timeout_s, 86400);
	assert_int_equal(cfg->command_line_max, 512);
	assert_int_equal(cfg->plans[PLAN_PRO].quota_bytes, 1ULL << 40);
	config_free(cfg);
}

struct err_case {
	const char *text;
	const char *err;
};

static const struct err_case err_cases[] = {
	{ "\nlimits { command_line_max 3 }\n",
	  "hermod.conf:2: value 3 for command_line_max is below the minimum 512" },
	{ "limits {\n command_line_max 70000\n}\n",
	  "hermod.conf:2: value 70000 for command_line_max is above the maximum 64K" },
	{ "limits { command_timeout 2d }", "hermod.conf:1: value 2d for command_timeout is above the maximum 1d" },
	{ "limits { connections 0 }", "hermod.conf:1: value 0 for connections is below the minimum 1" },
	{ "limits { max_message_size 12X }",
	  "hermod.conf:1: invalid value '12X' for max_message_size (expected a number of bytes with an optional "
	  "K, M, G or T suffix)" },
	{ "limits { command_timeout 5w }",
	  "hermod.conf:1: invalid value '5w' for command_timeout (expected a number of seconds, or a number with "
	  "an s, m, h or d suffix)" },
	{ "limits { max_errors -1 }", "hermod.conf:1: invalid value '-1' for max_errors (expected a whole number)" },
	{ "limits { max_errors 99999999999999999999999 }",
	  "hermod.conf:1: invalid value '99999999999999999999999' for max_errors (expected a whole number)" },
	{ "limits { max_message_size 99999999999999999G }",
	  "hermod.conf:1: invalid value '99999999999999999G' for max_message_size (expected a number of bytes "
	  "with an optional K, M, G or T suffix)" },
	{ "log_level loud", "hermod.conf:1: invalid value 'loud' for log_level (expected one of: debug, info, "
			    "warn, error)" },
	{ "# comment\nconections 5\n", "hermod.conf:2: unknown setting 'conections' (did you mean 'connections' in limits { }?)" },
	{ "limits {\nconections 5\n}", "hermod.conf:2: unknown setting 'conections' (did you mean 'connections'?)" },
	{ "connections 5", "hermod.conf:1: setting 'connections' belongs in limits { }, not at the top level" },
	{ "limits { hostnme x }", "hermod.conf:1: unknown setting 'hostnme' (did you mean 'hostname' at the top "
				  "level?)" },
	{ "limits\n{ connections 1 }", "hermod.conf:1: limits needs a { } block" },
	{ "frobnicate yes", "hermod.conf:1: unknown setting 'frobnicate' at the top level" },
	{ "hostname a b", "hermod.conf:1: hostname takes exactly one value" },
	{ "hostname a\nhostname b", "hermod.conf:2: hostname is already set on line 1" },
	{ "hostname \"bad host\"", "hermod.conf:1: invalid value 'bad host' for hostname: may only contain "
				   "letters, digits, '-' and '.'" },
	{ "hostname \"\"", "hermod.conf:1: empty value for hostname" },
	{ "limits {\nconnections 5\n", "hermod.conf:1: missing '}' for the block opened here" },
	{ "}", "hermod.conf:1: unexpected '}'" },
	{ "hostname \"abc", "hermod.conf:1: unterminated quoted value" },
	{ "limits", "hermod.conf:1: limits needs a { } block" },
	{ "limits { connections 5 { } }", "hermod.conf:1: unexpected '{' after connections" },
	{ "listen smtp 127.0.0.1:70000",
	  "hermod.conf:1: invalid port '70000' in listen address '127.0.0.1:70000' (expected 0 to 65535)" },
	{ "listen smtp 127.0.0.1:", "hermod.conf:1: invalid port '' in listen address '127.0.0.1:' (expected 0 to "
				    "65535)" },
	{ "listen smtp 127.0.0.1", "hermod.conf:1: invalid listen address '127.0.0.1' (expected HOST:PORT)" },
	{ "listen smtp ::1:25", "hermod.conf:1: invalid listen address '::1:25' (write IPv6 addresses in "
				"brackets, e.g. [::1]:25)" },
	{ "listen smtp [::1]25", "hermod.conf:1: invalid listen address '[::1]25' (expected [IPv6]:PORT)" },
	{ "listen smtp [1.2.3.4]:25", "hermod.conf:1: invalid listen address '[1.2.3.4]:25': '1.2.3.4' is not a "
				      "numeric IPv6 address" },
	{ "listen smtp localhost:25", "hermod.conf:1: invalid listen address 'localhost:25': 'localhost' is not a "
				      "numeric IPv4 address" },
	{ "listen smtps 127.0.0.1:25", "hermod.conf:1: unknown service 'smtps' (expected smtp, submission, "
				       "submissions, imap, imaps, pop3, pop3s, http or https)" },
	{ "listen smtp", "hermod.conf:1: usage: listen SERVICE HOST:PORT" },
	{ "listen smtp 127.0.0.1:25\nlisten submission 127.0.0.1:25",
	  "hermod.conf:2: address 127.0.0.1:25 is already used on line 1" },
	{ "\n\nlisten imaps 127.0.0.1:993",
	  "hermod.conf:3: service imaps needs TLS, but no tls { } block is configured" },
	{ "tls { certificate c.pem }", "hermod.conf:1: tls needs both a certificate and a key" },
	{ "tls { certificate c.pem; key k.pem }\ntls { certificate c.pem; key k.pem }",
	  "hermod.conf:2: tls is already configured on line 1" },
	{ "tls { certificat c.pem }", "hermod.conf:1: unknown setting 'certificat' (did you mean 'certificate'?)" },
	{ "tls { sni example.org c.pem }", "hermod.conf:1: usage: sni SERVER_NAME CERTIFICATE KEY" },
	{ "plan gold { quota 1G }", "hermod.conf:1: unknown plan 'gold' (expected free, starter or pro)" },
	{ "plan free { quota 1G; quota 2G }", "hermod.conf:1: quota is already set on line 1" },
	{ "plan free { qouta 1G }", "hermod.conf:1: unknown setting 'qouta' (did you mean 'quota'?)" },
	{ "plan free { recipients 0 }", "hermod.conf:1: value 0 for recipients is below the minimum 1" },
	{ "hostname \x01", "hermod.conf:1: unexpected control character 0x01" },
	{ "queue { retry }", "hermod.conf:1: retry takes exactly one value" },
	{ "queue { retry 1s 2x }", "hermod.conf:1: invalid value '2x' for retry (expected durations: numbers of "
				  "seconds, or numbers with an s, m, h or d suffix)" },
	{ "queue { retry 0 }", "hermod.conf:1: value 0 for retry is below the minimum 1s" },
	{ "queue { retry 8d }", "hermod.conf:1: value 8d for retry is above the maximum 7d" },
	{ "queue { retry 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 }", "hermod.conf:1: too many values for retry" },
	{ "queue { retry 1s\nretry 2s }", "hermod.conf:2: retry is already set on line 1" },
	{ "queue { concurrency 0 }", "hermod.conf:1: value 0 for concurrency is below the minimum 1" },
	{ "queue { max_lifetime 0 }", "hermod.conf:1: value 0 for max_lifetime is below the minimum 1s" },
	{ "queue { mx_port 70000 }", "hermod.conf:1: value 70000 for mx_port is above the maximum 65535" },
	{ "queue { per_domian 3 }", "hermod.conf:1: unknown setting 'per_domian' (did you mean 'per_domain'?)" },
	{ "queue { connections 3 }", "hermod.conf:1: setting 'connections' belongs in limits { }, not in queue { }" },
	{ "delay_warning 1h", "hermod.conf:1: setting 'delay_warning' belongs in queue { }, not at the top level" },
	{ "queue 1 { }", "hermod.conf:1: usage: queue { ... }" },
	{ "dns { forward localhost }", "hermod.conf:1: invalid value 'localhost' for forward: the resolver must be "
				       "a numeric IPv4 or IPv6 address (e.g. 127.0.0.1@5353)" },
	{ "dns { forward 127.0.0.1@ }", "hermod.conf:1: invalid value '127.0.0.1@' for forward: the port after '@' "
					"must be a number from 1 to 65535" },
	{ "dns { forward 127.0.0.1@99999 }", "hermod.conf:1: invalid value '127.0.0.1@99999' for forward: the port "
					     "after '@' must be a number from 1 to 65535" },
	{ "dns { timeout 0 }", "hermod.conf:1: value 0 for timeout is below the minimum 1s" },
	{ "helo_name \"a b\"", "hermod.conf:1: invalid value 'a b' for helo_name: may only contain letters, "
				"digits, '-' and '.'" },
	{ "transport example.net", "hermod.conf:1: usage: transport DOMAIN HOST:PORT (DOMAIN \"*\" for every "
				   "other domain)" },
	{ "transport exa_mple.net h:25", "hermod.conf:1: invalid transport domain 'exa_mple.net': may only contain "
					 "letters, digits, '-' and '.'" },
	{ "transport example.net h:0", "hermod.conf:1: invalid port '0' in transport host 'h:0' (expected 1 to "
				       "65535)" },
	{ "transport example.net h:x", "hermod.conf:1: invalid port 'x' in transport host 'h:x' (expected 1 to "
				       "65535)" },
	{ "transport example.net ::1:25", "hermod.conf:1: invalid transport host '::1:25' (write IPv6 addresses in "
					  "brackets, e.g. [::1]:25)" },
	{ "transport example.net [1.2.3.4]:25", "hermod.conf:1: invalid transport host '[1.2.3.4]:25': '1.2.3.4' is "
						"not a numeric IPv6 address" },
	{ "transport example.net :25", "hermod.conf:1: invalid transport host ':25' (missing or overlong host)" },
	{ "transport Example.NET a:25\ntransport example.net b:25",
	  "hermod.conf:2: a transport for example.net is already set on line 1" },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const char *err = load_err(err_cases[i].text);
		if (strcmp(err, err_cases[i].err) != 0)
			fail_msg("case %zu:\n  got      '%s'\n  expected '%s'", i, err, err_cases[i].err);
	}
}

static void test_missing_file(void **state)
{
	struct config *cfg = NULL;
	const char *err = NULL;

	assert_int_equal(config_load("/nonexistent/hermod.conf", &cfg, &err), -1);
	assert_string_equal(err, "/nonexistent/hermod.conf: cannot open: No such file or directory");
}

static void test_listen(void **state)
{
	struct config *cfg = load_ok("tls { certificate tls/cert.pem; key tls/key.pem }\n"
				     "listen smtp 127.0.0.1:2525\n"
				     "listen smtp [::1]:0\n"
				     "listen submissions 0.0.0.0:465\n"
				     "listen imap [0:0::1]:143; listen https 127.0.0.1:0\n"
				     "listen pop3s 127.0.0.1:995\n"
				     "listen http 127.0.0.1:80\n");

	assert_int_equal(cfg->listen_count, 7);
	assert_int_equal(cfg->listen[0].service, LISTEN_SMTP);
	assert_int_equal(cfg->listen[0].tls, TLS_MODE_STARTTLS);
	assert_string_equal(cfg->listen[0].host, "127.0.0.1");
	assert_int_equal(cfg->listen[0].port, 2525);
	assert_string_equal(cfg->listen[1].host, "::1");
	assert_int_equal(cfg->listen[1].port, 0);
	assert_int_equal(cfg->listen[2].service, LISTEN_SUBMISSIONS);
	assert_int_equal(cfg->listen[2].tls, TLS_MODE_IMPLICIT);
	assert_int_equal(cfg->listen[3].service, LISTEN_IMAP);
	assert_string_equal(cfg->listen[3].host, "::1"); /* canonical form */
	assert_int_equal(cfg->listen[3].tls, TLS_MODE_STARTTLS);
	assert_int_equal(cfg->listen[4].service, LISTEN_HTTPS);
	assert_int_equal(cfg->listen[4].tls, TLS_MODE_IMPLICIT);
	assert_int_equal(cfg->listen[5].service, LISTEN_POP3S);
	assert_int_equal(cfg->listen[6].tls, TLS_MODE_NONE);
	config_free(cfg);

	/* STARTTLS services work without TLS (nothing is offered) */
	cfg = load_ok("listen smtp 127.0.0.1:25\nlisten smtp 127.0.0.1:0\nlisten imap 127.0.0.1:0\n");
	assert_int_equal(cfg->listen_count, 3);
	config_free(cfg);
}

static void test_plans(void **state)
{
	struct config *cfg = load_ok("plan starter {\n quota 20G\n message_size 30M\n recipients 50\n"
				     " daily_messages 1000\n}\nplan free { recipients 5 }\n");

	assert_int_equal(cfg->plans[PLAN_STARTER].quota_bytes, 20ULL << 30);
	assert_int_equal(cfg->plans[PLAN_STARTER].message_size, 30ULL << 20);
	assert_int_equal(cfg->plans[PLAN_STARTER].recipients, 50);
	assert_int_equal(cfg->plans[PLAN_STARTER].daily_messages, 1000);
	assert_int_equal(cfg->plans[PLAN_FREE].recipients, 5);
	assert_int_equal(cfg->plans[PLAN_FREE].quota_bytes, 1ULL << 30); /* untouched default */
	assert_int_equal(cfg->plans[PLAN_PRO].daily_messages, 1440);
	config_free(cfg);

	enum plan p;
	assert_int_equal(config_plan_parse("pro", &p), 0);
	assert_int_equal(p, PLAN_PRO);
	assert_int_equal(config_plan_parse("gold", &p), -1);
	assert_string_equal(config_plan_name(PLAN_STARTER), "starter");
	assert_string_equal(config_service_name(LISTEN_POP3S), "pop3s");
	assert_string_equal(config_service_name(LISTEN_SUBMISSIONS), "submissions");
}

static void test_relative_paths(void **state)
{
	char sub[PATH_MAX + 16], expect[PATH_MAX + 64];
	struct config *cfg;

	snprintf(sub, sizeof(sub), "%s/realdata", tmpdir);
	mkdir(sub, 0700);
	cfg = load_ok("data_dir ./realdata/../realdata\n"
		      "tls {\n certificate tls/cert.pem\n key /etc/k.pem\n sni mail.example.org \"a b/c.pem\" k2.pem\n}\n");
	assert_string_equal(cfg->data_dir, sub); /* canonical when it exists */
	snprintf(expect, sizeof(expect), "%s/tls/cert.pem", tmpdir);
	assert_string_equal(cfg->tls_certificate, expect);
	assert_string_equal(cfg->tls_key, "/etc/k.pem");
	assert_int_equal(cfg->tls_sni_count, 1);
	assert_string_equal(cfg->tls_sni[0].server_name, "mail.example.org");
	snprintf(expect, sizeof(expect), "%s/a b/c.pem", tmpdir);
	assert_string_equal(cfg->tls_sni[0].certificate, expect);
	config_free(cfg);

	cfg = load_ok("data_dir not/yet/there\n");
	snprintf(expect, sizeof(expect), "%s/not/yet/there", tmpdir);
	assert_string_equal(cfg->data_dir, expect);
	config_free(cfg);
}

static void assert_same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_same_config(const struct config *a, const struct config *b)
{
	assert_string_equal(a->hostname, b->hostname);
	assert_string_equal(a->data_dir, b->data_dir);
	assert_int_equal(a->log_level, b->log_level);
	assert_same_string(a->tls_certificate, b->tls_certificate);
	assert_same_string(a->tls_key, b->tls_key);
	assert_int_equal(a->tls_sni_count, b->tls_sni_count);
	for (size_t i = 0; i < a->tls_sni_count; i++) {
		assert_string_equal(a->tls_sni[i].server_name, b->tls_sni[i].server_name);
		assert_string_equal(a->tls_sni[i].certificate, b->tls_sni[i].certificate);
		assert_string_equal(a->tls_sni[i].key, b->tls_sni[i].key);
	}
	assert_int_equal(a->listen_count, b->listen_count);
	assert_memory_equal(a->listen, b->listen, sizeof(a->listen[0]) * a->listen_count);
	assert_int_equal(a->max_connections, b->max_connections);
	assert_int_equal(a->max_connections_per_ip, b->max_connections_per_ip);
	assert_int_equal(a->command_line_max, b->command_line_max);
	assert_int_equal(a->command_timeout_s, b->command_timeout_s);
	assert_int_equal(a->data_timeout_s, b->data_timeout_s);
	assert_int_equal(a->session_timeout_s, b->session_timeout_s);
	assert_int_equal(a->max_errors, b->max_errors);
	assert_int_equal(a->max_recipients, b->max_recipients);
	assert_int_equal(a->max_message_size, b->max_message_size);
	assert_int_equal(a->shutdown_grace_s, b->shutdown_grace_s);
	assert_memory_equal(a->plans, b->plans, sizeof(a->plans));
	assert_memory_equal(&a->queue_retry, &b->queue_retry, sizeof(a->queue_retry));
	assert_int_equal(a->queue_delay_warning_s, b->queue_delay_warning_s);
	assert_int_equal(a->queue_max_lifetime_s, b->queue_max_lifetime_s);
	assert_int_equal(a->queue_concurrency, b->queue_concurrency);
	assert_int_equal(a->queue_per_domain, b->queue_per_domain);
	assert_int_equal(a->queue_connect_timeout_s, b->queue_connect_timeout_s);
	assert_int_equal(a->queue_command_timeout_s, b->queue_command_timeout_s);
	assert_int_equal(a->queue_data_timeout_s, b->queue_data_timeout_s);
	assert_int_equal(a->queue_scan_interval_s, b->queue_scan_interval_s);
	assert_int_equal(a->queue_mx_port, b->queue_mx_port);
	assert_same_string(a->dns_forward, b->dns_forward);
	assert_int_equal(a->dns_timeout_s, b->dns_timeout_s);
	assert_string_equal(a->helo_name, b->helo_name);
	assert_int_equal(a->transport_count, b->transport_count);
	assert_memory_equal(a->transports, b->transports, sizeof(a->transports[0]) * a->transport_count);
}

static void test_dump_round_trip(void **state)
{
	char dump_path[PATH_MAX + 32];
	struct config *a, *b = NULL;
	const char *err = NULL;
	FILE *f;

	a = load_ok("hostname mx.example.net\nlog_level warn\ndata_dir \"odd \\\"dir\\\\\"\n"
		    "tls { certificate c.pem; key k.pem; sni other.example b.pem bk.pem }\n"
		    "listen smtp 127.0.0.1:2525\nlisten imaps [::1]:993\nlisten http 127.0.0.1:0\n"
		    "limits { command_timeout 45; session_timeout 90m; max_message_size 1000001; "
		    "shutdown_grace 0 }\n"
		    "plan pro { quota 3000M; daily_messages 2000 }\n"
		    "queue { retry 1s 90s 2h; max_lifetime 36h; delay_warning 0; mx_port 2525; concurrency 3 }\n"
		    "dns { forward ::1@53; timeout 5s }\nhelo_name out.example.net\n"
		    "transport example.net [::1]:2525\ntransport * relay.example.org\n");
	snprintf(dump_path, sizeof(dump_path), "%s/dump.conf", tmpdir);
	f = fopen(dump_path, "w");
	assert_non_null(f);
	config_dump(a, f);
	fclose(f);
	if (config_load(dump_path, &b, &err) < 0)
		fail_msg("dump does not load back: %s", err);
	assert_same_config(a, b);
	assert_true(strstr(a->data_dir, "odd \"dir\\") != NULL);
	config_free(b);
	config_free(a);

	/* the defaults round-trip too */
	a = load_ok("");
	f = fopen(dump_path, "w");
	config_dump(a, f);
	fclose(f);
	assert_int_equal(config_load(dump_path, &b, &err), 0);
	assert_same_config(a, b);
	config_free(b);
	config_free(a);
}

static void test_queue_defaults(void **state)
{
	static const unsigned retry[] = { 300, 600, 1800, 3600, 7200, 14400 };
	struct config *cfg = load_ok("hostname mx.example.org\n");

	assert_int_equal(cfg->queue_retry.count, 6);
	assert_memory_equal(cfg->queue_retry.delay_s, retry, sizeof(retry));
	assert_int_equal(cfg->queue_delay_warning_s, 4 * 3600);
	assert_int_equal(cfg->queue_max_lifetime_s, 3 * 86400);
	assert_int_equal(cfg->queue_concurrency, 20);
	assert_int_equal(cfg->queue_per_domain, 5);
	assert_int_equal(cfg->queue_connect_timeout_s, 30);
	assert_int_equal(cfg->queue_command_timeout_s, 300);
	assert_int_equal(cfg->queue_data_timeout_s, 600);
	assert_int_equal(cfg->queue_scan_interval_s, 1);
	assert_int_equal(cfg->queue_mx_port, 25);
	assert_null(cfg->dns_forward);
	assert_int_equal(cfg->dns_timeout_s, 10);
	assert_string_equal(cfg->helo_name, "mx.example.org"); /* the hostname */
	assert_int_equal(cfg->transport_count, 0);
	assert_null(config_transport_find(cfg, "example.net"));
	config_free(cfg);
}

static void test_queue_settings(void **state)
{
	struct config *cfg = load_ok("queue {\n retry 1s 2s 1m\n delay_warning 3s; max_lifetime 8s\n"
				     " concurrency 4; per_domain 2; connect_timeout 2s; command_timeout 3s\n"
				     " data_timeout 4s; scan_interval 2s; mx_port 2525\n}\n"
				     "dns { forward 127.0.0.1@5353; timeout 2s }\n"
				     "helo_name out.example.org\n"
				     "transport Remote.TEST 127.0.0.1:2526\n"
				     "transport * smarthost.example.org\n"
				     "transport v6.test [::1]:26\n");
	const struct transport_cfg *t;

	assert_int_equal(cfg->queue_retry.count, 3);
	assert_int_equal(cfg->queue_retry.delay_s[0], 1);
	assert_int_equal(cfg->queue_retry.delay_s[1], 2);
	assert_int_equal(cfg->queue_retry.delay_s[2], 60);
	assert_int_equal(cfg->queue_delay_warning_s, 3);
	assert_int_equal(cfg->queue_max_lifetime_s, 8);
	assert_int_equal(cfg->queue_concurrency, 4);
	assert_int_equal(cfg->queue_per_domain, 2);
	assert_int_equal(cfg->queue_connect_timeout_s, 2);
	assert_int_equal(cfg->queue_command_timeout_s, 3);
	assert_int_equal(cfg->queue_data_timeout_s, 4);
	assert_int_equal(cfg->queue_scan_interval_s, 2);
	assert_int_equal(cfg->queue_mx_port, 2525);
	assert_string_equal(cfg->dns_forward, "127.0.0.1@5353");
	assert_int_equal(cfg->dns_timeout_s, 2);
	assert_string_equal(cfg->helo_name, "out.example.org");
	assert_int_equal(cfg->transport_count, 3);

	t = config_transport_find(cfg, "remote.test"); /* stored lower case, found case-insensitively */
	assert_non_null(t);
	assert_string_equal(t->domain, "remote.test");
	assert_string_equal(t->host, "127.0.0.1");
	assert_int_equal(t->port, 2526);
	t = config_transport_find(cfg, "REMOTE.test");
	assert_non_null(t);
	assert_int_equal(t->port, 2526);
	t = config_transport_find(cfg, "elsewhere.example"); /* the smart host */
	assert_non_null(t);
	assert_string_equal(t->domain, "*");
	assert_string_equal(t->host, "smarthost.example.org");
	assert_int_equal(t->port, 25);
	t = config_transport_find(cfg, "v6.test");
	assert_string_equal(t->host, "::1");
	assert_int_equal(t->port, 26);
	config_free(cfg);

	/* the longest schedule, one value, and values in the file's other forms */
	cfg = load_ok("queue { retry 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 7d }\n");
	assert_int_equal(cfg->queue_retry.count, CONFIG_RETRY_MAX);
	assert_int_equal(cfg->queue_retry.delay_s[15], 7 * 86400);
	config_free(cfg);
	cfg = load_ok("queue { retry \"30s\" }\ndns { forward ::1 }\n");
	assert_int_equal(cfg->queue_retry.count, 1);
	assert_int_equal(cfg->queue_retry.delay_s[0], 30);
	assert_string_equal(cfg->dns_forward, "::1");
	config_free(cfg);
}

static void test_syntax(void **state)
{
	struct config *cfg = load_ok("# full-line comment\n"
				     "hostname \"mx.example.org\" # trailing comment\n"
				     "\n\t\r\n"
				     "limits { connections 9; connections_per_ip 2 }; log_level error;\n"
				     "limits {\nmax_errors 3\n\n}\n"
				     "plan free {\n}\n");

	assert_string_equal(cfg->hostname, "mx.example.org");
	assert_int_equal(cfg->max_connections, 9);
	assert_int_equal(cfg->max_connections_per_ip, 2);
	assert_int_equal(cfg->log_level, LOG_LEVEL_ERROR);
	assert_int_equal(cfg->max_errors, 3);
	config_free(cfg);
}

static void test_parse_text_bounded(void **state)
{
	/* Not NUL-terminated: the parser must stop at len. */
	const char text[] = { 'l', 'o', 'g', '_', 'l', 'e', 'v', 'e', 'l', ' ', 'd', 'e', 'b', 'u', 'g', 'X' };
	struct config *cfg = NULL;
	const char *err = NULL;

	assert_int_equal(config_parse_text("mem.conf", "/tmp", text, sizeof(text) - 1, &cfg, &err), 0);
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	config_free(cfg);
}

static void test_default_path(void **state)
{
	setenv("HERMOD_CONFIG", "/etc/hermod/h.conf", 1);
	assert_string_equal(config_default_path(), "/etc/hermod/h.conf");
	setenv("HERMOD_CONFIG", "", 1);
	assert_string_equal(config_default_path(), "./var/hermod.conf");
	unsetenv("HERMOD_CONFIG");
	assert_string_equal(config_default_path(), "./var/hermod.conf");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_plans),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_queue_defaults),
		cmocka_unit_test(test_queue_settings),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_parse_text_bounded),
		cmocka_unit_test(test_default_path),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
