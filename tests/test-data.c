/* test-data.c: generators, loaders (digits, IDX, .npy, CSV), splits,
 * hold-outs, masks, standardisation, and one test per way a file can be
 * bad.  Every test file is written at run time into a fresh temp folder. */
#include <math.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "ps-dataset.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static char *tmp_root;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_root, name, NULL);
}

static void
write_file (const char *path, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, data, (gssize) len, &error);
  g_assert_no_error (error);
}

static void
write_gzip (const char *path, const void *data, gsize len)
{
  g_autoptr (GZlibCompressor) z = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 6);
  gsize cap = len + 1024;
  g_autofree guint8 *out = g_malloc (cap);
  gsize read = 0, written = 0;
  g_autoptr (GError) error = NULL;
  GConverterResult r = g_converter_convert (G_CONVERTER (z), data, len, out, cap,
                                            G_CONVERTER_INPUT_AT_END, &read, &written, &error);
  g_assert_no_error (error);
  g_assert_cmpint (r, ==, G_CONVERTER_FINISHED);
  write_file (path, out, written);
}

/* Asserts a loader refused with `code` and named the file. */
static void
assert_refused (PsDataset *ds, GError *error, int code, const char *path)
{
  g_assert_null (ds);
  g_assert_nonnull (error);
  g_test_message ("refused: %s", error->message);
  g_assert_error (error, PS_ERROR, code);
  g_autofree char *base = g_path_get_basename (path);
  if (!strstr (error->message, base))
    g_error ("error message \"%s\" does not name %s", error->message, base);
}

static void
put_be32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/* An IDX images file [n, h, w] of bytes and a labels file [n]. */
static guint8 *
idx_images (guint n, guint h, guint w, guint seed, gsize *len)
{
  *len = 16 + (gsize) n * h * w;
  guint8 *b = g_malloc (*len);
  b[0] = b[1] = 0;
  b[2] = 8;
  b[3] = 3;
  put_be32 (b + 4, n);
  put_be32 (b + 8, h);
  put_be32 (b + 12, w);
  for (gsize k = 0; k < (gsize) n * h * w; k++)
    b[16 + k] = (guint8) ((k * 37 + seed) % 256);
  return b;
}

static guint8 *
idx_labels (guint n, guint seed, gsize *len)
{
  *len = 8 + n;
  guint8 *b = g_malloc (*len);
  b[0] = b[1] = 0;
  b[2] = 8;
  b[3] = 1;
  put_be32 (b + 4, n);
  for (guint i = 0; i < n; i++)
    b[8 + i] = (guint8) ((i + seed) % 10);
  return b;
}

/* Writes a folder with train (30 x 4 x 5) and t10k (10 x 4 x 5) files. */
static char *
make_idx_dir (const char *name, gboolean gz)
{
  char *dir = tmp_path (name);
  g_mkdir_with_parents (dir, 0700);
  const char *stems[4] = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" };
  for (int f = 0; f < 4; f++)
    {
      gsize len;
      guint n = f < 2 ? 30 : 10;
      g_autofree guint8 *b = f % 2 == 0 ? idx_images (n, 4, 5, f, &len) : idx_labels (n, f, &len);
      g_autofree char *p = g_strdup_printf ("%s/%s%s", dir, stems[f], gz ? ".gz" : "");
      if (gz)
        write_gzip (p, b, len);
      else
        write_file (p, b, len);
    }
  return dir;
}

/* Writes a .npy file: `descr` like "<f4", header version major (1, 2, 3),
 * shape[ndim], and raw data bytes as they should appear in the file. */
static void
write_npy (const char *path, int major, const char *descr, gboolean fortran,
           const guint64 *shape, guint ndim, const void *data, gsize nbytes)
{
  GString *shp = g_string_new ("(");
  for (guint i = 0; i < ndim; i++)
    g_string_append_printf (shp, "%" G_GUINT64_FORMAT "%s", shape[i], ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
  g_string_append_c (shp, ')');
  g_autofree char *dict = g_strdup_printf ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
                                           descr, fortran ? "True" : "False", shp->str);
  g_string_free (shp, TRUE);
  gsize pre = major == 1 ? 10 : 12;
  gsize hl = strlen (dict) + 1;
  gsize total = ((pre + hl + 63) / 64) * 64;
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, (const guint8 *) "\x93NUMPY", 6);
  guint8 ver[2] = { (guint8) major, 0 };
  g_byte_array_append (out, ver, 2);
  gsize hlen = total - pre;
  guint8 lenb[4] = { hlen & 0xff, (hlen >> 8) & 0xff, (hlen >> 16) & 0xff, (hlen >> 24) & 0xff };
  g_byte_array_append (out, lenb, major == 1 ? 2 : 4);
  g_byte_array_append (out, (const guint8 *) dict, strlen (dict));
  while (out->len < total - 1)
    g_byte_array_append (out, (const guint8 *) " ", 1);
  g_byte_array_append (out, (const guint8 *) "\n", 1);
  g_byte_array_append (out, data, nbytes);
  write_file (path, out->data, out->len);
  g_byte_array_unref (out);
}

