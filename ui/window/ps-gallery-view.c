/* ps-gallery-view.c: the prototype gallery and this-looks-like-that explanations of part-prototype runs.
 *
 * The gallery is a GtkFlowBox per (kind, class) of small Cairo-drawn cards,
 * so a selection redraws two cards, not the page.  Images are turned into
 * Cairo surfaces once (prototypes when the snapshot arrives, training
 * images the first time a card shows them).  The explanation side rebuilds
 * the run's model from its last checkpoint on a worker thread (as the
 * Embedding view does) and runs the method's explain() on a worker thread,
 * one request at a time; the newest request waits while one runs.
 */
#define G_LOG_DOMAIN "ps-window"

#include "ps-gallery-view.h"

#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-explain-sheet.h"
#include "ps-plot.h"
#include "ps-proto-gallery.h"

#define STRIP_CELL 36

/* ---- The rebuilt model, shared by the view and its worker tasks -------- */

typedef struct
{
  const PsMethod *method;
  gpointer model;         /* NULL when the run has no usable checkpoint */
  PsDataset *data;        /* NULL when the dataset cannot be reloaded */
  char *why_not;          /* why there is no model */
} GalleryModel;

static void
gallery_model_clear (gpointer p)
{
  GalleryModel *gm = p;
  if (gm->model)
    gm->method->free (gm->model);
  g_clear_pointer (&gm->data, ps_dataset_unref);
  g_free (gm->why_not);
}

static GalleryModel *
gallery_model_ref (GalleryModel *gm)
{
  return g_atomic_rc_box_acquire (gm);
}

static void
gallery_model_unref (GalleryModel *gm)
{
  g_atomic_rc_box_release_full (gm, gallery_model_clear);
}

struct _PsGalleryView
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *paned;
  GtkLabel *summary_label;
  GtkWidget *scroller;
  GtkBox *groups_box;
  GtkDrawingArea *detail_area;
  GtkSpinButton *sample_spin;
  GtkAdjustment *sample_adjustment;
  GtkWidget *random_button;
  GtkWidget *misclassified_button;
  GtkSwitch *sanity_switch;
  GtkDrawingArea *strip_area;
  GtkLabel *status_label;
  GtkDrawingArea *sheet_area;
  GtkLabel *points_label;

  /* Owned: the run and its snapshot. */
  char *store_path;
  gint64 run;
  char *title;                 /* "Run 3 (protopnet on digits)" */
  GPtrArray *arrays;           /* PsArray refs */
  PsProtoGallery *protos;      /* the snapshot's prototypes, or NULL */
  int K;
  GArray *strip_rows;          /* gint32: test rows, misclassified first */
  guint n_misclassified;
  guint picks;

  /* Borrowed children: cards by prototype, flow boxes, class labels. */
  GPtrArray *cards;
  GPtrArray *flowboxes;
  GPtrArray *class_labels;
  int selected;
  gboolean selecting;

  /* Owned: the model and the explanation. */
  GalleryModel *gm;
  gboolean run_done;            /* the run has ended: its checkpoint is final */
  gboolean model_tried;
  gboolean model_loading;
  GCancellable *cancel;        /* every task for this run */
  PsExplanation *ex;
  gboolean explaining;
  int pending_row;
  char *points_text;
  int sheet_height;
};

G_DEFINE_FINAL_TYPE (PsGalleryView, ps_gallery_view, GTK_TYPE_WIDGET)

static void request_explain (PsGalleryView *self, int row);

static const char *
class_name (PsGalleryView *self, int c, char *buf, gsize n)
{
  if (self->protos != NULL)
    return ps_proto_gallery_class_name (self->protos, c, buf, n);
  g_snprintf (buf, n, "%d", c);
  return buf;
}

/* The theme's text colour, for what Cairo draws. */
static void
fg_color (GtkWidget *widget, double fg[3])
{
  GdkRGBA rgba;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &rgba);
  G_GNUC_END_IGNORE_DEPRECATIONS
  fg[0] = rgba.red;
  fg[1] = rgba.green;
  fg[2] = rgba.blue;
}

/* The line above the sheet, hidden when empty. */
static void
set_status (PsGalleryView *self, const char *text)
{
  gtk_label_set_label (self->status_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->status_label), text != NULL && *text != '\0');
}

/* ---- Cards ------------------------------------------------------------- */

