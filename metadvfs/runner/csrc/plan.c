/* plan.txt parser: one `key value...` per line, whitespace separated, '#' comments. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define MAXTOK 80

static int perr(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

static int num(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int copy(char *dst, size_t n, const char *src) {
    if (strlen(src) >= n || src[0] != '/') return -1; /* phone paths are absolute */
    strcpy(dst, src);
    return 0;
}

const char *pl_path(const pl_plan *p, const char *phone, char *buf, size_t n) {
    snprintf(buf, n, "%s%s", p->root, phone);
    return buf;
}

static int dom_index(const char *s) {
    if (strlen(s) == 1 && s[0] >= '0' && s[0] <= '3') return s[0] - '0';
    return -1;
}

/* Fill `out[0..n)` from tokens; returns n or -1. */
static int nums(char **tok, int ntok, double *out, int max) {
    if (ntok > max) return -1;
    for (int i = 0; i < ntok; i++)
        if (num(tok[i], &out[i])) return -1;
    return ntok;
}

static int line(pl_plan *p, char **t, int n, const char **why) {
    const char *k = t[0];
    double v[PL_MAX_OPP + 8];
    *why = "bad value";
#define NEED(c) do { if (n != (c)) { *why = "wrong number of fields"; return -1; } } while (0)
#define PATH(dst, src) do { if (copy(dst, sizeof dst, src)) { *why = "path must be absolute and < 256 bytes"; return -1; } } while (0)
    if (!strcmp(k, "metadvfs-runner-plan")) { NEED(2); if (strcmp(t[1], "1")) { *why = "plan version must be 1"; return -1; } return 0; }
    if (!strcmp(k, "plan")) { NEED(2); PATH(p->plan_path, t[1]); return 0; }
    if (!strcmp(k, "weights")) { NEED(2); PATH(p->weights, t[1]); return 0; }
    if (!strcmp(k, "home")) { NEED(2); PATH(p->home, t[1]); return 0; }
    if (!strcmp(k, "stat")) { NEED(2); PATH(p->stat, t[1]); return 0; }
    if (!strcmp(k, "gpu_util")) { NEED(2); PATH(p->gpu_util, t[1]); return 0; }
    if (!strcmp(k, "sf_file")) { NEED(2); PATH(p->sf_file, t[1]); return 0; }
    if (!strcmp(k, "fg_file")) { NEED(2); PATH(p->fg_file, t[1]); return 0; }
    if (!strcmp(k, "layer_file")) { NEED(2); PATH(p->layer_file, t[1]); return 0; }
    if (!strcmp(k, "restore_script")) { NEED(2); PATH(p->restore_script, t[1]); return 0; }
    if (!strcmp(k, "skin")) { NEED(2); PATH(p->skin, t[1]); return 0; }
    if (!strcmp(k, "sh")) { NEED(2); PATH(p->sh, t[1]); return 0; }
    if (!strcmp(k, "heartbeat")) {
        NEED(2);
        if (p->n_heartbeat >= 2) { *why = "at most 2 heartbeat files"; return -1; }
        PATH(p->heartbeat[p->n_heartbeat], t[1]);
        p->n_heartbeat++;
        return 0;
    }
    if (!strcmp(k, "die") || !strcmp(k, "cooling")) {
        NEED(2);
        int *cnt = k[0] == 'd' ? &p->n_die : &p->n_cooling;
        if (*cnt >= PL_MAX_ZONES) { *why = "too many zones"; return -1; }
        if (k[0] == 'd') PATH(p->die[*cnt], t[1]);
        else PATH(p->cooling[*cnt], t[1]);
        (*cnt)++;
        return 0;
    }
    if (!strcmp(k, "odpm")) {
        NEED(2);
        if (p->n_odpm >= 4) { *why = "at most 4 ODPM devices"; return -1; }
        PATH(p->odpm[p->n_odpm], t[1]);
        p->n_odpm++;
        return 0;
    }
    if (!strcmp(k, "battery")) { NEED(3); PATH(p->bat_i, t[1]); PATH(p->bat_v, t[2]); return 0; }
    if (!strcmp(k, "device") || !strcmp(k, "profile_hash")) {
        NEED(2);
        if (strlen(t[1]) >= MDW_NAME) { *why = "too long"; return -1; }
        strcpy(k[0] == 'd' ? p->device : p->profile_hash, t[1]);
        return 0;
    }
    if (!strcmp(k, "rail")) {
        NEED(3);
        int d = strcmp(t[1], "-") ? dom_index(t[1]) : -1; /* "-": counts in the total only */
        if ((d < 0 && strcmp(t[1], "-")) || p->n_rails >= PL_MAX_RAILS || strlen(t[2]) >= 64) {
            *why = "rail <domain 0..3 or -> <name>";
            return -1;
        }
        p->rail_dom[p->n_rails] = d;
        strcpy(p->rail_name[p->n_rails++], t[2]);
        return 0;
    }
    if (!strcmp(k, "app")) {
        if (n < 3 || n - 3 > PL_MAX_PKGS || p->n_apps >= PL_MAX_APPS || strlen(t[1]) >= MDW_NAME) {
            *why = "app <name> <target_fps> <package>...";
            return -1;
        }
        pl_app *a = &p->apps[p->n_apps++];
        strcpy(a->name, t[1]);
        if (num(t[2], &a->target_fps) || a->target_fps <= 0) return -1;
        for (int i = 3; i < n; i++) {
            if (strlen(t[i]) >= sizeof a->pkgs[0]) return -1;
            strcpy(a->pkgs[a->n_pkgs++], t[i]);
        }
        return 0;
    }
    struct { const char *key; double *dst; double lo, hi; } scalars[] = {
        {"limit_s", &p->limit_s, 0, 7 * 24 * 3600.0}, {"fg_period_s", &p->fg_period_s, 0.05, 60},
        {"default_fps", &p->default_fps, 1, 1000}, {"base_power_mw", &p->base_power_mw, 0, 1e6},
        {"gpu_throughput", &p->gpu_throughput, 0, 1e6}};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        if (strcmp(k, scalars[i].key)) continue;
        NEED(2);
        if (num(t[1], scalars[i].dst) || *scalars[i].dst < scalars[i].lo || *scalars[i].dst > scalars[i].hi) {
            *why = "number out of range";
            return -1;
        }
        return 0;
    }
    if (!strcmp(k, "interval_ms")) {
        NEED(2);
        if (num(t[1], v) || v[0] < 10 || v[0] > 10000) { *why = "interval_ms must be in [10, 10000]"; return -1; }
        p->interval_ms = (int)v[0];
        return 0;
    }
    if (!strcmp(k, "throttle")) {
        NEED(3);
        if (nums(t + 1, 2, v, 2) != 2) return -1;
        p->throttle_skin_c = v[0], p->throttle_die_c = v[1];
        return 0;
    }
    if (!strcmp(k, "codec")) { /* fmax x4, n_opp x4, p_max x4, mask x4, ambient, die_thr, skin_thr */
        NEED(20);
        if (nums(t + 1, 19, v, 19) != 19) return -1;
        for (int d = 0; d < 4; d++)
            p->fmax_mhz[d] = v[d], p->n_opp[d] = v[4 + d], p->p_max_mw[d] = v[8 + d], p->mask[d] = v[12 + d];
        p->ambient_c = v[16], p->die_thr_c = v[17], p->skin_thr_c = v[18];
        if (p->die_thr_c <= p->ambient_c || p->skin_thr_c <= p->ambient_c) { *why = "throttle points must exceed ambient"; return -1; }
        return 0;
    }
    /* per-domain lines: <key> <domain> ... */
    if (n < 2) { *why = "unknown key"; return -1; }
    int d = dom_index(t[1]);
    const char *dk[] = {"cpus", "cur", "table", "pfreq", "pbusy", "pidle", "pstatic", "cores", "write"};
    int known = 0;
    for (size_t i = 0; i < sizeof dk / sizeof dk[0]; i++) known |= !strcmp(k, dk[i]);
    if (!known) { *why = "unknown key"; return -1; }
    if (d < 0) { *why = "domain must be 0..3"; return -1; }
    pl_domain *D = &p->dom[d];
    D->present = 1;
    if (!strcmp(k, "cpus")) {
        if (n - 2 > PL_MAX_CPUS || nums(t + 2, n - 2, v, PL_MAX_CPUS) < 0) return -1;
        D->n_cpus = n - 2;
        for (int i = 0; i < n - 2; i++) D->cpus[i] = (int)v[i];
        return 0;
    }
    if (!strcmp(k, "cur")) {
        NEED(4);
        PATH(D->cur, t[2]);
        return num(t[3], &D->cur_scale) || D->cur_scale <= 0 ? -1 : 0;
    }
    if (!strcmp(k, "cores")) { /* cores ipc */
        NEED(4);
        return num(t[2], &D->cores) || num(t[3], &D->ipc) ? -1 : 0;
    }
    double *dst = !strcmp(k, "table") ? D->table_khz : !strcmp(k, "pfreq") ? D->m_khz : !strcmp(k, "pbusy") ? D->m_busy
                  : !strcmp(k, "pidle") ? D->m_idle : !strcmp(k, "pstatic") ? D->m_static : NULL;
    if (dst) {
        int c = nums(t + 2, n - 2, dst, PL_MAX_OPP);
        if (c < 1) { *why = "1..64 numbers"; return -1; }
        if (dst == D->table_khz) D->n_table = c;
        else if (dst == D->m_khz) D->n_model = c;
        else if (c != D->n_model) { *why = "as many values as pfreq"; return -1; }
        return 0;
    }
    /* write <d> userspace|clamp <min> <max> <setspeed|-> <governor|-> <values...> */
    if (n < 8 || n - 7 > PL_MAX_OPP) { *why = "write <d> <method> <min> <max> <set|-> <gov|-> <values...>"; return -1; }
    if (strcmp(t[2], "userspace") && strcmp(t[2], "clamp")) { *why = "method must be userspace or clamp"; return -1; }
    D->userspace = !strcmp(t[2], "userspace");
    PATH(D->w_min, t[3]);
    PATH(D->w_max, t[4]);
    if (strcmp(t[5], "-")) PATH(D->w_set, t[5]);
    if (strcmp(t[6], "-")) PATH(D->w_gov, t[6]);
    if (D->userspace && (!D->w_set[0] || !D->w_gov[0])) { *why = "userspace needs setspeed and governor"; return -1; }
    D->n_values = n - 7;
    for (int i = 0; i < D->n_values; i++) {
        char *end;
        D->values[i] = strtol(t[7 + i], &end, 10);
        if (*end || D->values[i] <= 0 || (i && D->values[i] <= D->values[i - 1])) { *why = "values must increase"; return -1; }
    }
    return 0;
