/* ps-diffusion-view.c: diffusion trajectories animated from noise to data. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-diffusion-view-private.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "ps-application.h"
#include "ps-base.h"
#include "ps-scatter-data.h"

/* Playing runs through any sampler in about this many seconds. */
#define PLAY_SECONDS 4.0
#define HALLUC_SHARE 0.10

static const char *const sampler_suffixes[] = { "", "_ddim", "_euler", "_heun" };
static const char *const sampler_titles[] = { "DDPM", "DDIM", "ODE Euler", "ODE Heun", "Guided (live)" };

G_DEFINE_FINAL_TYPE (PsDiffusionView, ps_diffusion_view, GTK_TYPE_WIDGET)

void
ps_diffusion_sampler_clear (Sampler *s)
{
  g_clear_pointer (&s->cls, g_free);
  g_clear_pointer (&s->title, g_free);
  g_clear_pointer (&s->px, g_free);
  g_clear_pointer (&s->pix, g_free);
  g_clear_pointer (&s->py, g_free);
  g_clear_pointer (&s->t, g_free);
  s->S = s->F = 0;
}

/* Frame of sampler `s` at the noise level nearest (in log sigma) to that
 * of frame `f` of the shown sampler: samplers take different numbers of
 * steps on different time grids, and side by side they should show the
 * same moment of the denoising. */
static guint
matching_frame (PsDiffusionView *self, const Sampler *s, guint f)
{
  const Sampler *a = &self->samplers[self->shown];
  if (a->F == 0 || s->F <= 1)
    return 0;
  double target = log (MAX (a->t[MIN (f, a->F - 1)], 1e-6));
  guint best = 0;
  double best_d = INFINITY;
  for (guint i = 0; i < s->F; i++)
    {
      double d = fabs (log (MAX (s->t[i], 1e-6)) - target);
      /* Ties (e.g. sigma 0 at the end) go to the later frame. */
      if (d <= best_d)
        {
          best_d = d;
          best = i;
        }
    }
  return best;
}

/* ---- Figures -------------------------------------------------------------- */

/* Particles of a class-conditional sampler, one colour per requested class. */
static void
add_class_particles (PsFigure *fig, const Sampler *s, const float *x, const float *y)
{
  int C = 0;
  for (guint i = 0; i < s->S; i++)
    C = MAX (C, s->cls[i] + 1);
  g_autofree float *cx = g_new (float, s->S);
  g_autofree float *cy = g_new (float, s->S);
  for (int c = 0; c < C; c++)
    {
      gsize m = 0;
      for (guint i = 0; i < s->S; i++)
        if (s->cls[i] == c)
          {
            cx[m] = x[i];
            cy[m] = y[i];
            m++;
          }
      PsScatterSpec spec = { .x = cx, .y = cy, .n = m, .color = ps_palette_color (c),
                             .radius = 2.5, .alpha = 0.85 };
      if (m > 0)
        ps_figure_add_scatter (fig, &spec);
    }
}

static guint
nearest_level (PsDiffusionView *self, double sigma)
{
  guint best = 0;
  double best_d = INFINITY;
  for (guint k = 0; k < self->field_k; k++)
    {
      double d = fabs (log (MAX (sigma, 1e-6)) - log (MAX (self->field_t[k], 1e-6)));
      if (d < best_d)
        {
          best_d = d;
          best = k;
        }
    }
  return best;
}

static FieldMode
current_field_mode (PsDiffusionView *self)
{
  guint i = gtk_drop_down_get_selected (self->field_dropdown);
  return i < self->n_field_modes ? self->field_modes[i] : FIELD_OFF;
}

