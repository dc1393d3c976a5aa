/*
 * slice: a borrowed, not necessarily NUL-terminated run of bytes.
 * Parsers take slices; only API edges (OpenSSL, SQLite, logs) need C strings.
 */
#ifndef HERMOD_LIB_SLICE_H
#define HERMOD_LIB_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

struct slice {
	const char *p;
	size_t len;
};

static inline struct slice slice_make(const char *p, size_t len)
{
	struct slice s = { p, len };
	return s;
}

static inline struct slice slice_cstr(const char *s)
{
	return slice_make(s, strlen(s));
}

static inline bool slice_eq_nocase(struct slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

#endif
