/*
 * mime_decode: Content-Transfer-Encoding decoders (RFC 2045 6.7, 6.8).
 *
 * Both are lenient the way readers are: base64 skips characters outside its
 * alphabet (line breaks, stray spaces) and stops at the padding; quoted-
 * printable keeps a '=' that does not start a valid escape. The return
 * value still says whether the input was well formed.
 */
#include "mime/mime_private.h"

#include <string.h>
#include <strings.h>

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* RFC 2045 6.8 (and RFC 2047 "B"); -1 if characters outside the alphabet were skipped. */
static int decode_base64(struct slice in, struct buf *out)
{
	uint32_t acc = 0;
	int bits = 0, rc = 0;
	char chunk[256];
	size_t n = 0;

	for (size_t i = 0; i < in.len; i++) {
		unsigned char c = (unsigned char)in.p[i];
		int v = b64_value(c);
		if (c == '=')
			break;
		if (v < 0) {
			if (c != '\r' && c != '\n' && c != ' ' && c != '\t')
				rc = -1;
			continue;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			chunk[n++] = (char)(acc >> bits);
			acc &= (1u << bits) - 1;
			if (n == sizeof(chunk)) {
				(void)buf_append(out, chunk, n);
				n = 0;
			}
		}
	}
	(void)buf_append(out, chunk, n);
	return rc;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One line of quoted-printable (without its line break); *soft: it ended in '='. */
static int qp_line(const char *p, size_t len, struct buf *out, bool *soft)
{
	int rc = 0;

	/* rule (3): trailing white space was added in transport */
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	*soft = len > 0 && p[len - 1] == '=';
	if (*soft)
		len--;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '=' && i + 2 < len && hex_digit(p[i + 1]) >= 0 && hex_digit(p[i + 2]) >= 0) {
			char c = (char)(hex_digit(p[i + 1]) * 16 + hex_digit(p[i + 2]));
			(void)buf_append(out, &c, 1);
			i += 2;
		} else {
			if (p[i] == '=')
				rc = -1;
			(void)buf_append(out, &p[i], 1);
		}
	}
	return rc;
}

static int decode_qp(struct slice in, struct buf *out)
{
	const char *p = in.p, *end = in.p + in.len;
	int rc = 0;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *le = lf != NULL ? lf : end;
		size_t len = (size_t)(le - p);
		bool soft;

		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (qp_line(p, len, out, &soft) < 0)
			rc = -1;
		if (lf != NULL && !soft)
			(void)buf_append(out, "\r\n", 2);
		p = lf != NULL ? lf + 1 : end;
	}
	return rc;
}

int mime_decode_transfer(const char *encoding, struct slice in, struct buf *out)
{
	if (encoding != NULL && strcasecmp(encoding, "base64") == 0)
		return decode_base64(in, out);
	if (encoding != NULL && strcasecmp(encoding, "quoted-printable") == 0)
		return decode_qp(in, out);
	(void)buf_append(out, in.p, in.len);
	return 0;
}

/* RFC 2047 4.2 "Q": quoted-printable where '_' is a space, all on one line. */
int mime_decode_q(struct slice in, struct buf *out)
{
	int rc = 0;

	for (size_t i = 0; i < in.len; i++) {
		char c = in.p[i];
		if (c == '_') {
			c = ' ';
		} else if (c == '=' && i + 2 < in.len && hex_digit(in.p[i + 1]) >= 0 && hex_digit(in.p[i + 2]) >= 0) {
			c = (char)(hex_digit(in.p[i + 1]) * 16 + hex_digit(in.p[i + 2]));
			i += 2;
		} else if (c == '=') {
			rc = -1;
		}
		(void)buf_append(out, &c, 1);
	}
	return rc;
}

int mime_decode_b(struct slice in, struct buf *out)
{
	return decode_base64(in, out);
}
