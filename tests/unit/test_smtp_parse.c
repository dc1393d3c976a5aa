/* Unit tests for smtp/smtp_parse: command lines, HELO, MAIL, RCPT and BDAT arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "smtp/smtp_parse.h"

/* Every refusal is a complete reply: "ddd d.d.d text". */
static void assert_reply_shape(const char *reply)
{
	assert_non_null(reply);
	print_message("  -> %s\n", reply);
	assert_true(strlen(reply) > 10);
	assert_true(reply[0] >= '2' && reply[0] <= '5');
	assert_true(reply[1] >= '0' && reply[1] <= '9' && reply[2] >= '0' && reply[2] <= '9');
	assert_true(reply[3] == ' ' && reply[4] == reply[0] && reply[5] == '.');
}

/* ---- command lines ---------------------------------------------------------- */

struct command_case {
	const char *line;
	size_t len; /* 0: strlen */
	int rc;
	enum smtp_verb verb;
	const char *args_or_reply;
};

static const struct command_case command_cases[] = {
	{ "HELO example.org", 0, 0, SMTP_VERB_HELO, "example.org" },
	{ "helo example.org", 0, 0, SMTP_VERB_HELO, "example.org" },
	{ "EHLO [192.0.2.1]", 0, 0, SMTP_VERB_EHLO, "[192.0.2.1]" },
	{ "EhLo  two.spaces", 0, 0, SMTP_VERB_EHLO, "two.spaces" },
	{ "MAIL FROM:<a@b.example>", 0, 0, SMTP_VERB_MAIL, "<a@b.example>" },
	{ "mail from:<a@b.example> SIZE=10", 0, 0, SMTP_VERB_MAIL, "<a@b.example> SIZE=10" },
	{ "MAIL FROM: <a@b.example>", 0, 0, SMTP_VERB_MAIL, "<a@b.example>" },
	{ "MAIL FROM :<a@b.example>", 0, 0, SMTP_VERB_MAIL, "<a@b.example>" },
	{ "MAIL From:<>", 0, 0, SMTP_VERB_MAIL, "<>" },
	{ "MAIL FROM:", 0, 0, SMTP_VERB_MAIL, "" },
	{ "MAIL FROM:<j\xc3\xb6@b.example>", 0, 0, SMTP_VERB_MAIL, "<j\xc3\xb6@b.example>" },
	{ "MAIL TO:<a@b.example>", 0, -1, 0, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "MAIL <a@b.example>", 0, -1, 0, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "MAIL", 0, -1, 0, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "MAIL FROM<a@b.example>", 0, -1, 0, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "RCPT TO:<x@y.example>", 0, 0, SMTP_VERB_RCPT, "<x@y.example>" },
	{ "rcpt to:<x@y.example> NOTIFY=NEVER", 0, 0, SMTP_VERB_RCPT, "<x@y.example> NOTIFY=NEVER" },
	{ "RCPT TO: <x@y.example>", 0, 0, SMTP_VERB_RCPT, "<x@y.example>" },
	{ "RCPT <x@y.example>", 0, -1, 0, "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "RCPT FROM:<x@y.example>", 0, -1, 0, "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "DATA", 0, 0, SMTP_VERB_DATA, "" },
	{ "data", 0, 0, SMTP_VERB_DATA, "" },
	{ "DATA extra", 0, 0, SMTP_VERB_DATA, "extra" },
	{ "BDAT 10 LAST", 0, 0, SMTP_VERB_BDAT, "10 LAST" },
	{ "RSET", 0, 0, SMTP_VERB_RSET, "" },
	{ "NOOP", 0, 0, SMTP_VERB_NOOP, "" },
	{ "NOOP hello there", 0, 0, SMTP_VERB_NOOP, "hello there" },
	{ "QUIT", 0, 0, SMTP_VERB_QUIT, "" },
	{ "QUIT ", 0, 0, SMTP_VERB_QUIT, "" },
	{ "VRFY bob", 0, 0, SMTP_VERB_VRFY, "bob" },
	{ "EXPN list", 0, 0, SMTP_VERB_EXPN, "list" },
	{ "HELP", 0, 0, SMTP_VERB_HELP, "" },
	{ "StartTLS", 0, 0, SMTP_VERB_STARTTLS, "" },
	{ "AUTH PLAIN AGJvYgBzZWNyZXQ=", 0, 0, SMTP_VERB_AUTH, "PLAIN AGJvYgBzZWNyZXQ=" },
	{ "FOO bar", 0, 0, SMTP_VERB_UNKNOWN, "bar" },
	{ "", 0, 0, SMTP_VERB_UNKNOWN, "" },
	{ "HELOX", 0, 0, SMTP_VERB_UNKNOWN, "" },
	{ "HEL", 0, 0, SMTP_VERB_UNKNOWN, "" },
	{ "MAILFROM:<a@b.example>", 0, 0, SMTP_VERB_UNKNOWN, "" },
	{ " HELO x.example", 0, 0, SMTP_VERB_UNKNOWN, "HELO x.example" },
	{ "STARTTLSX", 0, 0, SMTP_VERB_UNKNOWN, "" },
	{ "HELO a\0b", 8, -1, 0, "500 5.5.2 Error: NUL character in command" },
	{ "\0", 1, -1, 0, "500 5.5.2 Error: NUL character in command" },
	{ "HELO a\tb", 0, -1, 0, "501 5.5.2 Syntax error: control character in command" },
	{ "HELO a\r", 0, -1, 0, "501 5.5.2 Syntax error: control character in command" },
	{ "HELO a\nMAIL FROM:<x@y.example>", 0, -1, 0, "501 5.5.2 Syntax error: control character in command" },
	{ "NOOP \x7f", 0, -1, 0, "501 5.5.2 Syntax error: control character in command" },
	{ "NOOP \x1b[31m", 0, -1, 0, "501 5.5.2 Syntax error: control character in command" },
};

