/* ps-new-run-dialog.h: the dialog that starts runs.
 *
 * A method chooser grouped by family (title, paper, summary), a dataset
 * chooser (built-in sets with generator size and noise, or a .npy/.csv
 * file with its labels file or column), a parameter form generated from the
 * method's PsParamSpec table, a seed and "repeat with N seeds".  Start
 * validates every field (errors shown inline), loads the dataset and emits
 * "start" with a PsRunRequest; a handler returning TRUE closes the dialog.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-dataset.h"
#include "ps-method.h"
#include "ps-params.h"

G_BEGIN_DECLS

typedef struct
{
  const PsMethod *method;
  PsParams *params;          /* owned */
  PsDataset *dataset;        /* a reference; splits assigned */
  char *dataset_name;        /* what the run record says */
  guint64 seed;
  guint n_seeds;             /* >= 1: seeds seed, seed+1, ... */
  char *name;                /* NULL: the runner's default name */
  guint snapshot_every;      /* 0: only at the end */
  guint eval_every;
} PsRunRequest;

void ps_run_request_free (PsRunRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsRunRequest, ps_run_request_free)

/* Loads a built-in set (generators with `n` points, 0 = default, and
 * `noise`, < 0 = default) or a file, and assigns the standard split
 * (stratified 70/10/20, split seed 0) when the source has none, so runs on
 * the same data share one test set.  Sets *display_name to what the run
 * record should say ("moons:n=1000,noise=0.15" or the path). */
PsDataset *ps_run_request_load_dataset (const char *name_or_path, guint n, double noise,
                                        const char *labels_path, const char *label_column,
                                        char **display_name, GError **error);

#define PS_TYPE_NEW_RUN_DIALOG (ps_new_run_dialog_get_type ())
G_DECLARE_FINAL_TYPE (PsNewRunDialog, ps_new_run_dialog, PS, NEW_RUN_DIALOG, GtkWindow)

PsNewRunDialog *ps_new_run_dialog_new (GtkWindow *parent);

/* Programmatic filling (tests, "open file"): each returns FALSE when the
 * value is unknown. */
gboolean  ps_new_run_dialog_set_method   (PsNewRunDialog *self, const char *method_id);
const PsMethod *ps_new_run_dialog_get_method (PsNewRunDialog *self);
gboolean  ps_new_run_dialog_set_dataset  (PsNewRunDialog *self, const char *builtin_name);
void      ps_new_run_dialog_set_dataset_file (PsNewRunDialog *self, const char *path,
                                              const char *labels_path, const char *label_column);
/* Sets the size and noise of a generator (n = 0 / noise < 0: defaults). */
void      ps_new_run_dialog_set_generator (PsNewRunDialog *self, guint n, double noise);
/* Writes `value` into the parameter's widget, as a person would type it. */
gboolean  ps_new_run_dialog_set_param    (PsNewRunDialog *self, const char *name, const char *value);
void      ps_new_run_dialog_set_seed     (PsNewRunDialog *self, guint64 seed, guint n_seeds);
void      ps_new_run_dialog_set_run_name (PsNewRunDialog *self, const char *name);
GtkWidget *ps_new_run_dialog_get_start_button (PsNewRunDialog *self);
/* Validates the form and builds the request; inline errors are shown for
 * the fields at fault.  NULL with an error when something is wrong. */
PsRunRequest *ps_new_run_dialog_build_request (PsNewRunDialog *self, GError **error);
/* Shows a message under the form (e.g. the store refused the run). */
void      ps_new_run_dialog_show_error   (PsNewRunDialog *self, const char *message);
/* The message shown under the form, or NULL. */
const char *ps_new_run_dialog_get_error  (PsNewRunDialog *self);

G_END_DECLS
