/* test-eval.c: metrics against hand-computed cases and brute-force
 * oracles, PCA against a planted covariance, k-means against planted
 * blobs and a naive Lloyd loop, Gaussian mixtures against naive densities
 * and moments. */
#include <math.h>
#include <string.h>

#include "ps-dataset.h"
#include "ps-eval.h"
#include "ps-gmm.h"
#include "ps-kmeans.h"

static void
test_accuracy_confusion (void)
{
  gint32 y[6] = { 0, 1, 2, 1, -1, 2 };
  gint32 p[6] = { 0, 2, 2, 1, 0, 1 };
  g_assert_cmpfloat_with_epsilon (ps_accuracy (p, y, 6), 3.0 / 5.0, 1e-12);
  guint cm[9];
  ps_confusion_matrix (cm, p, y, 6, 3);
  static const guint want[9] = { 1, 0, 0, 0, 1, 1, 0, 1, 1 };
  g_assert_cmpmem (cm, sizeof cm, want, sizeof want);
  gint32 none[2] = { -1, -1 };
  g_assert_true (isnan (ps_accuracy (p, none, 2)));
}

static void
test_auroc_hand (void)
{
  /* OOD 0.9 0.8 0.4 vs ID 0.1 0.5 0.3: 8 of 9 pairs ordered right. */
  float s[6] = { 0.9f, 0.8f, 0.4f, 0.1f, 0.5f, 0.3f };
  guint8 o[6] = { 1, 1, 1, 0, 0, 0 };
  g_assert_cmpfloat_with_epsilon (ps_auroc (s, o, 6), 8.0 / 9.0, 1e-12);
  /* Ties count half: OOD {0.5, 0.7} vs ID {0.5, 0.2} -> 3.5 / 4. */
  float t[4] = { 0.5f, 0.7f, 0.5f, 0.2f };
  guint8 to[4] = { 1, 1, 0, 0 };
  g_assert_cmpfloat_with_epsilon (ps_auroc (t, to, 4), 0.875, 1e-12);
  /* All equal: chance. */
  float e[4] = { 1, 1, 1, 1 };
  g_assert_cmpfloat_with_epsilon (ps_auroc (e, to, 4), 0.5, 1e-12);
  /* One class only: undefined. */
  guint8 all[4] = { 1, 1, 1, 1 };
  g_assert_true (isnan (ps_auroc (t, all, 4)));
}

static void
test_auroc_bruteforce (void)
{
  PsRng rng;
  ps_rng_init (&rng, 3, 0);
  for (int trial = 0; trial < 20; trial++)
    {
      guint n = 20 + ps_rng_below (&rng, 60);
      float s[80];
      guint8 o[80];
      for (guint i = 0; i < n; i++)
        {
          o[i] = ps_rng_below (&rng, 3) == 0;
          /* Coarse values make many ties; OOD shifted up a little. */
          s[i] = (float) ps_rng_below (&rng, 6) + (o[i] ? 1.0f : 0.0f);
        }
      o[0] = 1;
      o[1] = 0;
      double pairs = 0, good = 0;
      for (guint i = 0; i < n; i++)
        for (guint j = 0; j < n; j++)
          if (o[i] && !o[j])
            {
              pairs++;
              good += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
            }
      g_assert_cmpfloat_with_epsilon (ps_auroc (s, o, n), good / pairs, 1e-12);
    }
}

static void
test_fpr95_hand (void)
{
  /* 20 OOD samples scored 1..20 and 5 ID samples. */
  float s[25];
  guint8 o[25];
  for (int i = 0; i < 20; i++)
    {
      s[i] = (float) (i + 1);
      o[i] = 1;
    }
  float id[5] = { 0, 1.5f, 2, 3, 10 };
  for (int i = 0; i < 5; i++)
    {
      s[20 + i] = id[i];
      o[20 + i] = 0;
    }
  /* OOD positive: keeping 19 of 20 OOD means threshold 2; ID at >= 2: 3 of 5. */
  g_assert_cmpfloat_with_epsilon (ps_fpr95 (s, o, 25, PS_POSITIVE_OOD), 0.6, 1e-12);
  /* ID positive: accepting 95% of 5 ID means all, threshold 10; OOD at <= 10: 10 of 20. */
  g_assert_cmpfloat_with_epsilon (ps_fpr95 (s, o, 25, PS_POSITIVE_ID), 0.5, 1e-12);
  /* At 80% TPR (ID positive): 4 of 5 ID accepted, threshold 3; OOD <= 3: 3 of 20. */
  g_assert_cmpfloat_with_epsilon (ps_fpr_at_tpr (s, o, 25, PS_POSITIVE_ID, 0.8), 0.15, 1e-12);
  /* Ties at the threshold count as positive: all scores equal gives FPR 1. */
  float e[4] = { 2, 2, 2, 2 };
  guint8 eo[4] = { 1, 0, 1, 0 };
  g_assert_cmpfloat_with_epsilon (ps_fpr95 (e, eo, 4, PS_POSITIVE_OOD), 1.0, 1e-12);
}

