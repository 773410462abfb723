/* ps-layers.h: layer kernels as forward/backward pairs over plain arrays.
 *
 * llm.c conventions: outputs first, then inputs, then sizes; every pointer
 * carries its shape in a comment; backward ADDS into the gradients it
 * writes (dinp, dweight, dbias), so zeroing is the caller's job; any of the
 * gradient pointers may be NULL when that gradient is not wanted (e.g.
 * dweight = NULL for an input-gradient-only pass used by guidance).
 * Kernels allocate nothing and report nothing: the caller owns all memory
 * (scratch buffers are passed in) and validates sizes.
 *
 * Images are NCHW, row-major.
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"

G_BEGIN_DECLS

/* PS_KERNEL_CLONES marks a hot elementwise loop to be compiled twice, for
 * AVX2 and for the baseline x86-64 the build targets (no -march=native by
 * default), with the loader picking one for the CPU.  Use it only on loops
 * whose result does not depend on the vector width (selections, integer
 * keys, or fixed lane-wise partial sums), so that both versions give the
 * same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define PS_KERNEL_CLONES __attribute__ ((target_clones ("avx2", "default")))
#endif
#endif
#ifndef PS_KERNEL_CLONES
#define PS_KERNEL_CLONES
#endif

/* PS_KERNEL_VECTORIZE additionally lets gcc vectorise a loop whose length
 * is only known at run time (gcc 12 at -O2 uses its "very cheap" cost model,
 * which never does) and treat float comparisons as non-trapping, so clamps
 * become min/max instructions.  For loops of pure arithmetic on floats. */
#if defined(__GNUC__) && !defined(__clang__)
#define PS_KERNEL_VECTORIZE __attribute__ ((optimize ("tree-vectorize", "vect-cost-model=dynamic", "no-trapping-math")))
#else
#define PS_KERNEL_VECTORIZE
#endif

/* ---- Dense ---------------------------------------------------------- */

/* out[B,OC] = inp[B,C] @ weight[OC,C]^T + bias[OC] (bias may be NULL). */
void ps_linear_forward  (float *out, const float *inp, const float *weight, const float *bias,
                         int B, int C, int OC);
void ps_linear_backward (float *dinp, float *dweight, float *dbias,
                         const float *dout, const float *inp, const float *weight,
                         int B, int C, int OC);
/* ps_linear_backward with a choice, per output, of adding (TRUE) or
 * overwriting (FALSE): acc_inp for dinp, acc_params for dweight and dbias.
 * Overwriting skips zeroing the outputs beforehand. */
void ps_linear_backward_acc (float *dinp, float *dweight, float *dbias,
                             const float *dout, const float *inp, const float *weight,
                             int B, int C, int OC, gboolean acc_inp, gboolean acc_params);

/* ---- Convolution (im2col + GEMM) -------------------------------------- */

/* Output spatial size for a conv or pool. */
int  ps_conv_out_size (int in, int k, int stride, int pad);
/* cols[C*K*K, OH*OW] for one image inp[C,H,W]. */
void ps_im2col (float *cols, const float *inp, int C, int H, int W, int K, int stride, int pad);
/* Adds cols back into dinp[C,H,W] (the adjoint of im2col). */
void ps_col2im (float *dinp, const float *cols, int C, int H, int W, int K, int stride, int pad);
/* out[B,OC,OH,OW] = conv(inp[B,C,H,W], weight[OC,C,K,K]) + bias[OC].
 * scratch: C*K*K*OH*OW floats. */
void ps_conv2d_forward  (float *out, const float *inp, const float *weight, const float *bias,
                         float *scratch, int B, int C, int H, int W, int OC, int K,
                         int stride, int pad);
/* scratch: 2*C*K*K*OH*OW floats. */
void ps_conv2d_backward (float *dinp, float *dweight, float *dbias,
                         const float *dout, const float *inp, const float *weight,
                         float *scratch, int B, int C, int H, int W, int OC, int K,
                         int stride, int pad);
/* Direct (naive) convolution: the test oracle for the im2col path. */
void ps_conv2d_forward_ref (float *out, const float *inp, const float *weight, const float *bias,
                            int B, int C, int H, int W, int OC, int K, int stride, int pad);

/* ---- Pooling and resampling ------------------------------------------ */

/* out[B,C,OH,OW]; argmax[B,C,OH,OW] (index into the input plane) for backward. */
void ps_maxpool_forward  (float *out, int *argmax, const float *inp,
                          int B, int C, int H, int W, int K, int stride);
