/* ps-model.h: a sequential network built from a short spec string.
 *
 * Spec grammar
 * ------------
 *   spec    := [shape ':'] item ('-' item)*
 *   shape   := C 'x' H 'x' W            image input (NCHW); the first item is a layer
 *   item    := head? mod*               without a shape, the first item is a plain
 *                                        number: the input width (mods not allowed)
 *   head    := N                         linear layer to N outputs (flattens images)
 *            | 'c' OC conv*              2-D convolution to OC channels
 *            | 'm' K ['s' S]             max-pool, kernel K, stride S (default K)
 *            | 'a' K ['s' S]             average-pool, kernel K, stride S (default K)
 *            | 'f'                       flatten (optional: a linear layer flattens too)
 *   conv    := 'k' K | 'p' P | 's' S     kernel (default 3), padding (0), stride (1)
 *   mod     := 'r'                       ReLU
 *            | 'g'                       GELU (tanh approximation)
 *            | 's'                       SiLU (on a conv/pool head, 's' followed by a
 *                                        digit is the stride instead)
 *            | 't'                       tanh
 *            | 'l' [slope]               LeakyReLU (slope 0.01 by default)
 *            | 'n'                       layer norm over the features (dense only)
 *            | 'd' P                     dropout with drop probability P, e.g. d0.1
 *            | 'u'                       L2-normalise each row (unit length)
 *
 * Modifiers apply in the order written, after the head: `256nr` is linear,
 * layer norm, ReLU.  Examples:
 *   "784-256r-128r-10"                       an MLP for 28x28 images
 *   "2-64g-64g-2u"                           unit-length 2-D embeddings
 *   "1x28x28:c16k3p1r-m2-c32k3p1r-m2-f-64r-10"   a small CNN
 *
 * Memory (llm.c style): parameters, gradients and optimizer state are each
 * one slab, and a size table (the layer list) points into them.  Activations
 * live in one more slab sized for the largest batch seen so far, grown on
 * demand.  A forward pass keeps every layer's output until the next forward,
 * so any layer's output (e.g. the penultimate embedding) can be read, and
 * backward reuses them.
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"
#include "ps-optim.h"

G_BEGIN_DECLS

typedef enum
{
  PS_LAYER_LINEAR,
  PS_LAYER_CONV,
  PS_LAYER_MAXPOOL,
  PS_LAYER_AVGPOOL,
  PS_LAYER_FLATTEN,
  PS_LAYER_RELU,
  PS_LAYER_GELU,
  PS_LAYER_SILU,
  PS_LAYER_TANH,
  PS_LAYER_LEAKY_RELU,
  PS_LAYER_LAYERNORM,
  PS_LAYER_DROPOUT,
  PS_LAYER_L2NORM,
} PsLayerKind;

/* One entry of the size table.  Shapes are per sample; a dense tensor has
 * h = w = 1. */
typedef struct
{
  PsLayerKind kind;
  int in_c, in_h, in_w;
  int out_c, out_h, out_w;
  int k, stride, pad;   /* conv and pools */
  float p;              /* dropout probability; LeakyReLU slope */
  gsize in_size, out_size;  /* floats per sample */
  gsize param_off;      /* into the parameter/gradient slabs: weight, then bias */
  gsize n_weight, n_bias;   /* LayerNorm: gamma, beta */
  gsize act_off;        /* into the activation slab, per sample of max batch */
  gsize aux_off;        /* cached extras (pool argmax, dropout mask, norm stats) */
  gsize aux_size;       /* floats per sample, or per row for norm stats */
} PsLayerInfo;

typedef struct _PsModel PsModel;

typedef enum
{
  PS_BACKWARD_PARAMS = 1 << 0,  /* accumulate parameter gradients */
  PS_BACKWARD_INPUT  = 1 << 1,  /* produce dL/dx (ps_model_input_grad) */
  PS_BACKWARD_ALL    = PS_BACKWARD_PARAMS | PS_BACKWARD_INPUT,
} PsBackwardFlags;

/* Parses `spec` and allocates parameters (zeroed; call ps_model_init).
 * Returns NULL and a PS_ERROR_PARAM error naming the bad item otherwise. */
PsModel *ps_model_new  (const char *spec, GError **error);
void     ps_model_free (PsModel *m);

/* He/Kaiming-uniform weights (gain 2 before a ReLU-like activation, 1
 * otherwise), zero biases, layer norms at identity.  Also seeds the dropout
 * stream from `rng` so training is reproducible from one seed. */
void ps_model_init (PsModel *m, PsRng *rng);

