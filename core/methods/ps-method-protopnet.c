/* ps-method-protopnet.c: ProtoPNet ("this looks like that") on images, and
 * the training engine the ST-ProtoPNet variant shares.
 *
 * The small version: a CNN backbone from a spec string, a sigmoid add-on
 * (as ProtoPNet's add-on ends), M prototypes per class as 1x1 patches, the
 * log-similarity activation, max-pooling, a bias-free last layer.  The step
 * schedule runs the three stages: warm-up (backbone and prototypes, the
 * last layer held at its 1 / -0.5 initialisation), joint (everything), push
 * (two passes over the training images: find each prototype's nearest
 * patch of its class, then cache the similarities of the frozen network)
 * and last-layer fine-tuning with L1 on the wrong-class connections, done
 * on the cached similarities since nothing before the last layer changes.
 * Dropped: the pretrained backbone (ours trains from scratch during
 * warm-up) and the repeated push/fine-tune cycles.
 */
#define G_LOG_DOMAIN "ps-protopnet"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-protopnet.h"
#include "ps-because.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <string.h>

#define PPN_CHUNK 256   /* images per push / cache / inference step */

struct _PsPpnModel
{
  PsDataset *data;
  gboolean st;
  PsModel *net;
  int D, fh, fw, HW, C, K, per_class, support;
  int feat_layer;
  float *protos;           /* [K, D] */
  int *pclass, *pkind;     /* [K] */
  float *last;             /* [C, K] */
  float *dprotos, *dlast;
  PsOptim *opt_protos, *opt_last, *opt_ft;
  PsRng rng;
  guint *train_idx;
  guint n_train;
  guint *perm;
  guint steps_per_epoch, push_chunks, cache_chunks;
  guint64 step, total, s_warm, s_joint, s_push, s_cache;
  int batch, cap;          /* batch size; scratch capacity in images */
  float w_clst, w_sep, l1, w_st, lr_last_ft;
  /* scratch */
  float *xb, *feat, *dfeat, *sim, *mind, *logits, *dlogits, *dsim, *dmind, *probs;
  int *yb, *argmin;
  PsPpnPush push;
  gboolean push_active;
  int *src_row, *src_pos;  /* [K] push record, -1 before push */
  PsEvalSet test;
  float *cache_sim, *cache_mind;  /* [(n_train + test.n), K] after push, else NULL */
  double acc_joint, acc_push, acc_final;
};

/* ---- Accessors ------------------------------------------------------- */

PsModel *ps_ppn_model_backbone (PsPpnModel *m) { return m->net; }
int ps_ppn_model_n_protos (PsPpnModel *m) { return m->K; }
int ps_ppn_model_depth (PsPpnModel *m) { return m->D; }
void ps_ppn_model_map_size (PsPpnModel *m, int *h, int *w) { *h = m->fh; *w = m->fw; }
float *ps_ppn_model_protos (PsPpnModel *m) { return m->protos; }
const int *ps_ppn_model_proto_class (PsPpnModel *m) { return m->pclass; }
const float *ps_ppn_model_last (PsPpnModel *m) { return m->last; }
const int *ps_ppn_model_push_row (PsPpnModel *m) { return m->src_row; }
const int *ps_ppn_model_push_pos (PsPpnModel *m) { return m->src_pos; }

const char *
ps_ppn_model_stage (PsPpnModel *m, guint64 step)
{
  if (step < m->s_warm)
    return "warmup";
  if (step < m->s_joint)
    return "joint";
  if (step < m->s_cache)
    return "push";
  return "last";
}

/* ---- Create / free ----------------------------------------------------- */

static void
ppn_grow (PsPpnModel *m, int B)
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
  ps_dataset_unref (m->data);
  g_free (m->protos);
  g_free (m->pclass);
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

