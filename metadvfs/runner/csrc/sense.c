/* The phone's readings, as metadvfs/adb/sampler.py and parsers.py take them, and the codec's observation row. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sense.h"

#define FG_MARK_WINDOW "@@metadvfs-window"
#define FG_MARK_LIST "@@metadvfs-layers"
#define FILE_BUF 65536

double sn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

long sn_read(const pl_plan *p, const char *phone, char *buf, size_t n) {
    char path[2 * PL_PATH];
    int fd = open(pl_path(p, phone, path, sizeof path), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got + 1 < n) {
        ssize_t r = read(fd, buf + got, n - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { int e = errno; close(fd); errno = e; return -1; }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    return (long)got;
}

int sn_write(const pl_plan *p, const char *phone, const char *text) {
    char path[2 * PL_PATH];
    int fd = open(pl_path(p, phone, path, sizeof path), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = errno;
    if (close(fd) != 0 && w == (ssize_t)n) return -1; /* sysfs reports a rejected value at close on some kernels */
    errno = e;
    return w == (ssize_t)n ? 0 : -1;
}

static int bad(char *err, size_t n, const char *node, const char *what, const char *text) {
    char snip[48];
    snprintf(snip, sizeof snip, "%s", text ? text : "");
    for (char *c = snip; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    snprintf(err, n, "%s: %s%s%s%s", node, what, text ? " (got '" : "", text ? snip : "", text ? "')" : "");
    return -1;
}

static int read_node(const pl_plan *p, const char *node, char *buf, size_t n, char *err, size_t en) {
    if (sn_read(p, node, buf, n) < 0)
        return bad(err, en, node, errno == ENOENT ? "missing on the phone" : errno == EACCES ? "permission denied" : strerror(errno), NULL);
    return 0;
}

/* One integer, surrounding whitespace allowed (parsers.parse_int). */
static int parse_ll(const char *s, long long *v) {
    while (isspace((unsigned char)*s)) s++;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    *v = x;
    return 0;
}

static int node_int(const pl_plan *p, const char *node, long long lo, long long hi, long long *v, char *err, size_t en) {
    char buf[256];
    if (read_node(p, node, buf, sizeof buf, err, en)) return -1;
    if (parse_ll(buf, v)) return bad(err, en, node, "expected an integer", buf);
    if (*v < lo || *v > hi) return bad(err, en, node, "value out of the plausible range", buf);
    return 0;
}

static int parse_stat(const char *text, sn_raw *r) {
    int n = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "cpu", 3) || !isdigit((unsigned char)l[3])) continue;
        char *end;
        long cpu = strtol(l + 3, &end, 10);
        if (!isspace((unsigned char)*end)) return -1;
        long long f[8] = {0};
        int k = 0;
        const char *s = end;
        while (k < 8) {
            while (*s == ' ' || *s == '\t') s++;
            if (!isdigit((unsigned char)*s)) break;
            f[k++] = strtoll(s, &end, 10);
            s = end;
        }
        if (k < 4) return -1;
        long long total = 0;
        for (int i = 0; i < k; i++) total += f[i];
        long long idle = f[3] + (k > 4 ? f[4] : 0);
        if (cpu >= 0 && cpu < SN_MAX_CPU) r->busy[cpu] = total - idle, r->total[cpu] = total, r->have_cpu[cpu] = 1;
        n++;
    }
    return n ? 0 : -1;
}

static int parse_odpm(const pl_plan *p, const char *text, int dev, sn_raw *r) {
    const char *s = text;
    while (isspace((unsigned char)*s)) s++;
    if (strncmp(s, "t=", 2)) return -1;
    r->odpm_t[dev] = strtoll(s + 2, NULL, 10);
    int lines = 0;
    for (const char *l = strchr(s, '\n'); l; l = strchr(l + 1, '\n')) {
        const char *c = l + 1;
        while (isspace((unsigned char)*c)) c++;
        if (!*c) break;
        long long ch, t, e;
        char name[64];
        if (sscanf(c, "CH%lld(T=%lld)[%63[^]]], %lld", &ch, &t, name, &e) != 4) return -1;
        lines++;
        for (int i = 0; i < p->n_rails; i++)
            if (!strcmp(p->rail_name[i], name)) r->rail_t[i] = t, r->rail_e[i] = e, r->rail_seen[i] = dev + 1;
    }
    return lines ? 0 : -1;
}