static void test_commands(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(command_cases) / sizeof(command_cases[0]); i++) {
		const struct command_case *c = &command_cases[i];
		size_t len = c->len ? c->len : strlen(c->line);
		struct smtp_command cmd;
		const char *reply = NULL;

		print_message("command: %s\n", c->line);
		assert_int_equal(smtp_parse_command(c->line, len, &cmd, &reply), c->rc);
		if (c->rc < 0) {
			assert_reply_shape(reply);
			assert_string_equal(reply, c->args_or_reply);
			continue;
		}
		assert_int_equal(cmd.verb, c->verb);
		if (c->verb != SMTP_VERB_UNKNOWN || c->args_or_reply[0] != '\0') {
			assert_int_equal(cmd.args.len, strlen(c->args_or_reply));
			assert_memory_equal(cmd.args.p, c->args_or_reply, cmd.args.len);
		}
		/* the args lie inside the line */
		assert_true(cmd.args.p >= c->line && cmd.args.p + cmd.args.len <= c->line + len);
	}
}

/* ---- HELO / EHLO ---------------------------------------------------------------- */

#define L63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct helo_case {
	const char *args;
	const char *domain; /* NULL: refused */
};

static const struct helo_case helo_cases[] = {
	{ "example.org", "example.org" },
	{ "localhost", "localhost" },
	{ "Mail.Example.ORG", "Mail.Example.ORG" },
	{ "  example.org  ", "example.org" },
	{ "a-b.c", "a-b.c" },
	{ "[192.0.2.1]", "[192.0.2.1]" },
	{ "[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]" },
	{ "[ipv6:::1]", "[ipv6:::1]" },
	{ "my_pc.local", "my_pc.local" },
	{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
	{ "b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example" },
	{ L63 ".example", L63 ".example" },
	{ "", NULL },
	{ "   ", NULL },
	{ "example.org extra", NULL },
	{ "-bad.example", NULL },
	{ "bad-.example", NULL },
	{ "a..b", NULL },
	{ ".a", NULL },
	{ "a.", NULL },
	{ "ex ample", NULL },
	{ "a/b", NULL },
	{ "a@b", NULL },
	{ "[1.2.3]", NULL },
	{ "[300.1.1.1]", NULL },
	{ "[1.2.3.4", NULL },
	{ "[1.2.3.4]x", NULL },
	{ "[IPv6:zz]", NULL },
	{ "[IPv6:1.2.3.4]", NULL },
	{ "[tag:foo]", NULL },
	{ "[]", NULL },
	{ "b\xff.example", NULL },
	{ L63 "a.example", NULL },
};

static void test_helo(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(helo_cases) / sizeof(helo_cases[0]); i++) {
		const struct helo_case *c = &helo_cases[i];
		char domain[SMTP_DOMAIN_MAX + 1];
		const char *reply = NULL;
		int rc = smtp_parse_helo(slice_cstr(c->args), domain, sizeof(domain), &reply);

		print_message("helo: '%s'\n", c->args);
		if (c->domain == NULL) {
			assert_int_equal(rc, -1);
			assert_reply_shape(reply);
			assert_memory_equal(reply, "501 5.5.4 Syntax: EHLO hostname", 31);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(domain, c->domain);
		}
	}
}

