/* test-proto2.c: the second set of prototype methods: StableCBC's
 * certified radius under attack, TEEN's calibration, transductive soft
 * k-means, federated prototype merging, GPC's estimate of K from below
 * and above, each method learning, snapshots and exact resume. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-method.h"
#include "ps-proto-head.h"
#include "ps-proto-novel.h"
#include "ps-cbc.h"
#include "method-test-util.h"

/* ---- Helpers --------------------------------------------------------------- */

/* ---- CBC ---------------------------------------------------------------------- */

/* Trains CBC on moons and attacks every test point inside its certified
 * radius: 32 random directions at 0.999 r, and 10 steps of projected
 * gradient ascent on the runner-up's margin inside the ball.  No attack may
 * change the prediction.  The same attacks at 3 r must flip some points,
 * which shows the attacks have teeth and the radii are not trivially
 * small. */
static void
test_cbc_radius (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("moons", 600, 0.15, 3, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.3, 0);
  const PsMethod *m = ps_method_find ("cbc");
  const char *sets[] = { "epochs=40", NULL };
  gpointer model = create ("cbc", ds, 1, sets);
  train (m, model, m->total_steps (model));
  g_assert_cmpfloat (metric (m, model, "test_acc"), >, 0.85);
  /* The model's fields are reached through the public struct, which is
   * the first member of the method's state. */
  const PsCbc *cb = model;
  const int C = cb->C, D = cb->D;
  PsRng rng;
  ps_rng_init (&rng, 9, 1);
  int n_attacked = 0, n_flipped_outside = 0;
  for (guint i = 0; i < ds->n; i++)
    {
      if (ds->split[i] != PS_SPLIT_TEST)
        continue;
      const float *x = ds->x + (gsize) i * D;
      float rad;
      int pred;
      ps_cbc_certified_radius (cb, &rad, &pred, x, 1);
      if (rad <= 0)
        continue;
      for (int scale = 0; scale < 2; scale++)
        {
          float eps = scale == 0 ? 0.999f * rad : 3.f * rad;
          gboolean flipped = FALSE;
          float xa[2], probs[8];
          for (int t = 0; t < 32; t++)
            {
              float dx = ps_rng_normal (&rng), dy = ps_rng_normal (&rng);
              float nrm = sqrtf (dx * dx + dy * dy);
              xa[0] = x[0] + eps * dx / nrm;
              xa[1] = x[1] + eps * dy / nrm;
              ps_cbc_forward (cb, probs, NULL, xa, 1);
              int b = 0;
              for (int c = 1; c < C; c++)
                if (probs[c] > probs[b])
                  b = c;
              flipped |= b != pred;
            }
          /* Projected gradient ascent on p(other) - p(pred). */
          int other = 1 - pred;
          xa[0] = x[0];
          xa[1] = x[1];
          for (int it = 0; it < 10; it++)
            {
              float g[2];
              ps_cbc_margin_grad (cb, g, xa, other, pred);
              float gn = sqrtf (g[0] * g[0] + g[1] * g[1]) + 1e-12f;
              xa[0] += 0.3f * eps * g[0] / gn;
              xa[1] += 0.3f * eps * g[1] / gn;
              float dx = xa[0] - x[0], dy = xa[1] - x[1], dn = sqrtf (dx * dx + dy * dy);
              if (dn > eps)
                {
                  xa[0] = x[0] + dx * eps / dn;
                  xa[1] = x[1] + dy * eps / dn;
                }
              ps_cbc_forward (cb, probs, NULL, xa, 1);
              flipped |= (probs[other] > probs[pred]);
            }
          if (scale == 0)
            {
              g_assert_false (flipped);
              n_attacked++;
            }
          else
            n_flipped_outside += flipped;
        }
    }
  g_test_message ("cbc: %d points attacked inside their radius; %d flipped at 3x the radius",
                  n_attacked, n_flipped_outside);
  g_assert_cmpint (n_attacked, >, 100);
  g_assert_cmpint (n_flipped_outside, >, 0);
  /* Certified accuracy falls with the radius and starts at the accuracy. */
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  double a0, a1, a2, acc;
  g_assert_true (ps_metrics_get (mt, "acc_r0.0", &a0));
  g_assert_true (ps_metrics_get (mt, "acc_r0.1", &a1));
  g_assert_true (ps_metrics_get (mt, "acc_r0.25", &a2));
  g_assert_true (ps_metrics_get (mt, "test_acc", &acc));
  g_assert_cmpfloat (a0, <=, acc);
  g_assert_cmpfloat (a1, <=, a0);
  g_assert_cmpfloat (a2, <=, a1);
  g_assert_cmpfloat (a1, >, 0.3);
  /* Snapshot: radius as scores named certified_radius. */
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  PsArray *sn = find_kind (snap, "score_name");
  g_assert_nonnull (sn);
  gsize nb;
  const char *name = ps_array_data (sn, &nb);
  g_assert_cmpmem (name, nb, "certified_radius", 16);
  g_assert_nonnull (find_kind (snap, "scores"));
  g_assert_nonnull (find_kind (snap, "prototypes"));
  g_assert_nonnull (find_kind (snap, "decision_field"));
  g_assert_nonnull (find_kind (snap, "reasoning_positive"));
  m->free (model);
}

