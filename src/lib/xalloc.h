/*
 * xalloc: allocation that never returns NULL.
 *
 * Out of memory is not a condition hermod can serve through, so these abort
 * with a message instead of making every caller check (as OpenSMTPD's
 * xmalloc and Postfix's mymalloc do).
 */
#ifndef HERMOD_LIB_XALLOC_H
#define HERMOD_LIB_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
