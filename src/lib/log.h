/*
 * log: one line per event on stderr, "LEVEL component key=value ...".
 *
 * Never log passwords, AUTH payloads or message bodies.
 */
#ifndef HERMOD_LIB_LOG_H
#define HERMOD_LIB_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 on anything else. */
int log_level_parse(const char *name, enum log_level *level_r);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Start-up failure: logs and exits(1). Never for anything a peer caused. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A bug: logs and aborts. Stays on in release builds. */
void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#define ASSERT(expr) \
	((expr) ? (void)0 : panic("assertion failed: %s (%s:%d)", #expr, __FILE__, __LINE__))

#endif
