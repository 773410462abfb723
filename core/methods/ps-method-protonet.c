/* ps-method-protonet.c: the prototypical classifier (Snell et al. 2017).
 *
 * One prototype per class, the class mean of a learned embedding; a sample
 * belongs to the class whose prototype is nearest in squared Euclidean
 * distance.  Training is ProtoNet's cross-entropy over negative distances,
 * either in episodes (n_way classes, n_shot support and n_query query
 * samples each: prototypes from the support, loss on the queries) or on
 * ordinary batches (prototypes are the batch's class means, every sample is
 * a query).  After training, the prototypes are the class means over the
 * training set.  It is the baseline every other prototype method is
 * compared against.
 */
#define G_LOG_DOMAIN "ps-protonet"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-proto-net.h"
#include "ps-proto-head.h"
#include "../nn/ps-model.h"

#include <math.h>
#include <string.h>

static const PsParamSpec protonet_params[] = {
  PS_EMBED_NET_PARAMS (32),
  { "mode", PS_PARAM_CHOICE, 0, 0, 0, "batch|episodic",
    "batch: class means of each batch are the prototypes; episodic: N-way K-shot episodes" },
  { "n_way", PS_PARAM_INT, 5, 2, 1000, NULL, "Episodic: classes per episode (at most the ID classes)" },
  { "n_shot", PS_PARAM_INT, 5, 1, 1000, NULL, "Episodic: support samples per class" },
  { "n_query", PS_PARAM_INT, 15, 1, 1000, NULL, "Episodic: query samples per class" },
};

typedef struct
{
  PsEmbedNet b;
  gboolean episodic;
  int n_way, n_shot, n_query;
  guint **class_rows;   /* [n_id] positions in b.train_idx of each class */
  guint *class_n;       /* [n_id] */
  guint *scratch;       /* [max class_n] for drawing without replacement */
  float *protos;        /* [n_id, E] the latest class means over the training bank */
  int *proto_counts;    /* [n_id] */
  float *dz;            /* [batch, E] */
  float *dprotos;       /* [max(n_id, n_way), E] */
  float *bprotos;       /* [max(n_id, n_way), E] batch or episode prototypes */
} ProtoNet;

static void
protonet_free (gpointer p)
{
  ProtoNet *m = p;
  if (m == NULL)
    return;
  if (m->class_rows)
    for (guint c = 0; c < m->b.oc.n_id; c++)
      g_free (m->class_rows[c]);
  g_free (m->class_rows);
  g_free (m->class_n);
  g_free (m->scratch);
  g_free (m->protos);
  g_free (m->proto_counts);
  g_free (m->dz);
  g_free (m->dprotos);
  g_free (m->bprotos);
  ps_embed_net_clear (&m->b);
  g_free (m);
}

static gpointer
protonet_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
                 GError **error)
{
  ProtoNet *m = g_new0 (ProtoNet, 1);
  if (!ps_embed_net_init (&m->b, params, data, seed, FALSE, error))
    {
      g_free (m);
      return NULL;
    }
  PsEmbedNet *b = &m->b;
  const int C = (int) b->oc.n_id;
  m->episodic = g_str_equal (ps_params_get_string (params, "mode"), "episodic");
  m->n_way = MIN ((int) ps_params_get_int (params, "n_way"), C);
  m->n_shot = (int) ps_params_get_int (params, "n_shot");
  m->n_query = (int) ps_params_get_int (params, "n_query");
  m->class_n = g_new0 (guint, C);
  m->class_rows = g_new0 (guint *, C);
  for (guint i = 0; i < b->n_train; i++)
    m->class_n[b->train_y[i]]++;
  guint max_n = 0;
  for (int c = 0; c < C; c++)
    {
      m->class_rows[c] = g_new (guint, MAX (m->class_n[c], 1));
      max_n = MAX (max_n, m->class_n[c]);
      m->class_n[c] = 0;
    }
  for (guint i = 0; i < b->n_train; i++)
    {
      int c = b->train_y[i];
      m->class_rows[c][m->class_n[c]++] = i;
    }
  m->scratch = g_new (guint, MAX (max_n, 1));
  if (m->episodic)
    {
      /* An episode draws every sample of a class at most once, so a class
       * needs n_shot + n_query samples. */
      for (int c = 0; c < C; c++)
        if (m->class_n[c] < (guint) (m->n_shot + m->n_query))
          {
            g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                         "episodic ProtoNet: class %d has %u training samples, fewer than "
                         "n_shot + n_query = %d", b->oc.cls[c], m->class_n[c],
                         m->n_shot + m->n_query);
            protonet_free (m);
            return NULL;
          }
      int per = m->n_way * (m->n_shot + m->n_query);
      g_free (b->xb);
      g_free (b->yb);
      b->xb = g_new (float, (gsize) per * data->d);
      b->yb = g_new (int, per);
      b->batch = per;
      /* An "epoch" of episodes sees about as many samples as the data. */
      b->steps_per_epoch = MAX (1u, (b->n_train + per - 1) / per);
      b->total = (guint64) b->steps_per_epoch * ps_params_get_int (params, "epochs");
    }
  int P = MAX (C, m->n_way);
  m->protos = g_new0 (float, (gsize) C * b->E);
  m->proto_counts = g_new0 (int, C);
  m->dz = g_new (float, (gsize) b->batch * b->E);
  m->dprotos = g_new (float, (gsize) P * b->E);
  m->bprotos = g_new (float, (gsize) P * b->E);
  return m;
}

