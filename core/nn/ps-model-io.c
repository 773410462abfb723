/* ps-model-io.c: model checkpoints as versioned binary blobs.
 *
 * Layout (version 1, all integers and floats little-endian):
 *   magic "PSMODEL\n" (8 bytes), u32 version,
 *   u32 spec length, spec bytes (no NUL),
 *   u64 n_params, f32 params[n_params],
 *   dropout RNG: u64 state, u64 inc, u32 have_spare, f32 spare,
 *   u32 has_optim, then if set: u32 kind, u32 sched kind, f32 lr,
 *     i32 warmup, i32 step_every, f32 gamma, i32 total_steps, f32 min_lr,
 *     f32 momentum, u32 nesterov, f32 beta1, beta2, eps, weight_decay,
 *     clip_norm, i64 t, u64 n_state, f32 state[n_state],
 *     u32 has_ema, then if set: f32 decay, f32 ema[n_params].
 * The blob ends there; trailing bytes are an error, because they mean the
 * writer and reader disagree about the layout.
 */
#define G_LOG_DOMAIN "ps-model"

#include "ps-model.h"

#include <string.h>

#define MAGIC "PSMODEL\n"
#define VERSION 1u

/* ---- Writing -------------------------------------------------------- */

static void
put_u32 (GByteArray *a, guint32 v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (a, (const guint8 *) &v, 4);
}

static void
put_u64 (GByteArray *a, guint64 v)
{
  v = GUINT64_TO_LE (v);
  g_byte_array_append (a, (const guint8 *) &v, 8);
}

static void
put_f32 (GByteArray *a, float f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  put_u32 (a, u);
}

static void
put_floats (GByteArray *a, const float *x, gsize n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  g_byte_array_append (a, (const guint8 *) x, (guint) (n * sizeof (float)));
#else
  for (gsize i = 0; i < n; i++)
    put_f32 (a, x[i]);
#endif
}

GBytes *
ps_model_save (PsModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);

  GByteArray *a = g_byte_array_new ();
  const char *spec = ps_model_spec (m);
  gsize n = ps_model_n_params (m);
  PsRng *rng = ps_model_get_rng (m);
  PsOptim *opt = ps_model_get_optimizer (m);

  g_byte_array_append (a, (const guint8 *) MAGIC, 8);
  put_u32 (a, VERSION);
  put_u32 (a, (guint32) strlen (spec));
  g_byte_array_append (a, (const guint8 *) spec, (guint) strlen (spec));
  put_u64 (a, n);
  put_floats (a, ps_model_params (m), n);
  put_u64 (a, rng->state);
  put_u64 (a, rng->inc);
  put_u32 (a, rng->have_spare ? 1 : 0);
  put_f32 (a, rng->spare);

  put_u32 (a, opt != NULL);
  if (opt != NULL)
    {
      const PsOptimConfig *c = &opt->cfg;
      put_u32 (a, c->kind);
      put_u32 (a, c->sched.kind);
      put_f32 (a, c->sched.lr);
      put_u32 (a, (guint32) c->sched.warmup_steps);
      put_u32 (a, (guint32) c->sched.step_every);
      put_f32 (a, c->sched.gamma);
      put_u32 (a, (guint32) c->sched.total_steps);
      put_f32 (a, c->sched.min_lr);
      put_f32 (a, c->momentum);
      put_u32 (a, c->nesterov ? 1 : 0);
      put_f32 (a, c->beta1);
      put_f32 (a, c->beta2);
      put_f32 (a, c->eps);
      put_f32 (a, c->weight_decay);
      put_f32 (a, c->clip_norm);
      put_u64 (a, (guint64) opt->t);
      put_u64 (a, opt->n_state);
      put_floats (a, opt->state, opt->n_state);
      put_u32 (a, opt->ema != NULL);
      if (opt->ema != NULL)
        {
          put_f32 (a, opt->ema_decay);
          put_floats (a, opt->ema, opt->n);
        }
    }
  return g_byte_array_free_to_bytes (a);
}

/* ---- Reading -------------------------------------------------------- */