static void
test_cbc_learns (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("cbc");
  const char *sets[] = { "epochs=15", NULL };
  gpointer model = create ("cbc", ds, 0, sets);
  double before = metric (m, model, "test_acc");
  train (m, model, m->total_steps (model));
  double after = metric (m, model, "test_acc");
  g_test_message ("cbc on digits: test_acc %.3f untrained (components at samples), %.3f trained",
                  before, after);
  g_assert_cmpfloat (after, >, 0.88);
  g_assert_cmpfloat (after, >, before + 0.03);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsExplanation) ex = m->explain (model, 5, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ex->evidence->len, ==, 20);
  m->free (model);
}

/* ---- TEEN ---------------------------------------------------------------------- */

static void
test_teen_calibrate_hand (void)
{
  /* Two unit base prototypes e1, e2; a novel prototype e3.  With a cold
   * temperature toward e1 (cos 0.6 vs 0), delta is about e1. */
  float base[2 * 3] = { 1, 0, 0, 0, 1, 0 };
  float novel[3] = { 0.6f, 0, 0.8f };
  float out[3];
  ps_teen_calibrate (out, novel, 1, base, 2, 3, 0.f, 16.f);
  g_assert_cmpmem (out, sizeof out, novel, sizeof novel);
  ps_teen_calibrate (out, novel, 1, base, 2, 3, 0.5f, 100.f);
  g_assert_cmpfloat_with_epsilon (out[0], 0.5f * 0.6f + 0.5f, 1e-5);
  g_assert_cmpfloat_with_epsilon (out[1], 0.f, 1e-5);
  g_assert_cmpfloat_with_epsilon (out[2], 0.4f, 1e-5);
  /* A warm temperature spreads the weight: w = softmax (tau (0.6, 0)). */
  ps_teen_calibrate (out, novel, 1, base, 2, 3, 1.f, 1.f);
  double w1 = exp (0.6) / (exp (0.6) + 1), w2 = 1 - w1, n = sqrt (w1 * w1 + w2 * w2);
  g_assert_cmpfloat_with_epsilon (out[0], w1 / n, 1e-5);
  g_assert_cmpfloat_with_epsilon (out[1], w2 / n, 1e-5);
}

/* 1-shot TEEN on digits (base 0-5, novel 6-9), three seeds: calibration
 * raises new-class accuracy over the plain few-shot means. */
static void
test_teen_improves (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("teen");
  const char *sets[] = { "epochs=20", "n_shot=1", "shift_weight=0.5", "softmax_t=4", NULL };
  double cal = 0, raw = 0, untrained = 0;
  for (int s = 0; s < 3; s++)
    {
      gpointer model = create ("teen", ds, s, sets);
      if (s == 0)
        untrained = metric (m, model, "test_acc");
      train (m, model, m->total_steps (model));
      g_autoptr (PsMetrics) mt = m->evaluate (model);
      double a, b;
      g_assert_true (ps_metrics_get (mt, "novel_acc", &a));
      g_assert_true (ps_metrics_get (mt, "novel_acc_uncal", &b));
      cal += a / 3;
      raw += b / 3;
      if (s == 0)
        {
          double acc;
          g_assert_true (ps_metrics_get (mt, "base_acc", &acc));
          g_assert_cmpfloat (acc, >, 0.9);
          g_autoptr (GPtrArray) snap = m->snapshot (model);
          g_assert_nonnull (find_kind (snap, "prototypes_uncalibrated"));
          PsArray *pl = find_kind (snap, "prototype_labels");
          g_assert_cmpuint (pl->shape[0], ==, 10);
        }
      m->free (model);
    }
  g_test_message ("teen 1-shot: novel accuracy %.3f calibrated vs %.3f uncalibrated", cal, raw);
  g_assert_cmpfloat (cal, >, raw + 0.03);
  g_assert_cmpfloat (cal, >, 0.3);
  (void) untrained;
}