static void
card_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer user_data)
{
  PsGalleryView *self = user_data;
  int k = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (area), "proto"));
  double fg[3];
  if (self->protos == NULL || k < 0 || k >= self->K)
    return;
  fg_color (GTK_WIDGET (area), fg);
  ps_proto_gallery_draw_card (self->protos, cr, k, w, h, k == self->selected, fg);
}

static GtkWidget *
card_new (PsGalleryView *self, int k)
{
  GtkWidget *area = gtk_drawing_area_new ();
  char buf[160], b2[48];
  gtk_drawing_area_set_content_width (GTK_DRAWING_AREA (area), PS_PROTO_CARD_WIDTH);
  gtk_drawing_area_set_content_height (GTK_DRAWING_AREA (area), PS_PROTO_CARD_HEIGHT);
  g_object_set_data (G_OBJECT (area), "proto", GINT_TO_POINTER (k));
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (area), card_draw, self, NULL);
  gtk_widget_set_halign (area, GTK_ALIGN_CENTER);
  gtk_widget_set_valign (area, GTK_ALIGN_START);
  g_snprintf (buf, sizeof buf, "Prototype %d of class %s: its source patch on its training image, "
              "below its nearest training images", k, class_name (self, ps_proto_gallery_get_class (self->protos, k), b2, sizeof b2));
  gtk_widget_set_tooltip_text (area, buf);
  return area;
}

static int
card_proto (GtkFlowBoxChild *child)
{
  GtkWidget *area = gtk_flow_box_child_get_child (child);
  return area ? GPOINTER_TO_INT (g_object_get_data (G_OBJECT (area), "proto")) : -1;
}

static void
flowbox_selection_cb (GtkFlowBox *box, PsGalleryView *self)
{
  if (self->selecting)
    return;
  GList *sel = gtk_flow_box_get_selected_children (box);
  if (sel != NULL)
    ps_gallery_view_select_prototype (self, card_proto (sel->data));
  g_list_free (sel);
}

/* ---- The selected prototype, larger ---------------------------------- */

static void
detail_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer user_data)
{
  PsGalleryView *self = user_data;
  GtkWidget *widget = GTK_WIDGET (area);
  double fg[3];
  fg_color (widget, fg);
  if (self->protos != NULL && self->selected >= 0 && self->selected < self->K)
    {
      ps_proto_gallery_draw_detail (self->protos, cr, self->selected, w, h, fg);
      return;
    }
  if (self->K == 0)
    return;
  PangoLayout *layout = gtk_widget_create_pango_layout (widget, "Click a prototype to see it larger, "
                                                        "with its nearest training images and why "
                                                        "they match.");
  pango_layout_set_width (layout, (w - 24) * PANGO_SCALE);
  cairo_set_source_rgba (cr, fg[0], fg[1], fg[2], 0.55);
  cairo_move_to (cr, 12, 12);
  pango_cairo_show_layout (cr, layout);
  g_object_unref (layout);
}

/* ---- Test image strip -------------------------------------------------- */

static int
current_row (PsGalleryView *self)
{
  return self->ex ? self->ex->sample : (int) gtk_adjustment_get_value (self->sample_adjustment);
}

/* The first strip entry shown when `n` fit: 0, or a window around the
 * current sample when it lies further on (Random picks any test row). */
static guint
strip_first (PsGalleryView *self, int n)
{
  int cur = current_row (self);
  for (guint i = 0; self->strip_rows && i < self->strip_rows->len; i++)
    if (g_array_index (self->strip_rows, gint32, i) == cur)
      return (int) i < n ? 0 : MIN (i - n / 2, self->strip_rows->len - n);
  return 0;
}

static void
strip_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer user_data)
{
  PsGalleryView *self = user_data;
  if (self->strip_rows == NULL || self->protos == NULL || self->gm == NULL || self->gm->data == NULL)
    return;
  int n = MIN ((int) self->strip_rows->len, w / STRIP_CELL);
  int cur = current_row (self);
  guint first = strip_first (self, n);
  for (int i = 0; i < n; i++)
    {
      int row = g_array_index (self->strip_rows, gint32, first + i);
      double x = i * STRIP_CELL + 2;
      ps_proto_gallery_draw_thumb (self->protos, cr, row, x, 2, STRIP_CELL - 6);
      if (first + i < self->n_misclassified || row == cur)
        {
          if (row == cur)
            cairo_set_source_rgb (cr, 0.21, 0.52, 0.89);
          else
            cairo_set_source_rgb (cr, 0.85, 0.15, 0.15);
          cairo_set_line_width (cr, row == cur ? 3 : 2);
          cairo_rectangle (cr, x - 1, 1, STRIP_CELL - 4, STRIP_CELL - 4);
          cairo_stroke (cr);
        }
    }
}

