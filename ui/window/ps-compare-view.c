/* ps-compare-view.c: two or more runs side by side. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-compare-view.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ps-application.h"

typedef struct
{
  GArray *steps;   /* double */
  GArray *values;  /* double */
} Series;

typedef struct
{
  char *label;
  GArray *members; /* guint: indices into runs */
} Group;

struct _PsCompareView
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *scroller;
  GtkLabel *title_label;
  GtkLabel *subtitle_label;
  GtkFlowBox *curves_box;
  GtkGrid *table;

  /* Owned. */
  GPtrArray *runs;      /* PsRunInfo* */
  GPtrArray *groups;    /* Group* */
  GStrv metrics;        /* names every run has */
  GPtrArray *series;    /* per metric: GPtrArray of Series* per run */
};

G_DEFINE_FINAL_TYPE (PsCompareView, ps_compare_view, GTK_TYPE_WIDGET)

static void
series_free (Series *s)
{
  if (s == NULL)
    return;
  g_array_unref (s->steps);
  g_array_unref (s->values);
  g_free (s);
}

static void
group_free (Group *g)
{
  g_free (g->label);
  g_array_unref (g->members);
  g_free (g);
}

/* ---- Figures ------------------------------------------------------------ */

static PsFigure *
metric_figure (PsCompareView *self, guint m)
{
  PsFigure *fig = ps_figure_new ();
  GPtrArray *per_run = g_ptr_array_index (self->series, m);

  ps_figure_set_theme (fig, ps_style_is_dark () ? PS_THEME_DARK : PS_THEME_LIGHT);
  ps_figure_set_title (fig, self->metrics[m]);
  ps_figure_set_x_label (fig, "step");
  ps_figure_set_show_legend (fig, TRUE);

  for (guint g = 0; g < self->groups->len; g++)
    {
      Group *group = g_ptr_array_index (self->groups, g);
      PsColor color = ps_palette_color ((int) g);
      Series *first = g_ptr_array_index (per_run, g_array_index (group->members, guint, 0));

      if (group->members->len == 1)
        {
          ps_figure_add_curve (fig, group->label, (double *) first->steps->data,
                               (double *) first->values->data, first->steps->len, color,
                               first->steps->len > 20 ? 0.6 : 0);
          continue;
        }
      /* Runs that differ only by seed share their schedule: align them on
       * the shortest and draw the mean with a +- std band. */
      gsize len = first->steps->len;
      for (guint k = 1; k < group->members->len; k++)
        {
          Series *s = g_ptr_array_index (per_run, g_array_index (group->members, guint, k));
          len = MIN (len, s->steps->len);
        }
      g_autofree double *mean = g_new0 (double, MAX (len, 1));
      g_autofree double *sd = g_new0 (double, MAX (len, 1));
      double n = group->members->len;
      for (guint k = 0; k < group->members->len; k++)
        {
          Series *s = g_ptr_array_index (per_run, g_array_index (group->members, guint, k));
          for (gsize i = 0; i < len; i++)
            mean[i] += g_array_index (s->values, double, i) / n;
        }
      for (guint k = 0; k < group->members->len; k++)
        {
          Series *s = g_ptr_array_index (per_run, g_array_index (group->members, guint, k));
          for (gsize i = 0; i < len; i++)
            {
              double d = g_array_index (s->values, double, i) - mean[i];
              sd[i] += d * d / MAX (n - 1, 1);
            }
        }
      for (gsize i = 0; i < len; i++)
        sd[i] = sqrt (sd[i]);
      ps_figure_add_band (fig, group->label, (double *) first->steps->data, mean, sd, len, color);
    }
  return fig;
}

static void
draw_metric (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer user_data)
{
  PsCompareView *self = PS_COMPARE_VIEW (user_data);
  guint m = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (area), "ps-metric"));

  if (self->metrics == NULL || m >= g_strv_length (self->metrics))
    return;
  g_autoptr (PsFigure) fig = metric_figure (self, m);
  ps_figure_get_theme (fig)->background.a = 0;
  ps_figure_render (fig, cr, width, height);
}

PsFigure *
ps_compare_view_build_figure (PsCompareView *self)
{
  g_return_val_if_fail (PS_IS_COMPARE_VIEW (self), NULL);

  if (self->metrics == NULL || self->metrics[0] == NULL)
    return NULL;
  return metric_figure (self, 0);
}

guint
ps_compare_view_get_n_groups (PsCompareView *self)
{
  g_return_val_if_fail (PS_IS_COMPARE_VIEW (self), 0);
  return self->groups->len;
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
  guint n = self->runs->len;
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
      PsRunInfo *info = g_ptr_array_index (self->runs, r);
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
          PsRunInfo *info = g_ptr_array_index (self->runs, r);
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
      PsRunInfo *info = g_ptr_array_index (self->runs, r);
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

/* ---- Loading ------------------------------------------------------------- */

static void
clear (PsCompareView *self)
{
  GtkWidget *child;

  g_ptr_array_set_size (self->runs, 0);
  g_ptr_array_set_size (self->groups, 0);
  g_ptr_array_set_size (self->series, 0);
  g_clear_pointer (&self->metrics, g_strfreev);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->curves_box))))
    gtk_flow_box_remove (self->curves_box, child);
}