/* ---- Transductive few-shot ------------------------------------------------------ */

static void
test_soft_kmeans_hand (void)
{
  /* Two clusters at (0,0) and (4,0); one support each sits on the far
   * side of its cluster.  Soft k-means pulls the prototypes to the
   * cluster centres, which a nearest-support rule gets wrong for the
   * queries in between. */
  float sup[2 * 2] = { -1.5f, 0, 5.5f, 0 };
  int sy[2] = { 0, 1 };
  float q[8 * 2] = { -0.5f, 0, 0, 0.5f, 0.5f, 0, 1.9f, 0,
                     3.5f, 0, 4, -0.5f, 4.5f, 0, 2.1f, 0 };
  float protos[4], w[16];
  ps_soft_kmeans (protos, w, sup, sy, 2, q, 8, 2, 2, 0.5f, 20);
  /* Mean of the support and its four queries. */
  g_assert_cmpfloat (fabs (protos[0] - (-1.5f + 1.9f) / 5), <, 0.2);
  g_assert_cmpfloat (fabs (protos[2] - (5.5f + 14.1f) / 5), <, 0.2);
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat (w[i * 2 + (i < 4 ? 0 : 1)], >, 0.5);
  /* Zero rounds leave the support means. */
  ps_soft_kmeans (protos, w, sup, sy, 2, q, 8, 2, 2, 0.5f, 0);
  g_assert_cmpfloat (protos[0], ==, -1.5f);
  g_assert_cmpfloat (protos[2], ==, 5.5f);
}

static void
test_fewshot_learns (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("fewshot");
  const char *sets[] = { "epochs=20", "episodes=200", NULL };
  double ind = 0, tra = 0, before = 0, base0 = 0, base1 = 0;
  for (int s = 0; s < 3; s++)
    {
      gpointer model = create ("fewshot", ds, s, sets);
      before += metric (m, model, "acc_inductive") / 3;
      base0 += metric (m, model, "base_acc") / 3;
      train (m, model, m->total_steps (model));
      g_autoptr (PsMetrics) mt = m->evaluate (model);
      double a, b;
      g_assert_true (ps_metrics_get (mt, "acc_inductive", &a));
      g_assert_true (ps_metrics_get (mt, "acc_transductive", &b));
      ind += a / 3;
      tra += b / 3;
      base1 += metric (m, model, "base_acc") / 3;
      m->free (model);
    }
  g_test_message ("fewshot 4-way 1-shot on digits 6-9: inductive %.3f, transductive %.3f "
                  "(untrained inductive %.3f, mean of 3 seeds)", ind, tra, before);
  g_assert_cmpfloat (tra, >, ind);
  /* A random MLP over digit pixels is already as good a 1-shot embedding
   * for the novel digits as the trained one (the training does not
   * transfer here), so learning is judged on the base classes. */
  g_test_message ("fewshot: base-class accuracy %.3f untrained, %.3f trained", base0, base1);
  g_assert_cmpfloat (base1, >, 0.93);
  g_assert_cmpfloat (base1, >, base0 + 0.03);
}

/* ---- FedRecon ---------------------------------------------------------------------- */

static void
test_fed_merge_hand (void)
{
  /* Client 0 saw class 0 three times with mean 1, client 1 once with mean
   * 5: merged (3 + 5) / 4 = 2.  Class 1 only client 1; class 2 nobody. */
  float client[2 * 3 * 1] = { 1, 0, 0, 5, 7, 0 };
  double n[2 * 3] = { 3, 0, 0, 1, 2, 0 };
  float merged[3];
  double count[3];
  ps_fed_merge (merged, count, client, n, 2, 3, 1);
  g_assert_cmpfloat (merged[0], ==, 2.f);
  g_assert_cmpfloat (merged[1], ==, 7.f);
  g_assert_cmpfloat (merged[2], ==, 0.f);
  g_assert_cmpfloat (count[0], ==, 4);
  g_assert_cmpfloat (count[2], ==, 0);
}