static void
pick (PsGalleryView *self, int row)
{
  if (row < 0)
    return;
  if ((int) gtk_adjustment_get_value (self->sample_adjustment) == row)
    request_explain (self, row);
  else
    gtk_adjustment_set_value (self->sample_adjustment, row);
}

static void
strip_pressed_cb (GtkGestureClick *gesture, int n_press, double x, double y, PsGalleryView *self)
{
  if (self->strip_rows == NULL)
    return;
  int n = MIN ((int) self->strip_rows->len, gtk_widget_get_width (GTK_WIDGET (self->strip_area)) / STRIP_CELL);
  int i = (int) (x / STRIP_CELL);
  if (i >= 0 && i < n)
    pick (self, g_array_index (self->strip_rows, gint32, strip_first (self, n) + i));
}

static void
random_pick (PsGalleryView *self, gboolean misclassified)
{
  guint n = misclassified ? self->n_misclassified : self->strip_rows ? self->strip_rows->len : 0;
  if (n == 0)
    return;
  PsRng rng;
  ps_rng_init (&rng, (guint64) self->run, ++self->picks);
  pick (self, g_array_index (self->strip_rows, gint32, ps_rng_below (&rng, n)));
}

static void
random_clicked_cb (PsGalleryView *self)
{
  random_pick (self, FALSE);
}

static void
misclassified_clicked_cb (PsGalleryView *self)
{
  random_pick (self, TRUE);
}

gboolean
ps_gallery_view_pick_random (PsGalleryView *self, gboolean misclassified)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), FALSE);
  if (!ps_gallery_view_has_model (self) || (misclassified ? self->n_misclassified == 0 : self->strip_rows->len == 0))
    return FALSE;
  random_pick (self, misclassified);
  return TRUE;
}

static void
sample_changed_cb (GtkAdjustment *adj, PsGalleryView *self)
{
  request_explain (self, (int) gtk_adjustment_get_value (adj));
}

/* ---- The explanation sheet --------------------------------------------- */

static void
sheet_options (PsGalleryView *self, PsExplainSheetOptions *o, gboolean on_screen)
{
  ps_explain_sheet_options_init (o);
  o->sanity = gtk_switch_get_active (self->sanity_switch);
  o->because_global = self->protos ? ps_proto_gallery_get_because (self->protos) : NULL;
  o->highlight = on_screen ? self->selected : -1;
  o->title = on_screen ? NULL : self->title;
}

/* The sheet lays itself out to the width down to this (images of 56 px),
 * and is scaled down below it. */
static double
sheet_min_width (PsGalleryView *self)
{
  return gtk_switch_get_active (self->sanity_switch) ? 680 : 540;
}

static void
update_sheet_height (PsGalleryView *self)
{
  int h = 0;
  if (self->ex != NULL)
    {
      PsExplainSheetOptions o;
      sheet_options (self, &o, TRUE);
      double w = gtk_widget_get_width (GTK_WIDGET (self->sheet_area));
      if (w <= 1)
        w = sheet_min_width (self);
      double lw = MAX (w, sheet_min_width (self));
      h = (int) ceil (ps_explain_sheet_get_height (self->ex, self->gm ? self->gm->data : NULL, &o, lw) * w / lw);
    }
  if (h != self->sheet_height)
    {
      self->sheet_height = h;
      gtk_drawing_area_set_content_height (self->sheet_area, h);
    }
  gtk_widget_queue_draw (GTK_WIDGET (self->sheet_area));
}

static void
sheet_resize_cb (GtkDrawingArea *area, int w, int h, PsGalleryView *self)
{
  update_sheet_height (self);
}

static void
sheet_draw (GtkDrawingArea *area, cairo_t *cr, int w, int h, gpointer user_data)
{
  PsGalleryView *self = user_data;
  if (self->ex == NULL)
    return;
  PsExplainSheetOptions o;
  sheet_options (self, &o, TRUE);
  double lw = MAX (w, sheet_min_width (self)), k = w / lw;
  cairo_scale (cr, k, k);
  ps_explain_sheet_draw (cr, lw, h / k, self->ex, self->gm ? self->gm->data : NULL, &o);
}

/* "Class 3: +3.00 +2.55 ... from the 5 prototypes shown, -24.2 from the
 * other 25 = -17.24 points; the model's logit -17.24 (p = 0.48)." */
