/* ps-method-probpsenn.c: Prob-PSENN, a part-prototype network whose
 * prototypes are distributions (training, prediction, checkpoints).
 *
 * The small version keeps ProtoPNet's network and stages (ps-protopnet.h):
 * a CNN backbone with a sigmoid add-on, M prototypes per class, the
 * log-similarity on the nearest patch, a bias-free last layer; warm-up,
 * joint training with cluster and separation costs, push and last-layer
 * fine-tuning with L1.  What changes: each prototype is a diagonal Gaussian
 * N(mu_k, diag sigma_k^2).  Every training step draws one prototype set by
 * reparameterisation and adds beta * KL(q || N(0.5, prior_std^2)) / N_train
 * (the ELBO's per-sample share; 0.5 is the middle of the sigmoid features).
 * Push moves the means onto their nearest training patches (the variances
 * stay); last-layer fine-tuning sees a fresh draw per step.  Prediction
 * draws S prototype sets (fixed per run seed, so evaluations repeat) and
 * averages the class probabilities; the predictive entropy, the mutual
 * information and the spread of each prototype's similarity across draws
 * are the uncertainties.  Dropped from the paper: the autoencoder decoder
 * (prototypes are shown as their pushed training patches, as in ProtoPNet)
 * and its reconstruction term.
 */
#define G_LOG_DOMAIN "ps-probpsenn"

#include "ps-probpsenn-private.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <string.h>

#define PPS_MAGIC 0x31535050u  /* "PPS1" */

/* ---- Accessors ------------------------------------------------------- */

int ps_pps_model_n_protos (PsPpsModel *m) { return m->K; }
int ps_pps_model_depth (PsPpsModel *m) { return m->D; }
void ps_pps_model_map_size (PsPpsModel *m, int *h, int *w) { *h = m->fh; *w = m->fw; }
const float *ps_pps_model_mu (PsPpsModel *m) { return m->mu; }
const float *ps_pps_model_logvar (PsPpsModel *m) { return m->lv; }
const int *ps_pps_model_proto_class (PsPpsModel *m) { return m->pclass; }
const int *ps_pps_model_push_row (PsPpsModel *m) { return m->src_row; }
const int *ps_pps_model_push_pos (PsPpsModel *m) { return m->src_pos; }
const char *ps_pps_model_far_kind (PsPpsModel *m) { return m->far_kind; }

const char *
ps_pps_model_stage (PsPpsModel *m, guint64 step)
{
  if (step < m->s_warm)
    return "warmup";
  if (step < m->s_joint)
    return "joint";
  if (step < m->s_push)
    return "push";
  if (step < m->s_cache)
    return "cache";
  return "last";
}

/* ---- Create / free ----------------------------------------------------- */

static void
pps_grow (PsPpsModel *m, int B)
{
  if (B <= m->cap)
    return;
  m->cap = B;
  gsize fs = (gsize) B * m->D * m->HW;
  m->feat = g_renew (float, m->feat, fs);
  m->dfeat = g_renew (float, m->dfeat, fs);
  m->sim = g_renew (float, m->sim, (gsize) B * m->K);
  m->mind = g_renew (float, m->mind, (gsize) B * m->K);
  m->dsim = g_renew (float, m->dsim, (gsize) B * m->K);
  m->dmind = g_renew (float, m->dmind, (gsize) B * m->K);
  m->argmin = g_renew (int, m->argmin, (gsize) B * m->K);
  m->logits = g_renew (float, m->logits, (gsize) B * m->C);
  m->dlogits = g_renew (float, m->dlogits, (gsize) B * m->C);
  m->probs = g_renew (float, m->probs, (gsize) B * m->C);
  m->xb = g_renew (float, m->xb, (gsize) B * m->data->d);
  m->yb = g_renew (int, m->yb, B);
}

static void
pps_free (gpointer p)
{
  PsPpsModel *m = p;
  if (m == NULL)
    return;
  ps_model_free (m->net);
  ps_dataset_unref (m->data);
  g_free (m->pp);
  g_free (m->dpp);
  g_free (m->protos);
  g_free (m->eps);
  g_free (m->pred_eps);
  g_free (m->pclass);
  g_free (m->pkind);
  g_free (m->last);
  g_free (m->dlast);
  if (m->opt_pp)
    ps_optim_free (m->opt_pp);
  if (m->opt_last)
    ps_optim_free (m->opt_last);
  if (m->opt_ft)
    ps_optim_free (m->opt_ft);
  g_free (m->train_idx);
  g_free (m->perm);
  g_free (m->xb);
  g_free (m->feat);
  g_free (m->dfeat);
  g_free (m->sim);
  g_free (m->mind);
  g_free (m->logits);
  g_free (m->dlogits);
  g_free (m->dsim);
  g_free (m->dmind);
  g_free (m->probs);
  g_free (m->yb);
  g_free (m->argmin);
  ps_ppn_push_clear (&m->push);
  g_free (m->src_row);
  g_free (m->src_pos);
  ps_eval_set_clear (&m->test);
  g_free (m->far_x);
  g_free (m->cache_sim);
  g_free (m->cache_mind);
  g_free (m);
}

