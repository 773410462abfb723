/* ps-embedding-view-private.h: the Embedding view's state, shared by
 * ps-embedding-view.c (snapshots, timeline, export),
 * ps-embedding-explain.c (the explanation panel and the run's model) and
 * ps-embedding-tsne.c (the t-SNE projection). */
#pragma once

#include "ps-dataset.h"
#include "ps-embedding-view.h"
#include "ps-method.h"
#include "ps-tsne-job.h"

G_BEGIN_DECLS

struct _PsEmbeddingView
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *box;
  GtkDropDown *color_dropdown;
  GtkDropDown *space_dropdown;
  GtkDropDown *projection_dropdown;
  GtkWidget *tsne_box;
  GtkProgressBar *tsne_progress;
  GtkWidget *tsne_cancel;
  GtkLabel *info_label;
  PsScatterView *scatter;
  GtkAdjustment *timeline_adjustment;
  GtkWidget *timeline;
  GtkLabel *step_label;
  GtkLabel *explain_title;
  GtkGrid *explain_grid;
  GtkPicture *explain_picture;
  GtkLabel *neighbours_title;
  GtkBox *neighbours_box;

  /* Borrowed. */
  PsStore *store;

  /* Owned. */
  gint64 run_id;
  GArray *steps;            /* gint64: snapshot steps known, ascending */
  gint64 shown_step;
  GPtrArray *arrays;        /* the snapshot shown (PsArray refs) or NULL */
  char *explain_text;
  guint n_neighbours;
  char *dataset_name;       /* the run's dataset, as its record says */
  PsDataset *image_data;    /* loaded on demand for thumbnails, or NULL */
  gboolean image_data_tried;
  /* The run's model, reloaded from its last checkpoint in a thread, for
   * the method's own explain().  Borrowed method table; owned model. */
  const PsMethod *model_method;
  gpointer model;
  PsDataset *model_data;
  gboolean model_tried;
  GCancellable *model_cancel;
  gboolean updating_timeline;
  /* t-SNE of the shown embedding: the job (NULL when none runs), the
   * last layout it reported (kept visible while a newer one computes). */
  PsTsneJob *tsne_job;
  float *tsne_layout;       /* [tsne_n, 2] or NULL */
  gsize tsne_n;
  guint tsne_iteration, tsne_n_iter, tsne_iterations;
  gboolean tsne_fit;
  char *tsne_status;
  /* Live snapshots are shown at most every PS_LIVE_SNAPSHOT_MS: a newer
   * one arriving sooner waits here (replacing any older one). */
  gint64 last_live_show;
  GPtrArray *pending_arrays;
  gint64 pending_step;
  guint pending_id;
  gboolean external_pacing;     /* the window says when to show live snapshots */
};

/* ps-embedding-view.c */
PsArray *ps_embedding_find_array (GPtrArray *arrays, const char *kind);
void     ps_embedding_view_update_info (PsEmbeddingView *self);
void     ps_embedding_view_show_arrays (PsEmbeddingView *self, GPtrArray *arrays, gint64 step,
                                        gboolean keep_view);

/* ps-embedding-explain.c */
/* Shows the explanation of the selected sample (or clears it). */
void     ps_embedding_explain_update (PsEmbeddingView *self);
/* Cancels any model load and drops the loaded model. */
void     ps_embedding_explain_drop_model (PsEmbeddingView *self);

/* ps-embedding-tsne.c */
gboolean ps_embedding_tsne_wanted (PsEmbeddingView *self);
void     ps_embedding_tsne_start (PsEmbeddingView *self);
void     ps_embedding_tsne_stop (PsEmbeddingView *self);
/* Template callbacks. */
void     ps_embedding_tsne_projection_changed_cb (PsEmbeddingView *self);
void     ps_embedding_tsne_cancel_cb (PsEmbeddingView *self);
/* The scatter's "view-changed": the person moved the view. */
void     ps_embedding_tsne_view_moved_cb (PsEmbeddingView *self);

G_END_DECLS
