/* ps-data-npy.c: NumPy .npy files (features and optional labels).
 *
 * Supports header versions 1.0, 2.0 and 3.0, little and big endian, the
 * dtypes f4 f8 i1 i2 i4 i8 u1 u2 u4, C order and Fortran order (which is
 * transposed into our row-major layout).  A 3-D or 4-D features array
 * (N x H x W or N x C x H x W) becomes N x (C*H*W) with the image shape set.
 */
#define G_LOG_DOMAIN "ps-data"

#include "ps-dataset.h"

#include <math.h>
#include <string.h>

#define NPY_MAX_DIMS 8

typedef struct
{
  char kind;        /* 'f', 'i' or 'u' */
  guint size;       /* bytes per element */
  gboolean swap;    /* stored in the other byte order than this machine's */
  gboolean fortran;
  guint ndim;
  guint64 shape[NPY_MAX_DIMS];
  guint64 count;
  const guint8 *data;
} NpyArray;

static gboolean
npy_fail (GError **error, const char *path, const char *what)
{
  g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: malformed .npy header: %s", path, what);
  return FALSE;
}

static const char *
skip_ws (const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

/* Finds the value that follows 'key': in the header dictionary. */
static const char *
find_key (const char *h, const char *end, const char *key)
{
  gsize kl = strlen (key);
  for (const char *p = h; p + kl + 2 <= end; p++)
    if ((*p == '\'' || *p == '"') && p[kl + 1] == *p && memcmp (p + 1, key, kl) == 0)
      {
        const char *q = skip_ws (p + kl + 2, end);
        if (q < end && *q == ':')
          return skip_ws (q + 1, end);
      }
  return NULL;
}

static gboolean
npy_parse (const char *path, const guint8 *buf, gsize len, NpyArray *a, GError **error)
{
  memset (a, 0, sizeof *a);
  if (len < 10 || memcmp (buf, "\x93NUMPY", 6) != 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: not a .npy file (wrong magic)", path);
      return FALSE;
    }
  guint major = buf[6];
  gsize hlen, hstart;
  if (major == 1)
    {
      hlen = buf[8] | (gsize) buf[9] << 8;
      hstart = 10;
    }
  else if (major == 2 || major == 3)
    {
      if (len < 12)
        return npy_fail (error, path, "the file ends inside the header");
      hlen = buf[8] | (gsize) buf[9] << 8 | (gsize) buf[10] << 16 | (gsize) buf[11] << 24;
      hstart = 12;
    }
  else
    {
      g_set_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED, "%s: .npy format version %u is not supported", path, major);
      return FALSE;
    }
  if (hstart + hlen > len)
    return npy_fail (error, path, "the file ends inside the header");
  const char *h = (const char *) buf + hstart;
  const char *end = h + hlen;
  const char *p = skip_ws (h, end);
  while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\0'))
    end--;
  if (p >= end || *p != '{' || end[-1] != '}')
    return npy_fail (error, path, "the header is not a dictionary");

  /* descr */
  const char *v = find_key (p, end, "descr");
  if (!v || (*v != '\'' && *v != '"'))
    return npy_fail (error, path, "no 'descr' string");
  char quote = *v++;
  const char *ve = memchr (v, quote, end - v);
  if (!ve || ve - v < 3 || ve - v > 4)
    return npy_fail (error, path, "unreadable 'descr'");
  char order = v[0];
  a->kind = v[1];
  a->size = (guint) g_ascii_strtoull (v + 2, NULL, 10);
  if (order != '<' && order != '>' && order != '|' && order != '=')
    return npy_fail (error, path, "unknown byte order in 'descr'");
  gboolean ok = (a->kind == 'f' && (a->size == 4 || a->size == 8))
                || ((a->kind == 'i' || a->kind == 'u') && (a->size == 1 || a->size == 2 || a->size == 4 || a->size == 8));
  if (!ok)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED,
                   "%s: dtype '%.*s' is not supported (f4, f8, i1, i2, i4, i8, u1, u2, u4, u8)",
                   path, (int) (ve - v), v);
      return FALSE;
    }
  gboolean big = order == '>';
  a->swap = a->size > 1 && (G_BYTE_ORDER == G_LITTLE_ENDIAN ? big : (order == '<'));

  /* fortran_order */
  v = find_key (p, end, "fortran_order");
  if (!v)
    return npy_fail (error, path, "no 'fortran_order'");
  if (end - v >= 4 && memcmp (v, "True", 4) == 0)
    a->fortran = TRUE;
  else if (end - v >= 5 && memcmp (v, "False", 5) == 0)
    a->fortran = FALSE;
  else
    return npy_fail (error, path, "'fortran_order' is neither True nor False");

  /* shape */
  v = find_key (p, end, "shape");
  if (!v || *v != '(')
    return npy_fail (error, path, "no 'shape' tuple");
  v++;
  a->count = 1;
  for (;;)
    {
      v = skip_ws (v, end);
      if (v < end && *v == ')')
        break;
      if (v >= end || !g_ascii_isdigit (*v))
        return npy_fail (error, path, "unreadable 'shape'");
      if (a->ndim == NPY_MAX_DIMS)
        return npy_fail (error, path, "too many dimensions");
      char *e;
      guint64 dim = g_ascii_strtoull (v, &e, 10);
      if (dim > G_MAXUINT32)
        return npy_fail (error, path, "a dimension is absurdly large");
      a->shape[a->ndim++] = dim;
      a->count *= dim;
      if (a->count > ((guint64) 1 << 40))
        return npy_fail (error, path, "the array is absurdly large");
      v = skip_ws (e, end);
      if (v < end && *v == ',')
        v++;
      else if (v >= end || *v != ')')
        return npy_fail (error, path, "unreadable 'shape'");
    }
  if (a->ndim == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: holds a scalar, not an array", path);
      return FALSE;
    }
  gsize data_start = hstart + hlen;
  guint64 want = a->count * a->size;
  if (len - data_start != want)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                   "%s: the header promises %" G_GUINT64_FORMAT " bytes of data but the file holds %"
                   G_GSIZE_FORMAT " (truncated or wrong header)", path, want, len - data_start);
      return FALSE;
    }
  a->data = buf + data_start;
  return TRUE;
}

