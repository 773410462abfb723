/* ps-run-list.c: the runs sidebar. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-run-list.h"

#include <math.h>

struct _PsRunList
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *box;
  GtkSearchEntry *filter_entry;
  GtkColumnView *column_view;
  GtkColumnViewColumn *name_column;
  GtkColumnViewColumn *status_column;
  GtkColumnViewColumn *metric_column;
  GtkColumnViewColumn *method_column;
  GtkColumnViewColumn *dataset_column;
  GtkColumnViewColumn *created_column;
  GtkLabel *count_label;
  GtkPopoverMenu *context_popover;

  /* Owned. */
  GListStore *store;
  GtkFilterListModel *filtered;
  GtkCustomFilter *filter;
  GtkSortListModel *sorted;
  GtkMultiSelection *selection;
  char *filter_text;
  guint resort_id;              /* idle re-sorting after items changed */
};

enum
{
  SIGNAL_SELECTION_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (PsRunList, ps_run_list, GTK_TYPE_WIDGET)

/* ---- Cells ------------------------------------------------------------
 *
 * Each column has a setup function building its widgets and an update
 * function filling them from the item.  Binding connects the item's notify
 * signal to the update function, so a training run's row follows its
 * progress without any rebind. */

typedef void (*CellUpdate) (GtkWidget *cell, PsRunItem *item);

/* Sets a tooltip only when it changes: setting one makes GTK ask the X
 * server where the pointer is (a synchronous round trip), and cells are
 * updated on every progress event of a training run. */
static void
set_tooltip (GtkWidget *widget, const char *text)
{
  const char *old = gtk_widget_get_tooltip_text (widget);
  if (g_strcmp0 (old, text) != 0)
    gtk_widget_set_tooltip_text (widget, text);
}

static void
update_name (GtkWidget *cell, PsRunItem *item)
{
  GtkWidget *name = gtk_widget_get_first_child (cell);
  GtkWidget *tags = gtk_widget_get_next_sibling (name);
  const char *t = ps_run_item_get_tags (item);

  gtk_label_set_label (GTK_LABEL (name), ps_run_item_get_name (item));
  set_tooltip (cell, ps_run_item_get_name (item));
  gtk_label_set_label (GTK_LABEL (tags), t ? t : "");
  gtk_widget_set_visible (tags, t != NULL && *t != '\0');
}

static GtkWidget *
setup_name (void)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *name = gtk_label_new (NULL);
  GtkWidget *tags = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (name), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (name, "run-name");
  gtk_label_set_xalign (GTK_LABEL (tags), 0);
  gtk_label_set_ellipsize (GTK_LABEL (tags), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (tags, "dim-label");
  gtk_widget_add_css_class (tags, "caption");
  gtk_box_append (GTK_BOX (box), name);
  gtk_box_append (GTK_BOX (box), tags);
  return box;
}

static void
update_status (GtkWidget *cell, PsRunItem *item)
{
  static const char *classes[] = { "status-queued", "status-running", "status-finished",
                                   "status-failed", "status-cancelled", "status-interrupted",
                                   "status-paused" };
  GtkWidget *icon = gtk_widget_get_first_child (cell);
  GtkWidget *column = gtk_widget_get_next_sibling (icon);
  GtkWidget *label = gtk_widget_get_first_child (column);
  GtkWidget *bar = gtk_widget_get_next_sibling (label);
  PsRunStatus status = ps_run_item_get_status (item);
  g_autofree char *text = ps_run_item_describe_status (item);

  /* Only what changed: every change repaints the window, which a
   * software renderer does in full. */
  int shown = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (icon), "ps-status")) - 1;
  if (shown != (int) status)
    {
      gtk_image_set_from_icon_name (GTK_IMAGE (icon), ps_run_status_icon_name (status));
      for (guint i = 0; i < G_N_ELEMENTS (classes); i++)
        gtk_widget_remove_css_class (icon, classes[i]);
      if ((guint) status < G_N_ELEMENTS (classes))
        gtk_widget_add_css_class (icon, classes[status]);
      g_object_set_data (G_OBJECT (icon), "ps-status", GINT_TO_POINTER ((int) status + 1));
    }
  gtk_label_set_label (GTK_LABEL (label), text);
  /* The bar moves in whole percents. */
  double fraction = round (100 * ps_run_item_get_progress (item)) / 100;
  if (gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (bar)) != fraction)
    gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (bar), fraction);
  gtk_widget_set_visible (bar, status == PS_RUN_RUNNING || status == PS_RUN_PAUSED);

  const PsRunInfo *info = ps_run_item_get_info (item);
  set_tooltip (cell, status == PS_RUN_FAILED && info->error ? info->error : text);
}

