/*
 * buf: a growable byte buffer with a hard maximum.
 *
 * Every buffer fed from the network has an explicit bound; buf_append fails
 * instead of growing past it. The contents are always NUL-terminated so that
 * they can be handed to C APIs, but may contain NULs themselves.
 */
#ifndef HERMOD_LIB_BUF_H
#define HERMOD_LIB_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* hard bound on len; 0 means unbounded (trusted input only) */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* 0 on success, -1 if the result would exceed b->max (b unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a C string / an unsigned number in decimal (hot paths: no printf). */
int buf_append_str(struct buf *b, const char *s);
int buf_append_uint(struct buf *b, uint64_t v);

#endif
