/*
 * mail_address: validation of the addresses and domains hermod hosts.
 *
 * The rules are the provider's, from the seed's FAQ: ASCII letters and
 * digits and the specials RFC 5322 allows in a dot-atom (. _ - + ! # $ ' *
 * / = ? ^ ` { } ~) are valid; accented (non-ASCII) characters, control
 * characters, spaces and ( ) < > @ , ; : " [ ] | ç % & \ are refused, with
 * an error that names the offending character and why.
 * Local parts are dot-atoms: no leading, trailing or doubled dot; at most 64
 * octets. Domains: LDH labels of 1-63 octets, at least two labels, 253
 * octets at most. Both are folded to lower case.
 */
#ifndef HERMOD_MAIL_MAIL_ADDRESS_H
#define HERMOD_MAIL_MAIL_ADDRESS_H

#include <stddef.h>

#define MAIL_LOCAL_MAX 64
#define MAIL_DOMAIN_MAX 253

/*
 * Validates "local@domain" and splits it into lower-cased parts.
 * Returns 0, or -1 with err filled, e.g.
 *   address 'jöhn@example.org' is not valid: 'ö' (accented characters are not allowed)
 */
int mail_address_parse(const char *addr, char local_r[MAIL_LOCAL_MAX + 1], char domain_r[MAIL_DOMAIN_MAX + 1],
		       char *err, size_t err_size);

/* Validates a domain name alone (lower-cased into domain_r). */
int mail_domain_parse(const char *domain, char domain_r[MAIL_DOMAIN_MAX + 1], char *err, size_t err_size);

#endif
