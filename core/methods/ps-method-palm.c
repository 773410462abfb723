/* ps-method-palm.c: PALM, a mixture of prototypes per class on the unit
 * hypersphere for OOD detection (Lu et al., ICLR 2024).
 *
 * Each in-distribution class keeps K unit prototypes that are not trained
 * by gradient but moved by an EMA of the embeddings assigned to them.  A
 * batch's soft assignment is Sinkhorn-Knopp over all prototypes, masked to
 * the sample's own class and cut to the top-k (the unlabelled variant drops
 * the mask).  The embedding is trained with PALM's MLE loss (pull each
 * sample toward its assigned prototypes against all prototypes) plus the
 * prototype-level contrastive loss, whose gradient reaches the embeddings
 * through this batch's share of the EMA update.
 */
#define G_LOG_DOMAIN "ps-palm"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-proto-net.h"
#include "ps-proto-head.h"
#include "../nn/ps-model.h"

#include <math.h>
#include <string.h>

static const PsParamSpec palm_params[] = {
  PS_EMBED_NET_PARAMS (32),
  { "n_protos", PS_PARAM_INT, 6, 1, 100, NULL, "Prototypes per class (K)" },
  { "topk", PS_PARAM_INT, 5, 0, 100, NULL,
    "Keep the k largest assignment weights per sample (0: all of the allowed prototypes)" },
  { "tau", PS_PARAM_FLOAT, 0.1, 0.01, 10, NULL, "Temperature of the MLE loss and the class logits" },
  { "epsilon", PS_PARAM_FLOAT, 0.05, 0.005, 10, NULL, "Sinkhorn entropy temperature" },
  { "sinkhorn_iters", PS_PARAM_INT, 3, 1, 100, NULL, "Sinkhorn-Knopp iterations" },
  { "proto_momentum", PS_PARAM_FLOAT, 0.9, 0, 0.9999, NULL,
    "EMA momentum alpha of the prototypes (the paper's 0.99 suits its ~10^5 steps; small runs take a few hundred)" },
  { "lambda_pc", PS_PARAM_FLOAT, 1.0, 0, 100, NULL, "Weight of the prototype contrastive loss" },
  { "pc_temperature", PS_PARAM_FLOAT, 0.5, 0.01, 10, NULL, "Temperature of the prototype contrastive loss" },
  { "unlabelled", PS_PARAM_BOOL, 0, 0, 1, NULL,
    "Unlabelled-ID variant: Sinkhorn over all prototypes without the class mask" },
};

typedef struct
{
  PsEmbedNet b;
  int K;                 /* per class */
  int P;                 /* all prototypes, C * K */
  int topk;
  float tau, epsilon, alpha, lambda_pc, pc_temp;
  int iters;
  gboolean unlabelled;
  float *protos;         /* [P, E] unit rows */
  int *proto_slot;       /* [P] the ID slot a prototype was created for */
  int *pc_labels;        /* [P] positives of the contrastive loss */
  int *vote;             /* [P] class slot used for prediction */
  /* step buffers */
  float *sim, *w, *w_hat, *norms, *dz, *dprotos;
  guint8 *mask;
} Palm;

static void
palm_free (gpointer p)
{
  Palm *m = p;
  if (m == NULL)
    return;
  g_free (m->protos);
  g_free (m->proto_slot);
  g_free (m->pc_labels);
  g_free (m->vote);
  g_free (m->sim);
  g_free (m->w);
  g_free (m->w_hat);
  g_free (m->norms);
  g_free (m->dz);
  g_free (m->dprotos);
  g_free (m->mask);
  ps_embed_net_clear (&m->b);
  g_free (m);
}

