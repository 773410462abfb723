/* ps-overview-view.c: the Overview of one run. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-overview-view.h"

#include "ps-run-figures.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ps-application.h"
#include "ps-method.h"
#include "ps-run-item.h"


struct _PsOverviewView
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *scroller;
  GtkImage *status_icon;
  GtkLabel *title_label;
  GtkLabel *subtitle_label;
  GtkLabel *status_label;
  GtkProgressBar *progress_bar;
  GtkLabel *error_label;
  GtkAdjustment *smoothing_adjustment;
  GtkFlowBox *curves_box;
  GtkLabel *no_curves_label;
  GtkGrid *metrics_grid;
  GtkGrid *params_grid;
  GtkGrid *details_grid;

  /* Borrowed. */
  PsStore *store;

  /* Owned. */
  gint64 run_id;
  char *run_name;
  PsRunSeries *series; /* the run's metric curves, or NULL */
  char *status_text;
};

G_DEFINE_FINAL_TYPE (PsOverviewView, ps_overview_view, GTK_TYPE_WIDGET)

#define N_SERIES(self) ((self)->series ? ps_run_series_get_n_metrics ((self)->series) : 0)

static void
draw_curve (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer user_data)
{
  PsOverviewView *self = PS_OVERVIEW_VIEW (user_data);
  guint index = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (area), "ps-series"));

  if (index >= N_SERIES (self))
    return;
  g_autoptr (PsFigure) fig = ps_run_series_metric_figure (self->series, index,
                                                          gtk_adjustment_get_value (self->smoothing_adjustment),
                                                          ps_current_theme (),
                                                          ps_run_series_get_metric (self->series, index));
  PsPlotTheme *theme = ps_figure_get_theme (fig);
  /* The card already has a background: let the figure's show through it. */
  theme->background.a = 0;
  ps_figure_render (fig, cr, width, height);
}

static void
smoothing_changed_cb (PsOverviewView *self)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->curves_box)); child;
       child = gtk_widget_get_next_sibling (child))
    gtk_widget_queue_draw (gtk_flow_box_child_get_child (GTK_FLOW_BOX_CHILD (child)));
}

static void
rebuild_curves (PsOverviewView *self)
{
  GtkWidget *child;
  guint n_children = 0;

  for (child = gtk_widget_get_first_child (GTK_WIDGET (self->curves_box)); child;
       child = gtk_widget_get_next_sibling (child))
    n_children++;

  /* Keep the drawing areas when the number of series has not changed, so
   * a live reload only redraws. */
  if (n_children != N_SERIES (self))
    {
      while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->curves_box))))
        gtk_flow_box_remove (self->curves_box, child);
      for (guint i = 0; i < N_SERIES (self); i++)
        {
          GtkWidget *area = gtk_drawing_area_new ();
          gtk_widget_set_size_request (area, 320, 220);
          gtk_widget_set_hexpand (area, TRUE);
          g_object_set_data (G_OBJECT (area), "ps-series", GUINT_TO_POINTER (i));
          gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (area), draw_curve, self, NULL);
          gtk_flow_box_append (self->curves_box, area);
        }
    }
  else
    smoothing_changed_cb (self);
  gtk_widget_set_visible (GTK_WIDGET (self->no_curves_label), N_SERIES (self) == 0);
  gtk_widget_set_visible (GTK_WIDGET (self->curves_box), N_SERIES (self) > 0);
}

/* ---- Grids ------------------------------------------------------------ */

static void
grid_clear (GtkGrid *grid)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (grid))))
    gtk_grid_remove (grid, child);
}

static void
grid_add_row (GtkGrid *grid, int row, const char *key, const char *value, gboolean big)
{
  GtkWidget *k = gtk_label_new (key);
  GtkWidget *v = gtk_label_new (value);

  gtk_label_set_xalign (GTK_LABEL (k), 0);
  gtk_widget_add_css_class (k, "dim-label");
  gtk_label_set_xalign (GTK_LABEL (v), 1);
  gtk_label_set_selectable (GTK_LABEL (v), TRUE);
  gtk_label_set_ellipsize (GTK_LABEL (v), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars (GTK_LABEL (v), 24);
  gtk_widget_set_tooltip_text (v, value);
  gtk_widget_set_hexpand (v, TRUE);
  gtk_widget_add_css_class (v, big ? "big-metric" : "numeric");
  gtk_grid_attach (grid, k, 0, row, 1, 1);
  gtk_grid_attach (grid, v, 1, row, 1, 1);
}

static void
fill_params (PsOverviewView *self, const char *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  int row = 0;

  grid_clear (self->params_grid);
  if (json == NULL || !json_parser_load_from_data (parser, json, -1, NULL))
    return;
  JsonNode *root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return;
  JsonObject *obj = json_node_get_object (root);
  g_autoptr (GList) members = json_object_get_members (obj);
  for (GList *l = members; l; l = l->next)
    {
      JsonNode *node = json_object_get_member (obj, l->data);
      g_autofree char *text = NULL;
      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        text = g_strdup (json_node_get_string (node));
      else if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN)
        text = g_strdup (json_node_get_boolean (node) ? "yes" : "no");
      else if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_DOUBLE)
        text = g_strdup_printf ("%g", json_node_get_double (node));
      else
        text = json_to_string (node, FALSE);
      grid_add_row (self->params_grid, row++, l->data, text, FALSE);
    }
}