static void
test_fedrecon_learns (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("fedrecon");
  const char *sets[] = { "epochs=20", NULL };
  gpointer model = create ("fedrecon", ds, 0, sets);
  double before = metric (m, model, "test_acc");
  train (m, model, m->total_steps (model));
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  double acc, novel, alone, err, seen;
  g_assert_true (ps_metrics_get (mt, "test_acc", &acc));
  g_assert_true (ps_metrics_get (mt, "novel_acc", &novel));
  g_assert_true (ps_metrics_get (mt, "client_alone_acc", &alone));
  g_assert_true (ps_metrics_get (mt, "merge_error", &err));
  g_assert_true (ps_metrics_get (mt, "classes_seen", &seen));
  g_test_message ("fedrecon: test_acc %.3f (untrained %.3f), novel %.3f, one client alone %.3f, "
                  "merge error %.2g", acc, before, novel, alone, err);
  g_assert_cmpfloat (acc, >, before + 0.05);
  g_assert_cmpfloat (err, <, 1e-4);
  g_assert_cmpfloat (seen, ==, 10);
  g_assert_cmpfloat (acc, >, 0.8);
  g_assert_cmpfloat (alone, <, acc - 0.05);
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  g_assert_nonnull (find_kind (snap, "prototype_counts"));
  m->free (model);
}

/* ---- GPC ---------------------------------------------------------------------------- */

/* On the 8-Gaussian ring with no labels, the estimated K moves toward 8
 * from 2 and from 16, and the per-step history records the walk. */
