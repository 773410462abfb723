/* ps-method-util.c: machinery shared by the methods. */
#define G_LOG_DOMAIN "ps-method"

#include "ps-method-util.h"

#include <math.h>
#include <string.h>

guint *
ps_split_indices (PsDataset *ds, PsSplit split, gboolean labelled_only, guint *n)
{
  guint *rows = g_new (guint, MAX (ds->n, 1));
  guint k = 0;
  for (guint i = 0; i < ds->n; i++)
    if (ds->split[i] == split && (!labelled_only || ds->y[i] >= 0))
      rows[k++] = i;
  *n = k;
  return rows;
}

float *
ps_gather_rows (PsDataset *ds, const guint *rows, guint n)
{
  float *x = g_new (float, (gsize) MAX (n, 1) * ds->d);
  for (guint i = 0; i < n; i++)
    memcpy (x + (gsize) i * ds->d, ds->x + (gsize) rows[i] * ds->d, ds->d * sizeof (float));
  return x;
}

void
ps_eval_set_init (PsEvalSet *set, PsDataset *ds, PsSplit split)
{
  memset (set, 0, sizeof *set);
  set->split = split;
  set->rows = ps_split_indices (ds, split, TRUE, &set->n);
  set->x = ps_gather_rows (ds, set->rows, set->n);
  set->y = g_new (int, MAX (set->n, 1));
  for (guint i = 0; i < set->n; i++)
    set->y[i] = ds->y[set->rows[i]];
}

void
ps_eval_set_clear (PsEvalSet *set)
{
  g_clear_pointer (&set->rows, g_free);
  g_clear_pointer (&set->x, g_free);
  g_clear_pointer (&set->y, g_free);
  set->n = 0;
}

guint *
ps_snapshot_rows (PsDataset *ds, guint *n)
{
  if (ds->n <= 20000 || ps_dataset_count_split (ds, PS_SPLIT_TEST) == 0)
    {
      guint *rows = g_new (guint, MAX (ds->n, 1));
      for (guint i = 0; i < ds->n; i++)
        rows[i] = i;
      *n = ds->n;
      return rows;
    }
  return ps_split_indices (ds, PS_SPLIT_TEST, FALSE, n);
}

void
ps_snapshot_add_common (GPtrArray *out, PsDataset *ds, const guint *rows, guint n, const float *x)
{
  g_autofree gint32 *idx = g_new (gint32, MAX (n, 1));
  g_autofree gint32 *lab = g_new (gint32, MAX (n, 1));
  g_autofree guint8 *split = g_new (guint8, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      idx[i] = (gint32) rows[i];
      lab[i] = ds->y[rows[i]];
      split[i] = ds->split[rows[i]];
    }
  g_ptr_array_add (out, ps_array_new_i32 ("sample_index", idx, n));
  g_ptr_array_add (out, ps_array_new_i32 ("labels", lab, n));
  gsize shape[1] = { n };
  g_ptr_array_add (out, ps_array_new ("split", PS_DTYPE_U8, 1, shape, split));
  if (ds->d == 2)
    g_ptr_array_add (out, ps_array_new_f32 ("points", x, n, 2));
}

void
ps_extent_2d (const float *x, guint n, float margin, float ext[4])
{
  float x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (guint i = 0; i < n; i++)
    {
      x0 = MIN (x0, x[2 * i]);
      x1 = MAX (x1, x[2 * i]);
      y0 = MIN (y0, x[2 * i + 1]);
      y1 = MAX (y1, x[2 * i + 1]);
    }
  if (n == 0)
    x0 = y0 = -1, x1 = y1 = 1;
  float dx = MAX (x1 - x0, 1e-3f), dy = MAX (y1 - y0, 1e-3f);
  ext[0] = x0 - margin * dx;
  ext[1] = x1 + margin * dx;
  ext[2] = y0 - margin * dy;
  ext[3] = y1 + margin * dy;
}

typedef struct
{
  float sim;
  guint i;
} Scored;

static int
cmp_scored_desc (gconstpointer a, gconstpointer b)
{
  const Scored *x = a, *y = b;
  if (x->sim != y->sim)
    return x->sim < y->sim ? 1 : -1;
  return x->i < y->i ? -1 : x->i > y->i;
}

