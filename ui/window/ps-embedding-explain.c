/* ps-embedding-explain.c: the Embedding view's explanation panel for the
 * selected sample: its facts, its thumbnail, and its nearest prototypes or
 * training samples, or the method's own explanation from the run's model
 * (reloaded from its last checkpoint on a worker thread). */
#define G_LOG_DOMAIN "ps-window"

#include "ps-embedding-view-private.h"

#include <math.h>
#include <string.h>

#include "ps-array.h"
#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-method.h"
#include "ps-new-run-dialog.h"

/* How many neighbours (or prototypes) the explanation lists. */
#define N_NEIGHBOURS 6

/* ---- Facts, thumbnails and neighbours --------------------------------- */

/* "5" or, where the dataset's class names are known, "5 (Sandal)". */
static char *
class_label (PsEmbeddingView *self, int c)
{
  const char *const *names = ps_dataset_builtin_class_names (self->dataset_name);
  if (names != NULL && c >= 0 && (guint) c < g_strv_length ((char **) names))
    return g_strdup_printf ("%d (%s)", c, names[c]);
  return g_strdup_printf ("%d", c);
}

static void
clear_container (GtkWidget *w)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (w)))
    {
      if (GTK_IS_GRID (w))
        gtk_grid_remove (GTK_GRID (w), child);
      else
        gtk_box_remove (GTK_BOX (w), child);
    }
}

static void
add_fact (PsEmbeddingView *self, int row, const char *key, const char *value)
{
  GtkWidget *k = gtk_label_new (key);
  GtkWidget *v = gtk_label_new (value);

  gtk_label_set_xalign (GTK_LABEL (k), 0);
  gtk_widget_add_css_class (k, "dim-label");
  gtk_label_set_xalign (GTK_LABEL (v), 0);
  gtk_label_set_wrap (GTK_LABEL (v), TRUE);
  gtk_widget_add_css_class (v, "numeric");
  gtk_grid_attach (self->explain_grid, k, 0, row, 1, 1);
  gtk_grid_attach (self->explain_grid, v, 1, row, 1, 1);
}

/* A grayscale texture of img[h, w], scaled up by whole pixels (nearest
 * neighbour) so that 8x8 digits stay crisp instead of blurring. */
static GdkTexture *
image_texture (const float *img, gsize h, gsize w)
{
  float lo = INFINITY, hi = -INFINITY;
  gsize k = MAX ((gsize) 1, 96 / MAX (MAX (h, w), 1));
  gsize H = h * k, W = w * k;
  g_autofree guint8 *rgb = g_new (guint8, H * W * 3);

  for (gsize i = 0; i < h * w; i++)
    {
      lo = MIN (lo, img[i]);
      hi = MAX (hi, img[i]);
    }
  for (gsize y = 0; y < H; y++)
    for (gsize x = 0; x < W; x++)
      {
        double t = hi > lo ? (img[(y / k) * w + x / k] - lo) / (hi - lo) : 0;
        guint8 g = (guint8) (255 * CLAMP (t, 0, 1));
        gsize o = (y * W + x) * 3;
        rgb[o] = rgb[o + 1] = rgb[o + 2] = g;
      }
  g_autoptr (GBytes) bytes = g_bytes_new (rgb, H * W * 3);
  return gdk_memory_texture_new (W, H, GDK_MEMORY_R8G8B8, bytes, W * 3);
}

/* The built-in image sets are small enough to load on the main thread
 * the first time a sample of theirs is explained. */
static void
ensure_image_data (PsEmbeddingView *self)
{
  if (self->image_data_tried || self->dataset_name == NULL)
    return;
  self->image_data_tried = TRUE;
  if (g_strcmp0 (self->dataset_name, "digits") != 0)
    return;
  self->image_data = ps_dataset_load_builtin (self->dataset_name, 0, -1, 0, NULL);
  if (self->image_data && self->image_data->img_h == 0)
    g_clear_pointer (&self->image_data, ps_dataset_unref);
}

/* A picture of snapshot row `row`: from the snapshot's `images`, else
 * from the run's image dataset through `sample_index`; NULL otherwise. */