static char *
auto_backbone (PsDataset *ds)
{
  if (ds->img_h >= 28)
    return g_strdup_printf ("%ux%ux%u:c16k3p1r-m2-c32k3p1r-m2-c32k1r-c32k1",
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
  m->lr_last_ft = (float) ps_params_get_float (params, "lr_last");
  m->acc_joint = m->acc_push = m->acc_final = NAN;

  ps_rng_init (&m->rng, seed, 1);
  PsRng init_rng;
  ps_rng_init (&init_rng, seed, 2);
  ps_model_init (m->net, &init_rng);

  m->protos = g_new (float, (gsize) m->K * m->D);
  m->pclass = g_new (int, m->K);
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
  m->s_warm = (guint64) m->steps_per_epoch * ps_params_get_int (params, "warm_epochs");
  m->s_joint = m->s_warm + (guint64) m->steps_per_epoch * ps_params_get_int (params, "joint_epochs");
  m->s_push = m->s_joint + m->push_chunks;
  m->s_cache = m->s_push + m->cache_chunks;
  m->total = m->s_cache + (guint64) m->steps_per_epoch * ps_params_get_int (params, "last_epochs");
  m->perm = g_new (guint, m->n_train);
  ppn_grow (m, MAX (m->batch, PPN_CHUNK));

  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, (float) ps_params_get_float (params, "lr"));
  ps_model_set_optimizer (m->net, &cfg);
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, (float) ps_params_get_float (params, "lr_protos"));
  m->opt_protos = ps_optim_new (&cfg, (gsize) m->K * m->D);
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, (float) ps_params_get_float (params, "lr"));
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
static void
ppn_features (PsPpnModel *m, const float *x, int B)
{
  ppn_grow (m, B);
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
      ppn_features (m, x + (gsize) s * m->data->d, n);
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

static int
argmax (const float *v, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

/* Accuracy of the current last layer on cached or freshly computed
 * similarities of the evaluation set. */
static double
ppn_test_acc (PsPpnModel *m)
{
  if (m->test.n == 0)
    return NAN;
  g_autofree float *logits = g_new (float, (gsize) m->test.n * m->C);
  if (m->cache_sim != NULL)
    ps_ppn_last_forward (logits, m->cache_sim + (gsize) m->n_train * m->K, m->last, m->test.n,
                         m->K, m->C);
  else
    ps_ppn_model_infer (m, m->test.x, m->test.n, NULL, NULL, logits);
  guint ok = 0;
  for (guint i = 0; i < m->test.n; i++)
    ok += argmax (logits + (gsize) i * m->C, m->C) == m->test.y[i];
  return (double) ok / m->test.n;
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

/* Warm-up and joint: CE + cluster + separation (+ the ST bank losses). */
static float
train_step (PsPpnModel *m, gboolean joint, PsStepInfo *info)
{
  int B;
  gather_batch (m, m->step, &B);
  ps_model_set_training (m->net, TRUE);
  ppn_features (m, m->xb, B);
  const int K = m->K, C = m->C;
  ps_ppn_forward (m->sim, m->mind, m->argmin, m->feat, m->protos, B, K, m->D, m->HW, PS_PPN_EPS);
  ps_ppn_last_forward (m->logits, m->sim, m->last, B, K, C);
  memset (m->dlogits, 0, (gsize) B * C * sizeof (float));
  float loss = ps_softmax_xent (m->dlogits, m->probs, m->logits, m->yb, B, C, 0.0f);
  memset (m->dsim, 0, (gsize) B * K * sizeof (float));
  memset (m->dmind, 0, (gsize) B * K * sizeof (float));
  memset (m->dlast, 0, (gsize) C * K * sizeof (float));
  memset (m->dprotos, 0, (gsize) K * m->D * sizeof (float));
  ps_ppn_last_backward (m->dsim, joint ? m->dlast : NULL, m->dlogits, m->sim, m->last, B, K, C);
  ps_ppn_sim_backward (m->dmind, m->dsim, m->mind, B * K, PS_PPN_EPS);
  float clst = 0, sep = 0;
  int n_banks = m->support > 0 ? 2 : 1;
  for (int bank = 0; bank < n_banks; bank++)
    {
      float c1, s1;
      ps_ppn_cluster_sep (m->dmind, &c1, &s1, m->mind, m->yb, m->pclass,
                          m->support > 0 ? m->pkind : NULL, bank, B, K, m->w_clst, m->w_sep);
      clst += c1;
      sep += s1;
    }
  loss += m->w_clst * clst - m->w_sep * sep;
  if (m->support > 0 && m->w_st > 0)
    {
      loss += ps_ppn_pair_cosine_loss (m->dprotos, m->protos, m->pclass, m->pkind,
                                       PS_PPN_KIND_PLAIN, K, m->D, C, +1.0f, m->w_st);
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
  ppn_features (m, m->xb, B);
  ps_ppn_push_update (&m->push, m->feat, m->protos, m->train_idx + start, m->yb, m->pclass, B,
                      m->HW);
  if (c + 1 == m->push_chunks)
    {
      ps_ppn_push_apply (&m->push, m->protos);
      memcpy (m->src_row, m->push.best_row, m->K * sizeof (int));
      memcpy (m->src_pos, m->push.best_pos, m->K * sizeof (int));
      ps_ppn_push_clear (&m->push);
      m->push_active = FALSE;
    }
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
  ppn_features (m, m->xb, B);
  ps_ppn_forward (m->cache_sim + (gsize) start * m->K, m->cache_mind + (gsize) start * m->K,
                  m->argmin, m->feat, m->protos, B, m->K, m->D, m->HW, PS_PPN_EPS);
  if (c + 1 == m->cache_chunks)
    m->acc_push = ppn_test_acc (m);
}

/* Last-layer fine-tuning on cached similarities. */
static float
last_step (PsPpnModel *m)
{
  if (m->opt_ft == NULL)
    {
      PsOptimConfig cfg;
      ps_optim_config_init (&cfg, PS_OPTIM_ADAM, m->lr_last_ft);
      m->opt_ft = ps_optim_new (&cfg, (gsize) m->C * m->K);
    }
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
    ps_optim_step (m->opt_ft, m->last, m->dlast);
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
    m->acc_joint = ppn_test_acc (m);
  if (m->step == m->total)
    m->acc_final = ppn_test_acc (m);
  info->loss = loss;
  info->done = m->step >= m->total;
  (void) error;
  return TRUE;
}

/* ---- Evaluation ---------------------------------------------------------- */

static void
classify_cb (gpointer user, const float *x, int B, int *pred)
{
  PsPpnModel *m = user;
  g_autofree float *logits = g_new (float, (gsize) B * m->C);
  ps_ppn_model_infer (m, x, B, NULL, NULL, logits);
  for (int b = 0; b < B; b++)
    pred[b] = argmax (logits + (gsize) b * m->C, m->C);
}

/* Per-image attribution used by the deletion curve: the upsampled
 * similarity map of the prototype that adds the most points to the
 * predicted class. */
static void
top_heatmap (PsPpnModel *m, const float *feat1, const float *sim1, int pred, float *heat,
             int *top_k)
{
  int best = 0;
  float bestv = -INFINITY;
  for (int k = 0; k < m->K; k++)
    {
      float ev = sim1[k] * m->last[(gsize) pred * m->K + k];
      if (ev > bestv)
        {
          bestv = ev;
          best = k;
        }
    }
  g_autofree float *map = g_new (float, m->HW);
  ps_ppn_similarity_map (map, feat1, m->protos + (gsize) best * m->D, m->D, m->HW, PS_PPN_EPS);
  ps_ppn_upsample (heat, map, m->fh, m->fw, m->data->img_h, m->data->img_w);
  if (top_k)
    *top_k = best;
}

/* Deletion AUC of the heatmaps and of a random attribution on the first
 * (at most) 200 evaluation images. */
static void
deletion_metrics (PsPpnModel *m, PsMetrics *out)
{
  int B = (int) MIN (m->test.n, 200u);
  if (B == 0)
    return;
  const int P = (int) m->data->d;
  const int hw = (int) (m->data->img_h * m->data->img_w);
  if (P != hw)
    return;   /* one channel only: the heatmap is per pixel */
  g_autofree float *feat = g_new (float, (gsize) B * m->D * m->HW);
  g_autofree float *sim = g_new (float, (gsize) B * m->K);
  g_autofree float *logits = g_new (float, (gsize) B * m->C);
  ps_ppn_model_infer (m, m->test.x, B, feat, sim, logits);
  g_autofree int *order = g_new (int, (gsize) B * P);
  g_autofree int *rorder = g_new (int, (gsize) B * P);
  g_autofree float *heat = g_new (float, P);
  PsRng rng;
  ps_rng_init (&rng, 12345, 7);   /* fixed: the baseline must not depend on the run */
  g_autofree guint *perm = g_new (guint, P);
  for (int b = 0; b < B; b++)
    {
      int pred = argmax (logits + (gsize) b * m->C, m->C);
      top_heatmap (m, feat + (gsize) b * m->D * m->HW, sim + (gsize) b * m->K, pred, heat, NULL);
      ps_ppn_order_desc (order + (gsize) b * P, heat, P);
      ps_rng_permutation (&rng, perm, P);
      for (int i = 0; i < P; i++)
        rorder[(gsize) b * P + i] = (int) perm[i];
    }
  double a = ps_ppn_deletion_auc (classify_cb, m, m->test.x, m->test.y, order, B, P, 10, 0.0f,
                                  NULL);
  double r = ps_ppn_deletion_auc (classify_cb, m, m->test.x, m->test.y, rorder, B, P, 10, 0.0f,
                                  NULL);
  ps_metrics_set (out, "deletion_auc", a);
  ps_metrics_set (out, "deletion_auc_random", r);
}

PsMetrics *
ps_ppn_method_evaluate (gpointer p)
{
  PsPpnModel *m = p;
  PsMetrics *out = ps_metrics_new ();
  if (m->test.n > 0)
    ps_metrics_set (out, m->test.split == PS_SPLIT_TEST ? "test_acc" : "val_acc", ppn_test_acc (m));
  if (!isnan (m->acc_joint))
    ps_metrics_set (out, "test_acc_joint", m->acc_joint);
  if (!isnan (m->acc_push))
    ps_metrics_set (out, "test_acc_push", m->acc_push);
  if (!isnan (m->acc_final))
    ps_metrics_set (out, "test_acc_last", m->acc_final);
  if (m->cache_mind != NULL && m->step >= m->s_cache)
    {
      g_autofree int *ytr = g_new (int, m->n_train);
      for (guint i = 0; i < m->n_train; i++)
        ytr[i] = m->data->y[m->train_idx[i]];
      ps_metrics_set (out, "purity", ps_ppn_purity (m->cache_mind, ytr, m->pclass, m->n_train,
                                                    m->K, 10));
      if (m->support > 0)
        {
          /* Purity of each bank on its own columns. */
          for (int bank = 0; bank < 2; bank++)
            {
              int k0 = bank == 0 ? 0 : m->C * m->per_class;
              int kb = bank == 0 ? m->C * m->per_class : m->C * m->support;
              g_autofree float *sub = g_new (float, (gsize) m->n_train * kb);
              for (guint i = 0; i < m->n_train; i++)
                memcpy (sub + (gsize) i * kb, m->cache_mind + (gsize) i * m->K + k0,
                        kb * sizeof (float));
              ps_metrics_set (out, bank == 0 ? "purity_trivial" : "purity_support",
                              ps_ppn_purity (sub, ytr, m->pclass + k0, m->n_train, kb, 10));
            }
        }
    }
  if (m->step >= m->total)
    deletion_metrics (m, out);
  return out;
}

static void
because_sims (gpointer user, const float *x, int n, float *sims)
{
  ps_ppn_model_infer (user, x, n, NULL, sims, NULL);
}

/* ---- Snapshot -------------------------------------------------------------- */

static void
pos_box (PsPpnModel *m, int pos, int box[4])
{
  if (pos < 0)
    {
      box[0] = box[1] = box[2] = box[3] = -1;
      return;
    }
  ps_ppn_receptive_field (m->net, m->feat_layer, pos / m->fw, pos % m->fw, box);
}

GPtrArray *
ps_ppn_method_snapshot (gpointer p)
{
  PsPpnModel *m = p;
  PsDataset *ds = m->data;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *x = ps_gather_rows (ds, rows, n);
  const int K = m->K, D = m->D, C = m->C;
  g_autofree float *emb = g_new0 (float, (gsize) MAX (n, 1) * D);
  g_autofree gint32 *pred = g_new0 (gint32, MAX (n, 1));
  g_autofree float *conf = g_new0 (float, MAX (n, 1));
  g_autofree float *logits = g_new (float, (gsize) PPN_CHUNK * C);
  g_autofree float *probs = g_new (float, (gsize) PPN_CHUNK * C);
  gboolean was = ps_model_get_training (m->net);
  ps_model_set_training (m->net, FALSE);
  for (guint s = 0; s < n; s += PPN_CHUNK)
    {
      int B = (int) MIN ((guint) PPN_CHUNK, n - s);
      ppn_features (m, x + (gsize) s * ds->d, B);
      ps_ppn_forward (m->sim, m->mind, m->argmin, m->feat, m->protos, B, K, D, m->HW, PS_PPN_EPS);
      ps_ppn_last_forward (logits, m->sim, m->last, B, K, C);
      ps_softmax_forward (probs, logits, B, C);
      for (int b = 0; b < B; b++)
        {
          int c = argmax (probs + (gsize) b * C, C);
          pred[s + b] = c;
          conf[s + b] = probs[(gsize) b * C + c];
          /* The embedding is the patch that lies nearest to any prototype:
           * a point in the prototypes' own space. */
          int kbest = 0;
          for (int k = 1; k < K; k++)
            if (m->mind[(gsize) b * K + k] < m->mind[(gsize) b * K + kbest])
              kbest = k;
          int pos = m->argmin[(gsize) b * K + kbest];
          for (int d = 0; d < D; d++)
            emb[(gsize) (s + b) * D + d] = m->feat[(gsize) b * D * m->HW + (gsize) d * m->HW + pos];
        }
    }
  ps_model_set_training (m->net, was);

  ps_snapshot_add_common (out, ds, rows, n, x);
  g_ptr_array_add (out, ps_array_new_f32 ("embedding", emb, n, D));
  g_ptr_array_add (out, ps_array_new_i32 ("predictions", pred, n));
  gsize shape1[1] = { n };
  g_ptr_array_add (out, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape1, conf));
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes", m->protos, K, D));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_labels", m->pclass, K));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_kind", m->pkind, K));
  g_autofree float *wts = g_new (float, K);
  g_autofree gint32 *src = g_new (gint32, (gsize) K * 3);
  g_autofree gint32 *boxes = g_new (gint32, (gsize) K * 4);
  const gsize H = ds->img_h, W = ds->img_w, P = ds->d;
  g_autofree float *srcimg = g_new0 (float, (gsize) K * P);
  for (int k = 0; k < K; k++)
    {
      wts[k] = m->last[(gsize) m->pclass[k] * K + k];
      int pos = m->src_pos[k];
      src[k * 3 + 0] = m->src_row[k];
      src[k * 3 + 1] = pos >= 0 ? pos / m->fw : -1;
      src[k * 3 + 2] = pos >= 0 ? pos % m->fw : -1;
      int box[4];
      pos_box (m, pos, box);
      memcpy (boxes + k * 4, box, sizeof box);
      if (m->src_row[k] >= 0)
        memcpy (srcimg + (gsize) k * P, ds->x + (gsize) m->src_row[k] * ds->d, P * sizeof (float));
    }
  gsize kshape[1] = { K };
  g_ptr_array_add (out, ps_array_new ("prototype_weight", PS_DTYPE_F32, 1, kshape, wts));
  gsize s3[2] = { K, 3 }, s4[2] = { K, 4 };
  g_ptr_array_add (out, ps_array_new ("prototype_source", PS_DTYPE_I32, 2, s3, src));
  g_ptr_array_add (out, ps_array_new ("prototype_box", PS_DTYPE_I32, 2, s4, boxes));
  gsize ishape[3] = { K, H, W * (P / (H * W)) };
  g_ptr_array_add (out, ps_array_new ("prototype_images", PS_DTYPE_F32, 3, ishape, srcimg));
  if (m->cache_mind != NULL && m->step >= m->s_cache)
    {
      const int T = (int) MIN (m->n_train, 10u);
      g_autofree int *top = g_new (int, (gsize) K * T);
      ps_ppn_topk_rows (top, m->cache_mind, (int) m->n_train, K, T);
      for (gsize i = 0; i < (gsize) K * T; i++)
        top[i] = (int) m->train_idx[top[i]];
      gsize tshape[2] = { K, T };
      g_ptr_array_add (out, ps_array_new ("prototype_topk", PS_DTYPE_I32, 2, tshape, top));
      if (ds->img_c <= 1)
        {
          /* Global "because" importances over each prototype's top
           * training images, weighted by their similarity. */
          g_autofree float *topw = g_new (float, (gsize) K * T);
          g_autofree int *topi = g_new (int, (gsize) K * T);
          ps_ppn_topk_rows (topi, m->cache_mind, (int) m->n_train, K, T);
          for (int k = 0; k < K; k++)
            for (int j = 0; j < T; j++)
              topw[k * T + j] = m->cache_sim[(gsize) topi[k * T + j] * K + k];
          g_autofree float *imp = g_new (float, (gsize) K * PS_BECAUSE_N_KINDS);
          ps_because_global (imp, because_sims, m, ds->x, top, topw, T, (int) H, (int) W, K, 0);
          gsize gshape[2] = { K, PS_BECAUSE_N_KINDS };
          g_ptr_array_add (out, ps_array_new ("because_global", PS_DTYPE_F32, 2, gshape, imp));
        }
    }
  return out;
}

/* ---- Explanation ------------------------------------------------------------- */

typedef struct
{
  int k;
  float ev;
} KEv;

static int
cmp_kev (gconstpointer a, gconstpointer b)
{
  const KEv *x = a, *y = b;
  if (x->ev != y->ev)
    return x->ev > y->ev ? -1 : 1;
  return x->k - y->k;
}

/* Feature map of one image from a copy of the backbone whose last
 * convolution has fresh random weights: the model-randomisation sanity
 * check (a heatmap that survives it does not depend on what was learnt). */
static void
random_conv_features (PsPpnModel *m, const float *x1, guint64 seed, float *feat1)
{
  g_autoptr (GBytes) blob = ps_model_save (m->net);
  g_autoptr (PsModel) copy = ps_model_load (blob, NULL);
  if (copy == NULL)
    {
      memset (feat1, 0, (gsize) m->D * m->HW * sizeof (float));
      return;
    }
  int li = -1;
  for (int i = ps_model_n_layers (copy) - 1; i >= 0; i--)
    if (ps_model_layer (copy, i)->kind == PS_LAYER_CONV)
      {
        li = i;
        break;
      }
  if (li >= 0)
    {
      const PsLayerInfo *l = ps_model_layer (copy, li);
      PsRng rng;
      ps_rng_init (&rng, seed, 11);
      float bound = sqrtf (6.0f / (float) (l->in_c * l->k * l->k));
      ps_rng_fill_uniform (&rng, ps_model_params (copy) + l->param_off, l->n_weight, -bound, bound);
    }
  ps_model_set_training (copy, FALSE);
  const float *o = ps_model_forward (copy, x1, 1);
  ps_sigmoid_forward (feat1, o, (gsize) m->D * m->HW);
}

PsExplanation *
ps_ppn_method_explain (gpointer p, guint sample, GError **error)
{
  PsPpnModel *m = p;
  PsDataset *ds = m->data;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  const int K = m->K, C = m->C, D = m->D, HW = m->HW;
  const int H = (int) ds->img_h, W = (int) ds->img_w, P = (int) ds->d;
  const float *x1 = ds->x + (gsize) sample * ds->d;
  g_autofree float *feat1 = g_new (float, (gsize) D * HW);
  g_autofree float *sim1 = g_new (float, K);
  g_autofree float *logits = g_new (float, C);
  ps_ppn_model_infer (m, x1, 1, feat1, sim1, logits);
  g_autofree int *argmin1 = g_new (int, K);
  g_autofree float *mind1 = g_new (float, K);
  ps_ppn_forward (NULL, mind1, argmin1, feat1, m->protos, 1, K, D, HW, PS_PPN_EPS);
  g_autofree float *probs = g_new (float, C);
  ps_softmax_forward (probs, logits, 1, C);
  int pred = argmax (probs, C);

  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->predicted = pred;
  ex->confidence = probs[pred];
  ex->by_prototypes = TRUE;

  /* Points per class: the sum over all prototypes of similarity times the
   * last-layer weight, accumulated separately from the logits so a view
   * (and the tests) can check they agree. */
  g_autofree float *points = g_new0 (float, C);
  for (int c = 0; c < C; c++)
    {
      double acc = 0.0;
      for (int k = 0; k < K; k++)
        acc += (double) sim1[k] * m->last[(gsize) c * K + k];
      points[c] = (float) acc;
    }
  g_autofree KEv *order = g_new (KEv, K);
  for (int k = 0; k < K; k++)
    {
      order[k].k = k;
      order[k].ev = sim1[k] * m->last[(gsize) pred * K + k];
    }
  qsort (order, K, sizeof (KEv), (int (*) (const void *, const void *)) cmp_kev);
  const int T = MIN (K, 10);
  g_autofree float *heat = g_new (float, (gsize) T * P);
  g_autofree float *heat_rc = g_new (float, (gsize) T * P);
  g_autofree float *heat_rnd = g_new (float, (gsize) T * P);
  g_autofree gint32 *boxes = g_new (gint32, (gsize) T * 4);
  g_autofree gint32 *sboxes = g_new (gint32, (gsize) T * 4);
  g_autofree float *simg = g_new0 (float, (gsize) T * P);
  g_autofree gint32 *idx = g_new (gint32, T);
  g_autofree gint32 *kinds = g_new (gint32, T);
  g_autofree float *map = g_new (float, HW);
  g_autofree float *feat_rc = g_new (float, (gsize) D * HW);
  random_conv_features (m, x1, sample, feat_rc);
  PsRng rng;
  ps_rng_init (&rng, sample, 13);
  g_autofree float *noise = g_new (float, HW);
  for (int t = 0; t < T; t++)
    {
      int k = order[t].k;
      PsEvidence e = { .index = k, .cls = m->pclass[k], .similarity = sim1[k],
                       .weight = m->last[(gsize) pred * K + k], .evidence = order[t].ev };
      g_array_append_val (ex->evidence, e);
      idx[t] = k;
      kinds[t] = m->pkind[k];
      ps_ppn_similarity_map (map, feat1, m->protos + (gsize) k * D, D, HW, PS_PPN_EPS);
      ps_ppn_upsample (heat + (gsize) t * P, map, m->fh, m->fw, H, W);
      ps_ppn_similarity_map (map, feat_rc, m->protos + (gsize) k * D, D, HW, PS_PPN_EPS);
      ps_ppn_upsample (heat_rc + (gsize) t * P, map, m->fh, m->fw, H, W);
      ps_rng_fill_uniform (&rng, noise, HW, 0.0f, 1.0f);
      ps_ppn_upsample (heat_rnd + (gsize) t * P, noise, m->fh, m->fw, H, W);
      int box[4];
      pos_box (m, argmin1[k], box);
      memcpy (boxes + t * 4, box, sizeof box);
      pos_box (m, m->src_pos[k], box);
      memcpy (sboxes + t * 4, box, sizeof box);
      if (m->src_row[k] >= 0)
        memcpy (simg + (gsize) t * P, ds->x + (gsize) m->src_row[k] * ds->d, P * sizeof (float));
    }
  const int Wc = P / H;   /* width times channels: one channel in practice */
  gsize ishape[2] = { H, Wc }, hshape[3] = { T, H, Wc }, bshape[2] = { T, 4 }, cshape[1] = { C };
  g_ptr_array_add (ex->arrays, ps_array_new ("image", PS_DTYPE_F32, 2, ishape, x1));
  g_ptr_array_add (ex->arrays, ps_array_new_i32 ("prototype_index", idx, T));
  g_ptr_array_add (ex->arrays, ps_array_new_i32 ("prototype_kind", kinds, T));
  g_ptr_array_add (ex->arrays, ps_array_new ("heatmaps", PS_DTYPE_F32, 3, hshape, heat));
  g_ptr_array_add (ex->arrays, ps_array_new ("boxes", PS_DTYPE_I32, 2, bshape, boxes));
  g_ptr_array_add (ex->arrays, ps_array_new ("source_images", PS_DTYPE_F32, 3, hshape, simg));
  g_ptr_array_add (ex->arrays, ps_array_new ("source_boxes", PS_DTYPE_I32, 2, bshape, sboxes));
  g_ptr_array_add (ex->arrays, ps_array_new ("heatmaps_random_conv", PS_DTYPE_F32, 3, hshape, heat_rc));
  g_ptr_array_add (ex->arrays, ps_array_new ("heatmaps_random", PS_DTYPE_F32, 3, hshape, heat_rnd));
  g_ptr_array_add (ex->arrays, ps_array_new ("class_points", PS_DTYPE_F32, 1, cshape, points));
  g_ptr_array_add (ex->arrays, ps_array_new ("logits", PS_DTYPE_F32, 1, cshape, logits));
  g_ptr_array_add (ex->arrays, ps_array_new ("probabilities", PS_DTYPE_F32, 1, cshape, probs));
  if (ds->img_c <= 1)
    {
      /* Local "because" importances of the shown prototypes. */
      g_autofree float *delta = g_new (float, (gsize) K * PS_BECAUSE_N_KINDS);
      ps_because_local (delta, because_sims, m, x1, H, W, K, sample);
      g_autofree float *dtop = g_new (float, (gsize) T * PS_BECAUSE_N_KINDS);
      for (int t = 0; t < T; t++)
        memcpy (dtop + (gsize) t * PS_BECAUSE_N_KINDS, delta + (gsize) idx[t] * PS_BECAUSE_N_KINDS,
                PS_BECAUSE_N_KINDS * sizeof (float));
      gsize lshape[2] = { T, PS_BECAUSE_N_KINDS };
      g_ptr_array_add (ex->arrays, ps_array_new ("because_local", PS_DTYPE_F32, 2, lshape, dtop));
    }
  const PsEvidence *top = &g_array_index (ex->evidence, PsEvidence, 0);
  ex->text = g_strdup_printf ("Predicted %s (p = %.2f, %.2f points). The strongest evidence: "
                              "this part looks like prototype %d of class %s (similarity %.2f "
                              "x weight %.2f = %.2f points).",
                              ps_class_name (ds, pred), probs[pred], points[pred], top->index,
                              ps_class_name (ds, top->cls), top->similarity, top->weight,
                              top->evidence);
  return ex;
}

/* ---- Checkpoints ------------------------------------------------------------ */

#define PPN_MAGIC 0x314e5050u  /* "PPN1" */

static void
put_optim (PsBlobWriter *w, PsOptim *opt)
{
  ps_blob_put_u32 (w, opt != NULL);
  if (opt == NULL)
    return;
  ps_blob_put_u64 (w, (guint64) opt->t);
  ps_blob_put_u64 (w, opt->n_state);
  ps_blob_put (w, opt->state, opt->n_state * sizeof (float));
}

static gboolean
get_optim (PsBlobReader *r, PsOptim **opt, gsize n, float lr, GError **error)
{
  guint32 present;
  guint64 t, n_state;
  if (!ps_blob_get_u32 (r, &present, error))
    return FALSE;
  if (!present)
    {
      g_clear_pointer (opt, ps_optim_free);
      return TRUE;
    }
  if (*opt == NULL)
    {
      PsOptimConfig cfg;
      ps_optim_config_init (&cfg, PS_OPTIM_ADAM, lr);
      *opt = ps_optim_new (&cfg, n);
    }
  if (!ps_blob_get_u64 (r, &t, error) || !ps_blob_get_u64 (r, &n_state, error))
    return FALSE;
  if (n_state != (*opt)->n_state)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: optimizer state of %" G_GUINT64_FORMAT
                   " values, expected %" G_GSIZE_FORMAT, r->what, n_state, (*opt)->n_state);
      return FALSE;
    }
  (*opt)->t = (gint64) t;
  return ps_blob_get (r, (*opt)->state, n_state * sizeof (float), error);
}

