/* Unit tests for mail/mail_address: the provider's address and domain rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mail/mail_address.h"

struct good_case {
	const char *input;
	const char *local; /* expected, lower-cased */
	const char *domain;
};

static const struct good_case good_addresses[] = {
	{ "john@example.org", "john", "example.org" },
	{ "John.Smith@Example.ORG", "john.smith", "example.org" },
	{ "a@b.co", "a", "b.co" },
	{ "x_y-z+tag@mail.example.com", "x_y-z+tag", "mail.example.com" },
	{ "!#$'*/=?^`{}~@example.org", "!#$'*/=?^`{}~", "example.org" },
	{ "1234@123.example", "1234", "123.example" },
	{ "no-reply@sub-domain.example.org", "no-reply", "sub-domain.example.org" },
	{ "a.b.c.d@x.y.z.example", "a.b.c.d", "x.y.z.example" },
	{ "user@xn--bcher-kva.example", "user", "xn--bcher-kva.example" },
	{ "user@a1.b2", "user", "a1.b2" },
	{ "user@example.c0m", "user", "example.c0m" },
	/* exactly 64 octets of local part */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org",
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "example.org" },
	/* a label of exactly 63 octets */
	{ "u@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org", "u",
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org" },
};

struct bad_case {
	const char *input;
	const char *error; /* the complete expected message */
};

#define ADDR(a) "address '" a "' is not valid: "
#define SPECIALS "(special characters ( ) < > @ , ; : \" [ ] | % & \\ are not allowed)"

static const struct bad_case bad_addresses[] = {
	{ "jöhn@example.org", ADDR("jöhn@example.org") "'ö' (accented characters are not allowed)" },
	{ "françois@example.org", ADDR("françois@example.org") "'ç' (accented characters are not allowed)" },
	{ "ÉLISE@example.org", ADDR("ÉLISE@example.org") "'É' (accented characters are not allowed)" },
	{ "user@exämple.org", ADDR("user@exämple.org") "'ä' (accented characters are not allowed)" },
	{ "user\xe2\x82\xac@example.org",
	  ADDR("user€@example.org") "'€' (only ASCII letters, digits and . _ - + ! # $ ' * / = ? ^ ` { } ~ are allowed)" },
	{ "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@example.org",
	  ADDR("иван@example.org") "'и' (only ASCII letters, digits and . _ - + ! # $ ' * / = ? ^ ` { } ~ are allowed)" },
	{ "john smith@example.org", ADDR("john smith@example.org") "' ' (spaces are not allowed)" },
	{ " john@example.org", ADDR(" john@example.org") "' ' (spaces are not allowed)" },
	{ "john@example.org ", ADDR("john@example.org ") "' ' (spaces are not allowed)" },
	{ "jo(hn@example.org", ADDR("jo(hn@example.org") "'(' " SPECIALS },
	{ "jo)hn@example.org", ADDR("jo)hn@example.org") "')' " SPECIALS },
	{ "<john>@example.org", ADDR("<john>@example.org") "'<' " SPECIALS },
	{ "jo,hn@example.org", ADDR("jo,hn@example.org") "',' " SPECIALS },
	{ "jo;hn@example.org", ADDR("jo;hn@example.org") "';' " SPECIALS },
	{ "jo:hn@example.org", ADDR("jo:hn@example.org") "':' " SPECIALS },
	{ "\"john\"@example.org", ADDR("\"john\"@example.org") "'\"' " SPECIALS },
	{ "jo[hn@example.org", ADDR("jo[hn@example.org") "'[' " SPECIALS },
	{ "jo]hn@example.org", ADDR("jo]hn@example.org") "']' " SPECIALS },
	{ "jo|hn@example.org", ADDR("jo|hn@example.org") "'|' " SPECIALS },
	{ "jo%hn@example.org", ADDR("jo%hn@example.org") "'%' " SPECIALS },
	{ "jo&hn@example.org", ADDR("jo&hn@example.org") "'&' " SPECIALS },
	{ "jo\\hn@example.org", ADDR("jo\\hn@example.org") "'\\' " SPECIALS },
	{ "jo@hn@example.org", ADDR("jo@hn@example.org") "'@' " SPECIALS },
	{ "jo\ahn@example.org", ADDR("jo\\x07hn@example.org") "'\\x07' (control characters are not allowed)" },
	{ "jo\thn@example.org", ADDR("jo\\x09hn@example.org") "'\\x09' (control characters are not allowed)" },
	{ "john@example.org\n", ADDR("john@example.org\\x0a") "'\\x0a' (control characters are not allowed)" },
	{ "jo\x7fhn@example.org", ADDR("jo\\x7fhn@example.org") "'\\x7f' (control characters are not allowed)" },
	{ "jo\xc2\x85hn@example.org", ADDR("jo\\u0085hn@example.org") "'\\u0085' (control characters are not allowed)" },
	{ "jo\xffhn@example.org", ADDR("jo\\xffhn@example.org") "'\\xff' (this byte is not valid UTF-8 text)" },
	/* overlong encoding of '/' and a truncated sequence */
	{ "jo\xc0\xafhn@example.org", ADDR("jo\\xc0\\xafhn@example.org") "'\\xc0' (this byte is not valid UTF-8 text)" },
	{ "john\xc3@example.org", ADDR("john\\xc3@example.org") "'\\xc3' (this byte is not valid UTF-8 text)" },
	/* a UTF-16 surrogate encoded in UTF-8 */
	{ "jo\xed\xa0\x80@example.org", ADDR("jo\\xed\\xa0\\x80@example.org") "'\\xed' (this byte is not valid UTF-8 text)" },
	{ "john", ADDR("john") "it needs an '@' between the local part and the domain" },
	{ "", ADDR("") "it needs an '@' between the local part and the domain" },
	{ "@example.org", ADDR("@example.org") "local part is empty" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org",
	  ADDR("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org")
		  "local part is longer than 64 characters" },
	{ ".john@example.org", ADDR(".john@example.org") "a dot cannot start or end the local part or follow another dot" },
	{ "john.@example.org", ADDR("john.@example.org") "a dot cannot start or end the local part or follow another dot" },
	{ "jo..hn@example.org", ADDR("jo..hn@example.org") "a dot cannot start or end the local part or follow another dot" },
	{ "john@", ADDR("john@") "domain is empty" },
	{ "john@localhost", ADDR("john@localhost") "domain 'localhost' must have at least two labels, as in example.org" },
	{ "john@.example.org", ADDR("john@.example.org") "a dot cannot start or end the domain or follow another dot" },
	{ "john@example.org.", ADDR("john@example.org.") "a dot cannot start or end the domain or follow another dot" },
	{ "john@example..org", ADDR("john@example..org") "a dot cannot start or end the domain or follow another dot" },
	{ "john@my_host.example.org", ADDR("john@my_host.example.org") "'_' is not allowed in a domain name (only letters, digits, '-' and '.')" },
	{ "john@ex+ample.org",
	  ADDR("john@ex+ample.org") "'+' is not allowed in a domain name (only letters, digits, '-' and '.')" },
	{ "john@-example.org", ADDR("john@-example.org") "domain label '-example' cannot start or end with '-'" },
	{ "john@example-.org", ADDR("john@example-.org") "domain label 'example-' cannot start or end with '-'" },
	{ "john@[1.2.3.4]", ADDR("john@[1.2.3.4]") "'[' " SPECIALS },
	{ "john@1.2.3.4", ADDR("john@1.2.3.4") "the last label of domain '1.2.3.4' cannot be all digits" },
	{ "john@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org",
	  ADDR("john@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org")
		  "domain label 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is longer than 63 characters" },
};