static GtkWidget *
thumbnail (PsEmbeddingView *self, gsize row, int size)
{
  PsArray *images = ps_embedding_find_array (self->arrays, "images");
  PsArray *index = ps_embedding_find_array (self->arrays, "sample_index");
  g_autoptr (GdkTexture) tex = NULL;

  if (images && images->ndim == 3 && row < images->shape[0] && images->dtype == PS_DTYPE_F32)
    {
      gsize h = images->shape[1], w = images->shape[2];
      const float *data = ps_array_data (images, NULL);
      tex = image_texture (data + row * h * w, h, w);
    }
  else if (index && index->dtype == PS_DTYPE_I32 && row < ps_array_n_elements (index))
    {
      ensure_image_data (self);
      PsDataset *ds = self->image_data;
      gint32 r = ((const gint32 *) ps_array_data (index, NULL))[row];
      if (ds == NULL || r < 0 || (guint) r >= ds->n)
        return NULL;
      /* The first channel is enough for a thumbnail. */
      tex = image_texture (ds->x + (gsize) r * ds->d, ds->img_h, ds->img_w);
    }
  if (tex == NULL)
    return NULL;
  GtkWidget *pic = gtk_picture_new_for_paintable (GDK_PAINTABLE (tex));
  gtk_widget_set_size_request (pic, size, size);
  return pic;
}

typedef struct
{
  gsize index;
  double dist;
} Neighbour;

static int
neighbour_cmp (gconstpointer a, gconstpointer b)
{
  double x = ((const Neighbour *) a)->dist, y = ((const Neighbour *) b)->dist;
  return x < y ? -1 : x > y;
}

static void
add_neighbour_row (PsEmbeddingView *self, const char *text, double similarity, GtkWidget *thumb)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  GtkWidget *col = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *label = gtk_label_new (text);
  GtkWidget *bar = gtk_progress_bar_new ();
  g_autofree char *tip = g_strdup_printf ("similarity %.3f", similarity);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_add_css_class (label, "numeric");
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (bar), CLAMP (similarity, 0, 1));
  gtk_widget_add_css_class (bar, "similarity-bar");
  gtk_widget_set_tooltip_text (row, tip);
  gtk_widget_set_hexpand (col, TRUE);
  gtk_box_append (GTK_BOX (col), label);
  gtk_box_append (GTK_BOX (col), bar);
  if (thumb)
    gtk_box_append (GTK_BOX (row), thumb);
  gtk_box_append (GTK_BOX (row), col);
  gtk_box_append (self->neighbours_box, row);
  self->n_neighbours++;
}

/* ---- The model, for the method's own explanations ---------------------- */

typedef struct
{
  char *store_path;
  gint64 run;
  const PsMethod *method;
  gpointer model;
  PsDataset *data;
} ModelLoad;

static void
model_load_free (ModelLoad *l)
{
  if (l->model)
    l->method->free (l->model);
  g_clear_pointer (&l->data, ps_dataset_unref);
  g_free (l->store_path);
  g_free (l);
}

/* On a worker thread: its own store connection, the dataset the run used,
 * a fresh model, and the last checkpoint loaded into it. */
static void
model_load_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ModelLoad *l = data;
  GError *error = NULL;
  PsStore *store = ps_store_open (l->store_path, &error);
  g_autoptr (PsRunInfo) info = NULL;
  g_autoptr (PsParams) params = NULL;
  g_autoptr (GBytes) blob = NULL;
  gint64 step = 0;

  if (store == NULL)
    goto fail;
  info = ps_store_get_run (store, l->run, &error);
  if (info == NULL)
    goto fail;
  params = ps_method_default_params (l->method);
  if (info->params_json && !ps_params_load_json (params, info->params_json, &error))
    goto fail;
  /* Generator options ("moons:n=1000,...") are parsed by the CLI only, so
   * those runs keep the snapshot-based explanation for now. */
  if (strchr (info->dataset, ':') != NULL && ps_dataset_builtin_description (info->dataset) == NULL
      && !g_file_test (info->dataset, G_FILE_TEST_EXISTS))
    {
      g_set_error (&error, PS_ERROR, PS_ERROR_NOT_FOUND, "the dataset %s cannot be reloaded here", info->dataset);
      goto fail;
    }
  l->data = ps_run_request_load_dataset (info->dataset, 0, -1, NULL, NULL, NULL, &error);
  if (l->data == NULL)
    goto fail;
  blob = ps_store_get_checkpoint (store, l->run, &step, &error);
  if (blob == NULL)
    goto fail;
  l->model = l->method->create (l->method, params, l->data, info->seed, &error);
  if (l->model == NULL || !l->method->load (l->model, blob, &error))
    goto fail;
  ps_store_close (store);
  g_task_return_boolean (task, TRUE);
  return;