PsFigure *
ps_diffusion_view_frame_figure (PsDiffusionView *self, const Sampler *s, guint f)
{
  if (s->F == 0)
    return NULL;
  f = MIN (f, s->F - 1);

  PsFigure *fig = ps_figure_new ();
  g_autofree char *title = g_strdup_printf ("%s · frame %u / %u · σ %.3g",
                                            s->title ? s->title : sampler_titles[s->index], f,
                                            s->F - 1, s->t[f]);
  ps_figure_set_theme (fig, ps_current_theme ());
  ps_figure_set_title (fig, title);

  /* Image data (digits): the samples themselves, x_t at this frame. */
  if (s->pix != NULL)
    {
      guint n = MIN (s->S, 32);
      gsize d = (gsize) self->side * self->side;
      g_autofree const char **captions = g_new0 (const char *, n);
      for (guint i = 0; i < n; i++)
        captions[i] = self->halluc && i < self->halluc_n && self->halluc[i] ? "hallucinated" : "";
      ps_figure_add_image_grid (fig, s->pix + (gsize) f * s->S * d, n, self->side, self->side, 8,
                                captions, NULL);
      return fig;
    }
  ps_figure_set_x_range (fig, self->range[0], self->range[1]);
  ps_figure_set_y_range (fig, self->range[2], self->range[3]);
  ps_figure_set_equal_aspect (fig, TRUE);

  if (self->n_points > 0)
    {
      PsScatterSpec data = { .x = self->points_x, .y = self->points_y, .n = self->n_points,
                             .color = { 0.55, 0.55, 0.6, 1 }, .alpha = 0.18, .radius = 2.0 };
      ps_figure_add_scatter (fig, &data);
    }

  FieldMode mode = current_field_mode (self);
  if (self->field != NULL && mode != FIELD_OFF)
    {
      guint k = nearest_level (self, s->t[f]);
      gsize gg = (gsize) self->field_g * self->field_g;
      const float *learned = self->field + k * gg * 2;
      const float *analytic = self->field_analytic ? self->field_analytic + k * gg * 2 : NULL;
      g_autofree float *u = g_new (float, gg);
      g_autofree float *v = g_new (float, gg);
      g_autofree float *ax = g_new (float, gg);
      g_autofree float *ay = g_new (float, gg);
      /* Every other cell of a fine grid: arrows stay readable. */
      guint step = self->field_g > 16 ? 2 : 1;
      gsize m = 0;
      for (guint gi = 0; gi < self->field_g; gi += step)
        for (guint gj = 0; gj < self->field_g; gj += step)
          {
            gsize i = (gsize) gi * self->field_g + gj;
            float lu = learned[2 * i], lv = learned[2 * i + 1];
            float au = analytic ? analytic[2 * i] : 0, av = analytic ? analytic[2 * i + 1] : 0;
            u[m] = mode == FIELD_LEARNED ? lu : mode == FIELD_ANALYTIC ? au : lu - au;
            v[m] = mode == FIELD_LEARNED ? lv : mode == FIELD_ANALYTIC ? av : lv - av;
            ax[m] = self->grid_x[i];
            ay[m] = self->grid_y[i];
            m++;
          }
      PsColor c = mode == FIELD_DIFFERENCE ? (PsColor) { 0.8, 0.3, 0.1, 0.6 }
                                           : (PsColor) { 0.3, 0.4, 0.6, 0.45 };
      ps_figure_add_quiver (fig, ax, ay, u, v, m, 0, c);
    }

  const float *x = s->px + (gsize) f * s->S, *y = s->py + (gsize) f * s->S;
  PsScatterSpec particles = { .x = x, .y = y, .n = s->S, .color = ps_palette_color (0),
                              .radius = 3.0, .alpha = 0.9 };
  if (s->cls == NULL)
    ps_figure_add_scatter (fig, &particles);
  else
    add_class_particles (fig, s, x, y);

  /* Hallucination scores belong to the DDPM samples; every sampler starts
   * from the same noise, so sample i is the same particle in each. */
  if (self->halluc != NULL && self->n_halluc > 0 && s->S == self->halluc_n
      && s->index != LIVE_SAMPLER)
    {
      /* A trailing tail of each path: whole ancestral (DDPM) paths over
       * 20 samples are a tangle. */
      guint tail = MAX (s->F / 4, 5), t0 = f + 1 > tail ? f + 1 - tail : 0;
      guint T = f + 1 - t0, h = 0;
      g_autofree float *xy = g_new (float, (gsize) self->n_halluc * T * 2);
      g_autofree float *hx = g_new (float, self->n_halluc);
      g_autofree float *hy = g_new (float, self->n_halluc);
      for (guint i = 0; i < s->S; i++)
        {
          if (!self->halluc[i])
            continue;
          for (guint t = 0; t < T; t++)
            {
              xy[((gsize) h * T + t) * 2] = s->px[(gsize) (t0 + t) * s->S + i];
              xy[((gsize) h * T + t) * 2 + 1] = s->py[(gsize) (t0 + t) * s->S + i];
            }
          hx[h] = x[i];
          hy[h] = y[i];
          h++;
        }
      PsColor red = { 0.85, 0.1, 0.1, 1 };
      if (T > 1)
        ps_figure_add_trajectories (fig, xy, h, T, NULL, red, 0.05);
      PsScatterSpec flagged = { .x = hx, .y = hy, .n = h, .color = red, .radius = 4.5, .alpha = 1 };
      ps_figure_add_scatter (fig, &flagged);
    }
  return fig;
}

