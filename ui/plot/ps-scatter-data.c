/* ps-scatter-data.c: reading a snapshot into what a scatter draws, with
 * high-dimensional embeddings projected to 2-D by core's PCA, and the
 * scatter figure built from it (shared by the window and the CLI). */
#define G_LOG_DOMAIN "ps-plot"

#include "ps-scatter-data.h"

#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-eval.h"

PsArray *
ps_snapshot_find (GPtrArray *arrays, const char *kind)
{
  for (guint i = 0; i < arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (arrays, i);
      if (g_strcmp0 (a->kind, kind) == 0)
        return a;
    }
  return NULL;
}

/* A copy of a 1-D array of n values as i32 (NULL if absent or mismatched). */
gint32 *
ps_snapshot_copy_i32 (PsArray *a, gsize n)
{
  if (a == NULL || ps_array_n_elements (a) != n || n == 0)
    return NULL;
  gint32 *out = g_new (gint32, n);
  gconstpointer data = ps_array_data (a, NULL);
  for (gsize i = 0; i < n; i++)
    switch (a->dtype)
      {
      case PS_DTYPE_I32: out[i] = ((const gint32 *) data)[i]; break;
      case PS_DTYPE_I64: out[i] = (gint32) ((const gint64 *) data)[i]; break;
      case PS_DTYPE_U8: out[i] = ((const guint8 *) data)[i]; break;
      case PS_DTYPE_F32: out[i] = (gint32) ((const float *) data)[i]; break;
      case PS_DTYPE_F64: out[i] = (gint32) ((const double *) data)[i]; break;
      }
  return out;
}

float *
ps_snapshot_copy_f32 (PsArray *a, gsize n)
{
  if (a == NULL || ps_array_n_elements (a) != n || n == 0)
    return NULL;
  float *out = g_new (float, n);
  gconstpointer data = ps_array_data (a, NULL);
  for (gsize i = 0; i < n; i++)
    switch (a->dtype)
      {
      case PS_DTYPE_F32: out[i] = ((const float *) data)[i]; break;
      case PS_DTYPE_F64: out[i] = (float) ((const double *) data)[i]; break;
      case PS_DTYPE_I32: out[i] = (float) ((const gint32 *) data)[i]; break;
      case PS_DTYPE_I64: out[i] = (float) ((const gint64 *) data)[i]; break;
      case PS_DTYPE_U8: out[i] = ((const guint8 *) data)[i]; break;
      }
  return out;
}

static gint64 *
copy_i64 (PsArray *a, gsize n)
{
  g_autofree gint32 *tmp = NULL;

  if (a == NULL || ps_array_n_elements (a) != n || n == 0)
    return NULL;
  gint64 *out = g_new (gint64, n);
  gconstpointer data = ps_array_data (a, NULL);
  if (a->dtype == PS_DTYPE_I64)
    {
      memcpy (out, data, n * sizeof (gint64));
      return out;
    }
  tmp = ps_snapshot_copy_i32 (a, n);
  for (gsize i = 0; i < n; i++)
    out[i] = tmp[i];
  return out;
}

void
ps_scatter_data_free (PsScatterData *data)
{
  if (data == NULL)
    return;
  g_free (data->x);
  g_free (data->y);
  g_free (data->labels);
  g_free (data->predictions);
  g_free (data->sample_index);
  g_free (data->scores);
  g_free (data->score_name);
  g_free (data->source);
  g_free (data->proto_x);
  g_free (data->proto_y);
  g_free (data->proto_labels);
  g_free (data->proto_source);
  g_free (data->assign);
  g_free (data->field);
  g_free (data);
}

