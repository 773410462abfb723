/* test-probpsenn.c: Prob-PSENN (probabilistic prototypes) on the 8x8 digits:
 * finite-difference gradients of the reparameterised draw and the KL term
 * through the prototype layer, the GEMM distances against the loop, the
 * predictive entropy and mutual information on hand-made draws, resizing
 * and far sets, a trained network clears a bar an untrained one fails, its
 * predictive uncertainty is higher on far-OOD images than on test images,
 * push projects the means, explanations carry finite uncertainties, the
 * snapshot kinds, and bit-identical resume. */
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-method.h"
#include "ps-protopnet.h"
#include "ps-probpsenn.h"
#include "ps-gradcheck.h"
#include "ps-eval.h"
#include "proto-test-util.h"

/* ---- Gradients -------------------------------------------------------- */

enum { B = 3, D = 4, HW = 5, K = 6, C = 3 };

typedef struct
{
  float feat[B * D * HW], mu[K * D], lv[K * D], eps[K * D], a[B * K];
  int y[B], pclass[K];
} DrawCtx;

/* L = sum a * sim (feat, mu + e^(lv/2) eps) + 0.8 cluster - 0.08 separation
 *     + KL (N (mu, e^lv) || N (0.5, 0.3^2)) * 0.7; the gradients of mu and
 * lv into gmu, glv when they are non-NULL. */
static double
draw_loss_grad (DrawCtx *c, float *gmu, float *glv)
{
  float protos[K * D], sim[B * K], mind[B * K];
  int arg[B * K];
  ps_pps_sample (protos, c->mu, c->lv, c->eps, K * D);
  ps_ppn_forward (sim, mind, arg, c->feat, protos, B, K, D, HW, PS_PPN_EPS);
  double L = 0;
  for (int i = 0; i < B * K; i++)
    L += c->a[i] * sim[i];
  float dmind[B * K] = { 0 }, cl, se;
  ps_ppn_cluster_sep (dmind, &cl, &se, mind, c->y, c->pclass, NULL, 0, B, K, 0.8f, 0.08f);
  L += 0.8 * cl - 0.08 * se;
  L += ps_pps_kl (gmu, glv, c->mu, c->lv, K * D, 0.5f, 0.3f, 0.7f);
  if (gmu || glv)
    {
      float dprotos[K * D] = { 0 };
      ps_ppn_sim_backward (dmind, c->a, mind, B * K, PS_PPN_EPS);
      ps_ppn_backward (NULL, dprotos, dmind, c->feat, protos, arg, B, K, D, HW);
      ps_pps_sample_backward (gmu, glv, dprotos, c->lv, c->eps, K * D);
    }
  return L;
}

static double
draw_loss (gpointer p)
{
  return draw_loss_grad (p, NULL, NULL);
}

static void
test_draw_gradient (void)
{
  DrawCtx c;
  PsRng r;
  ps_rng_init (&r, 5, 1);
  ps_rng_fill_uniform (&r, c.feat, G_N_ELEMENTS (c.feat), 0, 1);
  ps_rng_fill_uniform (&r, c.mu, G_N_ELEMENTS (c.mu), 0, 1);
  ps_rng_fill_uniform (&r, c.lv, G_N_ELEMENTS (c.lv), -4, -1);
  ps_rng_fill_normal (&r, c.eps, G_N_ELEMENTS (c.eps), 0, 1);
  ps_rng_fill_normal (&r, c.a, G_N_ELEMENTS (c.a), 0, 1);
  for (int b = 0; b < B; b++)
    c.y[b] = b % C;
  for (int k = 0; k < K; k++)
    c.pclass[k] = k % C;
  float gmu[K * D] = { 0 }, glv[K * D] = { 0 };
  draw_loss_grad (&c, gmu, glv);
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_gradcheck (draw_loss, &c, c.mu, gmu, K * D, 0, 2e-2, 2e-3,
                               "draw + KL d/dmu", &error));
  g_assert_no_error (error);
  g_assert_true (ps_gradcheck (draw_loss, &c, c.lv, glv, K * D, 0, 2e-2, 2e-3,
                               "draw + KL d/dlogvar", &error));
  g_assert_no_error (error);
  /* The KL is zero exactly at the prior and positive elsewhere. */
  float m0[2] = { 0.5f, 0.5f }, l0[2] = { 2 * logf (0.3f), 2 * logf (0.3f) };
  g_assert_cmpfloat (fabsf (ps_pps_kl (NULL, NULL, m0, l0, 2, 0.5f, 0.3f, 1.0f)), <, 1e-6f);
  m0[1] = 0.9f;
  g_assert_cmpfloat (ps_pps_kl (NULL, NULL, m0, l0, 2, 0.5f, 0.3f, 1.0f), >, 0.1f);
}