static PsFigure *
strip_figure (PsDiffusionView *self)
{
  if (self->images == NULL)
    return NULL;
  PsFigure *fig = ps_figure_new ();
  ps_figure_set_theme (fig, ps_current_theme ());
  ps_figure_set_title (fig, "Predicted x0 along DDPM paths (one row per sample)");
  ps_figure_add_image_grid (fig, self->images, self->n_images, self->img_w, self->img_h,
                            MIN (self->n_images, 10), NULL, NULL);
  return fig;
}

static void
draw_figure (cairo_t *cr, PsFigure *fig, int width, int height)
{
  if (fig == NULL)
    return;
  ps_figure_get_theme (fig)->background.a = 0;
  ps_figure_render (fig, cr, width, height);
  ps_figure_free (fig);
}

static void
draw_a (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  PsDiffusionView *self = data;
  if (self->n_samplers > 0)
    draw_figure (cr, ps_diffusion_view_frame_figure (self, &self->samplers[self->shown], self->frame),
                 width, height);
}

static void
draw_b (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  PsDiffusionView *self = data;
  if (self->n_samplers > 0)
    {
      Sampler *b = &self->samplers[self->shown2];
      draw_figure (cr, ps_diffusion_view_frame_figure (self, b, matching_frame (self, b, self->frame)),
                   width, height);
    }
}

static void
draw_strip (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  draw_figure (cr, strip_figure (data), width, height);
}

/* ---- Frames and playback ---------------------------------------------------- */

void
ps_diffusion_view_redraw (PsDiffusionView *self)
{
  gtk_widget_queue_draw (self->area_a);
  if (gtk_widget_get_visible (self->area_b))
    gtk_widget_queue_draw (self->area_b);
}

static void
update_frame_label (PsDiffusionView *self)
{
  char buf[128] = "";
  if (self->n_samplers > 0)
    {
      const Sampler *s = &self->samplers[self->shown];
      g_snprintf (buf, sizeof buf, "frame %u / %u · σ %.3g", self->frame, s->F - 1,
                  s->t[MIN (self->frame, s->F - 1)]);
    }
  gtk_label_set_label (self->frame_label, buf);
}

static void
frame_changed_cb (PsDiffusionView *self)
{
  guint f = (guint) lround (MAX (gtk_adjustment_get_value (self->frame_adjustment), 0));
  if (f == self->frame && !self->updating)
    return;
  self->frame = f;
  update_frame_label (self);
  ps_diffusion_view_redraw (self);
}

void
ps_diffusion_view_set_frame (PsDiffusionView *self, guint frame)
{
  g_return_if_fail (PS_IS_DIFFUSION_VIEW (self));
  guint n = ps_diffusion_view_get_n_frames (self);
  gtk_adjustment_set_value (self->frame_adjustment, n ? MIN (frame, n - 1) : 0);
}

guint
ps_diffusion_view_get_frame (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), 0);
  return self->frame;
}

guint
ps_diffusion_view_get_n_frames (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), 0);
  return self->n_samplers ? self->samplers[self->shown].F : 0;
}

static gboolean
tick_cb (GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  PsDiffusionView *self = PS_DIFFUSION_VIEW (widget);
  guint n = ps_diffusion_view_get_n_frames (self);
  gint64 now = gdk_frame_clock_get_frame_time (clock);

  if (n == 0)
    {
      self->tick_id = 0;
      ps_diffusion_view_set_playing (self, FALSE);
      return G_SOURCE_REMOVE;
    }
  if (self->play_start_us == 0)
    self->play_start_us = now;
  double fps = MAX (n / PLAY_SECONDS, 5.0);
  guint f = self->play_start_frame + (guint) ((now - self->play_start_us) / 1e6 * fps);
  ps_diffusion_view_set_frame (self, MIN (f, n - 1));
  if (f >= n - 1)
    {
      self->tick_id = 0;
      ps_diffusion_view_set_playing (self, FALSE);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

void
ps_diffusion_view_set_playing (PsDiffusionView *self, gboolean playing)
{
  g_return_if_fail (PS_IS_DIFFUSION_VIEW (self));
  guint n = ps_diffusion_view_get_n_frames (self);

  if (playing && n > 1 && self->tick_id == 0)
    {
      /* Playing from the last frame starts over. */
      if (self->frame >= n - 1)
        ps_diffusion_view_set_frame (self, 0);
      self->play_start_frame = self->frame;
      self->play_start_us = 0;
      self->tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (self), tick_cb, NULL, NULL);
    }
  else if (!playing && self->tick_id != 0)
    {
      gtk_widget_remove_tick_callback (GTK_WIDGET (self), self->tick_id);
      self->tick_id = 0;
    }
  gtk_button_set_icon_name (GTK_BUTTON (self->play_button),
                            self->tick_id ? "media-playback-pause-symbolic"
                                          : "media-playback-start-symbolic");
}

gboolean
ps_diffusion_view_get_playing (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), FALSE);
  return self->tick_id != 0;
}