/* Element k (in file order) as a double. */
static inline double
npy_get (const NpyArray *a, guint64 k)
{
  guint8 b[8];
  const guint8 *src = a->data + k * a->size;
  if (a->swap)
    {
      for (guint j = 0; j < a->size; j++)
        b[j] = src[a->size - 1 - j];
      src = b;
    }
  switch (a->kind)
    {
    case 'f':
      if (a->size == 4)
        {
          float f;
          memcpy (&f, src, 4);
          return f;
        }
      else
        {
          double f;
          memcpy (&f, src, 8);
          return f;
        }
    case 'i':
      switch (a->size)
        {
        case 1: return (gint8) src[0];
        case 2: { gint16 t; memcpy (&t, src, 2); return t; }
        case 4: { gint32 t; memcpy (&t, src, 4); return t; }
        default: { gint64 t; memcpy (&t, src, 8); return (double) t; }
        }
    default:
      switch (a->size)
        {
        case 1: return src[0];
        case 2: { guint16 t; memcpy (&t, src, 2); return t; }
        case 4: { guint32 t; memcpy (&t, src, 4); return t; }
        default: { guint64 t; memcpy (&t, src, 8); return (double) t; }
        }
    }
}

/* Calls out[c] = element at C-order position c, for every c, whatever
 * order the file stores: Fortran order is walked with its own strides. */
static void
npy_to_float (const NpyArray *a, float *out)
{
  if (!a->fortran || a->ndim == 1)
    {
      if (a->kind == 'f' && a->size == 4 && !a->swap)
        memcpy (out, a->data, a->count * 4);
      else if (a->kind == 'u' && a->size == 1)
        for (guint64 k = 0; k < a->count; k++)
          out[k] = a->data[k];
      else
        for (guint64 k = 0; k < a->count; k++)
          out[k] = (float) npy_get (a, k);
      return;
    }
  guint64 fstride[NPY_MAX_DIMS], idx[NPY_MAX_DIMS] = { 0 };
  fstride[0] = 1;
  for (guint j = 1; j < a->ndim; j++)
    fstride[j] = fstride[j - 1] * a->shape[j - 1];
  guint64 off = 0;
  for (guint64 c = 0; c < a->count; c++)
    {
      out[c] = (float) npy_get (a, off);
      /* Advance the C-order multi-index (last axis fastest). */
      for (int j = (int) a->ndim - 1; j >= 0; j--)
        {
          idx[j]++;
          off += fstride[j];
          if (idx[j] < a->shape[j])
            break;
          off -= fstride[j] * idx[j];
          idx[j] = 0;
        }
    }
}