static GtkWidget *
setup_status (void)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *icon = gtk_image_new ();
  GtkWidget *column = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *label = gtk_label_new (NULL);
  GtkWidget *bar = gtk_progress_bar_new ();

  gtk_widget_set_valign (column, GTK_ALIGN_CENTER);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_add_css_class (label, "numeric");
  gtk_widget_set_size_request (bar, 80, -1);
  gtk_box_append (GTK_BOX (column), label);
  gtk_box_append (GTK_BOX (column), bar);
  gtk_box_append (GTK_BOX (box), icon);
  gtk_box_append (GTK_BOX (box), column);
  return box;
}

static void
update_metric (GtkWidget *cell, PsRunItem *item)
{
  double v = ps_run_item_get_key_metric (item);
  const char *name = ps_run_item_get_key_metric_name (item);

  if (isnan (v))
    gtk_label_set_label (GTK_LABEL (cell), "—");
  else
    {
      g_autofree char *s = g_strdup_printf ("%.4g", v);
      gtk_label_set_label (GTK_LABEL (cell), s);
    }
  set_tooltip (cell, name);
}

static GtkWidget *
setup_label (void)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_MIDDLE);
  return label;
}

static GtkWidget *
setup_numeric (void)
{
  GtkWidget *label = setup_label ();

  gtk_widget_add_css_class (label, "numeric");
  return label;
}

static void
update_method (GtkWidget *cell, PsRunItem *item)
{
  gtk_label_set_label (GTK_LABEL (cell), ps_run_item_get_method (item));
}

static void
update_dataset (GtkWidget *cell, PsRunItem *item)
{
  gtk_label_set_label (GTK_LABEL (cell), ps_run_item_get_dataset (item));
  set_tooltip (cell, ps_run_item_get_dataset (item));
}

static void
update_created (GtkWidget *cell, PsRunItem *item)
{
  const PsRunInfo *info = ps_run_item_get_info (item);
  g_autoptr (GDateTime) then = g_date_time_new_from_unix_local ((gint64) info->created);
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *text = NULL;
  g_autofree char *full = NULL;

  if (then == NULL)
    return;
  if (g_date_time_get_year (then) == g_date_time_get_year (now)
      && g_date_time_get_day_of_year (then) == g_date_time_get_day_of_year (now))
    text = g_date_time_format (then, "%H:%M");
  else
    text = g_date_time_format (then, "%b %e");
  full = g_date_time_format (then, "%Y-%m-%d %H:%M:%S");
  gtk_label_set_label (GTK_LABEL (cell), text);
  set_tooltip (cell, full);
}

static void
item_notify_cb (PsRunItem *item, GParamSpec *pspec, GtkListItem *list_item)
{
  CellUpdate update = g_object_get_data (G_OBJECT (list_item), "ps-update");
  GtkWidget *cell = gtk_list_item_get_child (list_item);

  update (cell, item);
}

static void
factory_setup_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer setup)
{
  GtkWidget *(*make) (void) = setup;
  GtkWidget *cell = make ();

  g_object_set_data (G_OBJECT (cell), "ps-list-item", list_item);
  gtk_list_item_set_child (list_item, cell);
}

static void
factory_bind_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer update)
{
  PsRunItem *item = gtk_list_item_get_item (list_item);
  CellUpdate fn = update;

  g_object_set_data (G_OBJECT (list_item), "ps-update", update);
  fn (gtk_list_item_get_child (list_item), item);
  g_signal_connect_object (item, "notify", G_CALLBACK (item_notify_cb), list_item, 0);
}

static void
factory_unbind_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer update)
{
  PsRunItem *item = gtk_list_item_get_item (list_item);

  if (item != NULL)
    g_signal_handlers_disconnect_by_func (item, item_notify_cb, list_item);
}

static void
set_factory (GtkColumnViewColumn *column, GtkWidget *(*setup) (void), CellUpdate update)
{
  g_autoptr (GtkListItemFactory) factory = gtk_signal_list_item_factory_new ();

  g_signal_connect (factory, "setup", G_CALLBACK (factory_setup_cb), setup);
  g_signal_connect (factory, "bind", G_CALLBACK (factory_bind_cb), update);
  g_signal_connect (factory, "unbind", G_CALLBACK (factory_unbind_cb), update);
  gtk_column_view_column_set_factory (column, factory);
}

