/* ps-scatter-view.c: the embedding scatter widget. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-scatter-view.h"

#include <math.h>
#include <string.h>

#include "ps-application.h"
#include "ps-array.h"
#include "ps-base.h"
#include "ps-point-grid.h"
#include "ps-scatter-data.h"
#include "ps-scatter-view-private.h"

/* Pixels the pointer may be away from a point and still hover or pick it. */
#define PICK_RADIUS 8.0
/* A press that moves less than this is a click, not a drag. */
#define CLICK_SLOP 4.0
/* Points are rasterised again this long after the last pan step. */
#define PS_PAN_SETTLE_MS 120

enum
{
  SIGNAL_SELECTION_CHANGED,
  SIGNAL_VIEW_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (PsScatterView, ps_scatter_view, GTK_TYPE_WIDGET)

static void
invalidate (PsScatterView *self)
{
  self->dirty = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* "\nclass 3 (Dress)": a label line of the tooltip, named where the
 * dataset's class names are known. */
static void
append_class (PsScatterView *self, GString *s, const char *what, gint32 c)
{
  const char *name = self->class_names && c >= 0 && (guint) c < g_strv_length (self->class_names)
                         ? self->class_names[c] : NULL;
  g_autofree char *esc = name ? g_markup_escape_text (name, -1) : NULL;
  g_string_append_printf (s, "\n%s %d%s%s%s", what, c, esc ? " (" : "", esc ? esc : "", esc ? ")" : "");
}

static gboolean
settle_cb (gpointer data)
{
  PsScatterView *self = data;
  self->settle_id = 0;
  invalidate (self);
  return G_SOURCE_REMOVE;
}

/* The visible range moved by a pan: the next frame shifts the cached
 * points and redraws only the axes; the points are drawn again once the
 * pan has been still for a moment. */
static void
pan_invalidate (PsScatterView *self)
{
  self->panned = TRUE;
  if (self->settle_id)
    g_source_remove (self->settle_id);
  self->settle_id = g_timeout_add (PS_PAN_SETTLE_MS, settle_cb, self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* ---- Data ------------------------------------------------------------- */

static void
clear_data (PsScatterView *self)
{
  g_clear_pointer (&self->data, ps_scatter_data_free);
  self->n = 0;
  self->x = self->y = NULL;
  g_clear_pointer (&self->selected, g_free);
  g_clear_pointer (&self->grid, ps_point_grid_free);
  self->hover = -1;
}

static void
fit_range (PsScatterView *self)
{
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;

  for (gsize i = 0; i < self->n; i++)
    if (isfinite (self->x[i]) && isfinite (self->y[i]))
      {
        xmin = MIN (xmin, self->x[i]);
        xmax = MAX (xmax, self->x[i]);
        ymin = MIN (ymin, self->y[i]);
        ymax = MAX (ymax, self->y[i]);
      }
  if (!isfinite (xmin))
    {
      self->have_range = FALSE;
      return;
    }
  double mx = 0.06 * MAX (xmax - xmin, 1e-6), my = 0.06 * MAX (ymax - ymin, 1e-6);
  self->x0 = xmin - mx;
  self->x1 = xmax + mx;
  self->y0 = ymin - my;
  self->y1 = ymax + my;
  self->have_range = TRUE;
}

/* Takes `data`; keeps the selection when `keep_view` and the number of
 * points is unchanged. */
static void
set_data (PsScatterView *self, PsScatterData *data, gboolean keep_view)
{
  gsize old_n = self->n;
  g_autoptr (GArray) old_selection = g_array_copy (self->selection);
  gsize n = data->n;

  clear_data (self);
  self->data = data;
  self->n = n;
  self->x = data->x;
  self->y = data->y;
  self->grid = ps_point_grid_new (self->x, self->y, n);
  self->selected = g_new0 (guint8, n);
  if (keep_view && old_n == n)
    {
      for (guint i = 0; i < old_selection->len; i++)
        self->selected[g_array_index (old_selection, guint32, i)] = 1;
    }
  else
    {
      g_array_set_size (self->selection, 0);
      if (old_selection->len > 0)
        g_signal_emit (self, signals[SIGNAL_SELECTION_CHANGED], 0);
    }
  if (!keep_view || !self->have_range)
    fit_range (self);
  invalidate (self);
}

gboolean
ps_scatter_view_set_snapshot (PsScatterView *self, GPtrArray *arrays, gboolean keep_view,
                              GError **error)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), FALSE);
  g_return_val_if_fail (arrays != NULL, FALSE);

  PsScatterData *data = ps_scatter_data_new_from_snapshot (arrays, self->prefer_embedding, error);
  if (data == NULL)
    return FALSE;
  set_data (self, data, keep_view);
  return TRUE;
}

void
ps_scatter_view_set_layout (PsScatterView *self, const float *xy, gsize n, PsProjection projection,
                            gboolean fit)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));
  g_return_if_fail (xy != NULL);

  if (self->data == NULL || n != self->n)
    return;
  ps_scatter_data_set_layout (self->data, xy, projection);
  /* The hit-testing grid indexes the coordinates: rebuild it. */
  g_clear_pointer (&self->grid, ps_point_grid_free);
  self->grid = ps_point_grid_new (self->x, self->y, self->n);
  if (fit || !self->have_range)
    fit_range (self);
  invalidate (self);
}

