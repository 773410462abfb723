/* ps-method-protopnet.c: ProtoPNet ("this looks like that") on images, and
 * the training engine the ST-ProtoPNet variant shares: create, the stage
 * schedule and the training steps (evaluation, snapshot and explanation
 * are in ps-method-protopnet-view.c, checkpoints in -io.c).
 *
 * The small version: a CNN backbone from a spec string, a sigmoid add-on
 * (as ProtoPNet's add-on ends), M prototypes per class as 1x1 patches, the
 * log-similarity activation, max-pooling, a bias-free last layer.  The step
 * schedule runs: pre-training (the backbone as a plain classifier with a
 * max-pool and linear head, standing in for the paper's ImageNet
 * pretraining; afterwards each prototype starts as a random training patch
 * of its class), warm-up (backbone and prototypes, the last layer held at
 * its 1 / -0.5 initialisation), joint (everything; all rates follow a
 * cosine to 5 % by the end of joint training), push (two passes over the
 * training images: find each prototype's nearest patch of its class, then
 * cache the similarities of the frozen network) and last-layer fine-tuning
 * with L1 on the wrong-class connections, done on the cached similarities
 * since nothing before the last layer changes.  Dropped: the repeated
 * push/fine-tune cycles.
 */
#define G_LOG_DOMAIN "ps-protopnet"

#include "ps-method-protopnet-private.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <string.h>

/* ---- Accessors ------------------------------------------------------- */

PsModel *ps_ppn_model_backbone (PsPpnModel *m) { return m->net; }
int ps_ppn_model_n_protos (PsPpnModel *m) { return m->K; }
int ps_ppn_model_depth (PsPpnModel *m) { return m->D; }
void ps_ppn_model_map_size (PsPpnModel *m, int *h, int *w) { *h = m->fh; *w = m->fw; }
float *ps_ppn_model_protos (PsPpnModel *m) { return m->protos; }
const int *ps_ppn_model_proto_class (PsPpnModel *m) { return m->pclass; }
const float *ps_ppn_model_last (PsPpnModel *m) { return m->last; }
const int *ps_ppn_model_proto_kind (PsPpnModel *m) { return m->pkind; }
const int *ps_ppn_model_push_row (PsPpnModel *m) { return m->src_row; }
const int *ps_ppn_model_push_pos (PsPpnModel *m) { return m->src_pos; }

const char *
ps_ppn_model_stage (PsPpnModel *m, guint64 step)
{
  if (step < m->s_pre)
    return "pretrain";
  if (step < m->s_warm)
    return "warmup";
  if (step >= m->s_mid && step < m->s_mid_end)
    return "push";
  if (step < m->s_joint)
    return "joint";
  if (step < m->s_cache)
    return "push";
  return "last";
}

/* ---- Create / free ----------------------------------------------------- */

void
ps_ppn_grow (PsPpnModel *m, int B)
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

void
ps_ppn_method_free (gpointer p)
{
  PsPpnModel *m = p;
  if (m == NULL)
    return;
  ps_model_free (m->net);
  if (m->head)
    ps_model_free (m->head);
  ps_dataset_unref (m->data);
  g_free (m->protos);
  g_free (m->pclass);
  g_free (m->pruned);
  g_free (m->pkind);
  g_free (m->last);
  g_free (m->dprotos);
  g_free (m->dlast);
  if (m->opt_protos)
    ps_optim_free (m->opt_protos);
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
  g_free (m->cache_sim);
  g_free (m->cache_mind);
  g_free (m);
}

static void
cosine (PsOptimConfig *cfg, guint64 steps)
{
  if (steps == 0)
    return;
  cfg->sched.kind = PS_SCHED_COSINE;
  cfg->sched.total_steps = (int) MIN (steps, (guint64) G_MAXINT);
  cfg->sched.min_lr = 0.05f * cfg->sched.lr;
}

static PsOptim *new_opt_ft (PsPpnModel *m);

static char *
auto_backbone (PsDataset *ds)
{
  if (ds->img_h >= 28)
    return g_strdup_printf ("%ux%ux%u:c16k3p1r-m2-c32k3p1r-m2-c64k3p1r-c64k3p1r-c64k1r-c64k1",
                            ds->img_c, ds->img_h, ds->img_w);
  return g_strdup_printf ("%ux%ux%u:c16k3p1r-m2-c32k3p1r-c16k1",
                          ds->img_c, ds->img_h, ds->img_w);
}