/* ---- Sorting ------------------------------------------------------------
 *
 * Until a column header is clicked the list keeps the store's order
 * (newest first); each column sorts by what it shows. */

static int
cmp_name (gconstpointer a, gconstpointer b, gpointer data)
{
  return g_utf8_collate (ps_run_item_get_name ((PsRunItem *) a), ps_run_item_get_name ((PsRunItem *) b));
}

static int
cmp_method (gconstpointer a, gconstpointer b, gpointer data)
{
  return g_strcmp0 (ps_run_item_get_method ((PsRunItem *) a), ps_run_item_get_method ((PsRunItem *) b));
}

static int
cmp_dataset (gconstpointer a, gconstpointer b, gpointer data)
{
  return g_strcmp0 (ps_run_item_get_dataset ((PsRunItem *) a), ps_run_item_get_dataset ((PsRunItem *) b));
}

static int
cmp_status (gconstpointer a, gconstpointer b, gpointer data)
{
  int x = ps_run_item_get_status ((PsRunItem *) a), y = ps_run_item_get_status ((PsRunItem *) b);
  return x < y ? -1 : x > y;
}

static int
cmp_metric (gconstpointer a, gconstpointer b, gpointer data)
{
  double x = ps_run_item_get_key_metric ((PsRunItem *) a);
  double y = ps_run_item_get_key_metric ((PsRunItem *) b);
  /* Unknown values sort last. */
  if (isnan (x) || isnan (y))
    return isnan (x) - isnan (y);
  return x < y ? -1 : x > y;
}

static int
cmp_created (gconstpointer a, gconstpointer b, gpointer data)
{
  double x = ps_run_item_get_info ((PsRunItem *) a)->created;
  double y = ps_run_item_get_info ((PsRunItem *) b)->created;
  return x < y ? -1 : x > y;
}

static void
set_sorter (GtkColumnViewColumn *column, GCompareDataFunc cmp)
{
  g_autoptr (GtkSorter) sorter = GTK_SORTER (gtk_custom_sorter_new (cmp, NULL, NULL));
  gtk_column_view_column_set_sorter (column, sorter);
}

/* A sort model sorts when its sorter changes: a run whose status or key
 * metric moves while it trains would keep its old place.  After such
 * changes (coalesced in one idle), the list is checked against the column
 * view's sorter and re-sorted only if out of order, so an unsorted list or
 * an unchanged order costs no rebinding (every change repaints). */
static gboolean
resort_cb (gpointer user_data)
{
  PsRunList *self = user_data;
  GtkSorter *sorter = gtk_column_view_get_sorter (self->column_view);
  GListModel *model = G_LIST_MODEL (self->sorted);
  guint n = g_list_model_get_n_items (model);
  g_autoptr (GObject) prev = n > 0 ? g_list_model_get_item (model, 0) : NULL;

  self->resort_id = 0;
  for (guint i = 1; i < n; i++)
    {
      g_autoptr (GObject) item = g_list_model_get_item (model, i);
      if (gtk_sorter_compare (sorter, prev, item) == GTK_ORDERING_LARGER)
        {
          gtk_sorter_changed (sorter, GTK_SORTER_CHANGE_DIFFERENT);
          break;
        }
      g_set_object (&prev, item);
    }
  return G_SOURCE_REMOVE;
}

static void
item_sort_key_changed_cb (PsRunItem *item, GParamSpec *pspec, PsRunList *self)
{
  const char *name = g_param_spec_get_name (pspec);

  if (!g_str_equal (name, "key-metric") && !g_str_equal (name, "status") && !g_str_equal (name, "name"))
    return;
  if (self->resort_id == 0)
    self->resort_id = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, resort_cb, self, NULL);
}

static void
store_items_changed_cb (GListModel *model, guint position, guint removed, guint added,
                        PsRunList *self)
{
  for (guint i = position; i < position + added; i++)
    {
      g_autoptr (PsRunItem) item = g_list_model_get_item (model, i);
      g_signal_connect_object (item, "notify", G_CALLBACK (item_sort_key_changed_cb), self, 0);
    }
}

/* ---- Filter and selection ------------------------------------------- */