void
ps_nearest_evidence (PsExplanation *ex, const float *q, const float *emb, guint n, int e,
                     const guint *rows, const gint32 *y, guint k)
{
  double qn = 0;
  for (int j = 0; j < e; j++)
    qn += (double) q[j] * q[j];
  qn = sqrt (qn) + 1e-12;
  g_autofree Scored *s = g_new (Scored, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      const float *r = emb + (gsize) i * e;
      double dot = 0, rn = 0;
      for (int j = 0; j < e; j++)
        {
          dot += (double) q[j] * r[j];
          rn += (double) r[j] * r[j];
        }
      s[i].sim = (float) (0.5 * (1.0 + dot / (qn * (sqrt (rn) + 1e-12))));
      s[i].i = i;
    }
  qsort (s, n, sizeof (Scored), cmp_scored_desc);
  float total = 0;
  for (guint i = 0; i < MIN (k, n); i++)
    total += s[i].sim;
  for (guint i = 0; i < MIN (k, n); i++)
    {
      PsEvidence ev = { 0 };
      ev.index = (int) rows[s[i].i];
      ev.cls = y[rows[s[i].i]];
      ev.similarity = s[i].sim;
      ev.weight = total > 0 ? s[i].sim / total : 0;
      ev.evidence = ev.weight;   /* its share of a similarity-weighted k-NN vote */
      g_array_append_val (ex->evidence, ev);
    }
}

const char *
ps_class_name (PsDataset *ds, int c)
{
  static const char *digits[] = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" };
  if (c >= 0 && ds->class_names && (guint) c < ds->n_classes && ds->class_names[c])
    return ds->class_names[c];
  if (c >= 0 && c < 10)
    return digits[c];
  return c < 0 ? "unlabelled" : "?";
}

/* ---- Blobs ------------------------------------------------------------ */

void
ps_blob_writer_init (PsBlobWriter *w, guint32 magic)
{
  w->buf = g_byte_array_new ();
  ps_blob_put_u32 (w, magic);
  ps_blob_put_u32 (w, 1);
}

void
ps_blob_put (PsBlobWriter *w, gconstpointer data, gsize n)
{
  g_byte_array_append (w->buf, data, n);
}

void
ps_blob_put_u32 (PsBlobWriter *w, guint32 v)
{
  guint32 le = GUINT32_TO_LE (v);
  ps_blob_put (w, &le, 4);
}

void
ps_blob_put_u64 (PsBlobWriter *w, guint64 v)
{
  guint64 le = GUINT64_TO_LE (v);
  ps_blob_put (w, &le, 8);
}

void
ps_blob_put_f64 (PsBlobWriter *w, double v)
{
  guint64 bits;
  memcpy (&bits, &v, 8);
  ps_blob_put_u64 (w, bits);
}

void
ps_blob_put_rng (PsBlobWriter *w, const PsRng *rng)
{
  ps_blob_put_u64 (w, rng->state);
  ps_blob_put_u64 (w, rng->inc);
  ps_blob_put_u32 (w, rng->have_spare);
  guint32 bits;
  memcpy (&bits, &rng->spare, 4);
  ps_blob_put_u32 (w, bits);
}

void
ps_blob_put_bytes (PsBlobWriter *w, GBytes *bytes)
{
  gsize n;
  gconstpointer d = g_bytes_get_data (bytes, &n);
  ps_blob_put_u64 (w, n);
  ps_blob_put (w, d, n);
}

GBytes *
ps_blob_writer_finish (PsBlobWriter *w)
{
  return g_byte_array_free_to_bytes (g_steal_pointer (&w->buf));
}

gboolean
ps_blob_reader_init (PsBlobReader *r, GBytes *blob, guint32 magic, const char *what, GError **error)
{
  r->data = g_bytes_get_data (blob, &r->size);
  r->pos = 0;
  r->what = what;
  guint32 m = 0, version = 0;
  if (!ps_blob_get_u32 (r, &m, error) || !ps_blob_get_u32 (r, &version, error))
    return FALSE;
  if (m != magic)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: wrong magic (not a checkpoint of this method)", what);
      return FALSE;
    }
  if (version != 1)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: version %u is newer than this program reads (1)",
                   what, version);
      return FALSE;
    }
  return TRUE;
}

gboolean
ps_blob_get (PsBlobReader *r, gpointer out, gsize n, GError **error)
{
  if (n > r->size - r->pos)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: truncated at byte %" G_GSIZE_FORMAT,
                   r->what, r->pos);
      return FALSE;
    }
  memcpy (out, r->data + r->pos, n);
  r->pos += n;
  return TRUE;
}

