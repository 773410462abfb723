/* ps-model.c: the sequential model: slabs, forward/backward, optimizer
 * hookup and classifier conveniences.  The spec parser is in
 * ps-model-spec.c, checkpoints are in ps-model-io.c. */
#define G_LOG_DOMAIN "ps-model"

#include "ps-model.h"
#include "ps-model-private.h"
#include "ps-layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _PsModel
{
  char *spec;
  int n_layers;
  PsLayerInfo *layers;     /* the size table */
  int in_c, in_h, in_w;
  gsize in_size;

  gsize n_params;
  float *params;           /* slab [n_params] */
  float *grads;            /* slab [n_params] */
  PsOptim *optim;          /* owns the optimizer-state slab and the EMA */

  /* Activations: one slab, each layer's region act_off * max_batch floats
   * from its start, so growing the batch keeps the layout formula. */
  int max_batch;
  gsize act_per_sample;
  float *acts;
  float *dbuf[2];          /* ping-pong gradient buffers [max_batch, max_size] */
  gsize max_size;
  float *dinput;           /* [max_batch, in_size] */
  float *loss_grad;        /* [max_batch, out_size] for the classifier helpers */
  float *loss_probs;       /* [max_batch, out_size] */
  float *scratch;          /* conv im2col scratch */
  gsize scratch_size;
  float *chain;            /* one image's conv output gradient (fused backward) */
  gsize chain_size;
  gsize conv_params_max;   /* the largest convolution's weights + bias */
  gboolean has_conv_block; /* a conv-ReLU(-pool) block runs image by image */
  /* The second thread's own scratch, chain and weight-gradient partial
   * sums for the conv blocks (allocated on first use). */
  float *h_scratch, *h_chain, *h_grad;
  /* The second thread: started on first use and kept, so that the
   * per-thread buffers of OpenBLAS are made once (a thread per block had
   * spent a fifth of the time in page faults and thread start-up). */
  GThread *h_thread;
  GMutex h_lock;
  GCond h_cond;
  GThreadFunc h_fn;
  gpointer h_data;
  int h_state;             /* 0 idle, 1 task posted, 2 task done, -1 quit */
  int first_param_layer;   /* lowest layer with parameters, or n_layers */

  int B;                   /* batch of the last forward */
  const float *x;          /* borrowed input of the last forward */
  gboolean training;
  gboolean fwd_dropout;    /* whether the last forward applied dropout */
  PsRng rng;               /* dropout stream */
};

/* ------------------------------------------------------------------ */
/* Size table, slabs and lifetime                                       */
/* ------------------------------------------------------------------ */

/* Fills the size table: sizes, parameter offsets, activation offsets. */
static void
plan (PsModel *m)
{
  gsize p = 0, a = 0;
  m->in_size = (gsize) m->in_c * m->in_h * m->in_w;
  m->max_size = m->in_size;
  m->scratch_size = 0;
  m->chain_size = 0;
  m->conv_params_max = 0;
  m->first_param_layer = m->n_layers;

  for (int i = 0; i < m->n_layers; i++)
    {
      PsLayerInfo *l = &m->layers[i];
      l->in_size = (gsize) l->in_c * l->in_h * l->in_w;
      l->out_size = (gsize) l->out_c * l->out_h * l->out_w;
      m->max_size = MAX (m->max_size, l->out_size);
      switch (l->kind)
        {
        case PS_LAYER_LINEAR:
          l->n_weight = (gsize) l->out_c * l->in_size;
          l->n_bias = l->out_c;
          break;
        case PS_LAYER_CONV:
          {
            gsize cols = (gsize) l->in_c * l->k * l->k * l->out_h * l->out_w;
            l->n_weight = (gsize) l->out_c * l->in_c * l->k * l->k;
            l->n_bias = l->out_c;
            m->scratch_size = MAX (m->scratch_size, 2 * cols);
            m->chain_size = MAX (m->chain_size, l->out_size);
            m->conv_params_max = MAX (m->conv_params_max, l->n_weight + l->n_bias);
          }
          break;
        case PS_LAYER_LAYERNORM:
          l->n_weight = l->n_bias = l->in_size;
          l->aux_size = 2;  /* mean, rstd per row */
          break;
        case PS_LAYER_MAXPOOL:
        case PS_LAYER_DROPOUT:
          l->aux_size = l->out_size;  /* argmax indices or the mask */
          break;
        case PS_LAYER_L2NORM:
          l->aux_size = 1;  /* the row norm */
          break;
        default:
          break;
        }
      l->param_off = p;
      p += l->n_weight + l->n_bias;
      if (l->n_weight > 0 && m->first_param_layer == m->n_layers)
        m->first_param_layer = i;
      /* A flatten aliases its input, so it needs no storage of its own. */
      l->act_off = a;
      if (l->kind != PS_LAYER_FLATTEN)
        a += l->out_size;
      l->aux_off = a;
      a += l->aux_size;
    }
  m->n_params = p;
  m->act_per_sample = a;
}

