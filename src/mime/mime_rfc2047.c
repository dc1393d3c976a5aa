/*
 * mime_rfc2047: encoded words in header values (RFC 2047, RFC 2231 5).
 *
 * "=?charset[*lang]?B|Q?text?=" becomes UTF-8. White space between two
 * encoded words is dropped (RFC 2047 6.2), and adjacent words in the same
 * charset are decoded together, because senders split multi-byte characters
 * across words. A word in a charset iconv does not know is left as it is;
 * text outside encoded words is taken as UTF-8 (invalid bytes → U+FFFD).
 */
#include "mime/mime_private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"

#define CHARSET_MAX 64
/* RFC 2047 says 75; senders exceed it, but an unbounded scan per "=?" would be quadratic */
#define WORD_MAX 1024

struct word {
	struct slice charset; /* without the *lang suffix */
	char encoding;        /* 'B' or 'Q' */
	struct slice text;
	size_t len;           /* of the whole "=?...?=" */
};

/* Parses an encoded word at p (which starts with "=?"); false if it is not one. */
static bool parse_word(const char *p, const char *end, struct word *w)
{
	const char *cs = p + 2, *q1, *q2, *te;

	q1 = memchr(cs, '?', (size_t)(end - cs));
	if (q1 == NULL || q1 == cs || q1 + 3 > end || q1[2] != '?')
		return false;
	char e = q1[1];
	if (e != 'B' && e != 'b' && e != 'Q' && e != 'q')
		return false;
	q2 = q1 + 3;
	for (te = q2; te + 1 < end && !(te[0] == '?' && te[1] == '='); te++)
		if (*te == ' ' || *te == '\t' || *te == '\r' || *te == '\n' || te - p > WORD_MAX)
			return false;
	if (te + 1 >= end)
		return false;
	const char *star = memchr(cs, '*', (size_t)(q1 - cs));
	w->charset = slice_make(cs, (size_t)((star != NULL ? star : q1) - cs));
	if (w->charset.len == 0 || w->charset.len > CHARSET_MAX)
		return false;
	w->encoding = (char)(e == 'b' || e == 'B' ? 'B' : 'Q');
	w->text = slice_make(q2, (size_t)(te - q2));
	w->len = (size_t)(te + 2 - p);
	return true;
}

struct pending {
	char charset[CHARSET_MAX + 1];
	struct buf bytes; /* decoded, not yet converted */
	bool active;
};

static void flush(struct pending *pd, struct buf *out)
{
	if (!pd->active)
		return;
	if (mime_charset_to_utf8(pd->charset, slice_make(pd->bytes.data != NULL ? pd->bytes.data : "",
			pd->bytes.len), out) < 0)
		mime_utf8_sanitize(slice_make(pd->bytes.data != NULL ? pd->bytes.data : "", pd->bytes.len), out);
	buf_reset(&pd->bytes);
	pd->active = false;
}

/* Adds a decoded word; false if its charset is unknown (then it stays raw). */
static bool add_word(struct pending *pd, const struct word *w, struct buf *out)
{
	char cs[CHARSET_MAX + 1];

	memcpy(cs, w->charset.p, w->charset.len);
	cs[w->charset.len] = '\0';
	if (pd->active && strcasecmp(cs, pd->charset) != 0)
		flush(pd, out);
	if (!pd->active) {
		if (!mime_charset_known(cs))
			return false;
		memcpy(pd->charset, cs, sizeof(cs));
		pd->active = true;
	}
	if (w->encoding == 'B')
		(void)mime_decode_b(w->text, &pd->bytes);
	else
		(void)mime_decode_q(w->text, &pd->bytes);
	return true;
}

static bool only_wsp(const char *p, const char *e)
{
	for (; p < e; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return false;
	return true;
}

void mime_decode_words(struct slice value, struct buf *out)
{
	const char *p = value.p, *end = value.p + value.len, *text = p;
	struct pending pd;
	bool last_was_word = false;

	memset(&pd, 0, sizeof(pd));
	buf_init(&pd.bytes, 0);
	while (p + 1 < end) {
		struct word w;
		if (p[0] != '=' || p[1] != '?' || !parse_word(p, end, &w)) {
			p++;
			continue;
		}
		/* text before the word; dropped if it is only the space between two words */
		if (!(last_was_word && only_wsp(text, p))) {
			flush(&pd, out);
			mime_utf8_sanitize(slice_make(text, (size_t)(p - text)), out);
		}
		if (add_word(&pd, &w, out)) {
			last_was_word = true;
		} else {
			flush(&pd, out);
			mime_utf8_sanitize(slice_make(p, w.len), out);
			last_was_word = false;
		}
		p += w.len;
		text = p;
	}
	flush(&pd, out);
	mime_utf8_sanitize(slice_make(text, (size_t)(end - text)), out);
	buf_free(&pd.bytes);
}