static void test_helo_lengths(void **state)
{
	char big[300], domain[SMTP_DOMAIN_MAX + 1], small[8];
	const char *reply;
	size_t i;

	(void)state;
	/* 255 octets: labels of 63 */
	memset(big, 'a', sizeof(big));
	for (i = 63; i < sizeof(big); i += 64)
		big[i] = '.';
	big[255] = '\0';
	assert_int_equal(smtp_parse_helo(slice_cstr(big), domain, sizeof(domain), &reply), 0);
	big[255] = 'a';
	big[256] = '\0';
	assert_int_equal(smtp_parse_helo(slice_cstr(big), domain, sizeof(domain), &reply), -1);
	/* the caller's buffer is respected */
	assert_int_equal(smtp_parse_helo(slice_cstr("example.org"), small, sizeof(small), &reply), -1);
	assert_string_equal(reply, "501 5.5.4 Syntax: EHLO hostname is too long");
}

/* ---- MAIL FROM -------------------------------------------------------------------- */

#define L64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D250 L63 "." L63 "." L63 "." "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D256 "a." L63 "." L63 "." L63 "." "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ENVID100 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

struct mail_case {
	const char *args;
	const char *reply; /* NULL: accepted */
	const char *local, *domain, *address;
	bool null_path;
};

#define SENDER "501 5.1.7 Bad sender address syntax: "
#define MAIL_BAD(a, r) { .args = (a), .reply = (r) }

