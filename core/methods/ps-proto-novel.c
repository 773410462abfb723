/* ps-proto-novel.c: the frozen base-class embedding shared by the few-shot,
 * class-incremental and federated prototype methods. */
#define G_LOG_DOMAIN "ps-proto-novel"

#include "ps-proto-novel.h"
#include "../nn/ps-model.h"

#include <math.h>
#include <string.h>

gboolean
ps_novel_net_init (PsNovelNet *m, const PsParams *params, PsDataset *data, guint64 seed,
                   GError **error)
{
  memset (m, 0, sizeof *m);
  g_autoptr (PsParams) p = ps_params_copy (params);
  const char *spec = ps_params_get_string (params, "ood_classes");
  if (spec == NULL || spec[0] == '\0')
    {
      /* The last 40% of the classes are novel (4 of 10, 2 of 5). */
      guint C = data->n_classes, nn = MAX (1u, (C * 2 + 4) / 5);
      GString *s = g_string_new (NULL);
      for (guint c = C - MIN (nn, C); c < C; c++)
        g_string_append_printf (s, "%s%u", s->len ? "," : "", c);
      gboolean ok = ps_params_set (p, "ood_classes", s->str, error);
      g_string_free (s, TRUE);
      if (!ok)
        return FALSE;
    }
  if (!ps_embed_net_init (&m->b, p, data, seed, FALSE, error))
    return FALSE;
  PsEmbedNet *b = &m->b;
  m->novel_slot = g_new (int, MAX (data->n_classes, 1));
  m->novel_cls = g_new (int, MAX (data->n_classes, 1));
  for (guint c = 0; c < data->n_classes; c++)
    {
      m->novel_slot[c] = b->oc.slot[c] < 0 ? m->n_novel : -1;
      if (b->oc.slot[c] < 0)
        m->novel_cls[m->n_novel++] = (int) c;
    }
  if (m->n_novel == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "no novel classes: set ood_classes");
      ps_novel_net_clear (m);
      return FALSE;
    }
  const int C = (int) b->oc.n_id, E = b->E;
  m->base_protos = g_new0 (float, (gsize) C * E);
  m->base_counts = g_new0 (int, C);
  m->dz = g_new (float, (gsize) b->batch * E);
  m->dprotos = g_new (float, (gsize) C * E);
  m->bprotos = g_new (float, (gsize) C * E);
  return TRUE;
}

void
ps_novel_net_clear (PsNovelNet *m)
{
  ps_embed_net_clear (&m->b);
  g_clear_pointer (&m->novel_cls, g_free);
  g_clear_pointer (&m->novel_slot, g_free);
  g_clear_pointer (&m->base_protos, g_free);
  g_clear_pointer (&m->base_counts, g_free);
  g_clear_pointer (&m->dz, g_free);
  g_clear_pointer (&m->dprotos, g_free);
  g_clear_pointer (&m->bprotos, g_free);
}

void
ps_novel_net_step (PsNovelNet *m, PsStepInfo *info)
{
  PsEmbedNet *b = &m->b;
  const int E = b->E, C = (int) b->oc.n_id;
  int B = ps_embed_net_next_batch (b);
  ps_model_set_training (b->net, TRUE);
  const float *z = ps_model_forward (b->net, b->xb, B);
  g_autofree int *counts = g_new0 (int, C);
  g_autofree guint8 *valid = g_new0 (guint8, C);
  ps_proto_class_means (m->bprotos, counts, z, b->yb, B, C, E);
  for (int c = 0; c < C; c++)
    valid[c] = counts[c] > 0;
  memset (m->dz, 0, (gsize) B * E * sizeof (float));
  memset (m->dprotos, 0, (gsize) C * E * sizeof (float));
  float loss = ps_proto_ce_loss (m->dz, m->dprotos, z, b->yb, m->bprotos, valid, B, C, E,
                                 PS_SIM_NEG_SQEUCLID, 1.f);
  ps_proto_class_means_backward (m->dz, m->dprotos, b->yb, counts, B, C, E);
  if (!isfinite (loss) || !ps_all_finite (m->dz, (gsize) B * E))
    {
      ps_embed_net_finish_step (b, info, NAN);
      return;
    }
  ps_model_zero_grad (b->net);
  ps_model_backward (b->net, m->dz, PS_BACKWARD_PARAMS);
  ps_model_step (b->net);
  ps_embed_net_finish_step (b, info, loss);
}

void
ps_novel_net_base_protos (PsNovelNet *m, gboolean unit)
{
  PsOodInputs bank = { 0 };
  g_autofree int *y = NULL;
  const int C = (int) m->b.oc.n_id;
  ps_embed_net_bank (&m->b, &bank, &y, C);
  ps_proto_class_means (m->base_protos, m->base_counts, bank.z, y, (int) bank.n, C, m->b.E);
  if (unit)
    ps_proto_normalize_rows (m->base_protos, C, m->b.E);
  ps_ood_inputs_clear (&bank);
}