static char *
auto_backbone (PsDataset *ds)
{
  if (ds->img_h >= 28)
    return g_strdup_printf ("%ux%ux%u:c16k3p1r-m2-c32k3p1r-m2-c32k1r-c32k1",
                            ds->img_c, ds->img_h, ds->img_w);
  return g_strdup_printf ("%ux%ux%u:c16k3p1r-m2-c32k3p1r-c16k1",
                          ds->img_c, ds->img_h, ds->img_w);
}

static gpointer
pps_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
            GError **error)
{
  if (data->img_h == 0 || data->img_w == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                   "%s: Prob-PSENN needs image data (digits, Fashion-MNIST)", data->name);
      return NULL;
    }
  if (data->n_classes < 2)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                   "%s: a classifier needs labels of at least two classes", data->name);
      return NULL;
    }
  const char *spec_param = ps_params_get_string (params, "backbone");
  g_autofree char *spec = g_strcmp0 (spec_param, "auto") == 0 || spec_param[0] == '\0'
                          ? auto_backbone (data) : g_strdup (spec_param);
  g_autoptr (PsModel) net = ps_model_new (spec, error);
  if (net == NULL)
    return NULL;
  const PsLayerInfo *lastl = ps_model_layer (net, ps_model_n_layers (net) - 1);
  if ((guint) ps_model_in_size (net) != data->d || lastl->out_h * lastl->out_w <= 1)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "backbone '%s' must take the %ux%ux%u images of %s and end in a feature "
                   "map (a convolution or pooling layer)",
                   spec, data->img_c, data->img_h, data->img_w, data->name);
      return NULL;
    }
  float init_std = (float) ps_params_get_float (params, "init_std");
  float prior_std = (float) ps_params_get_float (params, "prior_std");

  PsPpsModel *m = g_new0 (PsPpsModel, 1);
  m->data = ps_dataset_ref (data);
  m->net = g_steal_pointer (&net);
  m->feat_layer = ps_model_n_layers (m->net) - 1;
  m->D = lastl->out_c;
  m->fh = lastl->out_h;
  m->fw = lastl->out_w;
  m->HW = m->fh * m->fw;
  m->C = (int) data->n_classes;
  m->per_class = (int) ps_params_get_int (params, "protos_per_class");
  m->K = m->C * m->per_class;
  m->w_clst = (float) ps_params_get_float (params, "cluster");
  m->w_sep = (float) ps_params_get_float (params, "separation");
  m->l1 = (float) ps_params_get_float (params, "l1");
  m->lr_last_ft = (float) ps_params_get_float (params, "lr_last");
  m->kl = (float) ps_params_get_float (params, "kl");
  m->prior_mean = 0.5f;
  m->prior_std = prior_std;
  /* Keeps sigma within [1e-3, 1] (the features live in [0, 1]). */
  m->lv_min = 2.0f * logf (1e-3f);
  m->lv_max = 0.0f;
  m->S = (int) ps_params_get_int (params, "samples");
  m->threshold = (float) ps_params_get_float (params, "threshold");
  m->acc_joint = m->acc_push = m->acc_final = NAN;

  ps_rng_init (&m->rng, seed, 1);
  PsRng init_rng;
  ps_rng_init (&init_rng, seed, 2);
  ps_model_init (m->net, &init_rng);

  const gsize KD = (gsize) m->K * m->D;
  m->pp = g_new (float, 2 * KD);
  m->mu = m->pp;
  m->lv = m->pp + KD;
  m->dpp = g_new0 (float, 2 * KD);
  m->protos = g_new (float, KD);
  m->eps = g_new0 (float, KD);
  m->pclass = g_new (int, m->K);
  m->pkind = g_new0 (int, m->K);   /* all PS_PPN_KIND_PLAIN */
  for (int k = 0; k < m->K; k++)
    m->pclass[k] = k / m->per_class;
  /* Means uniform in [0, 1] as ProtoPNet starts them; one spread for all. */
  ps_rng_fill_uniform (&init_rng, m->mu, KD, 0.0f, 1.0f);
  for (gsize i = 0; i < KD; i++)
    m->lv[i] = 2.0f * logf (init_std);
  /* The prediction draws: fixed by the seed, never by the training RNG, so
   * evaluating does not change the run and repeats exactly. */
  m->pred_eps = g_new (float, (gsize) m->S * KD);
  PsRng pred_rng;
  ps_rng_init (&pred_rng, seed, 3);
  ps_rng_fill_normal (&pred_rng, m->pred_eps, (gsize) m->S * KD, 0.0f, 1.0f);

  m->last = g_new (float, (gsize) m->C * m->K);
  ps_ppn_last_init (m->last, m->pclass, m->K, m->C, -0.5f);
  m->dlast = g_new0 (float, (gsize) m->C * m->K);
  m->src_row = g_new (int, m->K);
  m->src_pos = g_new (int, m->K);
  for (int k = 0; k < m->K; k++)
    m->src_row[k] = m->src_pos[k] = -1;

  m->train_idx = ps_split_indices (data, PS_SPLIT_TRAIN, TRUE, &m->n_train);
  guint max_train = (guint) ps_params_get_int (params, "max_train");
  if (max_train > 0 && max_train < m->n_train)
    {
      PsRng sub;
      ps_rng_init (&sub, 0, 99);
      ps_rng_shuffle (&sub, m->train_idx, m->n_train);
      m->n_train = max_train;
    }
  if (m->n_train == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s has no labelled training samples",
                   data->name);
      pps_free (m);
      return NULL;
    }
  PsSplit eval_split = ps_dataset_count_split (data, PS_SPLIT_TEST) > 0 ? PS_SPLIT_TEST : PS_SPLIT_VAL;
  ps_eval_set_init (&m->test, data, eval_split);

  const char *far = ps_params_get_string (params, "far_ood");
  m->n_far = MAX (MIN (m->test.n, 1000u), 100u);
  m->far_x = ps_pps_far_set (data, far, m->n_far, seed, &m->far_kind, error);
  if (m->far_x == NULL)
    {
      g_prefix_error (error, "far_ood=%s: ", far);
      pps_free (m);
      return NULL;
    }

  m->batch = (int) MIN ((gint64) m->n_train, ps_params_get_int (params, "batch_size"));
  m->steps_per_epoch = (m->n_train + m->batch - 1) / m->batch;
  m->push_chunks = (m->n_train + PPS_CHUNK - 1) / PPS_CHUNK;
  m->cache_chunks = m->push_chunks;
  m->s_warm = (guint64) m->steps_per_epoch * ps_params_get_int (params, "warm_epochs");
  m->s_joint = m->s_warm + (guint64) m->steps_per_epoch * ps_params_get_int (params, "joint_epochs");
  m->s_push = m->s_joint + m->push_chunks;
  m->s_cache = m->s_push + m->cache_chunks;
  m->total = m->s_cache + (guint64) m->steps_per_epoch * ps_params_get_int (params, "last_epochs");
  m->perm = g_new (guint, m->n_train);
  pps_grow (m, MAX (m->batch, PPS_CHUNK));

  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, (float) ps_params_get_float (params, "lr"));
  ps_model_set_optimizer (m->net, &cfg);
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, (float) ps_params_get_float (params, "lr_protos"));
  m->opt_pp = ps_optim_new (&cfg, 2 * KD);
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, (float) ps_params_get_float (params, "lr"));
  m->opt_last = ps_optim_new (&cfg, (gsize) m->C * m->K);
  (void) method;
  return m;
}

