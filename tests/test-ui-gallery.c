/* test-ui-gallery.c: the Prototypes page.  A synthetic snapshot of 100
 * prototypes (speed, leaks), a ProtoPNet trained on the digits by the CLI
 * (cards, the explanation from the rebuilt model, the sanity heatmaps, the
 * exports, the window's page) and an MLP run (no page). */
#include <gtk/gtk.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "ui-test-util.h"
#include "ps-application.h"
#include "ps-explain-sheet.h"
#include "ps-gallery-view.h"
#include "ps-window.h"

/* The widget as it paints now, as a texture (NULL when it has no size). */
static GdkTexture *
render_widget (GtkWidget *widget)
{
  int w = gtk_widget_get_width (widget), h = gtk_widget_get_height (widget);
  if (w <= 0 || h <= 0)
    return NULL;
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, w, h);
  g_autoptr (GskRenderNode) node = gtk_snapshot_free_to_node (snapshot);
  if (node == NULL)
    return NULL;
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  return gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, w, h));
}

/* With PS_SCREENSHOT_DIR set, saves the widget as it is painted to
 * <dir>/<name> (how docs/screenshots/ are kept current). */
static void
maybe_screenshot (GtkWidget *widget, const char *name)
{
  const char *dir = g_getenv ("PS_SCREENSHOT_DIR");
  if (dir == NULL)
    return;
  g_autoptr (GdkTexture) texture = render_widget (widget);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  if (texture)
    gdk_texture_save_to_png (texture, path);
}

/* Pixels of heat-overlay colour (warm: red well above blue) in `texture`. */
static gsize
count_warm (GdkTexture *texture)
{
  int w = gdk_texture_get_width (texture), h = gdk_texture_get_height (texture);
  g_autofree guint8 *px = g_malloc ((gsize) w * h * 4);
  gsize n = 0;

  gdk_texture_download (texture, px, (gsize) w * 4);
  for (gsize i = 0; i < (gsize) w * h; i++)
    {
      /* Cairo's ARGB32 in memory on little-endian: B, G, R, A. */
      int b = px[4 * i], g = px[4 * i + 1], r = px[4 * i + 2];
      n += r > 90 && r > b + 50 && g > 20 && !(r > 200 && g < 140 && b < 60 && g > 90);
    }
  return n;
}

static void
assert_file_starts (const char *path, const char *magic, gsize n, gsize min_size)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (len, >=, min_size);
  g_assert_cmpmem (contents, n, magic, n);
}

static void
remove_tree (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_remove (path);
    }
  g_rmdir (dir);
}

/* ---- A synthetic snapshot: 10 classes x 10 prototypes --------------------- */

static GPtrArray *
synthetic_snapshot (int C, int per_class, gboolean with_support)
{
  const int K = C * per_class, H = 8, W = 8;
  GPtrArray *arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  g_autofree float *img = g_new (float, (gsize) K * H * W);
  g_autofree gint32 *cls = g_new (gint32, K), *kind = g_new (gint32, K);
  g_autofree gint32 *src = g_new (gint32, (gsize) K * 3), *box = g_new (gint32, (gsize) K * 4);
  g_autofree gint32 *topk = g_new (gint32, (gsize) K * 10);
  g_autofree float *wt = g_new (float, K);
  for (int k = 0; k < K; k++)
    {
      cls[k] = k / per_class;
      kind[k] = with_support && k % per_class >= per_class / 2;
      wt[k] = 1.0f + 0.01f * k;
      src[3 * k] = k;
      src[3 * k + 1] = src[3 * k + 2] = 1;
      box[4 * k] = box[4 * k + 1] = 1;
      box[4 * k + 2] = box[4 * k + 3] = 5;
      for (int i = 0; i < H * W; i++)
        img[(gsize) k * H * W + i] = (float) ((i * 7 + k) % 11) / 10.0f;
      for (int j = 0; j < 10; j++)
        topk[k * 10 + j] = -1;
    }
  gsize s3[3] = { K, H, W }, s2[2] = { K, 3 }, s4[2] = { K, 4 }, st[2] = { K, 10 }, s1[1] = { K };
  g_ptr_array_add (arrays, ps_array_new ("prototype_images", PS_DTYPE_F32, 3, s3, img));
  g_ptr_array_add (arrays, ps_array_new_i32 ("prototype_labels", cls, K));
  g_ptr_array_add (arrays, ps_array_new_i32 ("prototype_kind", kind, K));
  g_ptr_array_add (arrays, ps_array_new ("prototype_source", PS_DTYPE_I32, 2, s2, src));
  g_ptr_array_add (arrays, ps_array_new ("prototype_box", PS_DTYPE_I32, 2, s4, box));
  g_ptr_array_add (arrays, ps_array_new ("prototype_topk", PS_DTYPE_I32, 2, st, topk));
  g_ptr_array_add (arrays, ps_array_new ("prototype_weight", PS_DTYPE_F32, 1, s1, wt));
  return arrays;
}