PsSplit
ps_novel_net_eval_split (PsNovelNet *m)
{
  return m->b.test.split;
}

guint *
ps_novel_net_rows (PsNovelNet *m, PsSplit split, int **slot, guint *n)
{
  PsDataset *ds = m->b.data;
  guint *rows = g_new (guint, MAX (ds->n, 1));
  *slot = g_new (int, MAX (ds->n, 1));
  *n = 0;
  for (guint i = 0; i < ds->n; i++)
    if (ds->split[i] == split && ds->y[i] >= 0 && (guint) ds->y[i] < ds->n_classes
        && m->novel_slot[ds->y[i]] >= 0)
      {
        rows[*n] = i;
        (*slot)[*n] = m->novel_slot[ds->y[i]];
        (*n)++;
      }
  return rows;
}

float *
ps_novel_net_embed (PsNovelNet *m, const guint *rows, guint n)
{
  g_autofree float *x = ps_gather_rows (m->b.data, rows, n);
  float *z = g_new (float, (gsize) MAX (n, 1) * m->b.E);
  ps_embed_net_infer (&m->b, x, n, z, NULL);
  return z;
}

void
ps_novel_logits (float *logits, const float *z, int n, const float *protos, int K, int E, float tau)
{
  if (tau > 0)
    {
      ps_proto_similarity (logits, z, protos, n, K, E, PS_SIM_COSINE);
      for (gsize i = 0; i < (gsize) n * K; i++)
        logits[i] *= tau;
    }
  else
    ps_proto_similarity (logits, z, protos, n, K, E, PS_SIM_NEG_SQEUCLID);
}

GPtrArray *
ps_novel_net_snapshot (PsNovelNet *m, const float *protos, const int *proto_cls, int K, float tau)
{
  PsEmbedNet *b = &m->b;
  PsDataset *ds = b->data;
  const int E = b->E;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *x = ps_gather_rows (ds, rows, n);
  g_autofree float *z = g_new (float, (gsize) MAX (n, 1) * E);
  ps_embed_net_infer (b, x, n, z, NULL);
  ps_snapshot_add_common (out, ds, rows, n, x);
  g_ptr_array_add (out, ps_array_new_f32 ("embedding", z, n, E));
  g_autofree float *w = g_new (float, (gsize) MAX (n, 1) * K);
  ps_novel_logits (w, z, (int) n, protos, K, E, tau);
  ps_proto_assign_softmax (w, w, (int) n, K, 1.f);
  g_autofree gint32 *pred = g_new (gint32, MAX (n, 1));
  g_autofree float *conf = g_new (float, MAX (n, 1));
  g_autofree guint8 *novel = g_new0 (guint8, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      int best = 0;
      for (int k = 1; k < K; k++)
        if (w[(gsize) i * K + k] > w[(gsize) i * K + best])
          best = k;
      pred[i] = proto_cls[best];
      conf[i] = w[(gsize) i * K + best];
      int y = ds->y[rows[i]];
      novel[i] = y >= 0 && (guint) y < ds->n_classes && m->novel_slot[y] >= 0;
    }
  g_ptr_array_add (out, ps_array_new_i32 ("predictions", pred, n));
  gsize shape[1] = { n };
  g_ptr_array_add (out, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape, conf));
  g_ptr_array_add (out, ps_array_new_f32 ("assignments", w, n, K));
  g_ptr_array_add (out, ps_array_new_f32 ("prototypes", protos, K, E));
  g_ptr_array_add (out, ps_array_new_i32 ("prototype_labels", proto_cls, K));
  g_ptr_array_add (out, ps_array_new ("novel", PS_DTYPE_U8, 1, shape, novel));
  return out;
}

PsExplanation *
ps_novel_net_explain (PsNovelNet *m, guint sample, const float *protos, const int *proto_cls,
                      int K, float tau, const char *what, GError **error)
{
  PsDataset *ds = m->b.data;
  if (sample >= ds->n)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "sample %u is out of range (the dataset has %u)",
                   sample, ds->n);
      return NULL;
    }
  const int E = m->b.E;
  g_autofree float *z = g_new (float, E);
  ps_embed_net_infer (&m->b, ds->x + (gsize) sample * ds->d, 1, z, NULL);
  g_autofree float *logit = g_new (float, K);
  g_autofree float *w = g_new (float, K);
  ps_novel_logits (logit, z, 1, protos, K, E, tau);
  ps_proto_assign_softmax (w, logit, 1, K, 1.f);
  g_autofree int *order = g_new (int, K);
  for (int k = 0; k < K; k++)
    order[k] = k;
  for (int i = 1; i < K; i++)
    for (int j = i; j > 0 && logit[order[j]] > logit[order[j - 1]]; j--)
      {
        int t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }
  PsExplanation *ex = ps_explanation_new ();
  ex->sample = (int) sample;
  ex->true_label = ds->y[sample];
  ex->by_prototypes = TRUE;
  ex->uncertainty = NAN;
  ex->ood_score = NAN;
  for (int i = 0; i < K; i++)
    {
      int k = order[i];
      PsEvidence ev = { .index = k, .cls = proto_cls[k], .similarity = logit[k],
                        .evidence = logit[k], .weight = w[k] };
      g_array_append_val (ex->evidence, ev);
    }
  ex->predicted = proto_cls[order[0]];
  ex->confidence = w[order[0]];
  int c = ex->predicted;
  ex->text = g_strdup_printf ("%s: nearest prototype is class %s (%s %.3g, probability %.2f), "
                              "a %s class.", what, ps_class_name (ds, c),
                              tau > 0 ? "scaled cosine" : "negative squared distance",
                              logit[order[0]], ex->confidence,
                              m->novel_slot[c] >= 0 ? "novel" : "base");
  return ex;
}

