/*
 * net_private: helpers shared by conn.c and server.c only.
 */
#ifndef HERMOD_NET_NET_PRIVATE_H
#define HERMOD_NET_NET_PRIVATE_H

#include <stddef.h>
#include <sys/socket.h>

/* Big enough for any numeric address net_peer_ip writes. */
#define NET_IP_MAX 64

/*
 * The numeric address of sa, without brackets or port. An IPv4-mapped IPv6
 * address (::ffff:192.0.2.1, from a dual-stack listener) is written in its
 * IPv4 form so that per-IP limits count one client once.
 */
void net_peer_ip(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen);

/*
 * Frees every conn still flushing output or lingering after conn_close.
 * server_free calls it, so a daemon that stops its loop with clients still
 * closing exits without leaks.
 */
void conn_reap_closing(void);

#endif
