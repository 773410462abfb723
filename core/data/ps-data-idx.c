/* ps-data-idx.c: whole-file reading with transparent gunzip, the bundled
 * 8x8 digits and folders of MNIST-format IDX files (Fashion-MNIST).
 *
 * Files are read whole and inflated in one pass into a buffer sized from
 * the gzip trailer, which keeps the 70000 x 784 Fashion-MNIST load well
 * under a second: no stream objects, no small reads, one tight conversion
 * loop through a 256-entry table.
 */
#define G_LOG_DOMAIN "ps-data"

#include "ps-dataset.h"

#include <gio/gio.h>
#include <string.h>

static const char *const digit_names[] = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" };
static const char *const fashion_names[] = {
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot", NULL,
};

const char * const *
ps_dataset_builtin_class_names (const char *name)
{
  return g_strcmp0 (name, "fashion-mnist") == 0 ? fashion_names : NULL;
}

static guint8 *
gunzip (const char *path, const guint8 *in, gsize in_len, gsize *out_len, GError **error)
{
  /* The trailer's ISIZE is the uncompressed size modulo 2^32; a good first
   * guess that we grow from when it lies (concatenated or huge files). */
  gsize cap = 1 << 16;
  if (in_len >= 18)
    {
      guint32 isize = (guint32) in[in_len - 4] | (guint32) in[in_len - 3] << 8
                      | (guint32) in[in_len - 2] << 16 | (guint32) in[in_len - 1] << 24;
      /* Deflate cannot expand more than about 1032:1, so a corrupt
       * trailer cannot make us allocate gigabytes up front. */
      if (isize > cap && (guint64) isize <= (guint64) in_len * 1032)
        cap = (gsize) isize + 16;
    }
  g_autoptr (GZlibDecompressor) z = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  guint8 *out = g_malloc (cap);
  gsize in_pos = 0, out_pos = 0;
  for (;;)
    {
      gsize read = 0, written = 0;
      g_autoptr (GError) local = NULL;
      GConverterResult r = g_converter_convert (G_CONVERTER (z), in + in_pos, in_len - in_pos,
                                                out + out_pos, cap - out_pos,
                                                G_CONVERTER_INPUT_AT_END, &read, &written, &local);
      in_pos += read;
      out_pos += written;
      if (r == G_CONVERTER_FINISHED)
        break;
      if (r == G_CONVERTER_ERROR)
        {
          if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
            {
              cap *= 2;
              out = g_realloc (out, cap);
              continue;
            }
          g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                       "%s: corrupt or truncated gzip data (%s)", path,
                       g_error_matches (local, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT)
                         ? "the file ends early" : local->message);
          g_free (out);
          return NULL;
        }
      if (written == 0 && read == 0 && out_pos == cap)
        {
          cap *= 2;
          out = g_realloc (out, cap);
        }
    }
  *out_len = out_pos;
  return out;
}

guint8 *
ps_data_read_file (const char *path, gsize *len, GError **error)
{
  g_return_val_if_fail (path != NULL && len != NULL, NULL);
  char *contents = NULL;
  gsize n = 0;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &contents, &n, &local))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "%s: %s", path,
                   local->code == G_FILE_ERROR_NOENT ? "no such file" : local->message);
      return NULL;
    }
  if (n >= 2 && (guint8) contents[0] == 0x1f && (guint8) contents[1] == 0x8b)
    {
      guint8 *out = gunzip (path, (const guint8 *) contents, n, len, error);
      g_free (contents);
      return out;
    }
  *len = n;
  return (guint8 *) contents;
}

/* ------------------------------------------------------------------ */
/* 8x8 digits                                                           */
/* ------------------------------------------------------------------ */

