/* metadvfs-runner: the exported governor running on the phone by itself.
 *
 *   metadvfs-runner run PLAN        control loop (started detached by `metadvfs deploy --on-phone`)
 *   metadvfs-runner decide WEIGHTS  stdin records -> actions (parity tests)
 *   metadvfs-runner bench WEIGHTS N decision latency and a reference computation, one JSON line
 *   metadvfs-runner ref N           the reference computation alone, one JSON line
 *   metadvfs-runner check PLAN      validate plan + weights, print one line
 *
 * Bad input: one line on stderr, exit 2, nothing changed on the phone. `run` snapshots every node it may write
 * before the first change and restores it on SIGTERM/SIGINT, a thermal trip, its time limit, the stop file
 * (<home>/stop) or a failed read/write; then it runs the stock restore script (services, properties) if the plan
 * names one. A kill -9 leaves the restore to the deploy watchdog, which sees the heartbeat stop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mdvfs.h"
#include "plan.h"
#include "sense.h"

#define RUNNER_VERSION "1"

_Static_assert(sizeof(float) == 4, "float32");

static volatile sig_atomic_t g_signal = 0;
static void on_signal(int sig) { g_signal = sig; }

static int die2(const char *msg) {
    fprintf(stderr, "error: %s\n", msg);
    return 2;
}

/* ------------------------------------------------------------------ files of the run (atomic) */

