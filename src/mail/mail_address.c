/*
 * mail_address: the provider's address rules (see mail_address.h).
 *
 * Validation runs in two passes. The first walks the text character by
 * character (decoding UTF-8, so that the error shows 'ö' and not a lone
 * byte) and refuses the first character no rule allows, naming the rule.
 * The second checks the structure: lengths, dots, labels. Characters come
 * first because a user who typed "jöhn" wants to hear about the 'ö', not
 * about a label length.
 */
#include "mail/mail_address.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define LABEL_MAX 63
/* How much of the offending input is echoed back in an error. */
#define ECHO_MAX 200

enum char_class {
	CC_ATEXT,    /* ASCII letter, digit or dot-atom special */
	CC_DOT,
	CC_AT,
	CC_CONTROL,
	CC_SPACE,
	CC_SPECIAL,  /* ( ) < > , ; : " [ ] \ and the provider's | % & */
	CC_ACCENTED, /* non-ASCII Latin letter */
	CC_NONASCII, /* any other non-ASCII character */
	CC_INVALID,  /* a byte that is not part of valid UTF-8 */
};

struct uchar {
	uint32_t cp;
	size_t len; /* bytes in the input */
	enum char_class cls;
};

/*
 * Strict UTF-8 decoding (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF. Returns the length, or 0 for an invalid sequence.
 */