PsDataset *
ps_dataset_load_digits (const char *data_dir, GError **error)
{
  g_autofree char *path = g_build_filename (data_dir ? data_dir : ps_data_dir (), "digits.csv.gz", NULL);
  gsize len = 0;
  g_autofree guint8 *buf = ps_data_read_file (path, &len, error);
  if (!buf)
    return NULL;

  /* Count rows first so the dataset is allocated once. */
  guint rows = 0;
  for (gsize k = 0; k < len; k++)
    if (buf[k] == '\n')
      rows++;
  if (len > 0 && buf[len - 1] != '\n')
    rows++;

  g_autoptr (PsDataset) ds = ps_dataset_new ("digits", rows, 64);
  gsize pos = 0;
  for (guint i = 0; i < rows; i++)
    {
      for (guint j = 0; j < 65; j++)
        {
          if (pos >= len || buf[pos] < '0' || buf[pos] > '9')
            {
              g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                           "%s: line %u, column %u: expected a whole number", path, i + 1, j + 1);
              return NULL;
            }
          guint v = 0;
          while (pos < len && buf[pos] >= '0' && buf[pos] <= '9' && v < 1000)
            v = v * 10 + (buf[pos++] - '0');
          char want = j < 64 ? ',' : '\n';
          if (pos < len && buf[pos] == '\r')
            pos++;
          if (pos < len ? buf[pos] != want : j < 64)
            {
              g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                           "%s: line %u: expected 65 comma-separated values", path, i + 1);
              return NULL;
            }
          pos++;
          if (j < 64)
            {
              if (v > 16)
                {
                  g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                               "%s: line %u, column %u: pixel %u is outside 0..16", path, i + 1, j + 1, v);
                  return NULL;
                }
              ds->x[(gsize) i * 64 + j] = v / 16.0f;
            }
          else
            {
              if (v > 9)
                {
                  g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                               "%s: line %u: label %u is outside 0..9", path, i + 1, v);
                  return NULL;
                }
              ds->y[i] = (gint32) v;
            }
        }
    }
  ds->img_c = 1;
  ds->img_h = 8;
  ds->img_w = 8;
  g_free (ds->source);
  ds->source = g_strdup (path);
  ps_dataset_set_class_names (ds, digit_names, 10);
  if (!ps_dataset_validate (ds, path, error))
    return NULL;
  return g_steal_pointer (&ds);
}

/* ------------------------------------------------------------------ */
/* IDX                                                                  */
/* ------------------------------------------------------------------ */

typedef struct
{
  char *path;
  guint8 *buf;     /* whole (inflated) file */
  gsize len;
  guint ndim;
  guint32 dims[4];
  const guint8 *data;
} IdxFile;

static void
idx_clear (IdxFile *f)
{
  g_free (f->path);
  g_free (f->buf);
  memset (f, 0, sizeof *f);
}

/* Finds `dir/stem` or `dir/stem.gz`; NULL when neither exists. */
static char *
idx_find (const char *dir, const char *stem)
{
  char *p = g_build_filename (dir, stem, NULL);
  if (g_file_test (p, G_FILE_TEST_IS_REGULAR))
    return p;
  char *gz = g_strconcat (p, ".gz", NULL);
  g_free (p);
  if (g_file_test (gz, G_FILE_TEST_IS_REGULAR))
    return gz;
  g_free (gz);
  return NULL;
}

static gboolean
idx_read (IdxFile *f, const char *path, guint want_ndim, GError **error)
{
  f->path = g_strdup (path);
  f->buf = ps_data_read_file (path, &f->len, error);
  if (!f->buf)
    return FALSE;
  if (f->len < 4 || f->buf[0] != 0 || f->buf[1] != 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: not an IDX file (wrong magic number)", path);
      return FALSE;
    }
  if (f->buf[2] != 0x08)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED,
                   "%s: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)",
                   path, f->buf[2]);
      return FALSE;
    }
  f->ndim = f->buf[3];
  if (f->ndim != want_ndim)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                   "%s: IDX file has %u dimensions, expected %u", path, f->ndim, want_ndim);
      return FALSE;
    }
  gsize header = 4 + 4 * (gsize) f->ndim;
  if (f->len < header)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: IDX header is truncated", path);
      return FALSE;
    }
  guint64 total = 1;
  for (guint k = 0; k < f->ndim; k++)
    {
      const guint8 *p = f->buf + 4 + 4 * k;
      f->dims[k] = (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
      total *= f->dims[k];
    }
  if (total != f->len - header)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                   "%s: IDX header promises %" G_GUINT64_FORMAT " bytes of data but the file holds %"
                   G_GSIZE_FORMAT " (truncated or wrong header)",
                   path, total, f->len - header);
      return FALSE;
    }
  f->data = f->buf + header;
  return TRUE;
}