PsScatterData *
ps_scatter_data_new_from_snapshot (GPtrArray *arrays, gboolean prefer_embedding, GError **error)
{
  g_return_val_if_fail (arrays != NULL, NULL);

  PsArray *points = ps_snapshot_find (arrays, "points");
  PsArray *emb = ps_snapshot_find (arrays, "embedding");
  PsArray *src = NULL;

  gboolean have_points = points && points->ndim == 2 && points->shape[1] == 2;
  gboolean have_emb = emb && emb->ndim == 2 && emb->shape[1] >= 1;
  if (have_points && !(prefer_embedding && have_emb))
    src = points;
  else if (have_emb)
    src = emb;
  if (src == NULL || src->shape[0] == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND,
                   "The snapshot has neither 2-D points nor an embedding to draw");
      return NULL;
    }

  gsize n = src->shape[0], d = src->shape[1];
  g_autofree float *flat = ps_snapshot_copy_f32 (src, n * d);
  if (flat == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "The snapshot's %s array is malformed", src->kind);
      return NULL;
    }

  g_autoptr (PsScatterData) data = g_new0 (PsScatterData, 1);
  g_autoptr (PsPca) pca = NULL;
  data->n = n;
  data->x = g_new (float, n);
  data->y = g_new (float, n);
  if (d <= 2)
    for (gsize i = 0; i < n; i++)
      {
        data->x[i] = flat[d * i];
        data->y[i] = d == 2 ? flat[2 * i + 1] : 0;
      }
  else
    {
      GError *local = NULL;
      g_autofree float *xy = g_new (float, 2 * n);
      pca = ps_pca_fit (flat, (guint) n, (guint) d, 2, 0, &local);
      if (pca == NULL)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "The embedding could not be projected: %s",
                       local->message);
          g_error_free (local);
          return NULL;
        }
      ps_pca_transform (pca, flat, (guint) n, xy);
      for (gsize i = 0; i < n; i++)
        {
          data->x[i] = xy[2 * i];
          data->y[i] = xy[2 * i + 1];
        }
      data->projection = PS_PROJECTION_PCA;
      data->source = g_steal_pointer (&flat);
      data->d = d;
    }

  data->labels = ps_snapshot_copy_i32 (ps_snapshot_find (arrays, "labels"), n);
  data->predictions = ps_snapshot_copy_i32 (ps_snapshot_find (arrays, "predictions"), n);
  data->sample_index = copy_i64 (ps_snapshot_find (arrays, "sample_index"), n);
  data->scores = ps_snapshot_copy_f32 (ps_snapshot_find (arrays, "scores"), n);
  if (data->scores)
    {
      /* An OOD score names itself through `score_name` (u8 bytes). */
      PsArray *sn = ps_snapshot_find (arrays, "score_name");
      gsize len = 0;
      gconstpointer bytes = sn && sn->dtype == PS_DTYPE_U8 ? ps_array_data (sn, &len) : NULL;
      data->score_name = bytes && len > 0 ? g_strndup (bytes, len) : g_strdup ("score");
    }
  else
    {
      data->scores = ps_snapshot_copy_f32 (ps_snapshot_find (arrays, "confidence"), n);
      data->score_name = g_strdup ("confidence");
    }

  /* Prototypes are drawn only in the space they live in: the embedding's
   * projection, or the data plane when both are 2-D. */
  PsArray *protos = ps_snapshot_find (arrays, "prototypes");
  if (protos && protos->ndim == 2 && protos->shape[0] > 0 && protos->shape[1] == d
      && (src == emb || emb == NULL || emb->shape[1] == 2))
    {
      gsize k = protos->shape[0];
      g_autofree float *p = ps_snapshot_copy_f32 (protos, k * d);
      data->n_protos = k;
      data->proto_x = g_new (float, k);
      data->proto_y = g_new (float, k);
      if (pca)
        {
          g_autofree float *xy = g_new (float, 2 * k);
          ps_pca_transform (pca, p, (guint) k, xy);
          for (gsize i = 0; i < k; i++)
            {
              data->proto_x[i] = xy[2 * i];
              data->proto_y[i] = xy[2 * i + 1];
            }
        }
      else
        for (gsize i = 0; i < k; i++)
          {
            data->proto_x[i] = p[i * d];
            data->proto_y[i] = d > 1 ? p[i * d + 1] : 0;
          }
      data->proto_labels = ps_snapshot_copy_i32 (ps_snapshot_find (arrays, "prototype_labels"), k);
      if (pca)
        data->proto_source = g_steal_pointer (&p);
      else
        {
          data->proto_source = g_new (float, 2 * k);
          for (gsize i = 0; i < k; i++)
            {
              data->proto_source[2 * i] = data->proto_x[i];
              data->proto_source[2 * i + 1] = data->proto_y[i];
            }
        }
      PsArray *assign = ps_snapshot_find (arrays, "assignments");
      if (assign && assign->ndim == 2 && assign->shape[0] == n && assign->shape[1] == k)
        data->assign = ps_snapshot_copy_f32 (assign, n * k);
    }

  PsArray *field = ps_snapshot_find (arrays, "decision_field");
  PsArray *ext = ps_snapshot_find (arrays, "field_extent");
  if (pca == NULL && src == points && field && ext && field->ndim == 3
      && field->shape[0] == field->shape[1] && ps_array_n_elements (ext) == 4)
    {
      data->field_g = field->shape[0];
      data->field_c = field->shape[2];
      data->field = ps_snapshot_copy_f32 (field, ps_array_n_elements (field));
      g_autofree float *e = ps_snapshot_copy_f32 (ext, 4);
      memcpy (data->extent, e, sizeof data->extent);
    }
  return g_steal_pointer (&data);
}