static guint64
protonet_total_steps (gpointer p)
{
  return ((ProtoNet *) p)->b.total;
}

/* Gathers an episode into xb/yb: support rows first (way-major), then the
 * queries; yb holds the episode-local class 0..n_way-1.  Returns the
 * support count. */
static int
protonet_episode (ProtoNet *m)
{
  PsEmbedNet *b = &m->b;
  const int C = (int) b->oc.n_id;
  const guint d = b->data->d;
  g_autofree guint *ways = g_new (guint, C);
  ps_rng_permutation (&b->rng, ways, C);
  int n_sup = m->n_way * m->n_shot;
  for (int w = 0; w < m->n_way; w++)
    {
      int c = (int) ways[w];
      guint nc = m->class_n[c];
      memcpy (m->scratch, m->class_rows[c], nc * sizeof (guint));
      /* A partial Fisher-Yates draw of n_shot + n_query distinct rows. */
      for (int t = 0; t < m->n_shot + m->n_query; t++)
        {
          guint j = t + ps_rng_below (&b->rng, nc - t);
          guint tmp = m->scratch[t];
          m->scratch[t] = m->scratch[j];
          m->scratch[j] = tmp;
          int slot = t < m->n_shot ? w * m->n_shot + t : n_sup + w * m->n_query + (t - m->n_shot);
          guint row = b->train_idx[m->scratch[t]];
          memcpy (b->xb + (gsize) slot * d, b->data->x + (gsize) row * d, d * sizeof (float));
          b->yb[slot] = w;
        }
    }
  return n_sup;
}

static gboolean
protonet_step (gpointer p, PsStepInfo *info, GError **error)
{
  ProtoNet *m = p;
  PsEmbedNet *b = &m->b;
  const int E = b->E;
  int B, n_sup, P;
  if (m->episodic)
    {
      n_sup = protonet_episode (m);
      B = b->batch;
      P = m->n_way;
    }
  else
    {
      B = ps_embed_net_next_batch (b);
      n_sup = B;
      P = (int) b->oc.n_id;
    }
  ps_model_set_training (b->net, TRUE);
  const float *z = ps_model_forward (b->net, b->xb, B);
  /* Prototypes: class means of the support (in batch mode, the whole
   * batch, each sample also a query of its own class's mean). */
  g_autofree int *counts = g_new0 (int, P);
  g_autofree guint8 *valid = g_new0 (guint8, P);
  ps_proto_class_means (m->bprotos, counts, z, b->yb, n_sup, P, E);
  for (int c = 0; c < P; c++)
    valid[c] = counts[c] > 0;
  const float *zq = m->episodic ? z + (gsize) n_sup * E : z;
  const int *yq = m->episodic ? b->yb + n_sup : b->yb;
  int nq = m->episodic ? B - n_sup : B;
  memset (m->dz, 0, (gsize) B * E * sizeof (float));
  memset (m->dprotos, 0, (gsize) P * E * sizeof (float));
  float *dzq = m->episodic ? m->dz + (gsize) n_sup * E : m->dz;
  float loss = ps_proto_ce_loss (dzq, m->dprotos, zq, yq, m->bprotos, valid, nq, P, E,
                                 PS_SIM_NEG_SQEUCLID, 1.f);
  ps_proto_class_means_backward (m->dz, m->dprotos, b->yb, counts, n_sup, P, E);
  if (!isfinite (loss) || !ps_all_finite (m->dz, (gsize) B * E))
    {
      /* The runner reports the NaN loss; the weights stay untouched. */
      ps_embed_net_finish_step (b, info, NAN);
      return TRUE;
    }
  ps_model_zero_grad (b->net);
  ps_model_backward (b->net, m->dz, PS_BACKWARD_PARAMS);
  ps_model_step (b->net);
  ps_embed_net_finish_step (b, info, loss);
  if (info->metrics)
    ps_metrics_set (info->metrics, "lr", ps_model_get_optimizer (b->net)->last_lr);
  (void) error;
  return TRUE;
}