/* Finds one images/labels pair (train or t10k).  Both missing is fine
 * for an optional pair (present = FALSE); one missing is an error. */
static gboolean
idx_find_pair (const char *dir, const char *prefix, gboolean required,
               char **img_path, char **lab_path, gboolean *present, GError **error)
{
  g_autofree char *img_stem = g_strdup_printf ("%s-images-idx3-ubyte", prefix);
  g_autofree char *lab_stem = g_strdup_printf ("%s-labels-idx1-ubyte", prefix);
  *img_path = idx_find (dir, img_stem);
  *lab_path = idx_find (dir, lab_stem);
  *present = *img_path && *lab_path;
  if (!*img_path && !*lab_path && !required)
    return TRUE;
  if (!*present)
    {
      g_autofree char *missing = g_build_filename (dir, *img_path ? lab_stem : img_stem, NULL);
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "%s[.gz]: missing IDX file", missing);
      return FALSE;
    }
  return TRUE;
}

static gboolean
idx_check_pair (IdxFile *img, IdxFile *lab, GError **error)
{
  if (img->dims[0] != lab->dims[0])
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                   "%s: %u labels for %u images in %s", lab->path, lab->dims[0], img->dims[0], img->path);
      return FALSE;
    }
  return TRUE;
}

/* The training images are most of the work (inflating 47 MB for
 * Fashion-MNIST), so a worker thread reads them while the calling thread
 * reads everything else and allocates the dataset. */
typedef struct
{
  IdxFile *file;
  const char *path;
  GError *error;
  gboolean ok;
} IdxJob;

static gpointer
idx_job_run (gpointer data)
{
  IdxJob *job = data;
  job->ok = idx_read (job->file, job->path, 3, &job->error);
  return NULL;
}

static void
convert_rows (float *restrict dst, const guint8 *restrict src, gsize total)
{
  float lut[256];
  for (int v = 0; v < 256; v++)
    lut[v] = v / 255.0f;
  for (gsize k = 0; k < total; k++)
    dst[k] = lut[src[k]];
}

static gboolean
is_fashion_dir (const char *dir)
{
  g_autofree char *a = g_canonicalize_filename (dir, NULL);
  g_autofree char *b = g_canonicalize_filename (ps_fashion_mnist_dir (), NULL);
  if (g_str_equal (a, b))
    return TRUE;
  g_autofree char *base = g_path_get_basename (a);
  g_autofree char *lower = g_ascii_strdown (base, -1);
  return strstr (lower, "fashion") != NULL;
}