GBytes *
ps_ppn_method_save (gpointer p)
{
  PsPpnModel *m = p;
  g_autoptr (GBytes) net = ps_model_save (m->net);
  PsBlobWriter w;
  ps_blob_writer_init (&w, PPN_MAGIC);
  ps_blob_put_u64 (&w, m->step);
  ps_blob_put_rng (&w, &m->rng);
  ps_blob_put_u32 (&w, m->n_train);
  ps_blob_put_u32 (&w, (guint32) m->K);
  ps_blob_put_u32 (&w, (guint32) m->D);
  ps_blob_put (&w, m->perm, m->n_train * sizeof (guint));
  ps_blob_put_bytes (&w, net);
  ps_blob_put (&w, m->protos, (gsize) m->K * m->D * sizeof (float));
  ps_blob_put (&w, m->last, (gsize) m->C * m->K * sizeof (float));
  put_optim (&w, m->opt_protos);
  put_optim (&w, m->opt_last);
  put_optim (&w, m->opt_ft);
  ps_blob_put (&w, m->src_row, m->K * sizeof (int));
  ps_blob_put (&w, m->src_pos, m->K * sizeof (int));
  ps_blob_put_u32 (&w, m->push_active);
  if (m->push_active)
    {
      ps_blob_put (&w, m->push.best_dist, m->K * sizeof (float));
      ps_blob_put (&w, m->push.best_row, m->K * sizeof (int));
      ps_blob_put (&w, m->push.best_pos, m->K * sizeof (int));
      ps_blob_put (&w, m->push.best_feat, (gsize) m->K * m->D * sizeof (float));
    }
  ps_blob_put_u32 (&w, m->cache_sim != NULL);
  if (m->cache_sim != NULL)
    {
      gsize n = (gsize) (m->n_train + m->test.n) * m->K;
      ps_blob_put (&w, m->cache_sim, n * sizeof (float));
      ps_blob_put (&w, m->cache_mind, n * sizeof (float));
    }
  ps_blob_put_f64 (&w, m->acc_joint);
  ps_blob_put_f64 (&w, m->acc_push);
  ps_blob_put_f64 (&w, m->acc_final);
  return ps_blob_writer_finish (&w);
}