static void
test_aupr_hand (void)
{
  float s[5] = { 0.9f, 0.8f, 0.7f, 0.6f, 0.5f };
  guint8 o[5] = { 1, 1, 0, 1, 0 };
  /* OOD positive: recall steps of 1/3 at precisions 1, 1, 3/4. */
  g_assert_cmpfloat_with_epsilon (ps_aupr (s, o, 5, PS_POSITIVE_OOD), 1.0 / 3 + 1.0 / 3 + 0.25, 1e-12);
  /* ID positive (lowest score first): ID 0.5 (P=1), OOD 0.6, ID 0.7 (P=2/3). */
  g_assert_cmpfloat_with_epsilon (ps_aupr (s, o, 5, PS_POSITIVE_ID), 0.5 + 0.5 * 2.0 / 3.0, 1e-12);
  /* Tied scores form one threshold: 0.9 P, then {0.8 P, 0.8 N}, then 0.1 N. */
  float t[4] = { 0.9f, 0.8f, 0.8f, 0.1f };
  guint8 to[4] = { 1, 1, 0, 0 };
  g_assert_cmpfloat_with_epsilon (ps_aupr (t, to, 4, PS_POSITIVE_OOD), 0.5 + 0.5 * 2.0 / 3.0, 1e-12);
  /* A perfect detector. */
  float p[4] = { 4, 3, 2, 1 };
  g_assert_cmpfloat_with_epsilon (ps_aupr (p, to, 4, PS_POSITIVE_OOD), 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (ps_auroc (p, to, 4), 1.0, 1e-12);
}

static void
test_hungarian_hand (void)
{
  double c[9] = { 4, 1, 3, 2, 0, 5, 3, 2, 2 };
  gint a[3];
  g_assert_cmpfloat (ps_hungarian (c, 3, 3, a), ==, 5.0);
  g_assert_cmpint (a[0], ==, 1);
  g_assert_cmpint (a[1], ==, 0);
  g_assert_cmpint (a[2], ==, 2);
  /* 2 rows, 3 columns. */
  double r[6] = { 5, 1, 9, 2, 8, 3 };
  gint b[2];
  g_assert_cmpfloat (ps_hungarian (r, 2, 3, b), ==, 3.0);
  g_assert_cmpint (b[0], ==, 1);
  g_assert_cmpint (b[1], ==, 0);
  /* 3 rows, 2 columns: one row is left out. */
  double t[6] = { 5, 2, 1, 9, 3, 8 };
  gint d[3];
  g_assert_cmpfloat (ps_hungarian (t, 3, 2, d), ==, 3.0);
  g_assert_cmpint (d[0], ==, 1);
  g_assert_cmpint (d[1], ==, 0);
  g_assert_cmpint (d[2], ==, -1);
}

static double
brute_min (const double *c, guint n, guint *perm, guint depth, guint8 *used)
{
  if (depth == n)
    {
      double s = 0;
      for (guint i = 0; i < n; i++)
        s += c[i * n + perm[i]];
      return s;
    }
  double best = INFINITY;
  for (guint j = 0; j < n; j++)
    if (!used[j])
      {
        used[j] = 1;
        perm[depth] = j;
        best = MIN (best, brute_min (c, n, perm, depth + 1, used));
        used[j] = 0;
      }
  return best;
}

static void
test_hungarian_bruteforce (void)
{
  PsRng rng;
  ps_rng_init (&rng, 99, 0);
  for (int trial = 0; trial < 30; trial++)
    {
      double c[36];
      for (int k = 0; k < 36; k++)
        /* Half the trials use small integers so ties are common. */
        c[k] = trial % 2 ? ps_rng_uniform_d (&rng) * 10 - 3 : (double) ps_rng_below (&rng, 4);
      guint perm[6];
      guint8 used[6] = { 0 };
      double want = brute_min (c, 6, perm, 0, used);
      gint a[6];
      double got = ps_hungarian (c, 6, 6, a);
      g_assert_cmpfloat_with_epsilon (got, want, 1e-9);
      /* The assignment is a permutation and its cost is what was returned. */
      guint8 seen[6] = { 0 };
      double s = 0;
      for (int i = 0; i < 6; i++)
        {
          g_assert_cmpint (a[i], >=, 0);
          g_assert_cmpint (a[i], <, 6);
          g_assert_false (seen[a[i]]);
          seen[a[i]] = 1;
          s += c[i * 6 + a[i]];
        }
      g_assert_cmpfloat_with_epsilon (s, got, 1e-9);
    }
}

static void
test_cluster_accuracy (void)
{
  /* Clusters are a relabelling of the classes, with one mistake. */
  gint32 y[8] = { 0, 0, 1, 1, 2, 2, 3, -1 };
  gint32 p[8] = { 2, 2, 0, 0, 1, 3, 1, 1 };
  gint32 map[4];
  double acc = ps_cluster_accuracy (p, y, 8, map);
  /* Best matching: 2->0 and 0->1 (two each), then 1->3 and 3->2 (one
   * each) beat 1->2 and 3->3 (one in all): 6 of 7 labelled samples. */
  g_assert_cmpfloat_with_epsilon (acc, 6.0 / 7.0, 1e-12);
  g_assert_cmpint (map[2], ==, 0);
  g_assert_cmpint (map[0], ==, 1);
  g_assert_cmpint (map[1], ==, 3);
  g_assert_cmpint (map[3], ==, 2);

  guint8 old[4] = { 1, 1, 0, 0 };
  double all, o, nw;
  ps_cluster_accuracy_old_new (p, y, 8, old, 4, &all, &o, &nw);
  g_assert_cmpfloat_with_epsilon (all, 6.0 / 7.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (o, 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (nw, 2.0 / 3.0, 1e-12);

  /* More clusters than classes: extra clusters count as wrong. */
  gint32 y2[6] = { 0, 0, 0, 1, 1, 1 };
  gint32 p2[6] = { 0, 0, 2, 1, 1, 1 };
  g_assert_cmpfloat_with_epsilon (ps_cluster_accuracy (p2, y2, 6, NULL), 5.0 / 6.0, 1e-12);
}

static void
test_eig_sym (void)
{
  PsRng rng;
  ps_rng_init (&rng, 5, 0);
  const guint n = 9;
  double a[81], keep[81], ev[9], vec[81];
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j <= i; j++)
      a[i * n + j] = a[j * n + i] = ps_rng_normal (&rng);
  memcpy (keep, a, sizeof a);
  ps_eig_sym (a, n, ev, vec);
  for (guint i = 0; i < n; i++)
    {
      if (i > 0)
        g_assert_cmpfloat (ev[i - 1], >=, ev[i]);
      for (guint r = 0; r < n; r++)
        {
          double s = 0;
          for (guint c = 0; c < n; c++)
            s += keep[r * n + c] * vec[i * n + c];
          g_assert_cmpfloat_with_epsilon (s, ev[i] * vec[i * n + r], 1e-9);
        }
      for (guint j = 0; j < n; j++)
        {
          double dot = 0;
          for (guint c = 0; c < n; c++)
            dot += vec[i * n + c] * vec[j * n + c];
          g_assert_cmpfloat_with_epsilon (dot, i == j ? 1.0 : 0.0, 1e-9);
        }
    }
}

/* A random orthonormal basis [d, d] (rows), by Gram-Schmidt. */
static void
random_basis (double *b, guint d, PsRng *rng)
{
  for (guint i = 0; i < d; i++)
    {
      double *r = b + i * d;
      for (guint k = 0; k < d; k++)
        r[k] = ps_rng_normal (rng);
      for (guint j = 0; j < i; j++)
        {
          double dot = 0;
          for (guint k = 0; k < d; k++)
            dot += r[k] * b[j * d + k];
          for (guint k = 0; k < d; k++)
            r[k] -= dot * b[j * d + k];
        }
      double nrm = 0;
      for (guint k = 0; k < d; k++)
        nrm += r[k] * r[k];
      for (guint k = 0; k < d; k++)
        r[k] /= sqrt (nrm);
    }
}

/* Draws n samples whose covariance has eigenvectors basis[0..m) with
 * variances var[0..m) (and zero elsewhere) around mean 3. */
static float *
planted (guint n, guint d, const double *basis, const double *var, guint m, PsRng *rng)
{
  float *x = g_new (float, (gsize) n * d);
  for (guint i = 0; i < n; i++)
    {
      float *row = x + (gsize) i * d;
      for (guint k = 0; k < d; k++)
        row[k] = 3.0f;
      for (guint c = 0; c < m; c++)
        {
          double z = ps_rng_normal (rng) * sqrt (var[c]);
          for (guint k = 0; k < d; k++)
            row[k] += (float) (z * basis[c * d + k]);
        }
    }
  return x;
}

static void
check_pca (guint n, guint d, guint k, guint m, double tol_cos)
{
  PsRng rng;
  ps_rng_init (&rng, 17, d);
  g_autofree double *basis = g_new (double, (gsize) d * d);
  random_basis (basis, MIN (d, 40), &rng);
  /* For d > 40 the basis lives in the first 40 coordinates; pad it. */
  if (d > 40)
    {
      g_autofree double *small = g_memdup2 (basis, sizeof (double) * 40 * 40);
      memset (basis, 0, sizeof (double) * d * d);
      for (guint i = 0; i < 40; i++)
        for (guint j = 0; j < 40; j++)
          basis[i * d + j * (d / 40)] = small[i * 40 + j];
    }
  double var[8] = { 16, 9, 4, 1, 0.25, 0.0625, 0.01, 0.001 };
  g_autofree float *x = planted (n, d, basis, var, m, &rng);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsPca) pca = ps_pca_fit (x, n, d, k, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pca->k, ==, k);
  for (guint c = 0; c < k; c++)
    {
      double dot = 0;
      for (guint j = 0; j < d; j++)
        dot += pca->components[c * d + j] * basis[c * d + j];
      if (fabs (dot) < tol_cos)
        g_error ("component %u: |cos| = %g with the planted direction", c, fabs (dot));
      /* Sample variances scatter around the planted ones. */
      g_assert_cmpfloat (fabs (pca->explained_variance[c] / var[c] - 1), <, 0.2);
      if (c > 0)
        g_assert_cmpfloat (pca->explained_variance[c - 1], >=, pca->explained_variance[c]);
    }
  double planted_total = 0;
  for (guint c = 0; c < m; c++)
    planted_total += var[c];
  g_assert_cmpfloat (fabs (pca->total_variance / planted_total - 1), <, 0.2);
  g_assert_cmpfloat_with_epsilon (pca->explained_variance_ratio[0],
                                  pca->explained_variance[0] / pca->total_variance, 1e-5);
  /* The mean projects to zero and mean + 2 * component 0 to (2, 0, ...). */
  g_autofree float *probe = g_new (float, 2 * d);
  for (guint j = 0; j < d; j++)
    {
      probe[j] = pca->mean[j];
      probe[d + j] = pca->mean[j] + 2 * pca->components[j];
    }
  g_autofree float *proj = g_new (float, 2 * k);
  ps_pca_transform (pca, probe, 2, proj);
  for (guint c = 0; c < k; c++)
    {
      g_assert_cmpfloat_with_epsilon (proj[c], 0.0, 1e-3);
      g_assert_cmpfloat_with_epsilon (proj[k + c], c == 0 ? 2.0 : 0.0, 1e-3);
    }
}

static void
test_pca_small (void)
{
  check_pca (4000, 6, 3, 6, 0.99);
}

static void
test_pca_subspace (void)
{
  /* d = 120 with k = 4 runs subspace iteration on the explicit covariance. */
  check_pca (3000, 120, 4, 8, 0.99);
}

static void
test_pca_implicit (void)
{
  /* d > 2048 applies the covariance through passes over the data. */
  check_pca (1000, 2080, 3, 8, 0.98);
}

static void
test_pca_oracle (void)
{
  /* Full-rank data with a slowly decaying spectrum makes the subspace
   * iteration really iterate; the oracle is Jacobi on the sample
   * covariance computed in double. */
  const guint n = 1500, d = 90, k = 10;
  PsRng rng;
  ps_rng_init (&rng, 8, 1);
  g_autofree double *basis = g_new (double, d * d);
  random_basis (basis, d, &rng);
  g_autofree double *var = g_new (double, d);
  for (guint i = 0; i < d; i++)
    var[i] = pow (0.9, i);
  g_autofree float *x = planted (n, d, basis, var, d, &rng);
  g_autofree double *mean = g_new0 (double, d);
  g_autofree double *cov = g_new0 (double, d * d);
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < d; j++)
      mean[j] += x[i * d + j] / (double) n;
  for (guint i = 0; i < n; i++)
    for (guint a = 0; a < d; a++)
      for (guint b = 0; b < d; b++)
        cov[a * d + b] += (x[i * d + a] - mean[a]) * (x[i * d + b] - mean[b]) / (n - 1);
  g_autofree double *ev = g_new (double, d);
  g_autofree double *vec = g_new (double, d * d);
  double trace = 0;
  for (guint j = 0; j < d; j++)
    trace += cov[j * d + j];
  ps_eig_sym (cov, d, ev, vec);

  g_autoptr (GError) error = NULL;
  g_autoptr (PsPca) pca = ps_pca_fit (x, n, d, k, 3, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (pca->total_variance, trace, 1e-4 * trace);
  for (guint c = 0; c < k; c++)
    {
      g_assert_cmpfloat_with_epsilon (pca->explained_variance[c], ev[c], 1e-4 * ev[0]);
      double dot = 0;
      for (guint j = 0; j < d; j++)
        dot += pca->components[c * d + j] * vec[c * d + j];
      if (fabs (dot) < 0.9995)
        g_error ("component %u: |cos| = %.6f with the oracle", c, fabs (dot));
    }
}

static void
test_pca_bad (void)
{
  float x[6] = { 1, 2, 3, 4, NAN, 6 };
  g_autoptr (GError) error = NULL;
  PsPca *p = ps_pca_fit (x, 3, 2, 1, 0, &error);
  g_assert_null (p);
  g_assert_error (error, PS_ERROR, PS_ERROR_VALUE);
  g_clear_error (&error);
  x[4] = 5;
  p = ps_pca_fit (x, 3, 2, 3, 0, &error);
  g_assert_null (p);
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
}

/* Five blobs in 10-D: centres on scaled axes, unit noise. */
static float *
blobs (guint per, guint k, guint d, gint32 *y, PsRng *rng)
{
  float *x = g_new (float, (gsize) per * k * d);
  for (guint i = 0; i < per * k; i++)
    {
      guint c = i % k;
      y[i] = (gint32) c;
      for (guint j = 0; j < d; j++)
        x[i * d + j] = ps_rng_normal (rng) + (j == c ? 12.0f : 0.0f) - (j == (c + 1) % d ? 6.0f : 0.0f);
    }
  return x;
}

static void
test_kmeans_blobs (void)
{
  const guint per = 120, k = 5, d = 10, n = per * k;
  PsRng rng;
  ps_rng_init (&rng, 2024, 0);
  g_autofree gint32 *y = g_new (gint32, n);
  g_autofree float *x = blobs (per, k, d, y, &rng);
  float centers[50];
  g_autofree gint32 *a = g_new (gint32, n);
  guint it = 0;
  g_autoptr (GError) error = NULL;
  double inertia = ps_kmeans (x, n, d, k, 3, 100, 1e-4, 7, centers, a, &it, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (inertia, >, 0);
  g_assert_cmpuint (it, >=, 1);
  g_assert_cmpfloat (ps_cluster_accuracy (a, y, n, NULL), ==, 1.0);
  /* Unit noise in 10-D: about d per point. */
  g_assert_cmpfloat (inertia / n, <, 1.3 * d);

  /* Random centres (k random points) do much worse. */
  float rc[50];
  for (guint c = 0; c < k; c++)
    memcpy (rc + c * d, x + (gsize) ps_rng_below (&rng, n) * d, d * sizeof (float));
  g_autofree float *dist = g_new (float, n);
  g_autofree gint32 *ra = g_new (gint32, n);
  ps_kmeans_predict (x, n, d, rc, k, ra, dist);
  double rand_inertia = 0;
  for (guint i = 0; i < n; i++)
    rand_inertia += dist[i];
  g_assert_cmpfloat (inertia, <, rand_inertia);

  /* Predict agrees with the returned assignment and inertia. */
  g_autofree gint32 *pa = g_new (gint32, n);
  ps_kmeans_predict (x, n, d, centers, k, pa, dist);
  double s = 0;
  for (guint i = 0; i < n; i++)
    s += dist[i];
  g_assert_cmpmem (pa, n * sizeof (gint32), a, n * sizeof (gint32));
  g_assert_cmpfloat_with_epsilon (s, inertia, 1e-3 * inertia);

  /* Same seed, same answer. */
  float c2[50];
  double again = ps_kmeans (x, n, d, k, 3, 100, 1e-4, 7, c2, NULL, NULL, &error);
  g_assert_cmpfloat (again, ==, inertia);
  g_assert_cmpmem (c2, sizeof c2, centers, sizeof centers);
}

static void
test_kmeans_bad (void)
{
  float x[4] = { 0, 1, 2, 3 };
  float c[8];
  g_autoptr (GError) error = NULL;
  g_assert_cmpfloat (ps_kmeans (x, 2, 2, 3, 1, 10, 1e-4, 0, c, NULL, NULL, &error), <, 0);
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
}


/* Overlapping blobs: k-means needs several iterations and labels move. */
static float *
overlapping (guint n, guint d, guint centres, float spread, PsRng *rng)
{
  g_autofree float *mu = g_new (float, (gsize) centres * d);
  for (guint i = 0; i < centres * d; i++)
    mu[i] = spread * ps_rng_normal (rng);
  float *x = g_new (float, (gsize) n * d);
  for (guint i = 0; i < n; i++)
    {
      guint c = ps_rng_below (rng, centres);
      for (guint j = 0; j < d; j++)
        x[(gsize) i * d + j] = mu[c * d + j] + ps_rng_normal (rng) + 3.0f;
    }
  return x;
}

/* ps_kmeans_from_centres against the naive double-precision Lloyd loop
 * from the same start: same labels, iterations and inertia, with one and
 * two threads, for a run that converges and one cut short by max_iter. */
static void
test_kmeans_from_centres (void)
{
  const guint n = 6000, d = 12, k = 7;
  PsRng rng;
  ps_rng_init (&rng, 77, 0);
  g_autofree float *x = overlapping (n, d, 5, 2.0f, &rng);
  g_autofree float *start = g_new (float, (gsize) k * d);
  for (guint j = 0; j < k; j++)
    memcpy (start + (gsize) j * d, x + (gsize) ps_rng_below (&rng, n) * d, d * sizeof (float));
  int saved = ps_blas_get_threads ();
  guint max_iters[2] = { 300, 4 };
  for (guint m = 0; m < 2; m++)
    {
      g_autofree float *cr = g_memdup2 (start, (gsize) k * d * sizeof (float));
      g_autofree gint32 *ar = g_new (gint32, n);
      guint itr = 0;
      double ref = ps_kmeans_from_centres_ref (x, n, d, k, max_iters[m], 1e-4, cr, ar, &itr);
      if (m == 0)
        g_assert_cmpuint (itr, >, 5);
      else
        g_assert_cmpuint (itr, ==, 4);
      for (int threads = 1; threads <= 2; threads++)
        {
          ps_blas_set_threads (threads);
          g_autofree float *c = g_memdup2 (start, (gsize) k * d * sizeof (float));
          g_autofree gint32 *a = g_new (gint32, n);
          guint it = 0;
          g_autoptr (GError) error = NULL;
          double inertia = ps_kmeans_from_centres (x, n, d, k, max_iters[m], 1e-4, c, a, &it, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (it, ==, itr);
          g_assert_cmpmem (a, n * sizeof (gint32), ar, n * sizeof (gint32));
          g_assert_cmpfloat (fabs (inertia - ref), <=, 1e-5 * ref);
          for (guint q = 0; q < k * d; q++)
            g_assert_cmpfloat (fabsf (c[q] - cr[q]), <=, 1e-4f * (1 + fabsf (cr[q])));
        }
    }
  ps_blas_set_threads (saved);

  /* A start with two identical centres leaves one empty: it is refilled
   * and every cluster ends non-empty. */
  g_autofree float *c = g_memdup2 (start, (gsize) k * d * sizeof (float));
  memcpy (c + d, c, d * sizeof (float));
  g_autofree gint32 *a = g_new (gint32, n);
  g_autoptr (GError) error = NULL;
  g_assert_cmpfloat (ps_kmeans_from_centres (x, n, d, k, 300, 1e-4, c, a, NULL, &error), >, 0);
  g_autofree guint *cnt = g_new0 (guint, k);
  for (guint i = 0; i < n; i++)
    cnt[a[i]]++;
  for (guint j = 0; j < k; j++)
    g_assert_cmpuint (cnt[j], >, 0);

  /* Non-finite centres are refused with an error. */
  c[3] = NAN;
  g_assert_cmpfloat (ps_kmeans_from_centres (x, n, d, k, 300, 1e-4, c, a, NULL, &error), <, 0);
  g_assert_error (error, PS_ERROR, PS_ERROR_VALUE);
}

/* A random mixture of K components in D dimensions with SPD covariances
 * A A^T + 0.3 I, means around `offset`. */
static PsGaussMix *
random_mixture (int K, int D, float offset, PsRng *rng)
{
  PsGaussMix *g = ps_gaussmix_new (K, D, 1e-6);
  double wsum = 0;
  for (int k = 0; k < K; k++)
    {
      g->weights[k] = 0.5 + ps_rng_uniform (rng);
      wsum += g->weights[k];
      for (int a = 0; a < D; a++)
        g->means[k * D + a] = offset + 3.0 * ps_rng_normal (rng);
      g_autofree double *A = g_new (double, D * D);
      for (int q = 0; q < D * D; q++)
        A[q] = 0.6 * ps_rng_normal (rng);
      for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++)
          {
            double s = a == b ? 0.3 : 0;
            for (int t = 0; t < D; t++)
              s += A[a * D + t] * A[b * D + t];
            g->covs[((gsize) k * D + a) * D + b] = s;
          }
    }
  for (int k = 0; k < K; k++)
    g->weights[k] /= wsum;
  return g;
}

/* Samples of g: component by weight, then mu + L e with L the Cholesky
 * factor (computed naively here). */
static float *
sample_mixture (const PsGaussMix *g, guint n, PsRng *rng)
{
  const int K = g->K, D = g->D;
  float *x = g_new (float, (gsize) n * D);
  g_autofree double *L = g_new0 (double, (gsize) K * D * D);
  for (int k = 0; k < K; k++)
    {
      const double *c = g->covs + (gsize) k * D * D;
      double *l = L + (gsize) k * D * D;
      for (int i = 0; i < D; i++)
        for (int j = 0; j <= i; j++)
          {
            double s = c[i * D + j];
            for (int t = 0; t < j; t++)
              s -= l[i * D + t] * l[j * D + t];
            l[i * D + j] = i == j ? sqrt (s) : s / l[j * D + j];
          }
    }
  g_autofree double *e = g_new (double, D);
  for (guint i = 0; i < n; i++)
    {
      double u = ps_rng_uniform (rng), acc = 0;
      int k = 0;
      for (; k < K - 1; k++)
        {
          acc += g->weights[k];
          if (u < acc)
            break;
        }
      for (int a = 0; a < D; a++)
        e[a] = ps_rng_normal (rng);
      for (int a = 0; a < D; a++)
        {
          double s = g->means[k * D + a];
          for (int b = 0; b <= a; b++)
            s += L[((gsize) k * D + a) * D + b] * e[b];
          x[(gsize) i * D + a] = (float) s;
        }
    }
  return x;
}

/* log w_k + log N(x | mu_k, S_k) by Gaussian elimination in double. */
static double
naive_log_density (const PsGaussMix *g, int k, const float *x)
{
  const int D = g->D;
  g_assert (D > 0 && D < 1000);
  g_autofree double *m = g_new (double, D * (D + 1));
  for (int a = 0; a < D; a++)
    {
      for (int b = 0; b < D; b++)
        m[a * (D + 1) + b] = g->covs[((gsize) k * D + a) * D + b];
      m[a * (D + 1) + D] = x[a] - g->means[k * D + a];
    }
  double logdet = 0;
  for (int p = 0; p < D; p++)
    {
      double piv = m[p * (D + 1) + p];
      logdet += log (piv);
      for (int r = p + 1; r < D; r++)
        {
          double f = m[r * (D + 1) + p] / piv;
          for (int c = p; c <= D; c++)
            m[r * (D + 1) + c] -= f * m[p * (D + 1) + c];
        }
    }
  /* Back substitution for S^-1 (x - mu), then the quadratic form. */
  g_autofree double *sol = g_new (double, D);
  for (int r = D - 1; r >= 0; r--)
    {
      double s = m[r * (D + 1) + D];
      for (int c = r + 1; c < D; c++)
        s -= m[r * (D + 1) + c] * sol[c];
      sol[r] = s / m[r * (D + 1) + r];
    }
  double q = 0;
  for (int a = 0; a < D; a++)
    q += (x[a] - g->means[k * D + a]) * sol[a];
  return log (g->weights[k]) - 0.5 * D * log (2 * G_PI) - 0.5 * logdet - 0.5 * q;
}

static void
test_gmm_density (void)
{
  const int K = 4, D = 9;
  const guint n = 3000;
  PsRng rng;
  ps_rng_init (&rng, 5, 0);
  g_autoptr (PsGaussMix) g = random_mixture (K, D, 0.f, &rng);
  g_autofree float *x = sample_mixture (g, n, &rng);
  g_autofree float *logp = g_new (float, (gsize) n * K);
  double ll = ps_gaussmix_log_likelihood (g, x, n, logp);
  double want = 0;
  for (guint i = 0; i < n; i++)
    {
      double mx = -INFINITY, s = 0, lp[4];
      for (int k = 0; k < K; k++)
        {
          lp[k] = naive_log_density (g, k, x + (gsize) i * D);
          g_assert_cmpfloat (fabs (logp[(gsize) i * K + k] - lp[k]), <=, 1e-4 * (1 + fabs (lp[k])));
          mx = MAX (mx, lp[k]);
        }
      for (int k = 0; k < K; k++)
        s += exp (lp[k] - mx);
      want += (mx + log (s)) / n;
    }
  g_assert_cmpfloat (fabs (ll - want), <=, 1e-5 * fabs (want));

  /* A covariance that is not positive definite gives -inf. */
  g->covs[0] = -1;
  g_assert_cmpfloat (ps_gaussmix_log_likelihood (g, x, n, NULL), ==, -INFINITY);
}

/* The M-step against weighted moments in double, on data far from the
 * origin (the second moments are taken about a pivot). */
static void
test_gmm_m_step (void)
{
  const int K = 3, D = 7;
  const guint n = 5000;
  PsRng rng;
  ps_rng_init (&rng, 6, 0);
  g_autoptr (PsGaussMix) truth = random_mixture (K, D, 50.f, &rng);
  g_autofree float *x = sample_mixture (truth, n, &rng);
  g_autofree float *resp = g_new (float, (gsize) n * K);
  for (guint i = 0; i < n; i++)
    {
      float s = 0;
      for (int k = 0; k < K; k++)
        s += resp[i * K + k] = ps_rng_uniform (&rng) + 0.01f;
      for (int k = 0; k < K; k++)
        resp[i * K + k] /= s;
    }
  g_autoptr (PsGaussMix) g = ps_gaussmix_new (K, D, 1e-6);
  ps_gaussmix_m_step (g, x, n, resp);
  for (int k = 0; k < K; k++)
    {
      double nk = 0;
      g_autofree double *mu = g_new0 (double, D);
      for (guint i = 0; i < n; i++)
        {
          nk += resp[i * K + k];
          for (int a = 0; a < D; a++)
            mu[a] += resp[i * K + k] * (double) x[i * D + a];
        }
      g_assert_cmpfloat (fabs (g->weights[k] - nk / n), <=, 1e-6);
      for (int a = 0; a < D; a++)
        {
          mu[a] /= nk;
          g_assert_cmpfloat (fabs (g->means[k * D + a] - mu[a]), <=, 1e-4 * (1 + fabs (mu[a])));
        }
      for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++)
          {
            double s = 0;
            for (guint i = 0; i < n; i++)
              s += resp[i * K + k] * (x[i * D + a] - mu[a]) * (x[i * D + b] - mu[b]);
            s = s / nk + (a == b ? 1e-6 : 0);
            double got = g->covs[((gsize) k * D + a) * D + b];
            g_assert_cmpfloat (fabs (got - s), <=, 2e-3 * (1 + fabs (s)));
          }
    }
}

/* EM never lowers the log-likelihood, and gets near the generating
 * mixture's from a poor start. */
static void
test_gmm_em_monotone (void)
{
  const int K = 3, D = 4;
  const guint n = 4000;
  PsRng rng;
  ps_rng_init (&rng, 8, 0);
  g_autoptr (PsGaussMix) truth = random_mixture (K, D, 0.f, &rng);
  g_autofree float *x = sample_mixture (truth, n, &rng);
  double ll_truth = ps_gaussmix_log_likelihood (truth, x, n, NULL);
  g_autoptr (PsGaussMix) g = ps_gaussmix_new (K, D, 1e-6);
  for (int k = 0; k < K; k++)
    for (int a = 0; a < D; a++)
      g->means[k * D + a] = x[(gsize) (k * 7) * D + a];
  double prev = -INFINITY, first = 0, ll = 0;
  for (int it = 0; it < 60; it++)
    {
      ll = ps_gaussmix_em_step (g, x, n, NULL, NULL);
      if (it == 0)
        first = ll;
      g_assert_cmpfloat (ll, >=, prev - 1e-5 * fabs (prev));
      prev = ll;
    }
  g_assert_cmpfloat (ll, >, first + 0.5);
  g_assert_cmpfloat (ll, >, ll_truth - 0.05);
}


/* The far-OOD set: bilinear scaling by hand, and the appended test class. */
static void
test_far_digits (void)
{
  /* 2x2 -> 4x4 with centres aligned: corners keep their values, the
   * inner cells interpolate by quarters. */
  const float img[4] = { 0, 1, 2, 3 };
  float out[16];
  ps_image_resize_bilinear (out, img, 2, 2, 4, 4);
  static const float want[16] = { 0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f,
                                  1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3 };
  for (int i = 0; i < 16; i++)
    g_assert_cmpfloat_with_epsilon (out[i], want[i], 1e-6);

  /* A small stand-in for Fashion-MNIST: 20 rows of 28x28 with a split. */
  g_autoptr (PsDataset) base = ps_dataset_new ("tiny", 20, 784);
  base->img_c = 1;
  base->img_h = base->img_w = 28;
  base->has_split = TRUE;
  base->n_classes = 3;
  for (guint i = 0; i < 20; i++)
    {
      base->y[i] = (gint32) (i % 3);
      base->split[i] = i < 14 ? PS_SPLIT_TRAIN : PS_SPLIT_TEST;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) far = ps_dataset_with_far_set (base, "digits", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (far->n, ==, 20 + 1797);
  g_assert_cmpuint (far->n_classes, ==, 4);
  g_assert_cmpuint (far->d, ==, 784);
  g_assert_true (far->has_split);
  g_assert_cmpstr (far->class_names[3], ==, "digit (8x8, scaled up)");
  g_assert_cmpstr (far->class_names[1], ==, "1");
  double ink = 0;
  for (guint i = 20; i < far->n; i++)
    {
      g_assert_cmpint (far->y[i], ==, 3);
      g_assert_cmpuint (far->split[i], ==, PS_SPLIT_TEST);
      for (guint j = 0; j < 784; j++)
        {
          float v = far->x[(gsize) i * 784 + j];
          g_assert_true (v >= 0.f && v <= 1.f);
          ink += v;
        }
    }
  /* Digits cover roughly a third of their frame with ink. */
  ink /= 1797.0 * 784;
  g_assert_cmpfloat (ink, >, 0.1);
  g_assert_cmpfloat (ink, <, 0.6);
  for (guint i = 0; i < 20; i++)
    g_assert_cmpint (far->y[i], ==, base->y[i]);

  /* Not images, or no split: a clear error. */
  g_autoptr (PsDataset) moons = ps_dataset_open_spec ("moons:n=50,far=digits", NULL, NULL, TRUE, &error);
  g_assert_null (moons);
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_assert_nonnull (strstr (error->message, "far=digits"));
  g_clear_error (&error);
  g_assert_null (ps_dataset_with_far_set (base, "cifar", &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/eval/accuracy", test_accuracy_confusion);
  g_test_add_func ("/eval/auroc/hand", test_auroc_hand);
  g_test_add_func ("/eval/auroc/bruteforce", test_auroc_bruteforce);
  g_test_add_func ("/eval/fpr95/hand", test_fpr95_hand);
  g_test_add_func ("/eval/aupr/hand", test_aupr_hand);
  g_test_add_func ("/eval/hungarian/hand", test_hungarian_hand);
  g_test_add_func ("/eval/hungarian/bruteforce", test_hungarian_bruteforce);
  g_test_add_func ("/eval/cluster-accuracy", test_cluster_accuracy);
  g_test_add_func ("/eval/eig-sym", test_eig_sym);
  g_test_add_func ("/eval/pca/small", test_pca_small);
  g_test_add_func ("/eval/pca/subspace", test_pca_subspace);
  g_test_add_func ("/eval/pca/implicit", test_pca_implicit);
  g_test_add_func ("/eval/pca/oracle", test_pca_oracle);
  g_test_add_func ("/eval/pca/bad", test_pca_bad);
  g_test_add_func ("/eval/kmeans/blobs", test_kmeans_blobs);
  g_test_add_func ("/eval/kmeans/bad", test_kmeans_bad);
  g_test_add_func ("/eval/kmeans/from-centres", test_kmeans_from_centres);
  g_test_add_func ("/eval/gmm/density", test_gmm_density);
  g_test_add_func ("/eval/gmm/m-step", test_gmm_m_step);
  g_test_add_func ("/eval/gmm/em-monotone", test_gmm_em_monotone);
  g_test_add_func ("/eval/far-digits", test_far_digits);
  return g_test_run ();
}
