/* ps-method-protopnet-io.c: checkpoints of the part-prototype networks
 * (every stage can be resumed bit for bit, mid-push included). */
#define G_LOG_DOMAIN "ps-protopnet"

#include "ps-method-protopnet-private.h"

#include <math.h>
#include <string.h>

/* ---- Checkpoints ------------------------------------------------------------ */

#define PPN_MAGIC 0x334e5050u     /* "PPN3": adds the pruned flags at the end */
#define PPN_MAGIC_V2 0x324e5050u  /* "PPN2": adds the pre-training head; still read */
#define PPN_MAGIC_V1 0x314e5050u  /* "PPN1": still read */

/* The pre-training head: present in the blob exactly when the run has one. */
static gboolean
get_head (PsBlobReader *r, PsPpnModel *m, GError **error)
{
  guint32 present;
  if (!ps_blob_get_u32 (r, &present, error))
    return FALSE;
  if ((present != 0) != (m->head != NULL))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: pre-training head %s in the checkpoint "
                   "but %s in this run (pre_epochs differs)", r->what,
                   present ? "present" : "absent", m->head ? "present" : "absent");
      return FALSE;
    }
  if (!present)
    return TRUE;
  g_autoptr (GBytes) head = ps_blob_get_bytes (r, error);
  return head != NULL && ps_model_load_into (m->head, head, error);
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
  ps_blob_put_u32 (&w, m->head != NULL);
  if (m->head != NULL)
    {
      g_autoptr (GBytes) head = ps_model_save (m->head);
      ps_blob_put_bytes (&w, head);
    }
  ps_blob_put (&w, m->protos, (gsize) m->K * m->D * sizeof (float));
  ps_blob_put (&w, m->last, (gsize) m->C * m->K * sizeof (float));
  ps_blob_put_optim (&w, m->opt_protos);
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
      ps_blob_put (&w, m->push.best_feat, (gsize) m->K * m->D * sizeof (float));
    }
  ps_blob_put_u32 (&w, m->cache_sim != NULL);
  if (m->cache_sim != NULL)
    {
      gsize n = (gsize) (m->n_train + m->test.n) * m->K;
      ps_blob_put (&w, m->cache_sim, n * sizeof (float));
      ps_blob_put (&w, m->cache_mind, n * sizeof (float));
    }
  ps_blob_put_f64 (&w, m->acc_pre);
  ps_blob_put_f64 (&w, m->acc_joint);
  ps_blob_put_f64 (&w, m->acc_push);
  ps_blob_put_f64 (&w, m->acc_final);
  ps_blob_put (&w, m->pruned, m->K * sizeof (int));
  return ps_blob_writer_finish (&w);
}

gboolean
ps_ppn_method_load (gpointer p, GBytes *blob, GError **error)
{
  PsPpnModel *m = p;
  PsBlobReader r;
  gboolean v1 = FALSE, v2 = FALSE;
  if (!ps_blob_reader_init (&r, blob, PPN_MAGIC, "protopnet checkpoint", NULL))
    {
      v2 = TRUE;
      if (!ps_blob_reader_init (&r, blob, PPN_MAGIC_V2, "protopnet checkpoint", NULL))
        {
          v1 = TRUE;
          if (!ps_blob_reader_init (&r, blob, PPN_MAGIC_V1, "protopnet checkpoint", error))
            return FALSE;
        }
    }
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
      || (!v1 && !get_head (&r, m, error))
      || !ps_blob_get (&r, m->protos, (gsize) K * D * sizeof (float), error)
      || !ps_blob_get (&r, m->last, (gsize) m->C * K * sizeof (float), error)
      || !ps_blob_get_optim (&r, &m->opt_protos, (gsize) K * D, 1e-3f, error)
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
  m->acc_pre = NAN;
  if (!v1 && !ps_blob_get_f64 (&r, &m->acc_pre, error))
    return FALSE;
  if (!ps_blob_get_f64 (&r, &m->acc_joint, error) || !ps_blob_get_f64 (&r, &m->acc_push, error) || !ps_blob_get_f64 (&r, &m->acc_final, error))
    return FALSE;
  /* Older checkpoints predate pruning: nothing pruned. */
  memset (m->pruned, 0, m->K * sizeof (int));
  if (!v2 && !ps_blob_get (&r, m->pruned, m->K * sizeof (int), error))
    return FALSE;
  m->step = step;
  m->rng = rng;
  return TRUE;
}

