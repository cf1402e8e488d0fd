/* metadvfs on-phone runner: shared declarations (plain C11, libc only).
 *
 * weights.c  load + validate policy.bin (format of metadvfs/export/weights.py), SHA-256
 * policy.c   the exported policy: LayerNorm -> fused CfC over the window -> FiLM -> head -> argmax per domain
 * sense.c    read the phone's nodes, turn two samples into the codec's observation row (metadvfs/core/codec.py)
 * plan.c     the run plan written by `metadvfs deploy --on-phone` (nodes, tables, codec constants)
 * runner.c   main: snapshot, control loop, writes, restore, status and step log; `decide` and `bench` modes
 */
#ifndef MDVFS_H
#define MDVFS_H

#include <stddef.h>
#include <stdint.h>

#define MDW_FORMAT_VERSION 1u
#define MDW_HEADER_SIZE 256u
#define MDW_NAME 32
#define MDW_OBS_DIM 26
#define MDW_MAX_WINDOW 64
#define MDW_MAX_HIDDEN 128
#define MDW_MAX_PROJ 128
#define MDW_MAX_META 256
#define MDW_MAX_EMB 128
#define MDW_MAX_WIDTH 512
#define MDW_MAX_LAYERS 4
#define MDW_MAX_MODELS 32
#define MDW_MAX_ROUTES 128
#define MDW_MAX_NVEC 64
#define MDW_ERR 512

typedef struct {
    const float *ln_w, *ln_b, *w_in, *w_h, *bias, *fc_w, *fc_b, *meta_w, *meta_b, *film_w, *film_b;
    const float *head_w[MDW_MAX_LAYERS], *head_b[MDW_MAX_LAYERS];
    const float *act_w, *act_b;
} mdw_model;

typedef struct {
    char name[MDW_NAME];
    uint32_t group;
    uint32_t is_key;
    const float *vec;
} mdw_route;

typedef struct {
    char device[MDW_NAME];
    char profile_hash[MDW_NAME];
    uint32_t obs_schema, obs_dim, window, hidden, proj, meta_dim, emb;
    uint32_t n_layers, widths[MDW_MAX_LAYERS], activation;
    uint32_t action_mode, levels, nvec[4];
    uint32_t n_models, n_routes;
    float eps;
    mdw_route routes[MDW_MAX_ROUTES];
    mdw_model models[MDW_MAX_MODELS];
    unsigned char *blob; /* the whole file (floats point into it) */
    size_t size;
} mdw_weights;

/* weights.c */
void mdw_sha256(const unsigned char *data, size_t n, unsigned char out[32]);
/* Load and validate; 0 on success, else -1 and a one-line message in err. */
int mdw_load(const char *path, mdw_weights *w, char *err, size_t errlen);
int mdw_route_index(const mdw_weights *w, const char *name); /* -1 when absent */

/* policy.c: one stream of decisions (a ring of the window's input projections). */
typedef struct {
    const mdw_weights *w;
    int route;                       /* route index (app) */
    const mdw_model *m;              /* its model */
    float gamma[MDW_MAX_PROJ], beta[MDW_MAX_PROJ], e[MDW_MAX_EMB];
    float zin[MDW_MAX_WINDOW][3 * MDW_MAX_HIDDEN]; /* LayerNorm(row) @ w_in + bias, ring */
    float rows[MDW_MAX_WINDOW][MDW_OBS_DIM];        /* the rows themselves (re-projected after a model change) */
    int head, count;                 /* ring start (oldest), rows held */
    uint64_t projections;            /* rows projected (statistics) */
} mdw_stream;

/* Route to the model of a route entry (once per foreground change): FiLM terms computed; the rows held are
 * projected again for the new model (the window itself is kept, as deploy keeps it across an app change). */
void mdw_stream_route(mdw_stream *s, const mdw_weights *w, int route);
/* Append the newest observation row (first call of a window: fills the window with it, as deploy does). */
void mdw_stream_push(mdw_stream *s, const float row[MDW_OBS_DIM]);
/* Decide on the current window: per-domain choices (0..nvec-1). */
void mdw_stream_decide(const mdw_stream *s, int action[4]);

/* y = x @ W (+ b), W input-major (in x out): the policy's kernel, also the benchmark's reference computation. */
void mdw_matvec(const float *x, int n_in, const float *W, const float *b, int n_out, float *y);
/* Forget the window (the next push fills it). */
void mdw_stream_reset(mdw_stream *s);

/* levels from choices (metadvfs.core.codec.decode) */
/* Action choices -> OPP indices (metadvfs.core.codec.decode). table_khz[d]: domain d's OPP table (n_opp[d]
 * entries, ascending); util[d]: the codec reading's utilisation (margin mode: CPU frequency-invariant, GPU busy). */
void mdw_decode(const mdw_weights *w, const int action[4], const int cur_level[4], const int n_opp[4],
                const double *const table_khz[4], const double util[4], int out[4]);
#define MDW_MARGIN_LOW 0.6  /* metadvfs.core.codec.MARGIN_LOW */
#define MDW_MARGIN_HIGH 2.4 /* metadvfs.core.codec.MARGIN_HIGH */

#endif