static void
test_distances_and_predictive (void)
{
  enum { Bd = 2, Dd = 5, HWd = 7, Pd = 4 };
  float feat[Bd * Dd * HWd], protos[Pd * Dd];
  PsRng r;
  ps_rng_init (&r, 9, 1);
  ps_rng_fill_uniform (&r, feat, G_N_ELEMENTS (feat), 0, 1);
  ps_rng_fill_uniform (&r, protos, G_N_ELEMENTS (protos), 0, 1);
  float ref[Bd * Pd * HWd], dist[Bd * HWd * Pd], patches[Bd * HWd * Dd], pnorm[Pd];
  ps_ppn_distances (ref, feat, protos, Bd, Pd, Dd, HWd);
  ps_pps_distances (dist, patches, pnorm, feat, protos, Bd, Dd, HWd, Pd);
  for (int b = 0; b < Bd; b++)
    for (int p = 0; p < Pd; p++)
      for (int s = 0; s < HWd; s++)
        g_assert_cmpfloat (fabsf (dist[(b * HWd + s) * Pd + p] - ref[(b * Pd + p) * HWd + s]),
                           <, 1e-5f);

  /* Two draws that disagree completely: the mean is uniform, entropy and
   * mutual information are maximal; two equal draws: no mutual information. */
  float probs[2 * 2 * 2] = { 1, 0, 0.7f, 0.3f,    /* draw 0: rows 0, 1 */
                             0, 1, 0.7f, 0.3f };  /* draw 1 */
  float mean[4], ent[2], mi[2], pstd[2];
  ps_pps_predictive (mean, ent, mi, pstd, probs, 2, 2, 2);
  g_assert_cmpfloat (fabsf (mean[0] - 0.5f), <, 1e-6f);
  g_assert_cmpfloat (fabsf (ent[0] - 1.0f), <, 1e-5f);
  g_assert_cmpfloat (fabsf (mi[0] - 1.0f), <, 1e-5f);
  g_assert_cmpfloat (fabsf (pstd[0] - 0.5f), <, 1e-5f);
  g_assert_cmpfloat (fabsf (mean[2] - 0.7f), <, 1e-6f);
  g_assert_cmpfloat (ent[1], >, 0.8f);
  g_assert_cmpfloat (ent[1], <, 0.9f);
  g_assert_cmpfloat (fabsf (mi[1]), <, 1e-6f);
  g_assert_cmpfloat (fabsf (pstd[1]), <, 1e-6f);
}