void ps_maxpool_backward (float *dinp, const float *dout, const int *argmax,
                          int B, int C, int H, int W, int K, int stride);
/* The backward of a ReLU followed by a max-pool whose windows do not
 * overlap (stride == K), in one pass: dinp[B,C,H,W] is OVERWRITTEN (not
 * added) with the gradient at the ReLU's input, given act[B,C,H,W], the
 * ReLU's output (= the pool's input), and the pool's dout and argmax.
 * Equals ps_maxpool_backward into zeros followed by ps_relu_backward. */
void ps_maxpool_relu_backward_set (float *dinp, const float *dout, const int *argmax,
                                   const float *act, int B, int C, int H, int W, int K,
                                   int stride);
void ps_avgpool_forward  (float *out, const float *inp, int B, int C, int H, int W, int K, int stride);
void ps_avgpool_backward (float *dinp, const float *dout, int B, int C, int H, int W, int K, int stride);
/* Nearest-neighbour upsampling by an integer factor: out[B,C,H*f,W*f]. */
void ps_upsample_forward  (float *out, const float *inp, int B, int C, int H, int W, int f);
void ps_upsample_backward (float *dinp, const float *dout, int B, int C, int H, int W, int f);

/* ---- Elementwise activations (n = number of elements) ----------------- */

void ps_relu_forward       (float *out, const float *inp, gsize n);
void ps_relu_backward      (float *dinp, const float *dout, const float *inp, gsize n);
/* pre[C,P] += bias[C] (per row; bias may be NULL), then out = relu(pre):
 * a convolution's bias and the ReLU after it in one pass over the
 * convolution's output while it is still in cache. */
void ps_bias_relu_forward  (float *pre, float *out, const float *bias, int C, gsize P);
void ps_leaky_relu_forward (float *out, const float *inp, gsize n, float slope);
void ps_leaky_relu_backward (float *dinp, const float *dout, const float *inp, gsize n, float slope);
void ps_gelu_forward       (float *out, const float *inp, gsize n);   /* tanh approximation */
void ps_gelu_backward      (float *dinp, const float *dout, const float *inp, gsize n);
void ps_silu_forward       (float *out, const float *inp, gsize n);
void ps_silu_backward      (float *dinp, const float *dout, const float *inp, gsize n);
/* out[B,C] = silu(inp[B,C] + bias[C]) (bias may be NULL): a dense layer's
 * bias and the SiLU after it in one pass while the GEMM's output is in
 * cache.  pre[B,C], when not NULL, receives inp + bias (the input
 * ps_silu_backward needs), and sig[B,C], when not NULL, sigmoid(inp +
 * bias) (which spares the backward its exponentials).  out and pre may
 * each be inp. */
void ps_bias_silu_forward  (float *out, float *pre, float *sig, const float *inp,
                            const float *bias, int B, int C);
/* The backward of the above in one pass: dpre[B,C] is OVERWRITTEN (not
 * added) with dout * silu'(pre), and dbias[C] (may be NULL) ADDS its
 * column sums, row by row as ps_linear_backward sums its bias gradient.
 * sig is the forward's sigmoid(pre) or NULL (then recomputed; the same
 * values).  Equals ps_silu_backward into zeros followed by that bias sum.
 * dpre may be dout. */
void ps_silu_backward_bias (float *dpre, float *dbias, const float *dout, const float *pre,
                            const float *sig, int B, int C);
/* out[B,C] = silu(c[C] + x[B,K] @ wt[K,C]) (no SiLU when silu is FALSE):
 * a dense layer with few inputs (a diffusion denoiser's coordinates, its
 * other inputs folded into the constant c) in one pass, the weights stored
 * transposed.  For small K; a large K wants a GEMM. */
void ps_small_dense_silu_forward (float *out, const float *x, const float *wt, const float *c,
                                  int B, int K, int C, gboolean silu);
/* ---- A matrix product with its epilogue (ps-dense.c) -------------------- */

/* What ps_gemm_fused does to each element x of the product A B before
 * storing it, in this order (every array [M, ldc] at C's positions):
 *   x += bias[j]                       (bias not NULL)
 *   pre = x                            (pre not NULL)
 *   x = x sigmoid(x), sig = sigmoid(x) (silu; sig not NULL only with silu)
 *   x *= silu'(dsilu_pre)              (dsilu_pre not NULL; dsilu_sig is
 *                                       the saved sigmoid or NULL)
 *   colsum[j] += x                     (colsum not NULL; ADDS)
 * A zeroed struct is the plain product. */
