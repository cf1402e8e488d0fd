/* The exported policy (metadvfs/export/exporter.py: _Routed(_GreedyPolicy(FusedCfC ...))) in plain C.
 *
 * Per decision the trained policy encodes the whole K-step window from h = 0 (its recurrent state does not carry
 * across decisions), so the window is kept: carrying h would change the function and the actions. What a row
 * contributes before the recurrence, LayerNorm(row) @ W_in + b, depends only on the row and the model, so it is
 * computed once when the row arrives and kept in a ring; a decision then costs K-1 recurrent products, the
 * projection and the head. The FiLM terms depend only on the app's metadata and are computed once per route.
 */
#include <math.h>
#include <string.h>

#include "mdvfs.h"

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* y[out] = x[in] @ W[in x out] (+ b) : input-major, so the inner loop runs over contiguous outputs. */
void mdw_matvec(const float *x, int n_in, const float *W, const float *b, int n_out, float *y) {
    if (b) memcpy(y, b, sizeof(float) * (size_t)n_out);
    else memset(y, 0, sizeof(float) * (size_t)n_out);
    for (int i = 0; i < n_in; i++) {
        const float xi = x[i];
        const float *row = W + (size_t)i * (size_t)n_out;
        for (int j = 0; j < n_out; j++) y[j] += xi * row[j];
    }
}

static void project(const mdw_stream *s, const float *row, float *z);

void mdw_stream_route(mdw_stream *s, const mdw_weights *w, int route) {
    const mdw_route *r = &w->routes[route];
    int best = -1;
    float bestd = 0.0f;
    for (uint32_t k = 0; k < w->n_routes; k++) { /* the graph's routing: model of the nearest key vector */
        if (!w->routes[k].is_key) continue;
        float d = 0.0f;
        for (uint32_t i = 0; i < w->meta_dim; i++) {
            float t = w->routes[k].vec[i] - r->vec[i];
            d += t * t;
        }
        if (best < 0 || d < bestd) best = (int)k, bestd = d;
    }
    s->w = w;
    s->route = route;
    s->m = &w->models[w->routes[best].group];
    float gb[2 * MDW_MAX_PROJ];
    mdw_matvec(r->vec, (int)w->meta_dim, s->m->meta_w, s->m->meta_b, (int)w->emb, s->e);
    for (uint32_t i = 0; i < w->emb; i++) s->e[i] = tanhf(s->e[i]);
    mdw_matvec(s->e, (int)w->emb, s->m->film_w, s->m->film_b, 2 * (int)w->proj, gb);
    memcpy(s->gamma, gb, sizeof(float) * w->proj);
    memcpy(s->beta, gb + w->proj, sizeof(float) * w->proj);
    for (int k = 0; k < s->count; k++) project(s, s->rows[k], s->zin[k]);
}

void mdw_stream_reset(mdw_stream *s) {
    s->head = 0;
    s->count = 0;
}

static void project(const mdw_stream *s, const float *row, float *z) {
    const mdw_weights *w = s->w;
    const int C = (int)w->obs_dim;
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < C; i++) mean += row[i];
    mean /= C;
    for (int i = 0; i < C; i++) var += ((double)row[i] - mean) * ((double)row[i] - mean);
    var /= C;
    const float mu = (float)mean, inv = (float)(1.0 / sqrt(var + (double)w->eps));
    float xn[MDW_OBS_DIM];
    for (int i = 0; i < C; i++) xn[i] = (row[i] - mu) * inv * s->m->ln_w[i] + s->m->ln_b[i];
    mdw_matvec(xn, C, s->m->w_in, s->m->bias, 3 * (int)w->hidden, z);
}

void mdw_stream_push(mdw_stream *s, const float row[MDW_OBS_DIM]) {
    const int K = (int)s->w->window, Z = 3 * (int)s->w->hidden;
    if (s->count == 0) { /* a new window: the first row fills it (deploy's window[:] = obs) */
        project(s, row, s->zin[0]);
        memcpy(s->rows[0], row, sizeof(float) * MDW_OBS_DIM);
        for (int k = 1; k < K; k++) {
            memcpy(s->zin[k], s->zin[0], sizeof(float) * (size_t)Z);
            memcpy(s->rows[k], row, sizeof(float) * MDW_OBS_DIM);
        }
        s->head = 0;
        s->count = K;
    } else {
        project(s, row, s->zin[s->head]); /* overwrite the oldest, which becomes the newest */
        memcpy(s->rows[s->head], row, sizeof(float) * MDW_OBS_DIM);
        s->head = (s->head + 1) % K;
    }
    s->projections++;
}

