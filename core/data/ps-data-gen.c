/* ps-data-gen.c: the 2-D toy generators, the built-in names and the
 * by-name-or-path dispatcher.
 *
 * Every generator takes n, noise and a seed, draws from its own PsRng
 * stream, and labels each point with the component (or class) it came
 * from, so a scatter coloured by label shows the structure.
 */
#define G_LOG_DOMAIN "ps-data"

#include "ps-dataset.h"

#include <math.h>
#include <string.h>

#define PS_GEN_DEFAULT_N 1000
#define PS_GEN_MAX_N     10000000u

typedef void (*GenFunc) (PsDataset *ds, PsRng *rng, double noise);

typedef struct
{
  const char *name;
  const char *description;
  guint n_classes;
  double default_noise;
  GenFunc func;
} Generator;

static void
gen_blobs (PsDataset *ds, PsRng *rng, double noise)
{
  /* Four well separated centres on a square, like sklearn's blobs with a
   * fixed layout so every seed shows the same picture. */
  static const float c[4][2] = { { -2.5f, -2.5f }, { 2.5f, -2.5f }, { -2.5f, 2.5f }, { 2.5f, 2.5f } };
  for (guint i = 0; i < ds->n; i++)
    {
      guint k = i % 4;
      ds->x[2 * i] = c[k][0] + (float) noise * ps_rng_normal (rng);
      ds->x[2 * i + 1] = c[k][1] + (float) noise * ps_rng_normal (rng);
      ds->y[i] = (gint32) k;
    }
}

static void
gen_moons (PsDataset *ds, PsRng *rng, double noise)
{
  for (guint i = 0; i < ds->n; i++)
    {
      guint k = i % 2;
      double t = G_PI * ps_rng_uniform_d (rng);
      double x = k == 0 ? cos (t) : 1.0 - cos (t);
      double y = k == 0 ? sin (t) : 0.5 - sin (t);
      ds->x[2 * i] = (float) (x + noise * ps_rng_normal (rng));
      ds->x[2 * i + 1] = (float) (y + noise * ps_rng_normal (rng));
      ds->y[i] = (gint32) k;
    }
}

static void
gen_circles (PsDataset *ds, PsRng *rng, double noise)
{
  for (guint i = 0; i < ds->n; i++)
    {
      guint k = i % 2;
      double r = k == 0 ? 1.0 : 0.5;
      double t = 2 * G_PI * ps_rng_uniform_d (rng);
      ds->x[2 * i] = (float) (r * cos (t) + noise * ps_rng_normal (rng));
      ds->x[2 * i + 1] = (float) (r * sin (t) + noise * ps_rng_normal (rng));
      ds->y[i] = (gint32) k;
    }
}

static void
gen_spirals (PsDataset *ds, PsRng *rng, double noise)
{
  /* Two interleaved arms of an Archimedean spiral, the second rotated by
   * half a turn; sqrt of a uniform spreads points evenly along the arm. */
  for (guint i = 0; i < ds->n; i++)
    {
      guint k = i % 2;
      double t = sqrt (ps_rng_uniform_d (rng)) * 3 * G_PI;
      double r = t / (3 * G_PI) * 2.0;
      double a = t + k * G_PI;
      ds->x[2 * i] = (float) (r * cos (a) + noise * ps_rng_normal (rng));
      ds->x[2 * i + 1] = (float) (r * sin (a) + noise * ps_rng_normal (rng));
      ds->y[i] = (gint32) k;
    }
}

static void
gen_ring (PsDataset *ds, PsRng *rng, double noise)
{
  for (guint i = 0; i < ds->n; i++)
    {
      guint k = i % 8;
      double a = 2 * G_PI * k / 8.0;
      ds->x[2 * i] = (float) (2.0 * cos (a) + noise * ps_rng_normal (rng));
      ds->x[2 * i + 1] = (float) (2.0 * sin (a) + noise * ps_rng_normal (rng));
      ds->y[i] = (gint32) k;
    }
}

static void
gen_grid (PsDataset *ds, PsRng *rng, double noise)
{
  for (guint i = 0; i < ds->n; i++)
    {
      guint k = i % 25;
      ds->x[2 * i] = (float) ((double) (k % 5) - 2.0 + noise * ps_rng_normal (rng));
      ds->x[2 * i + 1] = (float) ((double) (k / 5) - 2.0 + noise * ps_rng_normal (rng));
      ds->y[i] = (gint32) k;
    }
}