static void
test_resize_and_far_sets (void)
{
  /* 4x4 -> 2x2 averages blocks; 2x2 -> 4x4 keeps a constant; 28 -> 8 of a
   * constant stays constant (fractional cells). */
  float img[16], out[16];
  for (int i = 0; i < 16; i++)
    img[i] = (float) ((i / 4) / 2 * 2 + (i % 4) / 2);   /* blocks 0 1 / 2 3 */
  ps_pps_resize (out, img, 4, 4, 2, 2);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat (fabsf (out[i] - i), <, 1e-6f);
  float c28[28 * 28], c8[64];
  for (int i = 0; i < 28 * 28; i++)
    c28[i] = 0.25f;
  ps_pps_resize (c8, c28, 28, 28, 8, 8);
  for (int i = 0; i < 64; i++)
    g_assert_cmpfloat (fabsf (c8[i] - 0.25f), <, 1e-5f);
  ps_pps_resize (c28, c8, 8, 8, 28, 28);
  for (int i = 0; i < 28 * 28; i++)
    g_assert_cmpfloat (fabsf (c28[i] - 0.25f), <, 1e-5f);

  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_load_builtin ("digits", 0, 0, 0, &error);
  g_assert_no_error (error);
  const char *used = NULL;
  g_autofree float *noise = ps_pps_far_set (ds, "noise", 50, 1, &used, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (used, ==, "noise");
  for (int i = 0; i < 50 * 64; i++)
    g_assert_true (noise[i] >= 0.0f && noise[i] <= 1.0f);
  g_assert_null (ps_pps_far_set (ds, "cats", 50, 1, &used, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_assert_nonnull (strstr (error->message, "far_ood"));
  g_clear_error (&error);
  if (g_file_test (ps_fashion_mnist_dir (), G_FILE_TEST_IS_DIR))
    {
      g_autofree float *fm = ps_pps_far_set (ds, "fashion", 40, 1, &used, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (used, ==, "fashion");
      double mean = 0;
      for (int i = 0; i < 40 * 64; i++)
        {
          g_assert_true (fm[i] >= 0.0f && fm[i] <= 1.0f);
          mean += fm[i];
        }
      g_assert_cmpfloat (mean / (40 * 64), >, 0.05);   /* real images, not blank */
    }
}

/* ---- The method on the digits ----------------------------------------- */

static PsDataset *
digits (void)
{
  static PsDataset *ds;
  if (ds == NULL)
    {
      g_autoptr (GError) error = NULL;
      ds = ps_dataset_load_builtin ("digits", 0, 0, 0, &error);
      g_assert_no_error (error);
      ps_dataset_assign_split (ds, 0.1, 0.2, 0);
    }
  return ds;
}

static gpointer
make (const PsMethod *m, const char *const *sets, guint64 seed)
{
  g_autoptr (PsParams) p = ps_method_default_params (m);
  for (int i = 0; sets && sets[i]; i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (ps_params_set_string (p, sets[i], &error));
      g_assert_no_error (error);
    }
  g_autoptr (GError) error = NULL;
  gpointer model = m->create (m, p, digits (), seed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  return model;
}

static void
run_steps (const PsMethod *m, gpointer model, guint64 upto)
{
  gint cancel = 0;
  for (guint64 s = 0; s < upto; s++)
    {
      PsStepInfo info = { .step = s, .cancel = &cancel };
      g_autoptr (GError) error = NULL;
      g_assert_true (m->step (model, &info, &error));
      g_assert_no_error (error);
      g_assert_true (isfinite (info.loss));
      if (info.done)
        break;
    }
}

/* The noise far set keeps the test independent of Fashion-MNIST. */
static const char *const train_sets[] = { "far_ood=noise", NULL };

static gpointer
trained (void)
{
  static gpointer model;
  if (model == NULL)
    {
      const PsMethod *m = ps_method_find ("probpsenn");
      model = make (m, train_sets, 7);
      double t0 = ps_now ();
      run_steps (m, model, m->total_steps (model));
      g_test_message ("trained in %.2f s", ps_now () - t0);
    }
  return model;
}

static double
metric (PsMetrics *mt, const char *name)
{
  double v = NAN;
  g_assert_true (ps_metrics_get (mt, name, &v));
  return v;
}

static void
test_accuracy_bar (void)
{
  const PsMethod *m = ps_method_find ("probpsenn");
  gpointer fresh = make (m, train_sets, 7);
  g_assert_cmpstr (ps_pps_model_far_kind (fresh), ==, "noise");
  g_autoptr (PsMetrics) before = m->evaluate (fresh);
  m->free (fresh);
  g_autoptr (PsMetrics) after = m->evaluate (trained ());
  double a0 = metric (before, "test_acc"), a1 = metric (after, "test_acc");
  g_test_message ("digits: untrained %.3f, trained %.3f (point %.3f, joint %.3f, push %.3f), "
                  "purity %.3f, sigma %.4f", a0, a1, metric (after, "test_acc_point"),
                  metric (after, "test_acc_joint"), metric (after, "test_acc_push"),
                  metric (after, "purity"), metric (after, "sigma_mean"));
  g_assert_cmpfloat (a0, <, 0.5);
  g_assert_cmpfloat (a1, >=, 0.85);
  g_assert_cmpfloat (metric (after, "purity"), >=, 0.6);
  /* The prototypes stay distributions: neither collapsed nor at the cap. */
  g_assert_cmpfloat (metric (after, "sigma_mean"), >, 1e-3);
  g_assert_cmpfloat (metric (after, "sigma_mean"), <, 0.5);
}

static void
test_uncertainty_far_ood (void)
{
  const PsMethod *m = ps_method_find ("probpsenn");
  gpointer model = trained ();
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  double ut = metric (mt, "uncertainty_test"), uf = metric (mt, "uncertainty_far");
  double auroc = metric (mt, "auroc_far_entropy");
  g_test_message ("noise: uncertainty test %.3f far %.3f, AUROC %.3f (MI %.4f vs %.4f, AUROC %.3f); "
                  "flagged test %.3f far %.3f, acc certain %.3f", ut, uf, auroc,
                  metric (mt, "mi_test"), metric (mt, "mi_far"), metric (mt, "auroc_far_mi"),
                  metric (mt, "uncertain_frac_test"), metric (mt, "uncertain_frac_far"),
                  metric (mt, "test_acc_certain"));
  g_assert_cmpfloat (uf, >, ut + 0.1);
  g_assert_cmpfloat (auroc, >, 0.8);
  g_assert_cmpfloat (metric (mt, "uncertain_frac_far"), >, metric (mt, "uncertain_frac_test"));
  g_assert_cmpfloat (metric (mt, "test_acc_certain"), >=, metric (mt, "test_acc"));

  /* The same on images the method never saw: Fashion-MNIST shrunk to 8x8
   * (when installed) and inverted test digits. */
  PsDataset *ds = digits ();
  const char *kinds[] = { "fashion", "inverted" };
  g_autofree float *xt = g_new (float, (gsize) ds->n * ds->d);
  guint nt = 0;
  for (guint i = 0; i < ds->n; i++)
    if (ds->split[i] == PS_SPLIT_TEST)
      memcpy (xt + (gsize) nt++ * ds->d, ds->x + (gsize) i * ds->d, ds->d * sizeof (float));
  g_autofree float *et = g_new (float, nt);
  ps_pps_model_uncertainty (model, xt, (int) nt, et, NULL, NULL);
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_autofree float *xf = NULL;
      guint nf = 200;
      if (k == 0)
        {
          if (!g_file_test (ps_fashion_mnist_dir (), G_FILE_TEST_IS_DIR))
            continue;
          const char *used;
          g_autoptr (GError) error = NULL;
          xf = ps_pps_far_set (ds, "fashion", nf, 0, &used, &error);
          g_assert_no_error (error);
        }
      else
        {
          nf = MIN (nt, 200u);
          xf = g_new (float, (gsize) nf * ds->d);
          for (gsize i = 0; i < (gsize) nf * ds->d; i++)
            xf[i] = 1.0f - xt[i];
        }
      g_autofree float *ef = g_new (float, nf);
      ps_pps_model_uncertainty (model, xf, (int) nf, ef, NULL, NULL);
      g_autofree float *all = g_new (float, nt + nf);
      g_autofree guint8 *ood = g_new0 (guint8, nt + nf);
      memcpy (all, et, nt * sizeof (float));
      memcpy (all + nt, ef, nf * sizeof (float));
      memset (ood + nt, 1, nf);
      double mt_ = 0, mf = 0;
      for (guint i = 0; i < nt; i++)
        mt_ += et[i] / nt;
      for (guint i = 0; i < nf; i++)
        mf += ef[i] / nf;
      double a = ps_auroc (all, ood, nt + nf);
      g_test_message ("%s: uncertainty test %.3f far %.3f, AUROC %.3f", kinds[k], mt_, mf, a);
      g_assert_cmpfloat (mf, >, mt_);
      g_assert_cmpfloat (a, >, 0.65);
    }
}

static void
test_push_projects (void)
{
  PsPpsModel *pm = trained ();
  PsDataset *ds = digits ();
  const int Kp = ps_pps_model_n_protos (pm), Dp = ps_pps_model_depth (pm);
  int fh, fw;
  ps_pps_model_map_size (pm, &fh, &fw);
  const int HWp = fh * fw;
  const int *row = ps_pps_model_push_row (pm), *pos = ps_pps_model_push_pos (pm);
  const int *pc = ps_pps_model_proto_class (pm);
  const float *mu = ps_pps_model_mu (pm), *lv = ps_pps_model_logvar (pm);
  g_autofree float *feat = g_new (float, (gsize) Dp * HWp);
  for (int k = 0; k < Kp; k++)
    {
      g_assert_cmpint (row[k], >=, 0);
      g_assert_cmpint (pos[k], >=, 0);
      g_assert_cmpint (pos[k], <, HWp);
      g_assert_cmpint (ds->split[row[k]], ==, PS_SPLIT_TRAIN);
      g_assert_cmpint (ds->y[row[k]], ==, pc[k]);
      ps_pps_model_features (pm, ds->x + (gsize) row[k] * ds->d, 1, feat);
      for (int d = 0; d < Dp; d++)
        {
          g_assert_cmpfloat (mu[(gsize) k * Dp + d], ==, feat[(gsize) d * HWp + pos[k]]);
          g_assert_true (isfinite (lv[(gsize) k * Dp + d]));
        }
    }
}

static const PsArray *
find_array (GPtrArray *arrays, const char *kind)
{
  for (guint i = 0; i < arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (arrays, i);
      if (g_str_equal (a->kind, kind))
        return a;
    }
  g_error ("no array '%s'", kind);
  return NULL;
}

static void
test_explain (void)
{
  const PsMethod *m = ps_method_find ("probpsenn");
  gpointer model = trained ();
  PsDataset *ds = digits ();
  int checked = 0;
  double any_std = 0;
  for (guint s = 0; s < ds->n && checked < 10; s++)
    {
      if (ds->split[s] != PS_SPLIT_TEST)
        continue;
      checked++;
      g_autoptr (GError) error = NULL;
      g_autoptr (PsExplanation) ex = m->explain (model, s, &error);
      g_assert_no_error (error);
      g_assert_true (ex->by_prototypes);
      g_assert_true (isfinite (ex->uncertainty));
      g_assert_cmpfloat (ex->uncertainty, >=, 0.0f);
      g_assert_cmpfloat (ex->uncertainty, <=, 1.0f + 1e-5f);
      g_assert_cmpuint (ex->evidence->len, ==, 10);
      const PsArray *sd = find_array (ex->arrays, "similarity_std");
      g_assert_cmpuint (sd->shape[0], ==, ex->evidence->len);
      const float *sv = ps_array_data (sd, NULL);
      for (guint i = 0; i < sd->shape[0]; i++)
        {
          g_assert_true (isfinite (sv[i]) && sv[i] >= 0.0f);
          any_std = MAX (any_std, sv[i]);
        }
      const float *pts = ps_array_data (find_array (ex->arrays, "class_points"), NULL);
      const float *lg = ps_array_data (find_array (ex->arrays, "logits"), NULL);
      const float *pr = ps_array_data (find_array (ex->arrays, "probabilities"), NULL);
      double psum = 0;
      for (guint c = 0; c < ds->n_classes; c++)
        {
          g_assert_cmpfloat (fabsf (pts[c] - lg[c]), <, 1e-3f * (1 + fabsf (lg[c])));
          psum += pr[c];
          g_assert_cmpfloat (pr[c], <=, pr[ex->predicted]);
        }
      g_assert_cmpfloat (fabs (psum - 1.0), <, 1e-4);
      g_assert_cmpfloat (ex->confidence, ==, pr[ex->predicted]);
      for (guint i = 0; i < ex->evidence->len; i++)
        {
          PsEvidence *e = &g_array_index (ex->evidence, PsEvidence, i);
          g_assert_cmpfloat (fabsf (e->evidence - e->similarity * e->weight), <, 1e-5f);
          if (i > 0)
            g_assert_cmpfloat (e->evidence, <=,
                               g_array_index (ex->evidence, PsEvidence, i - 1).evidence);
        }
      const char *want[] = { "image", "heatmaps", "boxes", "source_images", "source_boxes",
                             "heatmaps_random_conv", "heatmaps_random", "top_share",
                             "because_local" };
      for (guint w = 0; w < G_N_ELEMENTS (want); w++)
        find_array (ex->arrays, want[w]);
      g_assert_nonnull (ex->text);
    }
  /* The draws really differ: some similarity moves between them. */
  g_assert_cmpfloat (any_std, >, 1e-4);
  g_autoptr (GError) error = NULL;
  g_assert_null (m->explain (model, 100000, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
}

static void
test_snapshot (void)
{
  const PsMethod *m = ps_method_find ("probpsenn");
  gpointer model = trained ();
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  const char *want[] = { "sample_index", "labels", "embedding", "predictions", "confidence",
                         "prototypes", "prototype_labels", "prototype_kind", "prototype_weight",
                         "prototype_source", "prototype_box", "prototype_images",
                         "prototype_topk", "because_global", "uncertainty", "uncertain",
                         "prototype_sigma", "explanation_std", "scores", "score_name" };
  for (guint w = 0; w < G_N_ELEMENTS (want); w++)
    find_array (snap, want[w]);
  const PsArray *u = find_array (snap, "uncertainty");
  const PsArray *idx = find_array (snap, "sample_index");
  g_assert_cmpuint (u->shape[0], ==, idx->shape[0]);
  const float *uv = ps_array_data (u, NULL);
  for (gsize i = 0; i < u->shape[0]; i++)
    g_assert_true (isfinite (uv[i]) && uv[i] >= 0.0f && uv[i] <= 1.0f + 1e-5f);
  const PsArray *sg = find_array (snap, "prototype_sigma");
  g_assert_cmpuint (sg->shape[0], ==, 30);

  /* Where each prototype's mean matches in its nearest training images. */
  proto_check_topk_boxes (snap, 8);
}

/* A checkpoint at `frac` into `stage` resumes to the same final state. */
static void
resume_at (double frac, const char *stage)
{
  const PsMethod *m = ps_method_find ("probpsenn");
  const char *sets[] = { "warm_epochs=1", "joint_epochs=1", "last_epochs=1", "max_train=600",
                         "far_ood=noise", "samples=4", NULL };
  gpointer a = make (m, sets, 3);
  guint64 total = m->total_steps (a), first = 0, last = 0;
  gboolean seen = FALSE;
  for (guint64 s = 0; s < total; s++)
    if (g_str_equal (ps_pps_model_stage (a, s), stage))
      {
        if (!seen)
          first = s;
        seen = TRUE;
        last = s;
      }
  g_assert_true (seen);
  guint64 at = first + (guint64) ((last - first) * frac);
  run_steps (m, a, at);
  g_autoptr (GBytes) ck = m->save (a);
  gpointer b = make (m, sets, 99);   /* another seed: load must override it all */
  g_autoptr (GError) error = NULL;
  g_assert_true (m->load (b, ck, &error));
  g_assert_no_error (error);
  run_steps (m, a, total);
  run_steps (m, b, total);
  g_autoptr (GBytes) fa = m->save (a), fb = m->save (b);
  g_assert_true (g_bytes_equal (fa, fb));
  g_autoptr (PsMetrics) ma = m->evaluate (a), mb = m->evaluate (b);
  g_assert_cmpfloat (metric (ma, "test_acc"), ==, metric (mb, "test_acc"));
  g_assert_cmpfloat (metric (ma, "uncertainty_test"), ==, metric (mb, "uncertainty_test"));
  /* A truncated checkpoint is refused with a message. */
  g_autoptr (GBytes) cut = g_bytes_new_from_bytes (ck, 0, g_bytes_get_size (ck) / 2);
  g_assert_false (m->load (b, cut, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_FORMAT);
  m->free (a);
  m->free (b);
}

static void
test_resume_joint (void)
{
  resume_at (0.5, "joint");
}

static void
test_resume_push (void)
{
  resume_at (0.5, "push");
}

static void
test_resume_last (void)
{
  resume_at (0.5, "last");
}

static void
test_bad_data (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) moons = ps_dataset_load_builtin ("moons", 200, 0.1, 0, &error);
  g_assert_no_error (error);
  const PsMethod *m = ps_method_find ("probpsenn");
  g_autoptr (PsParams) p = ps_method_default_params (m);
  g_assert_null (m->create (m, p, moons, 0, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_VALUE);
  g_clear_error (&error);
  g_assert_false (ps_params_set_string (p, "far_ood=cats", &error));
  g_assert_nonnull (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ps_blas_set_threads (1);
  g_test_add_func ("/probpsenn/draw-kl-gradient", test_draw_gradient);
  g_test_add_func ("/probpsenn/distances-predictive", test_distances_and_predictive);
  g_test_add_func ("/probpsenn/resize-far-sets", test_resize_and_far_sets);
  g_test_add_func ("/probpsenn/bad-data", test_bad_data);
  g_test_add_func ("/probpsenn/accuracy-bar", test_accuracy_bar);
  g_test_add_func ("/probpsenn/uncertainty-far-ood", test_uncertainty_far_ood);
  g_test_add_func ("/probpsenn/push-projects", test_push_projects);
  g_test_add_func ("/probpsenn/explain", test_explain);
  g_test_add_func ("/probpsenn/snapshot", test_snapshot);
  g_test_add_func ("/probpsenn/resume-joint", test_resume_joint);
  g_test_add_func ("/probpsenn/resume-push", test_resume_push);
  g_test_add_func ("/probpsenn/resume-last", test_resume_last);
  return g_test_run ();
}