/* Encodes doubles as the numpy dtype (kind, size, big endian). */
static guint8 *
encode (const double *v, gsize n, char kind, guint size, gboolean big)
{
  guint8 *out = g_malloc0 (n * size);
  for (gsize k = 0; k < n; k++)
    {
      guint8 tmp[8];
      if (kind == 'f' && size == 4) { float f = (float) v[k]; memcpy (tmp, &f, 4); }
      else if (kind == 'f') { memcpy (tmp, &v[k], 8); }
      else if (kind == 'i' && size == 1) { gint8 t = (gint8) v[k]; memcpy (tmp, &t, 1); }
      else if (kind == 'i' && size == 2) { gint16 t = (gint16) v[k]; memcpy (tmp, &t, 2); }
      else if (kind == 'i' && size == 4) { gint32 t = (gint32) v[k]; memcpy (tmp, &t, 4); }
      else if (kind == 'i') { gint64 t = (gint64) v[k]; memcpy (tmp, &t, 8); }
      else if (size == 1) { guint8 t = (guint8) v[k]; memcpy (tmp, &t, 1); }
      else { guint16 t = (guint16) v[k]; memcpy (tmp, &t, 2); }
      for (guint j = 0; j < size; j++)
        out[k * size + j] = big && G_BYTE_ORDER == G_LITTLE_ENDIAN ? tmp[size - 1 - j] : tmp[j];
    }
  return out;
}

/* A small labelled dataset with `per` samples of each of `k` classes. */
static PsDataset *
make_labelled (guint k, guint per)
{
  PsDataset *ds = ps_dataset_new ("t", k * per, 3);
  for (guint i = 0; i < ds->n; i++)
    {
      ds->y[i] = (gint32) (i % k);
      for (guint j = 0; j < 3; j++)
        ds->x[i * 3 + j] = (float) (i * 0.5 + j * 10 + ds->y[i]);
    }
  ps_dataset_validate (ds, NULL, NULL);
  return ds;
}

/* ------------------------------------------------------------------ */
/* Generators and built-ins                                             */
/* ------------------------------------------------------------------ */

static void
test_generators (void)
{
  static const struct { const char *name; guint classes; } gens[] = {
    { "blobs", 4 }, { "moons", 2 }, { "circles", 2 }, { "spirals", 2 }, { "ring", 8 },
    { "grid", 25 }, { "checkerboard", 8 }, { "swissroll", 4 }, { "pinwheel", 5 },
  };
  for (guint g = 0; g < G_N_ELEMENTS (gens); g++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (PsDataset) a = ps_dataset_generate_2d (gens[g].name, 400, -1, 7, &error);
      g_assert_no_error (error);
      g_autoptr (PsDataset) b = ps_dataset_generate_2d (gens[g].name, 400, -1, 7, &error);
      g_autoptr (PsDataset) c = ps_dataset_generate_2d (gens[g].name, 400, -1, 8, &error);
      g_assert_nonnull (c);
      g_assert_cmpuint (a->n, ==, 400);
      g_assert_cmpuint (a->d, ==, 2);
      g_assert_cmpuint (a->n_classes, ==, gens[g].classes);
      g_assert_nonnull (a->class_names);
      g_assert_cmpuint (g_strv_length (a->class_names), ==, gens[g].classes);
      g_assert_true (ps_all_finite (a->x, 800));
      g_autofree guint *count = g_new0 (guint, gens[g].classes);
      for (guint i = 0; i < a->n; i++)
        {
          g_assert_cmpint (a->y[i], >=, 0);
          g_assert_cmpint (a->y[i], <, (gint) gens[g].classes);
          count[a->y[i]]++;
        }
      for (guint k = 0; k < gens[g].classes; k++)
        g_assert_cmpuint (count[k], >, 0);
      g_assert_cmpmem (a->x, 800 * sizeof (float), b->x, 800 * sizeof (float));
      g_assert_true (memcmp (a->x, c->x, 800 * sizeof (float)) != 0);
      g_assert_nonnull (strstr (a->source, gens[g].name));
      g_assert_nonnull (ps_dataset_builtin_description (gens[g].name));

      /* More noise spreads the points more (same seed, same draws). */
      g_autoptr (PsDataset) lo = ps_dataset_generate_2d (gens[g].name, 400, 0.01, 3, &error);
      g_autoptr (PsDataset) hi = ps_dataset_generate_2d (gens[g].name, 400, 0.5, 3, &error);
      g_assert_no_error (error);
      g_assert_true (memcmp (lo->x, hi->x, 800 * sizeof (float)) != 0);
    }
  /* Default n. */
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) d = ps_dataset_load_builtin ("moons", 0, -1, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (d->n, >, 0);
}

static void
test_generators_bad (void)
{
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_generate_2d ("nope", 10, 0.1, 0, &error);
  g_assert_null (ds);
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_clear_error (&error);
  ds = ps_dataset_generate_2d ("moons", 10, NAN, 0, &error);
  g_assert_null (ds);
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_clear_error (&error);
  ds = ps_dataset_load_builtin ("no-such-set", 0, -1, 0, &error);
  g_assert_null (ds);
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
}

static void
test_builtin_names (void)
{
  const char *const *names = ps_dataset_builtin_names ();
  guint n = 0;
  gboolean digits = FALSE, fm = FALSE;
  for (; names[n]; n++)
    {
      g_assert_nonnull (ps_dataset_builtin_description (names[n]));
      digits |= g_str_equal (names[n], "digits");
      fm |= g_str_equal (names[n], "fashion-mnist");
    }
  g_assert_cmpuint (n, ==, 11);
  g_assert_true (digits && fm);
  g_assert_null (ps_dataset_builtin_description ("nope"));
  /* Class names without loading: Fashion-MNIST's ten, none for the others. */
  const char *const *fm_names = ps_dataset_builtin_class_names ("fashion-mnist");
  g_assert_nonnull (fm_names);
  g_assert_cmpuint (g_strv_length ((char **) fm_names), ==, 10);
  g_assert_cmpstr (fm_names[7], ==, "Sneaker");
  g_assert_null (ps_dataset_builtin_class_names ("digits"));
  g_assert_null (ps_dataset_builtin_class_names (NULL));
}