static void
play_clicked_cb (PsDiffusionView *self)
{
  ps_diffusion_view_set_playing (self, self->tick_id == 0);
}

static void
back_clicked_cb (PsDiffusionView *self)
{
  ps_diffusion_view_set_playing (self, FALSE);
  if (self->frame > 0)
    ps_diffusion_view_set_frame (self, self->frame - 1);
}

static void
forward_clicked_cb (PsDiffusionView *self)
{
  ps_diffusion_view_set_playing (self, FALSE);
  ps_diffusion_view_set_frame (self, self->frame + 1);
}

/* ---- Samplers and field ------------------------------------------------------ */

static void
samplers_changed (PsDiffusionView *self)
{
  guint a = gtk_drop_down_get_selected (self->sampler_dropdown);
  guint b = gtk_drop_down_get_selected (self->sampler2_dropdown);
  gboolean side = gtk_check_button_get_active (self->compare_check);

  if (self->n_samplers == 0)
    return;
  /* Keep the same share of the path when the sampler changes. */
  double share = ps_diffusion_view_get_n_frames (self) > 1
                     ? (double) self->frame / (ps_diffusion_view_get_n_frames (self) - 1)
                     : 0;
  self->shown = a < self->n_samplers ? a : 0;
  self->shown2 = b < self->n_samplers ? b : 0;
  guint n = self->samplers[self->shown].F;
  self->updating = TRUE;
  gtk_adjustment_configure (self->frame_adjustment, lround (share * (n - 1)), 0, n - 1, 1, 10, 0);
  frame_changed_cb (self);
  self->updating = FALSE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->sampler2_dropdown), side);
  gtk_widget_set_visible (self->area_b, side && self->n_samplers > 1);
  ps_diffusion_view_redraw (self);
}

void
ps_diffusion_view_list_samplers (PsDiffusionView *self, guint select)
{
  g_autoptr (GtkStringList) names = gtk_string_list_new (NULL);
  for (guint i = 0; i < self->n_samplers; i++)
    gtk_string_list_append (names, sampler_titles[self->samplers[i].index]);
  guint second = gtk_drop_down_get_selected (self->sampler2_dropdown);
  self->updating = TRUE;
  gtk_drop_down_set_model (self->sampler_dropdown, G_LIST_MODEL (names));
  gtk_drop_down_set_model (self->sampler2_dropdown, G_LIST_MODEL (names));
  gtk_drop_down_set_selected (self->sampler_dropdown, MIN (select, self->n_samplers - 1));
  gtk_drop_down_set_selected (self->sampler2_dropdown,
                              second < self->n_samplers && second != select
                                  ? second : MIN (select == 0 ? 1 : 0, self->n_samplers - 1));
  self->updating = FALSE;
  samplers_changed (self);
}

gboolean
ps_diffusion_view_set_sampler (PsDiffusionView *self, const char *suffix)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), FALSE);
  for (guint i = 0; i < self->n_samplers; i++)
    if (self->samplers[i].index < N_SAMPLERS
        && strcmp (sampler_suffixes[self->samplers[i].index], suffix) == 0)
      {
        gtk_drop_down_set_selected (self->sampler_dropdown, i);
        return TRUE;
      }
  return FALSE;
}

void
ps_diffusion_view_set_side_by_side (PsDiffusionView *self, gboolean side, const char *suffix)
{
  g_return_if_fail (PS_IS_DIFFUSION_VIEW (self));
  for (guint i = 0; suffix && i < self->n_samplers; i++)
    if (self->samplers[i].index < N_SAMPLERS
        && strcmp (sampler_suffixes[self->samplers[i].index], suffix) == 0)
      gtk_drop_down_set_selected (self->sampler2_dropdown, i);
  gtk_check_button_set_active (self->compare_check, side);
}

/* ---- Snapshot ---------------------------------------------------------------- */

static float *
copy_f32_shaped (GPtrArray *arrays, const char *kind, guint ndim, const gsize *shape)
{
  PsArray *a = ps_snapshot_find (arrays, kind);
  if (a == NULL || a->dtype != PS_DTYPE_F32 || a->ndim != ndim)
    return NULL;
  for (guint i = 0; i < ndim; i++)
    if (shape[i] != 0 && a->shape[i] != shape[i])
      return NULL;
  gsize bytes;
  gconstpointer data = ps_array_data (a, &bytes);
  return g_memdup2 (data, bytes);
}

