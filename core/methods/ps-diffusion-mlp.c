/* ps-diffusion-mlp.c: the denoiser's direct MLP path (see the comment
 * below); ps-diffusion.c calls it through ps-diffusion-private.h. */
#define G_LOG_DOMAIN "ps-diffusion"

#include "ps-diffusion-private.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <string.h>

/* ---- The direct MLP path ------------------------------------------------
 *
 * A denoiser whose network is dense layers, each optionally followed by
 * SiLU (what ps_denoiser_new builds from tails such as "128s-128s-128s"),
 * runs here instead of through ps_model: the same parameter and gradient
 * slabs and the same sums up to rounding, but
 *  - each layer's bias and SiLU take one pass after its GEMM, and in
 *    backward the SiLU derivative and the bias gradient one pass;
 *  - when all rows share one timestep (every sampler), the first layer is
 *    split: the rows' own columns (x and the class one-hot) take a few
 *    multiply-adds per unit, and the time embedding's columns and the bias
 *    become one constant vector per call, so the embedding (32 of the 2-D
 *    denoiser's 34 inputs) no longer goes through a GEMM per row.
 * Other networks (dropout, norms, other activations) take ps_model. */
struct _DenMlp
{
  int n;            /* dense layers */
  int *cin, *cout;  /* [n] widths */
  gboolean *silu;   /* [n] SiLU after layer i */
  gsize *off;       /* [n] weight offset in the slabs; the bias follows */
  int max_w;        /* widest layer output */
  /* Shared-timestep evaluation. */
  float *w0t;       /* [in_size, cout[0]]: the first weight, transposed */
  float **wt;       /* [n][cin[i], cout[i]]: each weight transposed (refreshed per call) */
  float *c0;        /* [cout[0]]: bias plus the embedding's contribution */
  int rows;         /* rows of h[] */
  float *h[4];      /* [rows, max_w]: two blocks per thread (0-1 caller, 2-3 helper) */
  /* Training: each layer's pre-activation and output. */
  int tcap;
  float **pre, **act;  /* [n][tcap, cout[i]]; act[i] = pre[i] without SiLU */
  float **sig;      /* [n][tcap, cout[i]]: sigmoid(pre) (NULL without SiLU) */
  float *g[2];      /* [tcap, max_w] gradient ping-pong */
};

/* Rows per block of a shared-timestep evaluation: the two activation
 * blocks (2 x 512 x 128 floats per thread) stay in L2 from one layer to
 * the next; 512 measured 2% faster than 256 and 1024, 8% faster than 128. */
#define DEN_MLP_ROWS 512

/* The per-layer training buffers (the pointer arrays stay). */
static void
free_train_layers (DenMlp *p)
{
  for (int i = 0; p->pre != NULL && i < p->n; i++)
    {
      if (p->act[i] != p->pre[i])
        ps_free (p->act[i]);
      ps_free (p->pre[i]);
      ps_free (p->sig[i]);
    }
}

void
ps_den_mlp_free (gpointer mlp)
{
  DenMlp *p = mlp;
  if (p == NULL)
    return;
  free_train_layers (p);
  g_free (p->pre);
  g_free (p->act);
  g_free (p->sig);
  ps_free (p->g[0]);
  ps_free (p->g[1]);
  for (int i = 0; i < 4; i++)
    ps_free (p->h[i]);
  g_free (p->w0t);
  for (int i = 0; p->wt != NULL && i < p->n; i++)
    ps_free (p->wt[i]);
  g_free (p->wt);
  g_free (p->c0);
  g_free (p->cin);
  g_free (p->cout);
  g_free (p->silu);
  g_free (p->off);
  g_free (p);
}

/* The direct path of d, or NULL when its network is not a plain
 * dense/SiLU stack (decided once). */