#undef NEED
#undef PATH
}

int pl_load(const char *path, pl_plan *p, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    p->fg_period_s = 1.0;
    p->default_fps = 60.0;
    FILE *f = fopen(path, "r");
    if (!f) return perr(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
    char buf[8192];
    int lineno = 0, rc = 0;
    while (fgets(buf, sizeof buf, f)) {
        lineno++;
        size_t len = strlen(buf);
        if (len == sizeof buf - 1 && buf[len - 1] != '\n') { rc = perr(err, errlen, "%s:%d: line too long", path, lineno); break; }
        char *tok[MAXTOK], *save = NULL;
        int n = 0;
        for (char *s = strtok_r(buf, " \t\r\n", &save); s && n < MAXTOK; s = strtok_r(NULL, " \t\r\n", &save)) tok[n++] = s;
        if (n == 0 || tok[0][0] == '#') continue;
        const char *why;
        char key[64];
        snprintf(key, sizeof key, "%s", tok[0]);
        if (line(p, tok, n, &why)) { rc = perr(err, errlen, "%s:%d: %s: %s", path, lineno, key, why); break; }
    }
    fclose(f);
    if (rc) return rc;
    if (!p->weights[0] || !p->home[0] || !p->stat[0] || !p->device[0] || !p->interval_ms || !p->dom[3].present)
        return perr(err, errlen, "%s: incomplete plan (needs weights, home, stat, device, interval_ms, a gpu domain)", path);
    for (int d = 0; d < 4; d++) {
        pl_domain *D = &p->dom[d];
        if (!D->present) continue;
        if (!D->cur[0] || D->n_table < 1 || D->n_values != D->n_table || D->n_model < 1)
            return perr(err, errlen, "%s: domain %d needs cur, table, write (one value per table entry) and pfreq/pbusy/pidle/pstatic", path, d);
        if ((int)p->n_opp[d] != D->n_table) return perr(err, errlen, "%s: codec n_opp[%d] differs from table %d", path, d, d);
    }
    /* The twin keeps the phone's "/" in a host directory: the plan's own phone path tells its prefix. */
    if (p->plan_path[0]) {
        size_t a = strlen(path), b = strlen(p->plan_path);
        if (a > b && !strcmp(path + a - b, p->plan_path) && a - b < sizeof p->root) {
            memcpy(p->root, path, a - b);
            p->root[a - b] = 0;
        } else if (strcmp(path, p->plan_path)) {
            return perr(err, errlen, "%s: run as %s (the plan's own path)", path, p->plan_path);
        }
    }
    return 0;
}