fail:
  if (store)
    ps_store_close (store);
  g_task_return_error (task, error ? error : g_error_new (PS_ERROR, PS_ERROR_NOT_FOUND, "no model"));
}

static void
model_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ModelLoad *l = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;

  /* The task holds no reference on the view (so a closing window never
   * waits for it): a view that moved on or went away cancelled it first,
   * on this same thread, and is not touched here. */
  if (g_cancellable_is_cancelled (g_task_get_cancellable (G_TASK (result))))
    return;
  PsEmbeddingView *self = PS_EMBEDDING_VIEW (user_data);
  g_clear_object (&self->model_cancel);
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("no model for the explanation of run %" G_GINT64_FORMAT ": %s", l->run, error->message);
      return;
    }
  /* A result for a run no longer shown is dropped with the task. */
  if (l->run != self->run_id || self->model != NULL)
    return;
  self->model_method = l->method;
  self->model = g_steal_pointer (&l->model);
  self->model_data = g_steal_pointer (&l->data);
  ps_embedding_explain_update (self);
}

void
ps_embedding_explain_drop_model (PsEmbeddingView *self)
{
  if (self->model_cancel)
    {
      g_cancellable_cancel (self->model_cancel);
      g_clear_object (&self->model_cancel);
    }
  if (self->model)
    self->model_method->free (self->model);
  self->model = NULL;
  self->model_method = NULL;
  g_clear_pointer (&self->model_data, ps_dataset_unref);
  self->model_tried = FALSE;
}

static void
ensure_model (PsEmbeddingView *self)
{
  if (self->model_tried || self->store == NULL || self->run_id == 0)
    return;
  g_autoptr (PsRunInfo) info = ps_store_get_run (self->store, self->run_id, NULL);
  /* A training run's checkpoint is still moving: ask again once it ends. */
  if (info == NULL || info->status == PS_RUN_RUNNING || info->status == PS_RUN_QUEUED
      || info->status == PS_RUN_PAUSED)
    return;
  self->model_tried = TRUE;
  const PsMethod *method = ps_method_find (info->method);
  if (method == NULL || method->explain == NULL || method->load == NULL)
    return;

  ModelLoad *l = g_new0 (ModelLoad, 1);
  l->store_path = g_strdup (ps_store_path (self->store));
  l->run = self->run_id;
  l->method = method;
  self->model_cancel = g_cancellable_new ();
  g_autoptr (GTask) task = g_task_new (NULL, self->model_cancel, model_loaded_cb, self);
  g_task_set_task_data (task, l, (GDestroyNotify) model_load_free);
  g_task_run_in_thread (task, model_load_thread);
}

/* The method's own explanation of dataset row `row`: its evidence rows
 * (prototypes or training samples) with similarity bars and the evidence
 * each adds.  FALSE when there is no model to ask. */
static gboolean
explain_with_model (PsEmbeddingView *self, gint64 row)
{
  g_autoptr (GError) error = NULL;

  if (self->model == NULL || row < 0 || (guint64) row >= self->model_data->n)
    return FALSE;
  g_autoptr (PsExplanation) ex = self->model_method->explain (self->model, (guint) row, &error);
  if (ex == NULL)
    return FALSE;

  gtk_label_set_label (self->neighbours_title,
                       ex->by_prototypes ? "Nearest Prototypes (from the model)"
                                         : "Nearest Training Samples (from the model)");
  gtk_widget_set_visible (GTK_WIDGET (self->neighbours_title), ex->evidence && ex->evidence->len > 0);
  if (ex->text)
    {
      GtkWidget *text = gtk_label_new (ex->text);
      gtk_label_set_wrap (GTK_LABEL (text), TRUE);
      gtk_label_set_max_width_chars (GTK_LABEL (text), 30);
      gtk_label_set_xalign (GTK_LABEL (text), 0);
      gtk_widget_add_css_class (text, "dim-label");
      gtk_box_append (self->neighbours_box, text);
    }
  /* Similarities in [0, 1] are drawn as they are; raw scores (negative
   * distances, logits) relative to the strongest, exp(s - max), so the
   * bars still rank and compare. */
  gboolean raw = FALSE;
  double best = -INFINITY;
  for (guint k = 0; ex->evidence && k < ex->evidence->len; k++)
    {
      double v = g_array_index (ex->evidence, PsEvidence, k).similarity;
      raw |= v < 0 || v > 1;
      best = MAX (best, v);
    }
  for (guint k = 0; ex->evidence && k < MIN (ex->evidence->len, N_NEIGHBOURS); k++)
    {
      PsEvidence *ev = &g_array_index (ex->evidence, PsEvidence, k);
      double bar = raw ? exp (ev->similarity - best) : ev->similarity;
      g_autofree char *t = NULL;
      GtkWidget *thumb = NULL;
      if (ex->by_prototypes)
        {
          g_autofree char *l = class_label (self, ev->cls);
          t = g_strdup_printf ("prototype %d · class %s · evidence %+.2f", ev->index, l, ev->evidence);
        }
      else
        {
          g_autofree char *l = class_label (self, ev->cls);
          t = g_strdup_printf ("#%d · class %s", ev->index, l);
          PsDataset *ds = self->model_data;
          if (ds->img_h > 0 && ev->index >= 0 && (guint) ev->index < ds->n)
            {
              g_autoptr (GdkTexture) tex = image_texture (ds->x + (gsize) ev->index * ds->d, ds->img_h, ds->img_w);
              thumb = gtk_picture_new_for_paintable (GDK_PAINTABLE (tex));
              gtk_widget_set_size_request (thumb, 40, 40);
            }
        }
      add_neighbour_row (self, t, CLAMP (bar, 0, 1), thumb);
    }
  return TRUE;
}