int sn_sample(const pl_plan *p, sn_raw *r, char *err, size_t en) {
    static char buf[FILE_BUF];
    memset(r, 0, sizeof *r);
    r->t = sn_now();
    if (read_node(p, p->stat, buf, sizeof buf, err, en)) return -1;
    if (parse_stat(buf, r)) return bad(err, en, p->stat, "no per-CPU lines (cpuN ...)", NULL);
    for (int d = 0; d < 4; d++) {
        const pl_domain *D = &p->dom[d];
        if (!D->present) continue;
        long long v;
        if (node_int(p, D->cur, 1, 100000000000LL, &v, err, en)) return -1;
        r->freq_khz[d] = (double)v * D->cur_scale;
        if (d < 3 && (r->freq_khz[d] < 1000 || r->freq_khz[d] > 1e7)) return bad(err, en, D->cur, "frequency out of range", NULL);
    }
    const pl_domain *G = &p->dom[3];
    if (r->freq_khz[3] < G->table_khz[0] / 2 || r->freq_khz[3] > G->table_khz[G->n_table - 1] * 2)
        return bad(err, en, G->cur, "frequency is far outside the GPU table", NULL);
    if (p->gpu_util[0]) {
        if (read_node(p, p->gpu_util, buf, 256, err, en)) return -1;
        char *end;
        double v = strtod(buf, &end);
        while (isspace((unsigned char)*end)) end++;
        if (*end == '%') end++;
        while (isspace((unsigned char)*end)) end++;
        if (end == buf || *end || v < 0 || v > 100) return bad(err, en, p->gpu_util, "expected a percentage", buf);
        r->gpu_util = v / 100.0;
    }
    r->die_c = NAN;
    for (int i = 0; i < p->n_die; i++) {
        long long v;
        if (node_int(p, p->die[i], -40000, 200000, &v, err, en)) return -1;
        if (isnan(r->die_c) || v / 1000.0 > r->die_c) r->die_c = v / 1000.0;
    }
    r->skin_c = NAN;
    if (p->skin[0]) {
        long long v;
        if (node_int(p, p->skin, -40000, 200000, &v, err, en)) return -1;
        r->skin_c = v / 1000.0;
    }
    for (int i = 0; i < p->n_odpm; i++) {
        if (read_node(p, p->odpm[i], buf, sizeof buf, err, en)) return -1;
        if (parse_odpm(p, buf, i, r)) return bad(err, en, p->odpm[i], "expected 't=<ms>' and 'CH<n>(T=<ms>)[<rail>], <uWs>' lines", buf);
    }
    r->have_odpm = p->n_odpm > 0;
    if (p->bat_i[0]) {
        long long i_ua, v_uv;
        if (node_int(p, p->bat_i, -20000000, 20000000, &i_ua, err, en)) return -1;
        if (node_int(p, p->bat_v, 0, 20000000, &v_uv, err, en)) return -1;
        r->battery_mw = fabs((double)i_ua) * fabs((double)v_uv) / 1e9;
        r->have_battery = 1;
    }
    for (int i = 0; i < p->n_cooling; i++) {
        long long v;
        if (node_int(p, p->cooling[i], 0, 1LL << 40, &v, err, en)) return -1;
        r->throttled |= v > 0;
    }
    return 0;
}

static int nearest(const double *table, int n, double khz) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (fabs(table[i] - khz) < fabs(table[best] - khz)) best = i;
    return best;
}

static double model_power(const pl_domain *D, int d, double khz, double busy) {
    int k = nearest(D->m_khz, D->n_model, khz);
    if (d == 3) return D->m_busy[k] * busy + D->m_idle[k] * (1.0 - busy);
    return D->cores * (D->m_busy[k] * busy + D->m_idle[k] * (1.0 - busy)) + D->m_static[k];
}

