/* test-jobs-support.h: the "linreg" test method and the helpers shared by
 * the job runner's tests (see test-jobs-support.c).
 */
#pragma once

#include "ps-jobs.h"

G_BEGIN_DECLS

/* The number of weights of a linreg model (its snapshot "weights" holds
 * these and the bias). */
#define LINREG_D 4

extern const PsMethod linreg_method;

/* Concurrency observed across every linreg model since the last
 * concurrency_reset (): the most steps running at once, the BLAS thread
 * count seen in step 1 (with record_blas), and whether a "meet" rendezvous
 * gave up after ten seconds. */
extern gint max_active_steps;
extern gint blas_seen;
extern gboolean meet_timed_out;
/* The nice value of the thread that ran the last linreg step (Linux). */
extern gint step_nice;

void concurrency_reset (void);

/* Parameters from "name=value" assignments, NULL-terminated. */
PsParams *linreg_params_new (const char *first, ...) G_GNUC_NULL_TERMINATED;
PsJobSpec linreg_spec (const PsParams *params, guint64 seed, const char *store_path);

PsJob *submit_ok (PsRunner *runner, const PsJobSpec *spec);
gboolean is_end (PsEventType type);
void pop_until_end (PsRunner *runner, PsJob *job, GPtrArray *events);
PsEvent *pop_until (PsRunner *runner, PsJob *job, PsEventType type, guint64 min_step);

/* A temporary directory holding a store file at `path`. */
typedef struct
{
  char *dir;
  char *path;
} TempStore;

void temp_store_init (TempStore *t);
void temp_store_clear (TempStore *t);
PsStore *store_open_ok (const char *path);
PsRunStatus stored_status (const char *path, gint64 run, char **error_text);

void wait_linreg_in_step (gpointer data, gpointer unused);
double measure_cancel_latency (const PsMethod *method, const PsParams *params, PsDataset *data,
                               const char *store_path, guint64 after_steps,
                               GFunc ready, gpointer ready_data, double *max_step);

G_END_DECLS
