/* ps-compare-view.c: two or more runs side by side. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-compare-view.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ps-application.h"
#include "ps-run-figures.h"
#include "ps-scatter-view.h"
#include "ps-dataset.h"

struct _PsCompareView
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *scroller;
  GtkLabel *title_label;
  GtkLabel *subtitle_label;
  GtkFlowBox *curves_box;
  GtkGrid *table;
  GtkWidget *embeddings_card;
  GtkBox *embeddings_box;

  /* Owned: the runs, their groups of seeds and the metrics they share. */
  PsRunSeries *series;
  GPtrArray *scatters;  /* PsScatterView* (borrowed from embeddings_box), one per run with a snapshot */
  gboolean linking;     /* a linked selection is being propagated */
};

G_DEFINE_FINAL_TYPE (PsCompareView, ps_compare_view, GTK_TYPE_WIDGET)

/* ---- Figures ------------------------------------------------------------ */

static void
draw_metric (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer user_data)
{
  PsCompareView *self = PS_COMPARE_VIEW (user_data);
  guint m = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (area), "ps-metric"));

  if (self->series == NULL || m >= ps_run_series_get_n_metrics (self->series))
    return;
  g_autoptr (PsFigure) fig = ps_run_series_metric_figure (self->series, m, 0.6, ps_current_theme (),
                                                          ps_run_series_get_metric (self->series, m));
  ps_figure_get_theme (fig)->background.a = 0;
  ps_figure_render (fig, cr, width, height);
}

PsFigure *
ps_compare_view_build_figure (PsCompareView *self)
{
  g_return_val_if_fail (PS_IS_COMPARE_VIEW (self), NULL);

  if (self->series == NULL || ps_run_series_get_n_metrics (self->series) == 0)
    return NULL;
  return ps_run_series_metric_figure (self->series, 0, 0.6, ps_current_theme (),
                                      ps_run_series_get_metric (self->series, 0));
}

guint
ps_compare_view_get_n_groups (PsCompareView *self)
{
  g_return_val_if_fail (PS_IS_COMPARE_VIEW (self), 0);
  return self->series ? ps_run_series_get_n_groups (self->series) : 0;
}

/* ---- Table -------------------------------------------------------------- */

static void
table_cell (PsCompareView *self, int col, int row, const char *text, gboolean header)
{
  GtkWidget *label = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (label), col == 0 ? 0 : 1);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 22);
  gtk_widget_set_tooltip_text (label, text);
  gtk_widget_add_css_class (label, col == 0 ? "dim-label" : "numeric");
  if (header)
    gtk_widget_add_css_class (label, "run-name");
  gtk_grid_attach (self->table, label, col, row, 1, 1);
}

static char *
param_text (JsonObject *obj, const char *key)
{
  JsonNode *node = obj ? json_object_get_member (obj, key) : NULL;

  if (node == NULL)
    return g_strdup ("—");
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  return json_to_string (node, FALSE);
}

static void
fill_table (PsCompareView *self, PsStore *store)
{
  GtkWidget *child;
  guint n = self->series ? ps_run_series_get_n_runs (self->series) : 0;
  g_autoptr (GPtrArray) parsed = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  int row = 1;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->table))))
    gtk_grid_remove (self->table, child);
  if (n == 0)
    return;

  table_cell (self, 0, 0, "", TRUE);
  for (guint r = 0; r < n; r++)
    {
      PsRunInfo *info = ps_run_series_get_run (self->series, r);
      JsonParser *parser = json_parser_new ();
      table_cell (self, r + 1, 0, info->name, TRUE);
      if (info->params_json == NULL || !json_parser_load_from_data (parser, info->params_json, -1, NULL))
        g_clear_object (&parser);
      g_ptr_array_add (parsed, parser ? parser : g_object_new (JSON_TYPE_PARSER, NULL));
      JsonNode *root = parser ? json_parser_get_root (parser) : NULL;
      if (root && JSON_NODE_HOLDS_OBJECT (root))
        {
          g_autoptr (GList) members = json_object_get_members (json_node_get_object (root));
          for (GList *l = members; l; l = l->next)
            if (!g_ptr_array_find_with_equal_func (keys, l->data, g_str_equal, NULL))
              g_ptr_array_add (keys, g_strdup (l->data));
        }
    }

  /* The method, dataset and seed, then only the parameters that differ. */
  const char *fixed[] = { "method", "dataset", "seed" };
  for (guint f = 0; f < G_N_ELEMENTS (fixed); f++, row++)
    {
      table_cell (self, 0, row, fixed[f], FALSE);
      for (guint r = 0; r < n; r++)
        {
          PsRunInfo *info = ps_run_series_get_run (self->series, r);
          g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, info->seed);
          table_cell (self, r + 1, row, f == 0 ? info->method : f == 1 ? info->dataset : seed, FALSE);
        }
    }
  for (guint k = 0; k < keys->len; k++)
    {
      const char *key = g_ptr_array_index (keys, k);
      g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
      gboolean differ = FALSE;
      for (guint r = 0; r < n; r++)
        {
          JsonNode *root = json_parser_get_root (g_ptr_array_index (parsed, r));
          JsonObject *obj = root && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
          g_ptr_array_add (texts, param_text (obj, key));
          differ |= r > 0 && g_strcmp0 (g_ptr_array_index (texts, 0), g_ptr_array_index (texts, r)) != 0;
        }
      if (!differ)
        continue;
      table_cell (self, 0, row, key, FALSE);
      for (guint r = 0; r < n; r++)
        table_cell (self, r + 1, row, g_ptr_array_index (texts, r), FALSE);
      row++;
    }

  /* Final metrics: every name any run has. */
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) finals = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);
  for (guint r = 0; r < n; r++)
    {
      PsRunInfo *info = ps_run_series_get_run (self->series, r);
      GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_auto (GStrv) mn = NULL;
      g_autofree double *mv = NULL;
      if (ps_store_final_metrics (store, info->id, &mn, &mv, NULL))
        for (guint i = 0; mn && mn[i]; i++)
          {
            g_hash_table_insert (h, g_strdup (mn[i]), g_memdup2 (&mv[i], sizeof (double)));
            if (!g_ptr_array_find_with_equal_func (names, mn[i], g_str_equal, NULL))
              g_ptr_array_add (names, g_strdup (mn[i]));
          }
      g_ptr_array_add (finals, h);
    }
  for (guint i = 0; i < names->len; i++, row++)
    {
      table_cell (self, 0, row, g_ptr_array_index (names, i), FALSE);
      for (guint r = 0; r < n; r++)
        {
          double *v = g_hash_table_lookup (g_ptr_array_index (finals, r), g_ptr_array_index (names, i));
          g_autofree char *t = v ? g_strdup_printf ("%.4g", *v) : g_strdup ("—");
          table_cell (self, r + 1, row, t, FALSE);
        }
    }
}

