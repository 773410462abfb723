/* ps-data-csv.c: CSV files with a header line and a label column.
 *
 * Every column other than the label column must be numeric.  Labels that
 * are all whole numbers are kept as they are (an empty cell is -1,
 * unlabelled); otherwise each distinct string becomes a class, numbered in
 * sorted order, and the strings become the class names.
 */
#define G_LOG_DOMAIN "ps-data"

#include "ps-dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Splits one line at commas in place; strips blanks and one level of
 * double quotes (quoted fields must not contain commas).  Returns the
 * number of fields written to `fields` (at most max). */
static guint
split_line (char *line, char **fields, guint max)
{
  guint n = 0;
  char *p = line;
  for (;;)
    {
      char *comma = strchr (p, ',');
      if (comma)
        *comma = '\0';
      char *f = g_strstrip (p);
      gsize fl = strlen (f);
      if (fl >= 2 && f[0] == '"' && f[fl - 1] == '"')
        {
          f[fl - 1] = '\0';
          f++;
        }
      if (n < max)
        fields[n] = f;
      n++;
      if (!comma)
        break;
      p = comma + 1;
    }
  return n;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

PsDataset *
ps_dataset_load_csv (const char *path, const char *label_column, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  const char *label_name = label_column ? label_column : "label";
  gsize len = 0;
  g_autofree char *buf = (char *) ps_data_read_file (path, &len, error);
  if (!buf)
    return NULL;
  if (memchr (buf, '\0', len))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: not a text file (holds NUL bytes)", path);
      return NULL;
    }
  buf = g_realloc (buf, len + 1);
  buf[len] = '\0';

  /* Lines, without blank ones (a trailing newline is common). */
  g_autoptr (GPtrArray) lines = g_ptr_array_new ();
  g_autoptr (GArray) line_no = g_array_new (FALSE, FALSE, sizeof (guint));
  char *p = buf;
  guint number = 0;
  while (p && *p)
    {
      char *nl = strchr (p, '\n');
      if (nl)
        *nl = '\0';
      number++;
      gsize l = strlen (p);
      if (l > 0 && p[l - 1] == '\r')
        p[l - 1] = '\0';
      if (*g_strstrip (p) != '\0')
        {
          g_ptr_array_add (lines, p);
          g_array_append_val (line_no, number);
        }
      p = nl ? nl + 1 : NULL;
    }
  if (lines->len == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: empty file (expected a header line)", path);
      return NULL;
    }

  char *header = lines->pdata[0];
  guint n_cols = 1;
  for (const char *q = header; *q; q++)
    n_cols += *q == ',';
  g_autofree char **names = g_new0 (char *, n_cols);
  split_line (header, names, n_cols);
  int label_col = -1;
  for (guint c = 0; c < n_cols; c++)
    if (g_str_equal (names[c], label_name))
      label_col = (int) c;
  if (label_col < 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: no label column named \"%s\" in the header",
                   path, label_name);
      return NULL;
    }
  guint n = lines->len - 1, d = n_cols - 1;
  if (n == 0 || d == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s: holds no samples or no feature columns", path);
      return NULL;
    }

  g_autofree char *base = g_path_get_basename (path);
  char *dot = strchr (base, '.');
  if (dot && dot != base)
    *dot = '\0';
  g_autoptr (PsDataset) ds = ps_dataset_new (base, n, d);
  g_autofree char **fields = g_new0 (char *, n_cols);
  g_autofree char **labels = g_new0 (char *, n);
  gboolean numeric_labels = TRUE;
  for (guint i = 0; i < n; i++)
    {
      guint ln = g_array_index (line_no, guint, i + 1);
      guint got = split_line (lines->pdata[i + 1], fields, n_cols);
      if (got != n_cols)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: line %u has %u fields, the header has %u",
                       path, ln, got, n_cols);
          return NULL;
        }
      guint j = 0;
      for (guint c = 0; c < n_cols; c++)
        {
          if ((int) c == label_col)
            {
              labels[i] = fields[c];
              char *e;
              double v = g_ascii_strtod (fields[c], &e);
              if (fields[c][0] != '\0' && (*e != '\0' || !isfinite (v) || v != floor (v)))
                numeric_labels = FALSE;
              continue;
            }
          char *e;
          double v = g_ascii_strtod (fields[c], &e);
          if (fields[c][0] == '\0' || *e != '\0')
            {
              g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                           "%s: line %u, column %u (\"%s\"): \"%s\" is not a number",
                           path, ln, c + 1, names[c], fields[c]);
              return NULL;
            }
          if (!isfinite (v) || fabs (v) > G_MAXFLOAT)
            {
              g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                           "%s: line %u, column %u (\"%s\"): value %s is not finite",
                           path, ln, c + 1, names[c], fields[c]);
              return NULL;
            }
          ds->x[(gsize) i * d + j++] = (float) v;
        }
    }

  if (numeric_labels)
    {
      for (guint i = 0; i < n; i++)
        {
          if (labels[i][0] == '\0')
            {
              ds->y[i] = -1;
              continue;
            }
          double v = g_ascii_strtod (labels[i], NULL);
          if (v < -1 || v >= 100000)
            {
              g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                           "%s: line %u: label %s is out of range (-1 = unlabelled, 0 .. 99999)",
                           path, g_array_index (line_no, guint, i + 1), labels[i]);
              return NULL;
            }
          ds->y[i] = (gint32) v;
        }
      if (!ps_dataset_validate (ds, path, error))
        return NULL;
      if (ds->n_classes > 0)
        ps_dataset_set_class_names (ds, NULL, ds->n_classes);
    }
  else
    {
      /* Distinct non-empty strings, sorted, are the classes. */
      g_autofree char **sorted = g_memdup2 (labels, n * sizeof (char *));
      qsort (sorted, n, sizeof (char *), compare_strings);
      g_autoptr (GPtrArray) classes = g_ptr_array_new ();
      g_autoptr (GHashTable) index = g_hash_table_new (g_str_hash, g_str_equal);
      for (guint i = 0; i < n; i++)
        if (sorted[i][0] != '\0' && (classes->len == 0 || strcmp (sorted[i], classes->pdata[classes->len - 1]) != 0))
          {
            g_hash_table_insert (index, sorted[i], GUINT_TO_POINTER (classes->len));
            g_ptr_array_add (classes, sorted[i]);
          }
      for (guint i = 0; i < n; i++)
        ds->y[i] = labels[i][0] == '\0' ? -1 : (gint32) GPOINTER_TO_UINT (g_hash_table_lookup (index, labels[i]));
      ps_dataset_set_class_names (ds, (const char *const *) classes->pdata, classes->len);
      if (!ps_dataset_validate (ds, path, error))
        return NULL;
    }
  g_free (ds->source);
  ds->source = g_strdup (path);
  return g_steal_pointer (&ds);
}