static void
free_buffers (PsModel *m)
{
  g_clear_pointer (&m->acts, ps_free);
  g_clear_pointer (&m->dbuf[0], ps_free);
  g_clear_pointer (&m->dbuf[1], ps_free);
  g_clear_pointer (&m->dinput, ps_free);
  g_clear_pointer (&m->loss_grad, ps_free);
  g_clear_pointer (&m->loss_probs, ps_free);
}

/* Makes room for batches of B; the contents are not kept. */
static void
ensure_batch (PsModel *m, int B)
{
  if (B <= m->max_batch)
    return;
  free_buffers (m);
  m->max_batch = B;
  gsize mb = (gsize) B;
  m->acts = ps_alloc0 (mb * m->act_per_sample * sizeof (float));
  m->dbuf[0] = ps_alloc0 (mb * m->max_size * sizeof (float));
  m->dbuf[1] = ps_alloc0 (mb * m->max_size * sizeof (float));
  m->dinput = ps_alloc0 (mb * m->in_size * sizeof (float));
  gsize out = m->layers[m->n_layers - 1].out_size;
  m->loss_grad = ps_alloc0 (mb * out * sizeof (float));
  m->loss_probs = ps_alloc0 (mb * out * sizeof (float));
}

static int conv_block_len (const PsModel *m, int i);

gboolean
ps_model_used_second_thread (PsModel *m)
{
  g_return_val_if_fail (m != NULL, FALSE);
  return m->h_thread != NULL;
}