/* ---- Embeddings side by side ------------------------------------------ */

/* The sample ids of a scatter's points: the dataset rows when the
 * snapshot says which they are, else the row order. */
static gint64
sample_id (PsScatterView *scatter, guint32 i)
{
  const gint64 *index = ps_scatter_view_get_sample_index (scatter);
  return index ? index[i] : (gint64) i;
}

static void
scatter_selection_cb (PsScatterView *source, PsCompareView *self)
{
  if (self->linking)
    return;
  gsize n_sel = 0;
  const guint32 *sel = ps_scatter_view_get_selection (source, &n_sel);
  g_autoptr (GHashTable) wanted = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autofree gint64 *ids = g_new (gint64, MAX (n_sel, 1));
  for (gsize k = 0; k < n_sel; k++)
    {
      ids[k] = sample_id (source, sel[k]);
      g_hash_table_add (wanted, &ids[k]);
    }

  /* Select the same samples in every other run; guard against the
   * selection-changed signals this emits coming back here. */
  self->linking = TRUE;
  for (guint v = 0; v < self->scatters->len; v++)
    {
      PsScatterView *other = g_ptr_array_index (self->scatters, v);
      if (other == source)
        continue;
      g_autoptr (GArray) pick = g_array_new (FALSE, FALSE, sizeof (guint32));
      gsize n = ps_scatter_view_get_n_points (other);
      for (guint32 i = 0; i < n && n_sel > 0; i++)
        {
          gint64 id = sample_id (other, i);
          if (g_hash_table_contains (wanted, &id))
            g_array_append_val (pick, i);
        }
      ps_scatter_view_select (other, (guint32 *) pick->data, pick->len);
    }
  self->linking = FALSE;
}

static void
fill_embeddings (PsCompareView *self, PsStore *store)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->embeddings_box))))
    gtk_box_remove (self->embeddings_box, child);
  g_ptr_array_set_size (self->scatters, 0);
  guint n_runs = self->series ? ps_run_series_get_n_runs (self->series) : 0;
  /* Beyond four panels each is too narrow to read. */
  for (guint r = 0; store && r < n_runs && self->scatters->len < 4; r++)
    {
      PsRunInfo *info = ps_run_series_get_run (self->series, r);
      g_autoptr (GPtrArray) arrays = ps_store_get_artifacts (store, info->id, -1, NULL);
      if (arrays == NULL || arrays->len == 0)
        continue;
      GtkWidget *scatter = ps_scatter_view_new ();
      ps_scatter_view_set_class_names (PS_SCATTER_VIEW (scatter),
                                       ps_dataset_builtin_class_names (info->dataset));
      if (!ps_scatter_view_set_snapshot (PS_SCATTER_VIEW (scatter), arrays, FALSE, NULL))
        {
          g_object_ref_sink (scatter);
          g_object_unref (scatter);
          continue;
        }
      GtkWidget *column = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
      GtkWidget *label = gtk_label_new (info->name);
      gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_MIDDLE);
      gtk_widget_add_css_class (label, "run-name");
      gtk_box_append (GTK_BOX (column), label);
      gtk_box_append (GTK_BOX (column), scatter);
      gtk_box_append (self->embeddings_box, column);
      g_signal_connect (scatter, "selection-changed", G_CALLBACK (scatter_selection_cb), self);
      g_ptr_array_add (self->scatters, scatter);
    }
  gtk_widget_set_visible (self->embeddings_card, self->scatters->len >= 2);
}