gboolean
ps_ppn_method_load (gpointer p, GBytes *blob, GError **error)
{
  PsPpnModel *m = p;
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, PPN_MAGIC, "protopnet checkpoint", error))
    return FALSE;
  guint64 step;
  guint32 n_train, K, D, flag;
  PsRng rng;
  if (!ps_blob_get_u64 (&r, &step, error) || !ps_blob_get_rng (&r, &rng, error)
      || !ps_blob_get_u32 (&r, &n_train, error) || !ps_blob_get_u32 (&r, &K, error)
      || !ps_blob_get_u32 (&r, &D, error))
    return FALSE;
  if (n_train != m->n_train || (int) K != m->K || (int) D != m->D)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                   "protopnet checkpoint: made for %u training samples, %u prototypes of depth "
                   "%u; this run has %u, %d, %d", n_train, K, D, m->n_train, m->K, m->D);
      return FALSE;
    }
  g_autoptr (GBytes) net = NULL;
  if (!ps_blob_get (&r, m->perm, n_train * sizeof (guint), error)
      || !(net = ps_blob_get_bytes (&r, error)) || !ps_model_load_into (m->net, net, error)
      || !ps_blob_get (&r, m->protos, (gsize) K * D * sizeof (float), error)
      || !ps_blob_get (&r, m->last, (gsize) m->C * K * sizeof (float), error)
      || !get_optim (&r, &m->opt_protos, (gsize) K * D, 1e-3f, error)
      || !get_optim (&r, &m->opt_last, (gsize) m->C * K, 1e-3f, error)
      || !get_optim (&r, &m->opt_ft, (gsize) m->C * K, m->lr_last_ft, error)
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
          || !ps_blob_get (&r, m->push.best_feat, (gsize) K * D * sizeof (float), error))
        return FALSE;
    }
  if (!ps_blob_get_u32 (&r, &flag, error))
    return FALSE;
  g_clear_pointer (&m->cache_sim, g_free);
  g_clear_pointer (&m->cache_mind, g_free);
  if (flag)
    {
      gsize n = (gsize) (m->n_train + m->test.n) * m->K;
      m->cache_sim = g_new (float, n);
      m->cache_mind = g_new (float, n);
      if (!ps_blob_get (&r, m->cache_sim, n * sizeof (float), error)
          || !ps_blob_get (&r, m->cache_mind, n * sizeof (float), error))
        return FALSE;
    }
  if (!ps_blob_get_f64 (&r, &m->acc_joint, error) || !ps_blob_get_f64 (&r, &m->acc_push, error) || !ps_blob_get_f64 (&r, &m->acc_final, error))
    return FALSE;
  m->step = step;
  m->rng = rng;
  return TRUE;
}