static const struct mail_case mail_cases[] = {
	{ "<user@example.org>", NULL, "user", "example.org", "user@example.org", false },
	{ "<>", NULL, "", "", "", true },
	{ "<> SIZE=1000", NULL, "", "", "", true },
	{ "<User.Name+tag@Example.ORG>", NULL, "User.Name+tag", "Example.ORG", "User.Name+tag@Example.ORG", false },
	{ "<\"john smith\"@example.org>", NULL, "john smith", "example.org", "\"john smith\"@example.org", false },
	{ "<\"a\\\"b\\\\c\"@example.org>", NULL, "a\"b\\c", "example.org", "\"a\\\"b\\\\c\"@example.org", false },
	{ "<\"\"@example.org>", NULL, "", "example.org", "\"\"@example.org", false },
	{ "<\"a@b\"@example.org>", NULL, "a@b", "example.org", "\"a@b\"@example.org", false },
	{ "<user@[192.0.2.1]>", NULL, "user", "[192.0.2.1]", "user@[192.0.2.1]", false },
	{ "<user@[IPv6:2001:db8::1]>", NULL, "user", "[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]", false },
	{ "<@relay.example,@r2.example:user@example.org>", NULL, "user", "example.org", "user@example.org", false },
	{ "<@relay.example:user@example.org>", NULL, "user", "example.org", "user@example.org", false },
	{ "<a!#$%&'*+-/=?^_`{|}~@example.org>", NULL, "a!#$%&'*+-/=?^_`{|}~", "example.org",
	  "a!#$%&'*+-/=?^_`{|}~@example.org", false },
	{ "<user@localhost>", NULL, "user", "localhost", "user@localhost", false },
	{ "<j\xc3\xb6@ex\xc3\xa4mple.org> SMTPUTF8", NULL, "j\xc3\xb6", "ex\xc3\xa4mple.org",
	  "j\xc3\xb6@ex\xc3\xa4mple.org", false },
	{ "<\"j\xc3\xb6 x\"@example.org> SMTPUTF8", NULL, "j\xc3\xb6 x", "example.org", "\"j\xc3\xb6 x\"@example.org",
	  false },
	{ "<" L64 "@example.org>", NULL, L64, "example.org", L64 "@example.org", false },
	{ "<a@" D250 ">", NULL, "a", D250, "a@" D250, false },
	{ "<user@example.org>   SIZE=1   BODY=8BITMIME  ", NULL, "user", "example.org", "user@example.org", false },
	{ "  <user@example.org>", NULL, "user", "example.org", "user@example.org", false },
	/* path syntax */
	MAIL_BAD("", SENDER "missing '<'"),
	MAIL_BAD("user@example.org", SENDER "missing '<'"),
	MAIL_BAD("<user@example.org", SENDER "missing '>'"),
	MAIL_BAD("<user@example.org SIZE=10", SENDER "missing '>'"),
	MAIL_BAD("<", SENDER "missing '>'"),
	MAIL_BAD("<user", SENDER "missing '>'"),
	MAIL_BAD("<user>", SENDER "missing '@domain'"),
	MAIL_BAD("<postmaster>", SENDER "missing '@domain'"),
	MAIL_BAD("<@example.org>", SENDER "invalid source route"),
	MAIL_BAD("<@a.example,user@example.org>", SENDER "invalid source route"),
	MAIL_BAD("<@:user@example.org>", SENDER "invalid source route"),
	MAIL_BAD("<user@>", SENDER "missing domain after '@'"),
	MAIL_BAD("<user@", SENDER "missing '>'"),
	MAIL_BAD("<user@@example.org>", SENDER "invalid domain"),
	MAIL_BAD("<.user@example.org>", SENDER "a dot cannot start the local part or follow another dot"),
	MAIL_BAD("<us..er@example.org>", SENDER "a dot cannot start the local part or follow another dot"),
	MAIL_BAD("<user.@example.org>", SENDER "a dot cannot end the local part"),
	MAIL_BAD("<us er@example.org>", SENDER "invalid character in the local part"),
	MAIL_BAD("<us(er@example.org>", SENDER "invalid character in the local part"),
	MAIL_BAD("<us\\er@example.org>", SENDER "invalid character in the local part"),
	MAIL_BAD("<a@b@example.org>", SENDER "invalid character in the domain"),
	MAIL_BAD("<user@exa_mple.org>", SENDER "invalid character in the domain"),
	MAIL_BAD("<user@-example.org>", SENDER "invalid domain"),
	MAIL_BAD("<user@example-.org>", SENDER "invalid domain"),
	MAIL_BAD("<user@example..org>", SENDER "invalid domain"),
	MAIL_BAD("<user@example.org.>", SENDER "invalid domain"),
	MAIL_BAD("<user@[1.2.3.999]>", SENDER "invalid address literal"),
	MAIL_BAD("<user@[tag:abc]>", SENDER "invalid address literal"),
	MAIL_BAD("<user@[1.2.3.4>", SENDER "invalid address literal"),
	MAIL_BAD("<\"unterminated@example.org>", SENDER "missing closing '\"' in the local part"),
	MAIL_BAD("<\"a\\\xc3\xb6\"@example.org> SMTPUTF8", SENDER "invalid quoted local part"),
	MAIL_BAD("<user@example.org>SIZE=10", SENDER "unexpected text after '>'"),
	MAIL_BAD("<user@example.org>>", SENDER "unexpected text after '>'"),
	MAIL_BAD("<j\xff@example.org> SMTPUTF8", SENDER "invalid character in the local part"),
	MAIL_BAD("<j\xc3@example.org> SMTPUTF8", SENDER "invalid character in the local part"),
	MAIL_BAD("<j\xc0\xaf@example.org> SMTPUTF8", SENDER "invalid character in the local part"),
	MAIL_BAD("<a" L64 "@example.org>", SENDER "local part is longer than 64 octets"),
	MAIL_BAD("<\"" L64 "\"@example.org>", SENDER "local part is longer than 64 octets"),
	MAIL_BAD("<\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"@example.org>",
	  SENDER "local part is longer than 64 octets"),
	MAIL_BAD("<a@" D256 ">", SENDER "domain is longer than 255 octets"),
	MAIL_BAD("<" L64 "@" D250 ">", SENDER "address is longer than 256 octets"),
	/* non-ASCII without SMTPUTF8 (RFC 6531 3.4) */
	MAIL_BAD("<j\xc3\xb6@example.org>", "553 5.6.7 Non-ASCII address requires SMTPUTF8"),
	MAIL_BAD("<user@ex\xc3\xa4mple.org>", "553 5.6.7 Non-ASCII address requires SMTPUTF8"),
	MAIL_BAD("<j\xc3\xb6@example.org> BODY=8BITMIME", "553 5.6.7 Non-ASCII address requires SMTPUTF8"),
	/* parameters */
	MAIL_BAD("<user@example.org> FOO=1", "555 5.5.4 Unsupported parameter: FOO"),
	MAIL_BAD("<user@example.org> X-Custom", "555 5.5.4 Unsupported parameter: X-Custom"),
	MAIL_BAD("<user@example.org> NOTIFY=NEVER", "555 5.5.4 Unsupported parameter: NOTIFY"),
	MAIL_BAD("<user@example.org> ORCPT=rfc822;a+40b", "555 5.5.4 Unsupported parameter: ORCPT"),
	MAIL_BAD("<user@example.org> SIZE=1 SIZE=2", "501 5.5.4 Duplicate parameter: SIZE"),
	MAIL_BAD("<user@example.org> size=1 BODY=7BIT Size=2", "501 5.5.4 Duplicate parameter: SIZE"),
	MAIL_BAD("<user@example.org> SMTPUTF8 SMTPUTF8", "501 5.5.4 Duplicate parameter: SMTPUTF8"),
	MAIL_BAD("<user@example.org> BODY=7BIT BODY=7BIT", "501 5.5.4 Duplicate parameter: BODY"),
	MAIL_BAD("<user@example.org> SIZE", "501 5.5.4 Bad SIZE parameter: expected SIZE=<number of bytes>"),
	MAIL_BAD("<user@example.org> SIZE=12a", "501 5.5.4 Bad SIZE parameter: expected SIZE=<number of bytes>"),
	MAIL_BAD("<user@example.org> SIZE=-1", "501 5.5.4 Bad SIZE parameter: expected SIZE=<number of bytes>"),
	MAIL_BAD("<user@example.org> SIZE=", "501 5.5.4 Syntax error in parameters: expected KEYWORD or KEYWORD=value"),
	MAIL_BAD("<user@example.org> =1", "501 5.5.4 Syntax error in parameters: expected KEYWORD or KEYWORD=value"),
	MAIL_BAD("<user@example.org> -X=1", "501 5.5.4 Syntax error in parameters: expected KEYWORD or KEYWORD=value"),
	MAIL_BAD("<user@example.org> A=b=c", "501 5.5.4 Syntax error in parameters: expected KEYWORD or KEYWORD=value"),
	MAIL_BAD("<user@example.org> <other@example.org>",
	  "501 5.5.4 Syntax error in parameters: expected KEYWORD or KEYWORD=value"),
	MAIL_BAD("<user@example.org> BODY=9BIT", "501 5.5.4 Bad BODY parameter: expected 7BIT, 8BITMIME or BINARYMIME"),
	MAIL_BAD("<user@example.org> BODY", "501 5.5.4 Bad BODY parameter: expected 7BIT, 8BITMIME or BINARYMIME"),
	MAIL_BAD("<user@example.org> SMTPUTF8=yes", "501 5.5.4 Bad SMTPUTF8 parameter: it takes no value"),
	MAIL_BAD("<user@example.org> RET=ALL", "501 5.5.4 Bad RET parameter: expected FULL or HDRS"),
	MAIL_BAD("<user@example.org> ENVID=a+2", "501 5.5.4 Bad ENVID parameter: expected up to 100 characters of xtext"),
	MAIL_BAD("<user@example.org> ENVID=a+0A", "501 5.5.4 Bad ENVID parameter: expected up to 100 characters of xtext"),
	MAIL_BAD("<user@example.org> ENVID=a+G0", "501 5.5.4 Bad ENVID parameter: expected up to 100 characters of xtext"),
	MAIL_BAD("<user@example.org> ENVID=" ENVID100 "x",
	  "501 5.5.4 Bad ENVID parameter: expected up to 100 characters of xtext"),
	MAIL_BAD("<user@example.org> AUTH=+00", "501 5.5.4 Bad AUTH parameter: expected an xtext mailbox or <>"),
	MAIL_BAD("<user@example.org> AUTH", "501 5.5.4 Bad AUTH parameter: expected an xtext mailbox or <>"),
};

