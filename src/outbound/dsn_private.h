/*
 * dsn_private: helpers shared by dsn.c (the message) and dsn_text.c (the
 * human-readable part), visible to the unit tests.
 */
#ifndef HERMOD_OUTBOUND_DSN_PRIVATE_H
#define HERMOD_OUTBOUND_DSN_PRIVATE_H

#include "outbound/dsn.h"

#define DSN_WIDTH 78 /* where we fold header fields and wrap text */

bool dsn_has_8bit(const char *p, size_t len);
/* Appends remote text as one line of printable ASCII (see dsn.c). */
void dsn_sanitize(const char *in, struct buf *out);
/* Appends words, folding with CRLF + cont before width; returns the column. */
size_t dsn_fold(struct buf *out, size_t col, const char *text, size_t width, const char *cont);
/* Appends the text/plain body for people (CRLF line ends, wrapped at DSN_WIDTH). */
void dsn_human_text(const struct dsn_report *r, bool full, struct buf *out);

#endif