PsProjection
ps_scatter_view_get_projection (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), PS_PROJECTION_NONE);
  return self->data ? self->data->projection : PS_PROJECTION_NONE;
}

const float *
ps_scatter_view_get_source (PsScatterView *self, gsize *d)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);
  if (d)
    *d = self->data ? self->data->d : 0;
  return self->data ? self->data->source : NULL;
}

const gint64 *
ps_scatter_view_get_sample_index (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);
  return self->data ? self->data->sample_index : NULL;
}

void
ps_scatter_view_set_prefer_embedding (PsScatterView *self, gboolean prefer)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));
  self->prefer_embedding = !!prefer;
}

void
ps_scatter_view_clear (PsScatterView *self)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  gboolean had_selection = self->selection->len > 0;
  clear_data (self);
  g_array_set_size (self->selection, 0);
  self->have_range = FALSE;
  ps_scatter_draw_clear_textures (self);
  invalidate (self);
  if (had_selection)
    g_signal_emit (self, signals[SIGNAL_SELECTION_CHANGED], 0);
}

void
ps_scatter_view_set_class_names (PsScatterView *self, const char * const *names)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  g_strfreev (self->class_names);
  self->class_names = g_strdupv ((char **) names);
  invalidate (self);
}

void
ps_scatter_view_set_color_by (PsScatterView *self, PsColorBy mode)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  if (self->color_by == mode)
    return;
  self->color_by = mode;
  invalidate (self);
}

PsColorBy
ps_scatter_view_get_color_by (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), PS_COLOR_BY_CLASS);
  return self->color_by;
}

gsize
ps_scatter_view_get_n_points (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), 0);
  return self->n;
}

const float *
ps_scatter_view_get_x (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);
  return self->x;
}

const float *
ps_scatter_view_get_y (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);
  return self->y;
}

gboolean
ps_scatter_view_is_projected (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), FALSE);
  return self->data != NULL && self->data->projection != PS_PROJECTION_NONE;
}

guint
ps_scatter_view_get_texture_builds (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), 0);
  return self->texture_builds;
}

/* ---- Selection ---------------------------------------------------------- */

static int
compare_u32 (gconstpointer a, gconstpointer b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;
  return x < y ? -1 : x > y;
}

void
ps_scatter_view_select (PsScatterView *self, const guint32 *indices, gsize n)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  if (self->selected)
    memset (self->selected, 0, self->n);
  g_array_set_size (self->selection, 0);
  for (gsize i = 0; i < n; i++)
    if (indices[i] < self->n && !self->selected[indices[i]])
      {
        self->selected[indices[i]] = 1;
        g_array_append_val (self->selection, indices[i]);
      }
  g_array_sort (self->selection, compare_u32);
  invalidate (self);
  g_signal_emit (self, signals[SIGNAL_SELECTION_CHANGED], 0);
}

const guint32 *
ps_scatter_view_get_selection (PsScatterView *self, gsize *n)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);

  if (n)
    *n = self->selection->len;
  return (const guint32 *) self->selection->data;
}

gssize
ps_scatter_view_select_at (PsScatterView *self, double x, double y)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), -1);

  if (self->grid == NULL || self->texture == NULL)
    return -1;
  gssize hit = ps_point_grid_nearest_pixel (self->grid, &self->view, x, y, PICK_RADIUS);
  if (hit >= 0)
    {
      guint32 idx = (guint32) hit;
      ps_scatter_view_select (self, &idx, 1);
    }
  else if (self->selection->len > 0)
    ps_scatter_view_select (self, NULL, 0);
  return hit;
}