static guint64
pps_total_steps (gpointer p)
{
  return ((PsPpsModel *) p)->total;
}

/* ---- Forward and prediction ----------------------------------------- */

/* Backbone and sigmoid add-on into m->feat[B, D, HW]. */
static void
feat_forward (PsPpsModel *m, const float *x, int B)
{
  pps_grow (m, B);
  const float *out = ps_model_forward (m->net, x, B);
  ps_sigmoid_forward (m->feat, out, (gsize) B * m->D * m->HW);
}

void
pps_features (PsPpsModel *m, const float *x, int n, float *feat)
{
  gboolean was = ps_model_get_training (m->net);
  ps_model_set_training (m->net, FALSE);
  for (int s = 0; s < n; s += PPS_CHUNK)
    {
      int B = MIN (PPS_CHUNK, n - s);
      feat_forward (m, x + (gsize) s * m->data->d, B);
      memcpy (feat + (gsize) s * m->D * m->HW, m->feat, (gsize) B * m->D * m->HW * sizeof (float));
    }
  ps_model_set_training (m->net, was);
}

void
ps_pps_model_features (PsPpsModel *m, const float *x, int n, float *feat)
{
  pps_features (m, x, n, feat);
}

static int
argmax (const float *v, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

void
pps_predict (PsPpsModel *m, const float *x, int n, const PpsOut *o)
{
  const int K = m->K, C = m->C, D = m->D, HW = m->HW, S = m->S;
  const gsize KD = (gsize) K * D;
  const int P = S * K;
  g_autofree float *draws = g_new (float, (gsize) S * KD);
  for (int s = 0; s < S; s++)
    ps_pps_sample (draws + s * KD, m->mu, m->lv, m->pred_eps + s * KD, KD);
  const gboolean need_draws = o->mean || o->logits || o->entropy || o->mi || o->pstd || o->estd
                              || o->pred || o->pred_point || o->emb || o->sims;
  const int CB = PPS_PRED_CHUNK;
  g_autofree float *feat = g_new (float, (gsize) CB * D * HW);
  g_autofree float *patches = g_new (float, (gsize) CB * HW * D);
  g_autofree float *pnorm = g_new (float, P);
  g_autofree float *dist = g_new (float, (gsize) CB * HW * P);
  g_autofree float *sims = g_new (float, (gsize) S * CB * K);    /* [S, B, K] */
  g_autofree float *lg = g_new (float, (gsize) S * CB * C);
  g_autofree float *pr = g_new (float, (gsize) S * CB * C);
  g_autofree float *mean = g_new (float, (gsize) CB * C);
  g_autofree float *psim = g_new (float, (gsize) CB * K);
  g_autofree float *pmind = g_new (float, (gsize) CB * K);
  g_autofree int *parg = g_new (int, (gsize) CB * K);
  g_autofree float *plog = g_new (float, (gsize) CB * C);
  gboolean was = ps_model_get_training (m->net);
  ps_model_set_training (m->net, FALSE);
  for (int s0 = 0; s0 < n; s0 += CB)
    {
      const int B = MIN (CB, n - s0);
      feat_forward (m, x + (gsize) s0 * m->data->d, B);
      memcpy (feat, m->feat, (gsize) B * D * HW * sizeof (float));
      ps_ppn_forward (psim, pmind, parg, feat, m->mu, B, K, D, HW, PS_PPN_EPS);
      if (!need_draws)
        {
          /* Only the means asked for (the "because" analysis): no draws. */
          if (o->sim_point)
            memcpy (o->sim_point + (gsize) s0 * K, psim, (gsize) B * K * sizeof (float));
          if (o->mind_point)
            memcpy (o->mind_point + (gsize) s0 * K, pmind, (gsize) B * K * sizeof (float));
          if (o->argmin_point)
            memcpy (o->argmin_point + (gsize) s0 * K, parg, (gsize) B * K * sizeof (int));
          continue;
        }
      ps_pps_distances (dist, patches, pnorm, feat, draws, B, D, HW, P);
      /* Nearest patch per (image, drawn prototype) -> similarity. */
      for (int b = 0; b < B; b++)
        for (int p = 0; p < P; p++)
          {
            float best = INFINITY;
            for (int q = 0; q < HW; q++)
              best = MIN (best, dist[((gsize) b * HW + q) * P + p]);
            int s = p / K, k = p % K;
            sims[((gsize) s * B + b) * K + k] = ps_ppn_log_sim (best, PS_PPN_EPS);
          }
      for (int s = 0; s < S; s++)
        {
          ps_ppn_last_forward (lg + (gsize) s * B * C, sims + (gsize) s * B * K, m->last, B, K, C);
          ps_softmax_forward (pr + (gsize) s * B * C, lg + (gsize) s * B * C, B, C);
        }
      ps_pps_predictive (mean, o->entropy ? o->entropy + s0 : NULL, o->mi ? o->mi + s0 : NULL,
                         o->pstd ? o->pstd + s0 : NULL, pr, S, B, C);
      ps_ppn_last_forward (plog, psim, m->last, B, K, C);
      for (int b = 0; b < B; b++)
        {
          const gsize r = (gsize) s0 + b;
          int c = argmax (mean + (gsize) b * C, C);
          if (o->mean)
            memcpy (o->mean + r * C, mean + (gsize) b * C, C * sizeof (float));
          if (o->pred)
            o->pred[r] = c;
          if (o->pred_point)
            o->pred_point[r] = argmax (plog + (gsize) b * C, C);
          if (o->logits)
            for (int j = 0; j < C; j++)
              {
                double acc = 0.0;
                for (int s = 0; s < S; s++)
                  acc += lg[((gsize) s * B + b) * C + j];
                o->logits[r * C + j] = (float) (acc / S);
              }
          if (o->estd)
            {
              /* The prototype adding the most mean points to class c. */
              int kb = 0;
              double bestev = -INFINITY, bm = 0.0;
              for (int k = 0; k < K; k++)
                {
                  double ms = 0.0;
                  for (int s = 0; s < S; s++)
                    ms += sims[((gsize) s * B + b) * K + k];
                  ms /= S;
                  double ev = ms * m->last[(gsize) c * K + k];
                  if (ev > bestev)
                    {
                      bestev = ev;
                      kb = k;
                      bm = ms;
                    }
                }
              double var = 0.0;
              for (int s = 0; s < S; s++)
                {
                  double t = sims[((gsize) s * B + b) * K + kb] - bm;
                  var += t * t;
                }
              o->estd[r] = (float) sqrt (var / S);
            }
          if (o->emb)
            {
              int kbest = 0;
              for (int k = 1; k < K; k++)
                if (pmind[(gsize) b * K + k] < pmind[(gsize) b * K + kbest])
                  kbest = k;
              int pos = parg[(gsize) b * K + kbest];
              for (int d = 0; d < D; d++)
                o->emb[r * D + d] = feat[(gsize) b * D * HW + (gsize) d * HW + pos];
            }
        }
      if (o->sims)
        for (int s = 0; s < S; s++)
          memcpy (o->sims + ((gsize) s * n + s0) * K, sims + (gsize) s * B * K,
                  (gsize) B * K * sizeof (float));
      if (o->sim_point)
        memcpy (o->sim_point + (gsize) s0 * K, psim, (gsize) B * K * sizeof (float));
      if (o->mind_point)
        memcpy (o->mind_point + (gsize) s0 * K, pmind, (gsize) B * K * sizeof (float));
      if (o->argmin_point)
        memcpy (o->argmin_point + (gsize) s0 * K, parg, (gsize) B * K * sizeof (int));
    }
  ps_model_set_training (m->net, was);
}

void
ps_pps_model_uncertainty (PsPpsModel *m, const float *x, int n, float *entropy, float *mi,
                          int *pred)
{
  PpsOut o = { .entropy = entropy, .mi = mi, .pred = pred };
  pps_predict (m, x, n, &o);
}

double
pps_test_acc (PsPpsModel *m)
{
  if (m->test.n == 0)
    return NAN;
  g_autofree int *pred = g_new (int, m->test.n);
  PpsOut o = { .pred = pred };
  pps_predict (m, m->test.x, (int) m->test.n, &o);
  guint ok = 0;
  for (guint i = 0; i < m->test.n; i++)
    ok += pred[i] == m->test.y[i];
  return (double) ok / m->test.n;
}

void
pps_pos_box (PsPpsModel *m, int pos, int box[4])
{
  if (pos < 0)
    {
      box[0] = box[1] = box[2] = box[3] = -1;
      return;
    }
  ps_ppn_receptive_field (m->net, m->feat_layer, pos / m->fw, pos % m->fw, box);
}

/* ---- Training steps --------------------------------------------------- */

static void
gather_batch (PsPpsModel *m, guint64 local, int *B)
{
  guint pos = (guint) (local % m->steps_per_epoch);
  if (pos == 0)
    ps_rng_permutation (&m->rng, m->perm, m->n_train);
  guint start = pos * m->batch;
  *B = (int) MIN ((guint) m->batch, m->n_train - start);
  const guint d = m->data->d;
  for (int b = 0; b < *B; b++)
    {
      guint row = m->train_idx[m->perm[start + b]];
      memcpy (m->xb + (gsize) b * d, m->data->x + (gsize) row * d, d * sizeof (float));
      m->yb[b] = m->data->y[row];
    }
}

/* One reparameterised draw of the prototypes into m->protos (m->eps). */
static void
draw_protos (PsPpsModel *m)
{
  const gsize KD = (gsize) m->K * m->D;
  ps_rng_fill_normal (&m->rng, m->eps, KD, 0.0f, 1.0f);
  ps_pps_sample (m->protos, m->mu, m->lv, m->eps, KD);
}

/* Warm-up and joint: CE + cluster + separation on one draw, + KL. */
static float
train_step (PsPpsModel *m, gboolean joint, PsStepInfo *info)
{
  int B;
  gather_batch (m, m->step, &B);
  draw_protos (m);
  ps_model_set_training (m->net, TRUE);
  feat_forward (m, m->xb, B);
  const int K = m->K, C = m->C, D = m->D;
  const gsize KD = (gsize) K * D;
  ps_ppn_forward (m->sim, m->mind, m->argmin, m->feat, m->protos, B, K, D, m->HW, PS_PPN_EPS);
  ps_ppn_last_forward (m->logits, m->sim, m->last, B, K, C);
  float loss = ps_softmax_xent (m->dlogits, m->probs, m->logits, m->yb, B, C, 0.0f);
  memset (m->dsim, 0, (gsize) B * K * sizeof (float));
  memset (m->dmind, 0, (gsize) B * K * sizeof (float));
  memset (m->dlast, 0, (gsize) C * K * sizeof (float));
  memset (m->dpp, 0, 2 * KD * sizeof (float));
  ps_ppn_last_backward (m->dsim, joint ? m->dlast : NULL, m->dlogits, m->sim, m->last, B, K, C);
  ps_ppn_sim_backward (m->dmind, m->dsim, m->mind, B * K, PS_PPN_EPS);
  float clst = 0, sep = 0;
  ps_ppn_cluster_sep (m->dmind, &clst, &sep, m->mind, m->yb, m->pclass, NULL, 0, B, K,
                      m->w_clst, m->w_sep);
  loss += m->w_clst * clst - m->w_sep * sep;
  memset (m->dfeat, 0, (gsize) B * D * m->HW * sizeof (float));
  /* dprotos goes into the first half of dpp, then moves through the draw. */
  g_autofree float *dprotos = g_new0 (float, KD);
  ps_ppn_backward (m->dfeat, dprotos, m->dmind, m->feat, m->protos, m->argmin, B, K, D, m->HW);
  ps_pps_sample_backward (m->dpp, m->dpp + KD, dprotos, m->lv, m->eps, KD);
  float kl = ps_pps_kl (m->dpp, m->dpp + KD, m->mu, m->lv, KD, m->prior_mean, m->prior_std,
                        m->kl / (float) m->n_train);
  loss += kl;
  gsize nf = (gsize) B * D * m->HW;
  for (gsize i = 0; i < nf; i++)
    m->dfeat[i] *= m->feat[i] * (1.0f - m->feat[i]);
  ps_model_zero_grad (m->net);
  ps_model_backward (m->net, m->dfeat, PS_BACKWARD_PARAMS);
  if (!isfinite (loss))
    return loss;
  ps_model_step (m->net);
  ps_optim_step (m->opt_pp, m->pp, m->dpp);
  for (gsize i = 0; i < KD; i++)
    m->lv[i] = CLAMP (m->lv[i], m->lv_min, m->lv_max);
  if (joint)
    ps_optim_step (m->opt_last, m->last, m->dlast);
  if (info->metrics)
    {
      ps_metrics_set (info->metrics, "cluster_cost", clst);
      ps_metrics_set (info->metrics, "separation_cost", sep);
      ps_metrics_set (info->metrics, "kl", kl);
    }
  return loss;
}

/* Push pass: chunk c of the training images; moves the means. */
static void
push_step (PsPpsModel *m, guint c)
{
  if (!m->push_active)
    {
      ps_ppn_push_init (&m->push, m->K, m->D);
      m->push_active = TRUE;
    }
  guint start = c * PPS_CHUNK;
  int B = (int) MIN ((guint) PPS_CHUNK, m->n_train - start);
  const guint d = m->data->d;
  for (int b = 0; b < B; b++)
    {
      guint row = m->train_idx[start + b];
      memcpy (m->xb + (gsize) b * d, m->data->x + (gsize) row * d, d * sizeof (float));
      m->yb[b] = m->data->y[row];
    }
  ps_model_set_training (m->net, FALSE);
  feat_forward (m, m->xb, B);
  ps_ppn_push_update (&m->push, m->feat, m->mu, m->train_idx + start, m->yb, m->pclass, B,
                      m->HW);
  if (c + 1 == m->push_chunks)
    {
      ps_ppn_push_finish (&m->push, m->mu, m->src_row, m->src_pos);
      m->push_active = FALSE;
    }
}

/* Cache pass: similarities and min distances of the training rows to the
 * pushed means (for top-k, purity and the global "because"). */
static void
cache_step (PsPpsModel *m, guint c)
{
  if (m->cache_sim == NULL)
    {
      m->cache_sim = g_new (float, (gsize) m->n_train * m->K);
      m->cache_mind = g_new (float, (gsize) m->n_train * m->K);
    }
  guint start = c * PPS_CHUNK;
  int B = (int) MIN ((guint) PPS_CHUNK, m->n_train - start);
  const guint d = m->data->d;
  for (int b = 0; b < B; b++)
    memcpy (m->xb + (gsize) b * d, m->data->x + (gsize) m->train_idx[start + b] * d,
            d * sizeof (float));
  ps_model_set_training (m->net, FALSE);
  feat_forward (m, m->xb, B);
  ps_ppn_forward (m->cache_sim + (gsize) start * m->K, m->cache_mind + (gsize) start * m->K,
                  m->argmin, m->feat, m->mu, B, m->K, m->D, m->HW, PS_PPN_EPS);
  if (c + 1 == m->cache_chunks)
    m->acc_push = pps_test_acc (m);
}

/* Last-layer fine-tuning on a fresh prototype draw, frozen backbone. */
static float
last_step (PsPpsModel *m)
{
  if (m->opt_ft == NULL)
    {
      PsOptimConfig cfg;
      ps_optim_config_init (&cfg, PS_OPTIM_ADAM, m->lr_last_ft);
      m->opt_ft = ps_optim_new (&cfg, (gsize) m->C * m->K);
    }
  int B;
  gather_batch (m, m->step - m->s_cache, &B);
  draw_protos (m);
  ps_model_set_training (m->net, FALSE);
  feat_forward (m, m->xb, B);
  const int K = m->K, C = m->C;
  ps_ppn_forward (m->sim, m->mind, m->argmin, m->feat, m->protos, B, K, m->D, m->HW, PS_PPN_EPS);
  ps_ppn_last_forward (m->logits, m->sim, m->last, B, K, C);
  float loss = ps_softmax_xent (m->dlogits, m->probs, m->logits, m->yb, B, C, 0.0f);
  memset (m->dlast, 0, (gsize) C * K * sizeof (float));
  ps_ppn_last_backward (NULL, m->dlast, m->dlogits, m->sim, m->last, B, K, C);
  loss += ps_ppn_last_l1 (m->dlast, m->last, m->pclass, K, C, m->l1);
  if (isfinite (loss))
    ps_optim_step (m->opt_ft, m->last, m->dlast);
  return loss;
}

static gboolean
pps_step (gpointer p, PsStepInfo *info, GError **error)
{
  PsPpsModel *m = p;
  float loss = 0.0f;
  if (m->step >= m->total)
    {
      info->done = TRUE;
      info->loss = 0.0;
      return TRUE;
    }
  if (m->step < m->s_joint)
    loss = train_step (m, m->step >= m->s_warm, info);
  else if (m->step < m->s_push)
    push_step (m, (guint) (m->step - m->s_joint));
  else if (m->step < m->s_cache)
    cache_step (m, (guint) (m->step - m->s_push));
  else
    loss = last_step (m);
  m->step++;
  if (m->step == m->s_joint)
    m->acc_joint = pps_test_acc (m);
  if (m->step == m->total)
    m->acc_final = pps_test_acc (m);
  info->loss = loss;
  info->done = m->step >= m->total;
  (void) error;
  return TRUE;
}

/* ---- Checkpoints ------------------------------------------------------------ */

static GBytes *
pps_save (gpointer p)
{
  PsPpsModel *m = p;
  const gsize KD = (gsize) m->K * m->D;
  g_autoptr (GBytes) net = ps_model_save (m->net);
  PsBlobWriter w;
  ps_blob_writer_init (&w, PPS_MAGIC);
  ps_blob_put_u64 (&w, m->step);
  ps_blob_put_rng (&w, &m->rng);
  ps_blob_put_u32 (&w, m->n_train);
  ps_blob_put_u32 (&w, (guint32) m->K);
  ps_blob_put_u32 (&w, (guint32) m->D);
  ps_blob_put_u32 (&w, (guint32) m->S);
  ps_blob_put (&w, m->perm, m->n_train * sizeof (guint));
  ps_blob_put_bytes (&w, net);
  ps_blob_put (&w, m->pp, 2 * KD * sizeof (float));
  ps_blob_put (&w, m->pred_eps, (gsize) m->S * KD * sizeof (float));
  ps_blob_put (&w, m->last, (gsize) m->C * m->K * sizeof (float));
  ps_blob_put_optim (&w, m->opt_pp);
  ps_blob_put_optim (&w, m->opt_last);
  ps_blob_put_optim (&w, m->opt_ft);
  ps_blob_put (&w, m->src_row, m->K * sizeof (int));
  ps_blob_put (&w, m->src_pos, m->K * sizeof (int));
  ps_blob_put_u32 (&w, m->push_active);
  if (m->push_active)
    {
      ps_blob_put (&w, m->push.best_dist, m->K * sizeof (float));
      ps_blob_put (&w, m->push.best_row, m->K * sizeof (int));
      ps_blob_put (&w, m->push.best_pos, m->K * sizeof (int));
      ps_blob_put (&w, m->push.best_feat, KD * sizeof (float));
    }
  ps_blob_put_u32 (&w, m->cache_sim != NULL);
  if (m->cache_sim != NULL)
    {
      gsize n = (gsize) m->n_train * m->K;
      ps_blob_put (&w, m->cache_sim, n * sizeof (float));
      ps_blob_put (&w, m->cache_mind, n * sizeof (float));
    }
  ps_blob_put_f64 (&w, m->acc_joint);
  ps_blob_put_f64 (&w, m->acc_push);
  ps_blob_put_f64 (&w, m->acc_final);
  return ps_blob_writer_finish (&w);
}

static gboolean
pps_load (gpointer p, GBytes *blob, GError **error)
{
  PsPpsModel *m = p;
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, PPS_MAGIC, "probpsenn checkpoint", error))
    return FALSE;
  guint64 step;
  guint32 n_train, K, D, S, flag;
  PsRng rng;
  if (!ps_blob_get_u64 (&r, &step, error) || !ps_blob_get_rng (&r, &rng, error)
      || !ps_blob_get_u32 (&r, &n_train, error) || !ps_blob_get_u32 (&r, &K, error)
      || !ps_blob_get_u32 (&r, &D, error) || !ps_blob_get_u32 (&r, &S, error))
    return FALSE;
  if (n_train != m->n_train || (int) K != m->K || (int) D != m->D || (int) S != m->S)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                   "probpsenn checkpoint: made for %u training samples, %u prototypes of depth "
                   "%u, %u draws; this run has %u, %d, %d, %d", n_train, K, D, S, m->n_train,
                   m->K, m->D, m->S);
      return FALSE;
    }
  const gsize KD = (gsize) K * D;
  g_autoptr (GBytes) net = NULL;
  if (!ps_blob_get (&r, m->perm, n_train * sizeof (guint), error)
      || !(net = ps_blob_get_bytes (&r, error)) || !ps_model_load_into (m->net, net, error)
      || !ps_blob_get (&r, m->pp, 2 * KD * sizeof (float), error)
      || !ps_blob_get (&r, m->pred_eps, (gsize) S * KD * sizeof (float), error)
      || !ps_blob_get (&r, m->last, (gsize) m->C * K * sizeof (float), error)
      || !ps_blob_get_optim (&r, &m->opt_pp, 2 * KD, 1e-3f, error)
      || !ps_blob_get_optim (&r, &m->opt_last, (gsize) m->C * K, 1e-3f, error)
      || !ps_blob_get_optim (&r, &m->opt_ft, (gsize) m->C * K, m->lr_last_ft, error)
      || !ps_blob_get (&r, m->src_row, K * sizeof (int), error)
      || !ps_blob_get (&r, m->src_pos, K * sizeof (int), error)
      || !ps_blob_get_u32 (&r, &flag, error))
    return FALSE;
  ps_ppn_push_clear (&m->push);
  m->push_active = flag != 0;
  if (m->push_active)
    {
      ps_ppn_push_init (&m->push, m->K, m->D);
      if (!ps_blob_get (&r, m->push.best_dist, K * sizeof (float), error)
          || !ps_blob_get (&r, m->push.best_row, K * sizeof (int), error)
          || !ps_blob_get (&r, m->push.best_pos, K * sizeof (int), error)
          || !ps_blob_get (&r, m->push.best_feat, KD * sizeof (float), error))
        return FALSE;
    }
  if (!ps_blob_get_u32 (&r, &flag, error))
    return FALSE;
  g_clear_pointer (&m->cache_sim, g_free);
  g_clear_pointer (&m->cache_mind, g_free);
  if (flag)
    {
      gsize n = (gsize) m->n_train * m->K;
      m->cache_sim = g_new (float, n);
      m->cache_mind = g_new (float, n);
      if (!ps_blob_get (&r, m->cache_sim, n * sizeof (float), error)
          || !ps_blob_get (&r, m->cache_mind, n * sizeof (float), error))
        return FALSE;
    }
  if (!ps_blob_get_f64 (&r, &m->acc_joint, error) || !ps_blob_get_f64 (&r, &m->acc_push, error)
      || !ps_blob_get_f64 (&r, &m->acc_final, error))
    return FALSE;
  m->step = step;
  m->rng = rng;
  return TRUE;
}

