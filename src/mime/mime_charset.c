/*
 * mime_charset: charset conversion to UTF-8 through glibc's iconv.
 *
 * UTF-8 and US-ASCII are validated here instead (the commonest case, and
 * mail labelled us-ascii often carries UTF-8 anyway); everything else goes
 * through iconv, with each invalid or truncated sequence replaced by U+FFFD
 * so that one bad byte does not lose the rest of a text. iconv descriptors
 * are opened per call: conversion runs on store reader threads, and a shared
 * cache would need locking for a cost (a few microseconds) that search and
 * indexing can afford.
 */
#include "mime/mime_private.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t len)
{
	size_t n;
	uint32_t cp, min;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void mime_utf8_sanitize(struct slice s, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0, run = 0;

	while (i < s.len) {
		size_t n = utf8_seq(p + i, s.len - i);
		if (n > 0) {
			i += n;
			continue;
		}
		(void)buf_append(out, s.p + run, i - run);
		(void)buf_append(out, replacement, 3);
		i++;
		run = i;
	}
	(void)buf_append(out, s.p + run, i - run);
}

static bool is_utf8_alias(const char *charset)
{
	return strcasecmp(charset, "utf-8") == 0 || strcasecmp(charset, "utf8") == 0 ||
	       strcasecmp(charset, "us-ascii") == 0 || strcasecmp(charset, "ascii") == 0;
}

bool mime_charset_known(const char *charset)
{
	if (is_utf8_alias(charset))
		return true;
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return false;
	iconv_close(cd);
	return true;
}

static void convert(iconv_t cd, struct slice in, struct buf *out)
{
	char chunk[1024];
	char *ip = (char *)in.p;
	size_t ileft = in.len;

	while (ileft > 0) {
		char *op = chunk;
		size_t oleft = sizeof(chunk);
		size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
		(void)buf_append(out, chunk, sizeof(chunk) - oleft);
		if (r != (size_t)-1 || errno == E2BIG)
			continue;
		/* EILSEQ or EINVAL (truncated at the end): one replacement, one byte on */
		(void)buf_append(out, replacement, 3);
		ip++;
		ileft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	char *op = chunk;
	size_t oleft = sizeof(chunk);
	iconv(cd, NULL, NULL, &op, &oleft); /* stateful charsets: back to the initial state */
	(void)buf_append(out, chunk, sizeof(chunk) - oleft);
}

int mime_charset_to_utf8(const char *charset, struct slice in, struct buf *out)
{
	if (charset == NULL || is_utf8_alias(charset)) {
		mime_utf8_sanitize(in, out);
		return 0;
	}
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return -1;
	convert(cd, in, out);
	iconv_close(cd);
	return 0;
}