/* ---- View changes ------------------------------------------------------- */

void
ps_scatter_view_zoom_fit (PsScatterView *self)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  fit_range (self);
  invalidate (self);
}

static void
zoom_about (PsScatterView *self, double factor, double cx, double cy)
{
  if (self->texture == NULL || !isfinite (factor) || factor <= 0)
    return;
  PsPlotView v = self->view;
  ps_plot_view_zoom (&v, factor, cx, cy);
  self->x0 = v.x0;
  self->x1 = v.x1;
  self->y0 = v.y0;
  self->y1 = v.y1;
  self->view = v;
  invalidate (self);
  g_signal_emit (self, signals[SIGNAL_VIEW_CHANGED], 0);
}

void
ps_scatter_view_pan (PsScatterView *self, double dx, double dy)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  if (!self->have_range || self->view.pw <= 0)
    return;
  PsPlotView v = self->view;
  ps_plot_view_pan (&v, dx, dy);
  self->x0 = v.x0;
  self->x1 = v.x1;
  self->y0 = v.y0;
  self->y1 = v.y1;
  self->view = v;
  pan_invalidate (self);
  g_signal_emit (self, signals[SIGNAL_VIEW_CHANGED], 0);
}

void
ps_scatter_view_zoom (PsScatterView *self, double factor)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));
  zoom_about (self, factor, self->view.px + self->view.pw / 2, self->view.py + self->view.ph / 2);
}

static gboolean
scroll_cb (GtkEventControllerScroll *controller, double dx, double dy, PsScatterView *self)
{
  zoom_about (self, exp (-dy * 0.15), self->pointer_x, self->pointer_y);
  return TRUE;
}

static void
zoom_begin_cb (GtkGesture *gesture, GdkEventSequence *sequence, PsScatterView *self)
{
  self->zoom_last = 1.0;
}

static void
zoom_scale_changed_cb (GtkGestureZoom *gesture, double scale, PsScatterView *self)
{
  double cx, cy;

  if (!gtk_gesture_get_bounding_box_center (GTK_GESTURE (gesture), &cx, &cy))
    cx = self->pointer_x, cy = self->pointer_y;
  zoom_about (self, scale / self->zoom_last, cx, cy);
  self->zoom_last = scale;
}