/* logits[n, C] = -|z - mu_c|^2 with the current class means. */
static void
protonet_logits (ProtoNet *m, PsOodInputs *in)
{
  ps_proto_similarity (in->logits, in->z, m->protos, (int) in->n, (int) m->b.oc.n_id, m->b.E,
                       PS_SIM_NEG_SQEUCLID);
}

/* The bank (training embeddings) and the class means from it. */
static void
protonet_bank (ProtoNet *m, PsOodInputs *bank, int **bank_y)
{
  const int C = (int) m->b.oc.n_id;
  ps_embed_net_bank (&m->b, bank, bank_y, C);
  ps_proto_class_means (m->protos, m->proto_counts, bank->z, *bank_y, (int) bank->n, C, m->b.E);
  protonet_logits (m, bank);
}

static PsMetrics *
protonet_evaluate (gpointer p)
{
  ProtoNet *m = p;
  PsMetrics *out = ps_metrics_new ();
  PsOodInputs bank = { 0 }, test = { 0 };
  g_autofree int *bank_y = NULL;
  protonet_bank (m, &bank, &bank_y);
  ps_embed_net_test_inputs (&m->b, &test, (int) m->b.oc.n_id);
  protonet_logits (m, &test);
  ps_embed_net_report (&m->b, out, &test, &bank, bank_y, m->protos, (int) m->b.oc.n_id,
                       PS_SIM_NEG_SQEUCLID);
  ps_ood_inputs_clear (&bank);
  ps_ood_inputs_clear (&test);
  return out;
}

static GPtrArray *
protonet_snapshot (gpointer p)
{
  ProtoNet *m = p;
  PsEmbedNet *b = &m->b;
  const int C = (int) b->oc.n_id;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  PsOodInputs bank = { 0 }, rin = { 0 };
  g_autofree int *bank_y = NULL;
  protonet_bank (m, &bank, &bank_y);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (b->data, &n);
  g_autofree float *x = ps_gather_rows (b->data, rows, n);
  ps_ood_inputs_alloc (&rin, n, b->E, b->F, C);
  ps_embed_net_infer (b, x, n, rin.z, rin.feat);
  protonet_logits (m, &rin);
  ps_embed_net_snapshot (b, out, rows, n, &rin, &bank, bank_y, m->protos, C, PS_SIM_NEG_SQEUCLID);
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes", m->protos, C, b->E));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_labels", b->oc.cls, C));
  /* Assignments: the softmax over negative distances, the classifier's own
   * posterior. */
  g_autofree float *w = g_new (float, (gsize) MAX (n, 1) * C);
  ps_proto_assign_softmax (w, rin.logits, (int) n, C, 1.f);
  g_ptr_array_add (out, ps_array_new_f32 ("assignments", w, n, C));
  if (b->data->d == 2)
    {
      /* Class probabilities and the OOD score over the plane. */
      const int G = 64;
      float ext[4];
      PsOodInputs grid = { 0 };
      ps_embed_net_grid (b, G, ext, &grid, C);
      protonet_logits (m, &grid);
      ps_embed_net_add_fields (b, out, G, ext, &grid, &bank, bank_y, m->protos, C, PS_SIM_NEG_SQEUCLID);
      ps_ood_inputs_clear (&grid);
    }
  ps_ood_inputs_clear (&bank);
  ps_ood_inputs_clear (&rin);
  return out;
}