/* ---- The method ------------------------------------------------------------ */

static const PsParamSpec pps_params[] = {
  { "backbone", PS_PARAM_STRING, 0, 0, 0, "auto",
    "Backbone spec ending in a feature map; auto as for protopnet" },
  { "protos_per_class", PS_PARAM_INT, 3, 1, 50, NULL, "Prototypes (distributions) per class" },
  { "warm_epochs", PS_PARAM_INT, 2, 0, 1000, NULL, "Warm-up epochs (last layer fixed)" },
  { "joint_epochs", PS_PARAM_INT, 8, 0, 1000, NULL, "Joint training epochs" },
  { "last_epochs", PS_PARAM_INT, 5, 0, 1000, NULL, "Last-layer fine-tuning epochs after push" },
  { "batch_size", PS_PARAM_INT, 64, 1, 4096, NULL, "Samples per step" },
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate of the backbone and last layer", TRUE },
  { "lr_protos", PS_PARAM_FLOAT, 3e-3, 1e-6, 1.0, NULL,
    "Learning rate of the prototype means and log-variances", TRUE },
  { "lr_last", PS_PARAM_FLOAT, 1e-2, 1e-6, 1.0, NULL, "Learning rate of last-layer fine-tuning", TRUE },
  { "cluster", PS_PARAM_FLOAT, 0.8, 0, 10, NULL, "Weight of the cluster cost" },
  { "separation", PS_PARAM_FLOAT, 0.08, 0, 10, NULL, "Weight of the separation cost" },
  { "l1", PS_PARAM_FLOAT, 1e-4, 0, 1, NULL, "L1 on wrong-class last-layer weights (fine-tuning)" },
  { "init_std", PS_PARAM_FLOAT, 0.05, 1e-3, 1.0, NULL, "Initial standard deviation of every prototype", TRUE },
  { "prior_std", PS_PARAM_FLOAT, 0.25, 1e-3, 10.0, NULL,
    "Standard deviation of the prior N(0.5, prior_std^2) on every prototype coordinate", TRUE },
  { "kl", PS_PARAM_FLOAT, 1.0, 0, 1000, NULL,
    "Weight beta of the KL term (beta * KL / training samples, the ELBO's share at 1)" },
  { "samples", PS_PARAM_INT, 16, 1, 256, NULL, "Prototype draws S at prediction time" },
  { "threshold", PS_PARAM_FLOAT, 0.5, 0, 1, NULL,
    "Predictions whose entropy / log C exceeds this are flagged uncertain" },
  { "far_ood", PS_PARAM_CHOICE, 0, 0, 0, "auto|fashion|digits|noise",
    "Far out-of-distribution images for the uncertainty AUROC: auto is Fashion-MNIST (8x8) for "
    "the digits and the digits (upsampled) for 28x28 images" },
  { "max_train", PS_PARAM_INT, 0, 0, 10000000, NULL, "Use at most this many training samples (0: all)" },
};