void sn_step_reading(const pl_plan *p, const sn_raw *prev, const sn_raw *cur, const sn_frames *fr, sn_step *s) {
    memset(s, 0, sizeof *s);
    s->dt = cur->t - prev->t > 1e-6 ? cur->t - prev->t : 1e-6;
    for (int d = 0; d < 3; d++) {
        const pl_domain *D = &p->dom[d];
        if (!D->present || D->n_cpus == 0) continue;
        double sum = 0, mx = 0;
        for (int i = 0; i < D->n_cpus; i++) {
            int c = D->cpus[i];
            double v = 0.0;
            if (c < SN_MAX_CPU && cur->have_cpu[c] && prev->have_cpu[c]) {
                long long db = cur->busy[c] - prev->busy[c], dt = cur->total[c] - prev->total[c];
                v = dt > 0 ? fmin(1.0, fmax(0.0, (double)db / (double)dt)) : 0.0;
            }
            sum += v;
            mx = i == 0 || v > mx ? v : mx;
        }
        s->busy[d] = sum / D->n_cpus;
        s->busy_max[d] = mx;
    }
    s->busy[3] = s->busy_max[3] = cur->gpu_util;
    double model_total = 0.0;
    for (int d = 0; d < 4; d++) {
        const pl_domain *D = &p->dom[d];
        s->freq_khz[d] = cur->freq_khz[d];
        if (!D->present) continue;
        s->level[d] = nearest(D->table_khz, D->n_table, cur->freq_khz[d]);
        double fmax = D->table_khz[D->n_table - 1];
        s->util[d] = d == 3 ? cur->gpu_util : s->busy_max[d] * fmin(1.0, cur->freq_khz[d] / fmax);
        s->power_mw[d] = model_power(D, d, cur->freq_khz[d], s->busy[d]);
        model_total += s->power_mw[d];
    }
    s->power_total_mw = model_total + p->base_power_mw;
    if (cur->have_odpm && prev->have_odpm) {
        double measured[4] = {0}, rails = 0;
        int seen[4] = {0}, any = 0;
        for (int i = 0; i < p->n_rails; i++) {
            if (!cur->rail_seen[i] || !prev->rail_seen[i]) continue;
            int dev = cur->rail_seen[i] - 1;
            long long dt_ms = cur->rail_t[i] != prev->rail_t[i] ? cur->rail_t[i] - prev->rail_t[i]
                                                                 : cur->odpm_t[dev] - prev->odpm_t[dev];
            if (dt_ms <= 0 || cur->rail_e[i] < prev->rail_e[i]) continue;
            double mw = (double)(cur->rail_e[i] - prev->rail_e[i]) / (double)dt_ms; /* uWs / ms = mW */
            rails += mw;
            any = 1;
            if (p->rail_dom[i] >= 0) measured[p->rail_dom[i]] += mw, seen[p->rail_dom[i]] = 1;
        }
        if (any) {
            for (int d = 0; d < 4; d++)
                if (seen[d]) s->power_mw[d] = measured[d];
            s->power_total_mw = rails;
        }
    } else if (cur->have_battery) {
        s->power_total_mw = cur->battery_mw;
    }
    s->throttled = cur->throttled;
    s->die_c = isnan(cur->die_c) ? p->ambient_c : cur->die_c;
    s->skin_c = isnan(cur->skin_c) ? p->ambient_c : cur->skin_c;
    s->frames = fr->frames;
    s->presented = fr->presented;
    s->fps = fr->fps;
    s->fps_target = fr->fps_target;
    s->qoe = fr->qoe;
}

static float clip(double v) { return (float)(v < 0.0 ? 0.0 : v > 2.0 ? 2.0 : v); }