static gpointer
palm_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
             GError **error)
{
  Palm *m = g_new0 (Palm, 1);
  if (!ps_embed_net_init (&m->b, params, data, seed, TRUE, error))
    {
      g_free (m);
      return NULL;
    }
  PsEmbedNet *b = &m->b;
  const int C = (int) b->oc.n_id, E = b->E, B = b->batch;
  int last = ps_model_n_layers (b->net) - 1;
  if (ps_model_layer (b->net, last)->kind != PS_LAYER_L2NORM)
    {
      /* The MLE loss and the EMA live on the unit sphere. */
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "palm: the spec '%s' must end with 'u' (unit-length embeddings)",
                   ps_model_spec (b->net));
      ps_embed_net_clear (b);
      g_free (m);
      return NULL;
    }
  m->K = (int) ps_params_get_int (params, "n_protos");
  m->P = C * m->K;
  m->topk = (int) ps_params_get_int (params, "topk");
  m->tau = (float) ps_params_get_float (params, "tau");
  m->epsilon = (float) ps_params_get_float (params, "epsilon");
  m->iters = (int) ps_params_get_int (params, "sinkhorn_iters");
  m->alpha = (float) ps_params_get_float (params, "proto_momentum");
  m->lambda_pc = (float) ps_params_get_float (params, "lambda_pc");
  m->pc_temp = (float) ps_params_get_float (params, "pc_temperature");
  m->unlabelled = ps_params_get_bool (params, "unlabelled");

  /* Prototypes start as random unit vectors (their own seed stream). */
  m->protos = g_new (float, (gsize) m->P * E);
  PsRng prng;
  ps_rng_init (&prng, seed, 3);
  ps_rng_fill_normal (&prng, m->protos, (gsize) m->P * E, 0.f, 1.f);
  ps_proto_normalize_rows (m->protos, m->P, E);
  m->proto_slot = g_new (int, m->P);
  m->pc_labels = g_new (int, m->P);
  m->vote = g_new (int, m->P);
  for (int k = 0; k < m->P; k++)
    {
      m->proto_slot[k] = k / m->K;
      /* Without labels no two prototypes are known to share a class, so
       * the contrastive loss only spreads them apart. */
      m->pc_labels[k] = m->unlabelled ? k : k / m->K;
      m->vote[k] = k / m->K;
    }
  m->sim = g_new (float, (gsize) B * m->P);
  m->w = g_new (float, (gsize) B * m->P);
  m->w_hat = g_new (float, (gsize) B * m->P);
  m->mask = g_new (guint8, (gsize) B * m->P);
  m->norms = g_new (float, m->P);
  m->dz = g_new (float, (gsize) B * E);
  m->dprotos = g_new (float, (gsize) m->P * E);
  return m;
}

static guint64
palm_total_steps (gpointer p)
{
  return ((Palm *) p)->b.total;
}

static gboolean
palm_step (gpointer p, PsStepInfo *info, GError **error)
{
  Palm *m = p;
  PsEmbedNet *b = &m->b;
  const int E = b->E, P = m->P;
  int B = ps_embed_net_next_batch (b);
  ps_model_set_training (b->net, TRUE);
  const float *z = ps_model_forward (b->net, b->xb, B);

  /* Assignment: Sinkhorn over all prototypes, then the class mask and the
   * top-k cut, rows renormalised. */
  ps_proto_similarity (m->sim, z, m->protos, B, P, E, PS_SIM_COSINE);
  ps_proto_sinkhorn (m->w, m->sim, B, P, m->epsilon, m->iters);
  if (!m->unlabelled)
    ps_proto_class_mask (m->mask, b->yb, m->proto_slot, B, P);
  ps_proto_mask_topk (m->w, m->unlabelled ? NULL : m->mask, B, P, m->topk);

  /* EMA update; the losses then see the updated prototypes. */
  ps_proto_ema_update (m->protos, m->norms, m->w_hat, m->w, z, B, P, E, m->alpha);

  memset (m->dz, 0, (gsize) B * E * sizeof (float));
  memset (m->dprotos, 0, (gsize) P * E * sizeof (float));
  float mle = ps_palm_mle_loss (m->dz, NULL, z, m->protos, m->w, B, P, E, m->tau);
  float pc = 0.f;
  if (m->lambda_pc > 0.f)
    {
      pc = ps_palm_proto_contrast_loss (m->dprotos, m->protos, m->pc_labels, P, E, m->pc_temp);
      for (gsize t = 0; t < (gsize) P * E; t++)
        m->dprotos[t] *= m->lambda_pc;
      ps_proto_ema_backward (m->dz, m->dprotos, m->protos, m->norms, m->w_hat, B, P, E, m->alpha);
    }
  float loss = mle + m->lambda_pc * pc;
  if (!isfinite (loss) || !ps_all_finite (m->dz, (gsize) B * E))
    {
      ps_embed_net_finish_step (b, info, NAN);
      return TRUE;
    }
  ps_model_zero_grad (b->net);
  ps_model_backward (b->net, m->dz, PS_BACKWARD_PARAMS);
  ps_model_step (b->net);
  ps_embed_net_finish_step (b, info, loss);
  if (info->metrics)
    {
      ps_metrics_set (info->metrics, "loss_mle", mle);
      ps_metrics_set (info->metrics, "loss_pc", pc);
    }
  (void) error;
  return TRUE;
}