typedef struct
{
  const float *bias;
  gboolean silu;
  float *pre, *sig;
  const float *dsilu_pre, *dsilu_sig;
  float *colsum;
} PsGemmEpilogue;

/* C[M, N] (row stride ldc) = A B with epi (NULL: none) applied, where
 * A[i, k] = A[i a_rs + k a_cs] (a_rs or a_cs must be 1: A or its
 * transpose, read in place) and B[k, j] = B[k ldb + j].  C is overwritten.
 * For the small products of MLP layers (K up to a few hundred); each
 * element's sum runs over k in order.  With AVX-512 a register-tiled
 * kernel, else ps_sgemm and loops. */
void ps_gemm_fused (int M, int N, int K, const float *A, gsize a_rs, gsize a_cs,
                    const float *B, gsize ldb, float *C, gsize ldc, const PsGemmEpilogue *epi);
/* dst[cols, rows] = src[rows, cols] transposed. */
void ps_transpose  (float *dst, const float *src, int rows, int cols);

void ps_tanh_forward       (float *out, const float *inp, gsize n);
void ps_tanh_backward      (float *dinp, const float *dout, const float *out, gsize n);
void ps_sigmoid_forward    (float *out, const float *inp, gsize n);
void ps_sigmoid_backward   (float *dinp, const float *dout, const float *out, gsize n);

/* ---- Row-wise ops over [B, C] ------------------------------------------ */

/* Numerically stable softmax of each row; optional temperature via scaling
 * the input beforehand. */
void ps_softmax_forward  (float *out, const float *inp, int B, int C);
void ps_softmax_backward (float *dinp, const float *dout, const float *out, int B, int C);
/* out = (x - mean) / sqrt(var + eps) * gamma + beta; mean/rstd[B] cached. */
void ps_layernorm_forward  (float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int B, int C, float eps);
void ps_layernorm_backward (float *dinp, float *dgamma, float *dbeta, const float *dout,
                            const float *inp, const float *gamma, const float *mean,
                            const float *rstd, int B, int C);
/* out = x / max(||x||, eps) per row; norm[B] cached. */
void ps_l2norm_forward  (float *out, float *norm, const float *inp, int B, int C, float eps);
void ps_l2norm_backward (float *dinp, const float *dout, const float *out, const float *norm,
                         int B, int C);
/* Inverted dropout: mask[n] holds 0 or 1/(1-p), drawn by the caller's RNG. */
void ps_dropout_forward  (float *out, float *mask, const float *inp, gsize n, float p, PsRng *rng);
void ps_dropout_backward (float *dinp, const float *dout, const float *mask, gsize n);

/* Sinusoidal embedding of a scalar per row (time or noise level):
 * out[B, dim] = [sin(t*f_0..f_{dim/2-1}), cos(...)] with geometric
 * frequencies f_i = max_period^(-i/(dim/2)).  No parameters; its input
 * gradient is returned for completeness (dt[B] += ...). */
void ps_time_embed_forward  (float *out, const float *t, int B, int dim, float max_period);
void ps_time_embed_backward (float *dt, const float *dout, const float *t, int B, int dim,
                             float max_period);

/* ---- Losses: return the mean loss over the batch and write the gradient
 *      of that mean into dlogits/dpred (overwriting, not adding). -------- */

/* Softmax cross-entropy with label smoothing eps (0 = none); targets[B]
 * are class indices; a target of -1 is ignored (counts neither in the mean). */
float ps_softmax_xent (float *dlogits, float *probs, const float *logits, const int *targets,
                       int B, int C, float smoothing);
/* Mean over all elements of (pred - target)^2. */
float ps_mse_loss (float *dpred, const float *pred, const float *target, gsize n);
/* KL(p_target || softmax(logits / T)) averaged over rows, times T^2 (the
 * usual distillation scaling); target_probs[B,C] sum to 1 per row. */
float ps_kl_loss (float *dlogits, const float *logits, const float *target_probs,
                  int B, int C, float temperature);
/* Binary cross-entropy on logits (stable form), mean over elements. */
float ps_bce_logits_loss (float *dlogits, const float *logits, const float *target, gsize n);

G_END_DECLS