static GtkWindow *
window_with (GtkWidget *child, int w, int h)
{
  GtkWindow *win = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_default_size (win, w, h);
  gtk_window_set_child (win, child);
  gtk_window_present (win);
  return win;
}

/* The view is created, shows 100 synthetic prototypes quickly, selects one
 * by a flow-box click, drops them for a snapshot without prototypes, and
 * is finalized. */
static void
test_synthetic (void)
{
  GtkWidget *view = ps_gallery_view_new ();
  g_object_ref_sink (view);
  GtkWindow *win = window_with (view, 1400, 900);
  PsGalleryView *gv = PS_GALLERY_VIEW (view);
  wait_painted (view);

  g_autoptr (GPtrArray) arrays = synthetic_snapshot (10, 10, TRUE);
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (ps_gallery_view_set_snapshot (gv, NULL, 0, arrays));
  gint64 t1 = g_get_monotonic_time ();
  wait_painted (view);
  gint64 t2 = g_get_monotonic_time ();
  g_assert_cmpuint (ps_gallery_view_get_n_cards (gv), ==, 100);
  /* A selection redraws two cards, not the page. */
  ps_gallery_view_select_prototype (gv, 42);
  gint64 t3 = g_get_monotonic_time ();
  wait_painted (view);
  gint64 t4 = g_get_monotonic_time ();
  g_test_message ("100 cards: built in %.1f ms, first frame %.1f ms; a selection frame %.1f ms",
                  (t1 - t0) / 1e3, (t2 - t1) / 1e3, (t4 - t3) / 1e3);
  /* Generous bounds for a loaded 2-core machine: well under a second. */
  g_assert_cmpint (t1 - t0, <, 500000);
  g_assert_cmpint (t2 - t1, <, 1500000);
  g_assert_cmpint (t4 - t3, <, 500000);

  /* A click in another class's flow box moves the selection there. */
  GtkWidget *card = ps_gallery_view_get_card (gv, 77);
  GtkWidget *child = gtk_widget_get_parent (card);
  gtk_flow_box_select_child (GTK_FLOW_BOX (gtk_widget_get_parent (child)), GTK_FLOW_BOX_CHILD (child));
  g_assert_cmpint (ps_gallery_view_get_selected_prototype (gv), ==, 77);
  GtkWidget *old = gtk_widget_get_parent (ps_gallery_view_get_card (gv, 42));
  g_assert_false (gtk_flow_box_child_is_selected (GTK_FLOW_BOX_CHILD (old)));

  /* No explanation yet: the export writes the gallery, as wide as a row
   * of 5 cards (20 + 96 + 5 x 114 + 20). */
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ps-ui-gallery-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *png = g_build_filename (dir, "gallery.png", NULL);
  g_autofree char *pdf = g_build_filename (dir, "gallery.pdf", NULL);
  g_assert_true (ps_gallery_view_export (gv, png, 1, &error));
  g_assert_no_error (error);
  g_assert_true (ps_gallery_view_export (gv, pdf, 1, &error));
  g_assert_no_error (error);
  assert_file_starts (pdf, "%PDF-", 5, 1000);
  g_autoptr (GdkTexture) page = gdk_texture_new_from_filename (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (page), ==, 706);
  /* 100 cards of 166, a row per class and bank. */
  g_assert_cmpint (gdk_texture_get_height (page), >, 20 * 166);
  g_assert_false (ps_gallery_view_export (gv, "/nonexistent/x.png", 2, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_IO);
  g_clear_error (&error);
  remove_tree (dir);

  /* A snapshot without prototypes empties the view. */
  g_autoptr (GPtrArray) none = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  g_assert_false (ps_gallery_view_set_snapshot (gv, NULL, 0, none));
  g_assert_false (ps_gallery_view_set_snapshot (gv, NULL, 0, NULL));
  g_assert_cmpuint (ps_gallery_view_get_n_cards (gv), ==, 0);
  g_assert_cmpint (ps_gallery_view_get_selected_prototype (gv), ==, -1);
  g_assert_false (ps_gallery_view_export (gv, "/nonexistent/x.png", 2, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);

  gtk_window_destroy (win);
  drain ();
  g_assert_finalize_object (view);
}

/* The sheet draws what an explanation has: evidence only, or with the
 * points and Prob-PSENN's uncertainty, at any width and to every format. */
static void
test_sheet_partial (void)
{
  g_autoptr (PsExplanation) ex = ps_explanation_new ();
  g_autoptr (GError) error = NULL;
  ex->sample = 3;
  ex->true_label = 1;
  ex->predicted = 2;
  ex->confidence = 0.6f;
  ex->uncertainty = 0.25f;
  ex->by_prototypes = TRUE;
  for (int t = 0; t < 3; t++)
    {
      PsEvidence e = { .index = t, .cls = 2, .similarity = 2.0f - t, .weight = 1.0f, .evidence = 2.0f - t };
      g_array_append_val (ex->evidence, e);
    }
  g_autofree char *dir = g_dir_make_tmp ("ps-ui-sheet-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *png = g_build_filename (dir, "a.png", NULL);
  g_autofree char *svg = g_build_filename (dir, "a.svg", NULL);
  g_autofree char *pdf = g_build_filename (dir, "a.pdf", NULL);
  PsExplainSheetOptions o;
  ps_explain_sheet_options_init (&o);
  o.title = "evidence only";
  double h3 = ps_explain_sheet_get_height (ex, NULL, &o, PS_EXPLAIN_SHEET_WIDTH);
  g_assert_true (ps_explain_sheet_write (png, ex, NULL, &o, 1, &error));
  g_assert_no_error (error);
  assert_file_starts (png, "\x89PNG\r\n\x1a\n", 8, 1000);

  /* Points, logits, an image and the standard deviations of Prob-PSENN. */
  float pts[3] = { -3, -2, 1 }, img[64], sd[3] = { 0.1f, 0.2f, 0.3f };
  for (int i = 0; i < 64; i++)
    img[i] = (i % 9) / 8.0f;
  gsize ishape[2] = { 8, 8 }, c3[1] = { 3 };
  g_ptr_array_add (ex->arrays, ps_array_new ("class_points", PS_DTYPE_F32, 1, c3, pts));
  g_ptr_array_add (ex->arrays, ps_array_new ("logits", PS_DTYPE_F32, 1, c3, pts));
  g_ptr_array_add (ex->arrays, ps_array_new ("image", PS_DTYPE_F32, 2, ishape, img));
  g_ptr_array_add (ex->arrays, ps_array_new ("similarity_std", PS_DTYPE_F32, 1, c3, sd));
  /* A malformed array (wrong row size) is left out, not read past. */
  gsize bad[2] = { 3, 2 };
  g_ptr_array_add (ex->arrays, ps_array_new ("because_local", PS_DTYPE_F32, 2, bad, NULL));
  g_assert_true (ps_explain_sheet_write (svg, ex, NULL, &o, 1, &error));
  g_assert_no_error (error);
  assert_file_starts (svg, "<?xml", 5, 1000);
  g_assert_true (ps_explain_sheet_write (pdf, ex, NULL, NULL, 1, &error));
  g_assert_no_error (error);
  assert_file_starts (pdf, "%PDF-", 5, 1000);

  /* Fewer rows, a shorter sheet; a narrow one lays itself out. */
  o.max_prototypes = 1;
  g_assert_cmpfloat (ps_explain_sheet_get_height (ex, NULL, &o, PS_EXPLAIN_SHEET_WIDTH), <, h3);
  g_assert_cmpfloat (ps_explain_sheet_get_height (ex, NULL, &o, 400), >, 100);
  g_assert_false (ps_explain_sheet_write ("/nonexistent-dir/a.png", ex, NULL, &o, 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_IO);
  remove_tree (dir);
}

/* ---- Trained runs ------------------------------------------------------------ */

typedef struct
{
  char *dir;
  char *store;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("ps-ui-gallery-XXXXXX", &error);
  g_assert_no_error (error);
  f->store = g_build_filename (f->dir, "runs.sqlite", NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  remove_tree (f->dir);
  g_free (f->store);
  g_free (f->dir);
}

/* Trains `method` on the digits with the CLI into the fixture's store;
 * returns FALSE (test skipped) when the CLI is not built. */
static gboolean
cli_train (Fixture *f, const char *method, const char *const *sets)
{
  const char *cli = g_getenv ("PROTOSCOPE_CLI");
  if (cli == NULL || !g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("protoscope-cli is not built");
      return FALSE;
    }
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) cli);
  g_ptr_array_add (argv, "train");
  g_ptr_array_add (argv, (char *) method);
  g_ptr_array_add (argv, "--dataset");
  g_ptr_array_add (argv, "digits");
  g_ptr_array_add (argv, "--seed");
  g_ptr_array_add (argv, "1");
  g_ptr_array_add (argv, "--db");
  g_ptr_array_add (argv, f->store);
  for (guint i = 0; sets && sets[i]; i++)
    {
      g_ptr_array_add (argv, "--set");
      g_ptr_array_add (argv, (char *) sets[i]);
    }
  g_ptr_array_add (argv, NULL);
  g_autoptr (GError) error = NULL;
  int status = 0;
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL,
                NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return TRUE;
}

static const char *const ppn_quick[] = { "warm_epochs=1", "joint_epochs=3", "last_epochs=2",
                                         "protos_per_class=3", NULL };
static const char *const ppn_shots[] = { "warm_epochs=2", "joint_epochs=10", "last_epochs=5",
                                         "protos_per_class=3", NULL };

static const char *const *
ppn_settings (void)
{
  return g_getenv ("PS_SCREENSHOT_DIR") ? ppn_shots : ppn_quick;
}

typedef struct
{
  PsGalleryView *view;
  int row;
} Want;

static gboolean
explained (gpointer data)
{
  Want *w = data;
  PsExplanation *ex = ps_gallery_view_get_explanation (w->view);
  return !ps_gallery_view_is_busy (w->view) && ex != NULL && (w->row < 0 || ex->sample == w->row);
}

static const PsArray *
ex_array (PsExplanation *ex, const char *kind)
{
  const PsArray *a = ps_explain_sheet_find_array (ex, kind);
  g_assert_nonnull (a);
  return a;
}

static void
test_protopnet (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  if (ps_method_find ("protopnet") == NULL)
    {
      g_test_skip ("no protopnet method in this build");
      return;
    }
  if (!cli_train (f, "protopnet", ppn_settings ()))
    return;
  PsStore *store = ps_store_open (f->store, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) arrays = ps_store_get_artifacts (store, 1, -1, &error);
  g_assert_no_error (error);

  GtkWidget *view = ps_gallery_view_new ();
  g_object_ref_sink (view);
  GtkWindow *win = window_with (view, 1400, 1000);
  PsGalleryView *gv = PS_GALLERY_VIEW (view);
  g_assert_true (ps_gallery_view_set_snapshot (gv, store, 1, arrays));
  g_assert_cmpuint (ps_gallery_view_get_n_cards (gv), ==, 30);

  /* The model comes back from its checkpoint and explains the first
   * misclassified test image by itself. */
  Want any = { gv, -1 };
  g_assert_true (wait_for (explained, &any, 60));
  g_assert_true (ps_gallery_view_has_model (gv));

  /* A chosen sample, through the same path as the spin button. */
  Want w = { gv, 1700 };
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (ps_gallery_view_explain_sample (gv, 1700));
  g_assert_true (ps_gallery_view_is_busy (gv));
  g_assert_true (wait_for (explained, &w, 60));
  g_test_message ("one explanation on the worker thread, shown: %.1f ms",
                  (g_get_monotonic_time () - t0) / 1e3);
  PsExplanation *ex = ps_gallery_view_get_explanation (gv);
  g_assert_true (ex->by_prototypes);
  g_assert_cmpuint (ex->evidence->len, >=, 5);

  /* The points per class, accumulated prototype by prototype, are the
   * model's logits; the sentence under the sheet shows the top prototypes'
   * points, the rest, their sum and the logit. */
  const float *pts = ps_array_data (ex_array (ex, "class_points"), NULL);
  const float *logits = ps_array_data (ex_array (ex, "logits"), NULL);
  for (int c = 0; c < 10; c++)
    g_assert_cmpfloat (fabsf (pts[c] - logits[c]), <, 1e-3f * MAX (1.0f, fabsf (logits[c])));
  const char *text = ps_gallery_view_get_points_text (gv);
  g_assert_nonnull (text);
  g_autofree char *sum = g_strdup_printf ("%.2f points = logit %.2f", pts[ex->predicted], logits[ex->predicted]);
  g_assert_nonnull (strstr (text, sum));
  double shown = 0;
  for (guint t = 0; t < 5; t++)
    {
      const PsEvidence *e = &g_array_index (ex->evidence, PsEvidence, t);
      g_autofree char *one = g_strdup_printf (" %+.2f", e->evidence);
      g_assert_nonnull (strstr (text, one));
      shown += e->evidence;
    }
  g_autofree char *rest = g_strdup_printf ("%+.2f from the other 25", pts[ex->predicted] - shown);
  g_assert_nonnull (strstr (text, rest));

  /* Random Misclassified: the model's own explanation disagrees with the
   * label (the snapshot's predictions came from the same checkpoint). */
  for (int i = 0; i < 3; i++)
    {
      g_assert_true (ps_gallery_view_pick_random (gv, TRUE));
      g_assert_true (wait_for (explained, &any, 60));
      PsExplanation *wrong = ps_gallery_view_get_explanation (gv);
      g_assert_cmpint (wrong->true_label, !=, wrong->predicted);
    }
  g_assert_true (ps_gallery_view_pick_random (gv, FALSE));
  g_assert_true (wait_for (explained, &any, 60));
  g_assert_true (ps_gallery_view_explain_sample (gv, 1700));
  g_assert_true (wait_for (explained, &w, 60));
  ex = ps_gallery_view_get_explanation (gv);

  /* Selecting a prototype of the explanation frames its row. */
  const PsEvidence *top = &g_array_index (ex->evidence, PsEvidence, 0);
  ps_gallery_view_select_prototype (gv, top->index);
  g_assert_cmpint (ps_gallery_view_get_selected_prototype (gv), ==, top->index);

  /* The sanity switch adds the heatmaps of the randomised model and of a
   * random attribution: many more heat-coloured pixels on the sheet. */
  GtkWidget *sheet = ps_gallery_view_get_sheet_area (gv);
  wait_painted (GTK_WIDGET (win));
  g_autoptr (GdkTexture) plain = render_widget (sheet);
  g_assert_nonnull (plain);
  gsize warm0 = count_warm (plain);
  g_autofree char *plain_png = g_build_filename (f->dir, "plain.png", NULL);
  g_assert_true (ps_gallery_view_export (gv, plain_png, 1, &error));
  g_assert_no_error (error);
  ps_gallery_view_set_sanity (gv, TRUE);
  wait_painted (GTK_WIDGET (win));
  wait_painted (GTK_WIDGET (win));
  g_autoptr (GdkTexture) sane = render_widget (sheet);
  gsize warm1 = count_warm (sane);
  g_test_message ("heat-coloured pixels: %" G_GSIZE_FORMAT " without, %" G_GSIZE_FORMAT " with the sanity heatmaps",
                  warm0, warm1);
  g_assert_cmpuint (warm0, >, 100);
  g_assert_cmpuint (warm1, >, warm0 * 3 / 2);

  /* Exports: PNG at scale, SVG, PDF. */
  g_autofree char *png = g_build_filename (f->dir, "sheet.png", NULL);
  g_autofree char *svg = g_build_filename (f->dir, "sheet.svg", NULL);
  g_autofree char *pdf = g_build_filename (f->dir, "sheet.pdf", NULL);
  g_assert_true (ps_gallery_view_export (gv, png, 1.5, &error));
  g_assert_no_error (error);
  g_assert_true (ps_gallery_view_export (gv, svg, 1, &error));
  g_assert_no_error (error);
  g_assert_true (ps_gallery_view_export (gv, pdf, 1, &error));
  g_assert_no_error (error);
  assert_file_starts (png, "\x89PNG\r\n\x1a\n", 8, 5000);
  assert_file_starts (svg, "<?xml", 5, 5000);
  assert_file_starts (pdf, "%PDF-", 5, 5000);
  g_autofree char *svg_text = NULL;
  g_assert_true (g_file_get_contents (svg, &svg_text, NULL, NULL));
  g_assert_nonnull (strstr (svg_text, "<svg"));
  g_autoptr (GdkTexture) tex = gdk_texture_new_from_filename (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (tex), ==, (int) (PS_EXPLAIN_SHEET_WIDTH * 1.5));
  {
    int tw = gdk_texture_get_width (tex), th = gdk_texture_get_height (tex);
    g_autofree guint8 *px = g_malloc ((gsize) tw * th * 4);
    gdk_texture_download (tex, px, (gsize) tw * 4);
    /* A white page: the corner is white, and the input image (black
     * background of a digit) is dark at its top-left corner. */
    g_assert_cmpuint (px[0], ==, 255);
    g_assert_cmpuint (px[1], ==, 255);
    g_assert_cmpuint (px[2], ==, 255);
    gsize at = ((gsize) (75 * 1.5) * tw + (gsize) (24 * 1.5)) * 4;
    g_assert_cmpuint (px[at] + px[at + 1] + px[at + 2], <, 3 * 128);
    /* The export follows the sanity switch. */
    g_autoptr (GdkTexture) plain_tex = gdk_texture_new_from_filename (plain_png, &error);
    g_assert_no_error (error);
    gsize e0 = count_warm (plain_tex), e1 = count_warm (tex) / (1.5 * 1.5);
    g_test_message ("exported sheet: %" G_GSIZE_FORMAT " heat-coloured pixels without, about %" G_GSIZE_FORMAT
                    " with the sanity heatmaps (per unit area)", e0, e1);
    g_assert_cmpuint (e0, >, 1000);
    g_assert_cmpuint (e1, >, 2 * e0);
  }
  g_autofree char *bad = g_build_filename (f->dir, "sheet.bmp", NULL);
  g_assert_false (ps_gallery_view_export (gv, bad, 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED);
  g_clear_error (&error);

  gtk_window_destroy (win);
  drain ();
  g_assert_finalize_object (view);
  ps_store_close (store);
}

/* A method without prototypes: no page. */
static void
test_mlp (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  if (ps_method_find ("mlp") == NULL)
    {
      g_test_skip ("no mlp method in this build");
      return;
    }
  const char *sets[] = { "epochs=1", NULL };
  if (!cli_train (f, "mlp", sets))
    return;
  PsStore *store = ps_store_open (f->store, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) arrays = ps_store_get_artifacts (store, 1, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (arrays->len, >, 0);
  GtkWidget *view = g_object_ref_sink (ps_gallery_view_new ());
  g_assert_false (ps_gallery_view_set_snapshot (PS_GALLERY_VIEW (view), store, 1, arrays));
  g_assert_cmpuint (ps_gallery_view_get_n_cards (PS_GALLERY_VIEW (view)), ==, 0);
  g_assert_false (ps_gallery_view_has_model (PS_GALLERY_VIEW (view)));
  g_assert_finalize_object (view);
  ps_store_close (store);
}

/* The window lists the page for the run, and its export writes the sheet. */
static gboolean
gallery_explained (gpointer data)
{
  Want w = { data, -1 };
  return explained (&w);
}

static void
test_window (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  if (ps_method_find ("protopnet") == NULL)
    {
      g_test_skip ("no protopnet method in this build");
      return;
    }
  if (!cli_train (f, "protopnet", ppn_settings ()))
    return;
  gboolean shots = g_getenv ("PS_SCREENSHOT_DIR") != NULL;
  PsWindow *window = g_object_ref (ps_window_new (NULL, NULL));
  gtk_window_set_default_size (GTK_WINDOW (window), shots ? 1600 : 1200, shots ? 1000 : 800);
  g_assert_true (ps_window_open_store (window, f->store));
  gtk_window_present (GTK_WINDOW (window));
  ps_run_list_select_run (ps_window_get_run_list (window), 1);
  drain ();
  g_assert_true (ps_window_has_view (window, "prototypes"));
  PsGalleryView *gv = ps_window_get_gallery_view (window);
  /* The model (and the dataset) are loaded only once the page is shown. */
  g_assert_false (gtk_widget_get_mapped (GTK_WIDGET (gv)));
  g_assert_false (ps_gallery_view_is_busy (gv));
  g_assert_false (ps_gallery_view_has_model (gv));
  ps_window_set_view (window, "prototypes");
  g_assert_cmpuint (ps_gallery_view_get_n_cards (gv), ==, 30);
  g_assert_true (wait_for (gallery_explained, gv, 60));
  if (shots)
    {
      /* A misclassified test image, with its strongest prototype selected. */
      PsExplanation *ex = ps_gallery_view_get_explanation (gv);
      ps_gallery_view_select_prototype (gv, g_array_index (ex->evidence, PsEvidence, 0).index);
    }
  wait_painted (GTK_WIDGET (window));
  maybe_screenshot (GTK_WIDGET (window), "prototypes-gallery.png");
  ps_gallery_view_set_sanity (gv, TRUE);
  wait_painted (GTK_WIDGET (window));
  wait_painted (GTK_WIDGET (window));
  maybe_screenshot (GTK_WIDGET (window), "explanation-sanity.png");

  g_autofree char *png = g_build_filename (f->dir, "window.png", NULL);
  g_assert_true (ps_window_export_figure (window, png, &error));
  g_assert_no_error (error);
  assert_file_starts (png, "\x89PNG\r\n\x1a\n", 8, 5000);
  if (shots)
    {
      g_autofree char *sheet = g_build_filename (g_getenv ("PS_SCREENSHOT_DIR"), "explanation-sheet.png", NULL);
      ps_gallery_view_set_sanity (gv, FALSE);
      g_assert_true (ps_gallery_view_export (gv, sheet, 1.0, &error));
      g_assert_no_error (error);
    }

  gtk_window_destroy (GTK_WINDOW (window));
  drain ();
  g_assert_finalize_object (window);
}

int
main (int argc, char **argv)
{
  if (!ui_test_init (&argc, &argv))
    return 0;
  if (g_getenv ("PS_SCREENSHOT_DIR"))
    g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  g_test_add_func ("/ui/gallery/synthetic", test_synthetic);
  g_test_add_func ("/ui/gallery/sheet-partial", test_sheet_partial);
  g_test_add ("/ui/gallery/protopnet", Fixture, NULL, fixture_setup, test_protopnet, fixture_teardown);
  g_test_add ("/ui/gallery/mlp", Fixture, NULL, fixture_setup, test_mlp, fixture_teardown);
  g_test_add ("/ui/gallery/window", Fixture, NULL, fixture_setup, test_window, fixture_teardown);
  return g_test_run ();
}