PsModel *
ps_model_new (const char *spec, GError **error)
{
  g_return_val_if_fail (spec != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  PsModel *m = g_new0 (PsModel, 1);
  g_mutex_init (&m->h_lock);
  g_cond_init (&m->h_cond);
  if (!ps_model_spec_parse (spec, &m->in_c, &m->in_h, &m->in_w, &m->layers, &m->n_layers, error))
    {
      ps_model_free (m);
      return NULL;
    }
  m->spec = g_strstrip (g_strdup (spec));
  plan (m);
  m->params = ps_alloc0 (MAX (m->n_params, 1) * sizeof (float));
  m->grads = ps_alloc0 (MAX (m->n_params, 1) * sizeof (float));
  m->scratch = ps_alloc0 (MAX (m->scratch_size, 1) * sizeof (float));
  m->chain = ps_alloc0 (MAX (m->chain_size, 1) * sizeof (float));
  for (int i = 0; i < m->n_layers; i++)
    m->has_conv_block |= conv_block_len (m, i) > 1;
  m->training = TRUE;
  ps_rng_init (&m->rng, 0, 0x64726f70);
  ensure_batch (m, 32);
  return m;
}

void
ps_model_free (PsModel *m)
{
  if (m == NULL)
    return;
  free_buffers (m);
  ps_free (m->params);
  ps_free (m->grads);
  ps_free (m->scratch);
  ps_free (m->chain);
  if (m->h_thread != NULL)
    {
      g_mutex_lock (&m->h_lock);
      m->h_state = -1;
      g_cond_broadcast (&m->h_cond);
      g_mutex_unlock (&m->h_lock);
      g_thread_join (m->h_thread);
    }
  g_mutex_clear (&m->h_lock);
  g_cond_clear (&m->h_cond);
  ps_free (m->h_scratch);
  ps_free (m->h_chain);
  ps_free (m->h_grad);
  ps_optim_free (m->optim);
  g_free (m->layers);
  g_free (m->spec);
  g_free (m);
}

static gboolean
relu_like (PsLayerKind k)
{
  return k == PS_LAYER_RELU || k == PS_LAYER_LEAKY_RELU || k == PS_LAYER_GELU ||
         k == PS_LAYER_SILU;
}

void
ps_model_init (PsModel *m, PsRng *rng)
{
  g_return_if_fail (m != NULL && rng != NULL);

  for (int i = 0; i < m->n_layers; i++)
    {
      PsLayerInfo *l = &m->layers[i];
      float *w = m->params + l->param_off;
      float *bias = w + l->n_weight;
      if (l->kind == PS_LAYER_LINEAR || l->kind == PS_LAYER_CONV)
        {
          /* Look past a layer norm or dropout for the activation that
           * decides the gain. */
          int j = i + 1;
          while (j < m->n_layers && (m->layers[j].kind == PS_LAYER_LAYERNORM ||
                                     m->layers[j].kind == PS_LAYER_DROPOUT))
            j++;
          double gain2 = j < m->n_layers && relu_like (m->layers[j].kind) ? 2.0 : 1.0;
          double fan_in = (double) l->n_weight / l->out_c;
          float bound = (float) sqrt (3.0 * gain2 / fan_in);
          ps_rng_fill_uniform (rng, w, l->n_weight, -bound, bound);
          memset (bias, 0, l->n_bias * sizeof (float));
        }
      else if (l->kind == PS_LAYER_LAYERNORM)
        {
          for (gsize k = 0; k < l->n_weight; k++)
            w[k] = 1.f;
          memset (bias, 0, l->n_bias * sizeof (float));
        }
    }
  guint64 seed = ((guint64) ps_rng_u32 (rng) << 32) | ps_rng_u32 (rng);
  ps_rng_init (&m->rng, seed, 0x64726f70);
}

const char *ps_model_spec (PsModel *m) { g_return_val_if_fail (m, NULL); return m->spec; }
gsize ps_model_n_params (PsModel *m) { g_return_val_if_fail (m, 0); return m->n_params; }
float *ps_model_params (PsModel *m) { g_return_val_if_fail (m, NULL); return m->params; }
float *ps_model_grads (PsModel *m) { g_return_val_if_fail (m, NULL); return m->grads; }
int ps_model_in_size (PsModel *m) { g_return_val_if_fail (m, 0); return (int) m->in_size; }
int ps_model_n_layers (PsModel *m) { g_return_val_if_fail (m, 0); return m->n_layers; }
int ps_model_batch (PsModel *m) { g_return_val_if_fail (m, 0); return m->B; }
PsRng *ps_model_get_rng (PsModel *m) { g_return_val_if_fail (m, NULL); return &m->rng; }
gboolean ps_model_get_training (PsModel *m) { g_return_val_if_fail (m, FALSE); return m->training; }
PsOptim *ps_model_get_optimizer (PsModel *m) { g_return_val_if_fail (m, NULL); return m->optim; }

int
ps_model_out_size (PsModel *m)
{
  g_return_val_if_fail (m != NULL, 0);
  return (int) m->layers[m->n_layers - 1].out_size;
}

const PsLayerInfo *
ps_model_layer (PsModel *m, int i)
{
  g_return_val_if_fail (m != NULL, NULL);
  g_return_val_if_fail (i >= 0 && i < m->n_layers, NULL);
  return &m->layers[i];
}

char *
ps_model_describe_layer (PsModel *m, int i)
{
  g_return_val_if_fail (m != NULL && i >= 0 && i < m->n_layers, NULL);
  const PsLayerInfo *l = &m->layers[i];
  static const char *names[] = {
    "linear", "conv", "maxpool", "avgpool", "flatten", "relu", "gelu", "silu", "tanh",
    "leaky_relu", "layernorm", "dropout", "l2norm",
  };
  switch (l->kind)
    {
    case PS_LAYER_LINEAR:
      return g_strdup_printf ("linear %" G_GSIZE_FORMAT "->%d", l->in_size, l->out_c);
    case PS_LAYER_CONV:
      return g_strdup_printf ("conv %dx%dx%d->%dx%dx%d k%d s%d p%d", l->in_c, l->in_h, l->in_w,
                              l->out_c, l->out_h, l->out_w, l->k, l->stride, l->pad);
    case PS_LAYER_MAXPOOL:
    case PS_LAYER_AVGPOOL:
      return g_strdup_printf ("%s k%d s%d -> %dx%dx%d", names[l->kind], l->k, l->stride,
                              l->out_c, l->out_h, l->out_w);
    case PS_LAYER_DROPOUT:
      return g_strdup_printf ("dropout p=%g", l->p);
    default:
      return g_strdup_printf ("%s %" G_GSIZE_FORMAT, names[l->kind], l->out_size);
    }
}

void
ps_model_set_training (PsModel *m, gboolean training)
{
  g_return_if_fail (m != NULL);
  m->training = !!training;
}

/* ------------------------------------------------------------------ */
/* Forward and backward                                                 */
/* ------------------------------------------------------------------ */

static float *
out_ptr (PsModel *m, int i)
{
  /* A flatten's output is its input (NCHW rows are already flat). */
  while (i >= 0 && m->layers[i].kind == PS_LAYER_FLATTEN)
    i--;
  if (i < 0)
    return (float *) m->x;
  return m->acts + m->layers[i].act_off * m->max_batch;
}

static float *
aux_ptr (PsModel *m, int i)
{
  return m->acts + m->layers[i].aux_off * m->max_batch;
}

/* The number of layers from i on that run image by image as one block:
 * a convolution, then a ReLU, then a max-pool (each later one optional).
 * Taking one image through the whole block while its conv output is still
 * in cache, instead of each layer through the whole batch, saves two
 * passes over the largest tensors of a CNN; every kernel computes each
 * image independently, so the results are the same bits. */
static int
conv_block_len (const PsModel *m, int i)
{
  if (m->layers[i].kind != PS_LAYER_CONV)
    return 1;
  if (i + 1 >= m->n_layers || m->layers[i + 1].kind != PS_LAYER_RELU)
    return 1;
  if (i + 2 >= m->n_layers || m->layers[i + 2].kind != PS_LAYER_MAXPOOL)
    return 2;
  return 3;
}

/* Images [b0, b1) of a conv block, with the given im2col scratch. */
static void
conv_block_forward_range (PsModel *m, int i, int len, const float *in, int b0, int b1,
                          float *scratch)
{
  const PsLayerInfo *c = &m->layers[i];
  const float *w = m->params + c->param_off;
  const float *bias = w + c->n_weight;
  float *conv_out = out_ptr (m, i);
  float *relu_out = out_ptr (m, i + 1);
  const PsLayerInfo *p = len > 2 ? &m->layers[i + 2] : NULL;
  float *pool_out = p != NULL ? out_ptr (m, i + 2) : NULL;
  int *argmax = p != NULL ? (int *) aux_ptr (m, i + 2) : NULL;
  for (int b = b0; b < b1; b++)
    {
      float *co = conv_out + (gsize) b * c->out_size;
      float *ro = relu_out + (gsize) b * c->out_size;
      /* The bias goes in with the ReLU: the GEMM then writes the output
       * first instead of reading it back after a bias fill.  The sum is
       * the same one rounding either way (product, then + bias). */
      ps_conv2d_forward (co, in + (gsize) b * c->in_size, w, NULL, scratch, 1, c->in_c,
                         c->in_h, c->in_w, c->out_c, c->k, c->stride, c->pad);
      ps_bias_relu_forward (co, ro, bias, c->out_c, (gsize) c->out_h * c->out_w);
      if (p != NULL)
        ps_maxpool_forward (pool_out + (gsize) b * p->out_size,
                            argmax + (gsize) b * p->aux_size, ro, 1, p->in_c, p->in_h,
                            p->in_w, p->k, p->stride);
    }
}

/* Two threads pay for a conv block from this many images each (a hand-off
 * to the second thread costs tens of microseconds, one image's block a
 * few hundred). */
#define CONV_SPLIT_MIN 8

/* Whether the conv blocks of this batch run on two threads: when BLAS may
 * use two or more (the same cores; its own threads on these per-image
 * products mostly spin, see docs/PERFORMANCE.md) and the batch is large
 * enough.  The second thread's buffers are made here. */
static gboolean
conv_split (PsModel *m, int B)
{
  if (B < 2 * CONV_SPLIT_MIN || ps_blas_get_threads () < 2)
    return FALSE;
  if (m->h_scratch == NULL)
    {
      m->h_scratch = ps_alloc0 (MAX (m->scratch_size, 1) * sizeof (float));
      m->h_chain = ps_alloc0 (MAX (m->chain_size, 1) * sizeof (float));
      m->h_grad = ps_alloc0 (MAX (m->conv_params_max, 1) * sizeof (float));
    }
  return TRUE;
}

static gpointer
helper_main (gpointer data)
{
  PsModel *m = data;
  g_mutex_lock (&m->h_lock);
  for (;;)
    {
      while (m->h_state != 1 && m->h_state != -1)
        g_cond_wait (&m->h_cond, &m->h_lock);
      if (m->h_state == -1)
        break;
      g_mutex_unlock (&m->h_lock);
      m->h_fn (m->h_data);
      g_mutex_lock (&m->h_lock);
      m->h_state = 2;
      g_cond_broadcast (&m->h_cond);
    }
  g_mutex_unlock (&m->h_lock);
  return NULL;
}

/* Runs fn (data) on the model's second thread, or here when it cannot be
 * started; helper_wait() waits for it. */
static void
helper_post (PsModel *m, GThreadFunc fn, gpointer data)
{
  if (m->h_thread == NULL)
    m->h_thread = g_thread_try_new ("ps-conv", helper_main, m, NULL);
  if (m->h_thread == NULL)
    {
      fn (data);
      return;
    }
  g_mutex_lock (&m->h_lock);
  m->h_fn = fn;
  m->h_data = data;
  m->h_state = 1;
  g_cond_broadcast (&m->h_cond);
  g_mutex_unlock (&m->h_lock);
}

static void
helper_wait (PsModel *m)
{
  if (m->h_thread == NULL)
    return;
  g_mutex_lock (&m->h_lock);
  while (m->h_state != 2)
    g_cond_wait (&m->h_cond, &m->h_lock);
  m->h_state = 0;
  g_mutex_unlock (&m->h_lock);
}

typedef struct
{
  PsModel *m;
  int i, len, b0, b1;
  const float *in;
  const float *g;
  float *dinp, *dw, *db;
} ConvPart;

static gpointer
conv_forward_part (gpointer data)
{
  ConvPart *p = data;
  conv_block_forward_range (p->m, p->i, p->len, p->in, p->b0, p->b1, p->m->h_scratch);
  return NULL;
}

static void
conv_block_forward (PsModel *m, int i, int len, const float *in, int B)
{
  if (!conv_split (m, B))
    {
      conv_block_forward_range (m, i, len, in, 0, B, m->scratch);
      return;
    }
  /* Every image is computed alone, so the split gives the same bits. */
  int mid = B / 2;
  ConvPart hi = { .m = m, .i = i, .len = len, .b0 = mid, .b1 = B, .in = in };
  /* BLAS is single-threaded for the whole pass (split_pass_begin). */
  helper_post (m, conv_forward_part, &hi);
  conv_block_forward_range (m, i, len, in, 0, mid, m->scratch);
  helper_wait (m);
}

static const float *model_forward (PsModel *m, const float *x, int B);

/* With the conv blocks on two threads, the whole pass keeps OpenBLAS
 * single-threaded: its idle workers spin (sched_yield) for a long while
 * after every product they share, and with a small dense layer's product
 * in each pass they never went to sleep, taking a quarter of both cores
 * from the conv blocks. */
static gboolean
split_pass_begin (PsModel *m, int B)
{
  if (!m->has_conv_block || !conv_split (m, B))
    return FALSE;
  ps_blas_single_begin ();
  return TRUE;
}

const float *
ps_model_forward (PsModel *m, const float *x, int B)
{
  g_return_val_if_fail (m != NULL && x != NULL, NULL);
  g_return_val_if_fail (B > 0, NULL);
  gboolean single = split_pass_begin (m, B);
  const float *out = model_forward (m, x, B);
  if (single)
    ps_blas_single_end ();
  return out;
}

static const float *
model_forward (PsModel *m, const float *x, int B)
{
  ensure_batch (m, B);
  m->x = x;
  m->B = B;
  m->fwd_dropout = m->training;

  for (int i = 0; i < m->n_layers; i++)
    {
      const PsLayerInfo *l = &m->layers[i];
      const float *in = i == 0 ? x : out_ptr (m, i - 1);
      float *out = out_ptr (m, i);
      const float *w = m->params + l->param_off;
      const float *bias = w + l->n_weight;
      gsize n = (gsize) B * l->out_size;
      float *aux = aux_ptr (m, i);

      int block = conv_block_len (m, i);
      if (block > 1)
        {
          conv_block_forward (m, i, block, in, B);
          i += block - 1;
          continue;
        }

      switch (l->kind)
        {
        case PS_LAYER_LINEAR:
          ps_linear_forward (out, in, w, bias, B, (int) l->in_size, l->out_c);
          break;
        case PS_LAYER_CONV:
          ps_conv2d_forward (out, in, w, bias, m->scratch, B, l->in_c, l->in_h, l->in_w,
                             l->out_c, l->k, l->stride, l->pad);
          break;
        case PS_LAYER_MAXPOOL:
          ps_maxpool_forward (out, (int *) aux, in, B, l->in_c, l->in_h, l->in_w, l->k,
                              l->stride);
          break;
        case PS_LAYER_AVGPOOL:
          ps_avgpool_forward (out, in, B, l->in_c, l->in_h, l->in_w, l->k, l->stride);
          break;
        case PS_LAYER_FLATTEN:
          break;
        case PS_LAYER_RELU:
          ps_relu_forward (out, in, n);
          break;
        case PS_LAYER_GELU:
          ps_gelu_forward (out, in, n);
          break;
        case PS_LAYER_SILU:
          ps_silu_forward (out, in, n);
          break;
        case PS_LAYER_TANH:
          ps_tanh_forward (out, in, n);
          break;
        case PS_LAYER_LEAKY_RELU:
          ps_leaky_relu_forward (out, in, n, l->p);
          break;
        case PS_LAYER_LAYERNORM:
          ps_layernorm_forward (out, aux, aux + m->max_batch, in, w, bias, B,
                                (int) l->in_size, 1e-5f);
          break;
        case PS_LAYER_DROPOUT:
          if (m->fwd_dropout && l->p > 0.f)
            ps_dropout_forward (out, aux, in, n, l->p, &m->rng);
          else
            memcpy (out, in, n * sizeof (float));
          break;
        case PS_LAYER_L2NORM:
          ps_l2norm_forward (out, aux, in, B, (int) l->in_size, 1e-12f);
          break;
        default:
          g_assert_not_reached ();
        }
    }
  return out_ptr (m, m->n_layers - 1);
}

const float *
ps_model_layer_output (PsModel *m, int i)
{
  g_return_val_if_fail (m != NULL, NULL);
  if (i < 0)
    i = m->n_layers - 1;
  g_return_val_if_fail (i < m->n_layers, NULL);
  return out_ptr (m, i);
}

/* dinp = dout where inp > 0, else 0: ps_relu_backward's selection written
 * as an overwrite.  The kernels add into their gradient, so every other
 * layer's input gradient is zeroed first; ReLU is the most common layer and
 * the largest tensors of a CNN pass through it, and skipping that zeroing
 * saved about 6% of a CNN epoch.  Integer masks keep it branch-free (the
 * sign of an activation is a coin toss for a branch predictor); an int32
 * reading of a float is positive exactly when the float is > 0 (or a
 * positive NaN, which passes through as in the kernel). */
PS_KERNEL_CLONES static void
relu_backward_overwrite (float *restrict dinp, const float *restrict dout,
                         const float *restrict inp, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      gint32 x;
      guint32 d;
      memcpy (&x, inp + i, 4);
      memcpy (&d, dout + i, 4);
      d &= (guint32) -(gint32) (x > 0);
      memcpy (dinp + i, &d, 4);
    }
}

