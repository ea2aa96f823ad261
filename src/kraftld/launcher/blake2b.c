/* BLAKE2b (RFC 7693), the hash the launcher's object store names files and contents by.
 *
 * Written after the RFC's reference code (its Appendix C), updated a block at a time. A compile's
 * headers are hashed on every lookup (ccache hashes the same files in its direct mode), so the
 * hash must be fast; BLAKE2b is about twice SHA-256's speed in portable C. The unit tests check it
 * against Python's hashlib.blake2b.
 */
#include <string.h>

#include "launcher.h"

static const uint64_t iv[8] = {
	0x6A09E667F3BCC908ULL, 0xBB67AE8584CAA73BULL, 0x3C6EF372FE94F82BULL, 0xA54FF53A5F1D36F1ULL,
	0x510E527FADE682D1ULL, 0x9B05688C2B3E6C1FULL, 0x1F83D9ABFB41BD6BULL, 0x5BE0CD19137E2179ULL,
};

static const uint8_t sigma[12][16] = {
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	{14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
	{11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
	{7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
	{9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
	{2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
	{12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
	{13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
	{6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
	{10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	{14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

#define ROTR64(x, y) (((x) >> (y)) ^ ((x) << (64 - (y))))
#define G(a, b, c, d, x, y)                                                                                            \
	do {                                                                                                           \
		v[a] = v[a] + v[b] + (x);                                                                              \
		v[d] = ROTR64(v[d] ^ v[a], 32);                                                                        \
		v[c] = v[c] + v[d];                                                                                    \
		v[b] = ROTR64(v[b] ^ v[c], 24);                                                                        \
		v[a] = v[a] + v[b] + (y);                                                                              \
		v[d] = ROTR64(v[d] ^ v[a], 16);                                                                        \
		v[c] = v[c] + v[d];                                                                                    \
		v[b] = ROTR64(v[b] ^ v[c], 63);                                                                        \
	} while (0)

static uint64_t load64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static void compress(struct hasher *ctx, const uint8_t *block, int last)
{
	uint64_t v[16], m[16];
	int i;

	for (i = 0; i < 8; i++) {
		v[i] = ctx->h[i];
		v[i + 8] = iv[i];
	}
	v[12] ^= ctx->t[0];
	v[13] ^= ctx->t[1];
	if (last)
		v[14] = ~v[14];
	for (i = 0; i < 16; i++)
		m[i] = load64(block + 8 * i);
	for (i = 0; i < 12; i++) {
		G(0, 4, 8, 12, m[sigma[i][0]], m[sigma[i][1]]);
		G(1, 5, 9, 13, m[sigma[i][2]], m[sigma[i][3]]);
		G(2, 6, 10, 14, m[sigma[i][4]], m[sigma[i][5]]);
		G(3, 7, 11, 15, m[sigma[i][6]], m[sigma[i][7]]);
		G(0, 5, 10, 15, m[sigma[i][8]], m[sigma[i][9]]);
		G(1, 6, 11, 12, m[sigma[i][10]], m[sigma[i][11]]);
		G(2, 7, 8, 13, m[sigma[i][12]], m[sigma[i][13]]);
		G(3, 4, 9, 14, m[sigma[i][14]], m[sigma[i][15]]);
	}
	for (i = 0; i < 8; i++)
		ctx->h[i] ^= v[i] ^ v[i + 8];
}

static void count(struct hasher *ctx, size_t n)
{
	ctx->t[0] += n;
	if (ctx->t[0] < n)
		ctx->t[1]++;
}

void hasher_init(struct hasher *ctx)
{
	int i;

	for (i = 0; i < 8; i++)
		ctx->h[i] = iv[i];
	ctx->h[0] ^= 0x01010000ULL ^ DIGEST_BYTES; /* no key */
	ctx->t[0] = ctx->t[1] = 0;
	ctx->c = 0;
}

void hasher_update(struct hasher *ctx, const void *data, size_t length)
{
	const uint8_t *in = data;

	while (length > 0) {
		/* the last block is compressed by hasher_final, so a full buffer waits for more input */
		if (ctx->c == sizeof(ctx->b)) {
			count(ctx, ctx->c);
			compress(ctx, ctx->b, 0);
			ctx->c = 0;
		}
		if (ctx->c == 0) {
			while (length > sizeof(ctx->b)) {
				count(ctx, sizeof(ctx->b));
				compress(ctx, in, 0);
				in += sizeof(ctx->b);
				length -= sizeof(ctx->b);
			}
		}
		size_t take = sizeof(ctx->b) - ctx->c;

		if (take > length)
			take = length;
		memcpy(ctx->b + ctx->c, in, take);
		ctx->c += take;
		in += take;
		length -= take;
	}
}

void hasher_final(struct hasher *ctx, char hex[DIGEST_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	count(ctx, ctx->c);
	memset(ctx->b + ctx->c, 0, sizeof(ctx->b) - ctx->c);
	compress(ctx, ctx->b, 1);
	for (i = 0; i < DIGEST_BYTES; i++) {
		uint8_t byte = (uint8_t)(ctx->h[i >> 3] >> (8 * (i & 7)));

		hex[2 * i] = digits[byte >> 4];
		hex[2 * i + 1] = digits[byte & 15];
	}
	hex[DIGEST_HEX] = '\0';
}
