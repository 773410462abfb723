/* ps-conv.c: 2-D convolution by im2col + GEMM, its naive reference,
 * pooling and nearest-neighbour upsampling.  Images are NCHW.
 *
 * The convolution of one image is one GEMM: weight[OC, C*K*K] times the
 * unfolded input cols[C*K*K, OH*OW].  A 1x1 convolution with stride 1 and
 * no padding needs no unfolding at all (the image already is its cols),
 * which the U-Net style models use often enough to special-case.
 */
#include <stdint.h>
#include <string.h>

#include "ps-layers.h"

int
ps_conv_out_size (int in, int k, int stride, int pad)
{
  g_return_val_if_fail (stride > 0 && k > 0, 0);
  int span = in + 2 * pad - k;
  if (span < 0)
    return 0;
  return span / stride + 1;
}

/* The range of output positions o in [0, n_out) whose input position
 * o * stride - pad + k lies inside [0, n_in), as [*lo, *hi).  Computing it
 * once per kernel offset keeps the bounds checks out of the inner loop. */
static inline void
valid_range (int n_in, int n_out, int k, int stride, int pad, int *lo, int *hi)
{
  /* Smallest o with o * stride >= pad - k. */
  int first = pad - k;
  int l = first <= 0 ? 0 : (first + stride - 1) / stride;
  /* Largest o with o * stride <= n_in - 1 + pad - k, plus one. */
  int last = n_in - 1 + pad - k;
  int h = last < 0 ? 0 : last / stride + 1;
  *lo = MIN (l, n_out);
  *hi = CLAMP (h, *lo, n_out);
}

/* A "same" convolution (stride 1, OW == W) shifts the whole plane by
 * (dh, dw) for each kernel offset, so the valid band of one cols row is a
 * single contiguous copy of the plane; only the |dw| columns that wrap
 * around into the neighbouring image row need zeroing afterwards.  This
 * replaces OH short copies (14 floats on a 14x14 map) by one long one. */
static void
im2col_same_row (float *row, const float *plane, int OH, int OW, int dh, int dw,
                 int oh_lo, int oh_hi, int ow_lo, int ow_hi)
{
  gsize first = (gsize) oh_lo * OW + ow_lo;
  gsize end = (gsize) (oh_hi - 1) * OW + ow_hi;
  gssize shift = (gssize) dh * OW + dw;
  memset (row, 0, sizeof (float) * first);
  memcpy (row + first, plane + ((gssize) first + shift), sizeof (float) * (end - first));
  memset (row + end, 0, sizeof (float) * ((gsize) OH * OW - end));
  for (int oh = oh_lo; oh < oh_hi; oh++)
    {
      float *r = row + (gsize) oh * OW;
      for (int ow = 0; ow < ow_lo; ow++)
        r[ow] = 0.f;
      for (int ow = ow_hi; ow < OW; ow++)
        r[ow] = 0.f;
    }
}

/* The adjoint of im2col_same_row, for a cols buffer the caller owns: the
 * wrapped columns are zeroed in place so that one long add over the band
 * is exact (they would otherwise land on the neighbouring image row). */
static void
col2im_same_row (float *plane, float *row, int OW, int dh, int dw,
                 int oh_lo, int oh_hi, int ow_lo, int ow_hi)
{
  for (int oh = oh_lo; oh < oh_hi; oh++)
    {
      float *r = row + (gsize) oh * OW;
      for (int ow = 0; ow < ow_lo; ow++)
        r[ow] = 0.f;
      for (int ow = ow_hi; ow < OW; ow++)
        r[ow] = 0.f;
    }
  gsize first = (gsize) oh_lo * OW + ow_lo;
  gsize end = (gsize) (oh_hi - 1) * OW + ow_hi;
  float *dst = plane + ((gssize) first + (gssize) dh * OW + dw);
  const float *src = row + first;
  gsize n = end - first;
  for (gsize i = 0; i < n; i++)
    dst[i] += src[i];
}

/* ps_col2im for the convolution's own dcols scratch, which it may
 * overwrite: takes the one-long-add path for same convolutions. */