gpointer
ps_ppn_method_create (const PsMethod *method, const PsParams *params, PsDataset *data,
                      guint64 seed, gboolean st, GError **error)
{
  if (data->img_h == 0 || data->img_w == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                   "%s: a part-prototype network needs image data (digits, Fashion-MNIST)",
                   data->name);
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

  PsPpnModel *m = g_new0 (PsPpnModel, 1);
  m->data = ps_dataset_ref (data);
  m->st = st;
  m->net = g_steal_pointer (&net);
  m->feat_layer = ps_model_n_layers (m->net) - 1;
  m->D = lastl->out_c;
  m->fh = lastl->out_h;
  m->fw = lastl->out_w;
  m->HW = m->fh * m->fw;
  m->C = (int) data->n_classes;
  m->per_class = (int) ps_params_get_int (params, "protos_per_class");
  m->support = st ? (int) ps_params_get_int (params, "support_per_class") : 0;
  m->K = m->C * (m->per_class + m->support);
  m->w_clst = (float) ps_params_get_float (params, "cluster");
  m->w_sep = (float) ps_params_get_float (params, "separation");
  m->l1 = (float) ps_params_get_float (params, "l1");
  m->w_st = st ? (float) ps_params_get_float (params, "st_weight") : 0.0f;
  m->alternate = st && ps_params_get_bool (params, "alternate");
  m->lr_last_ft = (float) ps_params_get_float (params, "lr_last");
  m->acc_pre = m->acc_joint = m->acc_push = m->acc_final = NAN;

  ps_rng_init (&m->rng, seed, 1);
  PsRng init_rng;
  ps_rng_init (&init_rng, seed, 2);
  ps_model_init (m->net, &init_rng);

  m->protos = g_new (float, (gsize) m->K * m->D);
  m->pclass = g_new (int, m->K);
  m->pruned = g_new0 (int, m->K);
  m->prune_k = (int) ps_params_get_int (params, "prune_k");
  m->prune_min = (int) ps_params_get_int (params, "prune_min");
  m->pkind = g_new (int, m->K);
  /* Prototypes are laid out class-major within each bank: the plain (or
   * trivial) bank first, then the support bank. */
  for (int k = 0; k < m->K; k++)
    {
      int bank0 = m->C * m->per_class;
      if (k < bank0)
        {
          m->pclass[k] = k / m->per_class;
          m->pkind[k] = PS_PPN_KIND_PLAIN;
        }
      else
        {
          m->pclass[k] = (k - bank0) / m->support;
          m->pkind[k] = PS_PPN_KIND_SUPPORT;
        }
    }
  /* ProtoPNet starts prototypes uniform in [0, 1], the range of the
   * sigmoid features. */
  ps_rng_fill_uniform (&init_rng, m->protos, (gsize) m->K * m->D, 0.0f, 1.0f);
  m->last = g_new (float, (gsize) m->C * m->K);
  ps_ppn_last_init (m->last, m->pclass, m->K, m->C, -0.5f);
  m->dprotos = g_new0 (float, (gsize) m->K * m->D);
  m->dlast = g_new0 (float, (gsize) m->C * m->K);
  m->src_row = g_new (int, m->K);
  m->src_pos = g_new (int, m->K);
  for (int k = 0; k < m->K; k++)
    m->src_row[k] = m->src_pos[k] = -1;

  m->train_idx = ps_split_indices (data, PS_SPLIT_TRAIN, TRUE, &m->n_train);
  guint max_train = (guint) ps_params_get_int (params, "max_train");
  if (max_train > 0 && max_train < m->n_train)
    {
      /* The same seeded subset for every run seed, so runs stay comparable. */
      PsRng sub;
      ps_rng_init (&sub, 0, 99);
      ps_rng_shuffle (&sub, m->train_idx, m->n_train);
      m->n_train = max_train;
    }
  if (m->n_train == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s has no labelled training samples",
                   data->name);
      ps_ppn_method_free (m);
      return NULL;
    }
  PsSplit eval_split = ps_dataset_count_split (data, PS_SPLIT_TEST) > 0 ? PS_SPLIT_TEST : PS_SPLIT_VAL;
  ps_eval_set_init (&m->test, data, eval_split);

  m->batch = (int) MIN ((gint64) m->n_train, ps_params_get_int (params, "batch_size"));
  m->steps_per_epoch = (m->n_train + m->batch - 1) / m->batch;
  m->push_chunks = (m->n_train + PPN_CHUNK - 1) / PPN_CHUNK;
  m->cache_chunks = (m->n_train + m->test.n + PPN_CHUNK - 1) / PPN_CHUNK;
  /* -1: by image size.  28x28 images want a longer backbone pre-training
   * and a shorter joint stage ending in two epochs after a mid push
   * (docs/RESULTS.md, Fashion-MNIST run H); the 8x8 digits a short
   * pre-training, a longer joint stage and no mid push. */
  gboolean large = data->img_h * data->img_w >= 16 * 16;
  gint64 pre = ps_params_get_int (params, "pre_epochs");
  gint64 joint = ps_params_get_int (params, "joint_epochs");
  if (pre < 0)
    pre = large ? PPN_PRE_EPOCHS_LARGE : PPN_PRE_EPOCHS_SMALL;
  if (joint < 0)
    joint = large ? PPN_JOINT_EPOCHS_LARGE : PPN_JOINT_EPOCHS_SMALL;
  m->s_pre = (guint64) m->steps_per_epoch * pre;
  m->s_warm = m->s_pre + (guint64) m->steps_per_epoch * ps_params_get_int (params, "warm_epochs");
  /* A mid push sits `mid` epochs before the end of joint training. */
  gint64 mid = ps_params_get_int (params, "mid_push");
  if (mid < 0)
    mid = large ? PPN_MID_PUSH_LARGE : PPN_MID_PUSH_SMALL;
  mid = MIN (mid, joint);
  m->s_mid = m->s_warm + (guint64) m->steps_per_epoch * (joint - mid);
  m->s_mid_end = m->s_mid + (mid > 0 ? m->push_chunks : 0);
  m->s_joint = m->s_mid_end + (guint64) m->steps_per_epoch * mid;
  const guint64 mid_chunks = m->s_mid_end - m->s_mid;
  m->s_push = m->s_joint + m->push_chunks;
  m->s_cache = m->s_push + m->cache_chunks;
  m->total = m->s_cache + (guint64) m->steps_per_epoch * ps_params_get_int (params, "last_epochs");
  m->perm = g_new (guint, m->n_train);
  ps_ppn_grow (m, MAX (m->batch, PPN_CHUNK));
  /* Made now, so that a checkpoint restores it with its schedule. */
  m->opt_ft = new_opt_ft (m);

  /* Every rate of the training stages follows a cosine from its base rate
   * down to 5 % of it at the end of joint training, counted in the steps
   * each optimizer takes (the backbone from the first pre-training step,
   * the prototypes from warm-up, the last layer in joint training). */
  const float lr = (float) ps_params_get_float (params, "lr");
  const float lr_p = (float) ps_params_get_float (params, "lr_protos");
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, lr);
  cosine (&cfg, m->s_joint - mid_chunks);
  ps_model_set_optimizer (m->net, &cfg);
  if (m->s_pre > 0)
    {
      /* Pre-training: the backbone learns as a plain classifier, with a
       * max-pool over the feature map and a linear layer as its head. */
      g_autofree char *hs = m->fh == m->fw
                            ? g_strdup_printf ("%dx%dx%d:m%d-%d", m->D, m->fh, m->fw, m->fh, m->C)
                            : g_strdup_printf ("%dx%dx%d:f-%d", m->D, m->fh, m->fw, m->C);
      m->head = ps_model_new (hs, error);
      if (m->head == NULL)
        {
          ps_ppn_method_free (m);
          return NULL;
        }
      ps_model_init (m->head, &init_rng);
      ps_optim_config_init (&cfg, PS_OPTIM_ADAM, lr);
      ps_model_set_optimizer (m->head, &cfg);
    }
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, lr_p);
  cosine (&cfg, m->s_mid - m->s_pre);
  m->opt_protos = ps_optim_new (&cfg, (gsize) m->K * m->D);
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, lr);
  cosine (&cfg, m->s_joint - m->s_warm - mid_chunks);
  m->opt_last = ps_optim_new (&cfg, (gsize) m->C * m->K);
  (void) method;
  return m;
}