void sn_encode(const pl_plan *p, const sn_step *s, float row[MDW_OBS_DIM]) {
    double p_total = 0.0;
    for (int d = 0; d < 4; d++) p_total += p->p_max_mw[d];
    for (int d = 0; d < 4; d++) {
        double m = p->mask[d], top = p->n_opp[d] - 1 > 1 ? p->n_opp[d] - 1 : 1;
        row[5 * d + 0] = clip(m);
        row[5 * d + 1] = clip(s->util[d] * m);
        row[5 * d + 2] = clip(s->freq_khz[d] / 1000.0 / p->fmax_mhz[d] * m);
        row[5 * d + 3] = clip(s->level[d] / top * m);
        row[5 * d + 4] = clip(p->p_max_mw[d] > 0 ? s->power_mw[d] / p->p_max_mw[d] : 0.0);
    }
    row[20] = clip(s->fps_target > 0 ? s->fps / s->fps_target : 1.0);
    row[21] = clip(s->qoe);
    row[22] = clip(s->power_total_mw / p_total);
    row[23] = clip((s->die_c - p->ambient_c) / (p->die_thr_c - p->ambient_c));
    row[24] = clip((s->skin_c - p->ambient_c) / (p->skin_thr_c - p->ambient_c));
    row[25] = clip(s->throttled ? 1.0 : 0.0);
}

/* ------------------------------------------------------------------ foreground and frames */

/* From `from` up to `stop` (exclusive; NULL: end of text, '\n' stops when stop_nl): the first whitespace followed by
 * [A-Za-z][\w.]* and '/' (the capture of parsers._FG_PATTERNS). */
static int capture(const char *from, int stop_brace, int stop_nl, char *out, size_t n) {
    for (const char *c = from; *c; c++) {
        if ((stop_brace && *c == '}') || (stop_nl && *c == '\n')) return 0;
        if (!isspace((unsigned char)*c) || !isalpha((unsigned char)c[1])) continue;
        const char *e = c + 1;
        while (isalnum((unsigned char)*e) || *e == '_' || *e == '.') e++;
        if (*e != '/') continue;
        size_t len = (size_t)(e - c - 1);
        if (len >= n) return 0;
        memcpy(out, c + 1, len);
        out[len] = 0;
        return 1;
    }
    return 0;
}

/* parsers.parse_foreground on one text. */
static int foreground(const char *text, char *out, size_t n) {
    char got[128];
    int found = 0;
    for (const char *c = strstr(text, "ResumedActivity"); c && !found; c = strstr(c + 1, "ResumedActivity")) {
        const char *s = c + strlen("ResumedActivity");
        if (*s != ':' && *s != '=') continue;
        s++;
        while (isspace((unsigned char)*s)) s++;
        if (strncmp(s, "ActivityRecord{", 15)) continue;
        found = 1;
        if (capture(s + 15, 1, 0, got, sizeof got) && strchr(got, '.')) { snprintf(out, n, "%s", got); return 1; }
    }
    const char *w = strstr(text, "mCurrentFocus=Window{");
    if (w && capture(w + 21, 1, 0, got, sizeof got) && strchr(got, '.')) { snprintf(out, n, "%s", got); return 1; }
    w = strstr(text, "mFocusedApp=");
    if (w && capture(w + 11, 0, 1, got, sizeof got) && strchr(got, '.')) { snprintf(out, n, "%s", got); return 1; }
    return 0;
}

/* metadvfs.adb.apps.catalog_app */
static const pl_app *catalog_app(const pl_plan *p, const char *pkg) {
    for (int i = 0; i < p->n_apps; i++)
        for (int k = 0; k < p->apps[i].n_pkgs; k++)
            if (!strcmp(p->apps[i].pkgs[k], pkg)) return &p->apps[i];
    for (int i = 0; i < p->n_apps; i++) {
        size_t L = strlen(p->apps[i].name);
        for (const char *s = pkg; s;) {
            const char *dot = strchr(s, '.');
            size_t len = dot ? (size_t)(dot - s) : strlen(s);
            if (len == L && !strncasecmp(s, p->apps[i].name, L)) return &p->apps[i];
            s = dot ? dot + 1 : NULL;
        }
    }
    return NULL;
}