PsDataset *
ps_dataset_load_idx_dir (const char *dir, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "%s: no such folder", dir);
      return NULL;
    }
  IdxFile tr_img = { 0 }, tr_lab = { 0 }, te_img = { 0 }, te_lab = { 0 };
  gboolean have_train = FALSE, have_test = FALSE;
  g_autofree char *tr_img_path = NULL, *tr_lab_path = NULL, *te_img_path = NULL, *te_lab_path = NULL;
  PsDataset *ds = NULL;
  GThread *worker = NULL;
  IdxJob job = { &tr_img, NULL, NULL, FALSE };
  guint n_train = 0, n_test = 0, h = 0, w = 0, d = 0, max_label = 0;
  gboolean fashion = is_fashion_dir (dir);

  if (!idx_find_pair (dir, "train", TRUE, &tr_img_path, &tr_lab_path, &have_train, error)
      || !idx_find_pair (dir, "t10k", FALSE, &te_img_path, &te_lab_path, &have_test, error))
    goto out;
  job.path = tr_img_path;
  worker = g_thread_try_new ("ps-idx", idx_job_run, &job, NULL);
  if (!worker)
    idx_job_run (&job);

  if (!idx_read (&tr_lab, tr_lab_path, 1, error))
    goto out;
  if (have_test && (!idx_read (&te_img, te_img_path, 3, error) || !idx_read (&te_lab, te_lab_path, 1, error)
                    || !idx_check_pair (&te_img, &te_lab, error)))
    goto out;

  /* The labels decide the class names, so check them before the big copy. */
  n_train = tr_lab.dims[0];
  n_test = have_test ? te_img.dims[0] : 0;
  for (int pass = 0; pass < 2; pass++)
    {
      IdxFile *lab = pass == 0 ? &tr_lab : &te_lab;
      guint n = pass == 0 ? n_train : n_test;
      for (guint i = 0; i < n; i++)
        {
          if (fashion && lab->data[i] > 9)
            {
              g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                           "%s: label %u of sample %u is out of range (Fashion-MNIST has 10 classes)",
                           lab->path, lab->data[i], i);
              goto out;
            }
          max_label = MAX (max_label, lab->data[i]);
        }
    }

  /* Without a test set the image size is only known from the training
   * images, so wait for them first. */
  if (!have_test && worker)
    {
      g_thread_join (worker);
      worker = NULL;
    }
  if (have_test)
    {
      h = te_img.dims[1];
      w = te_img.dims[2];
    }
  else if (job.ok)
    {
      h = tr_img.dims[1];
      w = tr_img.dims[2];
    }
  d = h * w;
  if (job.ok || worker)
    {
      ds = ps_dataset_new (fashion ? "fashion-mnist" : "idx", n_train + n_test, d);
      if (have_test)
        convert_rows (ds->x + (gsize) n_train * d, te_img.data, (gsize) n_test * d);
    }
  if (worker)
    {
      g_thread_join (worker);
      worker = NULL;
    }
  if (!job.ok)
    {
      g_propagate_error (error, g_steal_pointer (&job.error));
      g_clear_pointer (&ds, ps_dataset_unref);
      goto out;
    }
  if (!idx_check_pair (&tr_img, &tr_lab, error))
    {
      g_clear_pointer (&ds, ps_dataset_unref);
      goto out;
    }
  if (tr_img.dims[1] != h || tr_img.dims[2] != w)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: images are %ux%u but the training images are %ux%u",
                   te_img.path, h, w, tr_img.dims[1], tr_img.dims[2]);
      g_clear_pointer (&ds, ps_dataset_unref);
      goto out;
    }
  convert_rows (ds->x, tr_img.data, (gsize) n_train * d);
  for (guint i = 0; i < n_train + n_test; i++)
    {
      ds->y[i] = i < n_train ? tr_lab.data[i] : te_lab.data[i - n_train];
      ds->split[i] = i < n_train ? PS_SPLIT_TRAIN : PS_SPLIT_TEST;
    }
  if (!fashion)
    {
      g_free (ds->name);
      ds->name = g_path_get_basename (dir);
    }
  ds->has_split = have_test;
  ds->img_c = 1;
  ds->img_h = h;
  ds->img_w = w;
  g_free (ds->source);
  ds->source = g_strdup (dir);
  if (fashion)
    ps_dataset_set_class_names (ds, fashion_names, 10);
  else if (max_label <= 9)
    ps_dataset_set_class_names (ds, digit_names, 10);
  else
    ps_dataset_set_class_names (ds, NULL, max_label + 1);
  ps_dataset_validate (ds, dir, NULL);

out:
  /* Every exit waits for the worker, which writes into tr_img. */
  if (worker)
    g_thread_join (worker);
  g_clear_error (&job.error);
  idx_clear (&tr_img);
  idx_clear (&tr_lab);
  idx_clear (&te_img);
  idx_clear (&te_lab);
  return ds;
}
