/* ps-diffusion-view.h: the diffusion view of one run.
 *
 * For snapshots with `trajectory` f32 [S, F, 2] and `trajectory_t` [F]:
 * the particles move from noise to data (play / pause through a tick
 * callback, step buttons, a scrubber over the frames) over the data
 * `points` drawn faint; the score field (`score_field` [K, G, G, 2] over
 * `field_extent`) as arrows at the stored noise level nearest the frame's,
 * learned, analytic (`score_field_analytic`) or their difference; a choice
 * of sampler (`trajectory<sfx>` for "", "_ddim", "_euler", "_heun") or two
 * side by side on the same noise; the top 10% of `scores` when they are
 * `halluc_x0_var` highlighted with their paths; the predicted-x0 strip of
 * `images` [M, 8, 8].  Every frame's particle coordinates are gathered
 * once when the snapshot is set, so a frame only builds a small figure.
 *
 * For a finished class-conditional 2-D run (ddpm with conditioning, distill
 * with guided=true), a guidance slider resamples the run's model at a new
 * w on a worker thread (ps-diffusion-live.c); the result is listed as the
 * sampler "Guided (live)".
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-plot.h"

G_BEGIN_DECLS

#define PS_TYPE_DIFFUSION_VIEW (ps_diffusion_view_get_type ())
G_DECLARE_FINAL_TYPE (PsDiffusionView, ps_diffusion_view, PS, DIFFUSION_VIEW, GtkWidget)

GtkWidget *ps_diffusion_view_new          (void);
/* TRUE when a snapshot has a 2-D trajectory to animate. */
gboolean   ps_diffusion_view_supports     (GPtrArray *arrays);
/* Shows a snapshot (PsArray); FALSE (and cleared) when it has no 2-D
 * trajectory.  Stops playing and goes to frame 0. */
gboolean   ps_diffusion_view_set_snapshot (PsDiffusionView *self, GPtrArray *arrays);
void       ps_diffusion_view_clear        (PsDiffusionView *self);

/* Frames of the sampler shown (0 when empty). */
guint      ps_diffusion_view_get_n_frames (PsDiffusionView *self);
guint      ps_diffusion_view_get_frame    (PsDiffusionView *self);
void       ps_diffusion_view_set_frame    (PsDiffusionView *self, guint frame);
void       ps_diffusion_view_set_playing  (PsDiffusionView *self, gboolean playing);
gboolean   ps_diffusion_view_get_playing  (PsDiffusionView *self);
/* Picks a sampler by suffix ("", "_ddim", ...); FALSE when absent. */
gboolean   ps_diffusion_view_set_sampler  (PsDiffusionView *self, const char *suffix);
/* Shows a second sampler (`suffix`) beside the first, or only the first. */
void       ps_diffusion_view_set_side_by_side (PsDiffusionView *self, gboolean side,
                                               const char *suffix);
/* Samples flagged as hallucinated (top 10% of halluc_x0_var). */
guint      ps_diffusion_view_get_n_hallucinated (PsDiffusionView *self);
/* The frame label's text ("frame 3 / 20 · σ 0.42"), for tests. */
const char *ps_diffusion_view_get_frame_text (PsDiffusionView *self);
GtkRange  *ps_diffusion_view_get_scale    (PsDiffusionView *self);
GtkWidget *ps_diffusion_view_get_area     (PsDiffusionView *self);

/* The current frame of the (first) sampler as a figure (export), or NULL. */
PsFigure  *ps_diffusion_view_build_figure (PsDiffusionView *self);
/* Writes every frame as `dir`/frame-0000.png, ... (width x height px);
 * returns the number written through *n_written (may be NULL). */
gboolean   ps_diffusion_view_export_frames (PsDiffusionView *self, const char *dir,
                                            int width, int height, guint *n_written,
                                            GError **error);

/* The run whose checkpoint the guidance slider resamples (store file and
 * run id; NULL / 0: none).  Inside a PsWindow the view asks the window for
 * its current run when this was never called. */
void       ps_diffusion_view_set_run      (PsDiffusionView *self, const char *store_path,
                                           gint64 run_id);
/* TRUE once the run's model is loaded and the slider shown. */
gboolean   ps_diffusion_view_get_live_ready (PsDiffusionView *self);
/* Results of resampling received so far (each emits "live-resampled"). */
guint      ps_diffusion_view_get_live_results (PsDiffusionView *self);
/* TRUE while a resampling job runs. */
gboolean   ps_diffusion_view_get_live_busy (PsDiffusionView *self);
/* Milliseconds the last resampling took on its worker thread. */
double     ps_diffusion_view_get_live_ms  (PsDiffusionView *self);
GtkRange  *ps_diffusion_view_get_guidance_scale (PsDiffusionView *self);
/* The last resampled particles at the end of sampling, [n, 2] (g_free). */
float     *ps_diffusion_view_dup_live_samples (PsDiffusionView *self, guint *n);

G_END_DECLS