/* The number of layers of a block ending at layer i whose backward runs
 * image by image: 3 for a convolution, ReLU and non-overlapping max-pool
 * (i the pool), 2 for a convolution and ReLU (i the ReLU), 0 otherwise or
 * when the block would reach below `stop`. */
static int
conv_block_backward_len (const PsModel *m, int i, int stop)
{
  const PsLayerInfo *l = m->layers;
  if (l[i].kind == PS_LAYER_MAXPOOL && l[i].k == l[i].stride && i - 2 >= stop
      && l[i - 1].kind == PS_LAYER_RELU && l[i - 2].kind == PS_LAYER_CONV)
    return 3;
  if (l[i].kind == PS_LAYER_RELU && i - 1 >= stop && l[i - 1].kind == PS_LAYER_CONV)
    return 2;
  return 0;
}

/* Images [b0, b1) of conv_block_backward for the block of `len` layers
 * ending at i, adding the weight and bias gradients into dw and db (NULL:
 * none), with the given scratch and chain buffers. */
static void
conv_block_backward_range (PsModel *m, int i, int len, const float *g, float *dinp,
                           float *dw, float *db, int b0, int b1, float *scratch, float *chain)
{
  const int ci = i - len + 1;
  const PsLayerInfo *top = &m->layers[i];
  const PsLayerInfo *c = &m->layers[ci];
  /* The ReLU's output (pool block) or input (the conv output): either is
   * > 0 exactly where the ReLU passes its gradient. */
  const float *act = out_ptr (m, i - 1);
  const int *argmax = len == 3 ? (const int *) aux_ptr (m, i) : NULL;
  const float *in = ci == 0 ? m->x : out_ptr (m, ci - 1);
  const float *w = m->params + c->param_off;
  for (int b = b0; b < b1; b++)
    {
      if (len == 3)
        ps_maxpool_relu_backward_set (chain, g + (gsize) b * top->out_size,
                                      argmax + (gsize) b * top->aux_size,
                                      act + (gsize) b * top->in_size, 1, top->in_c, top->in_h,
                                      top->in_w, top->k, top->stride);
      else
        relu_backward_overwrite (chain, g + (gsize) b * top->out_size,
                                 act + (gsize) b * top->in_size, top->out_size);
      float *dx = NULL;
      if (dinp != NULL)
        {
          dx = dinp + (gsize) b * c->in_size;
          memset (dx, 0, c->in_size * sizeof (float));
        }
      ps_conv2d_backward (dx, dw, db, chain, in + (gsize) b * c->in_size, w, scratch, 1,
                          c->in_c, c->in_h, c->in_w, c->out_c, c->k, c->stride, c->pad);
    }
}

