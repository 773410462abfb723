/* ps-dataset.c: the dataset object, its views, splits and transforms.
 *
 * Everything here works on a loaded dataset; the loaders and generators
 * live in their own files.  Splits, hold-outs and masks are seeded and
 * stratified so the same seed always yields the same experiment.
 */
#define G_LOG_DOMAIN "ps-data"

#include "ps-dataset.h"

#include <math.h>
#include <string.h>

/* Labels above this are almost surely a mistake (a float column read as
 * labels, a corrupt file) and would make n_classes absurd. */
#define PS_MAX_CLASSES 100000

PsDataset *
ps_dataset_new (const char *name, guint n, guint d)
{
  PsDataset *ds = g_new0 (PsDataset, 1);
  ds->ref_count = 1;
  ds->name = g_strdup (name ? name : "dataset");
  ds->source = g_strdup ("");
  ds->n = n;
  ds->d = d;
  ds->x = ps_alloc0 ((gsize) n * d * sizeof (float));
  ds->y = g_new (gint32, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    ds->y[i] = -1;
  ds->split = g_new0 (guint8, MAX (n, 1));
  return ds;
}

PsDataset *
ps_dataset_ref (PsDataset *ds)
{
  g_return_val_if_fail (ds != NULL, NULL);
  g_atomic_int_inc (&ds->ref_count);
  return ds;
}

void
ps_dataset_unref (PsDataset *ds)
{
  if (ds == NULL)
    return;
  if (!g_atomic_int_dec_and_test (&ds->ref_count))
    return;
  ps_free (ds->x);
  g_free (ds->y);
  g_free (ds->split);
  g_strfreev (ds->class_names);
  g_free (ds->name);
  g_free (ds->source);
  g_free (ds);
}

void
ps_dataset_set_class_names (PsDataset *ds, const char * const *names, guint n)
{
  g_return_if_fail (ds != NULL);
  g_strfreev (ds->class_names);
  ds->class_names = g_new0 (char *, n + 1);
  for (guint c = 0; c < n; c++)
    ds->class_names[c] = names ? g_strdup (names[c]) : g_strdup_printf ("%u", c);
}

gboolean
ps_dataset_validate (PsDataset *ds, const char *what, GError **error)
{
  g_return_val_if_fail (ds != NULL, FALSE);
  const char *label = what ? what : ds->name;
  gint32 max_label = -1;
  for (guint i = 0; i < ds->n; i++)
    {
      gint32 y = ds->y[i];
      if (y < -1)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                       "%s: label %d of sample %u is negative (only -1, unlabelled, is allowed)",
                       label, y, i);
          return FALSE;
        }
      if (y >= PS_MAX_CLASSES)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                       "%s: label %d of sample %u is out of range (at most %d classes)",
                       label, y, i, PS_MAX_CLASSES);
          return FALSE;
        }
      if (y > max_label)
        max_label = y;
    }
  if (!ps_all_finite (ds->x, (gsize) ds->n * ds->d))
    {
      for (gsize k = 0; k < (gsize) ds->n * ds->d; k++)
        if (!isfinite (ds->x[k]))
          {
            g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                         "%s: sample %" G_GSIZE_FORMAT ", feature %" G_GSIZE_FORMAT " is not finite (%g)",
                         label, k / MAX (ds->d, 1), k % MAX (ds->d, 1), (double) ds->x[k]);
            return FALSE;
          }
    }
  guint n_classes = (guint) (max_label + 1);
  /* Class names that a loader set for more classes than the labels use
   * (say a subset without class 9) are kept: names describe the source. */
  guint n_names = ds->class_names ? g_strv_length (ds->class_names) : 0;
  if (n_names > n_classes)
    n_classes = n_names;
  if (ds->class_names && n_names < n_classes)
    {
      /* Too few names: extend with the numbers so the array stays usable. */
      char **names = g_new0 (char *, n_classes + 1);
      for (guint c = 0; c < n_classes; c++)
        names[c] = c < n_names ? g_strdup (ds->class_names[c]) : g_strdup_printf ("%u", c);
      g_strfreev (ds->class_names);
      ds->class_names = names;
    }
  ds->n_classes = n_classes;
  return TRUE;
}

static void
copy_meta (PsDataset *dst, PsDataset *src)
{
  g_free (dst->source);
  dst->source = g_strdup (src->source);
  dst->img_c = src->img_c;
  dst->img_h = src->img_h;
  dst->img_w = src->img_w;
  dst->has_split = src->has_split;
  dst->n_classes = src->n_classes;
  if (src->class_names)
    dst->class_names = g_strdupv (src->class_names);
}