static void test_mail(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		const struct mail_case *c = &mail_cases[i];
		struct smtp_path path;
		struct smtp_mail_params params;
		const char *reply = NULL;
		int rc = smtp_parse_mail(slice_cstr(c->args), &path, &params, &reply);

		print_message("mail: %s\n", c->args);
		if (c->reply != NULL) {
			assert_int_equal(rc, -1);
			assert_reply_shape(reply);
			assert_string_equal(reply, c->reply);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(path.null_path, c->null_path);
		assert_string_equal(path.local, c->local);
		assert_string_equal(path.domain, c->domain);
		assert_string_equal(path.address, c->address);
	}
}

static void test_mail_params(void **state)
{
	struct smtp_path path;
	struct smtp_mail_params p;
	const char *reply;

	(void)state;
	assert_int_equal(smtp_parse_mail(slice_cstr("<a@b.example>"), &path, &p, &reply), 0);
	assert_false(p.has_size);
	assert_int_equal(p.body, SMTP_BODY_7BIT);
	assert_false(p.smtputf8);
	assert_int_equal(p.ret, SMTP_RET_UNSET);
	assert_string_equal(p.envid, "");
	assert_string_equal(p.auth, "");

	assert_int_equal(smtp_parse_mail(slice_cstr("<a@b.example> SIZE=1000 body=8bitmime SMTPUTF8 RET=HDRS "
						    "ENVID=QQ+2Bx+3D1 AUTH=bob+40example.org"),
					 &path, &p, &reply),
			 0);
	assert_true(p.has_size);
	assert_int_equal(p.size, 1000);
	assert_int_equal(p.body, SMTP_BODY_8BITMIME);
	assert_true(p.smtputf8);
	assert_int_equal(p.ret, SMTP_RET_HDRS);
	assert_string_equal(p.envid, "QQ+x=1");
	assert_string_equal(p.auth, "bob@example.org");

	assert_int_equal(smtp_parse_mail(slice_cstr("<> AUTH=<> RET=full BODY=BINARYMIME SIZE=0"), &path, &p, &reply), 0);
	assert_string_equal(p.auth, "<>");
	assert_int_equal(p.ret, SMTP_RET_FULL);
	assert_int_equal(p.body, SMTP_BODY_BINARYMIME);
	assert_true(p.has_size);
	assert_int_equal(p.size, 0);

	assert_int_equal(smtp_parse_mail(slice_cstr("<a@b.example> ENVID=" ENVID100), &path, &p, &reply), 0);
	assert_string_equal(p.envid, ENVID100);
	/* lower-case hex is accepted */
	assert_int_equal(smtp_parse_mail(slice_cstr("<a@b.example> ENVID=a+2bb"), &path, &p, &reply), 0);
	assert_string_equal(p.envid, "a+b");
}