static void set_layer(const pl_plan *p, sn_frames *f, const char *layer) {
    if (!strcmp(f->layer, layer)) return;
    snprintf(f->layer, sizeof f->layer, "%s", layer);
    f->have_dump = 0;
    f->last_seq = -1;
    if (p->layer_file[0]) { /* the poller dumps this layer from its next iteration on */
        char tmp[PL_PATH + 8], line[300];
        snprintf(tmp, sizeof tmp, "%s.tmp", p->layer_file);
        snprintf(line, sizeof line, "%s\n", layer);
        char a[2 * PL_PATH], b[2 * PL_PATH];
        int fd = open(pl_path(p, tmp, a, sizeof a), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ssize_t w = write(fd, line, strlen(line));
            close(fd);
            if (w >= 0) rename(a, pl_path(p, p->layer_file, b, sizeof b));
        }
    }
}

void sn_frames_init(const pl_plan *p, sn_frames *f) {
    memset(f, 0, sizeof *f);
    f->target_fps = f->fps_target = p->default_fps;
    f->qoe = 1.0;
    f->last_fg = -1e18;
    f->last_seq = -1;
}

/* A frame-timing dump: refresh period, then "desired actual ready" per frame. Returns frames (sorted by actual). */
static int parse_dump(const char *text, long long *refresh, long long desired[], long long actual[], int max) {
    char *end;
    *refresh = strtoll(text, &end, 10);
    if (end == text || *refresh < 1000000 || *refresh > 100000000) return -1;
    int n = 0;
    const char *s = end;
    while (*s) {
        long long v[3];
        int k = 0;
        for (; k < 3; k++) {
            while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
            if (!*s) break;
            v[k] = strtoll(s, &end, 10);
            if (end == s) return -1;
            s = end;
        }
        if (k == 0) break;
        if (k != 3) return -1;
        if (v[0] == 0 || v[1] == 0 || v[0] == INT64_MAX || v[1] == INT64_MAX || n >= max) continue;
        int i = n++;
        while (i > 0 && actual[i - 1] > v[1]) desired[i] = desired[i - 1], actual[i] = actual[i - 1], i--;
        desired[i] = v[0], actual[i] = v[1];
    }
    return n;
}

/* sf.txt of the poller: "seq N", "layer L", then the dump; returns the dump or NULL. */
static const char *sf_body(char *text, long long *seq, char *layer, size_t n) {
    if (strncmp(text, "seq ", 4)) return NULL;
    char *nl = strchr(text, '\n');
    if (!nl) return NULL;
    *seq = strtoll(text + 4, NULL, 10);
    char *l2 = nl + 1;
    if (strncmp(l2, "layer ", 6)) return NULL;
    char *nl2 = strchr(l2, '\n');
    if (!nl2) return NULL;
    *nl2 = 0;
    snprintf(layer, n, "%s", l2 + 6);
    return nl2 + 1;
}

static void check_foreground(const pl_plan *p, sn_frames *f, double now) {
    static char buf[FILE_BUF];
    if (!p->fg_file[0] || sn_read(p, p->fg_file, buf, sizeof buf) < 0) return; /* not written yet: retry */
    f->last_fg = now;
    char *win = strstr(buf, FG_MARK_WINDOW), *list = strstr(buf, FG_MARK_LIST);
    if (win) *win = 0, win += strlen(FG_MARK_WINDOW);
    if (list) *list = 0, list += strlen(FG_MARK_LIST);
    char pkg[96] = "";
    if (!foreground(buf, pkg, sizeof pkg) && win) foreground(win, pkg, sizeof pkg);
    int changed = strcmp(pkg, f->package) != 0;
    if (changed) {
        snprintf(f->package, sizeof f->package, "%s", pkg);
        const pl_app *a = pkg[0] ? catalog_app(p, pkg) : NULL;
        snprintf(f->app, sizeof f->app, "%s", a ? a->name : "");
        f->target_fps = a ? a->target_fps : p->default_fps;
        f->fg_changed = 1;
    }
    int n = 0, cur_listed = 0, cur_cand = 0;
    char cands[SN_MAX_LAYERS][256];
    for (char *l = list, *nx; l && *l; l = nx) {
        nx = strchr(l, '\n');
        if (nx) *nx++ = 0;
        size_t len = strlen(l);
        while (len && l[len - 1] == '\r') l[--len] = 0;
        if (!len) continue;
        if (f->layer[0] && !strcmp(l, f->layer)) cur_listed = 1;
        if (pkg[0] && strstr(l, pkg) && len < 256 && !strchr(l, '\\') && n < SN_MAX_LAYERS) {
            if (!strcmp(l, f->layer)) cur_cand = 1;
            strcpy(cands[n++], l);
        }
    }
    if (!changed && f->layer[0] && cur_listed) return;
    if (!cur_cand) set_layer(p, f, "");
    if (n == 1) {
        set_layer(p, f, cands[0]);
        f->probing = 0;
    } else if (n > 1 && !f->layer[0]) { /* probe each candidate through the poller, keep the busiest */
        f->n_cand = n;
        memcpy(f->cand, cands, sizeof cands);
        memset(f->cand_frames, 0, sizeof f->cand_frames);
        f->probing = 1;
        set_layer(p, f, f->cand[0]);
    }
}