static gboolean
filter_func (gpointer item, gpointer user_data)
{
  PsRunList *self = user_data;

  return ps_run_item_matches (PS_RUN_ITEM (item), self->filter_text);
}

static void
update_count (PsRunList *self)
{
  guint shown = g_list_model_get_n_items (G_LIST_MODEL (self->filtered));
  guint total = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  g_autofree char *text = NULL;

  if (shown == total)
    text = g_strdup_printf (total == 1 ? "%u run" : "%u runs", total);
  else
    text = g_strdup_printf ("%u of %u runs", shown, total);
  gtk_label_set_label (self->count_label, text);
}

static void
filter_changed_cb (PsRunList *self, GtkSearchEntry *entry)
{
  ps_run_list_set_filter_text (self, gtk_editable_get_text (GTK_EDITABLE (entry)));
}

static void
items_changed_cb (PsRunList *self)
{
  update_count (self);
}

static void
selection_changed_cb (PsRunList *self)
{
  g_signal_emit (self, signals[SIGNAL_SELECTION_CHANGED], 0);
}

/* ---- Context menu ---------------------------------------------------- */

static void
context_pressed_cb (GtkGestureClick *gesture, int n_press, double x, double y, PsRunList *self)
{
  GtkWidget *picked = gtk_widget_pick (GTK_WIDGET (self->column_view), x, y, GTK_PICK_DEFAULT);
  double lx, ly;

  /* Right-clicking a row that is not selected selects it alone first, so
   * the menu's actions act on what the pointer points at. */
  for (GtkWidget *w = picked; w != NULL && w != GTK_WIDGET (self); w = gtk_widget_get_parent (w))
    {
      GtkListItem *li = g_object_get_data (G_OBJECT (w), "ps-list-item");
      if (li == NULL)
        continue;
      guint pos = gtk_list_item_get_position (li);
      if (pos != GTK_INVALID_LIST_POSITION
          && !gtk_selection_model_is_selected (GTK_SELECTION_MODEL (self->selection), pos))
        gtk_selection_model_select_item (GTK_SELECTION_MODEL (self->selection), pos, TRUE);
      break;
    }
  if (gtk_popover_menu_get_menu_model (self->context_popover) == NULL)
    return;
  if (!gtk_widget_translate_coordinates (GTK_WIDGET (self->column_view), GTK_WIDGET (self),
                                         x, y, &lx, &ly))
    lx = x, ly = y;
  gtk_popover_set_pointing_to (GTK_POPOVER (self->context_popover),
                               &(GdkRectangle) { (int) lx, (int) ly, 1, 1 });
  gtk_popover_popup (GTK_POPOVER (self->context_popover));
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
}

/* ---- GObject --------------------------------------------------------- */

static void
ps_run_list_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  PsRunList *self = PS_RUN_LIST (widget);

  gtk_widget_allocate (self->box, width, height, baseline, NULL);
  gtk_popover_present (GTK_POPOVER (self->context_popover));
}

static void
ps_run_list_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                     int *minimum, int *natural, int *minimum_baseline, int *natural_baseline)
{
  PsRunList *self = PS_RUN_LIST (widget);

  gtk_widget_measure (self->box, orientation, for_size, minimum, natural,
                      minimum_baseline, natural_baseline);
}

static void
ps_run_list_dispose (GObject *object)
{
  PsRunList *self = PS_RUN_LIST (object);

  g_clear_handle_id (&self->resort_id, g_source_remove);
  if (self->store != NULL)
    for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->store)); i++)
      {
        g_autoptr (PsRunItem) item = g_list_model_get_item (G_LIST_MODEL (self->store), i);
        g_signal_handlers_disconnect_by_func (item, item_sort_key_changed_cb, self);
      }
  gtk_widget_dispose_template (GTK_WIDGET (self), PS_TYPE_RUN_LIST);
  g_clear_object (&self->selection);
  g_clear_object (&self->sorted);
  g_clear_object (&self->filtered);
  g_clear_object (&self->filter);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (ps_run_list_parent_class)->dispose (object);
}

static void
ps_run_list_finalize (GObject *object)
{
  PsRunList *self = PS_RUN_LIST (object);

  g_free (self->filter_text);
  G_OBJECT_CLASS (ps_run_list_parent_class)->finalize (object);
}