/* The selected sample's facts, and its nearest prototypes (when the
 * snapshot has them) or nearest training samples in the embedding, with
 * similarity bars.  Computed on the main thread: snapshots are small. */
void
ps_embedding_explain_update (PsEmbeddingView *self)
{
  gsize n_sel = 0;
  const guint32 *sel = ps_scatter_view_get_selection (self->scatter, &n_sel);

  clear_container (GTK_WIDGET (self->explain_grid));
  clear_container (GTK_WIDGET (self->neighbours_box));
  gtk_widget_set_visible (GTK_WIDGET (self->explain_picture), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->neighbours_title), FALSE);
  g_clear_pointer (&self->explain_text, g_free);
  self->n_neighbours = 0;

  if (n_sel == 0 || self->arrays == NULL)
    {
      gtk_label_set_label (self->explain_title,
                           "Click a point to see why the model decided what it did. "
                           "Shift-drag selects a box, Ctrl-drag a lasso.");
      gtk_widget_add_css_class (GTK_WIDGET (self->explain_title), "dim-label");
      return;
    }
  gtk_widget_remove_css_class (GTK_WIDGET (self->explain_title), "dim-label");
  if (n_sel > 1)
    {
      g_autofree char *t = g_strdup_printf ("%" G_GSIZE_FORMAT " samples selected", n_sel);
      gsize n_all = ps_scatter_view_get_n_points (self->scatter);
      PsArray *la = ps_embedding_find_array (self->arrays, "labels");
      PsArray *pa = ps_embedding_find_array (self->arrays, "predictions");
      const gint32 *l = la && la->dtype == PS_DTYPE_I32 && ps_array_n_elements (la) == n_all
                            ? ps_array_data (la, NULL) : NULL;
      const gint32 *p = pa && pa->dtype == PS_DTYPE_I32 && ps_array_n_elements (pa) == n_all
                            ? ps_array_data (pa, NULL) : NULL;
      gtk_label_set_label (self->explain_title, t);
      self->explain_text = g_strdup (t);
      if (l != NULL)
        {
          /* What the selection is made of: its classes and how many of
           * them the model gets right. */
          g_autoptr (GHashTable) counts = g_hash_table_new (NULL, NULL);
          gsize correct = 0, labelled = 0;
          int row = 0;
          for (gsize k = 0; k < n_sel; k++)
            {
              gint32 c = l[sel[k]];
              g_hash_table_insert (counts, GINT_TO_POINTER (c),
                                   GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts, GINT_TO_POINTER (c))) + 1));
              if (p && c >= 0)
                {
                  labelled++;
                  correct += p[sel[k]] == c;
                }
            }
          if (labelled > 0)
            {
              g_autofree char *acc = g_strdup_printf ("%.1f%%", 100.0 * correct / labelled);
              add_fact (self, row++, "accuracy", acc);
            }
          for (gint32 c = -1; c < 1000 && (guint) row < 12; c++)
            {
              guint k = GPOINTER_TO_UINT (g_hash_table_lookup (counts, GINT_TO_POINTER (c)));
              if (k == 0)
                continue;
              g_autofree char *key = c < 0 ? g_strdup ("unlabelled") : g_strdup_printf ("class %d", c);
              g_autofree char *val = g_strdup_printf ("%u (%.0f%%)", k, 100.0 * k / n_sel);
              add_fact (self, row++, key, val);
            }
        }
      return;
    }

  gsize i = sel[0];
  gsize n = ps_scatter_view_get_n_points (self->scatter);
  PsArray *labels = ps_embedding_find_array (self->arrays, "labels");
  PsArray *preds = ps_embedding_find_array (self->arrays, "predictions");
  PsArray *conf = ps_embedding_find_array (self->arrays, "confidence");
  PsArray *index = ps_embedding_find_array (self->arrays, "sample_index");
  PsArray *split = ps_embedding_find_array (self->arrays, "split");
  const gint32 *lab = labels && labels->dtype == PS_DTYPE_I32 && ps_array_n_elements (labels) == n
                          ? ps_array_data (labels, NULL) : NULL;
  const gint32 *pred = preds && preds->dtype == PS_DTYPE_I32 && ps_array_n_elements (preds) == n
                           ? ps_array_data (preds, NULL) : NULL;
  const float *cf = conf && conf->dtype == PS_DTYPE_F32 && ps_array_n_elements (conf) == n
                        ? ps_array_data (conf, NULL) : NULL;
  const gint32 *rows = index && index->dtype == PS_DTYPE_I32 && ps_array_n_elements (index) == n
                           ? ps_array_data (index, NULL) : NULL;
  const guint8 *spl = split && split->dtype == PS_DTYPE_U8 && ps_array_n_elements (split) == n
                          ? ps_array_data (split, NULL) : NULL;
  int r = 0;

  gint64 sample = rows ? rows[i] : (gint64) i;
  g_autoptr (GString) head = g_string_new (NULL);
  g_string_append_printf (head, "Sample %" G_GINT64_FORMAT, sample);
  if (lab)
    {
      g_autofree char *l = class_label (self, lab[i]);
      g_string_append_printf (head, ": true %s", l);
    }
  if (pred)
    {
      g_autofree char *l = class_label (self, pred[i]);
      g_string_append_printf (head, "%s predicted %s", lab ? "," : ":", l);
    }
  if (cf)
    g_string_append_printf (head, " (%.0f%%)", 100 * cf[i]);
  gtk_label_set_label (self->explain_title, head->str);
  self->explain_text = g_strdup (head->str);

  g_autofree char *row_text = g_strdup_printf ("%" G_GINT64_FORMAT, sample);
  add_fact (self, r++, "dataset row", row_text);
  if (lab)
    {
      g_autofree char *t = class_label (self, lab[i]);
      add_fact (self, r++, "true class", t);
    }
  if (pred)
    {
      g_autofree char *l = class_label (self, pred[i]);
      g_autofree char *t = g_strdup_printf ("%s%s", l,
                                            lab ? (lab[i] == pred[i] ? "  ✓ correct" : "  ✗ wrong") : "");
      add_fact (self, r++, "predicted", t);
    }
  if (cf)
    {
      g_autofree char *t = g_strdup_printf ("%.1f%%", 100 * cf[i]);
      add_fact (self, r++, "confidence", t);
    }
  if (spl)
    add_fact (self, r++, "split", spl[i] == PS_SPLIT_TRAIN ? "train" : spl[i] == PS_SPLIT_VAL ? "validation" : "test");

  GtkWidget *pic = thumbnail (self, i, 96);
  if (pic)
    {
      gtk_picture_set_paintable (self->explain_picture, gtk_picture_get_paintable (GTK_PICTURE (pic)));
      gtk_widget_set_visible (GTK_WIDGET (self->explain_picture), TRUE);
      g_object_ref_sink (pic);
      g_object_unref (pic);
    }

  /* The method's own explanation when its model could be reloaded; else
   * neighbours measured in the snapshot below. */
  ensure_model (self);
  if (explain_with_model (self, sample))
    return;

  /* The space to measure in: the embedding if any, else the 2-D points. */
  PsArray *space = ps_embedding_find_array (self->arrays, "embedding");
  if (space == NULL || space->ndim != 2 || space->shape[0] != n || space->dtype != PS_DTYPE_F32)
    space = ps_embedding_find_array (self->arrays, "points");
  if (space == NULL || space->ndim != 2 || space->shape[0] != n || space->dtype != PS_DTYPE_F32)
    return;
  gsize d = space->shape[1];
  const float *e = ps_array_data (space, NULL);
  const float *q = e + i * d;

  /* A scale for similarities: the spread of the embedding (RMS distance
   * to the mean), so bars compare across runs of different widths. */
  double spread = 0;
  {
    g_autofree double *mean = g_new0 (double, d);
    for (gsize a = 0; a < n; a++)
      for (gsize j = 0; j < d; j++)
        mean[j] += e[a * d + j] / n;
    for (gsize a = 0; a < n; a++)
      for (gsize j = 0; j < d; j++)
        spread += (e[a * d + j] - mean[j]) * (e[a * d + j] - mean[j]) / n;
    spread = sqrt (MAX (spread, 1e-12));
  }

  PsArray *protos = ps_embedding_find_array (self->arrays, "prototypes");
  PsArray *plabels = ps_embedding_find_array (self->arrays, "prototype_labels");
  if (protos && protos->ndim == 2 && protos->shape[1] == d && protos->dtype == PS_DTYPE_F32
      && protos->shape[0] > 0)
    {
      gsize k = protos->shape[0];
      const float *p = ps_array_data (protos, NULL);
      const gint32 *pl = plabels && ps_array_n_elements (plabels) == k && plabels->dtype == PS_DTYPE_I32
                             ? ps_array_data (plabels, NULL) : NULL;
      g_autofree Neighbour *nb = g_new (Neighbour, k);
      for (gsize a = 0; a < k; a++)
        {
          double s = 0;
          for (gsize j = 0; j < d; j++)
            s += (p[a * d + j] - q[j]) * (p[a * d + j] - q[j]);
          nb[a] = (Neighbour) { a, sqrt (s) };
        }
      qsort (nb, k, sizeof (Neighbour), neighbour_cmp);
      gtk_label_set_label (self->neighbours_title, "Nearest Prototypes");
      gtk_widget_set_visible (GTK_WIDGET (self->neighbours_title), TRUE);
      for (gsize a = 0; a < MIN (k, N_NEIGHBOURS); a++)
        {
          g_autofree char *l = pl ? class_label (self, pl[nb[a].index]) : NULL;
          g_autofree char *t = pl ? g_strdup_printf ("prototype %" G_GSIZE_FORMAT " · class %s", nb[a].index, l)
                                  : g_strdup_printf ("prototype %" G_GSIZE_FORMAT, nb[a].index);
          add_neighbour_row (self, t, 1.0 / (1.0 + nb[a].dist / spread), NULL);
        }
      return;
    }

  /* Nearest training samples (every other sample when the snapshot does
   * not say which are training rows). */
  g_autofree Neighbour *nb = g_new (Neighbour, n);
  gsize m = 0;
  gboolean have_train = FALSE;
  for (gsize a = 0; spl && a < n; a++)
    have_train |= spl[a] == PS_SPLIT_TRAIN;
  for (gsize a = 0; a < n; a++)
    {
      if (a == i || (have_train && spl[a] != PS_SPLIT_TRAIN))
        continue;
      double s = 0;
      for (gsize j = 0; j < d; j++)
        s += (e[a * d + j] - q[j]) * (e[a * d + j] - q[j]);
      nb[m++] = (Neighbour) { a, sqrt (s) };
    }
  qsort (nb, m, sizeof (Neighbour), neighbour_cmp);
  gtk_label_set_label (self->neighbours_title,
                       have_train ? "Nearest Training Samples" : "Nearest Samples");
  gtk_widget_set_visible (GTK_WIDGET (self->neighbours_title), m > 0);
  for (gsize a = 0; a < MIN (m, N_NEIGHBOURS); a++)
    {
      gsize j = nb[a].index;
      g_autoptr (GString) t = g_string_new (NULL);
      g_string_append_printf (t, "#%" G_GINT64_FORMAT, rows ? (gint64) rows[j] : (gint64) j);
      if (lab)
        {
          g_autofree char *l = class_label (self, lab[j]);
          g_string_append_printf (t, " · class %s", l);
        }
      if (lab && pred && lab[j] != pred[j])
        g_string_append (t, " (misclassified)");
      add_neighbour_row (self, t->str, 1.0 / (1.0 + nb[a].dist / spread), thumbnail (self, j, 40));
    }
}