/* SIZE past 2^64-1 saturates, so that the limit check refuses it by name. */
static void test_mail_size_overflow(void **state)
{
	struct smtp_path path;
	struct smtp_mail_params p;
	const char *reply;

	(void)state;
	assert_int_equal(smtp_parse_mail(slice_cstr("<a@b.example> SIZE=18446744073709551615"), &path, &p, &reply), 0);
	assert_int_equal(p.size, UINT64_MAX);
	assert_int_equal(smtp_parse_mail(slice_cstr("<a@b.example> SIZE=18446744073709551614"), &path, &p, &reply), 0);
	assert_int_equal(p.size, UINT64_MAX - 1);
	assert_int_equal(smtp_parse_mail(slice_cstr("<a@b.example> SIZE=18446744073709551616"), &path, &p, &reply), 0);
	assert_int_equal(p.size, UINT64_MAX);
	assert_int_equal(
		smtp_parse_mail(slice_cstr("<a@b.example> SIZE=999999999999999999999999999999999999999"), &path, &p, &reply),
		0);
	assert_int_equal(p.size, UINT64_MAX);
	assert_int_equal(smtp_parse_mail(slice_cstr("<a@b.example> SIZE=000000000000000000000000000042"), &path, &p, &reply),
			 0);
	assert_int_equal(p.size, 42);
}

