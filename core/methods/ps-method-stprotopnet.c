/* ps-method-stprotopnet.c: ST-ProtoPNet, support and trivial prototypes.
 *
 * Two prototype banks share the backbone of ps-method-protopnet.c: the
 * trivial bank (kind 0) and the support bank (kind 1), each with its own
 * cluster and separation costs and its own last-layer columns; the logits
 * are the sum of both banks' points.  The trivial bank adds a
 * discrimination loss (the nearest cross-class pair of trivial prototypes
 * is pushed apart in cosine), the support bank a closeness loss (the
 * nearest cross-class pair of support prototypes is pulled together, so
 * they settle near the class boundary).  As in the paper the banks take
 * turns (param alternate): a warm-up or joint batch trains one bank, whose
 * own points are the logits, so each bank learns to classify by itself.
 * Our simplifications: both banks use ProtoPNet's log-similarity on L2
 * distances instead of the paper's cosine, one last layer (fine-tuned on
 * the summed logits) stands for the paper's two, and there is no
 * within-class orthogonality term.
 */
#define G_LOG_DOMAIN "ps-stprotopnet"

#include "ps-method.h"
#include "ps-protopnet.h"

static const PsParamSpec st_params[] = {
  { "backbone", PS_PARAM_STRING, 0, 0, 0, "auto",
    "Backbone spec ending in a feature map; auto as for protopnet" },
  { "protos_per_class", PS_PARAM_INT, 3, 1, 50, NULL, "Trivial prototypes per class" },
  { "support_per_class", PS_PARAM_INT, 3, 1, 50, NULL, "Support prototypes per class" },
  PS_PPN_STAGE_PARAMS,
  { "cluster", PS_PARAM_FLOAT, 0.8, 0, 10, NULL, "Weight of the cluster cost (each bank)" },
  { "separation", PS_PARAM_FLOAT, 0.08, 0, 10, NULL, "Weight of the separation cost (each bank)" },
  { "st_weight", PS_PARAM_FLOAT, 0.1, 0, 10, NULL,
    "Weight of the trivial discrimination and support closeness losses" },
  { "alternate", PS_PARAM_BOOL, 1, 0, 1, NULL,
    "Train one bank per batch (trivial, then support), each classifying by its own points, as "
    "in the paper; off: both banks on every batch with the summed logits" },
  { "l1", PS_PARAM_FLOAT, 1e-4, 0, 1, NULL, "L1 on wrong-class last-layer weights (fine-tuning)" },
  { "max_train", PS_PARAM_INT, 0, 0, 10000000, NULL, "Use at most this many training samples (0: all)" },
};

static gpointer
st_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
           GError **error)
{
  return ps_ppn_method_create (method, params, data, seed, TRUE, error);
}

const PsMethod ps_method_stprotopnet = {
  .id = "stprotopnet",
  .title = "ST-ProtoPNet (support and trivial prototypes)",
  .family = "Interpretability",
  .paper = "Wang et al., Learning Support and Trivial Prototypes for Interpretable Image "
           "Classification, ICCV 2023",
  .summary = "ProtoPNet with two prototype banks on one backbone: trivial prototypes pushed away "
             "from other classes (discrimination loss) and support prototypes pulled toward the "
             "class boundary (closeness loss), each with cluster and separation costs; logits "
             "are the sum of both banks. Training alternates the banks batch by batch, each "
             "classifying by its own points. The snapshot's prototype_kind tells them apart (0 "
             "trivial, 1 support). Simplified: L2 log-similarity instead of cosine, no "
             "orthogonality term.",
  .key_metric = "test_acc",
  .params = st_params,
  .n_params = G_N_ELEMENTS (st_params),
  .create = st_create,
  .free = ps_ppn_method_free,
  .total_steps = ps_ppn_method_total_steps,
  .step = ps_ppn_method_step,
  .evaluate = ps_ppn_method_evaluate,
  .snapshot = ps_ppn_method_snapshot,
  .explain = ps_ppn_method_explain,
  .save = ps_ppn_method_save,
  .load = ps_ppn_method_load,
};
