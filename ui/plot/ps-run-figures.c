/* ps-run-figures.c: figures built from stored runs (no GTK). */
#define G_LOG_DOMAIN "ps-plot"

#include "ps-run-figures.h"

#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-dataset.h"

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

struct _PsRunSeries
{
  GPtrArray *runs;      /* PsRunInfo* */
  GPtrArray *groups;    /* Group* */
  GPtrArray *metrics;   /* char* */
  GPtrArray *series;    /* per metric: GPtrArray of Series* (NULL if absent) per run */
};

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

void
ps_run_series_free (PsRunSeries *rs)
{
  if (rs == NULL)
    return;
  g_ptr_array_unref (rs->runs);
  g_ptr_array_unref (rs->groups);
  g_ptr_array_unref (rs->metrics);
  g_ptr_array_unref (rs->series);
  g_free (rs);
}

/* A series of at least two points, or NULL: a single value (a final
 * evaluation) is a number, not a curve. */
static Series *
load_one (PsStore *store, gint64 run, const char *name)
{
  g_autoptr (GArray) steps = NULL, values = NULL;

  if (!ps_store_get_metric (store, run, name, &steps, &values, NULL) || steps->len < 2)
    return NULL;
  Series *s = g_new0 (Series, 1);
  s->steps = g_array_sized_new (FALSE, FALSE, sizeof (double), steps->len);
  for (guint j = 0; j < steps->len; j++)
    {
      double x = (double) g_array_index (steps, gint64, j);
      g_array_append_val (s->steps, x);
    }
  s->values = g_array_ref (values);
  return s;
}

PsRunSeries *
ps_run_series_load (PsStore *store, const gint64 *ids, guint n, gboolean shared_only,
                    GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);
  g_return_val_if_fail (ids != NULL || n == 0, NULL);

  g_autoptr (PsRunSeries) rs = g_new0 (PsRunSeries, 1);
  rs->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_run_info_free);
  rs->groups = g_ptr_array_new_with_free_func ((GDestroyNotify) group_free);
  rs->metrics = g_ptr_array_new_with_free_func (g_free);
  rs->series = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);

  for (guint i = 0; i < n; i++)
    {
      PsRunInfo *info = ps_store_get_run (store, ids[i], error);
      if (info == NULL)
        return NULL;
      g_ptr_array_add (rs->runs, info);
    }

  /* Group the runs whose record differs only by its seed. */
  g_autoptr (GHashTable) by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint r = 0; r < rs->runs->len; r++)
    {
      PsRunInfo *info = g_ptr_array_index (rs->runs, r);
      g_autofree char *key = g_strdup_printf ("%s\n%s\n%s", info->method, info->dataset,
                                              info->params_json ? info->params_json : "");
      Group *g = g_hash_table_lookup (by_key, key);
      if (g == NULL)
        {
          g = g_new0 (Group, 1);
          g->members = g_array_new (FALSE, FALSE, sizeof (guint));
          g_ptr_array_add (rs->groups, g);
          g_hash_table_insert (by_key, g_steal_pointer (&key), g);
        }
      g_array_append_val (g->members, r);
    }
  for (guint i = 0; i < rs->groups->len; i++)
    {
      Group *g = g_ptr_array_index (rs->groups, i);
      PsRunInfo *first = g_ptr_array_index (rs->runs, g_array_index (g->members, guint, 0));
      g->label = g->members->len > 1 ? g_strdup_printf ("%s (%u seeds)", first->name, g->members->len)
                                     : g_strdup (first->name);
    }

  /* Metric names: the first run's order, then any others'. */
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (guint r = 0; r < rs->runs->len && (r == 0 || !shared_only); r++)
    {
      PsRunInfo *info = g_ptr_array_index (rs->runs, r);
      g_auto (GStrv) mn = ps_store_metric_names (store, info->id, NULL);
      for (guint i = 0; mn && mn[i]; i++)
        if (!g_ptr_array_find_with_equal_func (names, mn[i], g_str_equal, NULL))
          g_ptr_array_add (names, g_strdup (mn[i]));
    }
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      GPtrArray *per_run = g_ptr_array_new_with_free_func ((GDestroyNotify) series_free);
      guint present = 0;
      for (guint r = 0; r < rs->runs->len; r++)
        {
          PsRunInfo *info = g_ptr_array_index (rs->runs, r);
          Series *s = load_one (store, info->id, name);
          present += s != NULL;
          g_ptr_array_add (per_run, s);
        }
      if (present == 0 || (shared_only && present < rs->runs->len))
        {
          g_ptr_array_unref (per_run);
          continue;
        }
      g_ptr_array_add (rs->metrics, g_strdup (name));
      g_ptr_array_add (rs->series, per_run);
    }
  return g_steal_pointer (&rs);
}