guint64
ps_ppn_method_total_steps (gpointer p)
{
  return ((PsPpnModel *) p)->total;
}

/* ---- Forward ----------------------------------------------------------- */

/* Backbone and sigmoid add-on: m->feat[B, D, HW]. */
void
ps_ppn_features (PsPpnModel *m, const float *x, int B)
{
  ps_ppn_grow (m, B);
  const float *out = ps_model_forward (m->net, x, B);
  ps_sigmoid_forward (m->feat, out, (gsize) B * m->D * m->HW);
}

void
ps_ppn_model_infer (PsPpnModel *m, const float *x, int B, float *feat, float *sim, float *logits)
{
  gboolean was = ps_model_get_training (m->net);
  ps_model_set_training (m->net, FALSE);
  for (int s = 0; s < B; s += PPN_CHUNK)
    {
      int n = MIN (PPN_CHUNK, B - s);
      ps_ppn_features (m, x + (gsize) s * m->data->d, n);
      ps_ppn_forward (m->sim, m->mind, m->argmin, m->feat, m->protos, n, m->K, m->D, m->HW,
                      PS_PPN_EPS);
      if (feat)
        memcpy (feat + (gsize) s * m->D * m->HW, m->feat, (gsize) n * m->D * m->HW * sizeof (float));
      if (sim)
        memcpy (sim + (gsize) s * m->K, m->sim, (gsize) n * m->K * sizeof (float));
      if (logits)
        ps_ppn_last_forward (logits + (gsize) s * m->C, m->sim, m->last, n, m->K, m->C);
    }
  ps_model_set_training (m->net, was);
}