static void
col2im_scratch (float *dinp, float *cols, int C, int H, int W, int K, int stride, int pad)
{
  int OH = ps_conv_out_size (H, K, stride, pad);
  int OW = ps_conv_out_size (W, K, stride, pad);
  if (stride != 1 || OW != W)
    {
      ps_col2im (dinp, cols, C, H, W, K, stride, pad);
      return;
    }
  for (int c = 0; c < C; c++)
    for (int kh = 0; kh < K; kh++)
      {
        int oh_lo, oh_hi;
        valid_range (H, OH, kh, stride, pad, &oh_lo, &oh_hi);
        for (int kw = 0; kw < K; kw++)
          {
            int ow_lo, ow_hi;
            valid_range (W, OW, kw, stride, pad, &ow_lo, &ow_hi);
            if (oh_lo >= oh_hi || ow_lo >= ow_hi)
              continue;
            float *row = cols + ((gsize) (c * K + kh) * K + kw) * OH * OW;
            col2im_same_row (dinp + (gsize) c * H * W, row, OW, kh - pad, kw - pad,
                             oh_lo, oh_hi, ow_lo, ow_hi);
          }
      }
}

void
ps_im2col (float *cols, const float *inp, int C, int H, int W, int K, int stride, int pad)
{
  int OH = ps_conv_out_size (H, K, stride, pad);
  int OW = ps_conv_out_size (W, K, stride, pad);
  for (int c = 0; c < C; c++)
    for (int kh = 0; kh < K; kh++)
      {
        int oh_lo, oh_hi;
        valid_range (H, OH, kh, stride, pad, &oh_lo, &oh_hi);
        for (int kw = 0; kw < K; kw++)
          {
            int ow_lo, ow_hi;
            valid_range (W, OW, kw, stride, pad, &ow_lo, &ow_hi);
            float *row = cols + ((gsize) (c * K + kh) * K + kw) * OH * OW;
            const float *plane = inp + (gsize) c * H * W;
            if (stride == 1 && OW == W && oh_lo < oh_hi && ow_lo < ow_hi)
              {
                im2col_same_row (row, plane, OH, OW, kh - pad, kw - pad,
                                 oh_lo, oh_hi, ow_lo, ow_hi);
                continue;
              }
            for (int oh = 0; oh < OH; oh++)
              {
                float *dst = row + (gsize) oh * OW;
                if (oh < oh_lo || oh >= oh_hi)
                  {
                    memset (dst, 0, sizeof (float) * OW);
                    continue;
                  }
                const float *src = plane + (gsize) (oh * stride - pad + kh) * W;
                int off = kw - pad;
                for (int ow = 0; ow < ow_lo; ow++)
                  dst[ow] = 0.f;
                if (stride == 1)
                  memcpy (dst + ow_lo, src + ow_lo + off, sizeof (float) * (ow_hi - ow_lo));
                else
                  for (int ow = ow_lo; ow < ow_hi; ow++)
                    dst[ow] = src[ow * stride + off];
                for (int ow = ow_hi; ow < OW; ow++)
                  dst[ow] = 0.f;
              }
          }
      }
}

void
ps_col2im (float *dinp, const float *cols, int C, int H, int W, int K, int stride, int pad)
{
  int OH = ps_conv_out_size (H, K, stride, pad);
  int OW = ps_conv_out_size (W, K, stride, pad);
  for (int c = 0; c < C; c++)
    for (int kh = 0; kh < K; kh++)
      {
        int oh_lo, oh_hi;
        valid_range (H, OH, kh, stride, pad, &oh_lo, &oh_hi);
        for (int kw = 0; kw < K; kw++)
          {
            int ow_lo, ow_hi;
            valid_range (W, OW, kw, stride, pad, &ow_lo, &ow_hi);
            const float *row = cols + ((gsize) (c * K + kh) * K + kw) * OH * OW;
            float *plane = dinp + (gsize) c * H * W;
            for (int oh = oh_lo; oh < oh_hi; oh++)
              {
                const float *src = row + (gsize) oh * OW;
                float *dst = plane + (gsize) (oh * stride - pad + kh) * W;
                int off = kw - pad;
                if (stride == 1)
                  for (int ow = ow_lo; ow < ow_hi; ow++)
                    dst[ow + off] += src[ow];
                else
                  for (int ow = ow_lo; ow < ow_hi; ow++)
                    dst[ow * stride + off] += src[ow];
              }
          }
      }
}

static inline gboolean
conv_is_pointwise (int K, int stride, int pad)
{
  return K == 1 && stride == 1 && pad == 0;
}

/* row[oc, 0..P) = bias[oc] */
PS_KERNEL_CLONES static void
fill_rows (float *restrict o, const float *restrict bias, int OC, int P)
{
  for (int oc = 0; oc < OC; oc++)
    {
      float *row = o + (gsize) oc * P;
      float b = bias[oc];
      for (int p = 0; p < P; p++)
        row[p] = b;
    }
}

/* The sum of x[0..n) in eight interleaved partial sums, combined pairwise.
 * One running sum is a chain of dependent adds (4 cycles each, about 2 ms
 * per batch for the bias gradients of the reference CNN); eight lanes are
 * one vector register, and the fixed lane layout gives the same bits
 * whatever the vector width. */
