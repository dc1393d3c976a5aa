/*
 * imap_reply: writing IMAP responses (strings, mailbox names, flags) and
 * reading common argument shapes (astring, mailbox, flag list, number).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_private.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/store.h"

/* Longest string we send quoted; longer ones go as literals (RFC 3501 4.3). */
#define IMAP_QUOTED_MAX 1024

void imap_write(struct imap_session *s, const void *p, size_t len)
{
	conn_write(s->conn, p, len);
}

void imap_printf(struct imap_session *s, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(line)) {
		conn_write(s->conn, line, (size_t)n);
		return;
	}
	char *big;
	va_start(ap, fmt);
	if (vasprintf(&big, fmt, ap) < 0)
		panic("out of memory");
	va_end(ap);
	conn_write(s->conn, big, strlen(big));
	free(big);
}

void imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)(sizeof(line) - 3);
	conn_write(s->conn, "* ", 2);
	memcpy(line + n, "\r\n", 2);
	conn_write(s->conn, line, (size_t)n + 2);
}

static bool quotable(const char *p, size_t len, bool utf8)
{
	if (len > IMAP_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\0' || c == '\r' || c == '\n' || (c >= 0x80 && !utf8))
			return false;
	}
	return true;
}

static void write_string(struct imap_session *s, const char *p, size_t len, bool utf8)
{
	if (!quotable(p, len, utf8)) {
		imap_printf(s, "{%zu}\r\n", len);
		conn_write(s->conn, p, len);
		return;
	}
	char out[2 * IMAP_QUOTED_MAX + 2];
	size_t n = 0;
	out[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			out[n++] = '\\';
		out[n++] = p[i];
	}
	out[n++] = '"';
	conn_write(s->conn, out, n);
}

void imap_write_string(struct imap_session *s, const char *p, size_t len)
{
	write_string(s, p, len, (s->enabled & IMAP_ENABLED_UTF8) != 0);
}

void imap_write_nstring(struct imap_session *s, const char *p, size_t len)
{
	if (p == NULL)
		conn_write(s->conn, "NIL", 3);
	else
		imap_write_string(s, p, len);
}

void imap_write_mailbox(struct imap_session *s, const char *utf8_name)
{
	char enc[STORE_FOLDER_NAME_MAX * 4 + 8];

	if ((s->enabled & IMAP_ENABLED_UTF8) ||
	    imap_utf8_to_mutf7(utf8_name, strlen(utf8_name), enc, sizeof(enc)) < 0) {
		write_string(s, utf8_name, strlen(utf8_name), true);
		return;
	}
	write_string(s, enc, strlen(enc), false);
}

static const struct {
	uint32_t bit;
	const char *name;
} system_flags[] = {
	{ STORE_FLAG_ANSWERED, "\\Answered" }, { STORE_FLAG_FLAGGED, "\\Flagged" },
	{ STORE_FLAG_DELETED, "\\Deleted" },   { STORE_FLAG_SEEN, "\\Seen" },
	{ STORE_FLAG_DRAFT, "\\Draft" },
};

void imap_write_flags(struct imap_session *s, uint32_t flags, const char *keywords, bool recent)
{
	bool first = true;

	for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++) {
		if (!(flags & system_flags[i].bit))
			continue;
		if (!first)
			conn_write(s->conn, " ", 1);
		conn_write(s->conn, system_flags[i].name, strlen(system_flags[i].name));
		first = false;
	}
	if (keywords != NULL && keywords[0] != '\0') {
		if (!first)
			conn_write(s->conn, " ", 1);
		conn_write(s->conn, keywords, strlen(keywords));
		first = false;
	}
	if (recent)
		conn_write(s->conn, first ? "\\Recent" : " \\Recent", first ? 7 : 8);
}

/* ---- arguments ----------------------------------------------------------------------- */

const char *imap_arg_astring(const struct imap_arg *a)
{
	if (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_STRING)
		return a->str;
	if (a->type == IMAP_ARG_NIL)
		return "NIL"; /* as an astring, NIL is the mailbox or user "NIL" */
	return NULL;
}

bool imap_arg_atom_is(const struct imap_arg *a, const char *upper)
{
	return a->type == IMAP_ARG_ATOM && strcasecmp(a->str, upper) == 0;
}

int imap_arg_mailbox(struct imap_session *s, const struct imap_arg *a, char out[STORE_FOLDER_NAME_MAX + 1],
		     const char **err_r)
{
	const char *name = imap_arg_astring(a);

	if (name == NULL || strlen(name) != a->len) {
		*err_r = "invalid mailbox name";
		return -1;
	}
	if (s->enabled & IMAP_ENABLED_UTF8) {
		/* RFC 6855 3: UTF-8 names; a name that is valid mUTF-7 stays literal UTF-8 too. */
		if (a->len > STORE_FOLDER_NAME_MAX) {
			*err_r = "mailbox name too long";
			return -1;
		}
		memcpy(out, name, a->len + 1);
	} else if (imap_mutf7_to_utf8(name, a->len, out, STORE_FOLDER_NAME_MAX + 1) < 0) {
		*err_r = "mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3), or too long";
		return -1;
	}
	size_t n = strlen(out);
	if (n == 0 || out[0] == '/' || out[n - 1] == '/' || strstr(out, "//") != NULL) {
		*err_r = "invalid mailbox name";
		return -1;
	}
	/* RFC 3501 5.1: INBOX is case-insensitive, also as a parent ("inbox/sub"). */
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 0;
}

static int add_flag(const struct imap_arg *f, uint32_t *flags, char *kw, size_t *kwlen, const char **err_r)
{
	if (f->type != IMAP_ARG_ATOM) {
		*err_r = "invalid flag";
		return -1;
	}
	for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++)
		if (strcasecmp(f->str, system_flags[i].name) == 0) {
			*flags |= system_flags[i].bit;
			return 0;
		}
	if (f->str[0] == '\\') {
		*err_r = strcasecmp(f->str, "\\Recent") == 0 ? "\\Recent cannot be set" : "unknown system flag";
		return -1;
	}
	for (const char *p = f->str; *p; p++)
		if (*p == '*' || *p == '%' || *p == ']' || *p == '[') {
			*err_r = "invalid character in a keyword";
			return -1;
		}
	if (*kwlen + f->len + 2 > STORE_KEYWORDS_MAX) {
		*err_r = "too many keywords";
		return -1;
	}
	if (*kwlen > 0)
		kw[(*kwlen)++] = ' ';
	memcpy(kw + *kwlen, f->str, f->len + 1);
	*kwlen += f->len;
	return 0;
}

int imap_arg_flags(const struct imap_arg *a, uint32_t *flags_r, char keywords_r[STORE_KEYWORDS_MAX],
		   const char **err_r)
{
	size_t kwlen = 0;

	*flags_r = 0;
	keywords_r[0] = '\0';
	if (a->type != IMAP_ARG_LIST)
		return add_flag(a, flags_r, keywords_r, &kwlen, err_r);
	for (size_t i = 0; i < a->count; i++)
		if (add_flag(&a->list[i], flags_r, keywords_r, &kwlen, err_r) < 0)
			return -1;
	return 0;
}

int imap_arg_number(const struct imap_arg *a, uint64_t *n_r, bool nonzero)
{
	uint64_t n = 0;

	if (a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 19)
		return -1;
	for (size_t i = 0; i < a->len; i++) {
		if (a->str[i] < '0' || a->str[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(a->str[i] - '0');
	}
	if (nonzero && n == 0)
		return -1;
	*n_r = n;
	return 0;
}