static void
gen_checkerboard (PsDataset *ds, PsRng *rng, double noise)
{
  /* Uniform on the 8 dark squares of a 4x4 board over [-2, 2]^2 (the
   * density used in flow and diffusion papers); the label is the square. */
  for (guint i = 0; i < ds->n; i++)
    {
      guint k = i % 8;
      guint row = k / 2;
      guint col = 2 * (k % 2) + (row % 2);
      double x = col - 2.0 + ps_rng_uniform_d (rng);
      double y = row - 2.0 + ps_rng_uniform_d (rng);
      ds->x[2 * i] = (float) (x + noise * ps_rng_normal (rng));
      ds->x[2 * i + 1] = (float) (y + noise * ps_rng_normal (rng));
      ds->y[i] = (gint32) k;
    }
}

static void
gen_swissroll (PsDataset *ds, PsRng *rng, double noise)
{
  /* The 2-D swiss roll t (cos t, sin t), t in [1.5 pi, 4.5 pi], scaled to
   * about [-2, 2]; labels are quarters of t so colour shows the unrolling. */
  for (guint i = 0; i < ds->n; i++)
    {
      double u = ps_rng_uniform_d (rng);
      double t = 1.5 * G_PI * (1 + 2 * u);
      ds->x[2 * i] = (float) (t * cos (t) / 7.0 + noise * ps_rng_normal (rng));
      ds->x[2 * i + 1] = (float) (t * sin (t) / 7.0 + noise * ps_rng_normal (rng));
      ds->y[i] = (gint32) MIN (3, (int) (u * 4));
    }
}

static void
gen_pinwheel (PsDataset *ds, PsRng *rng, double noise)
{
  /* Five curved arms: a point at radius ~1 with tangential spread `noise`
   * is rotated by its arm's angle plus rate * exp(radius). */
  const double radial_std = 0.3, rate = 0.25;
  for (guint i = 0; i < ds->n; i++)
    {
      guint k = i % 5;
      double r = 1.0 + radial_std * ps_rng_normal (rng);
      double t = noise * ps_rng_normal (rng);
      double a = 2 * G_PI * k / 5.0 + rate * exp (r);
      ds->x[2 * i] = (float) (cos (a) * r - sin (a) * t);
      ds->x[2 * i + 1] = (float) (sin (a) * r + cos (a) * t);
      ds->y[i] = (gint32) k;
    }
}

static const Generator generators[] = {
  { "blobs", "Four Gaussian blobs on a square (4 classes)", 4, 0.6, gen_blobs },
  { "moons", "Two interleaving half circles (2 classes)", 2, 0.1, gen_moons },
  { "circles", "Two concentric circles, outer and inner (2 classes)", 2, 0.05, gen_circles },
  { "spirals", "Two interleaved spiral arms (2 classes)", 2, 0.05, gen_spirals },
  { "ring", "Eight Gaussians on a circle of radius 2 (8 components)", 8, 0.05, gen_ring },
  { "grid", "A 5x5 grid of Gaussians (25 components)", 25, 0.05, gen_grid },
  { "checkerboard", "Uniform on the dark squares of a 4x4 board (8 squares)", 8, 0.0, gen_checkerboard },
  { "swissroll", "A 2-D swiss roll, labelled by quarter of its length (4 classes)", 4, 0.05, gen_swissroll },
  { "pinwheel", "Five curved pinwheel arms (5 classes)", 5, 0.05, gen_pinwheel },
};

static const Generator *
find_generator (const char *kind)
{
  for (guint g = 0; g < G_N_ELEMENTS (generators); g++)
    if (g_str_equal (generators[g].name, kind))
      return &generators[g];
  return NULL;
}