PS_KERNEL_CLONES static float
row_sum (const float *restrict x, int n)
{
  float acc[8] = { 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f };
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++)
      acc[j] += x[i + j];
  for (int j = 0; i < n; i++, j++)
    acc[j] += x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void
ps_conv2d_forward (float *out, const float *inp, const float *weight, const float *bias,
                   float *scratch, int B, int C, int H, int W, int OC, int K,
                   int stride, int pad)
{
  g_return_if_fail (K > 0 && stride > 0 && pad >= 0);
  int OH = ps_conv_out_size (H, K, stride, pad);
  int OW = ps_conv_out_size (W, K, stride, pad);
  int P = OH * OW;
  int CKK = C * K * K;
  gboolean pointwise = conv_is_pointwise (K, stride, pad);
  for (int b = 0; b < B; b++)
    {
      const float *x = inp + (gsize) b * C * H * W;
      float *o = out + (gsize) b * OC * P;
      const float *cols = x;
      if (!pointwise)
        {
          ps_im2col (scratch, x, C, H, W, K, stride, pad);
          cols = scratch;
        }
      float beta = 0.f;
      if (bias != NULL)
        {
          fill_rows (o, bias, OC, P);
          beta = 1.f;
        }
      /* o[OC,P] = weight[OC,CKK] @ cols[CKK,P] (+ bias already in o) */
      ps_sgemm (FALSE, FALSE, OC, P, CKK, 1.f, weight, CKK, cols, P, beta, o, P);
    }
}

void
ps_conv2d_backward (float *dinp, float *dweight, float *dbias,
                    const float *dout, const float *inp, const float *weight,
                    float *scratch, int B, int C, int H, int W, int OC, int K,
                    int stride, int pad)
{
  g_return_if_fail (K > 0 && stride > 0 && pad >= 0);
  int OH = ps_conv_out_size (H, K, stride, pad);
  int OW = ps_conv_out_size (W, K, stride, pad);
  int P = OH * OW;
  int CKK = C * K * K;
  gboolean pointwise = conv_is_pointwise (K, stride, pad);
  float *cols = scratch;
  float *dcols = scratch + (gsize) CKK * P;
  for (int b = 0; b < B; b++)
    {
      const float *x = inp + (gsize) b * C * H * W;
      const float *d = dout + (gsize) b * OC * P;
      if (dbias != NULL)
        for (int oc = 0; oc < OC; oc++)
          dbias[oc] += row_sum (d + (gsize) oc * P, P);
      if (dweight != NULL)
        {
          const float *xc = x;
          if (!pointwise)
            {
              ps_im2col (cols, x, C, H, W, K, stride, pad);
              xc = cols;
            }
          /* dweight[OC,CKK] += d[OC,P] @ cols[CKK,P]^T */
          ps_sgemm (FALSE, TRUE, OC, CKK, P, 1.f, d, P, xc, P, 1.f, dweight, CKK);
        }
      if (dinp != NULL)
        {
          float *dx = dinp + (gsize) b * C * H * W;
          /* dcols[CKK,P] = weight[OC,CKK]^T @ d[OC,P]; a pointwise conv
           * adds it straight into dinp, whose layout is already [C, H*W]. */
          if (pointwise)
            ps_sgemm (TRUE, FALSE, CKK, P, OC, 1.f, weight, CKK, d, P, 1.f, dx, P);
          else
            {
              ps_sgemm (TRUE, FALSE, CKK, P, OC, 1.f, weight, CKK, d, P, 0.f, dcols, P);
              col2im_scratch (dx, dcols, C, H, W, K, stride, pad);
            }
        }
    }
}

void
ps_conv2d_forward_ref (float *out, const float *inp, const float *weight, const float *bias,
                       int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
  g_return_if_fail (K > 0 && stride > 0 && pad >= 0);
  int OH = ps_conv_out_size (H, K, stride, pad);
  int OW = ps_conv_out_size (W, K, stride, pad);
  for (int b = 0; b < B; b++)
    for (int oc = 0; oc < OC; oc++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
          {
            double acc = bias != NULL ? bias[oc] : 0.0;
            for (int c = 0; c < C; c++)
              for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++)
                  {
                    int ih = oh * stride - pad + kh;
                    int iw = ow * stride - pad + kw;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                      continue;
                    acc += (double) inp[(((gsize) b * C + c) * H + ih) * W + iw]
                           * weight[(((gsize) oc * C + c) * K + kh) * K + kw];
                  }
            out[(((gsize) b * OC + oc) * OH + oh) * OW + ow] = (float) acc;
          }
}