PsDataset *
ps_dataset_load_npy (const char *features_path, const char *labels_path, GError **error)
{
  g_return_val_if_fail (features_path != NULL, NULL);
  gsize len = 0;
  g_autofree guint8 *buf = ps_data_read_file (features_path, &len, error);
  if (!buf)
    return NULL;
  NpyArray a;
  if (!npy_parse (features_path, buf, len, &a, error))
    return NULL;
  if (a.ndim < 2 || a.ndim > 4)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                   "%s: features must be N x D, N x H x W or N x C x H x W, not %u-dimensional",
                   features_path, a.ndim);
      return NULL;
    }
  guint64 d = a.count / MAX (a.shape[0], 1);
  if (a.shape[0] == 0 || d == 0 || a.shape[0] > G_MAXUINT32 || d > G_MAXUINT32)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s: holds no samples or no features", features_path);
      return NULL;
    }
  g_autofree char *base = g_path_get_basename (features_path);
  char *dot = strrchr (base, '.');
  if (dot && dot != base)
    *dot = '\0';
  g_autoptr (PsDataset) ds = ps_dataset_new (base, (guint) a.shape[0], (guint) d);
  npy_to_float (&a, ds->x);
  for (guint64 k = 0; k < a.count; k++)
    if (!isfinite (ds->x[k]))
      {
        g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                     "%s: sample %" G_GUINT64_FORMAT ", feature %" G_GUINT64_FORMAT " is not finite (%g)",
                     features_path, k / d, k % d, (double) ds->x[k]);
        return NULL;
      }
  if (a.ndim == 3)
    {
      ds->img_c = 1;
      ds->img_h = (guint) a.shape[1];
      ds->img_w = (guint) a.shape[2];
    }
  else if (a.ndim == 4)
    {
      ds->img_c = (guint) a.shape[1];
      ds->img_h = (guint) a.shape[2];
      ds->img_w = (guint) a.shape[3];
    }
  g_clear_pointer (&buf, g_free);

  if (labels_path)
    {
      gsize llen = 0;
      g_autofree guint8 *lbuf = ps_data_read_file (labels_path, &llen, error);
      if (!lbuf)
        return NULL;
      NpyArray l;
      if (!npy_parse (labels_path, lbuf, llen, &l, error))
        return NULL;
      if (!(l.ndim == 1 || (l.ndim == 2 && l.shape[1] == 1)))
        {
          g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                       "%s: labels must be a 1-D array, not %u-dimensional", labels_path, l.ndim);
          return NULL;
        }
      if (l.shape[0] != ds->n)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                       "%s: %" G_GUINT64_FORMAT " labels for %u samples in %s",
                       labels_path, l.shape[0], ds->n, features_path);
          return NULL;
        }
      for (guint i = 0; i < ds->n; i++)
        {
          double v = npy_get (&l, i);
          if (!isfinite (v) || v != floor (v))
            {
              g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                           "%s: label %g of sample %u is not a whole number", labels_path, v, i);
              return NULL;
            }
          if (v < -1 || v >= 100000)
            {
              g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                           "%s: label %.0f of sample %u is out of range (-1 = unlabelled, 0 .. 99999)",
                           labels_path, v, i);
              return NULL;
            }
          ds->y[i] = (gint32) v;
        }
    }
  g_free (ds->source);
  ds->source = labels_path ? g_strdup_printf ("%s + %s", features_path, labels_path) : g_strdup (features_path);
  if (!ps_dataset_validate (ds, features_path, error))
    return NULL;
  if (ds->n_classes > 0)
    ps_dataset_set_class_names (ds, NULL, ds->n_classes);
  return g_steal_pointer (&ds);
}