const char *ps_model_spec      (PsModel *m);
gsize       ps_model_n_params  (PsModel *m);
float      *ps_model_params    (PsModel *m);   /* [n_params], owned by the model */
float      *ps_model_grads     (PsModel *m);   /* [n_params], owned by the model */
/* Whether the conv-ReLU(-pool) blocks have run on the model's second
 * thread (they do when BLAS may use two or more threads and a batch has
 * at least 16 images; the result is the same up to the rounding of the
 * weight-gradient sums). */
gboolean    ps_model_used_second_thread (PsModel *m);
int         ps_model_in_size   (PsModel *m);   /* floats per input sample */
int         ps_model_out_size  (PsModel *m);   /* floats per output sample */
int         ps_model_n_layers  (PsModel *m);
const PsLayerInfo *ps_model_layer (PsModel *m, int i);
/* A one-line description of layer i ("linear 784->256"); free with g_free. */
char       *ps_model_describe_layer (PsModel *m, int i);

/* Training mode (a new model's mode) enables dropout; evaluation mode
 * makes dropout the identity. */
void     ps_model_set_training (PsModel *m, gboolean training);
gboolean ps_model_get_training (PsModel *m);
/* The dropout stream (seeded by ps_model_init); saved with checkpoints. */
PsRng   *ps_model_get_rng (PsModel *m);

/* Runs x[B, in_size] through the network and returns the output [B,
 * out_size] (owned by the model, valid until the next forward).  `x` is
 * borrowed and must stay unchanged until backward has run. */
const float *ps_model_forward (PsModel *m, const float *x, int B);
/* The output of layer i from the last forward, [B, layer->out_size]; i = -1
 * means the last layer.  Owned by the model. */
const float *ps_model_layer_output (PsModel *m, int i);
int          ps_model_batch (PsModel *m);   /* B of the last forward */

/* Back-propagates dout[B, out_size] through the last forward.  With
 * PS_BACKWARD_PARAMS, ADDS into the gradient slab; with PS_BACKWARD_INPUT,
 * overwrites the input gradient (ps_model_input_grad).  Skipping the input
 * gradient saves the first layer's data-gradient product in training. */
void         ps_model_backward (PsModel *m, const float *dout, PsBackwardFlags flags);
/* dL/dx [B, in_size] from the last backward with PS_BACKWARD_INPUT. */
const float *ps_model_input_grad (PsModel *m);
void         ps_model_zero_grad (PsModel *m);

/* ---- Optimizer (state slab owned by the model) ---------------------- */

/* Creates (or replaces) the model's optimizer. */
void     ps_model_set_optimizer (PsModel *m, const PsOptimConfig *cfg);
PsOptim *ps_model_get_optimizer (PsModel *m);   /* borrowed; NULL if none */
/* One optimizer step over the whole parameter slab; returns the gradient
 * norm before clipping. */
float    ps_model_step (PsModel *m);
/* Exchanges the parameters with the optimizer's weight EMA, so evaluation
 * can run on the averaged weights; a second call swaps them back.  Returns
 * FALSE (and does nothing) when no EMA is enabled. */
gboolean ps_model_swap_ema (PsModel *m);

/* ---- Classifier conveniences ---------------------------------------- */

/* Forward, softmax cross-entropy (label smoothing `smoothing`), zero_grad,
 * backward (parameters only) and one optimizer step on x[B, in], y[B].
 * Stores the mean loss in *loss.  Fails with PS_ERROR_DIVERGED when the
 * loss is not finite (the parameters are then left untouched). */
gboolean ps_model_train_xent_batch (PsModel *m, const float *x, const int *y, int B,
                                    float smoothing, float *loss, GError **error);
/* Argmax predictions pred[n] for x[n, in], in batches of `batch` (0 = 256),
 * in evaluation mode (the training flag is restored afterwards). */
void     ps_model_predict (PsModel *m, const float *x, int n, int batch, int *pred);
/* Fraction of rows whose argmax equals y (rows with y < 0 are skipped). */
double   ps_model_accuracy (PsModel *m, const float *x, const int *y, int n, int batch);

/* ---- Checkpoints (ps-model-io.c) ------------------------------------ */

/* A versioned blob: magic, version, the spec, parameters, optimizer config
 * and state, EMA, the dropout RNG.  Little-endian IEEE floats. */
GBytes  *ps_model_save (PsModel *m);
/* A new model from a blob.  Fails (PS_ERROR_FORMAT) on a wrong magic, a
 * newer version, a bad spec or sizes that do not match the spec. */
PsModel *ps_model_load (GBytes *blob, GError **error);
/* Restores a blob into an existing model whose spec must match. */
gboolean ps_model_load_into (PsModel *m, GBytes *blob, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsModel, ps_model_free)

G_END_DECLS