gboolean
ps_diffusion_view_supports (GPtrArray *arrays)
{
  if (arrays == NULL)
    return FALSE;
  PsArray *t = ps_snapshot_find (arrays, "trajectory");
  PsArray *tt = ps_snapshot_find (arrays, "trajectory_t");
  guint side = t && t->ndim == 3 ? (guint) lround (sqrt ((double) t->shape[2])) : 0;
  return t != NULL && tt != NULL && t->dtype == PS_DTYPE_F32 && t->ndim == 3
         && (t->shape[2] == 2 || (side >= 2 && (gsize) side * side == t->shape[2]))
         && t->shape[0] > 0 && t->shape[1] > 0 && ps_array_n_elements (tt) == t->shape[1];
}

void
ps_diffusion_view_clear (PsDiffusionView *self)
{
  g_return_if_fail (PS_IS_DIFFUSION_VIEW (self));

  ps_diffusion_view_set_playing (self, FALSE);
  g_clear_handle_id (&self->export_idle, g_source_remove);
  for (guint i = 0; i <= N_SAMPLERS; i++)
    ps_diffusion_sampler_clear (&self->samplers[i]);
  self->n_samplers = self->shown = self->shown2 = self->frame = 0;
  g_clear_pointer (&self->points_x, g_free);
  g_clear_pointer (&self->points_y, g_free);
  self->n_points = 0;
  g_clear_pointer (&self->halluc, g_free);
  self->n_halluc = self->halluc_n = 0;
  g_clear_pointer (&self->field, g_free);
  g_clear_pointer (&self->field_analytic, g_free);
  g_clear_pointer (&self->field_t, g_free);
  g_clear_pointer (&self->grid_x, g_free);
  g_clear_pointer (&self->grid_y, g_free);
  self->field_k = self->field_g = 0;
  g_clear_pointer (&self->images, g_free);
  self->n_images = 0;
  self->updating = TRUE;
  gtk_drop_down_set_model (self->sampler_dropdown, NULL);
  gtk_drop_down_set_model (self->sampler2_dropdown, NULL);
  gtk_drop_down_set_model (self->field_dropdown, NULL);
  gtk_adjustment_configure (self->frame_adjustment, 0, 0, 1, 1, 10, 0);
  self->updating = FALSE;
  gtk_label_set_label (self->frame_label, "");
  gtk_label_set_label (self->info_label, "");
  gtk_widget_set_visible (self->strip_area, FALSE);
  ps_diffusion_view_redraw (self);
}