static PsExplanation *
protonet_explain (gpointer p, guint sample, GError **error)
{
  ProtoNet *m = p;
  PsEmbedNet *b = &m->b;
  PsDataset *ds = b->data;
  const int C = (int) b->oc.n_id;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  PsOodInputs bank = { 0 }, q = { 0 };
  g_autofree int *bank_y = NULL;
  protonet_bank (m, &bank, &bank_y);
  ps_ood_inputs_alloc (&q, 1, b->E, b->F, C);
  ps_embed_net_infer (b, ds->x + (gsize) sample * ds->d, 1, q.z, q.feat);
  protonet_logits (m, &q);
  g_autofree float *w = g_new (float, C);
  ps_proto_assign_softmax (w, q.logits, 1, C, 1.f);
  float scores[PS_OOD_N_SCORES];
  ps_ood_all_scores (scores, &q, &bank, bank_y, m->protos, C, PS_SIM_NEG_SQEUCLID, b->knn_k);

  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->by_prototypes = TRUE;
  ex->ood_score = scores[b->ood_score];
  /* Evidence: every class prototype, nearest first; the similarity is the
   * raw negative squared distance, which is also the class logit. */
  g_autofree int *order = g_new (int, C);
  for (int c = 0; c < C; c++)
    order[c] = c;
  for (int i = 1; i < C; i++)
    for (int j = i; j > 0 && q.logits[order[j]] > q.logits[order[j - 1]]; j--)
      {
        int t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }
  for (int i = 0; i < C; i++)
    {
      int c = order[i];
      PsEvidence ev = { .index = c, .cls = b->oc.cls[c], .similarity = q.logits[c],
                        .evidence = q.logits[c], .weight = w[c] };
      g_array_append_val (ex->evidence, ev);
    }
  ex->predicted = b->oc.cls[order[0]];
  ex->confidence = w[order[0]];
  ex->uncertainty = NAN;
  ex->text = g_strdup_printf ("Nearest class mean: %s (squared distance %.3g, probability %.2f); "
                              "OOD score (%s) %.3g.",
                              ps_class_name (ds, ex->predicted), -q.logits[order[0]], ex->confidence,
                              ps_ood_score_name (b->ood_score), ex->ood_score);
  ps_ood_inputs_clear (&bank);
  ps_ood_inputs_clear (&q);
  return ex;
}

#define PROTONET_MAGIC 0x314e5450u  /* "PTN1" */

static GBytes *
protonet_save (gpointer p)
{
  ProtoNet *m = p;
  PsBlobWriter w;
  ps_blob_writer_init (&w, PROTONET_MAGIC);
  ps_embed_net_save (&m->b, &w);
  return ps_blob_writer_finish (&w);
}

static gboolean
protonet_load (gpointer p, GBytes *blob, GError **error)
{
  ProtoNet *m = p;
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, PROTONET_MAGIC, "protonet checkpoint", error))
    return FALSE;
  return ps_embed_net_load (&m->b, &r, error);
}

const PsMethod ps_method_protonet = {
  .id = "protonet",
  .title = "Prototypical network",
  .family = "Prototype learning",
  .paper = "Snell, Swersky & Zemel, Prototypical Networks for Few-shot Learning, NeurIPS 2017",
  .summary = "One prototype per class: the mean of a learned embedding over the class's training "
             "samples. A sample goes to the nearest prototype in squared Euclidean distance, and the "
             "network is trained with cross-entropy over negative distances, in N-way K-shot "
             "episodes or on plain batches whose class means act as prototypes. Held-out classes "
             "(ood_classes) are scored as out-of-distribution by prototype distance, KNN, "
             "Mahalanobis, MSP and energy (the last two over the distance logits). The small "
             "version keeps the Euclidean ProtoNet loss and drops data augmentation.",
  .key_metric = "test_acc",
  .params = protonet_params,
  .n_params = G_N_ELEMENTS (protonet_params),
  .create = protonet_create,
  .free = protonet_free,
  .total_steps = protonet_total_steps,
  .step = protonet_step,
  .evaluate = protonet_evaluate,
  .snapshot = protonet_snapshot,
  .explain = protonet_explain,
  .save = protonet_save,
  .load = protonet_load,
};
