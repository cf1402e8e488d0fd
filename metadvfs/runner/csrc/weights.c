/* Load and validate policy.bin; SHA-256 (FIPS 180-4) of the content against the trailer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdvfs.h"

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void mdw_sha256(const unsigned char *data, size_t n, unsigned char out[32]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t i = 0;
    for (; i + 64 <= n; i += 64) sha_block(h, data + i);
    unsigned char tail[128] = {0};
    size_t r = n - i;
    memcpy(tail, data + i, r);
    tail[r] = 0x80;
    size_t tl = r + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++) tail[tl - 1 - k] = (unsigned char)(bits >> (8 * k));
    sha_block(h, tail);
    if (tl == 128) sha_block(h, tail + 64);
    for (int k = 0; k < 8; k++)
        out[4 * k] = h[k] >> 24, out[4 * k + 1] = h[k] >> 16, out[4 * k + 2] = h[k] >> 8, out[4 * k + 3] = h[k];
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int fail(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

static void text(char dst[MDW_NAME], const unsigned char *src) {
    memcpy(dst, src, MDW_NAME);
    dst[MDW_NAME - 1] = 0;
}

/* The float data must be 4-byte aligned: blob comes from malloc and every offset is a multiple of 4. */
static const float *take(const mdw_weights *w, size_t *pos, size_t count) {
    const float *p = (const float *)(w->blob + *pos);
    *pos += 4 * count;
    return p;
}