PsDataset *
ps_dataset_subset (PsDataset *ds, const guint *idx, guint n)
{
  g_return_val_if_fail (ds != NULL, NULL);
  g_return_val_if_fail (idx != NULL || n == 0, NULL);
  PsDataset *out = ps_dataset_new (ds->name, n, ds->d);
  copy_meta (out, ds);
  for (guint i = 0; i < n; i++)
    {
      g_return_val_if_fail (idx[i] < ds->n, out);
      memcpy (out->x + (gsize) i * ds->d, ds->x + (gsize) idx[i] * ds->d, ds->d * sizeof (float));
      out->y[i] = ds->y[idx[i]];
      out->split[i] = ds->split[idx[i]];
    }
  return out;
}

guint
ps_dataset_count_split (PsDataset *ds, PsSplit split)
{
  g_return_val_if_fail (ds != NULL, 0);
  guint count = 0;
  for (guint i = 0; i < ds->n; i++)
    count += ds->split[i] == split;
  return count;
}

PsDataset *
ps_dataset_split_view (PsDataset *ds, PsSplit split)
{
  g_return_val_if_fail (ds != NULL, NULL);
  guint n = ps_dataset_count_split (ds, split);
  g_autofree guint *idx = g_new (guint, MAX (n, 1));
  guint j = 0;
  for (guint i = 0; i < ds->n; i++)
    if (ds->split[i] == split)
      idx[j++] = i;
  return ps_dataset_subset (ds, idx, n);
}

/* Groups sample indices by label: one group per class plus one (the last)
 * for unlabelled samples.  offsets has n_groups + 1 entries. */
static guint *
group_by_label (PsDataset *ds, const guint8 *only_split, guint *n_groups, guint **offsets_out)
{
  gint32 max_label = -1;
  for (guint i = 0; i < ds->n; i++)
    max_label = MAX (max_label, ds->y[i]);
  guint g = (guint) (max_label + 2);
  guint *offsets = g_new0 (guint, g + 1);
  for (guint i = 0; i < ds->n; i++)
    if (!only_split || ds->split[i] == *only_split)
      offsets[(ds->y[i] < 0 ? g - 1 : (guint) ds->y[i]) + 1]++;
  for (guint c = 0; c < g; c++)
    offsets[c + 1] += offsets[c];
  guint *fill = g_memdup2 (offsets, g * sizeof (guint));
  guint *members = g_new (guint, MAX (offsets[g], 1));
  for (guint i = 0; i < ds->n; i++)
    if (!only_split || ds->split[i] == *only_split)
      members[fill[ds->y[i] < 0 ? g - 1 : (guint) ds->y[i]]++] = i;
  g_free (fill);
  *n_groups = g;
  *offsets_out = offsets;
  return members;
}

void
ps_dataset_assign_split (PsDataset *ds, double val_frac, double test_frac, guint64 seed)
{
  g_return_if_fail (ds != NULL);
  g_return_if_fail (val_frac >= 0 && test_frac >= 0 && val_frac + test_frac <= 1.0);
  PsRng rng;
  ps_rng_init (&rng, seed, 0x5b11);
  guint g;
  g_autofree guint *offsets = NULL;
  g_autofree guint *members = group_by_label (ds, NULL, &g, &offsets);
  for (guint c = 0; c < g; c++)
    {
      guint *m = members + offsets[c];
      guint count = offsets[c + 1] - offsets[c];
      ps_rng_shuffle (&rng, m, count);
      guint n_val = (guint) floor (val_frac * count + 0.5);
      guint n_test = (guint) floor (test_frac * count + 0.5);
      if (n_val + n_test > count)
        n_test = count - n_val;
      for (guint k = 0; k < count; k++)
        ds->split[m[k]] = k < n_val ? PS_SPLIT_VAL : k < n_val + n_test ? PS_SPLIT_TEST : PS_SPLIT_TRAIN;
    }
}

PsDataset *
ps_dataset_keep_classes (PsDataset *ds, const gint32 *classes, guint n, gboolean relabel)
{
  g_return_val_if_fail (ds != NULL, NULL);
  g_return_val_if_fail (classes != NULL || n == 0, NULL);
  /* new_label[c + 1] is the label class c gets, or -2 when dropped. */
  gint32 max_label = -1;
  for (guint i = 0; i < ds->n; i++)
    max_label = MAX (max_label, ds->y[i]);
  for (guint k = 0; k < n; k++)
    max_label = MAX (max_label, classes[k]);
  g_autofree gint32 *new_label = g_new (gint32, max_label + 2);
  for (gint32 c = -1; c <= max_label; c++)
    new_label[c + 1] = -2;
  for (guint k = 0; k < n; k++)
    if (classes[k] >= -1 && new_label[classes[k] + 1] == -2)
      new_label[classes[k] + 1] = relabel && classes[k] >= 0 ? (gint32) k : classes[k];

  g_autofree guint *idx = g_new (guint, MAX (ds->n, 1));
  guint m = 0;
  for (guint i = 0; i < ds->n; i++)
    if (new_label[ds->y[i] + 1] != -2)
      idx[m++] = i;
  PsDataset *out = ps_dataset_subset (ds, idx, m);
  if (relabel)
    {
      for (guint i = 0; i < m; i++)
        out->y[i] = new_label[out->y[i] + 1];
      /* The relabelled classes are 0..n-1 in the order given; duplicates
       * and -1 in `classes` leave gaps that keep their number as name. */
      g_strfreev (out->class_names);
      out->class_names = NULL;
      if (ds->class_names)
        {
          guint n_names = g_strv_length (ds->class_names);
          out->class_names = g_new0 (char *, n + 1);
          for (guint k = 0; k < n; k++)
            {
              gint32 c = classes[k];
              out->class_names[k] = c >= 0 && (guint) c < n_names
                ? g_strdup (ds->class_names[c]) : g_strdup_printf ("%d", c);
            }
        }
      out->n_classes = n;
    }
  return out;
}