static size_t utf8_decode(const unsigned char *p, size_t len, uint32_t *cp_r)
{
	size_t n, i;
	uint32_t cp, min;

	if (p[0] < 0x80) {
		*cp_r = p[0];
		return 1;
	} else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

static enum char_class classify_ascii(unsigned char c)
{
	if (c < 0x20 || c == 0x7f)
		return CC_CONTROL;
	if (c == ' ')
		return CC_SPACE;
	if (c == '.')
		return CC_DOT;
	if (c == '@')
		return CC_AT;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return CC_ATEXT;
	/* RFC 5322 atext specials, minus the ones the provider refuses (| % &). */
	if (strchr("_-+!#$'*/=?^`{}~", c) != NULL)
		return CC_ATEXT;
	return CC_SPECIAL;
}

static enum char_class classify_nonascii(uint32_t cp)
{
	if (cp <= 0x9f)
		return CC_CONTROL; /* C1 controls */
	/* Latin-1 letters, Latin Extended-A/B and Latin Extended Additional. */
	if ((cp >= 0xc0 && cp <= 0x24f && cp != 0xd7 && cp != 0xf7) || (cp >= 0x1e00 && cp <= 0x1eff))
		return CC_ACCENTED;
	return CC_NONASCII;
}

static struct uchar next_char(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	struct uchar u = { p[0], 1, CC_INVALID };

	if (p[0] < 0x80) {
		u.cls = classify_ascii(p[0]);
		return u;
	}
	u.len = utf8_decode(p, len, &u.cp);
	if (u.len == 0) {
		u.cp = p[0];
		u.len = 1;
		u.cls = CC_INVALID;
		return u;
	}
	u.cls = classify_nonascii(u.cp);
	return u;
}

/*
 * Writes a character for display in an error: printable ones as they are,
 * control characters and invalid bytes escaped so that a log line or a
 * terminal never receives them raw.
 */
static void show_char(const char *s, struct uchar u, char *out, size_t out_size)
{
	if (u.cls == CC_INVALID || (u.cls == CC_CONTROL && u.cp < 0x80))
		snprintf(out, out_size, "\\x%02x", (unsigned)u.cp);
	else if (u.cls == CC_CONTROL)
		snprintf(out, out_size, "\\u%04x", (unsigned)u.cp);
	else
		snprintf(out, out_size, "%.*s", (int)u.len, s);
}

/* The input as it is echoed in errors: escaped like show_char, and capped. */
static void show_input(const char *s, char *out, size_t out_size)
{
	size_t len = strlen(s), i = 0, o = 0;
	char one[16];

	out[0] = '\0';
	while (i < len) {
		struct uchar u = next_char(s + i, len - i);
		size_t n;

		show_char(s + i, u, one, sizeof(one));
		n = strlen(one);
		if (o + n + 4 >= out_size || o + n > ECHO_MAX) {
			memcpy(out + o, "...", 4);
			return;
		}
		memcpy(out + o, one, n + 1);
		o += n;
		i += u.len;
	}
}

static const char *class_rule(enum char_class cls)
{
	switch (cls) {
	case CC_CONTROL:
		return "control characters are not allowed";
	case CC_SPACE:
		return "spaces are not allowed";
	case CC_SPECIAL:
	case CC_AT:
		return "special characters ( ) < > @ , ; : \" [ ] | % & \\ are not allowed";
	case CC_ACCENTED:
		return "accented characters are not allowed";
	case CC_NONASCII:
		return "only ASCII letters, digits and . _ - + ! # $ ' * / = ? ^ ` { } ~ are allowed";
	case CC_INVALID:
		return "this byte is not valid UTF-8 text";
	default:
		return "this character is not allowed";
	}
}

/* Error text: "<what> '<input>' is not valid: <reason>". Always returns -1. */
static int fail(char *err, size_t err_size, const char *what, const char *input, const char *reason)
{
	char shown[ECHO_MAX + 16];

	show_input(input, shown, sizeof(shown));
	snprintf(err, err_size, "%s '%s' is not valid: %s", what, shown, reason);
	return -1;
}

static int fail_char(char *err, size_t err_size, const char *what, const char *input, const char *at,
		     struct uchar u, const char *rule)
{
	char shown[16], reason[160];

	show_char(at, u, shown, sizeof(shown));
	snprintf(reason, sizeof(reason), "'%s' (%s)", shown, rule);
	return fail(err, err_size, what, input, reason);
}

static bool is_ldh(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/*
 * First pass over [s, s+len): the first character that is not allowed.
 * In a domain only letters, digits, '-' and '.' are (RFC 1035 LDH).
 */
static int check_chars(const char *s, size_t len, bool domain, const char *what, const char *input, char *err,
		       size_t err_size)
{
	size_t i = 0;

	while (i < len) {
		struct uchar u = next_char(s + i, len - i);

		if (u.cls == CC_ATEXT && domain && !is_ldh(u.cp)) {
			char reason[96];

			snprintf(reason, sizeof(reason),
				 "'%c' is not allowed in a domain name (only letters, digits, '-' and '.')", (int)u.cp);
			return fail(err, err_size, what, input, reason);
		}
		if (u.cls != CC_ATEXT && u.cls != CC_DOT)
			return fail_char(err, err_size, what, input, s + i, u, class_rule(u.cls));
		i += u.len;
	}
	return 0;
}

static void lower_copy(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = src[i];
		dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
	}
	dst[len] = '\0';
}

/* Second pass for a local part: RFC 5322 dot-atom and RFC 5321 4.5.3.1.1. */
static int check_local(const char *local, size_t len, const char *input, char *err, size_t err_size)
{
	const char *what = "address";

	if (len == 0)
		return fail(err, err_size, what, input, "local part is empty");
	if (len > MAIL_LOCAL_MAX)
		return fail(err, err_size, what, input, "local part is longer than 64 characters");
	if (local[0] == '.' || local[len - 1] == '.' || memmem(local, len, "..", 2) != NULL)
		return fail(err, err_size, what, input,
			    "a dot cannot start or end the local part or follow another dot");
	return 0;
}

static int check_label(const char *label, size_t len, const char *what, const char *input, char *err,
		       size_t err_size)
{
	char reason[LABEL_MAX + 128];

	if (len > LABEL_MAX) {
		snprintf(reason, sizeof(reason), "domain label '%.*s...' is longer than 63 characters", 40, label);
		return fail(err, err_size, what, input, reason);
	}
	if (label[0] == '-' || label[len - 1] == '-') {
		snprintf(reason, sizeof(reason), "domain label '%.*s' cannot start or end with '-'", (int)len, label);
		return fail(err, err_size, what, input, reason);
	}
	return 0;
}

/* Second pass for a domain: RFC 1035 2.3.1 labels, RFC 5321 4.5.3.1.2. */
static int check_domain(const char *d, size_t len, const char *what, const char *input, char *err,
			size_t err_size)
{
	char reason[MAIL_DOMAIN_MAX + 80];
	size_t start = 0, i, labels = 0;
	bool all_digits = true;

	if (len == 0)
		return fail(err, err_size, what, input, "domain is empty");
	if (len > MAIL_DOMAIN_MAX)
		return fail(err, err_size, what, input, "domain is longer than 253 characters");
	if (d[0] == '.' || d[len - 1] == '.' || memmem(d, len, "..", 2) != NULL)
		return fail(err, err_size, what, input, "a dot cannot start or end the domain or follow another dot");
	for (i = 0; i <= len; i++) {
		if (i < len && d[i] != '.') {
			all_digits = all_digits && d[i] >= '0' && d[i] <= '9';
			continue;
		}
		if (check_label(d + start, i - start, what, input, err, err_size) < 0)
			return -1;
		labels++;
		if (i < len)
			all_digits = true;
		start = i + 1;
	}
	if (labels < 2) {
		snprintf(reason, sizeof(reason), "domain '%.*s' must have at least two labels, as in example.org",
			 (int)len, d);
		return fail(err, err_size, what, input, reason);
	}
	/* A numeric top-level label would make it an IP address, not a domain. */
	if (all_digits) {
		snprintf(reason, sizeof(reason), "the last label of domain '%.*s' cannot be all digits", (int)len, d);
		return fail(err, err_size, what, input, reason);
	}
	return 0;
}

int mail_domain_parse(const char *domain, char domain_r[MAIL_DOMAIN_MAX + 1], char *err, size_t err_size)
{
	size_t len = strlen(domain);

	if (check_chars(domain, len, true, "domain", domain, err, err_size) < 0 ||
	    check_domain(domain, len, "domain", domain, err, err_size) < 0)
		return -1;
	lower_copy(domain_r, domain, len);
	return 0;
}

int mail_address_parse(const char *addr, char local_r[MAIL_LOCAL_MAX + 1], char domain_r[MAIL_DOMAIN_MAX + 1],
		       char *err, size_t err_size)
{
	const char *at = strrchr(addr, '@');
	size_t llen, dlen;

	if (at == NULL)
		return fail(err, err_size, "address", addr, "it needs an '@' between the local part and the domain");
	llen = (size_t)(at - addr);
	dlen = strlen(at + 1);
	/* The last '@' separates; any earlier one is refused as a character. */
	if (check_chars(addr, llen, false, "address", addr, err, err_size) < 0 ||
	    check_chars(at + 1, dlen, true, "address", addr, err, err_size) < 0 ||
	    check_local(addr, llen, addr, err, err_size) < 0 ||
	    check_domain(at + 1, dlen, "address", addr, err, err_size) < 0)
		return -1;
	lower_copy(local_r, addr, llen);
	lower_copy(domain_r, at + 1, dlen);
	return 0;
}
