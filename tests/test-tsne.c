/* test-tsne.c: Barnes-Hut t-SNE and trustworthiness. */
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-tsne.h"

/* n points in d dimensions around n_blobs random centres (spread `sep`),
 * unit noise; labels in y. */
static float *
make_blobs (guint n, guint d, guint n_blobs, float sep, guint64 seed, gint32 *y)
{
  PsRng rng;
  ps_rng_init (&rng, seed, 1);
  g_autofree float *centres = g_new (float, (gsize) n_blobs * d);
  ps_rng_fill_normal (&rng, centres, (gsize) n_blobs * d, 0.f, sep);
  float *x = g_new (float, (gsize) n * d);
  for (guint i = 0; i < n; i++)
    {
      guint c = i % n_blobs;
      y[i] = (gint32) c;
      for (guint j = 0; j < d; j++)
        x[(gsize) i * d + j] = centres[(gsize) c * d + j] + ps_rng_normal (&rng);
    }
  return x;
}

/* Leave-one-out k-NN accuracy (majority vote, ties to the nearest) of a
 * 2-D layout: how well the classes separate in the picture. */
static double
knn_accuracy (const float *y2, const gint32 *lab, guint n, guint n_classes, guint k)
{
  g_autofree guint32 *nbr = g_new (guint32, (gsize) n * k);
  g_assert_true (ps_knn_exact (nbr, NULL, y2, n, 2, k, NULL));
  guint correct = 0;
  g_autofree guint *votes = g_new0 (guint, n_classes);
  for (guint i = 0; i < n; i++)
    {
      memset (votes, 0, n_classes * sizeof (guint));
      for (guint s = 0; s < k; s++)
        votes[lab[nbr[(gsize) i * k + s]]]++;
      guint best = lab[nbr[(gsize) i * k]];
      for (guint c = 0; c < n_classes; c++)
        if (votes[c] > votes[best])
          best = c;
      correct += (gint32) best == lab[i];
    }
  return (double) correct / n;
}

/* Trustworthiness straight from its definition, in double, with a full
 * stable sort of every row: the oracle for ps_trustworthiness. */
typedef struct
{
  double d;
  guint i;
} DI;

static int
cmp_di (const void *a, const void *b)
{
  const DI *x = a, *y = b;
  if (x->d != y->d)
    return x->d < y->d ? -1 : 1;
  return x->i < y->i ? -1 : (x->i > y->i);
}

static void
sorted_row (DI *row, const float *x, guint n, guint d, guint i)
{
  for (guint j = 0; j < n; j++)
    {
      double s = 0;
      for (guint c = 0; c < d; c++)
        {
          double e = (double) x[(gsize) i * d + c] - x[(gsize) j * d + c];
          s += e * e;
        }
      row[j] = (DI) { j == i ? INFINITY : s, j };
    }
  qsort (row, n, sizeof (DI), cmp_di);
}

static double
trust_reference (const float *x, guint n, guint d, const float *y, guint dy, guint k)
{
  g_autofree DI *rx = g_new (DI, n);
  g_autofree DI *ry = g_new (DI, n);
  g_autofree guint *rank = g_new (guint, n);
  double t = 0;
  for (guint i = 0; i < n; i++)
    {
      sorted_row (rx, x, n, d, i);
      for (guint r = 0; r < n; r++)
        rank[rx[r].i] = r + 1;
      sorted_row (ry, y, n, dy, i);
      for (guint s = 0; s < k; s++)
        {
          guint r = rank[ry[s].i];
          if (r > k)
            t += r - k;
        }
    }
  return 1.0 - t * 2.0 / ((double) n * k * (2.0 * n - 3.0 * k - 1.0));
}