/* Class logits: logsumexp over each class's prototypes of cos / tau, the
 * log of the mixture's (unnormalised) likelihood.  Prototypes are grouped
 * by m->vote. */
static void
palm_logits (Palm *m, PsOodInputs *in, float *sim_out)
{
  const int P = m->P, C = (int) m->b.oc.n_id, n = (int) in->n;
  g_autofree float *sim = g_new (float, (gsize) MAX (n, 1) * P);
  ps_proto_similarity (sim, in->z, m->protos, n, P, m->b.E, PS_SIM_COSINE);
  for (int i = 0; i < n; i++)
    {
      const float *s = sim + (gsize) i * P;
      float *l = in->logits + (gsize) i * C;
      for (int c = 0; c < C; c++)
        {
          double mx = -INFINITY, tot = 0;
          for (int k = 0; k < P; k++)
            if (m->vote[k] == c)
              mx = MAX (mx, s[k] / m->tau);
          if (mx == -INFINITY)
            {
              l[c] = -1e30f;   /* a class no prototype speaks for */
              continue;
            }
          for (int k = 0; k < P; k++)
            if (m->vote[k] == c)
              tot += exp (s[k] / m->tau - mx);
          l[c] = (float) (mx + log (tot));
        }
    }
  if (sim_out)
    memcpy (sim_out, sim, (gsize) n * P * sizeof (float));
}

/* The training bank; in the unlabelled variant each prototype's class is
 * the majority class of the bank samples nearest to it (a prototype that
 * wins no sample keeps the class it was created for). */
static void
palm_bank (Palm *m, PsOodInputs *bank, int **bank_y)
{
  const int P = m->P, C = (int) m->b.oc.n_id;
  ps_embed_net_bank (&m->b, bank, bank_y, C);
  if (m->unlabelled)
    {
      int n = (int) bank->n;
      g_autofree float *sim = g_new (float, (gsize) MAX (n, 1) * P);
      g_autofree int *near = g_new (int, MAX (n, 1));
      g_autofree int *votes = g_new0 (int, (gsize) P * C);
      ps_proto_similarity (sim, bank->z, m->protos, n, P, m->b.E, PS_SIM_COSINE);
      ps_proto_assign_argmax (near, sim, NULL, n, P);
      for (int i = 0; i < n; i++)
        votes[(gsize) near[i] * C + (*bank_y)[i]]++;
      for (int k = 0; k < P; k++)
        {
          int best = -1;
          for (int c = 0; c < C; c++)
            if (votes[(gsize) k * C + c] > 0 && (best < 0 || votes[(gsize) k * C + c] > votes[(gsize) k * C + best]))
              best = c;
          m->vote[k] = best >= 0 ? best : m->proto_slot[k];
        }
    }
  palm_logits (m, bank, NULL);
}

static PsMetrics *
palm_evaluate (gpointer p)
{
  Palm *m = p;
  PsMetrics *out = ps_metrics_new ();
  PsOodInputs bank = { 0 }, test = { 0 };
  g_autofree int *bank_y = NULL;
  palm_bank (m, &bank, &bank_y);
  ps_embed_net_test_inputs (&m->b, &test, (int) m->b.oc.n_id);
  palm_logits (m, &test, NULL);
  ps_embed_net_report (&m->b, out, &test, &bank, bank_y, m->protos, m->P, PS_SIM_COSINE);

  /* Prototype health: the mean cosine between prototypes of one class and
   * of different classes, and the share of prototypes that win less than
   * 1% of the training bank's nearest-prototype assignments. */
  const int P = m->P, E = m->b.E;
  g_autofree float *pp = g_new (float, (gsize) P * P);
  ps_proto_similarity (pp, m->protos, m->protos, P, P, E, PS_SIM_COSINE);
  double intra = 0, inter = 0;
  int ni = 0, ne = 0;
  for (int a = 0; a < P; a++)
    for (int c = a + 1; c < P; c++)
      {
        if (m->vote[a] == m->vote[c])
          intra += pp[(gsize) a * P + c], ni++;
        else
          inter += pp[(gsize) a * P + c], ne++;
      }
  ps_metrics_set (out, "proto_intra_cos", ni ? intra / ni : NAN);
  ps_metrics_set (out, "proto_inter_cos", ne ? inter / ne : NAN);
  g_autofree float *sim = g_new (float, (gsize) MAX (bank.n, 1) * P);
  g_autofree int *near = g_new (int, MAX (bank.n, 1));
  g_autofree int *wins = g_new0 (int, P);
  ps_proto_similarity (sim, bank.z, m->protos, (int) bank.n, P, E, PS_SIM_COSINE);
  ps_proto_assign_argmax (near, sim, NULL, (int) bank.n, P);
  for (guint i = 0; i < bank.n; i++)
    wins[near[i]]++;
  int unused = 0;
  for (int k = 0; k < P; k++)
    unused += wins[k] < 0.01 * bank.n;
  ps_metrics_set (out, "proto_unused_frac", (double) unused / P);
  ps_ood_inputs_clear (&bank);
  ps_ood_inputs_clear (&test);
  return out;
}