void sn_frames_update(const pl_plan *p, sn_frames *f, double now) {
    static char buf[FILE_BUF];
    static long long des[SN_MAX_FRAMES], act[SN_MAX_FRAMES];
    static long long probe_newest[SN_MAX_LAYERS], probe_act[SN_MAX_LAYERS][128];
    static int probe_n[SN_MAX_LAYERS];
    f->frames = 0;
    f->presented = 0.0;
    f->fg_changed = 0;
    if (now - f->last_fg >= p->fg_period_s && !f->probing) check_foreground(p, f, now);
    if (!f->layer[0] || !p->sf_file[0] || sn_read(p, p->sf_file, buf, sizeof buf) < 0) return;
    long long seq, refresh;
    char layer[256];
    const char *body = sf_body(buf, &seq, layer, sizeof layer);
    if (!body || strcmp(layer, f->layer) || seq == f->last_seq) return;
    f->last_seq = seq;
    int n = parse_dump(body, &refresh, des, act, SN_MAX_FRAMES);
    if (n < 0) return;
    if (f->probing) {
        int i = 0;
        while (i < f->n_cand && strcmp(f->cand[i], f->layer)) i++;
        probe_n[i] = n < 128 ? n : 128;
        memcpy(probe_act[i], act + (n - probe_n[i]), sizeof(long long) * (size_t)probe_n[i]);
        probe_newest[i] = n ? act[n - 1] : -1;
        if (i + 1 < f->n_cand) { set_layer(p, f, f->cand[i + 1]); return; }
        long long newest = -1;
        for (int k = 0; k < f->n_cand; k++) newest = probe_newest[k] > newest ? probe_newest[k] : newest;
        int best = 0, best_n = -1;
        for (int k = 0; k < f->n_cand; k++) {
            int c = 0;
            for (int j = 0; j < probe_n[k]; j++) c += newest >= 0 && probe_act[k][j] >= newest - 1000000000LL;
            if (c > best_n) best = k, best_n = c;
        }
        f->probing = 0;
        set_layer(p, f, f->cand[best]);
        return;
    }
    int frames = 0;
    double presented = 0.0;
    if (f->have_dump) { /* sampler.count_frames */
        for (int i = 0; i < n; i++) {
            if (act[i] <= f->last_actual) continue;
            double late = (double)(act[i] - des[i]) / (double)refresh;
            if (late < 0) late = 0;
            int slots = 1 + (int)floor(late + 0.5);
            frames++;
            presented += 1.0 / slots;
        }
        double dt = now - f->last_dump_t > 1e-3 ? now - f->last_dump_t : 1e-3;
        f->fps_target = frames > 0 ? frames / dt : f->target_fps;
        f->fps = presented / dt;
        f->qoe = frames > 0 ? presented / frames : 1.0;
    }
    f->have_dump = 1;
    f->last_actual = n ? act[n - 1] : -1;
    f->last_dump_t = now;
    f->frames = frames;
    f->presented = presented;
}