void
ps_scatter_data_set_layout (PsScatterData *data, const float *xy, PsProjection projection)
{
  g_return_if_fail (data != NULL && xy != NULL);

  for (gsize i = 0; i < data->n; i++)
    {
      data->x[i] = xy[2 * i];
      data->y[i] = xy[2 * i + 1];
    }
  data->projection = projection;
  if (projection == PS_PROJECTION_TSNE)
    {
      data->n_protos = 0;
      g_clear_pointer (&data->proto_x, g_free);
      g_clear_pointer (&data->proto_y, g_free);
      g_clear_pointer (&data->proto_labels, g_free);
      g_clear_pointer (&data->proto_source, g_free);
      g_clear_pointer (&data->assign, g_free);
    }
}

/* softmax (logit / t) over k values, in place. */
static void
softmax_in_place (float *v, gsize k, double t)
{
  double top = -INFINITY, sum = 0;

  for (gsize j = 0; j < k; j++)
    top = MAX (top, v[j] / t);
  for (gsize j = 0; j < k; j++)
    sum += (v[j] = (float) exp (v[j] / t - top));
  for (gsize j = 0; j < k; j++)
    v[j] = (float) (v[j] / sum);
}

gboolean
ps_scatter_data_prototype_weights (const PsScatterData *data, gsize i, float *out,
                                   gboolean *approximate)
{
  g_return_val_if_fail (data != NULL && out != NULL, FALSE);

  gsize k = data->n_protos;
  if (k == 0 || i >= data->n || data->proto_source == NULL)
    return FALSE;
  if (approximate)
    *approximate = data->assign == NULL;
  if (data->assign)
    {
      memcpy (out, data->assign + i * k, k * sizeof (float));
      return TRUE;
    }
  if (data->source)
    {
      /* Cosine similarity in the embedding. */
      gsize d = data->d;
      const float *z = data->source + i * d;
      double zz = 0;
      for (gsize c = 0; c < d; c++)
        zz += (double) z[c] * z[c];
      for (gsize j = 0; j < k; j++)
        {
          const float *p = data->proto_source + j * d;
          double dot = 0, pp = 0;
          for (gsize c = 0; c < d; c++)
            {
              dot += (double) z[c] * p[c];
              pp += (double) p[c] * p[c];
            }
          out[j] = (float) (dot / MAX (sqrt (zz * pp), 1e-12));
        }
      softmax_in_place (out, k, 0.1);
      return TRUE;
    }
  /* Minus the squared distance in the plane, over its mean. */
  double mean = 0;
  for (gsize j = 0; j < k; j++)
    {
      double dx = data->x[i] - data->proto_source[2 * j], dy = data->y[i] - data->proto_source[2 * j + 1];
      out[j] = (float) -(dx * dx + dy * dy);
      mean -= out[j];
    }
  mean = MAX (mean / k, 1e-12);
  softmax_in_place (out, k, mean);
  return TRUE;
}

/* ---- The figure ------------------------------------------------------- */

static const char *const correctness_names[] = { "correct", "wrong", NULL };