static void
update_points_text (PsGalleryView *self)
{
  g_clear_pointer (&self->points_text, g_free);
  if (self->ex != NULL)
    self->points_text = ps_explain_sheet_points_sentence (self->ex, self->gm ? self->gm->data : NULL,
                                                          self->K, 5);
  gtk_label_set_label (self->points_label, self->points_text ? self->points_text : "");
}

/* ---- Worker tasks -------------------------------------------------------- */

typedef struct
{
  char *store_path;
  gint64 run;
} LoadJob;

static void
load_job_free (LoadJob *j)
{
  g_free (j->store_path);
  g_free (j);
}

/* On a worker thread: its own store connection, the run's dataset with the
 * standard split, a fresh model and the last checkpoint loaded into it.  A
 * dataset without a model still serves the thumbnails. */
static void
load_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  LoadJob *j = data;
  GError *error = NULL;
  g_autoptr (PsRunInfo) info = NULL;
  g_autoptr (PsParams) params = NULL;
  g_autoptr (GBytes) blob = NULL;
  gint64 step = 0;
  GalleryModel *gm = g_atomic_rc_box_new0 (GalleryModel);

  PsStore *store = ps_store_open (j->store_path, &error);
  if (store == NULL || (info = ps_store_get_run (store, j->run, &error)) == NULL)
    goto out;
  gm->method = ps_method_find (info->method);
  if (gm->method == NULL || gm->method->explain == NULL || gm->method->load == NULL)
    {
      g_set_error (&error, PS_ERROR, PS_ERROR_NOT_FOUND, "the method %s has no explanations in this build",
                   info->method);
      goto out;
    }
  gm->data = ps_dataset_open_spec (info->dataset, NULL, NULL, TRUE, &error);
  if (gm->data == NULL)
    goto out;
  params = ps_method_default_params (gm->method);
  if (info->params_json && !ps_params_load_json (params, info->params_json, &error))
    goto out;
  blob = ps_store_get_checkpoint (store, j->run, &step, &error);
  if (blob == NULL || g_cancellable_is_cancelled (cancellable))
    goto out;
  gm->model = gm->method->create (gm->method, params, gm->data, info->seed, &error);
  if (gm->model != NULL && !gm->method->load (gm->model, blob, &error))
    {
      gm->method->free (gm->model);
      gm->model = NULL;
    }

out:
  if (store)
    ps_store_close (store);
  if (error != NULL)
    {
      gm->why_not = g_strdup (error->message);
      g_error_free (error);
    }
  g_task_return_pointer (task, gm, (GDestroyNotify) gallery_model_unref);
}

static void
load_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  /* The task holds no reference on the view: a view that moved on or went
   * away cancelled it first, on this thread, and is not touched here. */
  if (g_cancellable_is_cancelled (g_task_get_cancellable (G_TASK (result))))
    return;
  PsGalleryView *self = PS_GALLERY_VIEW (user_data);
  GalleryModel *gm = g_task_propagate_pointer (G_TASK (result), NULL);
  self->model_loading = FALSE;
  if (gm == NULL)
    return;
  g_clear_pointer (&self->gm, gallery_model_unref);
  self->gm = gm;
  if (self->protos)
    ps_proto_gallery_set_dataset (self->protos, gm->data);
  char buf[48];
  for (guint i = 0; i < self->class_labels->len; i++)
    {
      GtkLabel *l = g_ptr_array_index (self->class_labels, i);
      gtk_label_set_label (l, class_name (self, GPOINTER_TO_INT (g_object_get_data (G_OBJECT (l), "class")),
                                          buf, sizeof buf));
    }
  for (guint i = 0; i < self->cards->len; i++)
    gtk_widget_queue_draw (g_ptr_array_index (self->cards, i));
  gtk_widget_queue_draw (GTK_WIDGET (self->detail_area));
  gtk_widget_queue_draw (GTK_WIDGET (self->strip_area));
  if (gm->model == NULL)
    {
      g_autofree char *t = g_strdup_printf ("No explanations: %s", gm->why_not ? gm->why_not : "no model");
      set_status (self, t);
      return;
    }
  gtk_adjustment_set_upper (self->sample_adjustment, gm->data->n - 1);
  gtk_widget_set_sensitive (GTK_WIDGET (self->sample_spin), TRUE);
  gtk_widget_set_sensitive (self->random_button, self->strip_rows && self->strip_rows->len > 0);
  gtk_widget_set_sensitive (self->misclassified_button, self->n_misclassified > 0);
  set_status (self, "");
  pick (self, self->strip_rows && self->strip_rows->len ? g_array_index (self->strip_rows, gint32, 0) : 0);
}

