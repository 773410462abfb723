/* ps-data-spec.c: datasets named by a "spec" string, as runs store them.
 *
 *   NAME                      a built-in set ("digits", "moons", ...)
 *   NAME:k=v,k=v              a 2-D generator with options n, noise, seed
 *   fashion-mnist:far=digits  an image set with the scaled-up 8x8 digits
 *                             appended to its test split as one more class
 *   PATH                      a folder of IDX files, a .npy or a .csv
 *   PATH#labels=FILE          a .npy with its labels file
 *   PATH#label_column=NAME    a .csv with its label column
 *
 * The spec is what a run record keeps, so a run can be reopened, resumed or
 * explained later with exactly the data it was trained on.
 */
#define G_LOG_DOMAIN "ps-data"

#include "ps-dataset.h"

#include <string.h>

char *
ps_dataset_spec_string (const char *name_or_path, const char *labels_path,
                        const char *label_column)
{
  if (labels_path && *labels_path)
    return g_strdup_printf ("%s#labels=%s", name_or_path, labels_path);
  if (label_column && *label_column)
    return g_strdup_printf ("%s#label_column=%s", name_or_path, label_column);
  return g_strdup (name_or_path);
}

static PsDataset *
open_generator (const char *spec, const char *base, const char *opts, GError **error)
{
  guint n = 0;
  double noise = -1;
  guint64 seed = 0;
  const char *far = NULL;
  g_auto (GStrv) parts = g_strsplit (opts, ",", -1);
  for (char **p = parts; *p; p++)
    {
      char *end = NULL;
      if (g_str_has_prefix (*p, "n="))
        {
          guint64 v = g_ascii_strtoull (*p + 2, &end, 10);
          if (v > 10000000)
            {
              g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                           "dataset '%s': n=%" G_GUINT64_FORMAT " is too large (at most 10000000)",
                           spec, v);
              return NULL;
            }
          n = (guint) v;
        }
      else if (g_str_has_prefix (*p, "noise="))
        noise = g_ascii_strtod (*p + 6, &end);
      else if (g_str_has_prefix (*p, "seed="))
        seed = g_ascii_strtoull (*p + 5, &end, 10);
      else if (g_str_has_prefix (*p, "far=") && (*p)[4] != '\0')
        {
          far = *p + 4;
          end = *p + strlen (*p);
        }
      if (end == NULL || *end != '\0' || end == *p)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                       "dataset '%s': '%s' is not n=N, noise=X, seed=N or far=KIND", spec, *p);
          return NULL;
        }
    }
  g_autoptr (PsDataset) ds = ps_dataset_load_builtin (base, n, noise, seed, error);
  if (ds == NULL || far == NULL)
    return g_steal_pointer (&ds);
  PsDataset *with = ps_dataset_with_far_set (ds, far, error);
  if (with == NULL)
    g_prefix_error (error, "dataset '%s': ", spec);
  return with;
}

PsDataset *
ps_dataset_open_spec (const char *spec, const char *labels_path, const char *label_column,
                      gboolean assign_split, GError **error)
{
  g_return_val_if_fail (spec != NULL, NULL);
  g_autofree char *path = g_strdup (spec);
  g_autofree char *labels = g_strdup (labels_path);
  g_autofree char *column = g_strdup (label_column);

  /* A '#labels=' or '#label_column=' suffix carries the second file or
   * column; explicit arguments win. */
  char *hash = strrchr (path, '#');
  if (hash && (g_str_has_prefix (hash, "#labels=") || g_str_has_prefix (hash, "#label_column=")))
    {
      if (g_str_has_prefix (hash, "#labels="))
        {
          if (labels == NULL)
            labels = g_strdup (hash + strlen ("#labels="));
        }
      else if (column == NULL)
        column = g_strdup (hash + strlen ("#label_column="));
      *hash = '\0';
    }

  g_autoptr (PsDataset) ds = NULL;
  const char *colon = strchr (path, ':');
  g_autofree char *base = colon ? g_strndup (path, colon - path) : NULL;
  if (colon && ps_dataset_builtin_description (base) != NULL)
    ds = open_generator (spec, base, colon + 1, error);
  else
    ds = ps_dataset_open (path, labels, column, error);
  if (ds == NULL)
    return NULL;
  if (assign_split && !ds->has_split)
    ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  return g_steal_pointer (&ds);
}