guint
ps_compare_view_get_n_embeddings (PsCompareView *self)
{
  g_return_val_if_fail (PS_IS_COMPARE_VIEW (self), 0);
  return self->scatters->len;
}

PsScatterView *
ps_compare_view_get_embedding (PsCompareView *self, guint index)
{
  g_return_val_if_fail (PS_IS_COMPARE_VIEW (self), NULL);
  g_return_val_if_fail (index < self->scatters->len, NULL);
  return g_ptr_array_index (self->scatters, index);
}

/* ---- Loading ------------------------------------------------------------- */

static void
clear (PsCompareView *self)
{
  GtkWidget *child;

  g_clear_pointer (&self->series, ps_run_series_free);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->curves_box))))
    gtk_flow_box_remove (self->curves_box, child);
  fill_embeddings (self, NULL);
}

void
ps_compare_view_set_runs (PsCompareView *self, PsStore *store, const gint64 *ids, guint n)
{
  g_return_if_fail (PS_IS_COMPARE_VIEW (self));

  clear (self);
  /* Runs deleted meanwhile are skipped rather than failing the view. */
  g_autoptr (GArray) known = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 0; store && i < n; i++)
    {
      g_autoptr (PsRunInfo) info = ps_store_get_run (store, ids[i], NULL);
      if (info)
        g_array_append_val (known, ids[i]);
    }
  if (store)
    self->series = ps_run_series_load (store, (gint64 *) known->data, known->len, TRUE, NULL);
  guint n_runs = self->series ? ps_run_series_get_n_runs (self->series) : 0;
  if (n_runs < 2)
    {
      gtk_label_set_label (self->title_label, "Select two or more runs to compare them");
      gtk_label_set_label (self->subtitle_label, "");
      fill_table (self, store);
      return;
    }

  for (guint m = 0; m < ps_run_series_get_n_metrics (self->series); m++)
    {
      GtkWidget *area = gtk_drawing_area_new ();
      gtk_widget_set_size_request (area, 340, 240);
      gtk_widget_set_hexpand (area, TRUE);
      g_object_set_data (G_OBJECT (area), "ps-metric", GUINT_TO_POINTER (m));
      gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (area), draw_metric, self, NULL);
      gtk_flow_box_append (self->curves_box, area);
    }

  guint n_groups = ps_run_series_get_n_groups (self->series);
  g_autofree char *title = g_strdup_printf ("Comparing %u runs", n_runs);
  g_autofree char *subtitle = g_strdup_printf ("%u group%s; runs that differ only by seed are drawn as mean ± std",
                                               n_groups, n_groups == 1 ? "" : "s");
  gtk_label_set_label (self->title_label, title);
  gtk_label_set_label (self->subtitle_label, subtitle);
  fill_embeddings (self, store);
  fill_table (self, store);
}

/* ---- GObject ------------------------------------------------------------- */

static void
ps_compare_view_dispose (GObject *object)
{
  PsCompareView *self = PS_COMPARE_VIEW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), PS_TYPE_COMPARE_VIEW);
  G_OBJECT_CLASS (ps_compare_view_parent_class)->dispose (object);
}

static void
ps_compare_view_finalize (GObject *object)
{
  PsCompareView *self = PS_COMPARE_VIEW (object);

  g_clear_pointer (&self->series, ps_run_series_free);
  g_ptr_array_unref (self->scatters);
  G_OBJECT_CLASS (ps_compare_view_parent_class)->finalize (object);
}

static void
ps_compare_view_class_init (PsCompareViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_compare_view_dispose;
  object_class->finalize = ps_compare_view_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-compare-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsCompareView, scroller);
  gtk_widget_class_bind_template_child (widget_class, PsCompareView, title_label);
  gtk_widget_class_bind_template_child (widget_class, PsCompareView, subtitle_label);
  gtk_widget_class_bind_template_child (widget_class, PsCompareView, curves_box);
  gtk_widget_class_bind_template_child (widget_class, PsCompareView, table);
  gtk_widget_class_bind_template_child (widget_class, PsCompareView, embeddings_card);
  gtk_widget_class_bind_template_child (widget_class, PsCompareView, embeddings_box);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "compareview");
}

static void
ps_compare_view_init (PsCompareView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->scatters = g_ptr_array_new ();
}

GtkWidget *
ps_compare_view_new (void)
{
  return g_object_new (PS_TYPE_COMPARE_VIEW, NULL);
}