static void
test_digits (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_open ("digits", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->n, ==, 1797);
  g_assert_cmpuint (ds->d, ==, 64);
  g_assert_cmpuint (ds->n_classes, ==, 10);
  g_assert_cmpuint (ds->img_c * ds->img_h * ds->img_w, ==, 64);
  g_assert_cmpstr (ds->class_names[3], ==, "3");
  /* The class counts of scikit-learn's load_digits. */
  static const guint expected[10] = { 178, 182, 177, 183, 181, 182, 181, 179, 174, 180 };
  guint count[10] = { 0 };
  for (guint i = 0; i < ds->n; i++)
    count[ds->y[i]]++;
  for (int c = 0; c < 10; c++)
    g_assert_cmpuint (count[c], ==, expected[c]);
  float lo = 1, hi = 0;
  for (gsize k = 0; k < (gsize) ds->n * ds->d; k++)
    {
      lo = MIN (lo, ds->x[k]);
      hi = MAX (hi, ds->x[k]);
    }
  g_assert_cmpfloat (lo, ==, 0.0f);
  g_assert_cmpfloat (hi, ==, 1.0f);
  /* First row of the file: 0,0,5,13,9,1,... */
  g_assert_cmpfloat_with_epsilon (ds->x[2], 5 / 16.0f, 1e-7);
  g_assert_cmpfloat_with_epsilon (ds->x[3], 13 / 16.0f, 1e-7);
  g_assert_cmpint (ds->y[0], ==, 0);
}

