/* ps-diffusion-view-private.h: the state PsDiffusionView shares between
 * ps-diffusion-view.c (snapshot, playback, figures), ps-diffusion-export.c
 * (figure and frames export) and ps-diffusion-live.c (the guidance slider
 * that resamples a class-conditional run live). */
#pragma once

#include "ps-diffusion-view.h"
#include "ps-store.h"

G_BEGIN_DECLS

/* The snapshot's samplers, then one slot for the live resampling. */
#define N_SAMPLERS 4
#define LIVE_SAMPLER N_SAMPLERS

typedef enum
{
  FIELD_LEARNED,
  FIELD_ANALYTIC,
  FIELD_DIFFERENCE,
  FIELD_OFF,
} FieldMode;

typedef struct
{
  guint index;           /* into the sampler titles; LIVE_SAMPLER for the live one */
  guint S, F;
  float *px, *py;        /* [F * S]: frame-major, so a frame is contiguous */
  float *t;              /* [F] noise level (sigma) of each frame */
  float *pix;            /* image data: [F * S * side * side] in [0, 1], else NULL */
  int *cls;              /* [S] requested class of each particle, or NULL */
  char *title;           /* figure title instead of the sampler's name, or NULL */
} Sampler;

typedef struct _LiveModel LiveModel;
typedef struct _LiveJob LiveJob;

struct _PsDiffusionView
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *root_box;
  GtkWidget *back_button;
  GtkWidget *play_button;
  GtkWidget *forward_button;
  GtkWidget *frame_scale;
  GtkAdjustment *frame_adjustment;
  GtkLabel *frame_label;
  GtkDropDown *sampler_dropdown;
  GtkCheckButton *compare_check;
  GtkDropDown *sampler2_dropdown;
  GtkDropDown *field_dropdown;
  GtkLabel *info_label;
  GtkWidget *export_frames_button;
  GtkWidget *area_a;
  GtkWidget *area_b;
  GtkWidget *strip_area;
  GtkWidget *live_box;
  GtkWidget *guidance_scale;
  GtkAdjustment *guidance_adjustment;
  GtkLabel *live_label;

  /* Owned. */
  Sampler samplers[N_SAMPLERS + 1];
  guint n_samplers;
  guint shown, shown2;          /* indices into samplers[] */
  guint frame;
  gsize n_points;
  float *points_x, *points_y;   /* data, drawn faint */
  guint8 *halluc;               /* [halluc_n] or NULL */
  guint halluc_n;
  guint n_halluc;
  guint field_k, field_g;
  float *field, *field_analytic, *field_t; /* [K, G, G, 2], [K] */
  float extent[4];
  float *grid_x, *grid_y;       /* [G * G] arrow anchors */
  FieldMode field_modes[4];
  guint n_field_modes;
  double range[4];              /* fixed view: xmin, xmax, ymin, ymax */
  float *images;                /* [M, h, w], scaled to [0, 1] */
  guint n_images, img_h, img_w;
  guint side;                   /* image trajectories: x_t is a side x side image */

  guint tick_id;
  gint64 play_start_us;
  guint play_start_frame;
  guint export_idle;
  guint export_next;
  char *export_dir;
  gboolean updating;

  /* Live guidance (ps-diffusion-live.c). */
  char *live_store_path;        /* the run whose model resamples, set by set_run */
  gint64 live_run;
  gboolean live_explicit;        /* set_run was called: no window lookup */
  LiveModel *live_model;        /* reloaded from the run's checkpoint */
  GCancellable *live_cancel;    /* cancelled when the run changes or the view goes */
  LiveJob *live_job;            /* the sampling job running, or NULL */
  gboolean live_pending;        /* the slider moved while a job ran */
  float *live_noise;            /* [live_n, 2], the same starting noise every time */
  int *live_cls;                /* [live_n] */
  int live_n;
  Sampler live;                 /* the last result, kept across snapshots of the run */
  guint live_results;
  double live_last_ms;
  gboolean live_updating;
};

/* ps-diffusion-view.c */
PsFigure *ps_diffusion_view_frame_figure (PsDiffusionView *self, const Sampler *s, guint f);
void      ps_diffusion_view_redraw       (PsDiffusionView *self);
void      ps_diffusion_sampler_clear     (Sampler *s);
/* Re-lists samplers[] in both drop-downs and shows `select` (an index). */
void      ps_diffusion_view_list_samplers (PsDiffusionView *self, guint select);

/* ps-diffusion-export.c */
void      ps_diffusion_export_clicked_cb (PsDiffusionView *self);

/* ps-diffusion-live.c */
void      ps_diffusion_live_class_init (GtkWidgetClass *widget_class);
/* After a snapshot was shown: offers the slider when the run is a
 * finished class-conditional 2-D run, loading its model once. */
void      ps_diffusion_live_snapshot_shown (PsDiffusionView *self);
/* Cancels any work and frees the live state (dispose, run change). */
void      ps_diffusion_live_stop (PsDiffusionView *self);
void      ps_diffusion_live_guidance_changed_cb (PsDiffusionView *self);

G_END_DECLS