int mdw_load(const char *path, mdw_weights *w, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return fail(err, errlen, "%s: cannot seek", path); }
    long sz = ftell(f);
    rewind(f);
    if (sz < (long)(MDW_HEADER_SIZE + 32)) {
        fclose(f);
        return fail(err, errlen, "%s: truncated (%ld bytes, a header alone is %u)", path, sz, MDW_HEADER_SIZE + 32);
    }
    if (sz > (64L << 20)) { fclose(f); return fail(err, errlen, "%s: %ld bytes, more than 64 MiB", path, sz); }
    w->blob = malloc((size_t)sz);
    if (!w->blob) { fclose(f); return fail(err, errlen, "%s: out of memory", path); }
    w->size = (size_t)sz;
    size_t got = fread(w->blob, 1, w->size, f);
    fclose(f);
    if (got != w->size) return fail(err, errlen, "%s: short read", path);
    const unsigned char *b = w->blob;
    if (memcmp(b, "MDVFSRW\0", 8) != 0) return fail(err, errlen, "%s: not a metadvfs runner weight file (bad magic)", path);
    if (rd32(b + 8) != MDW_FORMAT_VERSION || rd32(b + 12) != MDW_HEADER_SIZE)
        return fail(err, errlen, "%s: format version %u, this runner reads %u; re-export", path, rd32(b + 8),
                    MDW_FORMAT_VERSION);
    text(w->device, b + 16);
    text(w->profile_hash, b + 48);
    uint32_t *u[] = {&w->obs_schema, &w->obs_dim, &w->window, &w->hidden, &w->proj, &w->meta_dim, &w->emb,
                     &w->n_layers, &w->widths[0], &w->widths[1], &w->widths[2], &w->widths[3], &w->activation,
                     &w->action_mode, &w->levels, &w->nvec[0], &w->nvec[1], &w->nvec[2], &w->nvec[3],
                     &w->n_models, &w->n_routes};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) *u[i] = rd32(b + 80 + 4 * i);
    uint32_t epsbits = rd32(b + 164), payload = rd32(b + 168);
    memcpy(&w->eps, &epsbits, 4);
    if (w->obs_dim != MDW_OBS_DIM)
        return fail(err, errlen, "%s: %u observation features, this runner encodes %d; re-export", path, w->obs_dim,
                    MDW_OBS_DIM);
    struct { const char *what; uint32_t v, lo, hi; } ck[] = {
        {"window", w->window, 1, MDW_MAX_WINDOW}, {"hidden", w->hidden, 1, MDW_MAX_HIDDEN},
        {"proj", w->proj, 1, MDW_MAX_PROJ}, {"meta_dim", w->meta_dim, 1, MDW_MAX_META},
        {"emb", w->emb, 1, MDW_MAX_EMB}, {"head layers", w->n_layers, 0, MDW_MAX_LAYERS},
        {"activation", w->activation, 0, 1}, {"action mode", w->action_mode, 0, 2},
        {"models", w->n_models, 1, MDW_MAX_MODELS}, {"routes", w->n_routes, 1, MDW_MAX_ROUTES},
        {"nvec[0]", w->nvec[0], 1, MDW_MAX_NVEC}, {"nvec[1]", w->nvec[1], 1, MDW_MAX_NVEC},
        {"nvec[2]", w->nvec[2], 1, MDW_MAX_NVEC}, {"nvec[3]", w->nvec[3], 1, MDW_MAX_NVEC}};
    for (size_t i = 0; i < sizeof ck / sizeof ck[0]; i++)
        if (ck[i].v < ck[i].lo || ck[i].v > ck[i].hi)
            return fail(err, errlen, "%s: header field %s = %u outside [%u, %u]", path, ck[i].what, ck[i].v, ck[i].lo,
                        ck[i].hi);
    for (uint32_t i = 0; i < w->n_layers; i++)
        if (w->widths[i] < 1 || w->widths[i] > MDW_MAX_WIDTH)
            return fail(err, errlen, "%s: header field width[%u] = %u outside [1, %d]", path, i, w->widths[i],
                        MDW_MAX_WIDTH);
    if ((uint64_t)MDW_HEADER_SIZE + payload + 32 != w->size)
        return fail(err, errlen, "%s: %zu bytes, the header announces %llu (truncated?)", path, w->size,
                    (unsigned long long)MDW_HEADER_SIZE + payload + 32);
    unsigned char digest[32];
    mdw_sha256(b, w->size - 32, digest);
    if (memcmp(digest, b + w->size - 32, 32) != 0)
        return fail(err, errlen, "%s: SHA-256 of the content does not match its trailer (corrupt file)", path);
    uint64_t C = w->obs_dim, H = w->hidden, P = w->proj, M = w->meta_dim, E = w->emb, nv = 0;
    for (int d = 0; d < 4; d++) nv += w->nvec[d];
    uint64_t per = 2 * C + C * 3 * H + H * 3 * H + 3 * H + H * P + P + M * E + E + E * 2 * P + 2 * P;
    uint64_t prev = P + E;
    for (uint32_t i = 0; i < w->n_layers; i++) per += prev * w->widths[i] + w->widths[i], prev = w->widths[i];
    per += prev * nv + nv;
    uint64_t need = (uint64_t)w->n_routes * (MDW_NAME + 8 + 4 * M) + (uint64_t)w->n_models * 4 * per;
    if (need != payload)
        return fail(err, errlen, "%s: payload is %u bytes, the header's sizes need %llu", path, payload,
                    (unsigned long long)need);
    size_t pos = MDW_HEADER_SIZE;
    int has_default = 0, keys = 0;
    for (uint32_t r = 0; r < w->n_routes; r++) {
        mdw_route *rt = &w->routes[r];
        text(rt->name, b + pos);
        rt->group = rd32(b + pos + MDW_NAME);
        rt->is_key = rd32(b + pos + MDW_NAME + 4);
        pos += MDW_NAME + 8;
        rt->vec = take(w, &pos, M);
        if (rt->group >= w->n_models)
            return fail(err, errlen, "%s: route %s names model %u, the file has %u", path, rt->name, rt->group,
                        w->n_models);
        has_default |= strcmp(rt->name, "default") == 0;
        keys += rt->is_key != 0;
    }
    if (!has_default || !keys) return fail(err, errlen, "%s: routes need a 'default' entry and at least one key", path);
    for (uint32_t g = 0; g < w->n_models; g++) {
        mdw_model *m = &w->models[g];
        m->ln_w = take(w, &pos, C), m->ln_b = take(w, &pos, C);
        m->w_in = take(w, &pos, C * 3 * H), m->w_h = take(w, &pos, H * 3 * H), m->bias = take(w, &pos, 3 * H);
        m->fc_w = take(w, &pos, H * P), m->fc_b = take(w, &pos, P);
        m->meta_w = take(w, &pos, M * E), m->meta_b = take(w, &pos, E);
        m->film_w = take(w, &pos, E * 2 * P), m->film_b = take(w, &pos, 2 * P);
        prev = P + E;
        for (uint32_t i = 0; i < w->n_layers; i++) {
            m->head_w[i] = take(w, &pos, prev * w->widths[i]);
            m->head_b[i] = take(w, &pos, w->widths[i]);
            prev = w->widths[i];
        }
        m->act_w = take(w, &pos, prev * nv), m->act_b = take(w, &pos, nv);
    }
    return 0;
}

int mdw_route_index(const mdw_weights *w, const char *name) {
    for (uint32_t r = 0; r < w->n_routes; r++)
        if (strcmp(w->routes[r].name, name) == 0) return (int)r;
    return -1;
}