const PsMethod ps_method_probpsenn = {
  .id = "probpsenn",
  .title = "Prob-PSENN (probabilistic prototypes)",
  .family = "Interpretability",
  .paper = "Vadillo et al., Uncertainty-Aware Explanations Through Probabilistic "
           "Self-Explainable Neural Networks, 2024",
  .summary = "ProtoPNet whose prototypes are diagonal Gaussians in the feature space: training "
             "draws one prototype set per step by reparameterisation and adds a KL term to a "
             "N(0.5, prior_std^2) prior (weighted as in the ELBO); push moves the means onto "
             "training patches. Prediction draws S prototype sets and averages the class "
             "probabilities; the entropy of that mean (predictive uncertainty), the mutual "
             "information and the spread of each prototype's similarity across draws "
             "(explanation uncertainty) are reported, high entropy flags a prediction, and an "
             "AUROC measures how well the uncertainty separates test from far-OOD images. The "
             "small version drops the autoencoder decoder.",
  .key_metric = "test_acc",
  .params = pps_params,
  .n_params = G_N_ELEMENTS (pps_params),
  .create = pps_create,
  .free = pps_free,
  .total_steps = pps_total_steps,
  .step = pps_step,
  .evaluate = pps_evaluate,
  .snapshot = pps_snapshot,
  .explain = pps_explain,
  .save = pps_save,
  .load = pps_load,
};