/* Rebuilds the run's model once the page is on screen (a Fashion-MNIST
 * run's dataset is 220 MB: not loaded for a page nobody looks at). */
static void
ensure_model (PsGalleryView *self)
{
  if (self->model_tried || self->store_path == NULL || self->run == 0 || self->K == 0
      || !gtk_widget_get_mapped (GTK_WIDGET (self)))
    return;
  /* A training run's checkpoint is still moving: ask again once it ends. */
  if (!self->run_done)
    {
      set_status (self, "Explanations come once the run has finished.");
      return;
    }
  self->model_tried = TRUE;
  self->model_loading = TRUE;
  set_status (self, "Rebuilding the model from its last checkpoint…");
  LoadJob *j = g_new0 (LoadJob, 1);
  j->store_path = g_strdup (self->store_path);
  j->run = self->run;
  g_autoptr (GTask) task = g_task_new (NULL, self->cancel, load_done_cb, self);
  g_task_set_task_data (task, j, (GDestroyNotify) load_job_free);
  g_task_run_in_thread (task, load_thread);
}

typedef struct
{
  GalleryModel *gm;
  int row;
} ExplainJob;

static void
explain_job_free (ExplainJob *j)
{
  gallery_model_unref (j->gm);
  g_free (j);
}

static void
explain_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ExplainJob *j = data;
  GError *error = NULL;
  PsExplanation *ex = j->gm->method->explain (j->gm->model, (guint) j->row, &error);
  if (ex == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, ex, (GDestroyNotify) ps_explanation_free);
}

static void
explain_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  if (g_cancellable_is_cancelled (g_task_get_cancellable (G_TASK (result))))
    return;
  PsGalleryView *self = PS_GALLERY_VIEW (user_data);
  ExplainJob *j = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;
  PsExplanation *ex = g_task_propagate_pointer (G_TASK (result), &error);
  self->explaining = FALSE;
  if (j->gm != self->gm)
    {
      g_clear_pointer (&ex, ps_explanation_free);
      return;
    }
  if (ex == NULL)
    {
      g_autofree char *t = g_strdup_printf ("Cannot explain row %d: %s", j->row, error->message);
      set_status (self, t);
    }
  else
    {
      g_clear_pointer (&self->ex, ps_explanation_free);
      self->ex = ex;
      set_status (self, "");
      update_points_text (self);
      update_sheet_height (self);
      gtk_widget_queue_draw (GTK_WIDGET (self->strip_area));
    }
  int next = self->pending_row;
  self->pending_row = -1;
  if (next >= 0 && (self->ex == NULL || next != self->ex->sample))
    request_explain (self, next);
}

static void
request_explain (PsGalleryView *self, int row)
{
  if (self->gm == NULL || self->gm->model == NULL || row < 0 || (guint) row >= self->gm->data->n)
    return;
  if (self->explaining)
    {
      self->pending_row = row;
      return;
    }
  self->explaining = TRUE;
  ExplainJob *j = g_new0 (ExplainJob, 1);
  j->gm = gallery_model_ref (self->gm);
  j->row = row;
  g_autoptr (GTask) task = g_task_new (NULL, self->cancel, explain_done_cb, self);
  g_task_set_task_data (task, j, (GDestroyNotify) explain_job_free);
  g_task_run_in_thread (task, explain_thread);
}

/* ---- Snapshot ---------------------------------------------------------------- */

/* Drops everything of the run shown (tasks are cancelled; one still running
 * keeps its own reference on the model). */
static void
clear_run (PsGalleryView *self)
{
  g_cancellable_cancel (self->cancel);
  g_clear_object (&self->cancel);
  self->cancel = g_cancellable_new ();
  g_clear_pointer (&self->gm, gallery_model_unref);
  g_clear_pointer (&self->ex, ps_explanation_free);
  self->model_tried = self->model_loading = self->explaining = FALSE;
  self->pending_row = -1;
  self->picks = 0;
  g_clear_pointer (&self->points_text, g_free);
  gtk_label_set_label (self->points_label, "");
  set_status (self, "");
  gtk_widget_set_sensitive (GTK_WIDGET (self->sample_spin), FALSE);
  gtk_widget_set_sensitive (self->random_button, FALSE);
  gtk_widget_set_sensitive (self->misclassified_button, FALSE);
  update_sheet_height (self);
}