static int
cmp_float (gconstpointer a, gconstpointer b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

static void
grow_range (double *r, float x, float y)
{
  if (!isfinite (x) || !isfinite (y))
    return;
  r[0] = MIN (r[0], x);
  r[1] = MAX (r[1], x);
  r[2] = MIN (r[2], y);
  r[3] = MAX (r[3], y);
}

static void
load_halluc (PsDiffusionView *self, GPtrArray *arrays)
{
  PsArray *na = ps_snapshot_find (arrays, "score_name");
  PsArray *sa = ps_snapshot_find (arrays, "scores");
  gsize len = 0;
  const char *name = na && na->dtype == PS_DTYPE_U8 ? ps_array_data (na, &len) : NULL;

  if (name == NULL || sa == NULL || len != strlen ("halluc_x0_var")
      || memcmp (name, "halluc_x0_var", len) != 0)
    return;
  gsize n = ps_array_n_elements (sa);
  g_autofree float *scores = ps_snapshot_copy_f32 (sa, n);
  g_autofree float *sorted = g_memdup2 (scores, n * sizeof (float));
  if (scores == NULL || n == 0)
    return;
  /* The cut is the score of the row at the 90th percentile; ties at the cut
   * are all flagged. */
  for (gsize i = 1; i < n; i++)
    for (gsize j = i; j > 0 && sorted[j - 1] > sorted[j]; j--)
      {
        float tmp = sorted[j];
        sorted[j] = sorted[j - 1];
        sorted[j - 1] = tmp;
      }
  gsize top = MAX ((gsize) ceil (HALLUC_SHARE * n), 1);
  float cut = sorted[n - top];
  self->halluc = g_new0 (guint8, n);
  self->halluc_n = n;
  for (gsize i = 0; i < n; i++)
    if (scores[i] >= cut)
      {
        self->halluc[i] = 1;
        self->n_halluc++;
      }
}

gboolean
ps_diffusion_view_set_snapshot (PsDiffusionView *self, GPtrArray *arrays)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), FALSE);

  ps_diffusion_view_clear (self);
  if (!ps_diffusion_view_supports (arrays))
    {
      /* Hides the slider (and lets go of another run's model). */
      ps_diffusion_live_snapshot_shown (self);
      return FALSE;
    }

  double *r = self->range;
  r[0] = r[2] = INFINITY;
  r[1] = r[3] = -INFINITY;

  gsize D = ps_snapshot_find (arrays, "trajectory")->shape[2];
  self->side = D == 2 ? 0 : (guint) lround (sqrt ((double) D));
  for (guint i = 0; i < N_SAMPLERS; i++)
    {
      g_autofree char *kind = g_strdup_printf ("trajectory%s", sampler_suffixes[i]);
      g_autofree char *tkind = g_strdup_printf ("trajectory%s_t", sampler_suffixes[i]);
      PsArray *a = ps_snapshot_find (arrays, kind);
      PsArray *t = ps_snapshot_find (arrays, tkind);
      if (a == NULL || t == NULL || a->dtype != PS_DTYPE_F32 || a->ndim != 3 || a->shape[2] != D
          || ps_array_n_elements (t) != a->shape[1] || a->shape[0] == 0 || a->shape[1] == 0)
        continue;
      Sampler *s = &self->samplers[self->n_samplers++];
      const float *xy = ps_array_data (a, NULL);
      s->index = i;
      s->S = a->shape[0];
      s->F = a->shape[1];
      s->t = ps_snapshot_copy_f32 (t, s->F);
      if (D != 2)
        {
          /* Frame-major images, scaled by the range of the final samples
           * (noisier frames saturate, as noise should look). */
          float lo = INFINITY, hi = -INFINITY;
          for (guint p = 0; p < s->S; p++)
            for (gsize d = 0; d < D; d++)
              {
                float v = xy[((gsize) p * s->F + s->F - 1) * D + d];
                if (isfinite (v))
                  {
                    lo = MIN (lo, v);
                    hi = MAX (hi, v);
                  }
              }
          if (!(hi > lo))
            {
              lo = 0;
              hi = 1;
            }
          s->pix = g_new (float, (gsize) s->S * s->F * D);
          for (guint p = 0; p < s->S; p++)
            for (guint f = 0; f < s->F; f++)
              for (gsize d = 0; d < D; d++)
                {
                  float v = (xy[((gsize) p * s->F + f) * D + d] - lo) / (hi - lo);
                  s->pix[((gsize) f * s->S + p) * D + d] = isfinite (v) ? CLAMP (v, 0, 1) : 0;
                }
          continue;
        }
      s->px = g_new (float, (gsize) s->S * s->F);
      s->py = g_new (float, (gsize) s->S * s->F);
      for (guint p = 0; p < s->S; p++)
        for (guint f = 0; f < s->F; f++)
          {
            const float *q = xy + ((gsize) p * s->F + f) * 2;
            s->px[(gsize) f * s->S + p] = q[0];
            s->py[(gsize) f * s->S + p] = q[1];
          }
    }

  PsArray *pts = ps_snapshot_find (arrays, "points");
  if (pts && pts->dtype == PS_DTYPE_F32 && pts->ndim == 2 && pts->shape[1] == 2)
    {
      const float *p = ps_array_data (pts, NULL);
      self->n_points = pts->shape[0];
      self->points_x = g_new (float, self->n_points);
      self->points_y = g_new (float, self->n_points);
      for (gsize i = 0; i < self->n_points; i++)
        {
          self->points_x[i] = p[2 * i];
          self->points_y[i] = p[2 * i + 1];
          grow_range (r, p[2 * i], p[2 * i + 1]);
        }
    }

  /* The score field at K noise levels on a G x G grid of cell centres. */
  PsArray *fa = ps_snapshot_find (arrays, "score_field");
  PsArray *ext = ps_snapshot_find (arrays, "field_extent");
  if (fa && ext && fa->ndim == 4 && fa->shape[1] == fa->shape[2] && fa->shape[3] == 2
      && ps_array_n_elements (ext) == 4)
    {
      gsize shape[4] = { fa->shape[0], fa->shape[1], fa->shape[2], 2 };
      gsize kshape[1] = { fa->shape[0] };
      self->field = copy_f32_shaped (arrays, "score_field", 4, shape);
      self->field_analytic = copy_f32_shaped (arrays, "score_field_analytic", 4, shape);
      self->field_t = copy_f32_shaped (arrays, "score_field_t", 1, kshape);
      g_autofree float *e = ps_snapshot_copy_f32 (ext, 4);
      if (self->field && self->field_t && e)
        {
          guint G = fa->shape[1];
          self->field_k = fa->shape[0];
          self->field_g = G;
          memcpy (self->extent, e, sizeof self->extent);
          self->grid_x = g_new (float, (gsize) G * G);
          self->grid_y = g_new (float, (gsize) G * G);
          for (guint i = 0; i < G; i++)
            for (guint j = 0; j < G; j++)
              {
                self->grid_x[i * G + j] = e[0] + (e[1] - e[0]) * (j + 0.5f) / G;
                self->grid_y[i * G + j] = e[2] + (e[3] - e[2]) * (i + 0.5f) / G;
              }
          grow_range (r, e[0], e[2]);
          grow_range (r, e[1], e[3]);
        }
      else
        {
          g_clear_pointer (&self->field, g_free);
          g_clear_pointer (&self->field_analytic, g_free);
          g_clear_pointer (&self->field_t, g_free);
        }
    }
  g_autoptr (GtkStringList) modes = gtk_string_list_new (NULL);
  self->n_field_modes = 0;
  if (self->field)
    {
      self->field_modes[self->n_field_modes++] = FIELD_LEARNED;
      gtk_string_list_append (modes, "learned");
      if (self->field_analytic)
        {
          self->field_modes[self->n_field_modes++] = FIELD_ANALYTIC;
          gtk_string_list_append (modes, "analytic");
          self->field_modes[self->n_field_modes++] = FIELD_DIFFERENCE;
          gtk_string_list_append (modes, "learned − analytic");
        }
    }
  self->field_modes[self->n_field_modes++] = FIELD_OFF;
  gtk_string_list_append (modes, "off");

  PsArray *im = ps_snapshot_find (arrays, "images");
  if (im && im->dtype == PS_DTYPE_F32 && im->ndim == 3 && im->shape[0] > 0)
    {
      gsize n = ps_array_n_elements (im);
      const float *p = ps_array_data (im, NULL);
      float lo = INFINITY, hi = -INFINITY;
      for (gsize i = 0; i < n; i++)
        if (isfinite (p[i]))
          {
            lo = MIN (lo, p[i]);
            hi = MAX (hi, p[i]);
          }
      self->n_images = im->shape[0];
      self->img_h = im->shape[1];
      self->img_w = im->shape[2];
      self->images = g_new (float, n);
      /* Predicted x0 may leave the data's range: scale to [0, 1] for display. */
      for (gsize i = 0; i < n; i++)
        self->images[i] = hi > lo && isfinite (p[i]) ? (p[i] - lo) / (hi - lo) : 0;
    }
  gtk_widget_set_visible (self->strip_area, self->images != NULL);

  load_halluc (self, arrays);

  /* The view covers the data, the field and the central 96% of the
   * particle positions over all frames: a few particles that fly far off
   * (an undertrained model) would otherwise shrink everything else to a
   * dot.  Those few are clipped at the edge. */
  for (int axis = 0; axis < 2; axis++)
    {
      g_autoptr (GArray) v = g_array_new (FALSE, FALSE, sizeof (float));
      for (guint i = 0; i < self->n_samplers; i++)
        {
          const Sampler *s = &self->samplers[i];
          const float *c = axis == 0 ? s->px : s->py;
          if (c == NULL)
            continue;
          gsize total = (gsize) s->S * s->F, stride = MAX (total / 50000, 1);
          for (gsize j = 0; j < total; j += stride)
            if (isfinite (c[j]))
              g_array_append_val (v, c[j]);
        }
      if (v->len == 0)
        continue;
      g_array_sort (v, cmp_float);
      float lo = g_array_index (v, float, (gsize) (0.02 * (v->len - 1)));
      float hi = g_array_index (v, float, (gsize) (0.98 * (v->len - 1)));
      r[2 * axis] = MIN (r[2 * axis], lo);
      r[2 * axis + 1] = MAX (r[2 * axis + 1], hi);
    }
  if (!(r[1] > r[0]) || !(r[3] > r[2]))
    {
      r[0] = r[2] = -1;
      r[1] = r[3] = 1;
    }

  /* A margin so particles at the edge stay whole. */
  double mx = 0.04 * (r[1] - r[0]), my = 0.04 * (r[3] - r[2]);
  r[0] -= mx;
  r[1] += mx;
  r[2] -= my;
  r[3] += my;

  self->updating = TRUE;
  gtk_drop_down_set_model (self->field_dropdown, G_LIST_MODEL (modes));
  gtk_drop_down_set_selected (self->field_dropdown, 0);
  self->updating = FALSE;
  ps_diffusion_view_list_samplers (self, 0);
  ps_diffusion_view_set_frame (self, 0);

  g_autofree char *info = g_strdup_printf ("%u samples · %u samplers%s%s", self->samplers[0].S,
                                           self->n_samplers, self->n_halluc ? " · " : "",
                                           self->n_halluc ? "red: hallucinated (top 10% of the x0 variance)" : "");
  gtk_label_set_label (self->info_label, info);
  ps_diffusion_live_snapshot_shown (self);
  return TRUE;
}