static gpointer
conv_backward_part (gpointer data)
{
  ConvPart *p = data;
  conv_block_backward_range (p->m, p->i, p->len, p->g, p->dinp, p->dw, p->db, p->b0, p->b1,
                             p->m->h_scratch, p->m->h_chain);
  return NULL;
}

/* Back through a block (conv_block_backward_len) one image at a time: the
 * pool and ReLU gradients of one image go into a small scratch that stays
 * in cache for the convolution's backward, and the convolution's input
 * gradient is zeroed one image at a time.  The per-image order of the
 * weight-gradient sums is the batched kernel's.  On two threads
 * (conv_split) the second half of the batch sums its weight gradients
 * apart and they are added at the end: the same gradient up to rounding,
 * and the same bits for the same thread count. */
static void
conv_block_backward (PsModel *m, int i, int len, const float *g, float *dinp,
                     gboolean want_params)
{
  const int B = m->B;
  const PsLayerInfo *c = &m->layers[i - len + 1];
  float *dw = want_params ? m->grads + c->param_off : NULL;
  float *db = dw != NULL ? dw + c->n_weight : NULL;
  if (!conv_split (m, B))
    {
      conv_block_backward_range (m, i, len, g, dinp, dw, db, 0, B, m->scratch, m->chain);
      return;
    }
  int mid = B / 2;
  gsize np = c->n_weight + c->n_bias;
  ConvPart hi = { .m = m, .i = i, .len = len, .b0 = mid, .b1 = B, .g = g, .dinp = dinp };
  if (dw != NULL)
    {
      memset (m->h_grad, 0, np * sizeof (float));
      hi.dw = m->h_grad;
      hi.db = m->h_grad + c->n_weight;
    }
  helper_post (m, conv_backward_part, &hi);
  conv_block_backward_range (m, i, len, g, dinp, dw, db, 0, mid, m->scratch, m->chain);
  helper_wait (m);
  if (dw != NULL)
    for (gsize j = 0; j < np; j++)
      dw[j] += m->h_grad[j];
}