/* ---- Pooling (no padding: every window lies inside the image) -------- */

/* An int32 that orders like the float it comes from (for non-NaN x):
 * positive floats already order by their bits, negative ones in reverse,
 * so their magnitude bits are flipped. */
static inline int32_t
order_key (float x)
{
  int32_t i;
  memcpy (&i, &x, sizeof i);
  return i ^ ((i >> 31) & 0x7fffffff);
}

/* The 2x2 stride-2 pool of CNNs, written out: the four candidates of a
 * window are compared in row-major order with strict ">" on the same
 * integer keys as the general loop, so it returns exactly what that loop
 * returns (ties to the first maximum), at a fraction of the cost (the
 * general loop's index arithmetic dominated it: 17-19% of a CNN epoch). */
PS_KERNEL_CLONES static void
maxpool2x2_plane (float *restrict o, int *restrict am, const float *restrict x,
                  int H, int W, int OH, int OW)
{
  (void) H;
  for (int oh = 0; oh < OH; oh++)
    {
      const float *r0 = x + (gsize) 2 * oh * W;
      const float *r1 = r0 + W;
      float *orow = o + (gsize) oh * OW;
      int *arow = am != NULL ? am + (gsize) oh * OW : NULL;
      int base = 2 * oh * W;
      for (int ow = 0; ow < OW; ow++)
        {
          int i0 = 2 * ow;
          int32_t k0 = order_key (r0[i0]), k1 = order_key (r0[i0 + 1]);
          int32_t k2 = order_key (r1[i0]), k3 = order_key (r1[i0 + 1]);
          int best = base + i0;
          int32_t bk = k0;
          int gt = k1 > bk;
          best = gt ? base + i0 + 1 : best;
          bk = gt ? k1 : bk;
          gt = k2 > bk;
          best = gt ? base + W + i0 : best;
          bk = gt ? k2 : bk;
          gt = k3 > bk;
          best = gt ? base + W + i0 + 1 : best;
          orow[ow] = x[best];
          if (arow != NULL)
            arow[ow] = best;
        }
    }
}

void
ps_maxpool_forward (float *out, int *argmax, const float *inp,
                    int B, int C, int H, int W, int K, int stride)
{
  g_return_if_fail (K > 0 && stride > 0);
  int OH = ps_conv_out_size (H, K, stride, 0);
  int OW = ps_conv_out_size (W, K, stride, 0);
  if (K == 2 && stride == 2)
    {
      for (gsize bc = 0; bc < (gsize) B * C; bc++)
        maxpool2x2_plane (out + bc * OH * OW, argmax != NULL ? argmax + bc * OH * OW : NULL,
                          inp + bc * H * W, H, W, OH, OW);
      return;
    }
  for (gsize bc = 0; bc < (gsize) B * C; bc++)
    {
      const float *x = inp + bc * H * W;
      float *o = out + bc * OH * OW;
      int *am = argmax != NULL ? argmax + bc * OH * OW : NULL;
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
          {
            /* Ties go to the first maximum in row-major order.  The
             * comparison runs on order-preserving integer keys so that gcc
             * emits conditional moves: a float compare under the default
             * -ftrapping-math becomes a branch, mispredicted about half
             * the time on real activations (measured 4x slower). */
            int best = oh * stride * W + ow * stride;
            int32_t bk = order_key (x[best]);
            for (int kh = 0; kh < K; kh++)
              for (int kw = 0; kw < K; kw++)
                {
                  int idx = (oh * stride + kh) * W + ow * stride + kw;
                  int32_t k = order_key (x[idx]);
                  int gt = k > bk;
                  best = gt ? idx : best;
                  bk = gt ? k : bk;
                }
            float bv = x[best];
            o[oh * OW + ow] = bv;
            if (am != NULL)
              am[oh * OW + ow] = best;
          }
    }
}

void
ps_maxpool_backward (float *dinp, const float *dout, const int *argmax,
                     int B, int C, int H, int W, int K, int stride)
{
  g_return_if_fail (K > 0 && stride > 0);
  if (dinp == NULL)
    return;
  int OH = ps_conv_out_size (H, K, stride, 0);
  int OW = ps_conv_out_size (W, K, stride, 0);
  for (gsize bc = 0; bc < (gsize) B * C; bc++)
    {
      float *dx = dinp + bc * H * W;
      const float *d = dout + bc * OH * OW;
      const int *am = argmax + bc * OH * OW;
      for (int p = 0; p < OH * OW; p++)
        dx[am[p]] += d[p];
    }
}