guint
ps_diffusion_view_get_n_hallucinated (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), 0);
  return self->n_halluc;
}

const char *
ps_diffusion_view_get_frame_text (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), NULL);
  return gtk_label_get_label (self->frame_label);
}

GtkRange *
ps_diffusion_view_get_scale (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), NULL);
  return GTK_RANGE (self->frame_scale);
}

GtkWidget *
ps_diffusion_view_get_area (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), NULL);
  return self->area_a;
}

/* ---- GObject ------------------------------------------------------------------ */

static void
ps_diffusion_view_dispose (GObject *object)
{
  PsDiffusionView *self = PS_DIFFUSION_VIEW (object);

  if (self->tick_id)
    {
      gtk_widget_remove_tick_callback (GTK_WIDGET (self), self->tick_id);
      self->tick_id = 0;
    }
  g_clear_handle_id (&self->export_idle, g_source_remove);
  ps_diffusion_live_stop (self);
  gtk_widget_dispose_template (GTK_WIDGET (object), PS_TYPE_DIFFUSION_VIEW);
  G_OBJECT_CLASS (ps_diffusion_view_parent_class)->dispose (object);
}

static void
ps_diffusion_view_finalize (GObject *object)
{
  PsDiffusionView *self = PS_DIFFUSION_VIEW (object);

  for (guint i = 0; i <= N_SAMPLERS; i++)
    ps_diffusion_sampler_clear (&self->samplers[i]);
  ps_diffusion_sampler_clear (&self->live);
  g_free (self->points_x);
  g_free (self->points_y);
  g_free (self->halluc);
  g_free (self->field);
  g_free (self->field_analytic);
  g_free (self->field_t);
  g_free (self->grid_x);
  g_free (self->grid_y);
  g_free (self->images);
  g_free (self->export_dir);
  g_free (self->live_store_path);
  G_OBJECT_CLASS (ps_diffusion_view_parent_class)->finalize (object);
}