/* The arguments are a slice: nothing past its end is read. */
static void test_mail_slice_bounds(void **state)
{
	const char *line = "<a@b.example>JUNK";
	struct smtp_path path;
	struct smtp_mail_params p;
	const char *reply;

	(void)state;
	assert_int_equal(smtp_parse_mail(slice_make(line, 13), &path, &p, &reply), 0);
	assert_string_equal(path.address, "a@b.example");
	assert_int_equal(smtp_parse_mail(slice_make(line, 12), &path, &p, &reply), -1);
	assert_string_equal(reply, SENDER "missing '>'");
}

/* ---- RCPT TO ------------------------------------------------------------------------ */

struct rcpt_case {
	const char *args;
	bool smtputf8;
	const char *reply; /* NULL: accepted */
	const char *local, *domain;
	unsigned notify;
	const char *orcpt;
};

#define RECIPIENT "501 5.1.3 Bad recipient address syntax: "
#define RCPT_BAD(a, u, r) { .args = (a), .smtputf8 = (u), .reply = (r) }

static const struct rcpt_case rcpt_cases[] = {
	{ "<user@example.org>", false, NULL, "user", "example.org", 0, "" },
	{ "<postmaster>", false, NULL, "postmaster", "", 0, "" },
	{ "<PostMaster>", false, NULL, "PostMaster", "", 0, "" },
	{ "<postmaster@example.org>", false, NULL, "postmaster", "example.org", 0, "" },
	{ "<user@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user+40example.org", false, NULL, "user",
	  "example.org", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, "rfc822;user@example.org" },
	{ "<user@example.org> NOTIFY=NEVER", false, NULL, "user", "example.org", SMTP_NOTIFY_NEVER, "" },
	{ "<user@example.org> notify=delay,success,failure", false, NULL, "user", "example.org",
	  SMTP_NOTIFY_DELAY | SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, "" },
	RCPT_BAD("<user@example.org> ORCPT=utf-8;j+C3+B6+40x.example", false, "501 5.5.4 Bad ORCPT parameter: expected "
									   "ORCPT=rfc822;<xtext address>"),
	{ "<postmaster> NOTIFY=NEVER", false, NULL, "postmaster", "", SMTP_NOTIFY_NEVER, "" },
	{ "<j\xc3\xb6@example.org>", true, NULL, "j\xc3\xb6", "example.org", 0, "" },
	RCPT_BAD("<j\xc3\xb6@example.org>", false, "553 5.6.7 Non-ASCII address requires SMTPUTF8"),
	RCPT_BAD("<>", false, RECIPIENT "empty address"),
	RCPT_BAD("", false, RECIPIENT "missing '<'"),
	RCPT_BAD("<user@example.org", false, RECIPIENT "missing '>'"),
	RCPT_BAD("<postmasterx>", false, RECIPIENT "missing '@domain'"),
	RCPT_BAD("<postmaster>x", false, RECIPIENT "unexpected text after '>'"),
	RCPT_BAD("<user@exa mple.org>", false, RECIPIENT "missing '>'"),
	RCPT_BAD("<user@example.org> NOTIFY=NEVER,SUCCESS", false,
	  "501 5.5.4 Bad NOTIFY parameter: NEVER cannot be combined with other values"),
	RCPT_BAD("<user@example.org> NOTIFY=SOMETIMES", false,
	  "501 5.5.4 Bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY"),
	RCPT_BAD("<user@example.org> NOTIFY=SUCCESS,", false,
	  "501 5.5.4 Bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY"),
	RCPT_BAD("<user@example.org> NOTIFY", false,
	  "501 5.5.4 Bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY"),
	RCPT_BAD("<user@example.org> ORCPT=user@example.org", false,
	  "501 5.5.4 Bad ORCPT parameter: expected ORCPT=rfc822;<xtext address>"),
	RCPT_BAD("<user@example.org> ORCPT=;x", false, "501 5.5.4 Bad ORCPT parameter: expected ORCPT=rfc822;<xtext address>"),
	RCPT_BAD("<user@example.org> ORCPT=rfc822;", false,
	  "501 5.5.4 Bad ORCPT parameter: expected ORCPT=rfc822;<xtext address>"),
	RCPT_BAD("<user@example.org> ORCPT=rfc822;a+0Db", false,
	  "501 5.5.4 Bad ORCPT parameter: expected ORCPT=rfc822;<xtext address>"),
	RCPT_BAD("<user@example.org> SIZE=10", false, "555 5.5.4 Unsupported parameter: SIZE"),
	RCPT_BAD("<user@example.org> BODY=8BITMIME", false, "555 5.5.4 Unsupported parameter: BODY"),
	RCPT_BAD("<user@example.org> NOTIFY=NEVER NOTIFY=NEVER", false, "501 5.5.4 Duplicate parameter: NOTIFY"),
	RCPT_BAD("<user@example.org> ORCPT=rfc822;a ORCPT=rfc822;b", false, "501 5.5.4 Duplicate parameter: ORCPT"),
	RCPT_BAD("<postmaster> FOO", false, "555 5.5.4 Unsupported parameter: FOO"),
};