static void
ps_run_list_class_init (PsRunListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_run_list_dispose;
  object_class->finalize = ps_run_list_finalize;
  widget_class->size_allocate = ps_run_list_size_allocate;
  widget_class->measure = ps_run_list_measure;

  signals[SIGNAL_SELECTION_CHANGED] =
      g_signal_new ("selection-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                    0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-run-list.ui");
  gtk_widget_class_bind_template_child (widget_class, PsRunList, box);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, filter_entry);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, column_view);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, name_column);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, status_column);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, metric_column);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, method_column);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, dataset_column);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, created_column);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, count_label);
  gtk_widget_class_bind_template_child (widget_class, PsRunList, context_popover);
  gtk_widget_class_bind_template_callback (widget_class, filter_changed_cb);
  gtk_widget_class_set_css_name (widget_class, "runlist");
}

static void
ps_run_list_init (PsRunList *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->store = g_list_store_new (PS_TYPE_RUN_ITEM);
  g_signal_connect (self->store, "items-changed", G_CALLBACK (store_items_changed_cb), self);
  self->filter = gtk_custom_filter_new (filter_func, self, NULL);
  self->filtered = gtk_filter_list_model_new (g_object_ref (G_LIST_MODEL (self->store)),
                                              g_object_ref (GTK_FILTER (self->filter)));
  self->sorted = gtk_sort_list_model_new (g_object_ref (G_LIST_MODEL (self->filtered)),
                                          g_object_ref (gtk_column_view_get_sorter (self->column_view)));
  self->selection = gtk_multi_selection_new (g_object_ref (G_LIST_MODEL (self->sorted)));
  gtk_column_view_set_model (self->column_view, GTK_SELECTION_MODEL (self->selection));
  g_signal_connect_object (self->selection, "selection-changed",
                           G_CALLBACK (selection_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->selection, "items-changed",
                           G_CALLBACK (selection_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->filtered, "items-changed",
                           G_CALLBACK (items_changed_cb), self, G_CONNECT_SWAPPED);

  set_factory (self->name_column, setup_name, update_name);
  set_factory (self->status_column, setup_status, update_status);
  set_factory (self->metric_column, setup_numeric, update_metric);
  set_factory (self->method_column, setup_label, update_method);
  set_factory (self->dataset_column, setup_label, update_dataset);
  set_factory (self->created_column, setup_numeric, update_created);
  set_sorter (self->name_column, cmp_name);
  set_sorter (self->status_column, cmp_status);
  set_sorter (self->metric_column, cmp_metric);
  set_sorter (self->method_column, cmp_method);
  set_sorter (self->dataset_column, cmp_dataset);
  set_sorter (self->created_column, cmp_created);

  GtkGesture *click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect (click, "pressed", G_CALLBACK (context_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->column_view), GTK_EVENT_CONTROLLER (click));

  /* Delete and Space act on the list only (not in the filter entry). */
  GtkEventController *shortcuts = gtk_shortcut_controller_new ();
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
      gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_Delete, 0),
                        gtk_named_action_new ("win.delete-runs")));
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
      gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_space, 0),
                        gtk_named_action_new ("win.pause-resume")));
  gtk_event_controller_set_propagation_phase (shortcuts, GTK_PHASE_CAPTURE);
  gtk_widget_add_controller (GTK_WIDGET (self->column_view), shortcuts);

  update_count (self);
}

GtkWidget *
ps_run_list_new (void)
{
  return g_object_new (PS_TYPE_RUN_LIST, NULL);
}

GListStore *
ps_run_list_get_model (PsRunList *self)
{
  g_return_val_if_fail (PS_IS_RUN_LIST (self), NULL);
  return self->store;
}

GPtrArray *
ps_run_list_get_selected (PsRunList *self)
{
  g_return_val_if_fail (PS_IS_RUN_LIST (self), NULL);

  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->selection));
  for (guint i = 0; i < n; i++)
    if (gtk_selection_model_is_selected (GTK_SELECTION_MODEL (self->selection), i))
      g_ptr_array_add (out, g_list_model_get_item (G_LIST_MODEL (self->selection), i));
  return out;
}

void
ps_run_list_select_run (PsRunList *self, gint64 id)
{
  g_return_if_fail (PS_IS_RUN_LIST (self));

  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->sorted));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (PsRunItem) item = g_list_model_get_item (G_LIST_MODEL (self->sorted), i);
      if (ps_run_item_get_id (item) == id)
        {
          gtk_selection_model_select_item (GTK_SELECTION_MODEL (self->selection), i, TRUE);
          return;
        }
    }
}