void
ps_maxpool_relu_backward_set (float *dinp, const float *dout, const int *argmax,
                              const float *act, int B, int C, int H, int W, int K, int stride)
{
  g_return_if_fail (K > 0 && stride == K);
  int OH = ps_conv_out_size (H, K, stride, 0);
  int OW = ps_conv_out_size (W, K, stride, 0);
  for (gsize bc = 0; bc < (gsize) B * C; bc++)
    {
      float *dx = dinp + bc * H * W;
      const float *a = act + bc * H * W;
      const float *d = dout + bc * OH * OW;
      const int *am = argmax + bc * OH * OW;
      /* One plane at a time, so the zeroing and the scatter stay in L1
       * (a whole-batch memset first would stream the tensor twice).  The
       * windows do not overlap, so each input takes at most one value:
       * the ReLU's selection (its output > 0 exactly where its input is)
       * is applied to that value as a bit mask. */
      memset (dx, 0, sizeof (float) * H * W);
      for (int p = 0; p < OH * OW; p++)
        {
          int j = am[p];
          int32_t ai;
          uint32_t g;
          memcpy (&ai, a + j, 4);
          memcpy (&g, d + p, 4);
          g &= (uint32_t) -(int32_t) (ai > 0);
          memcpy (dx + j, &g, 4);
        }
    }
}

void
ps_avgpool_forward (float *out, const float *inp, int B, int C, int H, int W, int K, int stride)
{
  g_return_if_fail (K > 0 && stride > 0);
  int OH = ps_conv_out_size (H, K, stride, 0);
  int OW = ps_conv_out_size (W, K, stride, 0);
  float inv = 1.f / (float) (K * K);
  for (gsize bc = 0; bc < (gsize) B * C; bc++)
    {
      const float *x = inp + bc * H * W;
      float *o = out + bc * OH * OW;
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
          {
            float s = 0.f;
            for (int kh = 0; kh < K; kh++)
              {
                const float *r = x + (gsize) (oh * stride + kh) * W + ow * stride;
                for (int kw = 0; kw < K; kw++)
                  s += r[kw];
              }
            o[oh * OW + ow] = s * inv;
          }
    }
}

void
ps_avgpool_backward (float *dinp, const float *dout, int B, int C, int H, int W, int K, int stride)
{
  g_return_if_fail (K > 0 && stride > 0);
  if (dinp == NULL)
    return;
  int OH = ps_conv_out_size (H, K, stride, 0);
  int OW = ps_conv_out_size (W, K, stride, 0);
  float inv = 1.f / (float) (K * K);
  for (gsize bc = 0; bc < (gsize) B * C; bc++)
    {
      float *dx = dinp + bc * H * W;
      const float *d = dout + bc * OH * OW;
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
          {
            float g = d[oh * OW + ow] * inv;
            for (int kh = 0; kh < K; kh++)
              {
                float *r = dx + (gsize) (oh * stride + kh) * W + ow * stride;
                for (int kw = 0; kw < K; kw++)
                  r[kw] += g;
              }
          }
    }
}

/* ---- Nearest-neighbour upsampling ------------------------------------- */

void
ps_upsample_forward (float *out, const float *inp, int B, int C, int H, int W, int f)
{
  g_return_if_fail (f > 0);
  int OW = W * f;
  for (gsize bc = 0; bc < (gsize) B * C; bc++)
    {
      const float *x = inp + bc * H * W;
      float *o = out + bc * (gsize) H * f * OW;
      for (int h = 0; h < H; h++)
        {
          float *first = o + (gsize) h * f * OW;
          for (int w = 0; w < W; w++)
            for (int j = 0; j < f; j++)
              first[w * f + j] = x[h * W + w];
          /* The other f - 1 output rows of this input row are copies. */
          for (int i = 1; i < f; i++)
            memcpy (first + (gsize) i * OW, first, sizeof (float) * OW);
        }
    }
}

void
ps_upsample_backward (float *dinp, const float *dout, int B, int C, int H, int W, int f)
{
  g_return_if_fail (f > 0);
  if (dinp == NULL)
    return;
  int OW = W * f;
  for (gsize bc = 0; bc < (gsize) B * C; bc++)
    {
      float *dx = dinp + bc * H * W;
      const float *d = dout + bc * (gsize) H * f * OW;
      for (int h = 0; h < H; h++)
        for (int i = 0; i < f; i++)
          {
            const float *row = d + ((gsize) h * f + i) * OW;
            for (int w = 0; w < W; w++)
              {
                float s = 0.f;
                for (int j = 0; j < f; j++)
                  s += row[w * f + j];
                dx[h * W + w] += s;
              }
          }
    }
}