static void test_good_addresses(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_addresses) / sizeof(good_addresses[0]); i++) {
		const struct good_case *c = &good_addresses[i];
		char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], err[512] = "";

		print_message("good: %s\n", c->input);
		assert_int_equal(mail_address_parse(c->input, local, domain, err, sizeof(err)), 0);
		assert_string_equal(err, "");
		assert_string_equal(local, c->local);
		assert_string_equal(domain, c->domain);
	}
}

static void test_bad_addresses(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_addresses) / sizeof(bad_addresses[0]); i++) {
		const struct bad_case *c = &bad_addresses[i];
		char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], err[512] = "";

		print_message("bad: %s\n", c->error);
		assert_int_equal(mail_address_parse(c->input, local, domain, err, sizeof(err)), -1);
		assert_string_equal(err, c->error);
	}
}

static void test_domain_lengths(void **state)
{
	char d[400], out[MAIL_DOMAIN_MAX + 1], err[600];
	size_t len;

	(void)state;
	/* 4 labels of 63 + 3 dots = 255 > 253; trim to exactly 253 and 254. */
	memset(d, 'a', sizeof(d));
	d[63] = d[127] = d[191] = '.';
	d[253] = '\0';
	assert_int_equal(mail_domain_parse(d, out, err, sizeof(err)), 0);
	assert_int_equal(strlen(out), 253);
	d[253] = 'a';
	d[254] = '\0';
	assert_int_equal(mail_domain_parse(d, out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "domain is longer than 253 characters"));
	/* The echo of a huge input is capped, so the reason still fits. */
	len = sizeof(d) - 1;
	memset(d, 'a', len);
	d[len] = '\0';
	d[10] = '.';
	assert_int_equal(mail_domain_parse(d, out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "...' is not valid: domain is longer than 253 characters"));
}

static void test_domain_alone(void **state)
{
	char out[MAIL_DOMAIN_MAX + 1], err[512];

	(void)state;
	assert_int_equal(mail_domain_parse("Example.ORG", out, err, sizeof(err)), 0);
	assert_string_equal(out, "example.org");
	assert_int_equal(mail_domain_parse("mail.sub.example.co.uk", out, err, sizeof(err)), 0);
	assert_string_equal(out, "mail.sub.example.co.uk");
	assert_int_equal(mail_domain_parse("exämple.org", out, err, sizeof(err)), -1);
	assert_string_equal(err, "domain 'exämple.org' is not valid: 'ä' (accented characters are not allowed)");
	assert_int_equal(mail_domain_parse("a@b.org", out, err, sizeof(err)), -1);
	assert_string_equal(err, "domain 'a@b.org' is not valid: '@' " SPECIALS);
	assert_int_equal(mail_domain_parse("org", out, err, sizeof(err)), -1);
	assert_string_equal(err, "domain 'org' is not valid: domain 'org' must have at least two labels, as in example.org");
	assert_int_equal(mail_domain_parse("", out, err, sizeof(err)), -1);
	assert_string_equal(err, "domain '' is not valid: domain is empty");
	assert_int_equal(mail_domain_parse("my_host.org", out, err, sizeof(err)), -1);
	assert_string_equal(err, "domain 'my_host.org' is not valid: '_' is not allowed in a domain name (only letters, digits, '-' and '.')");
}

/* A small error buffer truncates, never overflows, and stays a C string. */
static void test_small_error_buffer(void **state)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], err[16];

	(void)state;
	memset(err, 'X', sizeof(err));
	assert_int_equal(mail_address_parse("jöhn@example.org", local, domain, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, "address 'jöhn@", 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_addresses),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_domain_lengths),
		cmocka_unit_test(test_domain_alone),
		cmocka_unit_test(test_small_error_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