void mdw_stream_decide(const mdw_stream *s, int action[4]) {
    const mdw_weights *w = s->w;
    const mdw_model *m = s->m;
    const int K = (int)w->window, H = (int)w->hidden, P = (int)w->proj, E = (int)w->emb;
    float h[MDW_MAX_HIDDEN], z[3 * MDW_MAX_HIDDEN];
    const float *z0 = s->zin[s->head];
    for (int j = 0; j < H; j++) { /* first step: h = 0, the recurrent product vanishes */
        float f1 = tanhf(z0[j]), f2 = tanhf(z0[H + j]);
        h[j] = f1 + sigmoidf(z0[2 * H + j]) * (f2 - f1);
    }
    for (int k = 1; k < K; k++) {
        const float *zk = s->zin[(s->head + k) % K];
        mdw_matvec(h, H, m->w_h, zk, 3 * H, z);
        for (int j = 0; j < H; j++) {
            float f1 = tanhf(z[j]), f2 = tanhf(z[H + j]);
            h[j] = f1 + sigmoidf(z[2 * H + j]) * (f2 - f1);
        }
    }
    float buf_a[MDW_MAX_WIDTH + MDW_MAX_PROJ + MDW_MAX_EMB], buf_b[MDW_MAX_WIDTH + MDW_MAX_PROJ + MDW_MAX_EMB];
    float t[MDW_MAX_PROJ];
    mdw_matvec(h, H, m->fc_w, m->fc_b, P, t);
    for (int j = 0; j < P; j++) buf_a[j] = t[j] * (1.0f + s->gamma[j]) + s->beta[j];
    memcpy(buf_a + P, s->e, sizeof(float) * (size_t)E);
    float *x = buf_a, *y = buf_b;
    int n = P + E;
    for (uint32_t l = 0; l < w->n_layers; l++) {
        int o = (int)w->widths[l];
        mdw_matvec(x, n, m->head_w[l], m->head_b[l], o, y);
        for (int j = 0; j < o; j++) y[j] = w->activation == 0 ? tanhf(y[j]) : (y[j] > 0.0f ? y[j] : 0.0f);
        float *tmp = x;
        x = y, y = tmp, n = o;
    }
    int nv = 0;
    for (int d = 0; d < 4; d++) nv += (int)w->nvec[d];
    mdw_matvec(x, n, m->act_w, m->act_b, nv, y);
    int off = 0;
    for (int d = 0; d < 4; d++) { /* argmax per domain head, first maximum (torch/ONNX ArgMax) */
        int best = 0;
        for (int j = 1; j < (int)w->nvec[d]; j++)
            if (y[off + j] > y[off + best]) best = j;
        action[d] = best;
        off += (int)w->nvec[d];
    }
}

static long margin_level(const mdw_weights *w, int d, int a, int cur, int top, const double *table, double util) {
    int l1 = w->levels > 1 ? (int)w->levels - 1 : 1; /* the last choice: the top OPP (headroom inf) */
    if (a < 0) a = 0;
    if (a >= l1) return top;
    double m = l1 > 1 ? MDW_MARGIN_LOW * pow(MDW_MARGIN_HIGH / MDW_MARGIN_LOW, (double)a / (l1 - 1)) : MDW_MARGIN_LOW;
    double fmax = table[top], u = util < 0.0 ? 0.0 : util > 1.0 ? 1.0 : util;
    if (cur < 0) cur = 0;
    if (cur > top) cur = top;
    if (d == 3 && fmax > 0.0) u = u * table[cur] / fmax; /* GPU busy fraction at f -> share of fmax */
    double target = m * u * fmax * (1.0 - 1e-9);
    for (int k = 0; k <= top; k++)
        if (table[k] >= target) return k;
    return top;
}

void mdw_decode(const mdw_weights *w, const int action[4], const int cur_level[4], const int n_opp[4],
                const double *const table_khz[4], const double util[4], int out[4]) {
    for (int d = 0; d < 4; d++) {
        int top = n_opp[d] - 1;
        if (top < 0) top = 0;
        long v;
        if (w->action_mode == 0) {
            v = (long)cur_level[d] + action[d] - 1;
        } else if (w->action_mode == 2) {
            v = n_opp[d] > 0 ? margin_level(w, d, action[d], cur_level[d], top, table_khz[d], util[d]) : 0;
        } else {
            int l1 = w->levels > 1 ? (int)w->levels - 1 : 1;
            v = (long)rint((double)action[d] / l1 * top);
        }
        out[d] = (int)(v < 0 ? 0 : v > top ? top : v);
    }
}
