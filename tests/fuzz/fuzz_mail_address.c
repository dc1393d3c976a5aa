/*
 * libFuzzer target: the provider's address and domain validator. On
 * success the parts must be lower-case, within their limits, and parse
 * again to themselves; on failure the error must say what was refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mail_address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) ((cond) ? (void)0 : abort())

static void check_lower_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		CHECK((unsigned char)*s > 0x20 && (unsigned char)*s < 0x7f && !(*s >= 'A' && *s <= 'Z'));
}

/* Errors never carry raw control characters (they reach logs and terminals). */
static void check_error(const char *err, const char *prefix)
{
	size_t i;

	CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
	CHECK(strstr(err, "' is not valid: ") != NULL);
	for (i = 0; err[i] != '\0'; i++)
		CHECK((unsigned char)err[i] >= 0x20 && (unsigned char)err[i] != 0x7f);
}

static void fuzz_address(const char *s)
{
	char local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], err[512];
	char again[MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2], l2[MAIL_LOCAL_MAX + 1], d2[MAIL_DOMAIN_MAX + 1];

	if (mail_address_parse(s, local, domain, err, sizeof(err)) < 0) {
		check_error(err, "address '");
		return;
	}
	CHECK(strlen(local) >= 1 && strlen(local) <= MAIL_LOCAL_MAX);
	CHECK(strlen(domain) >= 3 && strlen(domain) <= MAIL_DOMAIN_MAX);
	check_lower_ascii(local);
	check_lower_ascii(domain);
	CHECK(strchr(domain, '.') != NULL);
	snprintf(again, sizeof(again), "%s@%s", local, domain);
	CHECK(mail_address_parse(again, l2, d2, err, sizeof(err)) == 0);
	CHECK(strcmp(l2, local) == 0 && strcmp(d2, domain) == 0);
}

static void fuzz_domain(const char *s)
{
	char domain[MAIL_DOMAIN_MAX + 1], err[512];

	if (mail_domain_parse(s, domain, err, sizeof(err)) < 0) {
		check_error(err, "domain '");
		return;
	}
	check_lower_ascii(domain);
	CHECK(strlen(domain) <= MAIL_DOMAIN_MAX && strcasecmp(domain, s) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char tiny[8];

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_address(s);
	fuzz_domain(s);
	/* a tiny error buffer truncates safely */
	if (mail_address_parse(s, (char[MAIL_LOCAL_MAX + 1]){ 0 }, (char[MAIL_DOMAIN_MAX + 1]){ 0 }, tiny,
			       sizeof(tiny)) < 0)
		CHECK(strlen(tiny) < sizeof(tiny));
	free(s);
	return 0;
}