int
ps_ppn_argmax (const float *v, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

/* Accuracy of the current last layer on cached or freshly computed
 * similarities of the evaluation set. */
double
ps_ppn_test_acc_bank (PsPpnModel *m, int kind)
{
  if (m->test.n == 0)
    return NAN;
  const int K = m->K;
  g_autofree float *logits = g_new (float, (gsize) m->test.n * m->C);
  g_autofree float *sim = g_new (float, (gsize) m->test.n * K);
  if (m->cache_sim != NULL)
    memcpy (sim, m->cache_sim + (gsize) m->n_train * K, (gsize) m->test.n * K * sizeof (float));
  else
    ps_ppn_model_infer (m, m->test.x, m->test.n, NULL, sim, NULL);
  if (kind >= 0)
    for (guint i = 0; i < m->test.n; i++)
      for (int k = 0; k < K; k++)
        if (m->pkind[k] != kind)
          sim[(gsize) i * K + k] = 0.0f;
  ps_ppn_last_forward (logits, sim, m->last, m->test.n, K, m->C);
  guint ok = 0;
  for (guint i = 0; i < m->test.n; i++)
    ok += ps_ppn_argmax (logits + (gsize) i * m->C, m->C) == m->test.y[i];
  return (double) ok / m->test.n;
}

double
ps_ppn_test_acc (PsPpnModel *m)
{
  return ps_ppn_test_acc_bank (m, -1);
}

/* ---- Training steps --------------------------------------------------- */

static void
gather_batch (PsPpnModel *m, guint64 step, int *B)
{
  guint pos = (guint) (step % m->steps_per_epoch);
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

/* Pre-training: the backbone and the head as a plain classifier. */
static float
pretrain_step (PsPpnModel *m)
{
  int B;
  gather_batch (m, m->step, &B);
  ps_model_set_training (m->net, TRUE);
  ps_model_set_training (m->head, TRUE);
  ps_ppn_features (m, m->xb, B);
  const float *logits = ps_model_forward (m->head, m->feat, B);
  memset (m->dlogits, 0, (gsize) B * m->C * sizeof (float));
  float loss = ps_softmax_xent (m->dlogits, m->probs, logits, m->yb, B, m->C, 0.0f);
  ps_model_zero_grad (m->head);
  ps_model_backward (m->head, m->dlogits, PS_BACKWARD_ALL);
  const float *dx = ps_model_input_grad (m->head);
  gsize nf = (gsize) B * m->D * m->HW;
  for (gsize i = 0; i < nf; i++)
    m->dfeat[i] = dx[i] * m->feat[i] * (1.0f - m->feat[i]);
  ps_model_zero_grad (m->net);
  ps_model_backward (m->net, m->dfeat, PS_BACKWARD_PARAMS);
  if (isfinite (loss))
    {
      ps_model_step (m->net);
      ps_model_step (m->head);
    }
  return loss;
}

/* Test accuracy of the pre-trained backbone with its classifier head. */
static double
head_test_acc (PsPpnModel *m)
{
  if (m->test.n == 0)
    return NAN;
  ps_model_set_training (m->net, FALSE);
  ps_model_set_training (m->head, FALSE);
  guint ok = 0;
  for (guint s = 0; s < m->test.n; s += PPN_CHUNK)
    {
      int n = (int) MIN ((guint) PPN_CHUNK, m->test.n - s);
      ps_ppn_features (m, m->test.x + (gsize) s * m->data->d, n);
      const float *lg = ps_model_forward (m->head, m->feat, n);
      for (int b = 0; b < n; b++)
        ok += ps_ppn_argmax (lg + (gsize) b * m->C, m->C) == m->test.y[s + b];
    }
  return (double) ok / m->test.n;
}

/* After pre-training, each prototype starts as a patch of a random
 * training image of its class (the uniform start would sit far from every
 * learnt feature). */
static void
seed_protos_from_patches (PsPpnModel *m)
{
  const int K = m->K, D = m->D, HW = m->HW;
  const guint d = m->data->d;
  ps_ppn_grow (m, K);
  g_autofree guint *rows = g_new (guint, K);
  for (int k = 0; k < K; k++)
    {
      guint row = m->train_idx[ps_rng_below (&m->rng, m->n_train)];
      /* Rejection sampling: a class with no training image keeps its row. */
      for (int tries = 0; tries < 1000 && m->data->y[row] != m->pclass[k]; tries++)
        row = m->train_idx[ps_rng_below (&m->rng, m->n_train)];
      rows[k] = row;
    }
  g_autofree float *x = g_new (float, (gsize) K * d);
  for (int k = 0; k < K; k++)
    memcpy (x + (gsize) k * d, m->data->x + (gsize) rows[k] * d, d * sizeof (float));
  ps_model_set_training (m->net, FALSE);
  ps_ppn_features (m, x, K);
  for (int k = 0; k < K; k++)
    {
      int s = (int) ps_rng_below (&m->rng, (guint32) HW);
      for (int j = 0; j < D; j++)
        m->protos[(gsize) k * D + j] = m->feat[(gsize) k * D * HW + (gsize) j * HW + s];
    }
}

/* Warm-up and joint: CE + cluster + separation (+ the ST bank losses). */
static float
train_step (PsPpnModel *m, gboolean joint, PsStepInfo *info)
{
  int B;
  /* Epochs count training steps only (not a mid push's chunks). */
  guint64 t = m->step >= m->s_mid_end ? m->step - (m->s_mid_end - m->s_mid) : m->step;
  gather_batch (m, t, &B);
  ps_model_set_training (m->net, TRUE);
  ps_ppn_features (m, m->xb, B);
  const int K = m->K, C = m->C;
  /* With alternating banks (ST-ProtoPNet's schedule) a batch trains one
   * bank: the trivial bank on even batches, the support bank on odd ones;
   * the logits are that bank's points alone, so each bank learns to
   * classify by itself and the test logits are the sum of two
   * classifiers on one backbone.  -1: every bank on every batch. */
  int only = m->support > 0 && m->alternate ? (int) (t & 1) : -1;
  ps_ppn_forward (m->sim, m->mind, m->argmin, m->feat, m->protos, B, K, m->D, m->HW, PS_PPN_EPS);
  if (only >= 0)
    for (int b = 0; b < B; b++)
      for (int k = 0; k < K; k++)
        if (m->pkind[k] != only)
          m->sim[(gsize) b * K + k] = 0.0f;
  ps_ppn_last_forward (m->logits, m->sim, m->last, B, K, C);
  memset (m->dlogits, 0, (gsize) B * C * sizeof (float));
  float loss = ps_softmax_xent (m->dlogits, m->probs, m->logits, m->yb, B, C, 0.0f);
  memset (m->dsim, 0, (gsize) B * K * sizeof (float));
  memset (m->dmind, 0, (gsize) B * K * sizeof (float));
  memset (m->dlast, 0, (gsize) C * K * sizeof (float));
  memset (m->dprotos, 0, (gsize) K * m->D * sizeof (float));
  ps_ppn_last_backward (m->dsim, joint ? m->dlast : NULL, m->dlogits, m->sim, m->last, B, K, C);
  if (only >= 0)
    for (int b = 0; b < B; b++)
      for (int k = 0; k < K; k++)
        if (m->pkind[k] != only)
          m->dsim[(gsize) b * K + k] = 0.0f;
  ps_ppn_sim_backward (m->dmind, m->dsim, m->mind, B * K, PS_PPN_EPS);
  float clst = 0, sep = 0;
  int n_banks = m->support > 0 ? 2 : 1;
  for (int bank = 0; bank < n_banks; bank++)
    {
      if (only >= 0 && bank != only)
        continue;
      float c1, s1;
      ps_ppn_cluster_sep (m->dmind, &c1, &s1, m->mind, m->yb, m->pclass,
                          m->support > 0 ? m->pkind : NULL, bank, B, K, m->w_clst, m->w_sep);
      clst += c1;
      sep += s1;
    }
  loss += m->w_clst * clst - m->w_sep * sep;
  if (m->support > 0 && m->w_st > 0)
    {
      if (only != PS_PPN_KIND_SUPPORT)
        loss += ps_ppn_pair_cosine_loss (m->dprotos, m->protos, m->pclass, m->pkind,
                                         PS_PPN_KIND_PLAIN, K, m->D, C, +1.0f, m->w_st);
      if (only != PS_PPN_KIND_PLAIN)
        loss += ps_ppn_pair_cosine_loss (m->dprotos, m->protos, m->pclass, m->pkind,
                                         PS_PPN_KIND_SUPPORT, K, m->D, C, -1.0f, m->w_st);
    }
  memset (m->dfeat, 0, (gsize) B * m->D * m->HW * sizeof (float));
  ps_ppn_backward (m->dfeat, m->dprotos, m->dmind, m->feat, m->protos, m->argmin, B, K, m->D,
                   m->HW);
  /* Through the sigmoid add-on: dz = dfeat * s (1 - s), in place. */
  gsize nf = (gsize) B * m->D * m->HW;
  for (gsize i = 0; i < nf; i++)
    m->dfeat[i] *= m->feat[i] * (1.0f - m->feat[i]);
  ps_model_zero_grad (m->net);
  ps_model_backward (m->net, m->dfeat, PS_BACKWARD_PARAMS);
  if (!isfinite (loss))
    return loss;
  ps_model_step (m->net);
  /* After a mid push the prototypes stay where it put them. */
  if (m->step < m->s_mid)
    ps_optim_step (m->opt_protos, m->protos, m->dprotos);
  if (joint)
    ps_optim_step (m->opt_last, m->last, m->dlast);
  if (info->metrics)
    {
      ps_metrics_set (info->metrics, "cluster_cost", clst);
      ps_metrics_set (info->metrics, "separation_cost", sep);
    }
  return loss;
}

/* Push pass: chunk c of the training images. */
static void
push_step (PsPpnModel *m, guint c)
{
  if (!m->push_active)
    {
      ps_ppn_push_init (&m->push, m->K, m->D);
      m->push_active = TRUE;
    }
  guint start = c * PPN_CHUNK;
  int B = (int) MIN ((guint) PPN_CHUNK, m->n_train - start);
  const guint d = m->data->d;
  for (int b = 0; b < B; b++)
    {
      guint row = m->train_idx[start + b];
      memcpy (m->xb + (gsize) b * d, m->data->x + (gsize) row * d, d * sizeof (float));
      m->yb[b] = m->data->y[row];
    }
  ps_model_set_training (m->net, FALSE);
  ps_ppn_features (m, m->xb, B);
  ps_ppn_push_update (&m->push, m->feat, m->protos, m->train_idx + start, m->yb, m->pclass, B,
                      m->HW);
  if (c + 1 == m->push_chunks)
    {
      ps_ppn_push_finish (&m->push, m->protos, m->src_row, m->src_pos);
      m->push_active = FALSE;
    }
}

/* ProtoPNet's pruning: a prototype whose prune_k nearest training images
 * (by minimum patch distance, from the cache) hold fewer than prune_min
 * of its class is dropped: its similarity column (training and test
 * rows) and its last-layer weights become zero, so last-layer
 * fine-tuning works without it and it adds no points to any logit.  A
 * class keeps at least its purest prototype. */
static void
prune (PsPpnModel *m)
{
  const int K = m->K, T = MIN (m->prune_k, (int) m->n_train);
  if (T <= 0 || m->prune_min <= 0)
    return;
  g_autofree int *top = g_new (int, (gsize) K * T);
  g_autofree int *hits = g_new (int, K);
  ps_ppn_topk_rows (top, m->cache_mind, (int) m->n_train, K, T);
  for (int k = 0; k < K; k++)
    {
      hits[k] = 0;
      for (int t = 0; t < T; t++)
        hits[k] += m->data->y[m->train_idx[top[(gsize) k * T + t]]] == m->pclass[k];
      m->pruned[k] = hits[k] < m->prune_min;
    }
  for (int c = 0; c < m->C; c++)
    {
      int best = -1, kept = 0;
      for (int k = 0; k < K; k++)
        if (m->pclass[k] == c)
          {
            kept += !m->pruned[k];
            if (best < 0 || hits[k] > hits[best])
              best = k;
          }
      if (kept == 0 && best >= 0)
        m->pruned[best] = 0;
    }
  ps_ppn_apply_pruning (m);
}

void
ps_ppn_apply_pruning (PsPpnModel *m)
{
  const int K = m->K;
  const gsize rows = m->cache_sim != NULL ? (gsize) m->n_train + m->test.n : 0;
  for (int k = 0; k < K; k++)
    if (m->pruned[k])
      {
        for (int c = 0; c < m->C; c++)
          m->last[(gsize) c * K + k] = 0.0f;
        for (gsize i = 0; i < rows; i++)
          m->cache_sim[i * K + k] = 0.0f;
      }
}

int
ps_ppn_n_pruned (PsPpnModel *m)
{
  int n = 0;
  for (int k = 0; k < m->K; k++)
    n += m->pruned[k];
  return n;
}

/* Cache pass: similarities and min distances of training then test rows
 * with the pushed prototypes (the network is frozen from here on). */
static void
cache_step (PsPpnModel *m, guint c)
{
  guint total = m->n_train + m->test.n;
  if (m->cache_sim == NULL)
    {
      m->cache_sim = g_new (float, (gsize) total * m->K);
      m->cache_mind = g_new (float, (gsize) total * m->K);
    }
  guint start = c * PPN_CHUNK;
  int B = (int) MIN ((guint) PPN_CHUNK, total - start);
  const guint d = m->data->d;
  for (int b = 0; b < B; b++)
    {
      guint i = start + b;
      const float *src = i < m->n_train ? m->data->x + (gsize) m->train_idx[i] * d
                                        : m->test.x + (gsize) (i - m->n_train) * d;
      memcpy (m->xb + (gsize) b * d, src, d * sizeof (float));
    }
  ps_model_set_training (m->net, FALSE);
  ps_ppn_features (m, m->xb, B);
  ps_ppn_forward (m->cache_sim + (gsize) start * m->K, m->cache_mind + (gsize) start * m->K,
                  m->argmin, m->feat, m->protos, B, m->K, m->D, m->HW, PS_PPN_EPS);
  if (c + 1 == m->cache_chunks)
    {
      m->acc_push = ps_ppn_test_acc (m);
      prune (m);
    }
}

/* The last layer's fine-tuning optimizer: Adam at lr_last with a cosine
 * to 5% over the stage, like every other stage's rates, so that the
 * final weights are not one noisy minibatch step at the full rate. */
static PsOptim *
new_opt_ft (PsPpnModel *m)
{
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, m->lr_last_ft);
  cosine (&cfg, m->total - m->s_cache);
  return ps_optim_new (&cfg, (gsize) m->C * m->K);
}

/* Last-layer fine-tuning on cached similarities. */
static float
last_step (PsPpnModel *m)
{
  if (m->opt_ft == NULL)
    m->opt_ft = new_opt_ft (m);   /* a checkpoint from before the last stage */
  guint64 local = m->step - m->s_cache;
  guint pos = (guint) (local % m->steps_per_epoch);
  if (pos == 0)
    ps_rng_permutation (&m->rng, m->perm, m->n_train);
  guint start = pos * m->batch;
  int B = (int) MIN ((guint) m->batch, m->n_train - start);
  const int K = m->K, C = m->C;
  for (int b = 0; b < B; b++)
    {
      guint i = m->perm[start + b];
      memcpy (m->sim + (gsize) b * K, m->cache_sim + (gsize) i * K, K * sizeof (float));
      m->yb[b] = m->data->y[m->train_idx[i]];
    }
  ps_ppn_last_forward (m->logits, m->sim, m->last, B, K, C);
  memset (m->dlogits, 0, (gsize) B * C * sizeof (float));
  float loss = ps_softmax_xent (m->dlogits, m->probs, m->logits, m->yb, B, C, 0.0f);
  memset (m->dlast, 0, (gsize) C * K * sizeof (float));
  ps_ppn_last_backward (NULL, m->dlast, m->dlogits, m->sim, m->last, B, K, C);
  loss += ps_ppn_last_l1 (m->dlast, m->last, m->pclass, K, C, m->l1);
  if (isfinite (loss))
    {
      ps_optim_step (m->opt_ft, m->last, m->dlast);
      /* Pruned prototypes have zero similarity, so their columns get no
       * gradient but the L1 term's; keep them exactly zero. */
      for (int k = 0; k < K; k++)
        if (m->pruned[k])
          for (int c = 0; c < C; c++)
            m->last[(gsize) c * K + k] = 0.0f;
    }
  return loss;
}

gboolean
ps_ppn_method_step (gpointer p, PsStepInfo *info, GError **error)
{
  PsPpnModel *m = p;
  float loss = 0.0f;
  if (m->step >= m->total)
    {
      info->done = TRUE;
      info->loss = 0.0;
      return TRUE;
    }
  if (m->step < m->s_pre)
    loss = pretrain_step (m);
  else if (m->step >= m->s_mid && m->step < m->s_mid_end)
    push_step (m, (guint) (m->step - m->s_mid));
  else if (m->step < m->s_joint)
    {
      if (m->step == m->s_pre && m->s_pre > 0)
        seed_protos_from_patches (m);
      loss = train_step (m, m->step >= m->s_warm, info);
    }
  else if (m->step < m->s_push)
    push_step (m, (guint) (m->step - m->s_joint));
  else if (m->step < m->s_cache)
    cache_step (m, (guint) (m->step - m->s_push));
  else
    loss = last_step (m);
  m->step++;
  if (m->step == m->s_pre && m->head != NULL)
    m->acc_pre = head_test_acc (m);
  if (m->step == m->s_joint)
    m->acc_joint = ps_ppn_test_acc (m);
  if (m->step == m->total)
    m->acc_final = ps_ppn_test_acc (m);
  info->loss = loss;
  info->done = m->step >= m->total;
  (void) error;
  return TRUE;
}


/* ---- The method ------------------------------------------------------------ */

static const PsParamSpec ppn_params[] = {
  { "backbone", PS_PARAM_STRING, 0, 0, 0, "auto",
    "Backbone spec ending in a feature map, e.g. 1x28x28:c16k3p1r-m2-c32k3p1r-m2-c64k3p1r-c64k3p1r-c64k1r-c64k1 "
    "(two 3x3 convolutions on the 7x7 map widen each cell's receptive field to 26 pixels); "
    "auto picks that for 28x28 images and 1x8x8:c16k3p1r-m2-c32k3p1r-c16k1 for the digits" },
  { "protos_per_class", PS_PARAM_INT, 3, 1, 50, NULL, "Prototypes per class" },
  PS_PPN_STAGE_PARAMS,
  { "cluster", PS_PARAM_FLOAT, 0.8, 0, 10, NULL, "Weight of the cluster cost" },
  { "separation", PS_PARAM_FLOAT, 0.08, 0, 10, NULL, "Weight of the separation cost" },
  { "l1", PS_PARAM_FLOAT, 1e-4, 0, 1, NULL, "L1 on wrong-class last-layer weights (fine-tuning)" },
  { "max_train", PS_PARAM_INT, 0, 0, 10000000, NULL, "Use at most this many training samples (0: all)" },
};

static gpointer
ppn_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
            GError **error)
{
  return ps_ppn_method_create (method, params, data, seed, FALSE, error);
}