static char *
format_time (double t)
{
  if (t <= 0)
    return g_strdup ("—");
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local ((gint64) t);
  return g_date_time_format (dt, "%Y-%m-%d %H:%M:%S");
}

static void
fill_details (PsOverviewView *self, const PsRunInfo *info)
{
  g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, info->seed);
  g_autofree char *created = format_time (info->created);
  g_autofree char *duration = NULL;
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, info->id);
  int row = 0;

  if (info->started > 0)
    {
      double end = info->finished > 0 ? info->finished : (double) g_get_real_time () / 1e6;
      duration = g_strdup_printf ("%.1f s", MAX (end - info->started, 0));
    }
  grid_clear (self->details_grid);
  grid_add_row (self->details_grid, row++, "id", id, FALSE);
  grid_add_row (self->details_grid, row++, "method", info->method, FALSE);
  grid_add_row (self->details_grid, row++, "dataset", info->dataset, FALSE);
  grid_add_row (self->details_grid, row++, "seed", seed, FALSE);
  grid_add_row (self->details_grid, row++, "created", created, FALSE);
  grid_add_row (self->details_grid, row++, "duration", duration ? duration : "—", FALSE);
  if (info->tags && *info->tags)
    grid_add_row (self->details_grid, row++, "tags", info->tags, FALSE);
  if (info->version)
    grid_add_row (self->details_grid, row++, "version", info->version, FALSE);
}

static void
fill_metrics (PsOverviewView *self, const PsRunInfo *info)
{
  g_auto (GStrv) names = NULL;
  g_autofree double *values = NULL;
  const PsMethod *method = ps_method_find (info->method);
  int row = 0;

  grid_clear (self->metrics_grid);
  if (!ps_store_final_metrics (self->store, info->id, &names, &values, NULL) || names == NULL
      || names[0] == NULL)
    {
      GtkWidget *none = gtk_label_new ("None yet.");
      gtk_widget_add_css_class (none, "dim-label");
      gtk_grid_attach (self->metrics_grid, none, 0, 0, 2, 1);
      return;
    }
  /* The key metric first and large, the rest below. */
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; names[i]; i++)
      {
        gboolean key = method && g_strcmp0 (method->key_metric, names[i]) == 0;
        if (key != (pass == 0))
          continue;
        g_autofree char *v = g_strdup_printf ("%.4g", values[i]);
        grid_add_row (self->metrics_grid, row++, names[i], v, key);
      }
}

/* ---- Loading ----------------------------------------------------------- */

static void
load_series (PsOverviewView *self)
{
  g_clear_pointer (&self->series, ps_run_series_free);
  if (self->store == NULL || self->run_id == 0)
    return;
  /* A single value (a final evaluation) is a number, not a curve: the
   * final-metrics card shows it, and ps_run_series_load leaves it out. */
  self->series = ps_run_series_load (self->store, &self->run_id, 1, FALSE, NULL);
}