static void
test_gpc_k_moves (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("ring", 1600, -1, 5, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const PsMethod *m = ps_method_find ("gpc");
  const int starts[2] = { 2, 16 };
  for (int t = 0; t < 2; t++)
    {
      g_autofree char *k = g_strdup_printf ("k_init=%d", starts[t]);
      const char *sets[] = { "new_classes=all", k, "iterations=45", NULL };
      gpointer model = create ("gpc", ds, 1, sets);
      train (m, model, m->total_steps (model));
      g_autoptr (PsMetrics) mt = m->evaluate (model);
      double kest, acc;
      g_assert_true (ps_metrics_get (mt, "k_est", &kest));
      g_assert_true (ps_metrics_get (mt, "acc_all", &acc));
      g_test_message ("gpc on ring (K = 8) from K = %d: K = %.0f, accuracy %.3f", starts[t], kest,
                      acc);
      g_assert_cmpfloat (fabs (kest - 8), <, abs (starts[t] - 8));
      g_assert_cmpfloat (fabs (kest - 8), <=, 1);
      g_assert_cmpfloat (acc, >, 0.85);
      g_autoptr (GPtrArray) snap = m->snapshot (model);
      PsArray *ev = find_kind (snap, "events");
      PsArray *kh = find_kind (snap, "k_history");
      g_assert_nonnull (ev);
      g_assert_nonnull (kh);
      g_assert_cmpuint (ev->shape[0], >, 0);
      g_assert_cmpuint (kh->shape[0], ==, 45);
      PsArray *cm = find_kind (snap, "cluster_means"), *cc = find_kind (snap, "cluster_cov");
      g_assert_cmpuint (cm->shape[0], ==, (gsize) kest);
      g_assert_cmpuint (cc->ndim, ==, 3);
      m->free (model);
    }
}

/* GCD on digits (old 0-4 half labelled, new 5-9): a trained mixture beats
 * the one it starts from, and old classes come out near perfect. */
static void
test_gpc_learns (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("gpc");
  const char *sets[] = { "k_init=20", "iterations=30", NULL };
  gpointer model = create ("gpc", ds, 0, sets);
  double before = metric (m, model, "acc_all");
  train (m, model, m->total_steps (model));
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  double all, old_acc, new_acc, k;
  g_assert_true (ps_metrics_get (mt, "acc_all", &all));
  g_assert_true (ps_metrics_get (mt, "acc_old", &old_acc));
  g_assert_true (ps_metrics_get (mt, "acc_new", &new_acc));
  g_assert_true (ps_metrics_get (mt, "k_est", &k));
  g_test_message ("gpc on digits from K = 20: all %.3f (start %.3f), old %.3f, new %.3f, K = %.0f",
                  all, before, old_acc, new_acc, k);
  g_assert_cmpfloat (all, >, before + 0.1);
  g_assert_cmpfloat (old_acc, >, 0.9);
  g_assert_cmpfloat (new_acc, >, 0.6);
  g_assert_cmpfloat (k, <, 20);
  m->free (model);
}

/* The cluster view's arrays: on four blobs (classes 2, 3 new), K's history
 * ends at the final number of components, the events agree with it, every
 * row has a cluster among them with responsibilities summing to 1, the
 * old classes are 0 and 1, and the components that carry a known class
 * carry exactly the old ones. */
static void
test_gpc_snapshot_arrays (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("blobs", 600, -1, 3, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const PsMethod *m = ps_method_find ("gpc");
  const char *sets[] = { "k_init=6", "iterations=12", NULL };
  gpointer model = create ("gpc", ds, 2, sets);
  train (m, model, m->total_steps (model));
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  double kest;
  g_assert_true (ps_metrics_get (mt, "k_est", &kest));
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  PsArray *kh = find_kind (snap, "k_history"), *ev = find_kind (snap, "events");
  PsArray *cl = find_kind (snap, "clusters"), *as = find_kind (snap, "assignments");
  PsArray *old = find_kind (snap, "old_classes"), *known = find_kind (snap, "cluster_known");
  PsArray *lab = find_kind (snap, "labels");
  g_assert_nonnull (kh);
  g_assert_nonnull (ev);
  g_assert_nonnull (cl);
  g_assert_nonnull (as);
  g_assert_nonnull (old);
  g_assert_nonnull (known);
  g_assert_nonnull (lab);
  const int K = (int) kest;
  const gint32 *k = ps_array_data (kh, NULL);
  g_assert_cmpuint (kh->shape[0], ==, 12);
  g_assert_cmpint (k[kh->shape[0] - 1], ==, K);
  g_assert_cmpuint (known->shape[0], ==, K);
  g_assert_cmpuint (as->shape[1], ==, K);
  g_assert_cmpuint (find_kind (snap, "cluster_means")->shape[0], ==, K);
  /* Each event's K after it is the K at the end of its step. */
  const gint32 *e = ps_array_data (ev, NULL);
  g_assert_cmpuint (ev->shape[1], ==, 5);
  for (gsize i = 0; i < ev->shape[0]; i++)
    {
      g_assert_cmpint (e[i * 5], >=, 0);
      g_assert_cmpint (e[i * 5], <, 12);
      g_assert_true (e[i * 5 + 1] == 0 || e[i * 5 + 1] == 1);
      if (i + 1 == ev->shape[0] || e[(i + 1) * 5] != e[i * 5])
        g_assert_cmpint (e[i * 5 + 4], ==, k[e[i * 5]]);
    }
  const gint32 *c = ps_array_data (cl, NULL);
  const float *w = ps_array_data (as, NULL);
  gsize n = cl->shape[0];
  g_assert_cmpuint (n, ==, ds->n);
  for (gsize i = 0; i < n; i++)
    {
      g_assert_cmpint (c[i], >=, 0);
      g_assert_cmpint (c[i], <, K);
      double sum = 0;
      for (int j = 0; j < K; j++)
        {
          sum += w[i * K + j];
          g_assert_cmpfloat (w[i * K + j], <=, w[i * K + c[i]]);
        }
      g_assert_cmpfloat (fabs (sum - 1), <, 1e-3);
    }
  const guint8 *o = ps_array_data (old, NULL);
  g_assert_cmpuint (old->shape[0], ==, 4);
  g_assert_true (o[0] && o[1] && !o[2] && !o[3]);
  const gint32 *kn = ps_array_data (known, NULL);
  guint8 seen[4] = { 0 };
  for (int j = 0; j < K; j++)
    if (kn[j] >= 0)
      {
        g_assert_cmpint (kn[j], <, 4);
        g_assert_true (o[kn[j]]);
        g_assert_false (seen[kn[j]]);
        seen[kn[j]] = 1;
      }
  g_assert_true (seen[0] && seen[1]);
  /* 2-D data: the embedding is the data plane itself, and each component
   * carrying a known class sits nearest to that class's mean there. */
  PsArray *pts = find_kind (snap, "points"), *emb = find_kind (snap, "embedding");
  PsArray *pro = find_kind (snap, "prototypes"), *cm = find_kind (snap, "cluster_means");
  g_assert_cmpmem (ps_array_data (emb, NULL), n * 2 * sizeof (float),
                   ps_array_data (pts, NULL), n * 2 * sizeof (float));
  const float *xy = ps_array_data (pts, NULL), *pk = ps_array_data (pro, NULL);
  const gint32 *y = ps_array_data (lab, NULL);
  double cmean[4][2] = { { 0 } }, cnt[4] = { 0 };
  for (gsize i = 0; i < n; i++)
    if (y[i] >= 0 && y[i] < 4)
      {
        cmean[y[i]][0] += xy[2 * i];
        cmean[y[i]][1] += xy[2 * i + 1];
        cnt[y[i]]++;
      }
  g_assert_cmpmem (ps_array_data (cm, NULL), K * 2 * sizeof (float), pk, K * 2 * sizeof (float));
  for (int j = 0; j < K; j++)
    if (kn[j] >= 0)
      {
        int best = -1;
        double bd = INFINITY;
        for (int c = 0; c < 4; c++)
          {
            double dx = pk[2 * j] - cmean[c][0] / cnt[c], dy = pk[2 * j + 1] - cmean[c][1] / cnt[c];
            if (dx * dx + dy * dy < bd)
              {
                bd = dx * dx + dy * dy;
                best = c;
              }
          }
        g_assert_cmpint (best, ==, kn[j]);
      }
  m->free (model);
}

/* ProtoGCD's snapshot names each row's nearest prototype (the argmax of
 * its assignment) and the old classes. */
static void
test_gcd_snapshot_arrays (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("blobs", 400, -1, 3, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const PsMethod *m = ps_method_find ("gcd");
  const char *sets[] = { "epochs=2", "embed_dim=8", NULL };
  gpointer model = create ("gcd", ds, 0, sets);
  train (m, model, m->total_steps (model));
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  PsArray *cl = find_kind (snap, "clusters"), *as = find_kind (snap, "assignments");
  PsArray *old = find_kind (snap, "old_classes");
  g_assert_nonnull (cl);
  g_assert_nonnull (as);
  g_assert_nonnull (old);
  const int K = (int) as->shape[1];
  g_assert_cmpint (K, ==, 4);
  g_assert_cmpuint (cl->shape[0], ==, as->shape[0]);
  const gint32 *c = ps_array_data (cl, NULL);
  const float *w = ps_array_data (as, NULL);
  for (gsize i = 0; i < cl->shape[0]; i++)
    {
      g_assert_cmpint (c[i], >=, 0);
      g_assert_cmpint (c[i], <, K);
      for (int j = 0; j < K; j++)
        g_assert_cmpfloat (w[i * K + j], <=, w[i * K + c[i]]);
    }
  const guint8 *o = ps_array_data (old, NULL);
  g_assert_cmpuint (old->shape[0], ==, 4);
  g_assert_true (o[0] && o[1] && !o[2] && !o[3]);
  m->free (model);
}

/* certified_radius: never negative, 0 where the prediction is wrong, the
 * prediction's radius where it is right; on the test rows it gives the
 * certified accuracies evaluate reports. */
static void
test_cbc_certified_radius_array (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("moons", 500, -1, 4, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const PsMethod *m = ps_method_find ("cbc");
  const char *sets[] = { "epochs=4", "radii=0,0.05,0.1,0.2", NULL };
  gpointer model = create ("cbc", ds, 0, sets);
  train (m, model, m->total_steps (model));
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  PsArray *cr = find_kind (snap, "certified_radius"), *sc = find_kind (snap, "scores");
  PsArray *lab = find_kind (snap, "labels"), *pr = find_kind (snap, "predictions");
  PsArray *sp = find_kind (snap, "split");
  g_assert_nonnull (cr);
  gsize n = ps_array_n_elements (cr);
  g_assert_cmpuint (n, ==, ps_array_n_elements (sc));
  const float *r = ps_array_data (cr, NULL), *s = ps_array_data (sc, NULL);
  const gint32 *y = ps_array_data (lab, NULL), *p = ps_array_data (pr, NULL);
  const guint8 *split = ps_array_data (sp, NULL);
  const double radii[4] = { 0, 0.05, 0.1, 0.2 };
  const char *names[4] = { "acc_r0.0", "acc_r0.05", "acc_r0.1", "acc_r0.2" };
  guint wrong = 0, positive = 0, n_test = 0, count[4] = { 0 };
  for (gsize i = 0; i < n; i++)
    {
      g_assert_cmpfloat (r[i], >=, 0);
      if (y[i] != p[i])
        {
          g_assert_cmpfloat (r[i], ==, 0);
          wrong++;
        }
      else
        g_assert_cmpfloat (r[i], ==, s[i]);
      positive += r[i] > 0;
      if (split[i] == PS_SPLIT_TEST)
        {
          n_test++;
          for (int j = 0; j < 4; j++)
            count[j] += y[i] == p[i] && r[i] >= radii[j];
        }
    }
  g_test_message ("cbc on moons: %u of %zu rows wrong, %u with a positive radius", wrong, n, positive);
  g_assert_cmpuint (positive, >, n / 2);
  for (int j = 0; j < 4; j++)
    {
      double v;
      g_assert_true (ps_metrics_get (mt, names[j], &v));
      g_assert_cmpfloat (fabs (v - (double) count[j] / n_test), <, 1e-9);
    }
  m->free (model);
}

/* ---- ProtoGCD ----------------------------------------------------------------------------- */

/* Digits, old 0-4 half labelled: the full model learns new classes; without
 * the entropy term the new classes collapse onto old prototypes (the bias
 * ProtoGCD removes). */
static void
test_gcd_learns (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("gcd");
  const char *full[] = { "epochs=20", NULL };
  const char *noent[] = { "epochs=20", "entropy_weight=0", NULL };
  gpointer a = create ("gcd", ds, 0, full);
  double before = metric (m, a, "acc_all");
  train (m, a, m->total_steps (a));
  g_autoptr (PsMetrics) ma = m->evaluate (a);
  gpointer b = create ("gcd", ds, 0, noent);
  train (m, b, m->total_steps (b));
  g_autoptr (PsMetrics) mb = m->evaluate (b);
  double all, old_acc, new_acc, new_b;
  g_assert_true (ps_metrics_get (ma, "acc_all", &all));
  g_assert_true (ps_metrics_get (ma, "acc_old", &old_acc));
  g_assert_true (ps_metrics_get (ma, "acc_new", &new_acc));
  g_assert_true (ps_metrics_get (mb, "acc_new", &new_b));
  g_test_message ("gcd on digits: all %.3f (untrained %.3f), old %.3f, new %.3f; new without the "
                  "entropy term %.3f", all, before, old_acc, new_acc, new_b);
  g_assert_cmpfloat (all, >, before + 0.2);
  g_assert_cmpfloat (old_acc, >, 0.9);
  g_assert_cmpfloat (new_acc, >, 0.45);
  g_assert_cmpfloat (new_b, <, new_acc - 0.2);
  g_autoptr (GPtrArray) snap = m->snapshot (a);
  PsArray *pr = find_kind (snap, "prototypes");
  g_assert_cmpuint (pr->shape[0], ==, 10);
  m->free (a);
  m->free (b);
}

/* ---- The CE baseline's OOD scores ------------------------------------------------------ */

static void
test_mlp_ood (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const PsMethod *m = ps_method_find ("mlp");
  const char *sets[] = { "ood_classes=7,8,9", "epochs=30", NULL };
  gpointer model = create ("mlp", ds, 0, sets);
  double before = metric (m, model, "auroc_energy");
  train (m, model, m->total_steps (model));
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  double acc, msp, energy, maha;
  g_assert_true (ps_metrics_get (mt, "test_acc", &acc));
  g_assert_true (ps_metrics_get (mt, "auroc_msp", &msp));
  g_assert_true (ps_metrics_get (mt, "auroc_energy", &energy));
  g_assert_true (ps_metrics_get (mt, "auroc_mahalanobis", &maha));
  g_test_message ("mlp, digits 7-9 held out: ID acc %.3f, AUROC msp %.3f energy %.3f (untrained "
                  "%.3f) mahalanobis %.3f", acc, msp, energy, before, maha);
  g_assert_cmpfloat (acc, >, 0.95);
  g_assert_cmpfloat (energy, >, 0.85);
  g_assert_cmpfloat (energy, >, before + 0.1);
  g_assert_cmpfloat (msp, >, 0.85);
  g_assert_cmpfloat (maha, >, 0.8);
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  g_assert_nonnull (find_kind (snap, "scores"));
  g_assert_nonnull (find_kind (snap, "ood"));
  m->free (model);
}

/* ---- Exact resume --------------------------------------------------------------------- */

static void
resume_exact (const char *id, PsDataset *ds, const char * const *sets)
{
  const PsMethod *m = ps_method_find (id);
  gpointer straight = create (id, ds, 3, sets);
  guint64 total = m->total_steps (straight);
  train (m, straight, total);
  gpointer first = create (id, ds, 3, sets);
  guint64 half = total / 2 + 3;
  train (m, first, half);
  g_autoptr (GBytes) ck = m->save (first);
  m->free (first);
  gpointer resumed = create (id, ds, 3, sets);
  g_autoptr (GError) error = NULL;
  g_assert_true (m->load (resumed, ck, &error));
  g_assert_no_error (error);
  train (m, resumed, total - half);
  g_autoptr (GBytes) s1 = m->save (straight), s2 = m->save (resumed);
  g_assert_true (g_bytes_equal (s1, s2));
  g_autoptr (PsMetrics) m1 = m->evaluate (straight), m2 = m->evaluate (resumed);
  g_autofree char *j1 = ps_metrics_to_json (m1), *j2 = ps_metrics_to_json (m2);
  g_assert_cmpstr (j1, ==, j2);
  gpointer other = create (id, ds, 4, sets);
  train (m, other, total);
  g_autoptr (GBytes) s3 = m->save (other);
  g_assert_false (g_bytes_equal (s1, s3));
  g_autoptr (GBytes) cut = g_bytes_new_from_bytes (ck, 0, g_bytes_get_size (ck) - 7);
  g_assert_false (m->load (resumed, cut, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_FORMAT);
  m->free (straight);
  m->free (resumed);
  m->free (other);
}

static void
test_resume (void)
{
  g_autoptr (PsDataset) ds = load_digits ();
  const char *net[] = { "epochs=2", NULL };
  const char *fs[] = { "epochs=2", "episodes=20", NULL };
  resume_exact ("teen", ds, net);
  resume_exact ("fewshot", ds, fs);
  resume_exact ("fedrecon", ds, net);
  const char *cbc[] = { "epochs=3", "batch_size=50", NULL };
  resume_exact ("cbc", ds, cbc);
  const char *gpc[] = { "k_init=12", "iterations=12", NULL };
  resume_exact ("gpc", ds, gpc);
  const char *gcd[] = { "epochs=2", NULL };
  resume_exact ("gcd", ds, gcd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/proto2/cbc/radius-attack", test_cbc_radius);
  g_test_add_func ("/proto2/cbc/learns", test_cbc_learns);
  g_test_add_func ("/proto2/teen/calibrate-hand", test_teen_calibrate_hand);
  g_test_add_func ("/proto2/teen/improves", test_teen_improves);
  g_test_add_func ("/proto2/fewshot/soft-kmeans-hand", test_soft_kmeans_hand);
  g_test_add_func ("/proto2/fewshot/learns", test_fewshot_learns);
  g_test_add_func ("/proto2/fedrecon/merge-hand", test_fed_merge_hand);
  g_test_add_func ("/proto2/fedrecon/learns", test_fedrecon_learns);
  g_test_add_func ("/proto2/gpc/k-moves", test_gpc_k_moves);
  g_test_add_func ("/proto2/gpc/learns", test_gpc_learns);
  g_test_add_func ("/proto2/gcd/learns", test_gcd_learns);
  g_test_add_func ("/proto2/gpc/snapshot-arrays", test_gpc_snapshot_arrays);
  g_test_add_func ("/proto2/gcd/snapshot-arrays", test_gcd_snapshot_arrays);
  g_test_add_func ("/proto2/cbc/certified-radius-array", test_cbc_certified_radius_array);
  g_test_add_func ("/proto2/mlp/ood", test_mlp_ood);
  g_test_add_func ("/proto2/resume", test_resume);
  return g_test_run ();
}