static void
clear_snapshot (PsGalleryView *self)
{
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->groups_box))))
    gtk_box_remove (self->groups_box, child);
  g_ptr_array_set_size (self->cards, 0);
  g_ptr_array_set_size (self->flowboxes, 0);
  g_ptr_array_set_size (self->class_labels, 0);
  g_clear_pointer (&self->protos, ps_proto_gallery_free);
  g_clear_pointer (&self->arrays, g_ptr_array_unref);
  g_clear_pointer (&self->strip_rows, g_array_unref);
  self->n_misclassified = 0;
  self->K = 0;
  self->selected = -1;
}

static void
build_gallery (PsGalleryView *self)
{
  gboolean banks = ps_proto_gallery_has_banks (self->protos);
  int C = ps_proto_gallery_get_n_classes (self->protos);
  g_ptr_array_set_size (self->cards, self->K);
  for (int kind = 0; kind < (banks ? 2 : 1); kind++)
    {
      if (banks)
        {
          GtkWidget *h = gtk_label_new (kind == 0 ? "Trivial prototypes" : "Support prototypes");
          gtk_label_set_xalign (GTK_LABEL (h), 0);
          gtk_widget_add_css_class (h, "heading");
          gtk_widget_set_margin_top (h, kind == 0 ? 4 : 14);
          gtk_box_append (self->groups_box, h);
          GtkWidget *d = gtk_label_new (kind == 0 ? "Far from other classes: the clear cases."
                                                  : "Near the class boundaries: the hard cases.");
          gtk_label_set_xalign (GTK_LABEL (d), 0);
          gtk_widget_add_css_class (d, "dim-label");
          gtk_box_append (self->groups_box, d);
        }
      for (int c = 0; c < C; c++)
        {
          GtkWidget *fb = NULL;
          for (int k = 0; k < self->K; k++)
            {
              if (ps_proto_gallery_get_class (self->protos, k) != c
                  || (banks && ps_proto_gallery_get_kind (self->protos, k) != kind))
                continue;
              if (fb == NULL)
                {
                  char buf[48];
                  GtkWidget *l = gtk_label_new (class_name (self, c, buf, sizeof buf));
                  gtk_label_set_xalign (GTK_LABEL (l), 0);
                  gtk_label_set_ellipsize (GTK_LABEL (l), PANGO_ELLIPSIZE_END);
                  gtk_widget_set_margin_top (l, 6);
                  gtk_widget_add_css_class (l, "heading");
                  g_object_set_data (G_OBJECT (l), "class", GINT_TO_POINTER (c));
                  g_ptr_array_add (self->class_labels, l);
                  fb = gtk_flow_box_new ();
                  gtk_flow_box_set_selection_mode (GTK_FLOW_BOX (fb), GTK_SELECTION_SINGLE);
                  gtk_flow_box_set_homogeneous (GTK_FLOW_BOX (fb), TRUE);
                  gtk_flow_box_set_max_children_per_line (GTK_FLOW_BOX (fb), 40);
                  gtk_flow_box_set_column_spacing (GTK_FLOW_BOX (fb), 2);
                  gtk_flow_box_set_row_spacing (GTK_FLOW_BOX (fb), 2);
                  gtk_widget_set_halign (fb, GTK_ALIGN_START);
                  g_signal_connect (fb, "selected-children-changed", G_CALLBACK (flowbox_selection_cb), self);
                  g_ptr_array_add (self->flowboxes, fb);
                  gtk_box_append (self->groups_box, l);
                  gtk_box_append (self->groups_box, fb);
                }
              GtkWidget *card = card_new (self, k);
              gtk_flow_box_append (GTK_FLOW_BOX (fb), card);
              g_ptr_array_index (self->cards, k) = card;
            }
        }
    }
}


