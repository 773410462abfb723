/* test-nn-support.h: helpers shared by the layer tests (see
 * test-nn-support.c). */
#pragma once

#include "ps-base.h"
#include "ps-layers.h"

G_BEGIN_DECLS

typedef double (*Objective) (gpointer ctx);

gpointer talloc (gsize n_bytes);

#define TNEW(type, n) ((type *) talloc (sizeof (type) * (gsize) (n)))

float *tdup (const float *x, gsize n);

void run_in_arena (gconstpointer test);

float *randn (PsRng *rng, gsize n, float std);

double dot_d (const float *a, const float *b, gsize n);

/* Relative error between the analytic gradient grad[n] of f with respect
 * to x[n] and its central differences with step h. */
double grad_error (Objective f, gpointer ctx, float *x, const float *grad, gsize n, float h);

void check_grad (const char *what, Objective f, gpointer ctx, float *x, const float *grad,
                 gsize n, float h, double tol);

double max_abs_diff (const float *a, const float *b, gsize n);

/* The largest |a[i]|. */
float max_abs (const float *a, gsize n);

/* twice[i] == 2 * once[i] up to the rounding of a different summation
 * order (a kernel may add row by row into the gradient).  An overwriting
 * backward gives once[i] and fails. */
void assert_doubled (const float *twice, const float *once, gsize n);

/* ---- Dense -------------------------------------------------------------- */

typedef struct
{
  int B, C, OC;
  float *x, *w, *b, *out, *R;
} LinearCtx;

double linear_obj (gpointer p);

LinearCtx linear_ctx_new (PsRng *rng, int B, int C, int OC);

/* ---- Convolution ------------------------------------------------------------ */

typedef struct
{
  int B, C, H, W, OC, K, stride, pad, OH, OW;
  float *x, *w, *b, *out, *R, *scratch;
} ConvCtx;

ConvCtx conv_ctx_new (PsRng *rng, int B, int C, int H, int W, int OC, int K, int stride, int pad);

double conv_obj (gpointer p);

/* ---- Pooling and upsampling ---------------------------------------------------- */

typedef struct
{
  int B, C, H, W, K, stride, OH, OW, max;
  float *x, *out, *R;
  int *argmax;
} PoolCtx;

double pool_obj (gpointer p);

typedef struct
{
  int B, C, H, W, f;
  float *x, *out, *R;
} UpCtx;

double up_obj (gpointer p);

/* ---- Elementwise activations ------------------------------------------------------ */

typedef void (*ActForward) (float *out, const float *inp, gsize n);
typedef void (*ActBackward) (float *dinp, const float *dout, const float *inp_or_out, gsize n);

typedef struct
{
  ActForward fwd;
  float *x, *out, *R;
  gsize n;
} ActCtx;

double act_obj (gpointer p);

/* ---- Row-wise ops ----------------------------------------------------------------- */

typedef struct
{
  int B, C;
  float *x, *out, *R;
  /* layer norm */
  float *gamma, *beta, *mean, *rstd;
  /* l2 norm */
  float *norm;
  float eps;
} RowCtx;

RowCtx row_ctx_new (PsRng *rng, int B, int C);

double softmax_obj (gpointer p);

double layernorm_obj (gpointer p);

double l2norm_obj (gpointer p);

/* ---- Dropout ------------------------------------------------------------------------ */

typedef struct
{
  float *x, *out, *mask, *R;
  gsize n;
  float p;
} DropCtx;

double dropout_obj (gpointer ptr);

/* ---- Time embedding --------------------------------------------------------------- */

typedef struct
{
  int B, dim;
  float *t, *out, *R;
} EmbedCtx;

double embed_obj (gpointer p);

/* ---- Losses -------------------------------------------------------------------------- */

typedef struct
{
  int B, C;
  float *logits, *target, *probs;
  int *labels;
  float smoothing, temperature;
  gsize n;
} LossCtx;

double xent_obj (gpointer p);

double mse_obj (gpointer p);

double kl_obj (gpointer p);

double bce_obj (gpointer p);

G_END_DECLS