const PsMethod ps_method_protopnet = {
  .id = "protopnet",
  .title = "ProtoPNet (this looks like that)",
  .family = "Interpretability",
  .paper = "Chen et al., This Looks Like That: Deep Learning for Interpretable Image Recognition, NeurIPS 2019",
  .summary = "A small CNN backbone with a sigmoid add-on gives a feature map; prototypes are 1x1 "
             "patches in it, compared with every patch through the log-similarity "
             "log((d+1)/(d+eps)) and max-pooled; a last layer turns similarities into class "
             "points. Stages: pre-training of the backbone as a plain classifier (in place of the "
             "paper's ImageNet weights), warm-up, joint training with cluster and separation costs, push "
             "(each prototype becomes its nearest training patch of its class) and last-layer "
             "fine-tuning with L1 on wrong-class weights. The small version pushes once.",
  .key_metric = "test_acc",
  .params = ppn_params,
  .n_params = G_N_ELEMENTS (ppn_params),
  .create = ppn_create,
  .free = ps_ppn_method_free,
  .total_steps = ps_ppn_method_total_steps,
  .step = ps_ppn_method_step,
  .evaluate = ps_ppn_method_evaluate,
  .snapshot = ps_ppn_method_snapshot,
  .explain = ps_ppn_method_explain,
  .save = ps_ppn_method_save,
  .load = ps_ppn_method_load,
};