DenMlp *
ps_den_mlp (PsDenoiser *d)
{
  if (d->mlp_checked)
    return d->mlp;
  d->mlp_checked = TRUE;
  PsModel *m = d->net;
  const int L = ps_model_n_layers (m);
  int n = 0;
  for (int i = 0; i < L; i++)
    {
      const PsLayerInfo *l = ps_model_layer (m, i);
      if (l->kind == PS_LAYER_LINEAR)
        n++;
      else if (!(l->kind == PS_LAYER_SILU && i > 0
                 && ps_model_layer (m, i - 1)->kind == PS_LAYER_LINEAR))
        return NULL;
    }
  if (n == 0)
    return NULL;
  DenMlp *p = g_new0 (DenMlp, 1);
  p->n = n;
  p->cin = g_new (int, n);
  p->cout = g_new (int, n);
  p->silu = g_new0 (gboolean, n);
  p->off = g_new (gsize, n);
  for (int i = 0, k = -1; i < L; i++)
    {
      const PsLayerInfo *l = ps_model_layer (m, i);
      if (l->kind == PS_LAYER_SILU)
        {
          p->silu[k] = TRUE;
          continue;
        }
      k++;
      p->cin[k] = (int) l->in_size;
      p->cout[k] = l->out_c;
      p->off[k] = l->param_off;
      p->max_w = MAX (p->max_w, l->out_c);
    }
  p->w0t = g_new (float, (gsize) d->in_size * p->cout[0]);
  p->wt = g_new0 (float *, n);
  for (int i = 0; i < n; i++)
    p->wt[i] = ps_alloc0 ((gsize) p->cin[i] * p->cout[i] * sizeof (float));
  p->c0 = g_new (float, p->cout[0]);
  p->rows = DEN_MLP_ROWS;
  for (int i = 0; i < 4; i++)
    p->h[i] = ps_alloc0 ((gsize) p->rows * p->max_w * sizeof (float));
  d->mlp = p;
  return p;
}

void
ps_denoiser_set_direct (PsDenoiser *d, gboolean enable)
{
  g_return_if_fail (d != NULL);
  if (!enable)
    {
      ps_den_mlp_free (d->mlp);
      d->mlp = NULL;
      d->mlp_checked = TRUE;
    }
  else if (d->mlp == NULL)
    d->mlp_checked = FALSE;
}

gboolean
ps_denoiser_get_direct (PsDenoiser *d)
{
  g_return_val_if_fail (d != NULL, FALSE);
  return ps_den_mlp (d) != NULL;
}

static void
add_bias_rows (float *x, const float *bias, int B, int C)
{
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      x[(gsize) b * C + c] += bias[c];
}

/* Layers 1.. of a block of R rows whose first layer's pre-activation
 * (without its bias/constant `b0`; NULL: with them and its SiLU) is in h;
 * o is a second block; p->wt holds the transposed weights.  Returns
 * the block holding the network's output [R, D]. */
static float *
den_mlp_block_rest (DenMlp *p, const float *params, const float *b0, int R, float *h, float *o)
{
  /* b0 NULL: the first layer is complete already. */
  if (b0 != NULL && p->silu[0])
    ps_bias_silu_forward (h, NULL, NULL, h, b0, R, p->cout[0]);
  else if (b0 != NULL)
    add_bias_rows (h, b0, R, p->cout[0]);
  for (int i = 1; i < p->n; i++)
    {
      const float *w = params + p->off[i];
      const PsGemmEpilogue epi = { .bias = w + (gsize) p->cin[i] * p->cout[i],
                                   .silu = p->silu[i] };
      ps_gemm_fused (R, p->cout[i], p->cin[i], h, p->cin[i], 1, p->wt[i], p->cout[i], o,
                     p->cout[i], &epi);
      float *tmp = h;
      h = o;
      o = tmp;
    }
  return h;
}

/* One shared-timestep evaluation over rows [lo, hi), on the blocks
 * h[2 k], h[2 k + 1]: the constants (c0, w0t) are prepared by the caller. */
typedef struct
{
  PsDenoiser *d;
  DenMlp *p;
  float *out;
  const float *x;
  const int *cls;
  int lo, hi, k;
} DenMlpRange;