static void
dropdown_changed_cb (PsDiffusionView *self)
{
  if (!self->updating)
    samplers_changed (self);
}

static void
ps_diffusion_view_class_init (PsDiffusionViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_diffusion_view_dispose;
  object_class->finalize = ps_diffusion_view_finalize;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-diffusion-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, root_box);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, back_button);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, play_button);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, forward_button);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, frame_scale);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, frame_adjustment);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, frame_label);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, sampler_dropdown);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, compare_check);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, sampler2_dropdown);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, field_dropdown);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, info_label);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, export_frames_button);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, area_a);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, area_b);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, strip_area);
  gtk_widget_class_bind_template_callback (widget_class, back_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, play_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, forward_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, frame_changed_cb);
  gtk_widget_class_bind_template_callback_full (widget_class, "export_frames_clicked_cb",
                                                G_CALLBACK (ps_diffusion_export_clicked_cb));
  ps_diffusion_live_class_init (widget_class);
  gtk_widget_class_set_css_name (widget_class, "diffusionview");
}

static void
ps_diffusion_view_init (PsDiffusionView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->area_a), draw_a, self, NULL);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->area_b), draw_b, self, NULL);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->strip_area), draw_strip, self, NULL);
  g_signal_connect_swapped (self->sampler_dropdown, "notify::selected",
                            G_CALLBACK (dropdown_changed_cb), self);
  g_signal_connect_swapped (self->sampler2_dropdown, "notify::selected",
                            G_CALLBACK (dropdown_changed_cb), self);
  g_signal_connect_swapped (self->compare_check, "toggled", G_CALLBACK (dropdown_changed_cb), self);
  g_signal_connect_swapped (self->field_dropdown, "notify::selected",
                            G_CALLBACK (ps_diffusion_view_redraw), self);
}

GtkWidget *
ps_diffusion_view_new (void)
{
  return g_object_new (PS_TYPE_DIFFUSION_VIEW, NULL);
}
