/*
 * dkim_cache: parsed DKIM keys by domain (see dkim.h).
 *
 * The submission path fetches the From domain's PEM from the store for
 * every message (a reader thread); parsing it there cost ~0.3 ms of CPU
 * per message (OpenSSL's decoder, with its locks), as much as the
 * signature. Entries are keyed by domain and checked against a hash of the
 * PEM just read, so a key changed in the store (domain add, key rotation)
 * is used from the next message on, with no invalidation protocol.
 *
 * The PEM is parsed outside the lock: two threads may both parse a new key
 * at first, and the second simply replaces the first's entry.
 */
#include "outbound/dkim_private.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/xalloc.h"

#define PEM_HASH_BYTES crypto_generichash_BYTES

struct cache_entry {
	char *domain;                       /* NULL: free slot */
	unsigned char hash[PEM_HASH_BYTES]; /* of the PEM the key was parsed from */
	struct dkim_key *key;               /* the cache's reference */
	unsigned long used;                 /* tick of the last hit, for eviction */
};

struct dkim_key_cache {
	pthread_mutex_t mu;
	struct cache_entry *entries;
	size_t max;
	unsigned long tick, parses;
};

struct dkim_key_cache *dkim_key_cache_new(size_t max_domains)
{
	struct dkim_key_cache *c = xcalloc(1, sizeof(*c));

	c->max = max_domains > 0 ? max_domains : 1;
	c->entries = xcalloc(c->max, sizeof(*c->entries));
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void entry_clear(struct cache_entry *e)
{
	free(e->domain);
	dkim_key_destroy(&e->key);
	memset(e, 0, sizeof(*e));
}

void dkim_key_cache_free(struct dkim_key_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->max; i++)
		entry_clear(&c->entries[i]);
	free(c->entries);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static struct cache_entry *find(struct dkim_key_cache *c, const char *domain)
{
	for (size_t i = 0; i < c->max; i++) {
		if (c->entries[i].domain != NULL && strcmp(c->entries[i].domain, domain) == 0)
			return &c->entries[i];
	}
	return NULL;
}

/* The domain's slot, else a free one, else the least recently used. */
static struct cache_entry *slot_for(struct dkim_key_cache *c, const char *domain)
{
	struct cache_entry *e = find(c, domain), *lru = &c->entries[0];

	if (e != NULL)
		return e;
	for (size_t i = 0; i < c->max; i++) {
		if (c->entries[i].domain == NULL)
			return &c->entries[i];
		if (c->entries[i].used < lru->used)
			lru = &c->entries[i];
	}
	return lru;
}

int dkim_key_cache_get(struct dkim_key_cache *c, const char *domain, struct slice pem, struct dkim_key **key_r,
		       const char **errstr_r)
{
	unsigned char hash[PEM_HASH_BYTES];
	struct cache_entry *e;
	struct dkim_key *key;

	crypto_generichash(hash, sizeof(hash), (const unsigned char *)pem.p, pem.len, NULL, 0);
	pthread_mutex_lock(&c->mu);
	e = find(c, domain);
	if (e != NULL && sodium_memcmp(e->hash, hash, sizeof(hash)) == 0) {
		e->used = ++c->tick;
		*key_r = dkim_key_ref(e->key);
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	c->parses++;
	pthread_mutex_unlock(&c->mu);
	if (dkim_key_load_pem(pem, &key, errstr_r) < 0)
		return -1;
	pthread_mutex_lock(&c->mu);
	e = slot_for(c, domain);
	entry_clear(e);
	e->domain = xstrdup(domain);
	memcpy(e->hash, hash, sizeof(hash));
	e->key = dkim_key_ref(key);
	e->used = ++c->tick;
	pthread_mutex_unlock(&c->mu);
	*key_r = key;
	return 0;
}

unsigned long dkim_key_cache_parses(struct dkim_key_cache *c)
{
	unsigned long n;

	pthread_mutex_lock(&c->mu);
	n = c->parses;
	pthread_mutex_unlock(&c->mu);
	return n;
}