PsDataset *
ps_dataset_generate_2d (const char *kind, guint n, double noise, guint64 seed, GError **error)
{
  g_return_val_if_fail (kind != NULL, NULL);
  const Generator *gen = find_generator (kind);
  if (!gen)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no such 2-D generator", kind);
      return NULL;
    }
  if (n == 0)
    n = PS_GEN_DEFAULT_N;
  if (n > PS_GEN_MAX_N)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "%s: n = %u is too large (at most %u)", kind, n, PS_GEN_MAX_N);
      return NULL;
    }
  if (isnan (noise) || isinf (noise) || noise > 100)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "%s: noise = %g is not a usable value", kind, noise);
      return NULL;
    }
  if (noise < 0)
    noise = gen->default_noise;
  PsDataset *ds = ps_dataset_new (kind, n, 2);
  PsRng rng;
  ps_rng_init (&rng, seed, 0x2d);
  gen->func (ds, &rng, noise);
  g_free (ds->source);
  ds->source = g_strdup_printf ("%s(n=%u, noise=%g, seed=%" G_GUINT64_FORMAT ")", kind, n, noise, seed);
  if (g_str_equal (kind, "circles"))
    {
      static const char *const names[] = { "outer", "inner" };
      ps_dataset_set_class_names (ds, names, 2);
    }
  else if (g_str_equal (kind, "moons"))
    {
      static const char *const names[] = { "upper", "lower" };
      ps_dataset_set_class_names (ds, names, 2);
    }
  else
    ps_dataset_set_class_names (ds, NULL, gen->n_classes);
  ds->n_classes = gen->n_classes;
  return ds;
}

/* ------------------------------------------------------------------ */
/* Built-ins and dispatch                                               */
/* ------------------------------------------------------------------ */

static const char *const builtin_names[] = {
  "digits", "fashion-mnist",
  "blobs", "moons", "circles", "spirals", "ring", "grid", "checkerboard", "swissroll", "pinwheel",
  NULL,
};

const char * const *
ps_dataset_builtin_names (void)
{
  return builtin_names;
}

const char *
ps_dataset_builtin_description (const char *name)
{
  g_return_val_if_fail (name != NULL, NULL);
  if (g_str_equal (name, "digits"))
    return "8x8 handwritten digits, 1797 images in 10 classes (bundled)";
  if (g_str_equal (name, "fashion-mnist"))
    return "Fashion-MNIST, 70000 28x28 clothing images in 10 classes (60000 train, 10000 test)";
  const Generator *gen = find_generator (name);
  return gen ? gen->description : NULL;
}

PsDataset *
ps_dataset_load_builtin (const char *name, guint n, double noise, guint64 seed, GError **error)
{
  g_return_val_if_fail (name != NULL, NULL);
  if (g_str_equal (name, "digits"))
    return ps_dataset_load_digits (NULL, error);
  if (g_str_equal (name, "fashion-mnist"))
    {
      const char *dir = ps_fashion_mnist_dir ();
      if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND,
                       "%s: no such folder; install Debian's dataset-fashion-mnist package "
                       "or point PROTOSCOPE_FASHION_MNIST at a folder of Fashion-MNIST IDX files", dir);
          return NULL;
        }
      return ps_dataset_load_idx_dir (dir, error);
    }
  if (find_generator (name))
    return ps_dataset_generate_2d (name, n, noise, seed, error);
  g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no such built-in dataset", name);
  return NULL;
}

PsDataset *
ps_dataset_open (const char *name_or_path, const char *labels_path,
                 const char *label_column, GError **error)
{
  g_return_val_if_fail (name_or_path != NULL, NULL);
  for (guint k = 0; builtin_names[k]; k++)
    if (g_str_equal (builtin_names[k], name_or_path))
      return ps_dataset_load_builtin (name_or_path, 0, -1, 0, error);
  if (g_file_test (name_or_path, G_FILE_TEST_IS_DIR))
    return ps_dataset_load_idx_dir (name_or_path, error);
  g_autofree char *lower = g_ascii_strdown (name_or_path, -1);
  if (g_str_has_suffix (lower, ".npy"))
    return ps_dataset_load_npy (name_or_path, labels_path, error);
  if (g_str_has_suffix (lower, ".csv") || g_str_has_suffix (lower, ".csv.gz"))
    return ps_dataset_load_csv (name_or_path, label_column, error);
  if (!g_file_test (name_or_path, G_FILE_TEST_EXISTS))
    g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND,
                 "%s: neither a built-in dataset nor an existing file or folder", name_or_path);
  else
    g_set_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED,
                 "%s: unknown file kind (expected a folder of IDX files, .npy or .csv)", name_or_path);
  return NULL;
}