void
ps_run_list_select_runs (PsRunList *self, const gint64 *ids, guint n)
{
  g_return_if_fail (PS_IS_RUN_LIST (self));

  guint len = g_list_model_get_n_items (G_LIST_MODEL (self->sorted));
  g_autoptr (GtkBitset) selected = gtk_bitset_new_empty ();
  g_autoptr (GtkBitset) mask = gtk_bitset_new_range (0, len);
  for (guint i = 0; i < len; i++)
    {
      g_autoptr (PsRunItem) item = g_list_model_get_item (G_LIST_MODEL (self->sorted), i);
      for (guint k = 0; k < n; k++)
        if (ps_run_item_get_id (item) == ids[k])
          gtk_bitset_add (selected, i);
    }
  /* One change, so listeners see the final selection once. */
  gtk_selection_model_set_selection (GTK_SELECTION_MODEL (self->selection), selected, mask);
}

PsRunItem *
ps_run_list_find (PsRunList *self, gint64 id, guint *position)
{
  g_return_val_if_fail (PS_IS_RUN_LIST (self), NULL);

  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  for (guint i = 0; i < n; i++)
    {
      PsRunItem *item = g_list_model_get_item (G_LIST_MODEL (self->store), i);
      /* The store keeps its own reference, so a borrowed pointer is safe. */
      g_object_unref (item);
      if (ps_run_item_get_id (item) == id)
        {
          if (position)
            *position = i;
          return item;
        }
    }
  return NULL;
}

void
ps_run_list_set_filter_text (PsRunList *self, const char *text)
{
  g_return_if_fail (PS_IS_RUN_LIST (self));

  if (g_strcmp0 (self->filter_text, text) == 0)
    return;
  g_free (self->filter_text);
  self->filter_text = g_strdup (text);
  if (g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (self->filter_entry)), text ? text : "") != 0)
    gtk_editable_set_text (GTK_EDITABLE (self->filter_entry), text ? text : "");
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  update_count (self);
}

GtkWidget *
ps_run_list_get_runs_widget (PsRunList *self)
{
  g_return_val_if_fail (PS_IS_RUN_LIST (self), NULL);
  return GTK_WIDGET (self->column_view);
}

void
ps_run_list_focus_filter (PsRunList *self)
{
  g_return_if_fail (PS_IS_RUN_LIST (self));
  gtk_widget_grab_focus (GTK_WIDGET (self->filter_entry));
}

guint
ps_run_list_get_n_visible (PsRunList *self)
{
  g_return_val_if_fail (PS_IS_RUN_LIST (self), 0);
  return g_list_model_get_n_items (G_LIST_MODEL (self->filtered));
}

void
ps_run_list_set_context_menu (PsRunList *self, GMenuModel *menu)
{
  g_return_if_fail (PS_IS_RUN_LIST (self));
  gtk_popover_menu_set_menu_model (self->context_popover, menu);
}

char *
ps_run_list_get_status_text (PsRunList *self, gint64 id)
{
  g_return_val_if_fail (PS_IS_RUN_LIST (self), NULL);

  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->filtered));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (PsRunItem) item = g_list_model_get_item (G_LIST_MODEL (self->filtered), i);
      if (ps_run_item_get_id (item) == id)
        return ps_run_item_describe_status (item);
    }
  return NULL;
}

gint64
ps_run_list_get_id_at (PsRunList *self, guint position)
{
  g_return_val_if_fail (PS_IS_RUN_LIST (self), 0);

  g_autoptr (PsRunItem) item = g_list_model_get_item (G_LIST_MODEL (self->sorted), position);
  return item ? ps_run_item_get_id (item) : 0;
}

void
ps_run_list_sort_by (PsRunList *self, const char *column, GtkSortType order)
{
  g_return_if_fail (PS_IS_RUN_LIST (self));
  g_return_if_fail (column != NULL);

  struct { const char *name; GtkColumnViewColumn *column; } columns[] = {
    { "name", self->name_column },       { "status", self->status_column },
    { "metric", self->metric_column },   { "method", self->method_column },
    { "dataset", self->dataset_column }, { "created", self->created_column },
  };
  for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
    if (g_str_equal (columns[i].name, column))
      {
        gtk_column_view_sort_by_column (self->column_view, columns[i].column, order);
        return;
      }
  g_critical ("ps_run_list_sort_by: no column named “%s”", column);
}