static gpointer
den_mlp_range (gpointer data)
{
  const DenMlpRange *a = data;
  PsDenoiser *d = a->d;
  DenMlp *p = a->p;
  const float *params = ps_model_params (d->net);
  const int D = d->D, E = d->emb_dim, W = d->in_size, H0 = p->cout[0];
  const int first_cls = D + E;
  const float *w0 = params + p->off[0];
  float *h = p->h[2 * a->k], *o = p->h[2 * a->k + 1];
  for (int s0 = a->lo; s0 < a->hi; s0 += p->rows)
    {
      const int R = MIN (p->rows, a->hi - s0);
      const float *xb = a->x + (gsize) s0 * D;
      if (D <= 8 && d->n_classes == 0)
        {
          /* x, the constant, the first SiLU: one pass. */
          ps_small_dense_silu_forward (h, xb, p->w0t, p->c0, R, D, H0, p->silu[0]);
          const float *res = den_mlp_block_rest (p, params, NULL, R, h, o);
          memcpy (a->out + (gsize) s0 * D, res, (gsize) R * D * sizeof (float));
          continue;
        }
      if (D <= 8)
        for (int r = 0; r < R; r++)
          {
            float *hr = h + (gsize) r * H0;
            const float *wt = p->w0t;
            const float x0 = xb[(gsize) r * D];
            for (int j = 0; j < H0; j++)
              hr[j] = x0 * wt[j];
            for (int k = 1; k < D; k++)
              {
                const float xk = xb[(gsize) r * D + k];
                const float *wk = wt + (gsize) k * H0;
                for (int j = 0; j < H0; j++)
                  hr[j] += xk * wk[j];
              }
          }
      else
        ps_sgemm (FALSE, TRUE, R, H0, D, 1.f, xb, D, w0, W, 0.f, h, H0);
      if (d->n_classes > 0)
        for (int r = 0; r < R; r++)
          {
            int c = a->cls ? a->cls[s0 + r] : -1;
            c = c >= 0 && c < d->n_classes ? c : d->n_classes;
            const float *wc = p->w0t + (gsize) (first_cls + c) * H0;
            float *hr = h + (gsize) r * H0;
            for (int j = 0; j < H0; j++)
              hr[j] += wc[j];
          }
      const float *res = den_mlp_block_rest (p, params, p->c0, R, h, o);
      memcpy (a->out + (gsize) s0 * D, res, (gsize) R * D * sizeof (float));
    }
  return NULL;
}

/* The network's output out[n, D] for x[n, D] at one integer timestep t
 * (cls[n] or NULL: the null class).  When OpenBLAS may use two threads and
 * there are at least four blocks of rows, the rows are split between the
 * caller and one helper thread, each running single-threaded GEMMs on its
 * own blocks: the SiLU passes then run in parallel too, and a GEMM of 256
 * rows is too small for OpenBLAS to split well (its 2-thread speed on such
 * products is erratic).  The helper is started and joined per call (tens
 * of microseconds against milliseconds of work), so nothing waits or spins
 * between calls. */
void
ps_den_mlp_eval_shared_t (PsDenoiser *d, DenMlp *p, float *out, const float *x, int n, int t,
                          const int *cls)
{
  const float *params = ps_model_params (d->net);
  const int D = d->D, E = d->emb_dim, W = d->in_size, H0 = p->cout[0];
  const float *w0 = params + p->off[0];
  const float *b0 = w0 + (gsize) W * H0;
  /* The constant part of the first layer: bias + W[:, D..D+E) emb(t). */
  float emb_local[256];
  g_autofree float *emb_heap = E > 256 ? g_new (float, E) : NULL;
  float *emb = emb_heap ? emb_heap : emb_local;
  if (E > 0)
    {
      ps_denoiser_ensure_emb_table (d);
      if (t < PS_DENOISER_EMB_TABLE)
        memcpy (emb, d->emb_table + (gsize) t * E, E * sizeof (float));
      else
        {
          float tf = (float) t;
          ps_time_embed_forward (emb, &tf, 1, E, 10000.f);
        }
    }
  for (int j = 0; j < H0; j++)
    {
      const float *wr = w0 + (gsize) j * W + D;
      float acc = b0[j];
      for (int e = 0; e < E; e++)
        acc += wr[e] * emb[e];
      p->c0[j] = acc;
    }
  /* The row-dependent columns (x, class one-hot), transposed so that each
   * is a contiguous vector over the units. */
  for (int k = 0; k < W; k++)
    if (k < D || k >= D + E)
      for (int j = 0; j < H0; j++)
        p->w0t[(gsize) k * H0 + j] = w0[(gsize) j * W + k];
  /* The other layers' weights as [in, out] for ps_gemm_fused (a 128 x 128
   * transpose costs microseconds against milliseconds of rows). */
  for (int i = 1; i < p->n; i++)
    ps_transpose (p->wt[i], params + p->off[i], p->cout[i], p->cin[i]);

  DenMlpRange all = { d, p, out, x, cls, 0, n, 0 };
  if (ps_blas_get_threads () < 2 || n < 4 * p->rows)
    {
      den_mlp_range (&all);
      return;
    }
  /* Split at a block boundary near the middle. */
  int mid = (n / 2 + p->rows - 1) / p->rows * p->rows;
  DenMlpRange lo = all, hi = all;
  lo.hi = mid;
  hi.lo = mid;
  hi.k = 1;
  ps_blas_single_begin ();
  GThread *helper = g_thread_try_new ("ps-denoiser", den_mlp_range, &hi, NULL);
  den_mlp_range (&lo);
  if (helper != NULL)
    g_thread_join (helper);
  else
    den_mlp_range (&hi);
  ps_blas_single_end ();
}