void
ps_dataset_mask_labels (PsDataset *ds, double frac, guint64 seed)
{
  g_return_if_fail (ds != NULL);
  g_return_if_fail (frac >= 0 && frac <= 1);
  PsRng rng;
  ps_rng_init (&rng, seed, 0x3a5c);
  guint g;
  guint8 train = PS_SPLIT_TRAIN;
  g_autofree guint *offsets = NULL;
  g_autofree guint *members = group_by_label (ds, &train, &g, &offsets);
  /* The last group holds the already unlabelled samples. */
  for (guint c = 0; c + 1 < g; c++)
    {
      guint *m = members + offsets[c];
      guint count = offsets[c + 1] - offsets[c];
      ps_rng_shuffle (&rng, m, count);
      guint keep = (guint) floor (frac * count + 0.5);
      /* A class that is present keeps at least one label when any are
       * asked for, so no class silently vanishes from the labelled set. */
      if (frac > 0 && keep == 0 && count > 0)
        keep = 1;
      for (guint k = keep; k < count; k++)
        ds->y[m[k]] = -1;
    }
}

void
ps_dataset_standardize (PsDataset *ds, float *mean_out, float *std_out)
{
  g_return_if_fail (ds != NULL);
  guint n = ds->n, d = ds->d;
  guint n_train = ps_dataset_count_split (ds, PS_SPLIT_TRAIN);
  /* Without TRAIN rows there is nothing better than all rows. */
  gboolean all = n_train == 0;
  g_autofree double *sum = g_new0 (double, MAX (d, 1));
  g_autofree double *sq = g_new0 (double, MAX (d, 1));
  guint count = 0;
  for (guint i = 0; i < n; i++)
    {
      if (!all && ds->split[i] != PS_SPLIT_TRAIN)
        continue;
      const float *row = ds->x + (gsize) i * d;
      for (guint j = 0; j < d; j++)
        sum[j] += row[j];
      count++;
    }
  for (guint j = 0; j < d; j++)
    sum[j] /= MAX (count, 1);
  for (guint i = 0; i < n; i++)
    {
      if (!all && ds->split[i] != PS_SPLIT_TRAIN)
        continue;
      const float *row = ds->x + (gsize) i * d;
      for (guint j = 0; j < d; j++)
        {
          double t = row[j] - sum[j];
          sq[j] += t * t;
        }
    }
  g_autofree float *mean = g_new (float, MAX (d, 1));
  g_autofree float *inv = g_new (float, MAX (d, 1));
  for (guint j = 0; j < d; j++)
    {
      double sd = sqrt (sq[j] / MAX (count, 1));
      mean[j] = (float) sum[j];
      /* A constant feature stays constant (zero) instead of dividing by 0. */
      if (!(sd > 1e-12))
        sd = 1.0;
      inv[j] = (float) (1.0 / sd);
      if (mean_out)
        mean_out[j] = mean[j];
      if (std_out)
        std_out[j] = (float) sd;
    }
  for (guint i = 0; i < n; i++)
    {
      float *row = ds->x + (gsize) i * d;
      for (guint j = 0; j < d; j++)
        row[j] = (row[j] - mean[j]) * inv[j];
    }
}

/* ------------------------------------------------------------------ */
/* Where data live                                                      */
/* ------------------------------------------------------------------ */

const char *
ps_data_dir (void)
{
  static char *dir = NULL;
  if (g_once_init_enter (&dir))
    {
      const char *env = g_getenv ("PROTOSCOPE_DATA_DIR");
      char *found;
      if (env && *env)
        found = g_strdup (env);
      else if (g_file_test (PS_SOURCE_DATA_DIR, G_FILE_TEST_IS_DIR))
        found = g_strdup (PS_SOURCE_DATA_DIR);
      else
        found = g_strdup (PS_INSTALLED_DATA_DIR);
      g_once_init_leave (&dir, found);
    }
  return dir;
}

const char *
ps_fashion_mnist_dir (void)
{
  const char *env = g_getenv ("PROTOSCOPE_FASHION_MNIST");
  if (env && *env)
    return env;
  return "/usr/share/datasets/fashion-mnist";
}