void
ps_compare_view_set_runs (PsCompareView *self, PsStore *store, const gint64 *ids, guint n)
{
  g_return_if_fail (PS_IS_COMPARE_VIEW (self));

  clear (self);
  for (guint i = 0; store && i < n; i++)
    {
      PsRunInfo *info = ps_store_get_run (store, ids[i], NULL);
      if (info)
        g_ptr_array_add (self->runs, info);
    }
  if (self->runs->len < 2)
    {
      gtk_label_set_label (self->title_label, "Select two or more runs to compare them");
      gtk_label_set_label (self->subtitle_label, "");
      fill_table (self, store);
      return;
    }

  /* Group the runs whose record differs only by its seed. */
  g_autoptr (GHashTable) by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint r = 0; r < self->runs->len; r++)
    {
      PsRunInfo *info = g_ptr_array_index (self->runs, r);
      g_autofree char *key = g_strdup_printf ("%s\n%s\n%s", info->method, info->dataset,
                                              info->params_json ? info->params_json : "");
      Group *g = g_hash_table_lookup (by_key, key);
      if (g == NULL)
        {
          g = g_new0 (Group, 1);
          g->members = g_array_new (FALSE, FALSE, sizeof (guint));
          g_ptr_array_add (self->groups, g);
          g_hash_table_insert (by_key, g_steal_pointer (&key), g);
        }
      g_array_append_val (g->members, r);
    }
  for (guint i = 0; i < self->groups->len; i++)
    {
      Group *g = g_ptr_array_index (self->groups, i);
      PsRunInfo *first = g_ptr_array_index (self->runs, g_array_index (g->members, guint, 0));
      g->label = g->members->len > 1 ? g_strdup_printf ("%s (%u seeds)", first->name, g->members->len)
                                     : g_strdup (first->name);
    }

  /* The metrics every run has, in the first run's order. */
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) first_names = ps_store_metric_names (store, ((PsRunInfo *) g_ptr_array_index (self->runs, 0))->id, NULL);
  for (guint i = 0; first_names && first_names[i]; i++)
    {
      gboolean shared = TRUE;
      GPtrArray *per_run = g_ptr_array_new_with_free_func ((GDestroyNotify) series_free);
      for (guint r = 0; r < self->runs->len && shared; r++)
        {
          g_autoptr (GArray) steps = NULL, values = NULL;
          PsRunInfo *info = g_ptr_array_index (self->runs, r);
          shared = ps_store_get_metric (store, info->id, first_names[i], &steps, &values, NULL)
                   && steps->len > 1;
          if (!shared)
            break;
          Series *s = g_new0 (Series, 1);
          s->steps = g_array_sized_new (FALSE, FALSE, sizeof (double), steps->len);
          for (guint j = 0; j < steps->len; j++)
            {
              double x = (double) g_array_index (steps, gint64, j);
              g_array_append_val (s->steps, x);
            }
          s->values = g_array_ref (values);
          g_ptr_array_add (per_run, s);
        }
      if (!shared)
        {
          g_ptr_array_unref (per_run);
          continue;
        }
      g_strv_builder_add (builder, first_names[i]);
      g_ptr_array_add (self->series, per_run);
    }
  self->metrics = g_strv_builder_end (builder);

  for (guint m = 0; self->metrics[m]; m++)
    {
      GtkWidget *area = gtk_drawing_area_new ();
      gtk_widget_set_size_request (area, 340, 240);
      gtk_widget_set_hexpand (area, TRUE);
      g_object_set_data (G_OBJECT (area), "ps-metric", GUINT_TO_POINTER (m));
      gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (area), draw_metric, self, NULL);
      gtk_flow_box_append (self->curves_box, area);
    }

  g_autofree char *title = g_strdup_printf ("Comparing %u runs", self->runs->len);
  g_autofree char *subtitle = g_strdup_printf ("%u group%s; runs that differ only by seed are drawn as mean ± std",
                                               self->groups->len, self->groups->len == 1 ? "" : "s");
  gtk_label_set_label (self->title_label, title);
  gtk_label_set_label (self->subtitle_label, subtitle);
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

  g_ptr_array_unref (self->runs);
  g_ptr_array_unref (self->groups);
  g_ptr_array_unref (self->series);
  g_strfreev (self->metrics);
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
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "compareview");
}

static void
ps_compare_view_init (PsCompareView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_run_info_free);
  self->groups = g_ptr_array_new_with_free_func ((GDestroyNotify) group_free);
  self->series = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
}

GtkWidget *
ps_compare_view_new (void)
{
  return g_object_new (PS_TYPE_COMPARE_VIEW, NULL);
}