static void write_atomic(const pl_plan *p, const char *phone, const char *text, mode_t mode) {
    char tmp[PL_PATH + 8], a[2 * PL_PATH], b[2 * PL_PATH];
    snprintf(tmp, sizeof tmp, "%s.tmp", phone);
    int fd = open(pl_path(p, tmp, a, sizeof a), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    fchmod(fd, mode);
    close(fd);
    if (w == (ssize_t)n) rename(a, pl_path(p, phone, b, sizeof b));
    else unlink(a);
}

static void home_file(const pl_plan *p, const char *leaf, char *out, size_t n) { snprintf(out, n, "%s/%s", p->home, leaf); }

/* ------------------------------------------------------------------ snapshot / writes / restore */

typedef struct {
    char gov[4][64];
    long min[4], max[4];
    long cur_min[4], cur_max[4], cur_set[4];
} snapshot;

static int read_word(const pl_plan *p, const char *node, char *out, size_t n) {
    char buf[256];
    if (sn_read(p, node, buf, sizeof buf) < 0) return -1;
    char *s = buf;
    while (*s == ' ' || *s == '\n' || *s == '\t') s++;
    size_t len = strcspn(s, " \t\r\n");
    if (!len || len >= n) return -1;
    memcpy(out, s, len);
    out[len] = 0;
    return 0;
}

static int read_long(const pl_plan *p, const char *node, long *v) {
    char w[64], *end;
    if (read_word(p, node, w, sizeof w)) return -1;
    *v = strtol(w, &end, 10);
    return *end ? -1 : 0;
}

static int take_snapshot(const pl_plan *p, snapshot *s, char *err, size_t n) {
    memset(s, 0, sizeof *s);
    for (int d = 0; d < 4; d++) {
        const pl_domain *D = &p->dom[d];
        if (!D->present) continue;
        if (D->w_gov[0] && read_word(p, D->w_gov, s->gov[d], sizeof s->gov[d]))
            return snprintf(err, n, "%s: cannot read for the snapshot (%s)", D->w_gov, strerror(errno)), -1;
        if (read_long(p, D->w_min, &s->min[d]))
            return snprintf(err, n, "%s: cannot read for the snapshot (%s)", D->w_min, strerror(errno)), -1;
        if (read_long(p, D->w_max, &s->max[d]))
            return snprintf(err, n, "%s: cannot read for the snapshot (%s)", D->w_max, strerror(errno)), -1;
        s->cur_min[d] = s->min[d], s->cur_max[d] = s->max[d], s->cur_set[d] = -1;
    }
    return 0;
}

static int check_writable(const pl_plan *p, char *err, size_t n) {
    for (int d = 0; d < 4; d++) {
        const pl_domain *D = &p->dom[d];
        if (!D->present) continue;
        const char *nodes[] = {D->w_min, D->w_max, D->w_set, D->w_gov};
        for (int i = 0; i < 4; i++) {
            if (!nodes[i][0]) continue;
            char path[2 * PL_PATH];
            int fd = open(pl_path(p, nodes[i], path, sizeof path), O_WRONLY | O_CLOEXEC);
            if (fd < 0) return snprintf(err, n, "%s: not writable (%s)", nodes[i], strerror(errno)), -1;
            close(fd);
        }
    }
    return 0;
}

static int put(const pl_plan *p, const char *node, long v, char *err, size_t n) {
    char text[32];
    snprintf(text, sizeof text, "%ld", v);
    if (sn_write(p, node, text)) return snprintf(err, n, "write %ld to %s failed (%s)", v, node, strerror(errno)), -1;
    return 0;
}

/* Controller.level_writes: only what changes; max first when raising, min first when lowering. Values are the
 * domain's table entries (node units) and nothing else. */
static int apply_levels(const pl_plan *p, snapshot *s, const int level[4], int *writes, char *err, size_t n) {
    for (int d = 0; d < 4; d++) {
        const pl_domain *D = &p->dom[d];
        if (!D->present) continue;
        if (level[d] < 0 || level[d] >= D->n_values) return snprintf(err, n, "level %d out of range for %s", level[d], D->w_max), -1;
        long v = D->values[level[d]];
        if (D->userspace) {
            if (s->cur_set[d] == v) continue;
            if (put(p, D->w_set, v, err, n)) return -1;
            s->cur_set[d] = v, (*writes)++;
            continue;
        }
        if (s->cur_min[d] == v && s->cur_max[d] == v) continue;
        const char *first = v > s->cur_max[d] ? D->w_max : D->w_min, *second = first == D->w_max ? D->w_min : D->w_max;
        if (put(p, first, v, err, n) || put(p, second, v, err, n)) return -1;
        s->cur_min[d] = s->cur_max[d] = v, *writes += 2;
    }
    return 0;
}

/* Controller.restore_commands: governor; min = lowest; max = stock; min = stock. Returns the number of failures. */
static int restore_nodes(const pl_plan *p, const snapshot *s) {
    int fails = 0;
    char err[MDW_ERR];
    for (int d = 0; d < 4; d++) {
        const pl_domain *D = &p->dom[d];
        if (!D->present) continue;
        if (D->w_gov[0] && s->gov[d][0]) fails += sn_write(p, D->w_gov, s->gov[d]) != 0;
        long low = D->values[0] < s->min[d] ? D->values[0] : s->min[d];
        fails += put(p, D->w_min, low, err, sizeof err) != 0;
        fails += put(p, D->w_max, s->max[d], err, sizeof err) != 0;
        fails += put(p, D->w_min, s->min[d], err, sizeof err) != 0;
    }
    return fails;
}

static int verify_nodes(const pl_plan *p, const snapshot *s, char *bad, size_t n) {
    bad[0] = 0;
    for (int d = 0; d < 4; d++) {
        const pl_domain *D = &p->dom[d];
        if (!D->present) continue;
        char g[64];
        long mn, mx;
        if (D->w_gov[0] && (read_word(p, D->w_gov, g, sizeof g) || strcmp(g, s->gov[d])))
            return snprintf(bad, n, "%s", D->w_gov), -1;
        if (read_long(p, D->w_min, &mn) || mn != s->min[d]) return snprintf(bad, n, "%s", D->w_min), -1;
        if (read_long(p, D->w_max, &mx) || mx != s->max[d]) return snprintf(bad, n, "%s", D->w_max), -1;
    }
    return 0;
}

/* The stock restore script (services, properties and the nodes again) with the phone's sh; waits <= 10 s.
 * Returns its exit status (the script's last command's; 0 when there is no script), -1 when it could not run. */
static int run_restore_script(const pl_plan *p) {
    if (!p->restore_script[0]) return 0;
    /* The phone's sh with a command string: Android's PATH first (setprop, start, stop live there); on the twin
     * the phone's sh maps the phone paths of the string to its tree, as for every command it runs. */
    char sh[2 * PL_PATH], cmd[PL_PATH + 160];
    pl_path(p, p->sh[0] ? p->sh : "/system/bin/sh", sh, sizeof sh);
    snprintf(cmd, sizeof cmd, "PATH=$PATH:/system/bin:/system/xbin:/vendor/bin:/product/bin; export PATH; sh %s",
             p->restore_script);
    char logp[PL_PATH + 16], logh[2 * PL_PATH];
    home_file(p, "restore.log", logp, sizeof logp);
    pl_path(p, logp, logh, sizeof logh);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY), out = open(logh, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in >= 0) dup2(in, 0);
        if (out >= 0) dup2(out, 1), dup2(out, 2);
        execl(sh, "sh", "-c", cmd, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", sh, strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* ------------------------------------------------------------------ run */

static const char *DOM[4] = {"little", "mid", "big", "gpu"};

static void log_header(FILE *f) {
    fprintf(f, "step,t_s,dt_s,app,package,frames,presented,fps,fps_target,qoe,power_total_mw,temp_die_c,temp_skin_c,"
               "throttled,ui_mc,gpu_mc,worker_mc,bg_mc,phase,decide_us,writes");
    for (int d = 0; d < 4; d++)
        fprintf(f, ",%s_khz,%s_busy,%s_busy_max,%s_util,%s_level,%s_action,%s_target,%s_power_mw", DOM[d], DOM[d],
                DOM[d], DOM[d], DOM[d], DOM[d], DOM[d], DOM[d]);
    for (int i = 0; i < MDW_OBS_DIM; i++) fprintf(f, ",obs%d", i);
    fputc('\n', f);
}

/* record.trace_row: the work the phone did in this interval, as a replayable trace row (tick = interval). */
static void trace_work(const pl_plan *p, const sn_step *s, double tick, double out[4]) {
    double scale = tick / (s->dt > 1e-6 ? s->dt : 1e-6), work[3] = {0}, ui = 0.0;
    int ui_dom = p->dom[1].present ? 1 : 2;
    for (int d = 0; d < 3; d++) {
        const pl_domain *D = &p->dom[d];
        if (!D->present) continue;
        double mhz = s->freq_khz[d] / 1000.0;
        work[d] = s->busy[d] * D->n_cpus * mhz * D->ipc * s->dt;
        if (d == ui_dom && s->frames > 0) ui = fmin(work[d], s->busy_max[d] * mhz * D->ipc * s->dt);
    }
    double gpu = s->busy[3] * s->freq_khz[3] / 1000.0 * p->gpu_throughput * s->dt;
    double worker = work[1] + work[2] - ui;
    out[0] = ui * scale, out[1] = gpu * scale, out[2] = (worker > 0 ? worker : 0) * scale, out[3] = work[0] * scale;
}

static void write_status(const pl_plan *p, const char *state, long step, const char *app, const char *reason,
                         double t, const char *restore) {
    char path[PL_PATH + 16], text[1024];
    home_file(p, "status", path, sizeof path);
    snprintf(text, sizeof text, "state %s\npid %d\nstep %ld\nt_s %.3f\napp %s\nreason %s\nrestore %s\nversion %s\n",
             state, (int)getpid(), step, t, app[0] ? app : "-", reason[0] ? reason : "-", restore[0] ? restore : "-",
             RUNNER_VERSION);
    write_atomic(p, path, text, 0644);
}

static void beat(const pl_plan *p, long step) {
    char v[32];
    snprintf(v, sizeof v, "r%ld\n", step);
    for (int i = 0; i < p->n_heartbeat; i++) write_atomic(p, p->heartbeat[i], v, 0644);
}

static int route_for(const mdw_weights *w, const char *app) {
    int r = app[0] ? mdw_route_index(w, app) : -1;
    return r >= 0 ? r : mdw_route_index(w, "default");
}

static int cmd_run(const char *plan_path, int check_only) {
    static pl_plan p;
    static mdw_weights w;
    static mdw_stream st;
    char err[MDW_ERR], path[2 * PL_PATH];
    if (pl_load(plan_path, &p, err, sizeof err)) return die2(err);
    if (mdw_load(pl_path(&p, p.weights, path, sizeof path), &w, err, sizeof err)) return die2(err);
    if (strcmp(w.device, p.device) || strcmp(w.profile_hash, p.profile_hash)) {
        snprintf(err, sizeof err, "%s: governor for %s (profile %s), this phone runs %s (profile %s)", p.weights,
                 w.device, w.profile_hash, p.device, p.profile_hash);
        return die2(err);
    }
    int n_opp[4];
    const double *tables[4];
    for (int d = 0; d < 4; d++) {
        n_opp[d] = p.dom[d].present ? p.dom[d].n_table : 0;
        tables[d] = p.dom[d].table_khz;
        if (p.dom[d].present && w.action_mode != 0 && w.nvec[d] != w.levels) return die2("weights: nvec/levels mismatch");
    }
    static snapshot snap;
    if (take_snapshot(&p, &snap, err, sizeof err)) return die2(err);
    if (check_writable(&p, err, sizeof err)) return die2(err);
    static sn_raw prev, cur;
    if (sn_sample(&p, &prev, err, sizeof err)) return die2(err);
    if (check_only) {
        printf("ok: %s governor (window %u, %u model(s)) for %s; %d domain(s) writable\n", p.weights, w.window,
               w.n_models, w.device, p.dom[0].present + p.dom[1].present + p.dom[2].present + p.dom[3].present);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN); /* the host's shell going away must not stop the governor */
    signal(SIGPIPE, SIG_IGN);
    char pidf[PL_PATH + 16], stopf[PL_PATH + 16], logf[PL_PATH + 16], txt[32];
    home_file(&p, "pid", pidf, sizeof pidf);
    home_file(&p, "stop", stopf, sizeof stopf);
    home_file(&p, "steps.csv", logf, sizeof logf);
    unlink(pl_path(&p, stopf, path, sizeof path));
    snprintf(txt, sizeof txt, "%d\n", (int)getpid());
    write_atomic(&p, pidf, txt, 0644);
    FILE *log = fopen(pl_path(&p, logf, path, sizeof path), "w");
    if (!log) return die2("cannot create the step log in the run directory");
    fchmod(fileno(log), 0644);
    static char logbuf[1 << 16];
    setvbuf(log, logbuf, _IOFBF, sizeof logbuf); /* one whole line per write (flushed per step): readers never */
    log_header(log);                              /* see half a line */
    fflush(log);
    /* take over: from here on every exit path restores */
    char reason[MDW_ERR] = "";
    int rc = 0;
    for (int d = 0; d < 3; d++)
        if (p.dom[d].present && p.dom[d].userspace && sn_write(&p, p.dom[d].w_gov, "userspace")) {
            snprintf(reason, sizeof reason, "error: switching %s to userspace failed (%s)", p.dom[d].w_gov, strerror(errno));
            rc = 1;
        }
    static sn_frames fr;
    sn_frames_init(&p, &fr);
    memset(&st, 0, sizeof st);
    mdw_stream_route(&st, &w, route_for(&w, ""));
    const double start = sn_now(), interval = p.interval_ms / 1000.0;
    double next = start, last_status = -1e9;
    long step = 0;
    write_status(&p, "running", 0, "", "", 0.0, "");
    while (!rc) {
        if (g_signal) { snprintf(reason, sizeof reason, "signal %d", (int)g_signal); break; }
        if (access(pl_path(&p, stopf, path, sizeof path), F_OK) == 0) { snprintf(reason, sizeof reason, "stop file"); break; }
        if (p.limit_s > 0 && step * interval >= p.limit_s - 1e-9) { snprintf(reason, sizeof reason, "time limit %.0f s", p.limit_s); break; }
        next += interval;
        double now = sn_now();
        if (next > now) {
            struct timespec ts = {(time_t)(next - now), (long)(fmod(next - now, 1.0) * 1e9)};
            while (nanosleep(&ts, &ts) && errno == EINTR && !g_signal) {}
            if (g_signal) continue;
        } else {
            next = now; /* late: no catch-up burst */
        }
        if (sn_sample(&p, &cur, err, sizeof err)) { snprintf(reason, sizeof reason, "error: %s", err); rc = 1; break; }
        sn_frames_update(&p, &fr, cur.t);
        sn_step s;
        sn_step_reading(&p, &prev, &cur, &fr, &s);
        prev = cur;
        if (s.skin_c >= p.throttle_skin_c || s.die_c >= p.throttle_die_c) {
            snprintf(reason, sizeof reason, "thermal hand-back (skin %.1f C / die %.1f C reached %g / %g C)", s.skin_c,
                     s.die_c, p.throttle_skin_c, p.throttle_die_c);
            break;
        }
        float row[MDW_OBS_DIM];
        sn_encode(&p, &s, row);
        double t0 = sn_now();
        if (fr.fg_changed) mdw_stream_route(&st, &w, route_for(&w, fr.app)); /* once per foreground change */
        mdw_stream_push(&st, row);
        int action[4], level[4], target[4], writes = 0;
        mdw_stream_decide(&st, action);
        mdw_decode(&w, action, s.level, n_opp, tables, s.util, target);
        double t1 = sn_now();
        for (int d = 0; d < 4; d++) level[d] = p.dom[d].present ? target[d] : 0;
        if (apply_levels(&p, &snap, level, &writes, err, sizeof err)) { snprintf(reason, sizeof reason, "error: %s", err); rc = 1; break; }
        step++;
        beat(&p, step);
        double tw[4];
        trace_work(&p, &s, interval, tw);
        fprintf(log, "%ld,%.4f,%.5f,%s,%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%d,%.4f,%.4f,%.4f,%.4f,%s,%.2f,%d", step,
                cur.t - start, s.dt, fr.app[0] ? fr.app : "-", fr.package[0] ? fr.package : "-", s.frames, s.presented,
                s.fps, s.fps_target, s.qoe, s.power_total_mw, s.die_c, s.skin_c, s.throttled, tw[0], tw[1], tw[2], tw[3],
                s.frames > 0 ? "frames" : "idle", (t1 - t0) * 1e6, writes);
        for (int d = 0; d < 4; d++)
            fprintf(log, ",%.0f,%.9g,%.9g,%.9g,%d,%d,%d,%.9g", s.freq_khz[d], s.busy[d], s.busy_max[d], s.util[d],
                    s.level[d], action[d], level[d], s.power_mw[d]);
        for (int i = 0; i < MDW_OBS_DIM; i++) fprintf(log, ",%.9g", row[i]);
        fputc('\n', log);
        fflush(log);
        if (cur.t - last_status >= 1.0) {
            write_status(&p, "running", step, fr.app, "", cur.t - start, "");
            last_status = cur.t;
        }
    }
    fclose(log);
    int fails = restore_nodes(&p, &snap);
    int script = run_restore_script(&p);
    char badnode[PL_PATH], restore[PL_PATH + 64];
    if (verify_nodes(&p, &snap, badnode, sizeof badnode)) {
        snprintf(restore, sizeof restore, "mismatch %s", badnode);
        rc = rc ? rc : 1;
    } else {
        snprintf(restore, sizeof restore, "verified (%d write(s) failed on the way; restore.sh exit %d)", fails, script);
    }
    write_status(&p, rc ? "failed" : "stopped", step, fr.app, reason, sn_now() - start, restore);
    unlink(pl_path(&p, pidf, path, sizeof path));
    unlink(pl_path(&p, stopf, path, sizeof path));
    return rc;
}

/* ------------------------------------------------------------------ decide (parity) and bench */

#define MAX_STREAMS 256

static int cmd_decide(const char *weights) {
    static mdw_weights w;
    static mdw_stream streams[MAX_STREAMS];
    static float last[MAX_STREAMS][MDW_MAX_WINDOW * MDW_OBS_DIM];
    static int have[MAX_STREAMS], route_of[MAX_STREAMS];
    char err[MDW_ERR];
    if (mdw_load(weights, &w, err, sizeof err)) return die2(err);
    const size_t K = w.window, rowb = sizeof(float) * MDW_OBS_DIM;
    float win[MDW_MAX_WINDOW * MDW_OBS_DIM];
    unsigned char head[MDW_NAME + 4];
    long records = 0, incremental = 0;
    while (fread(head, 1, sizeof head, stdin) == sizeof head) {
        if (fread(win, rowb, K, stdin) != K) return die2("decide: truncated record");
        char name[MDW_NAME];
        memcpy(name, head, MDW_NAME);
        name[MDW_NAME - 1] = 0;
        uint32_t id = (uint32_t)head[32] | (uint32_t)head[33] << 8 | (uint32_t)head[34] << 16 | (uint32_t)head[35] << 24;
        if (id >= MAX_STREAMS) return die2("decide: stream id >= 256");
        int r = route_for(&w, name);
        mdw_stream *s = &streams[id];
        if (!have[id] || route_of[id] != r) mdw_stream_route(s, &w, r), route_of[id] = r;
        if (have[id] && memcmp(last[id] + MDW_OBS_DIM, win, rowb * (K - 1)) == 0) {
            mdw_stream_push(s, win + (K - 1) * MDW_OBS_DIM); /* the window slid by one row: one projection */
            incremental++;
        } else {
            mdw_stream_reset(s);
            for (size_t k = 0; k < K; k++) mdw_stream_push(s, win + k * MDW_OBS_DIM);
        }
        have[id] = 1;
        memcpy(last[id], win, rowb * K);
        int a[4];
        mdw_stream_decide(s, a);
        int32_t out[4] = {a[0], a[1], a[2], a[3]};
        fwrite(out, sizeof out, 1, stdout);
        records++;
    }
    fflush(stdout);
    fprintf(stderr, "records %ld incremental %ld\n", records, incremental);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long peak_rss_kb(void) {
    char buf[4096];
    FILE *f = fopen("/proc/self/status", "r");
    long kb = -1;
    if (!f) return -1;
    while (fgets(buf, sizeof buf, f))
        if (!strncmp(buf, "VmHWM:", 6)) kb = strtol(buf + 6, NULL, 10);
    fclose(f);
    return kb;
}

static int cmd_bench(const char *weights, long n) {
    static mdw_weights w;
    static mdw_stream s;
    char err[MDW_ERR];
    if (mdw_load(weights, &w, err, sizeof err)) return die2(err);
    if (n < 100 || n > 10000000) return die2("bench: N must be in [100, 10000000]");
    memset(&s, 0, sizeof s);
    mdw_stream_route(&s, &w, route_for(&w, "tiktok"));
    static float rows[64][MDW_OBS_DIM];
    uint32_t x = 12345;
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < MDW_OBS_DIM; j++) x = x * 1664525u + 1013904223u, rows[i][j] = (float)(x >> 8) / (1u << 24);
    double *t = malloc(sizeof(double) * (size_t)n), *r = malloc(sizeof(double) * (size_t)n);
    if (!t || !r) return die2("bench: out of memory");
    static float W[256 * 256], v[256], y[256];
    for (int i = 0; i < 256 * 256; i++) x = x * 1664525u + 1013904223u, W[i] = (float)(x >> 8) / (1u << 24) - 0.5f;
    for (int i = 0; i < 256; i++) v[i] = (float)i / 256.0f;
    int a[4];
    volatile int sink = 0;
    for (long i = 0; i < 200; i++) mdw_stream_push(&s, rows[i % 64]), mdw_stream_decide(&s, a);
    for (long i = 0; i < n; i++) {
        double t0 = sn_now();
        mdw_stream_push(&s, rows[i % 64]); /* a decision: the new row's projection + the window + the head */
        mdw_stream_decide(&s, a);
        double t1 = sn_now();
        mdw_matvec(v, 256, W, NULL, 256, y); /* the reference: 256x256 float32 matrix-vector product */
        double t2 = sn_now();
        v[i % 256] = y[(i + 1) % 256] * 1e-3f;
        sink += a[0];
        t[i] = (t1 - t0) * 1e9, r[i] = (t2 - t1) * 1e9;
    }
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    qsort(r, (size_t)n, sizeof(double), cmp_double);
    printf("{\"decide_ns_median\": %.1f, \"decide_ns_p95\": %.1f, \"ref_ns_median\": %.1f, \"repeats\": %ld, "
           "\"rss_kb\": %ld, \"reference\": \"256x256 float32 matrix-vector product (65,536 multiply-adds) with the "
           "runner's kernel\"}\n",
           t[n / 2], t[(long)(n * 0.95)], r[n / 2], n, peak_rss_kb());
    free(t);
    free(r);
    return sink < 0;
}

/* The reference computation alone (timed around other measurements, e.g. onnxruntime's, in the same run). */
static int cmd_ref(long n) {
    if (n < 100 || n > 10000000) return die2("ref: N must be in [100, 10000000]");
    static float W[256 * 256], v[256], y[256];
    uint32_t x = 12345;
    for (int i = 0; i < 256 * 256; i++) x = x * 1664525u + 1013904223u, W[i] = (float)(x >> 8) / (1u << 24) - 0.5f;
    for (int i = 0; i < 256; i++) v[i] = (float)i / 256.0f;
    double *r = malloc(sizeof(double) * (size_t)n);
    if (!r) return die2("ref: out of memory");
    for (long i = 0; i < n; i++) {
        double t0 = sn_now();
        mdw_matvec(v, 256, W, NULL, 256, y);
        double t1 = sn_now();
        v[i % 256] = y[(i + 1) % 256] * 1e-3f;
        r[i] = (t1 - t0) * 1e9;
    }
    qsort(r, (size_t)n, sizeof(double), cmp_double);
    printf("{\"ref_ns_median\": %.1f, \"repeats\": %ld}\n", r[n / 2], n);
    free(r);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--version")) return puts("metadvfs-runner " RUNNER_VERSION), 0;
    if (argc == 3 && !strcmp(argv[1], "run")) return cmd_run(argv[2], 0);
    if (argc == 3 && !strcmp(argv[1], "check")) return cmd_run(argv[2], 1);
    if (argc == 3 && !strcmp(argv[1], "decide")) return cmd_decide(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "bench")) return cmd_bench(argv[2], strtol(argv[3], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "ref")) return cmd_ref(strtol(argv[2], NULL, 10));
    fprintf(stderr, "error: usage: %s run PLAN | check PLAN | decide WEIGHTS | bench WEIGHTS N | ref N | --version\n",
            argv[0]);
    return 2;
}