static void
den_mlp_reserve_train (DenMlp *p, int n)
{
  if (n <= p->tcap)
    return;
  free_train_layers (p);
  ps_free (p->g[0]);
  ps_free (p->g[1]);
  p->tcap = MAX (n, 2 * p->tcap);
  if (p->pre == NULL)
    {
      p->pre = g_new0 (float *, p->n);
      p->act = g_new0 (float *, p->n);
      p->sig = g_new0 (float *, p->n);
    }
  for (int i = 0; i < p->n; i++)
    {
      gsize bytes = (gsize) p->tcap * p->cout[i] * sizeof (float);
      p->pre[i] = ps_alloc0 (bytes);
      p->act[i] = p->silu[i] ? ps_alloc0 (bytes) : p->pre[i];
      p->sig[i] = p->silu[i] ? ps_alloc0 (bytes) : NULL;
    }
  p->g[0] = ps_alloc0 ((gsize) p->tcap * p->max_w * sizeof (float));
  p->g[1] = ps_alloc0 ((gsize) p->tcap * p->max_w * sizeof (float));
}

/* Forward over full input rows in[n, in_size], keeping what backward
 * needs; returns the output [n, D] (owned by p). */
const float *
ps_den_mlp_forward_train (PsDenoiser *d, DenMlp *p, const float *in, int n)
{
  den_mlp_reserve_train (p, n);
  const float *params = ps_model_params (d->net);
  const float *src = in;
  for (int i = 0; i < p->n; i++)
    {
      const float *w = params + p->off[i];
      ps_transpose (p->wt[i], w, p->cout[i], p->cin[i]);
      /* act = silu(pre) with pre and its sigmoid kept for backward; without
       * SiLU act is pre. */
      const PsGemmEpilogue epi = { .bias = w + (gsize) p->cin[i] * p->cout[i],
                                   .silu = p->silu[i],
                                   .pre = p->silu[i] ? p->pre[i] : NULL,
                                   .sig = p->sig[i] };
      ps_gemm_fused (n, p->cout[i], p->cin[i], src, p->cin[i], 1, p->wt[i], p->cout[i],
                     p->act[i], p->cout[i], &epi);
      src = p->act[i];
    }
  return p->act[p->n - 1];
}

/* Column sums of g[n, C] into sum[C] (overwritten), row by row. */
static void
col_sums (float *sum, const float *g, int n, int C)
{
  memset (sum, 0, C * sizeof (float));
  for (int b = 0; b < n; b++)
    for (int c = 0; c < C; c++)
      sum[c] += g[(gsize) b * C + c];
}

/* The parameter gradients of the last ps_den_mlp_forward_train for
 * dout[n, D], WRITTEN into the model's gradient slab (every parameter is
 * in some layer, so this equals zeroing and adding). */
void
ps_den_mlp_backward_params (PsDenoiser *d, DenMlp *p, const float *in, const float *dout, int n)
{
  const float *params = ps_model_params (d->net);
  float *grads = ps_model_grads (d->net);
  const float *g = dout;
  int buf = 0;
  for (int i = p->n - 1; i >= 0; i--)
    {
      const int C = p->cin[i], OC = p->cout[i];
      const float *src = i == 0 ? in : p->act[i - 1];
      const float *w = params + p->off[i];
      float *dw = grads + p->off[i];
      /* dW[OC, C] = g^T src: g read transposed in place. */
      ps_gemm_fused (OC, C, n, g, 1, OC, src, C, dw, C, NULL);
      if (i == p->n - 1)
        col_sums (dw + (gsize) C * OC, g, n, OC);
      if (i == 0)
        break;
      /* The gradient at layer i's input, then through layer i-1's SiLU
       * with layer i-1's bias gradient in the same pass. */
      float *dh = p->g[buf];
      float *db = grads + p->off[i - 1] + (gsize) p->cin[i - 1] * C;
      memset (db, 0, C * sizeof (float));
      const PsGemmEpilogue epi = { .dsilu_pre = p->silu[i - 1] ? p->pre[i - 1] : NULL,
                                   .dsilu_sig = p->sig[i - 1],
                                   .colsum = db };
      ps_gemm_fused (n, C, OC, g, OC, 1, w, C, dh, C, &epi);
      g = dh;
      buf ^= 1;
    }
}

/* eps = a x + b out for the parameterisation at alpha_bar ab. */