static void
test_trust_reference (void)
{
  const guint n = 60, d = 6;
  PsRng rng;
  ps_rng_init (&rng, 7, 0);
  g_autofree float *x = g_new (float, n * d);
  g_autofree float *y = g_new (float, n * 2);
  ps_rng_fill_normal (&rng, x, n * d, 0.f, 1.f);
  /* A noisy projection: neither perfect nor random. */
  for (guint i = 0; i < n; i++)
    {
      y[2 * i] = x[i * d] + 0.5f * ps_rng_normal (&rng);
      y[2 * i + 1] = x[i * d + 1] + 0.5f * ps_rng_normal (&rng);
    }
  for (guint k = 1; k <= 12; k += 3)
    {
      g_autoptr (GError) error = NULL;
      double ours = ps_trustworthiness (x, n, d, y, 2, k, NULL, &error);
      g_assert_no_error (error);
      double ref = trust_reference (x, n, d, y, 2, k);
      g_assert_cmpfloat (ref, <, 0.999);
      g_assert_cmpfloat_with_epsilon (ours, ref, 1e-12);
    }
  /* The identity embedding is perfectly trustworthy. */
  g_autoptr (GError) error = NULL;
  double same = ps_trustworthiness (x, n, d, x, d, 5, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (same, 1.0, 1e-12);
  /* k must stay below n / 2, as in scikit-learn. */
  double bad = ps_trustworthiness (x, n, d, y, 2, n / 2, NULL, &error);
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_assert_true (isnan (bad));
  g_clear_error (&error);
  y[7] = NAN;
  bad = ps_trustworthiness (x, n, d, y, 2, 5, NULL, &error);
  g_assert_error (error, PS_ERROR, PS_ERROR_VALUE);
  g_assert_true (isnan (bad));
}

/* Ties in distance are ranked by index, as a stable argsort does. */
static void
test_trust_ties (void)
{
  /* Points on an integer grid have many equal distances. */
  const guint n = 36;
  g_autofree float *x = g_new (float, n * 2);
  g_autofree float *y = g_new (float, n * 2);
  PsRng rng;
  ps_rng_init (&rng, 3, 0);
  for (guint i = 0; i < n; i++)
    {
      x[2 * i] = (float) (i % 6);
      x[2 * i + 1] = (float) (i / 6);
      y[2 * i] = (float) ps_rng_below (&rng, 5);
      y[2 * i + 1] = (float) ps_rng_below (&rng, 5) + 0.01f * i;
    }
  g_autoptr (GError) error = NULL;
  double ours = ps_trustworthiness (x, n, 2, y, 2, 4, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (ours, trust_reference (x, n, 2, y, 2, 4), 1e-12);
}

static float *
random_layout (guint n, float spread, guint64 seed)
{
  PsRng rng;
  ps_rng_init (&rng, seed, 2);
  float *y = g_new (float, (gsize) n * 2);
  ps_rng_fill_normal (&rng, y, (gsize) n * 2, 0.f, spread);
  return y;
}

static void
test_repulsion_exact (void)
{
  const guint n = 400;
  g_autofree float *y = random_layout (n, 5.f, 11);
  /* Duplicates and a far outlier exercise the deepest and widest cells. */
  y[2] = y[0];
  y[3] = y[1];
  y[4] = y[0];
  y[5] = y[1];
  y[6] = 1000.f;
  g_autofree float *ex = g_new (float, n * 2);
  g_autofree float *bh = g_new (float, n * 2);
  double z_ex = ps_tsne_repulsion_exact (ex, y, n);
  double z_bh = ps_tsne_repulsion_bh (bh, y, n, 0.0);
  g_assert_cmpfloat (fabs (z_bh - z_ex), <=, 1e-5 * z_ex);
  /* The tree sums in float: allow rounding relative to the largest force,
   * far below what one missing or doubled interaction would cost. */
  float scale = 0;
  for (guint i = 0; i < 2 * n; i++)
    scale = MAX (scale, fabsf (ex[i]));
  for (guint i = 0; i < 2 * n; i++)
    g_assert_cmpfloat (fabsf (bh[i] - ex[i]), <=, 1e-4f * scale);
}

static void
test_repulsion_bh (void)
{
  /* A clustered layout, as t-SNE produces. */
  const guint n = 3000;
  g_autofree gint32 *lab = g_new (gint32, n);
  g_autofree float *y = make_blobs (n, 2, 8, 15.f, 5, lab);
  g_autofree float *ex = g_new (float, n * 2);
  g_autofree float *bh = g_new (float, n * 2);
  double z_ex = ps_tsne_repulsion_exact (ex, y, n);
  double z_bh = ps_tsne_repulsion_bh (bh, y, n, 0.5);
  double err = 0, norm = 0;
  for (guint i = 0; i < n; i++)
    {
      double dx = bh[2 * i] - ex[2 * i], dy = bh[2 * i + 1] - ex[2 * i + 1];
      err += sqrt (dx * dx + dy * dy);
      norm += sqrt ((double) ex[2 * i] * ex[2 * i] + (double) ex[2 * i + 1] * ex[2 * i + 1]);
    }
  g_test_message ("theta 0.5: Z relative error %.2e, force relative error %.2e",
                  fabs (z_bh - z_ex) / z_ex, err / norm);
  g_assert_cmpfloat (fabs (z_bh - z_ex), <=, 0.01 * z_ex);
  g_assert_cmpfloat (err, <=, 0.03 * norm);
  /* The approximation is really used: it is not exact. */
  g_assert_cmpfloat (err, >, 1e-6 * norm);
}

static void
test_blobs (void)
{
  const guint n = 800, d = 10, c = 5;
  g_autofree gint32 *lab = g_new (gint32, n);
  g_autofree float *x = make_blobs (n, d, c, 4.f, 1, lab);
  PsTsneParams p;
  ps_tsne_params_init (&p);
  p.n_iter = 750;
  p.seed = 1;
  g_autoptr (GError) error = NULL;
  g_autoptr (PsTsne) t = ps_tsne_new (x, n, d, &p, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (ps_tsne_get_learning_rate (t), ==, 50.0);
  double kl_first = ps_tsne_step (t, 50, &error);
  g_assert_no_error (error);
  double kl_mid = ps_tsne_step (t, 250, &error);
  g_assert_no_error (error);
  double kl_end = ps_tsne_step (t, 1000, &error);
  g_assert_no_error (error);
  g_assert_true (ps_tsne_is_done (t));
  g_assert_cmpuint (ps_tsne_get_iteration (t), ==, 750);
  g_assert_cmpfloat (ps_tsne_get_progress (t), ==, 1.0);
  g_test_message ("KL %.4f -> %.4f -> %.4f", kl_first, kl_mid, kl_end);
  g_assert_true (isfinite (kl_first) && isfinite (kl_end));
  g_assert_cmpfloat (kl_end, <, kl_mid);
  g_assert_cmpfloat (kl_mid, <, kl_first);
  g_assert_cmpfloat (kl_end, >, 0);
  /* The exact KL of the final layout agrees with the running estimate. */
  g_assert_cmpfloat_with_epsilon (ps_tsne_kl (t), kl_end, 0.05 * kl_end);

  g_autofree float *y = ps_tsne_get_embedding (t);
  double acc = knn_accuracy (y, lab, n, c, 10);
  double trust = ps_trustworthiness (x, n, d, y, 2, 10, NULL, &error);
  g_assert_no_error (error);
  g_autofree float *r = random_layout (n, 1.f, 9);
  double acc_r = knn_accuracy (r, lab, n, c, 10);
  double trust_r = ps_trustworthiness (x, n, d, r, 2, 10, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("kNN accuracy %.3f (random %.3f), trustworthiness %.4f (random %.4f)",
                  acc, acc_r, trust, trust_r);
  g_assert_cmpfloat (acc, >, 0.95);
  g_assert_cmpfloat (acc_r, <, 0.5);
  g_assert_cmpfloat (trust, >, 0.9);
  g_assert_cmpfloat (trust_r, <, 0.7);
  /* Stepping past the end changes nothing. */
  double kl_again = ps_tsne_step (t, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (kl_again, ==, kl_end);
}

static float *
run_layout (const float *x, guint n, guint d, guint64 seed, guint threads, PsTsneInit init)
{
  PsTsneParams p;
  ps_tsne_params_init (&p);
  p.n_iter = 300;
  p.seed = seed;
  p.n_threads = threads;
  p.init = init;
  float *y = g_new (float, (gsize) n * 2);
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_tsne_run (x, n, d, &p, y, &error));
  g_assert_no_error (error);
  return y;
}

static void
test_deterministic (void)
{
  const guint n = 400, d = 10;
  g_autofree gint32 *lab = g_new (gint32, n);
  g_autofree float *x = make_blobs (n, d, 4, 3.f, 2, lab);
  for (guint threads = 1; threads <= 2; threads++)
    {
      g_autofree float *a = run_layout (x, n, d, 5, threads, PS_TSNE_INIT_RANDOM);
      g_autofree float *b = run_layout (x, n, d, 5, threads, PS_TSNE_INIT_RANDOM);
      g_assert_cmpmem (a, n * 2 * sizeof (float), b, n * 2 * sizeof (float));
      g_autofree float *c = run_layout (x, n, d, 6, threads, PS_TSNE_INIT_RANDOM);
      g_assert_true (memcmp (a, c, n * 2 * sizeof (float)) != 0);
      g_autofree float *e = run_layout (x, n, d, 5, threads, PS_TSNE_INIT_PCA);
      g_autofree float *f = run_layout (x, n, d, 5, threads, PS_TSNE_INIT_PCA);
      g_assert_cmpmem (e, n * 2 * sizeof (float), f, n * 2 * sizeof (float));
    }
}

typedef struct
{
  PsTsne *t;
  GError *error;
  double kl;
} StepJob;

static gpointer
step_thread (gpointer data)
{
  StepJob *job = data;
  job->kl = ps_tsne_step (job->t, 1000000, &job->error);
  return NULL;
}

static void
test_cancel (void)
{
  const guint n = 600, d = 10;
  g_autofree gint32 *lab = g_new (gint32, n);
  g_autofree float *x = make_blobs (n, d, 3, 3.f, 3, lab);
  gint flag = 0;
  PsTsneParams p;
  ps_tsne_params_init (&p);
  p.n_iter = 100000;
  p.cancel = &flag;
  g_autoptr (GError) error = NULL;
  g_autoptr (PsTsne) t = ps_tsne_new (x, n, d, &p, &error);
  g_assert_no_error (error);

  /* Raised on a running job: the worker stops at most one iteration after
   * it sees the flag; the layout stays readable meanwhile. */
  StepJob job = { t, NULL, 0 };
  GThread *th = g_thread_new ("step", step_thread, &job);
  while (ps_tsne_get_iteration (t) < 30)
    {
      g_autofree float *snap = ps_tsne_get_embedding (t);
      g_assert_true (ps_all_finite (snap, n * 2));
      g_thread_yield ();
    }
  g_atomic_int_set (&flag, 1);
  guint seen = ps_tsne_get_iteration (t);
  g_thread_join (th);
  g_assert_error (job.error, PS_ERROR, PS_ERROR_CANCELLED);
  g_clear_error (&job.error);
  g_assert_true (isnan (job.kl));
  guint stopped = ps_tsne_get_iteration (t);
  g_assert_cmpuint (stopped, >=, 30);
  g_assert_cmpuint (stopped, <=, seen + 1);
  g_assert_false (ps_tsne_is_done (t));

  /* Still raised: nothing more happens.  Lowered: it continues. */
  ps_tsne_step (t, 5, &error);
  g_assert_error (error, PS_ERROR, PS_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpuint (ps_tsne_get_iteration (t), ==, stopped);
  g_atomic_int_set (&flag, 0);
  ps_tsne_step (t, 5, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ps_tsne_get_iteration (t), ==, stopped + 5);

  /* Raised before setup: no state at all. */
  g_atomic_int_set (&flag, 1);
  PsTsne *none = ps_tsne_new (x, n, d, &p, &error);
  g_assert_null (none);
  g_assert_error (error, PS_ERROR, PS_ERROR_CANCELLED);
  g_clear_error (&error);
  double tr = ps_trustworthiness (x, n, d, x, d, 5, &flag, &error);
  g_assert_error (error, PS_ERROR, PS_ERROR_CANCELLED);
  g_assert_true (isnan (tr));
}

static void
test_bad_input (void)
{
  const guint n = 20, d = 3;
  g_autofree float *x = g_new0 (float, n * d);
  for (guint i = 0; i < n * d; i++)
    x[i] = (float) (i % 7);
  PsTsneParams p;
  ps_tsne_params_init (&p);
  g_autoptr (GError) error = NULL;
  /* The default perplexity 30 is too large for 20 samples. */
  g_assert_null (ps_tsne_new (x, n, d, &p, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_clear_error (&error);
  p.perplexity = 5;
  p.theta = -1;
  g_assert_null (ps_tsne_new (x, n, d, &p, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_clear_error (&error);
  p.theta = 0.5;
  x[5] = NAN;
  g_assert_null (ps_tsne_new (x, n, d, &p, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_VALUE);
  g_clear_error (&error);
  /* Identical points are legal and stay finite. */
  memset (x, 0, n * d * sizeof (float));
  p.n_iter = 100;
  g_autofree float *y = g_new (float, n * 2);
  g_assert_true (ps_tsne_run (x, n, d, &p, y, &error));
  g_assert_no_error (error);
  g_assert_true (ps_all_finite (y, n * 2));
}

/* Wide inputs go through PCA to pca_dims first; the layout still
 * separates the blobs, and turning the reduction off changes the result. */
static void
test_pca_first (void)
{
  const guint n = 300, d = 80, c = 3;
  g_autofree gint32 *lab = g_new (gint32, n);
  g_autofree float *x = make_blobs (n, d, c, 2.f, 8, lab);
  PsTsneParams p;
  ps_tsne_params_init (&p);
  p.n_iter = 400;
  p.perplexity = 20;
  g_autoptr (GError) error = NULL;
  g_autofree float *y = g_new (float, n * 2);
  g_autofree float *y_full = g_new (float, n * 2);
  g_assert_true (ps_tsne_run (x, n, d, &p, y, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (knn_accuracy (y, lab, n, c, 10), >, 0.95);
  p.pca_dims = 0;
  g_assert_true (ps_tsne_run (x, n, d, &p, y_full, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (y, y_full, n * 2 * sizeof (float)) != 0);
}

static void
test_knn (void)
{
  const guint n = 300, d = 7, k = 9;
  PsRng rng;
  ps_rng_init (&rng, 4, 0);
  g_autofree float *x = g_new (float, n * d);
  ps_rng_fill_normal (&rng, x, n * d, 3.f, 1.f);
  g_autofree guint32 *nbr = g_new (guint32, n * k);
  g_autofree float *d2 = g_new (float, n * k);
  g_assert_true (ps_knn_exact (nbr, d2, x, n, d, k, NULL));
  g_autofree DI *row = g_new (DI, n);
  for (guint i = 0; i < n; i++)
    {
      sorted_row (row, x, n, d, i);
      for (guint s = 0; s < k; s++)
        {
          g_assert_cmpuint (nbr[i * k + s], ==, row[s].i);
          g_assert_cmpfloat_with_epsilon (d2[i * k + s], row[s].d, 1e-5 * row[s].d);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tsne/knn/exact", test_knn);
  g_test_add_func ("/tsne/trustworthiness/reference", test_trust_reference);
  g_test_add_func ("/tsne/trustworthiness/ties", test_trust_ties);
  g_test_add_func ("/tsne/repulsion/theta0-exact", test_repulsion_exact);
  g_test_add_func ("/tsne/repulsion/theta05-approx", test_repulsion_bh);
  g_test_add_func ("/tsne/blobs", test_blobs);
  g_test_add_func ("/tsne/deterministic", test_deterministic);
  g_test_add_func ("/tsne/cancel", test_cancel);
  g_test_add_func ("/tsne/bad-input", test_bad_input);
  g_test_add_func ("/tsne/pca-first", test_pca_first);
  return g_test_run ();
}