void
ps_teen_calibrate (float *out, const float *novel, int N, const float *base, int C, int E,
                   float alpha, float tau)
{
  g_autofree float *w = g_new (float, (gsize) MAX (N, 1) * C);
  ps_proto_similarity (w, novel, base, N, C, E, PS_SIM_COSINE);
  ps_proto_assign_softmax (w, w, N, C, 1.f / tau);
  g_autofree float *delta = g_new0 (float, E);
  for (int n = 0; n < N; n++)
    {
      memset (delta, 0, E * sizeof (float));
      for (int j = 0; j < C; j++)
        for (int e = 0; e < E; e++)
          delta[e] += w[(gsize) n * C + j] * base[(gsize) j * E + e];
      ps_proto_normalize_rows (delta, 1, E);
      for (int e = 0; e < E; e++)
        out[(gsize) n * E + e] = (1 - alpha) * novel[(gsize) n * E + e] + alpha * delta[e];
    }
}

void
ps_soft_kmeans (float *protos, float *w, const float *sup, const int *sup_y, int S,
                const float *qry, int Q, int K, int E, float temperature, int iters)
{
  g_autofree int *counts = g_new0 (int, K);
  ps_proto_class_means (protos, counts, sup, sup_y, S, K, E);
  g_autofree double *acc = g_new (double, (gsize) K * E);
  g_autofree double *mass = g_new (double, K);
  for (int it = 0; it < iters; it++)
    {
      ps_proto_similarity (w, qry, protos, Q, K, E, PS_SIM_NEG_SQEUCLID);
      ps_proto_assign_softmax (w, w, Q, K, temperature);
      memset (acc, 0, (gsize) K * E * sizeof (double));
      for (int k = 0; k < K; k++)
        mass[k] = 0;
      for (int i = 0; i < S; i++)
        {
          int k = sup_y[i];
          mass[k] += 1;
          for (int e = 0; e < E; e++)
            acc[(gsize) k * E + e] += sup[(gsize) i * E + e];
        }
      for (int i = 0; i < Q; i++)
        for (int k = 0; k < K; k++)
          {
            double wk = w[(gsize) i * K + k];
            mass[k] += wk;
            for (int e = 0; e < E; e++)
              acc[(gsize) k * E + e] += wk * qry[(gsize) i * E + e];
          }
      for (int k = 0; k < K; k++)
        if (mass[k] > 0)
          for (int e = 0; e < E; e++)
            protos[(gsize) k * E + e] = (float) (acc[(gsize) k * E + e] / mass[k]);
    }
  ps_proto_similarity (w, qry, protos, Q, K, E, PS_SIM_NEG_SQEUCLID);
  ps_proto_assign_softmax (w, w, Q, K, temperature);
}

double
ps_novel_net_base_acc (PsNovelNet *m)
{
  PsDataset *ds = m->b.data;
  const int C = (int) m->b.oc.n_id, E = m->b.E;
  ps_novel_net_base_protos (m, FALSE);
  guint n;
  g_autofree guint *all = ps_split_indices (ds, ps_novel_net_eval_split (m), TRUE, &n);
  guint nb = 0;
  for (guint i = 0; i < n; i++)
    if (m->novel_slot[ds->y[all[i]]] < 0)
      all[nb++] = all[i];
  if (nb == 0)
    return NAN;
  g_autofree float *z = ps_novel_net_embed (m, all, nb);
  g_autofree float *d = g_new (float, (gsize) nb * C);
  ps_proto_similarity (d, z, m->base_protos, (int) nb, C, E, PS_SIM_NEG_SQEUCLID);
  guint ok = 0;
  for (guint i = 0; i < nb; i++)
    {
      int b = 0;
      for (int c = 1; c < C; c++)
        if (d[(gsize) i * C + c] > d[(gsize) i * C + b])
          b = c;
      ok += m->b.oc.cls[b] == ds->y[all[i]];
    }
  return (double) ok / nb;
}