guint
ps_run_series_get_n_runs (PsRunSeries *rs)
{
  g_return_val_if_fail (rs != NULL, 0);
  return rs->runs->len;
}

PsRunInfo *
ps_run_series_get_run (PsRunSeries *rs, guint index)
{
  g_return_val_if_fail (rs != NULL && index < rs->runs->len, NULL);
  return g_ptr_array_index (rs->runs, index);
}

guint
ps_run_series_get_n_groups (PsRunSeries *rs)
{
  g_return_val_if_fail (rs != NULL, 0);
  return rs->groups->len;
}

const char *
ps_run_series_get_group_label (PsRunSeries *rs, guint group)
{
  g_return_val_if_fail (rs != NULL && group < rs->groups->len, NULL);
  return ((Group *) g_ptr_array_index (rs->groups, group))->label;
}

guint
ps_run_series_get_n_metrics (PsRunSeries *rs)
{
  g_return_val_if_fail (rs != NULL, 0);
  return rs->metrics->len;
}

const char *
ps_run_series_get_metric (PsRunSeries *rs, guint metric)
{
  g_return_val_if_fail (rs != NULL && metric < rs->metrics->len, NULL);
  return g_ptr_array_index (rs->metrics, metric);
}

int
ps_run_series_find_metric (PsRunSeries *rs, const char *name)
{
  g_return_val_if_fail (rs != NULL && name != NULL, -1);
  for (guint i = 0; i < rs->metrics->len; i++)
    if (g_str_equal (g_ptr_array_index (rs->metrics, i), name))
      return (int) i;
  return -1;
}

static PsFigure *
new_curve_figure (PsThemeKind theme, const char *title, gboolean legend)
{
  PsFigure *fig = ps_figure_new ();
  ps_figure_set_theme (fig, theme);
  if (title)
    ps_figure_set_title (fig, title);
  ps_figure_set_x_label (fig, "step");
  ps_figure_set_show_legend (fig, legend);
  return fig;
}

/* A series with a handful of evaluations is not smoothed: that would only
 * blur the few points there are. */
static void
add_series_curve (PsFigure *fig, const char *name, Series *s, PsColor color, double smoothing)
{
  ps_figure_add_curve (fig, name, (double *) s->steps->data, (double *) s->values->data,
                       s->steps->len, color, s->steps->len > 20 ? smoothing : 0);
}

