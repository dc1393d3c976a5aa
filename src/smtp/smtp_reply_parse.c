/*
 * smtp_reply_parse: reply lines, enhanced status codes and EHLO keywords.
 */
#include "smtp/smtp_reply_parse.h"

#include <stdio.h>
#include <string.h>

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

int smtp_reply_parse_line(const char *line, size_t len, struct smtp_reply_line *r)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || !is_digit(line[2]))
		return -1;
	r->code = (unsigned)((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
	if (len == 3) {
		r->last = true; /* a bare code is a complete reply line */
		r->text = slice_make(line + 3, 0);
		return 0;
	}
	if (line[3] != ' ' && line[3] != '-')
		return -1;
	r->last = line[3] == ' ';
	r->text = slice_make(line + 4, len - 4);
	return 0;
}

/* 1-3 digits at p[*i]; returns false if none. */
static bool digits(const char *p, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && *i - start < 3 && is_digit(p[*i]))
		(*i)++;
	return *i > start && (*i == len || !is_digit(p[*i]));
}

bool smtp_reply_parse_enhanced(unsigned code, struct slice *text, char status_r[SMTP_ENHANCED_MAX])
{
	const char *p = text->p;
	size_t len = text->len, i = 1;

	if (len < 5 || p[0] != (char)('0' + code / 100) || (p[0] != '2' && p[0] != '4' && p[0] != '5'))
		return false;
	if (p[i++] != '.' || !digits(p, len, &i) || i >= len || p[i++] != '.' || !digits(p, len, &i))
		return false;
	if (i < len && p[i] != ' ')
		return false;
	memcpy(status_r, p, i);
	status_r[i] = '\0';
	while (i < len && p[i] == ' ')
		i++;
	*text = slice_make(p + i, len - i);
	return true;
}

static uint64_t parse_size(struct slice s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s.len && is_digit(s.p[i]); i++) {
		unsigned d = (unsigned)(s.p[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return UINT64_MAX;
		n = n * 10 + d;
	}
	return n;
}

void smtp_reply_parse_ehlo_line(struct slice text, unsigned *exts, uint64_t *size_max_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} keywords[] = {
		{ "PIPELINING", SMTP_EXT_PIPELINING }, { "SIZE", SMTP_EXT_SIZE },
		{ "8BITMIME", SMTP_EXT_8BITMIME },     { "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
		{ "STARTTLS", SMTP_EXT_STARTTLS },     { "CHUNKING", SMTP_EXT_CHUNKING },
		{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES }, { "DSN", SMTP_EXT_DSN },
	};
	size_t kw = 0;
	struct slice args;

	while (kw < text.len && text.p[kw] != ' ')
		kw++;
	args = slice_make(text.p + kw, text.len - kw);
	while (args.len > 0 && args.p[0] == ' ') {
		args.p++;
		args.len--;
	}
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (!slice_eq_nocase(slice_make(text.p, kw), keywords[i].name))
			continue;
		*exts |= keywords[i].bit;
		if (keywords[i].bit == SMTP_EXT_SIZE)
			*size_max_r = parse_size(args);
	}
}
