/* ps-method.h: the one interface every trainable thing sits behind.
 *
 * An MLP classifier, PALM, ProtoPNet and a DDPM are all a PsMethod: a
 * static table of metadata, a parameter schema and a handful of functions.
 * The runner, the store, the CLI and the window never special-case a
 * method; they only call through this table.
 *
 * Threading: create/step/evaluate/snapshot/save/load are called from one
 * worker thread at a time for a given model.  explain may be called on a
 * model that is not training (a finished or loaded run).
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"
#include "../base/ps-params.h"
#include "../base/ps-array.h"
#include "../data/ps-dataset.h"

G_BEGIN_DECLS

typedef struct _PsMethod PsMethod;

/* ---- Metrics: named values, in insertion order ------------------- */

typedef struct
{
  GArray *names;   /* char* (owned) */
  GArray *values;  /* double */
} PsMetrics;

PsMetrics *ps_metrics_new  (void);
void       ps_metrics_free (PsMetrics *m);
/* Sets (or replaces) `name`. */
void       ps_metrics_set  (PsMetrics *m, const char *name, double value);
gboolean   ps_metrics_get  (const PsMetrics *m, const char *name, double *value);
guint      ps_metrics_len  (const PsMetrics *m);
const char *ps_metrics_name (const PsMetrics *m, guint i);
double     ps_metrics_value (const PsMetrics *m, guint i);
/* `{"name": value, ...}` */
char      *ps_metrics_to_json (const PsMetrics *m);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsMetrics, ps_metrics_free)

/* ---- One training step -------------------------------------------- */

typedef struct
{
  guint64 step;            /* in: index of this step (0-based) */
  guint64 total_steps;     /* in: the method's total, for progress */
  const gint *cancel;      /* in: non-zero when the caller asked to stop;
                            * long inner loops poll it */
  double loss;             /* out: the training loss of this step.  A method without
                            * a loss reports another finite objective (inertia,
                            * ...): the runner fails a run whose loss is not finite. */
  gboolean done;           /* out: TRUE when training has finished */
  PsMetrics *metrics;      /* out, optional: extra per-step series (lr, ...) */
} PsStepInfo;

/* ---- Explanation of one sample ------------------------------------ */

typedef struct
{
  int index;          /* prototype index, or training-sample index */
  int cls;            /* its class */
  float similarity;   /* in [0,1] where the method allows, else raw */
  float evidence;     /* points it adds to its class's logit */
  float weight;       /* soft-assignment weight or last-layer weight */
} PsEvidence;

typedef struct
{
  int sample;
  int true_label;
  int predicted;
  float confidence;          /* probability of the prediction */
  float uncertainty;         /* NaN when the method has none */
  float ood_score;           /* NaN when the method has none */
  gboolean by_prototypes;    /* FALSE: evidence lists nearest training samples */
  GArray *evidence;          /* PsEvidence, strongest first */
  GPtrArray *arrays;         /* PsArray: heatmaps, patches, per-class points */
  char *text;                /* a sentence a person can read, or NULL */
} PsExplanation;

PsExplanation *ps_explanation_new  (void);
void           ps_explanation_free (PsExplanation *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsExplanation, ps_explanation_free)

/* ---- The method table --------------------------------------------- */

struct _PsMethod
{
  const char *id;          /* "mlp", "palm", ... */
  const char *title;       /* "MLP classifier" */
  const char *family;      /* "Classifiers", "Prototype learning", "Diffusion", ... */
  const char *paper;       /* short citation, or NULL */
  const char *summary;     /* one paragraph; says what the small version keeps and drops */
  const char *key_metric;  /* the metric shown in run lists, e.g. "test_acc" */
  const PsParamSpec *params;
  guint n_params;

  /* Builds a model for `data` (train/test marks already assigned).  The
   * model keeps a reference to the dataset. */
  gpointer   (*create)    (const PsMethod *method, const PsParams *params,
                           PsDataset *data, guint64 seed, GError **error);
  void       (*free)      (gpointer model);
  /* The number of steps training takes (for progress). */
  guint64    (*total_steps) (gpointer model);
  /* One unit of training, cheap enough (well under 200 ms) that the runner
   * can check cancel between calls.  Returns FALSE with an error on
   * failure; a NaN loss is reported by the runner, not here.  A step that
   * gives up because *info->cancel became non-zero returns FALSE with
   * PS_ERROR_CANCELLED (the run then ends cancelled). */
  gboolean   (*step)      (gpointer model, PsStepInfo *info, GError **error);
  /* Named metrics on the held-out data. */
  PsMetrics *(*evaluate)  (gpointer model);
  /* What to draw now: PsArray items (kinds: "embedding", "labels",
   * "predictions", "split", "prototypes", "prototype_labels", "decision_field",
   * "vector_field", "trajectory", "images", ...). */
  GPtrArray *(*snapshot)  (gpointer model);
  /* Optional (NULL): why the model decided what it did for one sample. */
  PsExplanation *(*explain) (gpointer model, guint sample, GError **error);
  /* The complete training state (weights, optimizer, RNG, step), so that a
   * resumed run continues bit-identically. */
  GBytes    *(*save)      (gpointer model);
  gboolean   (*load)      (gpointer model, GBytes *blob, GError **error);
};

/* ---- The registry ------------------------------------------------- */

/* Every registered method, in display order; NULL-terminated, static. */
const PsMethod * const *ps_methods_all (void);
const PsMethod *ps_method_find (const char *id);

/* A PsParams with the method's defaults. */
PsParams *ps_method_default_params (const PsMethod *method);

G_END_DECLS