/* The backward pass.  With `fresh`, the parameter gradients are written
 * instead of added (as if zeroed first): the classifier's training step
 * zeroes and back-propagates right away, and writing saves a pass over the
 * gradient slab and the GEMMs' reading it back.  Every layer with
 * parameters at or above `stop` is visited, so none keeps stale values. */
static void model_backward_pass (PsModel *m, const float *dout, PsBackwardFlags flags,
                                 gboolean fresh);

static void
model_backward (PsModel *m, const float *dout, PsBackwardFlags flags, gboolean fresh)
{
  gboolean single = split_pass_begin (m, m->B);
  model_backward_pass (m, dout, flags, fresh);
  if (single)
    ps_blas_single_end ();
}

static void
model_backward_pass (PsModel *m, const float *dout, PsBackwardFlags flags, gboolean fresh)
{

  const int B = m->B;
  const gboolean want_params = (flags & PS_BACKWARD_PARAMS) != 0;
  const gboolean want_input = (flags & PS_BACKWARD_INPUT) != 0;
  /* Without an input gradient, nothing below the lowest layer with
   * parameters needs a gradient at all. */
  const int stop = want_input ? 0 : (want_params ? m->first_param_layer : m->n_layers);
  const float *g = dout;
  int cur = -1;   /* which ping-pong buffer holds g; -1 = the caller's */

  for (int i = m->n_layers - 1; i >= stop; i--)
    {
      const PsLayerInfo *l = &m->layers[i];
      const gboolean need_dinp = i > stop || want_input;
      const float *in = i == 0 ? m->x : out_ptr (m, i - 1);
      const float *out = out_ptr (m, i);
      const float *w = m->params + l->param_off;
      float *dw = want_params && l->n_weight > 0 ? m->grads + l->param_off : NULL;
      float *db = dw != NULL ? dw + l->n_weight : NULL;
      const float *aux = aux_ptr (m, i);
      gsize n_in = (gsize) B * l->in_size;
      gsize n = (gsize) B * l->out_size;

      if (l->kind == PS_LAYER_FLATTEN)
        {
          if (i == 0 && want_input)
            memcpy (m->dinput, g, n_in * sizeof (float));
          continue;
        }

      int next = cur == 0 ? 1 : 0;
      int blen = conv_block_backward_len (m, i, stop);
      if (blen > 0)
        {
          const int ci = i - blen + 1;
          const gboolean conv_dinp = ci > stop || want_input;
          float *dx = conv_dinp ? (ci == 0 ? m->dinput : m->dbuf[next]) : NULL;
          const PsLayerInfo *c = &m->layers[ci];
          if (fresh && want_params)
            memset (m->grads + c->param_off, 0, (c->n_weight + c->n_bias) * sizeof (float));
          conv_block_backward (m, i, blen, g, dx, want_params);
          if (dx == NULL)
            break;
          g = dx;
          cur = ci == 0 ? -1 : next;
          i = ci;
          continue;
        }
      float *dinp = NULL;
      if (need_dinp)
        {
          dinp = i == 0 ? m->dinput : m->dbuf[next];
          /* Kernels add into dinp, so it starts at zero (ReLU and the
           * linear layer overwrite). */
          if (l->kind != PS_LAYER_RELU && l->kind != PS_LAYER_LINEAR)
            memset (dinp, 0, n_in * sizeof (float));
        }
      else if (dw == NULL)
        continue;
      if (fresh && dw != NULL && l->kind != PS_LAYER_LINEAR)
        memset (dw, 0, (l->n_weight + l->n_bias) * sizeof (float));

      switch (l->kind)
        {
        case PS_LAYER_LINEAR:
          ps_linear_backward_acc (dinp, dw, db, g, in, w, B, (int) l->in_size, l->out_c, FALSE,
                                  !fresh);
          break;
        case PS_LAYER_CONV:
          ps_conv2d_backward (dinp, dw, db, g, in, w, m->scratch, B, l->in_c, l->in_h,
                              l->in_w, l->out_c, l->k, l->stride, l->pad);
          break;
        case PS_LAYER_MAXPOOL:
          ps_maxpool_backward (dinp, g, (const int *) aux, B, l->in_c, l->in_h, l->in_w,
                               l->k, l->stride);
          break;
        case PS_LAYER_AVGPOOL:
          ps_avgpool_backward (dinp, g, B, l->in_c, l->in_h, l->in_w, l->k, l->stride);
          break;
        case PS_LAYER_RELU:
          relu_backward_overwrite (dinp, g, in, n);
          break;
        case PS_LAYER_GELU:
          ps_gelu_backward (dinp, g, in, n);
          break;
        case PS_LAYER_SILU:
          ps_silu_backward (dinp, g, in, n);
          break;
        case PS_LAYER_TANH:
          ps_tanh_backward (dinp, g, out, n);
          break;
        case PS_LAYER_LEAKY_RELU:
          ps_leaky_relu_backward (dinp, g, in, n, l->p);
          break;
        case PS_LAYER_LAYERNORM:
          ps_layernorm_backward (dinp, dw, db, g, in, w, aux, aux + m->max_batch, B,
                                 (int) l->in_size);
          break;
        case PS_LAYER_DROPOUT:
          if (m->fwd_dropout && l->p > 0.f)
            ps_dropout_backward (dinp, g, aux, n);
          else
            memcpy (dinp, g, n * sizeof (float));
          break;
        case PS_LAYER_L2NORM:
          ps_l2norm_backward (dinp, g, out, aux, B, (int) l->in_size);
          break;
        default:
          g_assert_not_reached ();
        }
      if (dinp == NULL)
        break;
      g = dinp;
      cur = i == 0 ? -1 : next;
    }
}

