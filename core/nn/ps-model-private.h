/* ps-model-private.h: what the files of the sequential model share:
 * ps-model.c (slabs, forward/backward, training) and ps-model-spec.c (the
 * spec parser). */
#pragma once

#include "ps-model.h"

G_BEGIN_DECLS

/* Parses a model spec into the input shape (in_c x in_h x in_w) and the
 * layers' size table: kinds, hyper-parameters and per-sample shapes.  On
 * success *out_layers is a new array of *out_n_layers entries (free with
 * g_free); the sizes and offsets are filled in by the model's plan.  A bad
 * spec gives a PS_ERROR_PARAM error naming the offending part.  The input
 * shape may be written even when parsing fails. */
gboolean ps_model_spec_parse (const char *spec, int *in_c, int *in_h, int *in_w,
                              PsLayerInfo **out_layers, int *out_n_layers, GError **error);

G_END_DECLS
