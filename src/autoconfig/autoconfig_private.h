/*
 * autoconfig_private: what autoconfig.c and autoconfig_formats.c share.
 */
#ifndef HERMOD_AUTOCONFIG_AUTOCONFIG_PRIVATE_H
#define HERMOD_AUTOCONFIG_AUTOCONFIG_PRIVATE_H

#include "autoconfig/autoconfig.h"
#include "lib/slice.h"

/* Appends s with & < > " ' as XML/HTML character references. 0 or -1 (out full). */
int autoconfig_escape(struct buf *out, const char *s);

#endif