gboolean
ps_gallery_view_set_snapshot (PsGalleryView *self, PsStore *store, gint64 run, GPtrArray *arrays)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), FALSE);

  const char *path = store ? ps_store_path (store) : NULL;
  if (run != self->run || g_strcmp0 (path, self->store_path) != 0)
    {
      clear_run (self);
      self->run = run;
      g_free (self->store_path);
      self->store_path = g_strdup (path);
    }
  int keep = self->selected;
  clear_snapshot (self);

  self->protos = arrays ? ps_proto_gallery_new (arrays) : NULL;
  if (self->protos == NULL)
    {
      clear_run (self);
      gtk_label_set_label (self->summary_label, "");
      gtk_widget_queue_draw (GTK_WIDGET (self->detail_area));
      return FALSE;
    }
  self->arrays = g_ptr_array_ref (arrays);
  self->K = ps_proto_gallery_get_n (self->protos);
  if (self->gm != NULL)
    ps_proto_gallery_set_dataset (self->protos, self->gm->data);
  self->strip_rows = ps_proto_gallery_test_rows (arrays, &self->n_misclassified);

  g_autoptr (PsRunInfo) info = store && run > 0 ? ps_store_get_run (store, run, NULL) : NULL;
  const PsMethod *method = info ? ps_method_find (info->method) : NULL;
  g_free (self->title);
  self->title = info ? g_strdup_printf ("Run %" G_GINT64_FORMAT " (%s on %s)", run, info->method, info->dataset)
                     : g_strdup ("Explanation");
  g_autofree char *summary = ps_proto_gallery_summary (self->protos, method ? method->title : NULL);
  gtk_label_set_label (self->summary_label, summary);
  build_gallery (self);
  if (keep >= 0 && keep < self->K)
    ps_gallery_view_select_prototype (self, keep);
  gtk_widget_queue_draw (GTK_WIDGET (self->detail_area));
  gtk_widget_queue_draw (GTK_WIDGET (self->strip_area));
  /* A training run's checkpoint is still moving: the window calls again
   * once the run ends. */
  self->run_done = info != NULL && info->status != PS_RUN_RUNNING && info->status != PS_RUN_QUEUED
                   && info->status != PS_RUN_PAUSED;
  ensure_model (self);
  return TRUE;
}

/* ---- Public API ---------------------------------------------------------------- */

gboolean
ps_gallery_view_export (PsGalleryView *self, const char *path, double scale, GError **error)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), FALSE);
  if (self->ex == NULL && self->protos != NULL)
    {
      /* No explanation (yet, or no model): the gallery itself. */
      g_autofree char *title = g_strdup_printf ("%s: %d prototypes", self->title, self->K);
      return ps_proto_gallery_write (self->protos, path, title, scale, error);
    }
  if (self->ex == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: this view has nothing to export", path);
      return FALSE;
    }
  PsExplainSheetOptions o;
  sheet_options (self, &o, FALSE);
  g_autofree char *title = g_strdup_printf ("%s, sample %d", self->title, self->ex->sample);
  o.title = title;
  return ps_explain_sheet_write (path, self->ex, self->gm ? self->gm->data : NULL, &o, scale, error);
}

guint
ps_gallery_view_get_n_cards (PsGalleryView *self)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), 0);
  return self->cards->len;
}

void
ps_gallery_view_select_prototype (PsGalleryView *self, int k)
{
  g_return_if_fail (PS_IS_GALLERY_VIEW (self));
  if (k >= self->K)
    k = -1;
  int old = self->selected;
  self->selected = k;
  self->selecting = TRUE;
  GtkWidget *card = k >= 0 ? g_ptr_array_index (self->cards, k) : NULL;
  GtkWidget *child = card ? gtk_widget_get_parent (card) : NULL;
  for (guint i = 0; i < self->flowboxes->len; i++)
    {
      GtkFlowBox *fb = g_ptr_array_index (self->flowboxes, i);
      if (child != NULL && gtk_widget_get_parent (child) == GTK_WIDGET (fb))
        gtk_flow_box_select_child (fb, GTK_FLOW_BOX_CHILD (child));
      else
        gtk_flow_box_unselect_all (fb);
    }
  self->selecting = FALSE;
  if (old >= 0 && old < (int) self->cards->len)
    gtk_widget_queue_draw (g_ptr_array_index (self->cards, old));
  if (card)
    gtk_widget_queue_draw (card);
  gtk_widget_queue_draw (GTK_WIDGET (self->detail_area));
  gtk_widget_queue_draw (GTK_WIDGET (self->sheet_area));
}

int
ps_gallery_view_get_selected_prototype (PsGalleryView *self)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), -1);
  return self->selected;
}

gboolean
ps_gallery_view_explain_sample (PsGalleryView *self, int row)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), FALSE);
  if (self->gm == NULL || self->gm->model == NULL || row < 0 || (guint) row >= self->gm->data->n)
    return FALSE;
  pick (self, row);
  return TRUE;
}

gboolean
ps_gallery_view_has_model (PsGalleryView *self)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), FALSE);
  return self->gm != NULL && self->gm->model != NULL;
}

PsExplanation *
ps_gallery_view_get_explanation (PsGalleryView *self)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), NULL);
  return self->ex;
}

gboolean
ps_gallery_view_is_busy (PsGalleryView *self)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), FALSE);
  return self->model_loading || self->explaining || self->pending_row >= 0;
}