static GPtrArray *
palm_snapshot (gpointer p)
{
  Palm *m = p;
  PsEmbedNet *b = &m->b;
  const int C = (int) b->oc.n_id, P = m->P;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  PsOodInputs bank = { 0 }, rin = { 0 };
  g_autofree int *bank_y = NULL;
  palm_bank (m, &bank, &bank_y);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (b->data, &n);
  g_autofree float *x = ps_gather_rows (b->data, rows, n);
  ps_ood_inputs_alloc (&rin, n, b->E, b->F, C);
  ps_embed_net_infer (b, x, n, rin.z, rin.feat);
  g_autofree float *sim = g_new (float, (gsize) MAX (n, 1) * P);
  palm_logits (m, &rin, sim);
  ps_embed_net_snapshot (b, out, rows, n, &rin, &bank, bank_y, m->protos, P, PS_SIM_COSINE);
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes", m->protos, P, b->E));
  g_autofree gint32 *plab = g_new (gint32, P);
  for (int k = 0; k < P; k++)
    plab[k] = b->oc.cls[m->vote[k]];
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_labels", plab, P));
  /* Assignments: the posterior over all prototypes, softmax(cos / tau);
   * training's Sinkhorn weights need labels and a batch, which a snapshot
   * of every row (OOD ones included) does not have. */
  g_autofree float *w = g_new (float, (gsize) MAX (n, 1) * P);
  ps_proto_assign_softmax (w, sim, (int) n, P, m->tau);
  g_ptr_array_add (out, ps_array_new_f32 ("assignments", w, n, P));
  if (b->data->d == 2)
    {
      /* Class probabilities and the OOD score over the plane. */
      const int G = 64;
      float ext[4];
      PsOodInputs grid = { 0 };
      ps_embed_net_grid (b, G, ext, &grid, C);
      palm_logits (m, &grid, NULL);
      ps_embed_net_add_fields (b, out, G, ext, &grid, &bank, bank_y, m->protos, P, PS_SIM_COSINE);
      ps_ood_inputs_clear (&grid);
    }
  ps_ood_inputs_clear (&bank);
  ps_ood_inputs_clear (&rin);
  return out;
}