static void
motion_cb (GtkEventControllerMotion *controller, double x, double y, PsScatterView *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
  if (self->dragging || self->grid == NULL || self->texture == NULL)
    return;
  gssize hit = ps_point_grid_nearest_pixel (self->grid, &self->view, x, y, PICK_RADIUS);
  if (hit != self->hover)
    {
      self->hover = hit;
      /* Only the overlay changes: no invalidate(), the texture stays. */
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
}

static void
leave_cb (GtkEventControllerMotion *controller, PsScatterView *self)
{
  if (self->hover >= 0)
    {
      self->hover = -1;
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
}

static void
drag_begin_cb (GtkGestureDrag *gesture, double x, double y, PsScatterView *self)
{
  GdkModifierType mods = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (gesture));

  gtk_widget_grab_focus (GTK_WIDGET (self));
  self->dragging = TRUE;
  self->box_select = (mods & GDK_SHIFT_MASK) != 0;
  self->lasso = !self->box_select && (mods & GDK_CONTROL_MASK) != 0;
  g_array_set_size (self->lasso_points, 0);
  if (self->lasso)
    {
      double p[2] = { x, y };
      g_array_append_vals (self->lasso_points, p, 2);
    }
  self->drag_x = x;
  self->drag_y = y;
  self->drag_dx = self->drag_dy = 0;
  self->drag_range[0] = self->x0;
  self->drag_range[1] = self->x1;
  self->drag_range[2] = self->y0;
  self->drag_range[3] = self->y1;
}

static void
drag_update_cb (GtkGestureDrag *gesture, double dx, double dy, PsScatterView *self)
{
  self->drag_dx = dx;
  self->drag_dy = dy;
  if (self->lasso)
    {
      double p[2] = { self->drag_x + dx, self->drag_y + dy };
      g_array_append_vals (self->lasso_points, p, 2);
      gtk_widget_queue_draw (GTK_WIDGET (self));
      return;
    }
  if (self->box_select)
    {
      gtk_widget_queue_draw (GTK_WIDGET (self));
      return;
    }
  if (self->texture == NULL || hypot (dx, dy) < CLICK_SLOP)
    return;
  double sx, sy;
  ps_plot_view_scale (&self->view, &sx, &sy);
  double ddx = dx / sx * (self->drag_range[1] > self->drag_range[0] ? 1 : -1);
  double ddy = dy / sy * (self->drag_range[3] > self->drag_range[2] ? 1 : -1);
  self->x0 = self->drag_range[0] - ddx;
  self->x1 = self->drag_range[1] - ddx;
  self->y0 = self->drag_range[2] + ddy;
  self->y1 = self->drag_range[3] + ddy;
  pan_invalidate (self);
  g_signal_emit (self, signals[SIGNAL_VIEW_CHANGED], 0);
}

static void
drag_end_cb (GtkGestureDrag *gesture, double dx, double dy, PsScatterView *self)
{
  gboolean click = hypot (dx, dy) < CLICK_SLOP;

  self->dragging = FALSE;
  if (click)
    ps_scatter_view_select_at (self, self->drag_x, self->drag_y);
  else if (self->lasso && self->grid && self->texture && self->lasso_points->len >= 6)
    {
      /* The polygon in data space, implicitly closed. */
      gsize nv = self->lasso_points->len / 2, n = 0;
      g_autofree double *poly = g_new (double, 2 * nv);
      for (gsize i = 0; i < nv; i++)
        ps_plot_view_to_data (&self->view, g_array_index (self->lasso_points, double, 2 * i),
                              g_array_index (self->lasso_points, double, 2 * i + 1),
                              &poly[2 * i], &poly[2 * i + 1]);
      g_autofree guint32 *idx = ps_point_grid_in_polygon (self->grid, poly, nv, &n);
      ps_scatter_view_select (self, idx, n);
    }
  else if (self->box_select && self->grid && self->texture)
    {
      double ax, ay, bx, by;
      gsize n = 0;
      ps_plot_view_to_data (&self->view, self->drag_x, self->drag_y, &ax, &ay);
      ps_plot_view_to_data (&self->view, self->drag_x + dx, self->drag_y + dy, &bx, &by);
      g_autofree guint32 *idx = ps_point_grid_in_rect (self->grid, ax, ay, bx, by, &n);
      ps_scatter_view_select (self, idx, n);
    }
  self->box_select = FALSE;
  self->lasso = FALSE;
  g_array_set_size (self->lasso_points, 0);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
key_pressed_cb (GtkEventControllerKey *controller, guint keyval, guint keycode,
                GdkModifierType state, PsScatterView *self)
{
  if (state & (GDK_CONTROL_MASK | GDK_ALT_MASK))
    return FALSE;
  switch (keyval)
    {
    case GDK_KEY_plus:
    case GDK_KEY_equal:
    case GDK_KEY_KP_Add:
      ps_scatter_view_zoom (self, 1.25);
      return TRUE;
    case GDK_KEY_minus:
    case GDK_KEY_KP_Subtract:
      ps_scatter_view_zoom (self, 0.8);
      return TRUE;
    case GDK_KEY_0:
    case GDK_KEY_KP_0:
      ps_scatter_view_zoom_fit (self);
      return TRUE;
    case GDK_KEY_Escape:
      if (self->selection->len == 0)
        return FALSE;
      ps_scatter_view_select (self, NULL, 0);
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
ps_scatter_view_query_tooltip (GtkWidget *widget, int x, int y, gboolean keyboard,
                               GtkTooltip *tooltip)
{
  PsScatterView *self = PS_SCATTER_VIEW (widget);
  g_autoptr (GString) s = g_string_new (NULL);

  if (self->grid == NULL || self->texture == NULL)
    return FALSE;
  gssize i = ps_point_grid_nearest_pixel (self->grid, &self->view, x, y, PICK_RADIUS);
  if (i < 0)
    return FALSE;
  /* The dataset row when the snapshot has it (the explanation panel and
   * the Prototypes page name images by it), else the point's index. */
  if (self->data->sample_index)
    g_string_append_printf (s, "<b>Sample %" G_GINT64_FORMAT "</b>", self->data->sample_index[i]);
  else
    g_string_append_printf (s, "<b>Point %" G_GSSIZE_FORMAT "</b>", i);
  if (self->data->labels)
    append_class (self, s, "class", self->data->labels[i]);
  if (self->data->predictions)
    append_class (self, s, "predicted", self->data->predictions[i]);
  if (self->data->scores)
    g_string_append_printf (s, "\n%s %.3f", self->data->score_name, self->data->scores[i]);
  g_string_append_printf (s, "\n(%.3g, %.3g)", self->x[i], self->y[i]);
  gtk_tooltip_set_markup (tooltip, s->str);
  return TRUE;
}

/* ---- GObject --------------------------------------------------------------- */

static void
theme_changed_cb (PsScatterView *self)
{
  /* The figure's colours follow the style: redraw the points texture. */
  invalidate (self);
}

static void
ps_scatter_view_realize (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (ps_scatter_view_parent_class)->realize (widget);
  GtkSettings *settings = gtk_widget_get_settings (widget);
  g_signal_connect_object (settings, "notify::gtk-application-prefer-dark-theme",
                           G_CALLBACK (theme_changed_cb), widget, G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "notify::gtk-theme-name",
                           G_CALLBACK (theme_changed_cb), widget, G_CONNECT_SWAPPED);
}

static void
ps_scatter_view_unrealize (GtkWidget *widget)
{
  g_signal_handlers_disconnect_by_func (gtk_widget_get_settings (widget), theme_changed_cb, widget);
  g_clear_handle_id (&PS_SCATTER_VIEW (widget)->settle_id, g_source_remove);
  GTK_WIDGET_CLASS (ps_scatter_view_parent_class)->unrealize (widget);
}

static void
ps_scatter_view_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                         int *minimum, int *natural, int *minimum_baseline, int *natural_baseline)
{
  *minimum = 200;
  *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 640 : 480;
}

static void
ps_scatter_view_finalize (GObject *object)
{
  PsScatterView *self = PS_SCATTER_VIEW (object);

  clear_data (self);
  g_strfreev (self->class_names);
  g_array_unref (self->selection);
  g_array_unref (self->lasso_points);
  ps_scatter_draw_clear_textures (self);
  g_clear_handle_id (&self->settle_id, g_source_remove);
  G_OBJECT_CLASS (ps_scatter_view_parent_class)->finalize (object);
}

static void
ps_scatter_view_class_init (PsScatterViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = ps_scatter_view_finalize;
  widget_class->snapshot = ps_scatter_draw_snapshot;
  widget_class->realize = ps_scatter_view_realize;
  widget_class->unrealize = ps_scatter_view_unrealize;
  widget_class->measure = ps_scatter_view_measure;
  widget_class->query_tooltip = ps_scatter_view_query_tooltip;

  signals[SIGNAL_SELECTION_CHANGED] =
      g_signal_new ("selection-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                    0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* The person panned or zoomed. */
  signals[SIGNAL_VIEW_CHANGED] =
      g_signal_new ("view-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                    0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_css_name (widget_class, "scatterview");
}

static void
ps_scatter_view_init (PsScatterView *self)
{
  GtkWidget *widget = GTK_WIDGET (self);

  self->selection = g_array_new (FALSE, FALSE, sizeof (guint32));
  self->lasso_points = g_array_new (FALSE, FALSE, sizeof (double));
  self->hover = -1;
  self->dirty = TRUE;
  gtk_widget_set_focusable (widget, TRUE);
  gtk_widget_set_has_tooltip (widget, TRUE);
  gtk_widget_set_hexpand (widget, TRUE);
  gtk_widget_set_vexpand (widget, TRUE);

  GtkEventController *motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (motion_cb), self);
  g_signal_connect (motion, "leave", G_CALLBACK (leave_cb), self);
  gtk_widget_add_controller (widget, motion);

  GtkEventController *scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
  g_signal_connect (scroll, "scroll", G_CALLBACK (scroll_cb), self);
  gtk_widget_add_controller (widget, scroll);

  GtkGesture *drag = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (drag), GDK_BUTTON_PRIMARY);
  g_signal_connect (drag, "drag-begin", G_CALLBACK (drag_begin_cb), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (drag_update_cb), self);
  g_signal_connect (drag, "drag-end", G_CALLBACK (drag_end_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (drag));

  GtkGesture *zoom = gtk_gesture_zoom_new ();
  g_signal_connect (zoom, "begin", G_CALLBACK (zoom_begin_cb), self);
  g_signal_connect (zoom, "scale-changed", G_CALLBACK (zoom_scale_changed_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (zoom));

  GtkEventController *keys = gtk_event_controller_key_new ();
  g_signal_connect (keys, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  gtk_widget_add_controller (widget, keys);
}

GtkWidget *
ps_scatter_view_new (void)
{
  return g_object_new (PS_TYPE_SCATTER_VIEW, NULL);
}