void
ps_overview_view_reload (PsOverviewView *self)
{
  g_return_if_fail (PS_IS_OVERVIEW_VIEW (self));

  g_autoptr (PsRunInfo) info = NULL;
  if (self->store != NULL && self->run_id != 0)
    info = ps_store_get_run (self->store, self->run_id, NULL);
  if (info == NULL)
    {
      g_clear_pointer (&self->series, ps_run_series_free);
      rebuild_curves (self);
      gtk_label_set_label (self->title_label, "");
      gtk_label_set_label (self->subtitle_label, "");
      gtk_label_set_label (self->status_label, "");
      gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
      grid_clear (self->metrics_grid);
      grid_clear (self->params_grid);
      grid_clear (self->details_grid);
      return;
    }

  g_autoptr (PsRunItem) item = ps_run_item_new (info);
  g_autofree char *status = ps_run_item_describe_status (item);
  const PsMethod *method = ps_method_find (info->method);
  g_autofree char *subtitle = g_strdup_printf ("%s on %s, seed %" G_GUINT64_FORMAT,
                                               method ? method->title : info->method,
                                               info->dataset, info->seed);

  g_free (self->run_name);
  self->run_name = g_strdup (info->name);
  gtk_label_set_label (self->title_label, info->name);
  gtk_label_set_label (self->subtitle_label, subtitle);
  gtk_image_set_from_icon_name (self->status_icon, ps_run_status_icon_name (info->status));
  {
    static const char *classes[] = { "status-queued", "status-running", "status-finished",
                                     "status-failed", "status-cancelled", "status-interrupted",
                                     "status-paused" };
    for (guint i = 0; i < G_N_ELEMENTS (classes); i++)
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_icon), classes[i]);
    if ((guint) info->status < G_N_ELEMENTS (classes))
      gtk_widget_add_css_class (GTK_WIDGET (self->status_icon), classes[info->status]);
  }
  g_free (self->status_text);
  self->status_text = info->status == PS_RUN_FAILED && info->error
                          ? g_strdup_printf ("Failed: %s", info->error)
                          : g_strdup (status);
  gtk_label_set_label (self->status_label, status);
  gtk_progress_bar_set_fraction (self->progress_bar, info->progress);
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar),
                          info->status == PS_RUN_RUNNING || info->status == PS_RUN_PAUSED
                          || info->status == PS_RUN_QUEUED);
  if (info->status == PS_RUN_FAILED)
    {
      g_autofree char *text = g_strdup_printf ("This run failed: %s", info->error ? info->error : "no reason was recorded");
      gtk_label_set_label (self->error_label, text);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), info->status == PS_RUN_FAILED);

  load_series (self);
  rebuild_curves (self);
  fill_metrics (self, info);
  fill_params (self, info->params_json);
  fill_details (self, info);
}

void
ps_overview_view_set_run (PsOverviewView *self, PsStore *store, gint64 run_id)
{
  g_return_if_fail (PS_IS_OVERVIEW_VIEW (self));

  self->store = store;
  self->run_id = store ? run_id : 0;
  ps_overview_view_reload (self);
}

gint64
ps_overview_view_get_run (PsOverviewView *self)
{
  g_return_val_if_fail (PS_IS_OVERVIEW_VIEW (self), 0);
  return self->run_id;
}

const char *
ps_overview_view_get_status_text (PsOverviewView *self)
{
  g_return_val_if_fail (PS_IS_OVERVIEW_VIEW (self), NULL);
  return self->status_text;
}

PsFigure *
ps_overview_view_build_figure (PsOverviewView *self)
{
  g_return_val_if_fail (PS_IS_OVERVIEW_VIEW (self), NULL);

  if (N_SERIES (self) == 0)
    return NULL;
  g_autofree char *title = N_SERIES (self) == 1
                               ? g_strdup (ps_run_series_get_metric (self->series, 0))
                               : g_strdup_printf ("%s: training curves", self->run_name ? self->run_name : "run");
  return ps_run_series_all_figure (self->series, gtk_adjustment_get_value (self->smoothing_adjustment),
                                   ps_current_theme (), title);
}

/* ---- GObject ----------------------------------------------------------- */

static void
ps_overview_view_dispose (GObject *object)
{
  PsOverviewView *self = PS_OVERVIEW_VIEW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), PS_TYPE_OVERVIEW_VIEW);
  G_OBJECT_CLASS (ps_overview_view_parent_class)->dispose (object);
}

static void
ps_overview_view_finalize (GObject *object)
{
  PsOverviewView *self = PS_OVERVIEW_VIEW (object);

  g_clear_pointer (&self->series, ps_run_series_free);
  g_free (self->run_name);
  g_free (self->status_text);
  G_OBJECT_CLASS (ps_overview_view_parent_class)->finalize (object);
}

static void
ps_overview_view_class_init (PsOverviewViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_overview_view_dispose;
  object_class->finalize = ps_overview_view_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-overview-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, scroller);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, status_icon);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, title_label);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, subtitle_label);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, status_label);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, error_label);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, smoothing_adjustment);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, curves_box);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, no_curves_label);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, metrics_grid);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, params_grid);
  gtk_widget_class_bind_template_child (widget_class, PsOverviewView, details_grid);
  gtk_widget_class_bind_template_callback (widget_class, smoothing_changed_cb);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "overview");
}

static void
ps_overview_view_init (PsOverviewView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  ps_overview_view_reload (self);
}

GtkWidget *
ps_overview_view_new (void)
{
  return g_object_new (PS_TYPE_OVERVIEW_VIEW, NULL);
}