typedef struct
{
  const guint8 *p, *end;
  gboolean short_read;
} Reader;

static const guint8 *
take (Reader *r, gsize n)
{
  if (r->short_read || (gsize) (r->end - r->p) < n)
    {
      r->short_read = TRUE;
      return NULL;
    }
  const guint8 *s = r->p;
  r->p += n;
  return s;
}

static guint32
get_u32 (Reader *r)
{
  const guint8 *s = take (r, 4);
  guint32 v = 0;
  if (s != NULL)
    memcpy (&v, s, 4);
  return GUINT32_FROM_LE (v);
}

static guint64
get_u64 (Reader *r)
{
  const guint8 *s = take (r, 8);
  guint64 v = 0;
  if (s != NULL)
    memcpy (&v, s, 8);
  return GUINT64_FROM_LE (v);
}

static float
get_f32 (Reader *r)
{
  guint32 u = get_u32 (r);
  float f;
  memcpy (&f, &u, 4);
  return f;
}

/* Points at n floats in the blob (possibly unaligned; copied later). */
static const guint8 *
get_floats (Reader *r, guint64 n)
{
  if (n > G_MAXSIZE / 4)
    {
      r->short_read = TRUE;
      return NULL;
    }
  return take (r, (gsize) n * 4);
}

static void
copy_floats (float *dst, const guint8 *src, gsize n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  memcpy (dst, src, n * sizeof (float));
#else
  for (gsize i = 0; i < n; i++)
    {
      guint32 u;
      memcpy (&u, src + 4 * i, 4);
      u = GUINT32_FROM_LE (u);
      memcpy (dst + i, &u, 4);
    }
#endif
}

typedef struct
{
  char *spec;
  guint64 n_params;
  const guint8 *params;
  PsRng rng;
  gboolean has_optim;
  PsOptimConfig cfg;
  gint64 t;
  guint64 n_state;
  const guint8 *state;
  gboolean has_ema;
  float ema_decay;
  const guint8 *ema;
} Parsed;

static gboolean
parse_blob (GBytes *blob, Parsed *out, GError **error)
{
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (blob, &size);
  Reader r = { data, data + size, FALSE };

  memset (out, 0, sizeof *out);
  const guint8 *magic = take (&r, 8);
  if (magic == NULL || memcmp (magic, MAGIC, 8) != 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "not a Protoscope model checkpoint "
                   "(wrong magic)");
      return FALSE;
    }
  guint32 version = get_u32 (&r);
  if (!r.short_read && version > VERSION)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "model checkpoint version %u is newer "
                   "than this program reads (%u)", version, VERSION);
      return FALSE;
    }
  if (!r.short_read && version == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "model checkpoint version 0 is invalid");
      return FALSE;
    }
  guint32 spec_len = get_u32 (&r);
  const guint8 *spec = take (&r, spec_len);
  if (spec != NULL)
    out->spec = g_strndup ((const char *) spec, spec_len);
  out->n_params = get_u64 (&r);
  out->params = get_floats (&r, out->n_params);
  out->rng.state = get_u64 (&r);
  out->rng.inc = get_u64 (&r);
  out->rng.have_spare = get_u32 (&r) != 0;
  out->rng.spare = get_f32 (&r);

  out->has_optim = get_u32 (&r) != 0;
  if (out->has_optim)
    {
      PsOptimConfig *c = &out->cfg;
      c->kind = get_u32 (&r);
      c->sched.kind = get_u32 (&r);
      c->sched.lr = get_f32 (&r);
      c->sched.warmup_steps = (gint32) get_u32 (&r);
      c->sched.step_every = (gint32) get_u32 (&r);
      c->sched.gamma = get_f32 (&r);
      c->sched.total_steps = (gint32) get_u32 (&r);
      c->sched.min_lr = get_f32 (&r);
      c->momentum = get_f32 (&r);
      c->nesterov = get_u32 (&r) != 0;
      c->beta1 = get_f32 (&r);
      c->beta2 = get_f32 (&r);
      c->eps = get_f32 (&r);
      c->weight_decay = get_f32 (&r);
      c->clip_norm = get_f32 (&r);
      out->t = (gint64) get_u64 (&r);
      out->n_state = get_u64 (&r);
      out->state = get_floats (&r, out->n_state);
      out->has_ema = get_u32 (&r) != 0;
      if (out->has_ema)
        {
          out->ema_decay = get_f32 (&r);
          out->ema = get_floats (&r, out->n_params);
        }
    }

  if (r.short_read)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "model checkpoint is truncated "
                   "(%" G_GSIZE_FORMAT " bytes)", size);
      return FALSE;
    }
  if (r.p != r.end)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "model checkpoint has %" G_GSIZE_FORMAT
                   " unexpected bytes at the end", (gsize) (r.end - r.p));
      return FALSE;
    }
  if (out->has_optim &&
      (out->cfg.kind > PS_OPTIM_ADAMW || out->cfg.sched.kind > PS_SCHED_COSINE || out->t < 0 ||
       !(out->ema_decay >= 0.f && out->ema_decay < 1.f)))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "model checkpoint has an invalid "
                   "optimizer record");
      return FALSE;
    }
  return TRUE;
}