PsFigure *
ps_scatter_data_figure (const PsScatterData *data, const PsScatterFigureOptions *options)
{
  g_return_val_if_fail (data != NULL && options != NULL, NULL);

  PsFigure *fig = ps_figure_new ();
  gboolean projected = data->projection != PS_PROJECTION_NONE;
  const char *axis = data->projection == PS_PROJECTION_TSNE ? "t-SNE" : "PC";
  g_autofree char *xl = g_strdup_printf ("%s 1", axis), *yl = g_strdup_printf ("%s 2", axis);

  ps_figure_set_theme (fig, options->theme);
  if (options->title)
    ps_figure_set_title (fig, options->title);
  /* A projection keeps distances honest with equal units on both axes;
   * input-space data fill the plot instead. */
  ps_figure_set_equal_aspect (fig, projected);
  ps_figure_set_x_label (fig, projected ? xl : "x₁");
  ps_figure_set_y_label (fig, projected ? yl : "x₂");
  if (options->have_range)
    {
      ps_figure_set_x_range (fig, options->x0, options->x1);
      ps_figure_set_y_range (fig, options->y0, options->y1);
    }

  if (data->field)
    ps_figure_add_regions (fig, data->field_g, data->field_g, data->extent[0], data->extent[1],
                           data->extent[2], data->extent[3], NULL, NULL, data->field,
                           data->field_c, TRUE);

  PsScatterSpec spec = { 0 };
  g_autofree gint32 *correct = NULL;
  g_autofree guint8 *dimmed = NULL;
  guint n_classes = 0;

  spec.x = data->x;
  spec.y = data->y;
  spec.n = data->n;
  switch (options->color_by)
    {
    case PS_COLOR_BY_PREDICTION:
      spec.labels = data->predictions ? data->predictions : data->labels;
      break;
    case PS_COLOR_BY_CORRECTNESS:
      if (data->labels && data->predictions)
        {
          correct = g_new (gint32, data->n);
          for (gsize i = 0; i < data->n; i++)
            correct[i] = data->labels[i] < 0 ? -1 : data->labels[i] != data->predictions[i];
          spec.labels = correct;
        }
      break;
    case PS_COLOR_BY_SCORE:
      spec.scores = data->scores;
      spec.colormap = PS_COLORMAP_VIRIDIS;
      if (data->scores)
        {
          double lo = INFINITY, hi = -INFINITY;
          for (gsize i = 0; i < data->n; i++)
            if (isfinite (data->scores[i]))
              {
                lo = MIN (lo, data->scores[i]);
                hi = MAX (hi, data->scores[i]);
              }
          if (isfinite (lo))
            {
              spec.score_min = lo;
              spec.score_max = hi;
              ps_figure_set_colorbar (fig, PS_COLORMAP_VIRIDIS, lo, hi, data->score_name);
            }
        }
      break;
    case PS_COLOR_BY_CLASS:
    default:
      spec.labels = data->labels;
      break;
    }
  if (spec.labels == NULL && spec.scores == NULL)
    spec.labels = data->labels;

  if (options->selected)
    {
      gboolean any = FALSE;
      for (gsize i = 0; i < data->n && !any; i++)
        any = options->selected[i] != 0;
      if (any)
        {
          dimmed = g_new (guint8, data->n);
          for (gsize i = 0; i < data->n; i++)
            dimmed[i] = !options->selected[i];
          spec.dimmed = dimmed;
        }
    }
  spec.radius = data->n > 20000 ? 1.5 : data->n > 3000 ? 2.2 : 3.2;
  if (!options->skip_points)
    ps_figure_add_scatter (fig, &spec);

  if (data->n_protos > 0)
    ps_figure_add_prototypes (fig, data->proto_x, data->proto_y, data->n_protos,
                              data->proto_labels, NULL);

  if (spec.labels == correct && correct != NULL)
    ps_figure_set_class_names (fig, correctness_names, 2);
  else if (spec.labels != NULL)
    {
      gint32 max = -1;
      for (gsize i = 0; i < data->n; i++)
        max = MAX (max, spec.labels[i]);
      n_classes = (guint) (max + 1);
      if (options->class_names && g_strv_length ((char **) options->class_names) >= n_classes)
        ps_figure_set_class_names (fig, options->class_names, n_classes);
      else if (n_classes > 0 && n_classes <= 20)
        {
          g_auto (GStrv) names = g_new0 (char *, n_classes + 1);
          for (guint c = 0; c < n_classes; c++)
            names[c] = g_strdup_printf ("class %u", c);
          ps_figure_set_class_names (fig, (const char *const *) names, n_classes);
        }
    }
  ps_figure_set_show_legend (fig, spec.labels != NULL && n_classes <= 20);
  return fig;
}