gboolean
ps_blob_get_u32 (PsBlobReader *r, guint32 *v, GError **error)
{
  guint32 le;
  if (!ps_blob_get (r, &le, 4, error))
    return FALSE;
  *v = GUINT32_FROM_LE (le);
  return TRUE;
}

gboolean
ps_blob_get_u64 (PsBlobReader *r, guint64 *v, GError **error)
{
  guint64 le;
  if (!ps_blob_get (r, &le, 8, error))
    return FALSE;
  *v = GUINT64_FROM_LE (le);
  return TRUE;
}

gboolean
ps_blob_get_f64 (PsBlobReader *r, double *v, GError **error)
{
  guint64 bits;
  if (!ps_blob_get_u64 (r, &bits, error))
    return FALSE;
  memcpy (v, &bits, 8);
  return TRUE;
}

gboolean
ps_blob_get_rng (PsBlobReader *r, PsRng *rng, GError **error)
{
  guint32 spare_flag, bits;
  if (!ps_blob_get_u64 (r, &rng->state, error) || !ps_blob_get_u64 (r, &rng->inc, error)
      || !ps_blob_get_u32 (r, &spare_flag, error) || !ps_blob_get_u32 (r, &bits, error))
    return FALSE;
  rng->have_spare = spare_flag != 0;
  memcpy (&rng->spare, &bits, 4);
  return TRUE;
}

GBytes *
ps_blob_get_bytes (PsBlobReader *r, GError **error)
{
  guint64 n;
  if (!ps_blob_get_u64 (r, &n, error))
    return NULL;
  if (n > r->size - r->pos)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: truncated nested blob at byte %" G_GSIZE_FORMAT,
                   r->what, r->pos);
      return NULL;
    }
  GBytes *b = g_bytes_new (r->data + r->pos, n);
  r->pos += n;
  return b;
}

void
ps_blob_put_optim (PsBlobWriter *w, PsOptim *opt)
{
  ps_blob_put_u32 (w, opt != NULL);
  if (opt == NULL)
    return;
  ps_blob_put_u64 (w, (guint64) opt->t);
  ps_blob_put_u64 (w, opt->n_state);
  ps_blob_put (w, opt->state, opt->n_state * sizeof (float));
}

gboolean
ps_blob_get_optim (PsBlobReader *r, PsOptim **opt, gsize n, float lr, GError **error)
{
  guint32 present;
  guint64 t, n_state;
  if (!ps_blob_get_u32 (r, &present, error))
    return FALSE;
  if (!present)
    {
      g_clear_pointer (opt, ps_optim_free);
      return TRUE;
    }
  if (*opt == NULL)
    {
      PsOptimConfig cfg;
      ps_optim_config_init (&cfg, PS_OPTIM_ADAM, lr);
      *opt = ps_optim_new (&cfg, n);
    }
  if (!ps_blob_get_u64 (r, &t, error) || !ps_blob_get_u64 (r, &n_state, error))
    return FALSE;
  if (n_state != (*opt)->n_state)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: optimizer state of %" G_GUINT64_FORMAT
                   " values, expected %" G_GSIZE_FORMAT, r->what, n_state, (*opt)->n_state);
      return FALSE;
    }
  (*opt)->t = (gint64) t;
  return ps_blob_get (r, (*opt)->state, n_state * sizeof (float), error);
}

gboolean
ps_parse_new_classes (const char *spec, PsDataset *data, guint C, gboolean allow_all,
                      guint8 *is_old, GError **error)
{
  if (allow_all && g_strcmp0 (spec, "all") == 0)
    {
      memset (is_old, 0, C);
      return TRUE;
    }
  if (spec == NULL || spec[0] == '\0')
    {
      for (guint c = 0; c < C; c++)
        is_old[c] = c < C / 2;
      return TRUE;
    }
  memset (is_old, 1, C);
  g_auto (GStrv) parts = g_strsplit_set (spec, ", ", -1);
  for (char **q = parts; *q; q++)
    {
      if (**q == '\0')
        continue;
      char *end = NULL;
      gint64 c = g_ascii_strtoll (*q, &end, 10);
      if (end == *q || *end != '\0' || c < 0 || c >= C)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "new_classes: '%s' is not a class of %s",
                       *q, data->name);
          return FALSE;
        }
      is_old[c] = 0;
    }
  return TRUE;
}