/* Checks the parsed blob against model `m` (built from its spec). */
static gboolean
check_sizes (PsModel *m, const Parsed *ps, GError **error)
{
  if (ps->n_params != ps_model_n_params (m))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "model checkpoint holds %" G_GUINT64_FORMAT
                   " parameters but its spec \"%s\" needs %" G_GSIZE_FORMAT,
                   ps->n_params, ps->spec, ps_model_n_params (m));
      return FALSE;
    }
  if (ps->has_optim)
    {
      PsOptim *probe = ps_optim_new (&ps->cfg, ps->n_params);
      gsize want = probe->n_state;
      ps_optim_free (probe);
      if (ps->n_state != want)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "model checkpoint optimizer state "
                       "has %" G_GUINT64_FORMAT " values, expected %" G_GSIZE_FORMAT,
                       ps->n_state, want);
          return FALSE;
        }
    }
  return TRUE;
}

static void
apply (PsModel *m, const Parsed *ps)
{
  copy_floats (ps_model_params (m), ps->params, ps->n_params);
  *ps_model_get_rng (m) = ps->rng;
  if (ps->has_optim)
    {
      ps_model_set_optimizer (m, &ps->cfg);
      PsOptim *opt = ps_model_get_optimizer (m);
      copy_floats (opt->state, ps->state, ps->n_state);
      opt->t = ps->t;
      if (ps->has_ema)
        {
          /* Enable with the parameters, then overwrite with the saved average. */
          ps_optim_ema_enable (opt, ps->ema_decay, ps_model_params (m));
          copy_floats (opt->ema, ps->ema, ps->n_params);
        }
    }
}

PsModel *
ps_model_load (GBytes *blob, GError **error)
{
  g_return_val_if_fail (blob != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  Parsed ps;
  g_autoptr (GError) local = NULL;
  if (!parse_blob (blob, &ps, error))
    {
      g_free (ps.spec);
      return NULL;
    }
  g_autofree char *spec = ps.spec;
  g_autoptr (PsModel) m = ps_model_new (spec, &local);
  if (m == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "model checkpoint has a bad spec: %s",
                   local->message);
      return NULL;
    }
  if (!check_sizes (m, &ps, error))
    return NULL;
  apply (m, &ps);
  return g_steal_pointer (&m);
}

gboolean
ps_model_load_into (PsModel *m, GBytes *blob, GError **error)
{
  g_return_val_if_fail (m != NULL && blob != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  Parsed ps;
  if (!parse_blob (blob, &ps, error))
    {
      g_free (ps.spec);
      return FALSE;
    }
  g_autofree char *spec = ps.spec;
  if (g_strcmp0 (spec, ps_model_spec (m)) != 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "model checkpoint is for spec \"%s\", "
                   "not \"%s\"", spec, ps_model_spec (m));
      return FALSE;
    }
  if (!check_sizes (m, &ps, error))
    return FALSE;
  apply (m, &ps);
  return TRUE;
}