const char *
ps_gallery_view_get_points_text (PsGalleryView *self)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), NULL);
  return self->points_text;
}

void
ps_gallery_view_set_sanity (PsGalleryView *self, gboolean on)
{
  g_return_if_fail (PS_IS_GALLERY_VIEW (self));
  gtk_switch_set_active (self->sanity_switch, on);
}

GtkWidget *
ps_gallery_view_get_sheet_area (PsGalleryView *self)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), NULL);
  return GTK_WIDGET (self->sheet_area);
}

GtkWidget *
ps_gallery_view_get_card (PsGalleryView *self, int k)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), NULL);
  return k >= 0 && (guint) k < self->cards->len ? g_ptr_array_index (self->cards, k) : NULL;
}

/* ---- GObject ------------------------------------------------------------------- */

static void
ps_gallery_view_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (ps_gallery_view_parent_class)->map (widget);
  ensure_model (PS_GALLERY_VIEW (widget));
}

static void
sanity_cb (PsGalleryView *self)
{
  update_sheet_height (self);
}

static void
ps_gallery_view_dispose (GObject *object)
{
  PsGalleryView *self = PS_GALLERY_VIEW (object);

  if (self->cancel)
    g_cancellable_cancel (self->cancel);
  g_clear_object (&self->cancel);
  g_clear_pointer (&self->gm, gallery_model_unref);
  g_clear_pointer (&self->ex, ps_explanation_free);
  if (self->cards)
    clear_snapshot (self);
  gtk_widget_dispose_template (GTK_WIDGET (object), PS_TYPE_GALLERY_VIEW);
  G_OBJECT_CLASS (ps_gallery_view_parent_class)->dispose (object);
}

static void
ps_gallery_view_finalize (GObject *object)
{
  PsGalleryView *self = PS_GALLERY_VIEW (object);

  g_clear_pointer (&self->cards, g_ptr_array_unref);
  g_clear_pointer (&self->flowboxes, g_ptr_array_unref);
  g_clear_pointer (&self->class_labels, g_ptr_array_unref);
  g_free (self->store_path);
  g_free (self->title);
  g_free (self->points_text);
  G_OBJECT_CLASS (ps_gallery_view_parent_class)->finalize (object);
}

static void
ps_gallery_view_class_init (PsGalleryViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_gallery_view_dispose;
  object_class->finalize = ps_gallery_view_finalize;
  widget_class->map = ps_gallery_view_map;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-gallery-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, paned);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, summary_label);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, scroller);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, groups_box);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, detail_area);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, sample_spin);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, sample_adjustment);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, random_button);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, misclassified_button);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, sanity_switch);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, strip_area);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, status_label);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, sheet_area);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, points_label);
  gtk_widget_class_bind_template_callback (widget_class, random_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, misclassified_clicked_cb);
  gtk_widget_class_set_css_name (widget_class, "galleryview");
}

static void
ps_gallery_view_init (PsGalleryView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->selected = -1;
  self->pending_row = -1;
  self->cancel = g_cancellable_new ();
  self->cards = g_ptr_array_new ();
  self->flowboxes = g_ptr_array_new ();
  self->class_labels = g_ptr_array_new ();
  gtk_drawing_area_set_draw_func (self->detail_area, detail_draw, self, NULL);
  gtk_drawing_area_set_content_height (self->detail_area, PS_PROTO_DETAIL_HEIGHT);
  gtk_drawing_area_set_draw_func (self->strip_area, strip_draw, self, NULL);
  gtk_drawing_area_set_draw_func (self->sheet_area, sheet_draw, self, NULL);
  g_signal_connect (self->sheet_area, "resize", G_CALLBACK (sheet_resize_cb), self);
  g_signal_connect (self->sample_adjustment, "value-changed", G_CALLBACK (sample_changed_cb), self);
  g_signal_connect_swapped (self->sanity_switch, "notify::active", G_CALLBACK (sanity_cb), self);
  GtkGesture *click = gtk_gesture_click_new ();
  g_signal_connect (click, "pressed", G_CALLBACK (strip_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->strip_area), GTK_EVENT_CONTROLLER (click));
  gtk_widget_set_sensitive (GTK_WIDGET (self->sample_spin), FALSE);
  gtk_widget_set_sensitive (self->random_button, FALSE);
  gtk_widget_set_sensitive (self->misclassified_button, FALSE);
}

GtkWidget *
ps_gallery_view_new (void)
{
  return g_object_new (PS_TYPE_GALLERY_VIEW, NULL);
}