static void test_rcpt(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		struct smtp_path path;
		struct smtp_rcpt_params params;
		const char *reply = NULL;
		int rc = smtp_parse_rcpt(slice_cstr(c->args), c->smtputf8, &path, &params, &reply);

		print_message("rcpt: %s\n", c->args);
		if (c->reply != NULL) {
			assert_int_equal(rc, -1);
			assert_reply_shape(reply);
			assert_string_equal(reply, c->reply);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_false(path.null_path);
		assert_string_equal(path.local, c->local);
		assert_string_equal(path.domain, c->domain);
		assert_int_equal(params.notify, c->notify);
		assert_string_equal(params.orcpt, c->orcpt);
	}
}

/* ---- BDAT ---------------------------------------------------------------------------- */

struct bdat_case {
	const char *args;
	int rc;
	uint64_t size;
	bool last;
	const char *reply;
};

static const struct bdat_case bdat_cases[] = {
	{ "10", 0, 10, false, NULL },
	{ "10 LAST", 0, 10, true, NULL },
	{ "0 LAST", 0, 0, true, NULL },
	{ "0", 0, 0, false, NULL },
	{ "10 last", 0, 10, true, NULL },
	{ "  10   LAST  ", 0, 10, true, NULL },
	{ "18446744073709551615", 0, UINT64_MAX, false, NULL },
	{ "", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "LAST", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "10LAST", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "-1", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "+1", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "1x", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "10 LAST x", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "10 LASTX", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "10 FIRST", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "10 20", -1, 0, false, "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	{ "18446744073709551616", -1, 0, false, "501 5.5.4 Syntax: BDAT chunk size is too large" },
	{ "99999999999999999999999 LAST", -1, 0, false, "501 5.5.4 Syntax: BDAT chunk size is too large" },
};

static void test_bdat(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bdat_cases) / sizeof(bdat_cases[0]); i++) {
		const struct bdat_case *c = &bdat_cases[i];
		uint64_t size = 1234;
		bool last = true;
		const char *reply = NULL;

		print_message("bdat: '%s'\n", c->args);
		assert_int_equal(smtp_parse_bdat(slice_cstr(c->args), &size, &last, &reply), c->rc);
		if (c->rc < 0) {
			assert_reply_shape(reply);
			assert_string_equal(reply, c->reply);
			continue;
		}
		assert_int_equal(size, c->size);
		assert_int_equal(last, c->last);
	}
}

/* The full path: a command line through smtp_parse_command, then its args parser. */
static void test_command_then_args(void **state)
{
	const char *line = "MAIL FROM: <bob@example.org> SIZE=42 BODY=8BITMIME";
	struct smtp_command cmd;
	struct smtp_path path;
	struct smtp_mail_params p;
	const char *reply;

	(void)state;
	assert_int_equal(smtp_parse_command(line, strlen(line), &cmd, &reply), 0);
	assert_int_equal(cmd.verb, SMTP_VERB_MAIL);
	assert_int_equal(smtp_parse_mail(cmd.args, &path, &p, &reply), 0);
	assert_string_equal(path.address, "bob@example.org");
	assert_int_equal(p.size, 42);
	assert_int_equal(p.body, SMTP_BODY_8BITMIME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_helo_lengths),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_mail_size_overflow),
		cmocka_unit_test(test_mail_slice_bounds),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_command_then_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