static PsExplanation *
palm_explain (gpointer p, guint sample, GError **error)
{
  Palm *m = p;
  PsEmbedNet *b = &m->b;
  PsDataset *ds = b->data;
  const int C = (int) b->oc.n_id, P = m->P;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  PsOodInputs bank = { 0 }, q = { 0 };
  g_autofree int *bank_y = NULL;
  palm_bank (m, &bank, &bank_y);
  ps_ood_inputs_alloc (&q, 1, b->E, b->F, C);
  ps_embed_net_infer (b, ds->x + (gsize) sample * ds->d, 1, q.z, q.feat);
  g_autofree float *sim = g_new (float, P);
  g_autofree float *w = g_new (float, P);
  g_autofree float *prob = g_new (float, C);
  palm_logits (m, &q, sim);
  ps_proto_assign_softmax (w, sim, 1, P, m->tau);
  ps_proto_assign_softmax (prob, q.logits, 1, C, 1.f);
  float scores[PS_OOD_N_SCORES];
  ps_ood_all_scores (scores, &q, &bank, bank_y, m->protos, P, PS_SIM_COSINE, b->knn_k);

  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->by_prototypes = TRUE;
  ex->ood_score = scores[b->ood_score];
  ex->uncertainty = NAN;
  int best = 0;
  for (int c = 1; c < C; c++)
    if (prob[c] > prob[best])
      best = c;
  ex->predicted = b->oc.cls[best];
  ex->confidence = prob[best];
  /* Evidence: the 8 most similar prototypes (of any class); similarity is
   * the cosine mapped to [0, 1], evidence the term cos / tau it adds inside
   * its class's log-sum-exp, weight its share of the posterior. */
  g_autofree int *order = g_new (int, P);
  for (int k = 0; k < P; k++)
    order[k] = k;
  for (int i = 1; i < P; i++)
    for (int j = i; j > 0 && sim[order[j]] > sim[order[j - 1]]; j--)
      {
        int t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }
  for (int i = 0; i < MIN (P, 8); i++)
    {
      int k = order[i];
      PsEvidence ev = { .index = k, .cls = b->oc.cls[m->vote[k]], .similarity = 0.5f * (1.f + sim[k]),
                        .evidence = sim[k] / m->tau, .weight = w[k] };
      g_array_append_val (ex->evidence, ev);
    }
  ex->text = g_strdup_printf ("Predicted %s (probability %.2f); the nearest prototype has cosine %.2f "
                              "and belongs to %s. OOD score (%s) %.3g: higher means farther from "
                              "every prototype and training sample.",
                              ps_class_name (ds, ex->predicted), ex->confidence, sim[order[0]],
                              ps_class_name (ds, b->oc.cls[m->vote[order[0]]]),
                              ps_ood_score_name (b->ood_score), ex->ood_score);
  ps_ood_inputs_clear (&bank);
  ps_ood_inputs_clear (&q);
  return ex;
}

/* Checkpoint: the common part, then the prototypes (the only other state:
 * votes are recomputed from the bank). */
#define PALM_MAGIC 0x314d4c41u  /* "ALM1" */

static GBytes *
palm_save (gpointer p)
{
  Palm *m = p;
  PsBlobWriter w;
  ps_blob_writer_init (&w, PALM_MAGIC);
  ps_embed_net_save (&m->b, &w);
  ps_blob_put_u32 (&w, (guint32) m->P);
  ps_blob_put_u32 (&w, (guint32) m->b.E);
  ps_blob_put (&w, m->protos, (gsize) m->P * m->b.E * sizeof (float));
  return ps_blob_writer_finish (&w);
}

static gboolean
palm_load (gpointer p, GBytes *blob, GError **error)
{
  Palm *m = p;
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, PALM_MAGIC, "palm checkpoint", error))
    return FALSE;
  guint32 P, E;
  if (!ps_embed_net_load (&m->b, &r, error) || !ps_blob_get_u32 (&r, &P, error)
      || !ps_blob_get_u32 (&r, &E, error))
    return FALSE;
  if ((int) P != m->P || (int) E != m->b.E)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT,
                   "palm checkpoint: it has %u prototypes of width %u, this run %d of width %d",
                   P, E, m->P, m->b.E);
      return FALSE;
    }
  return ps_blob_get (&r, m->protos, (gsize) P * E * sizeof (float), error);
}

const PsMethod ps_method_palm = {
  .id = "palm",
  .title = "PALM: mixture of prototypes",
  .family = "Prototype learning",
  .paper = "Lu, Ming, Sun & Li, Learning with Mixture of Prototypes for Out-of-Distribution "
           "Detection, ICLR 2024",
  .summary = "Each class is a mixture of K prototypes on the unit hypersphere. Samples are softly "
             "assigned to prototypes by Sinkhorn-Knopp, masked to their own class and cut to the "
             "top-k; prototypes follow an EMA of their samples; the embedding is trained with the "
             "MLE loss plus a prototype-level contrastive loss. Held-out classes (ood_classes, or a "
             "uniform box for 2-D data) are scored by prototype distance, KNN, Mahalanobis, MSP and "
             "energy. The small version keeps Sinkhorn, the mask, top-k, EMA and both losses; it "
             "drops the two augmented views (one view per sample), and the MLE loss reuses the "
             "pre-update weights instead of a second Sinkhorn pass.",
  .key_metric = "test_acc",
  .params = palm_params,
  .n_params = G_N_ELEMENTS (palm_params),
  .create = palm_create,
  .free = palm_free,
  .total_steps = palm_total_steps,
  .step = palm_step,
  .evaluate = palm_evaluate,
  .snapshot = palm_snapshot,
  .explain = palm_explain,
  .save = palm_save,
  .load = palm_load,
};