static void
test_fashion_mnist (void)
{
  const char *dir = ps_fashion_mnist_dir ();
  g_autofree char *probe = g_build_filename (dir, "train-images-idx3-ubyte.gz", NULL);
  g_autofree char *probe_raw = g_build_filename (dir, "train-images-idx3-ubyte", NULL);
  if (!g_file_test (probe, G_FILE_TEST_EXISTS) && !g_file_test (probe_raw, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("Fashion-MNIST is not installed (dataset-fashion-mnist)");
      return;
    }
  g_autoptr (GError) error = NULL;
  double t = ps_now ();
  g_autoptr (PsDataset) ds = ps_dataset_load_builtin ("fashion-mnist", 0, 0, 0, &error);
  g_assert_no_error (error);
  g_test_message ("Fashion-MNIST loaded in %.3f s", ps_now () - t);
  g_assert_cmpuint (ds->n, ==, 70000);
  g_assert_cmpuint (ds->d, ==, 784);
  g_assert_cmpuint (ds->img_h, ==, 28);
  g_assert_true (ds->has_split);
  g_assert_cmpuint (ps_dataset_count_split (ds, PS_SPLIT_TRAIN), ==, 60000);
  g_assert_cmpuint (ps_dataset_count_split (ds, PS_SPLIT_TEST), ==, 10000);
  g_assert_cmpuint (ds->n_classes, ==, 10);
  g_assert_cmpstr (ds->class_names[0], ==, "T-shirt/top");
  g_assert_cmpstr (ds->class_names[9], ==, "Ankle boot");
  /* The names the views use without loading are the loaded set's. */
  for (int c = 0; c < 10; c++)
    g_assert_cmpstr (ds->class_names[c], ==, ps_dataset_builtin_class_names ("fashion-mnist")[c]);
  g_assert_cmpstr (ds->name, ==, "fashion-mnist");
  /* Balanced: 7000 per class. */
  guint count[10] = { 0 };
  for (guint i = 0; i < ds->n; i++)
    count[ds->y[i]]++;
  for (int c = 0; c < 10; c++)
    g_assert_cmpuint (count[c], ==, 7000);
}

/* ------------------------------------------------------------------ */
/* IDX                                                                  */
/* ------------------------------------------------------------------ */

static void
check_idx (PsDataset *ds)
{
  g_assert_cmpuint (ds->n, ==, 40);
  g_assert_cmpuint (ds->d, ==, 20);
  g_assert_cmpuint (ds->img_c, ==, 1);
  g_assert_cmpuint (ds->img_h, ==, 4);
  g_assert_cmpuint (ds->img_w, ==, 5);
  g_assert_true (ds->has_split);
  g_assert_cmpuint (ps_dataset_count_split (ds, PS_SPLIT_TRAIN), ==, 30);
  g_assert_cmpuint (ps_dataset_count_split (ds, PS_SPLIT_TEST), ==, 10);
  g_assert_cmpstr (ds->class_names[0], ==, "0");
  for (guint i = 0; i < 30; i++)
    {
      g_assert_cmpint (ds->y[i], ==, (gint) ((i + 1) % 10));
      for (guint j = 0; j < 20; j++)
        g_assert_cmpfloat (ds->x[i * 20 + j], ==, (float) (((i * 20 + j) * 37 + 0) % 256) / 255.0f);
    }
  for (guint i = 0; i < 10; i++)
    {
      g_assert_cmpint (ds->y[30 + i], ==, (gint) ((i + 3) % 10));
      g_assert_cmpuint (ds->split[30 + i], ==, PS_SPLIT_TEST);
      g_assert_cmpfloat (ds->x[(30 + i) * 20 + 7], ==, (float) (((i * 20 + 7) * 37 + 2) % 256) / 255.0f);
    }
}

static void
test_idx_gzip (void)
{
  g_autofree char *dir = make_idx_dir ("idx-gz", TRUE);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_open (dir, NULL, NULL, &error);
  g_assert_no_error (error);
  check_idx (ds);
}

static void
test_idx_raw (void)
{
  g_autofree char *dir = make_idx_dir ("idx-raw", FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_load_idx_dir (dir, &error);
  g_assert_no_error (error);
  check_idx (ds);
}

static void
test_idx_train_only (void)
{
  /* Without the t10k pair every row is TRAIN and the source defines no split. */
  g_autofree char *dir = make_idx_dir ("idx-train-only", TRUE);
  g_autofree char *a = g_build_filename (dir, "t10k-images-idx3-ubyte.gz", NULL);
  g_autofree char *b = g_build_filename (dir, "t10k-labels-idx1-ubyte.gz", NULL);
  g_assert_cmpint (g_remove (a), ==, 0);
  g_assert_cmpint (g_remove (b), ==, 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_load_idx_dir (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->n, ==, 30);
  g_assert_cmpuint (ds->img_h * ds->img_w, ==, 20);
  g_assert_false (ds->has_split);
  g_assert_cmpuint (ps_dataset_count_split (ds, PS_SPLIT_TRAIN), ==, 30);
  g_assert_cmpfloat (ds->x[29 * 20 + 19], ==, (float) ((599 * 37) % 256) / 255.0f);
}

/* ------------------------------------------------------------------ */
/* .npy                                                                 */
/* ------------------------------------------------------------------ */

static void
npy_roundtrip (char kind, guint size, gboolean big, int major)
{
  const guint n = 5, d = 3;
  double v[15];
  for (guint k = 0; k < n * d; k++)
    v[k] = kind == 'u' ? (double) ((k * 7) % 13) : kind == 'f' ? (double) k * 0.25 - 1.5 : (double) ((int) ((k * 7) % 11) - 3);
  double lab[5] = { 0, 2, 1, -1, 2 };
  g_autofree guint8 *data = encode (v, n * d, kind, size, big);
  g_autofree guint8 *labd = encode (lab, n, 'i', 8, big);
  g_autofree char *descr = g_strdup_printf ("%c%c%u", size == 1 ? '|' : big ? '>' : '<', kind, size);
  g_autofree char *name = g_strdup_printf ("x-%s-%c-v%d.npy", descr + 1, big ? 'b' : 'l', major);
  g_autofree char *lname = g_strdup_printf ("y-%s-%c-v%d.npy", descr + 1, big ? 'b' : 'l', major);
  g_autofree char *path = tmp_path (name);
  g_autofree char *lpath = tmp_path (lname);
  guint64 shape[2] = { n, d }, lshape[1] = { n };
  write_npy (path, major, descr, FALSE, shape, 2, data, n * d * size);
  write_npy (lpath, major, big ? ">i8" : "<i8", FALSE, lshape, 1, labd, n * 8);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_open (path, lpath, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->n, ==, n);
  g_assert_cmpuint (ds->d, ==, d);
  for (guint k = 0; k < n * d; k++)
    g_assert_cmpfloat (ds->x[k], ==, (float) v[k]);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (ds->y[i], ==, (gint) lab[i]);
  g_assert_cmpuint (ds->n_classes, ==, 3);
}

static void
test_npy_dtypes (void)
{
  npy_roundtrip ('f', 4, FALSE, 1);
  npy_roundtrip ('f', 8, FALSE, 1);
  npy_roundtrip ('i', 4, FALSE, 1);
  npy_roundtrip ('i', 8, FALSE, 1);
  npy_roundtrip ('u', 1, FALSE, 1);
  npy_roundtrip ('i', 1, FALSE, 1);
  npy_roundtrip ('i', 2, FALSE, 1);
  npy_roundtrip ('u', 2, FALSE, 1);
}

static void
test_npy_big_endian (void)
{
  npy_roundtrip ('f', 4, TRUE, 1);
  npy_roundtrip ('f', 8, TRUE, 1);
  npy_roundtrip ('i', 4, TRUE, 1);
  npy_roundtrip ('i', 8, TRUE, 1);
  npy_roundtrip ('i', 2, TRUE, 1);
}

static void
test_npy_versions (void)
{
  npy_roundtrip ('f', 4, FALSE, 2);
  npy_roundtrip ('f', 4, FALSE, 3);
  npy_roundtrip ('f', 8, TRUE, 3);
}

static void
test_npy_fortran (void)
{
  /* A 3 x 4 array stored column by column. */
  float c_order[12], f_order[12];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++)
      {
        c_order[i * 4 + j] = (float) (10 * i + j);
        f_order[j * 3 + i] = (float) (10 * i + j);
      }
  g_autofree char *path = tmp_path ("fortran.npy");
  guint64 shape[2] = { 3, 4 };
  write_npy (path, 1, "<f4", TRUE, shape, 2, f_order, sizeof f_order);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_load_npy (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (ds->x, sizeof c_order, c_order, sizeof c_order);
  g_assert_cmpint (ds->y[0], ==, -1);
  g_assert_cmpuint (ds->n_classes, ==, 0);

  /* A Fortran-order image array [2, 3, 4] keeps element (i, h, w). */
  float f3[24];
  for (int i = 0; i < 2; i++)
    for (int h = 0; h < 3; h++)
      for (int w = 0; w < 4; w++)
        f3[i + 2 * (h + 3 * w)] = (float) (100 * i + 10 * h + w);
  g_autofree char *p3 = tmp_path ("fortran3.npy");
  guint64 s3[3] = { 2, 3, 4 };
  write_npy (p3, 1, "<f4", TRUE, s3, 3, f3, sizeof f3);
  g_autoptr (PsDataset) d3 = ps_dataset_load_npy (p3, NULL, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 2; i++)
    for (int h = 0; h < 3; h++)
      for (int w = 0; w < 4; w++)
        g_assert_cmpfloat (d3->x[i * 12 + h * 4 + w], ==, (float) (100 * i + 10 * h + w));
}

static void
test_npy_images (void)
{
  float x[2 * 3 * 4 * 5];
  for (guint k = 0; k < G_N_ELEMENTS (x); k++)
    x[k] = (float) k;
  g_autofree char *path = tmp_path ("img4.npy");
  guint64 shape[4] = { 2, 3, 4, 5 };
  write_npy (path, 1, "<f4", FALSE, shape, 4, x, sizeof x);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_load_npy (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->n, ==, 2);
  g_assert_cmpuint (ds->d, ==, 60);
  g_assert_cmpuint (ds->img_c, ==, 3);
  g_assert_cmpuint (ds->img_h, ==, 4);
  g_assert_cmpuint (ds->img_w, ==, 5);
  g_assert_cmpmem (ds->x, sizeof x, x, sizeof x);

  g_autofree char *p3 = tmp_path ("img3.npy");
  guint64 s3[3] = { 6, 4, 5 };
  write_npy (p3, 1, "<f4", FALSE, s3, 3, x, sizeof x);
  g_autoptr (PsDataset) d3 = ps_dataset_load_npy (p3, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (d3->n, ==, 6);
  g_assert_cmpuint (d3->img_c, ==, 1);
  g_assert_cmpuint (d3->img_h, ==, 4);
}

/* ------------------------------------------------------------------ */
/* CSV                                                                  */
/* ------------------------------------------------------------------ */

static void
test_csv_string_labels (void)
{
  g_autofree char *path = tmp_path ("flowers.csv");
  const char *text = "a,species,b\n"
                     "1.5,versicolor,2\n"
                     "-3,setosa,4e-1\n"
                     "\n"
                     "0, virginica ,7\r\n"
                     "2.25,setosa,8\n"
                     "9,,1\n";
  write_file (path, text, strlen (text));
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_open (path, NULL, "species", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->n, ==, 5);
  g_assert_cmpuint (ds->d, ==, 2);
  g_assert_cmpuint (ds->n_classes, ==, 3);
  g_assert_cmpstr (ds->class_names[0], ==, "setosa");
  g_assert_cmpstr (ds->class_names[1], ==, "versicolor");
  g_assert_cmpstr (ds->class_names[2], ==, "virginica");
  static const gint32 y[5] = { 1, 0, 2, 0, -1 };
  static const float x[10] = { 1.5f, 2, -3, 0.4f, 0, 7, 2.25f, 8, 9, 1 };
  for (int i = 0; i < 5; i++)
    g_assert_cmpint (ds->y[i], ==, y[i]);
  for (int k = 0; k < 10; k++)
    g_assert_cmpfloat (ds->x[k], ==, x[k]);
  g_assert_cmpstr (ds->name, ==, "flowers");
}

static void
test_csv_numeric_labels (void)
{
  g_autofree char *path = tmp_path ("numeric.csv");
  const char *text = "label,f1,f2\n3,1,2\n0,3,4\n3,5,6\n1,7,8\n";
  write_file (path, text, strlen (text));
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_load_csv (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->n, ==, 4);
  g_assert_cmpuint (ds->d, ==, 2);
  g_assert_cmpuint (ds->n_classes, ==, 4);
  g_assert_cmpint (ds->y[0], ==, 3);
  g_assert_cmpint (ds->y[3], ==, 1);
  g_assert_cmpfloat (ds->x[7], ==, 8.0f);
}

/* ------------------------------------------------------------------ */
/* Splits, hold-outs, masks, standardisation                            */
/* ------------------------------------------------------------------ */

static void
test_split_stratified (void)
{
  g_autoptr (PsDataset) a = make_labelled (4, 50);
  g_autoptr (PsDataset) b = make_labelled (4, 50);
  g_autoptr (PsDataset) c = make_labelled (4, 50);
  ps_dataset_assign_split (a, 0.2, 0.3, 11);
  ps_dataset_assign_split (b, 0.2, 0.3, 11);
  ps_dataset_assign_split (c, 0.2, 0.3, 12);
  g_assert_cmpmem (a->split, a->n, b->split, b->n);
  g_assert_true (memcmp (a->split, c->split, a->n) != 0);
  guint per[4][3] = { { 0 } };
  for (guint i = 0; i < a->n; i++)
    per[a->y[i]][a->split[i]]++;
  for (int k = 0; k < 4; k++)
    {
      g_assert_cmpuint (per[k][PS_SPLIT_TRAIN], ==, 25);
      g_assert_cmpuint (per[k][PS_SPLIT_VAL], ==, 10);
      g_assert_cmpuint (per[k][PS_SPLIT_TEST], ==, 15);
    }
  g_autoptr (PsDataset) test = ps_dataset_split_view (a, PS_SPLIT_TEST);
  g_assert_cmpuint (test->n, ==, 60);
  for (guint i = 0; i < test->n; i++)
    g_assert_cmpuint (test->split[i], ==, PS_SPLIT_TEST);
  g_assert_cmpuint (test->n_classes, ==, 4);
}

static void
test_subset_and_refs (void)
{
  g_autoptr (PsDataset) a = make_labelled (3, 4);
  ps_dataset_set_class_names (a, (const char *const[]) { "x", "y", "z" }, 3);
  guint idx[3] = { 5, 0, 11 };
  g_autoptr (PsDataset) s = ps_dataset_subset (a, idx, 3);
  g_assert_cmpuint (s->n, ==, 3);
  g_assert_cmpmem (s->x + 3, 3 * sizeof (float), a->x, 3 * sizeof (float));
  g_assert_cmpint (s->y[0], ==, a->y[5]);
  g_assert_cmpstr (s->class_names[2], ==, "z");
  PsDataset *r = ps_dataset_ref (s);
  g_assert_true (r == s);
  ps_dataset_unref (r);
  g_assert_cmpint (s->ref_count, ==, 1);
}

static void
test_keep_classes (void)
{
  g_autoptr (PsDataset) a = make_labelled (5, 6);
  ps_dataset_set_class_names (a, (const char *const[]) { "a", "b", "c", "d", "e" }, 5);
  gint32 keep[2] = { 3, 1 };
  g_autoptr (PsDataset) same = ps_dataset_keep_classes (a, keep, 2, FALSE);
  g_assert_cmpuint (same->n, ==, 12);
  for (guint i = 0; i < same->n; i++)
    g_assert_true (same->y[i] == 3 || same->y[i] == 1);
  g_autoptr (PsDataset) rel = ps_dataset_keep_classes (a, keep, 2, TRUE);
  g_assert_cmpuint (rel->n, ==, 12);
  g_assert_cmpuint (rel->n_classes, ==, 2);
  g_assert_cmpstr (rel->class_names[0], ==, "d");
  g_assert_cmpstr (rel->class_names[1], ==, "b");
  for (guint i = 0; i < rel->n; i++)
    g_assert_cmpint (rel->y[i], ==, same->y[i] == 3 ? 0 : 1);
  /* Features travel with their rows. */
  g_assert_cmpmem (rel->x, rel->n * 3 * sizeof (float), same->x, same->n * 3 * sizeof (float));
}

static void
test_mask_labels (void)
{
  g_autoptr (PsDataset) a = make_labelled (4, 40);
  ps_dataset_assign_split (a, 0, 0.25, 1);
  g_autoptr (PsDataset) b = make_labelled (4, 40);
  ps_dataset_assign_split (b, 0, 0.25, 1);
  ps_dataset_mask_labels (a, 0.1, 5);
  ps_dataset_mask_labels (b, 0.1, 5);
  g_assert_cmpmem (a->y, a->n * sizeof (gint32), b->y, b->n * sizeof (gint32));
  guint kept[4] = { 0 }, test_labelled = 0;
  for (guint i = 0; i < a->n; i++)
    {
      if (a->split[i] == PS_SPLIT_TEST)
        test_labelled += a->y[i] >= 0;
      else if (a->y[i] >= 0)
        kept[a->y[i]]++;
    }
  /* 30 train samples per class, 10% kept: 3 each; test labels untouched. */
  for (int k = 0; k < 4; k++)
    g_assert_cmpuint (kept[k], ==, 3);
  g_assert_cmpuint (test_labelled, ==, 40);
  g_autoptr (PsDataset) c = make_labelled (4, 40);
  ps_dataset_assign_split (c, 0, 0.25, 1);
  ps_dataset_mask_labels (c, 0.1, 6);
  g_assert_true (memcmp (a->y, c->y, a->n * sizeof (gint32)) != 0);
}

static void
test_standardize (void)
{
  g_autoptr (PsDataset) a = make_labelled (2, 20);
  ps_dataset_assign_split (a, 0, 0.5, 3);
  /* A constant feature must not become NaN. */
  for (guint i = 0; i < a->n; i++)
    a->x[i * 3 + 2] = 4.0f;
  float mean[3], std[3];
  ps_dataset_standardize (a, mean, std);
  g_assert_cmpfloat (std[2], ==, 1.0f);
  g_assert_cmpfloat (mean[2], ==, 4.0f);
  g_assert_true (ps_all_finite (a->x, (gsize) a->n * 3));
  for (int j = 0; j < 2; j++)
    {
      double s = 0, sq = 0;
      guint m = 0;
      for (guint i = 0; i < a->n; i++)
        if (a->split[i] == PS_SPLIT_TRAIN)
          {
            s += a->x[i * 3 + j];
            sq += a->x[i * 3 + j] * a->x[i * 3 + j];
            m++;
          }
      g_assert_cmpuint (m, ==, 20);
      g_assert_cmpfloat_with_epsilon (s / m, 0.0, 1e-5);
      g_assert_cmpfloat_with_epsilon (sq / m, 1.0, 1e-4);
    }
}

static void
test_data_dir (void)
{
  const char *dir = ps_data_dir ();
  g_assert_nonnull (dir);
  const char *env = g_getenv ("PROTOSCOPE_DATA_DIR");
  if (env && *env)
    g_assert_cmpstr (dir, ==, env);
  g_autofree char *digits = g_build_filename (dir, "digits.csv.gz", NULL);
  g_assert_true (g_file_test (digits, G_FILE_TEST_EXISTS));
}

/* ------------------------------------------------------------------ */
/* Bad files: one test per way to be bad                                */
/* ------------------------------------------------------------------ */

static void
test_bad_missing_file (void)
{
  g_autofree char *path = tmp_path ("does-not-exist.npy");
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_npy (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_IO, path);
}

static void
test_bad_missing_digits (void)
{
  g_autofree char *dir = tmp_path ("empty-data");
  g_mkdir_with_parents (dir, 0700);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_digits (dir, &error);
  assert_refused (ds, error, PS_ERROR_IO, "digits.csv.gz");
}

static void
test_bad_idx_truncated (void)
{
  g_autofree char *dir = make_idx_dir ("idx-trunc", FALSE);
  g_autofree char *p = g_build_filename (dir, "train-images-idx3-ubyte", NULL);
  gsize len;
  g_autofree guint8 *b = idx_images (30, 4, 5, 0, &len);
  write_file (p, b, len - 7);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_idx_dir (dir, &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, p);
}

static void
test_bad_idx_gzip_truncated (void)
{
  g_autofree char *dir = make_idx_dir ("idx-gz-trunc", TRUE);
  g_autofree char *p = g_build_filename (dir, "t10k-images-idx3-ubyte.gz", NULL);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (p, &contents, &len, NULL));
  write_file (p, contents, len / 2);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_idx_dir (dir, &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, p);
}

static void
test_bad_idx_magic (void)
{
  g_autofree char *dir = make_idx_dir ("idx-magic", FALSE);
  g_autofree char *p = g_build_filename (dir, "train-labels-idx1-ubyte", NULL);
  gsize len;
  g_autofree guint8 *b = idx_labels (30, 1, &len);
  b[0] = 'P';
  b[1] = 'K';
  write_file (p, b, len);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_idx_dir (dir, &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, p);
}

static void
test_bad_idx_count_mismatch (void)
{
  g_autofree char *dir = make_idx_dir ("idx-count", FALSE);
  g_autofree char *p = g_build_filename (dir, "train-labels-idx1-ubyte", NULL);
  gsize len;
  g_autofree guint8 *b = idx_labels (29, 1, &len);
  write_file (p, b, len);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_idx_dir (dir, &error);
  assert_refused (ds, error, PS_ERROR_VALUE, p);
}

static void
test_bad_idx_label_range (void)
{
  /* A folder named like Fashion-MNIST has 10 classes; label 12 is wrong. */
  g_autofree char *dir = make_idx_dir ("my-fashion-copy", FALSE);
  g_autofree char *p = g_build_filename (dir, "train-labels-idx1-ubyte", NULL);
  gsize len;
  g_autofree guint8 *b = idx_labels (30, 1, &len);
  b[8 + 4] = 12;
  write_file (p, b, len);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_idx_dir (dir, &error);
  assert_refused (ds, error, PS_ERROR_VALUE, p);
}

static void
test_bad_idx_missing_file (void)
{
  g_autofree char *dir = make_idx_dir ("idx-missing", FALSE);
  g_autofree char *p = g_build_filename (dir, "train-labels-idx1-ubyte", NULL);
  g_assert_cmpint (g_remove (p), ==, 0);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_idx_dir (dir, &error);
  assert_refused (ds, error, PS_ERROR_IO, p);
}

static void
npy_simple (const char *name, const char *descr, const float *x, guint n, guint d, char **path_out)
{
  *path_out = tmp_path (name);
  guint64 shape[2] = { n, d };
  write_npy (*path_out, 1, descr, FALSE, shape, 2, x, (gsize) n * d * sizeof (float));
}

static void
test_bad_npy_magic (void)
{
  g_autofree char *path = tmp_path ("magic.npy");
  write_file (path, "PK\x03\x04 not numpy at all", 22);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_npy (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, path);
}

static void
test_bad_npy_truncated (void)
{
  float x[12] = { 0 };
  g_autofree char *path = NULL;
  npy_simple ("trunc.npy", "<f4", x, 4, 3, &path);
  g_autofree char *contents = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  write_file (path, contents, len - 5);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_npy (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, path);
}

static void
test_bad_npy_shape_mismatch (void)
{
  /* The header says 5 x 3 but the data hold 4 x 3 floats. */
  float x[12] = { 0 };
  g_autofree char *path = tmp_path ("shape.npy");
  guint64 shape[2] = { 5, 3 };
  write_npy (path, 1, "<f4", FALSE, shape, 2, x, sizeof x);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_npy (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, path);
}

static void
test_bad_npy_header (void)
{
  g_autofree char *path = tmp_path ("header.npy");
  /* A well-framed header whose shape tuple never closes. */
  const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 }\n";
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, (const guint8 *) "\x93NUMPY\x01\x00", 8);
  guint8 hl[2] = { (guint8) strlen (dict), 0 };
  g_byte_array_append (b, hl, 2);
  g_byte_array_append (b, (const guint8 *) dict, strlen (dict));
  g_byte_array_append (b, (const guint8 *) "012345678901234567890123", 24);
  write_file (path, b->data, b->len);
  g_byte_array_unref (b);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_npy (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, path);
}

static void
test_bad_npy_dtype (void)
{
  float x[4] = { 0 };
  g_autofree char *path = tmp_path ("complex.npy");
  guint64 shape[2] = { 1, 2 };
  write_npy (path, 1, "<c8", FALSE, shape, 2, x, sizeof x);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_npy (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_UNSUPPORTED, path);
}

static void
test_bad_npy_nan (void)
{
  float x[6] = { 1, 2, 3, 4, NAN, 6 };
  g_autofree char *path = NULL;
  npy_simple ("nan.npy", "<f4", x, 2, 3, &path);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_npy (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_VALUE, path);
}

static void
test_bad_npy_inf (void)
{
  float x[6] = { 1, 2, 3, 4, 5, -INFINITY };
  g_autofree char *path = NULL;
  npy_simple ("inf.npy", "<f4", x, 2, 3, &path);
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_npy (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_VALUE, path);
}

static void
labels_case (const char *name, const gint32 *labels, guint n_labels, int code)
{
  float x[12] = { 0 };
  g_autofree char *path = NULL;
  npy_simple ("feat.npy", "<f4", x, 4, 3, &path);
  g_autofree char *lpath = tmp_path (name);
  guint64 shape[1] = { n_labels };
  write_npy (lpath, 1, "<i4", FALSE, shape, 1, labels, n_labels * sizeof (gint32));
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_npy (path, lpath, &error);
  assert_refused (ds, error, code, lpath);
}

static void
test_bad_npy_label_negative (void)
{
  gint32 y[4] = { 0, 1, -2, 1 };
  labels_case ("neg-labels.npy", y, 4, PS_ERROR_VALUE);
}

static void
test_bad_npy_label_range (void)
{
  gint32 y[4] = { 0, 1, 2000000000, 1 };
  labels_case ("huge-labels.npy", y, 4, PS_ERROR_VALUE);
}

static void
test_bad_npy_count_mismatch (void)
{
  gint32 y[3] = { 0, 1, 1 };
  labels_case ("short-labels.npy", y, 3, PS_ERROR_VALUE);
}

static void
test_bad_csv_non_numeric (void)
{
  g_autofree char *path = tmp_path ("words.csv");
  const char *text = "label,height,width\n0,1,2\n1,tall,3\n";
  write_file (path, text, strlen (text));
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_csv (path, "label", &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, path);
  g_assert_nonnull (strstr (error->message, "line 3"));
  g_assert_nonnull (strstr (error->message, "height"));
}

static void
test_bad_csv_missing_label (void)
{
  g_autofree char *path = tmp_path ("nolabel.csv");
  const char *text = "a,b\n0,1\n";
  write_file (path, text, strlen (text));
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_csv (path, "class", &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, path);
  g_assert_nonnull (strstr (error->message, "class"));
}

static void
test_bad_csv_nan (void)
{
  g_autofree char *path = tmp_path ("nan.csv");
  const char *text = "label,a\n0,1\n1,nan\n";
  write_file (path, text, strlen (text));
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_csv (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_VALUE, path);
}

static void
test_bad_csv_ragged (void)
{
  g_autofree char *path = tmp_path ("ragged.csv");
  const char *text = "label,a,b\n0,1,2\n1,3\n";
  write_file (path, text, strlen (text));
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_csv (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_FORMAT, path);
}

static void
test_bad_csv_label_negative (void)
{
  g_autofree char *path = tmp_path ("neglabel.csv");
  const char *text = "label,a\n0,1\n-3,2\n";
  write_file (path, text, strlen (text));
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_load_csv (path, NULL, &error);
  assert_refused (ds, error, PS_ERROR_VALUE, path);
}

static void
test_bad_open_unknown (void)
{
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_open ("no-such-dataset-or-file", NULL, NULL, &error);
  assert_refused (ds, error, PS_ERROR_NOT_FOUND, "no-such-dataset-or-file");
}

/* ------------------------------------------------------------------ */

static void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      GDir *dir = g_dir_open (path, 0, NULL);
      const char *name;
      while (dir && (name = g_dir_read_name (dir)))
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      if (dir)
        g_dir_close (dir);
    }
  g_remove (path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GError) error = NULL;
  tmp_root = g_dir_make_tmp ("ps-test-data-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/data/generators/shapes", test_generators);
  g_test_add_func ("/data/generators/bad-params", test_generators_bad);
  g_test_add_func ("/data/builtin/names", test_builtin_names);
  g_test_add_func ("/data/dir", test_data_dir);
  g_test_add_func ("/data/digits", test_digits);
  g_test_add_func ("/data/fashion-mnist", test_fashion_mnist);
  g_test_add_func ("/data/idx/gzip", test_idx_gzip);
  g_test_add_func ("/data/idx/raw", test_idx_raw);
  g_test_add_func ("/data/idx/train-only", test_idx_train_only);
  g_test_add_func ("/data/npy/dtypes", test_npy_dtypes);
  g_test_add_func ("/data/npy/big-endian", test_npy_big_endian);
  g_test_add_func ("/data/npy/versions", test_npy_versions);
  g_test_add_func ("/data/npy/fortran", test_npy_fortran);
  g_test_add_func ("/data/npy/images", test_npy_images);
  g_test_add_func ("/data/csv/string-labels", test_csv_string_labels);
  g_test_add_func ("/data/csv/numeric-labels", test_csv_numeric_labels);
  g_test_add_func ("/data/split/stratified", test_split_stratified);
  g_test_add_func ("/data/subset", test_subset_and_refs);
  g_test_add_func ("/data/keep-classes", test_keep_classes);
  g_test_add_func ("/data/mask-labels", test_mask_labels);
  g_test_add_func ("/data/standardize", test_standardize);

  g_test_add_func ("/data/bad/missing-file", test_bad_missing_file);
  g_test_add_func ("/data/bad/missing-digits", test_bad_missing_digits);
  g_test_add_func ("/data/bad/idx-truncated", test_bad_idx_truncated);
  g_test_add_func ("/data/bad/idx-gzip-truncated", test_bad_idx_gzip_truncated);
  g_test_add_func ("/data/bad/idx-wrong-magic", test_bad_idx_magic);
  g_test_add_func ("/data/bad/idx-count-mismatch", test_bad_idx_count_mismatch);
  g_test_add_func ("/data/bad/idx-label-out-of-range", test_bad_idx_label_range);
  g_test_add_func ("/data/bad/idx-missing-file", test_bad_idx_missing_file);
  g_test_add_func ("/data/bad/npy-wrong-magic", test_bad_npy_magic);
  g_test_add_func ("/data/bad/npy-truncated", test_bad_npy_truncated);
  g_test_add_func ("/data/bad/npy-header-size-mismatch", test_bad_npy_shape_mismatch);
  g_test_add_func ("/data/bad/npy-malformed-header", test_bad_npy_header);
  g_test_add_func ("/data/bad/npy-unsupported-dtype", test_bad_npy_dtype);
  g_test_add_func ("/data/bad/npy-nan", test_bad_npy_nan);
  g_test_add_func ("/data/bad/npy-inf", test_bad_npy_inf);
  g_test_add_func ("/data/bad/npy-label-negative", test_bad_npy_label_negative);
  g_test_add_func ("/data/bad/npy-label-out-of-range", test_bad_npy_label_range);
  g_test_add_func ("/data/bad/npy-count-mismatch", test_bad_npy_count_mismatch);
  g_test_add_func ("/data/bad/csv-non-numeric", test_bad_csv_non_numeric);
  g_test_add_func ("/data/bad/csv-missing-label-column", test_bad_csv_missing_label);
  g_test_add_func ("/data/bad/csv-nan", test_bad_csv_nan);
  g_test_add_func ("/data/bad/csv-ragged-row", test_bad_csv_ragged);
  g_test_add_func ("/data/bad/csv-label-negative", test_bad_csv_label_negative);
  g_test_add_func ("/data/bad/unknown-name", test_bad_open_unknown);

  int rc = g_test_run ();
  remove_tree (tmp_root);
  g_free (tmp_root);
  return rc;
}