void
ps_model_backward (PsModel *m, const float *dout, PsBackwardFlags flags)
{
  g_return_if_fail (m != NULL && dout != NULL);
  g_return_if_fail (m->x != NULL);
  model_backward (m, dout, flags, FALSE);
}

const float *
ps_model_input_grad (PsModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->dinput;
}

void
ps_model_zero_grad (PsModel *m)
{
  g_return_if_fail (m != NULL);
  memset (m->grads, 0, m->n_params * sizeof (float));
}

/* ------------------------------------------------------------------ */
/* Optimizer and classifier helpers                                     */
/* ------------------------------------------------------------------ */

void
ps_model_set_optimizer (PsModel *m, const PsOptimConfig *cfg)
{
  g_return_if_fail (m != NULL && cfg != NULL);
  ps_optim_free (m->optim);
  m->optim = ps_optim_new (cfg, m->n_params);
}

float
ps_model_step (PsModel *m)
{
  g_return_val_if_fail (m != NULL, 0.f);
  g_return_val_if_fail (m->optim != NULL, 0.f);
  return ps_optim_step (m->optim, m->params, m->grads);
}

gboolean
ps_model_swap_ema (PsModel *m)
{
  g_return_val_if_fail (m != NULL, FALSE);
  if (m->optim == NULL || m->optim->ema == NULL)
    return FALSE;
  float *ema = m->optim->ema;
  for (gsize i = 0; i < m->n_params; i++)
    {
      float t = m->params[i];
      m->params[i] = ema[i];
      ema[i] = t;
    }
  return TRUE;
}

