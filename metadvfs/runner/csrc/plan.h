/* The run plan (plan.txt) written by `metadvfs deploy --on-phone` from the same binding, write plan and codec
 * constants the ADB deploy uses (metadvfs/runner/plan.py documents every line). */
#ifndef MDVFS_PLAN_H
#define MDVFS_PLAN_H

#include "mdvfs.h"

#define PL_PATH 256
#define PL_MAX_CPUS 16
#define PL_MAX_OPP 64
#define PL_MAX_ZONES 16
#define PL_MAX_APPS 64
#define PL_MAX_PKGS 8
#define PL_MAX_RAILS 32

typedef struct {
    char name[MDW_NAME];
    double target_fps;
    int n_pkgs;
    char pkgs[PL_MAX_PKGS][96];
} pl_app;

typedef struct {
    int present;
    int n_cpus, cpus[PL_MAX_CPUS];
    char cur[PL_PATH];
    double cur_scale;             /* node value * scale = kHz */
    int n_table;
    double table_khz[PL_MAX_OPP]; /* the phone's table (levels) */
    int n_model;                  /* the profile's power model: per OPP */
    double m_khz[PL_MAX_OPP], m_busy[PL_MAX_OPP], m_idle[PL_MAX_OPP], m_static[PL_MAX_OPP];
    double cores, ipc;
    /* writes */
    int userspace;
    char w_min[PL_PATH], w_max[PL_PATH], w_set[PL_PATH], w_gov[PL_PATH];
    int n_values;
    long values[PL_MAX_OPP];      /* node units, index = level */
} pl_domain;

typedef struct {
    char plan_path[PL_PATH], weights[PL_PATH], device[MDW_NAME], profile_hash[MDW_NAME];
    char home[PL_PATH], stat[PL_PATH], gpu_util[PL_PATH];
    char heartbeat[2][PL_PATH];
    int n_heartbeat;
    char sf_file[PL_PATH], fg_file[PL_PATH], layer_file[PL_PATH], restore_script[PL_PATH], sh[PL_PATH];
    int interval_ms;
    double limit_s, fg_period_s;
    double throttle_skin_c, throttle_die_c;
    double fmax_mhz[4], n_opp[4], p_max_mw[4], mask[4], ambient_c, die_thr_c, skin_thr_c;
    double default_fps, base_power_mw, gpu_throughput;
    pl_domain dom[4];
    int n_die;
    char die[PL_MAX_ZONES][PL_PATH];
    char skin[PL_PATH];
    int n_cooling;
    char cooling[PL_MAX_ZONES][PL_PATH];
    int n_odpm;
    char odpm[4][PL_PATH];
    int n_rails;
    char rail_name[PL_MAX_RAILS][64];
    int rail_dom[PL_MAX_RAILS];
    char bat_i[PL_PATH], bat_v[PL_PATH];
    int n_apps;
    pl_app apps[PL_MAX_APPS];
    char root[PL_PATH]; /* prefix of every phone path: "" on a phone, the twin's root on the twin */
} pl_plan;

/* Parse plan.txt; 0 or -1 with a one-line message (file:line: ...). */
int pl_load(const char *path, pl_plan *p, char *err, size_t errlen);
/* prefix + phone path */
const char *pl_path(const pl_plan *p, const char *phone, char *buf, size_t n);

#endif