/* ---- The method ------------------------------------------------------------ */

static const PsParamSpec ppn_params[] = {
  { "backbone", PS_PARAM_STRING, 0, 0, 0, "auto",
    "Backbone spec ending in a feature map, e.g. 1x28x28:c16k3p1r-m2-c32k3p1r-m2-c32k1r-c32k1; "
    "auto picks that for 28x28 images and 1x8x8:c16k3p1r-m2-c32k3p1r-c16k1 for the digits" },
  { "protos_per_class", PS_PARAM_INT, 3, 1, 50, NULL, "Prototypes per class" },
  { "warm_epochs", PS_PARAM_INT, 2, 0, 1000, NULL, "Warm-up epochs (last layer fixed)" },
  { "joint_epochs", PS_PARAM_INT, 8, 0, 1000, NULL, "Joint training epochs" },
  { "last_epochs", PS_PARAM_INT, 5, 0, 1000, NULL, "Last-layer fine-tuning epochs after push" },
  { "batch_size", PS_PARAM_INT, 64, 1, 4096, NULL, "Samples per step" },
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate of the backbone and last layer", TRUE },
  { "lr_protos", PS_PARAM_FLOAT, 3e-3, 1e-6, 1.0, NULL, "Learning rate of the prototypes", TRUE },
  { "lr_last", PS_PARAM_FLOAT, 1e-2, 1e-6, 1.0, NULL, "Learning rate of last-layer fine-tuning", TRUE },
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
             "points. Stages: warm-up, joint training with cluster and separation costs, push "
             "(each prototype becomes its nearest training patch of its class) and last-layer "
             "fine-tuning with L1 on wrong-class weights. The small version trains the backbone "
             "from scratch and pushes once.",
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
