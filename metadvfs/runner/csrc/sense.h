/* Reading the phone (the nodes metadvfs/adb/sampler.py reads) and the codec's observation row. */
#ifndef MDVFS_SENSE_H
#define MDVFS_SENSE_H

#include "plan.h"

#define SN_MAX_CPU 32
#define SN_MAX_FRAMES 512
#define SN_MAX_LAYERS 8

typedef struct {
    double t;                                   /* monotonic, s */
    long long busy[SN_MAX_CPU], total[SN_MAX_CPU];
    int have_cpu[SN_MAX_CPU];
    double freq_khz[4], gpu_util, die_c, skin_c, battery_mw;
    int have_battery, throttled, have_odpm;
    long long odpm_t[4];                        /* per device timestamp, ms */
    long long rail_t[PL_MAX_RAILS], rail_e[PL_MAX_RAILS]; /* per plan rail: channel ms, energy uWs */
    int rail_seen[PL_MAX_RAILS];
} sn_raw;

typedef struct {
    /* foreground and frames (the frame poller's files) */
    char package[96], app[MDW_NAME], layer[256];
    double target_fps, last_fg;
    int n_cand, probing;
    char cand[SN_MAX_LAYERS][256];
    int cand_frames[SN_MAX_LAYERS];
    long long probe_seq;
    long long last_seq;
    int have_dump;
    long long last_actual;                     /* newest frame of the previous dump of this layer */
    double last_dump_t;
    double fps, fps_target, qoe;               /* held between dumps */
    int frames;                                /* newly presented this step */
    double presented;
    int fg_changed;
} sn_frames;

typedef struct {
    double dt, busy[4], busy_max[4], freq_khz[4], util[4], power_mw[4], power_total_mw, die_c, skin_c;
    int level[4], throttled, frames;
    double presented, fps, fps_target, qoe;
} sn_step;

/* One sample; 0 or -1 with a message naming the node. */
int sn_sample(const pl_plan *p, sn_raw *r, char *err, size_t n);
/* Interval quantities between two samples (metadvfs.adb.sampler.step_reading). */
void sn_step_reading(const pl_plan *p, const sn_raw *prev, const sn_raw *cur, const sn_frames *fr, sn_step *s);
/* The codec's observation row (metadvfs.core.codec.encode), float32 in [0, 2]. */
void sn_encode(const pl_plan *p, const sn_step *s, float row[MDW_OBS_DIM]);
/* Foreground app and frame counting from the poller's files (agent mode of the sampler). */
void sn_frames_init(const pl_plan *p, sn_frames *f);
void sn_frames_update(const pl_plan *p, sn_frames *f, double now);
/* Read a whole small file (prefix applied); returns bytes or -1 (errno set). */
long sn_read(const pl_plan *p, const char *phone, char *buf, size_t n);
/* Write text to a node (prefix applied); 0 or -1 (errno set). */
int sn_write(const pl_plan *p, const char *phone, const char *text);
double sn_now(void);

#endif