PsFigure *
ps_run_series_metric_figure (PsRunSeries *rs, guint m, double smoothing, PsThemeKind theme,
                             const char *title)
{
  g_return_val_if_fail (rs != NULL && m < rs->metrics->len, NULL);

  GPtrArray *per_run = g_ptr_array_index (rs->series, m);
  PsFigure *fig = new_curve_figure (theme, title, rs->runs->len > 1);

  for (guint g = 0; g < rs->groups->len; g++)
    {
      Group *group = g_ptr_array_index (rs->groups, g);
      /* With one run the curve takes the palette's next colour, as in the
       * overview; groups are coloured by their index. */
      PsColor color = rs->runs->len > 1 ? ps_palette_color ((int) g) : (PsColor) { 0 };
      g_autoptr (GPtrArray) members = g_ptr_array_new ();
      for (guint k = 0; k < group->members->len; k++)
        {
          Series *s = g_ptr_array_index (per_run, g_array_index (group->members, guint, k));
          if (s)
            g_ptr_array_add (members, s);
        }
      if (members->len == 0)
        continue;
      Series *first = g_ptr_array_index (members, 0);
      if (members->len == 1)
        {
          add_series_curve (fig, group->label, first, color, smoothing);
          continue;
        }
      /* Runs that differ only by seed share their schedule: align them on
       * the shortest and draw the mean with a +- std band. */
      gsize len = first->steps->len;
      for (guint k = 1; k < members->len; k++)
        len = MIN (len, ((Series *) g_ptr_array_index (members, k))->steps->len);
      g_autofree double *mean = g_new0 (double, MAX (len, 1));
      g_autofree double *sd = g_new0 (double, MAX (len, 1));
      double n = members->len;
      for (guint k = 0; k < members->len; k++)
        {
          Series *s = g_ptr_array_index (members, k);
          for (gsize i = 0; i < len; i++)
            mean[i] += g_array_index (s->values, double, i) / n;
        }
      for (guint k = 0; k < members->len; k++)
        {
          Series *s = g_ptr_array_index (members, k);
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

PsFigure *
ps_run_series_all_figure (PsRunSeries *rs, double smoothing, PsThemeKind theme, const char *title)
{
  g_return_val_if_fail (rs != NULL, NULL);

  if (rs->metrics->len == 1)
    return ps_run_series_metric_figure (rs, 0, smoothing, theme, title);
  PsFigure *fig = new_curve_figure (theme, title, TRUE);
  for (guint m = 0; m < rs->metrics->len; m++)
    {
      Series *s = g_ptr_array_index ((GPtrArray *) g_ptr_array_index (rs->series, m), 0);
      if (s)
        add_series_curve (fig, g_ptr_array_index (rs->metrics, m), s, (PsColor) { 0 }, smoothing);
    }
  return fig;
}

/* ---- Convenience ------------------------------------------------------- */

static int
metric_index (PsRunSeries *rs, const char *metric, GError **error)
{
  if (rs->metrics->len == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "No metric curves to plot%s",
                   rs->runs->len > 1 ? " that every run has" : "");
      return -1;
    }
  if (metric == NULL)
    return 0;
  int m = ps_run_series_find_metric (rs, metric);
  if (m < 0)
    g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "No metric curve named \"%s\"", metric);
  return m;
}

PsFigure *
ps_run_figure_curves (PsStore *store, gint64 run, const char *metric, double smoothing,
                      PsThemeKind theme, GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);

  g_autoptr (PsRunSeries) rs = ps_run_series_load (store, &run, 1, FALSE, error);
  if (rs == NULL)
    return NULL;
  int m = metric_index (rs, metric, error);
  if (m < 0)
    return NULL;
  PsRunInfo *info = ps_run_series_get_run (rs, 0);
  if (metric)
    {
      g_autofree char *title = g_strdup_printf ("%s: %s", info->name, metric);
      return ps_run_series_metric_figure (rs, (guint) m, smoothing, theme, title);
    }
  g_autofree char *title = g_strdup_printf ("%s: training curves", info->name);
  return ps_run_series_all_figure (rs, smoothing, theme, title);
}

PsFigure *
ps_run_figure_compare (PsStore *store, const gint64 *runs, guint n, const char *metric,
                       PsThemeKind theme, GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);

  g_autoptr (PsRunSeries) rs = ps_run_series_load (store, runs, n, TRUE, error);
  if (rs == NULL)
    return NULL;
  int m = metric_index (rs, metric, error);
  if (m < 0)
    return NULL;
  return ps_run_series_metric_figure (rs, (guint) m, 0, theme, ps_run_series_get_metric (rs, (guint) m));
}

PsFigure *
ps_run_figure_embedding (PsStore *store, gint64 run, gint64 step, PsColorBy color_by,
                         PsThemeKind theme, GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);

  g_autoptr (PsRunInfo) info = ps_store_get_run (store, run, error);
  if (info == NULL)
    return NULL;
  g_autoptr (GPtrArray) arrays = ps_store_get_artifacts (store, run, step, error);
  if (arrays == NULL)
    return NULL;
  if (arrays->len == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "Run %" G_GINT64_FORMAT " has no snapshot%s",
                   run, step >= 0 ? " at that step" : "");
      return NULL;
    }
  g_autoptr (PsScatterData) data = ps_scatter_data_new_from_snapshot (arrays, FALSE, error);
  if (data == NULL)
    return NULL;
  g_autofree char *title = g_strdup_printf ("%s: embedding", info->name);
  PsScatterFigureOptions options = { .color_by = color_by, .theme = theme, .title = title,
                                     .class_names = ps_dataset_builtin_class_names (info->dataset) };
  return ps_scatter_data_figure (data, &options);
}