gboolean
ps_model_train_xent_batch (PsModel *m, const float *x, const int *y, int B,
                           float smoothing, float *loss, GError **error)
{
  g_return_val_if_fail (m != NULL && x != NULL && y != NULL, FALSE);
  g_return_val_if_fail (m->optim != NULL, FALSE);
  g_return_val_if_fail (B > 0, FALSE);

  int C = ps_model_out_size (m);
  const float *logits = ps_model_forward (m, x, B);
  float l = ps_softmax_xent (m->loss_grad, m->loss_probs, logits, y, B, C, smoothing);
  if (loss != NULL)
    *loss = l;
  if (!isfinite (l))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_DIVERGED,
                   "training diverged: the cross-entropy loss is %g", l);
      return FALSE;
    }
  /* Zero the gradients and back-propagate, as one writing pass. */
  model_backward (m, m->loss_grad, PS_BACKWARD_PARAMS, TRUE);
  ps_model_step (m);
  return TRUE;
}

void
ps_model_predict (PsModel *m, const float *x, int n, int batch, int *pred)
{
  g_return_if_fail (m != NULL && (n == 0 || (x != NULL && pred != NULL)));
  if (batch <= 0)
    batch = 256;

  gboolean was_training = m->training;
  m->training = FALSE;
  int C = ps_model_out_size (m);
  for (int s = 0; s < n; s += batch)
    {
      int b = MIN (batch, n - s);
      const float *out = ps_model_forward (m, x + (gsize) s * m->in_size, b);
      for (int i = 0; i < b; i++)
        {
          const float *row = out + (gsize) i * C;
          int best = 0;
          for (int c = 1; c < C; c++)
            if (row[c] > row[best])
              best = c;
          pred[s + i] = best;
        }
    }
  m->training = was_training;
}

double
ps_model_accuracy (PsModel *m, const float *x, const int *y, int n, int batch)
{
  g_return_val_if_fail (m != NULL, 0.0);
  if (n <= 0)
    return 0.0;
  int *pred = g_new (int, n);
  ps_model_predict (m, x, n, batch, pred);
  int ok = 0, counted = 0;
  for (int i = 0; i < n; i++)
    if (y[i] >= 0)
      {
        counted++;
        ok += pred[i] == y[i];
      }
  g_free (pred);
  return counted > 0 ? (double) ok / counted : 0.0;
}
