/* ps-new-run-dialog.c: the dialog that starts runs. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-new-run-dialog.h"

#include <math.h>
#include <string.h>

typedef struct
{
  const PsParamSpec *spec;
  GtkWidget *widget;
  GtkWidget *error;
} Field;

struct _PsNewRunDialog
{
  GtkWindow parent_instance;

  /* Template. */
  GtkWidget *start_button;
  GtkListBox *method_list;
  GtkLabel *method_title;
  GtkLabel *method_paper;
  GtkLabel *method_summary;
  GtkDropDown *dataset_dropdown;
  GtkLabel *dataset_description;
  GtkWidget *generator_box;
  GtkSpinButton *n_spin;
  GtkSpinButton *noise_spin;
  GtkWidget *file_box;
  GtkLabel *file_label;
  GtkEntry *labels_entry;
  GtkLabel *dataset_error;
  GtkGrid *params_grid;
  GtkEntry *name_entry;
  GtkSpinButton *seed_spin;
  GtkSpinButton *n_seeds_spin;
  GtkLabel *error_label;

  /* Owned. */
  const PsMethod *method;
  GArray *fields;          /* Field */
  GtkStringList *datasets; /* built-in names, then the chosen file if any */
  char *file_path;
};

enum
{
  SIGNAL_START,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (PsNewRunDialog, ps_new_run_dialog, GTK_TYPE_WINDOW)

/* ---- Requests ----------------------------------------------------------- */

void
ps_run_request_free (PsRunRequest *request)
{
  if (request == NULL)
    return;
  g_clear_pointer (&request->params, ps_params_free);
  g_clear_pointer (&request->dataset, ps_dataset_unref);
  g_free (request->dataset_name);
  g_free (request->name);
  g_free (request);
}

static gboolean
is_generator (const char *name)
{
  return g_strcmp0 (name, "digits") != 0 && g_strcmp0 (name, "fashion-mnist") != 0;
}

PsDataset *
ps_run_request_load_dataset (const char *name_or_path, guint n, double noise,
                             const char *labels_path, const char *label_column,
                             char **display_name, GError **error)
{
  PsDataset *ds = NULL;

  g_return_val_if_fail (name_or_path != NULL, NULL);

  if (ps_dataset_builtin_description (name_or_path) != NULL)
    {
      ds = ps_dataset_load_builtin (name_or_path, n, noise, 0, error);
      if (ds && display_name)
        {
          g_autoptr (GString) s = g_string_new (name_or_path);
          if (is_generator (name_or_path) && (n > 0 || noise >= 0))
            {
              char buf[G_ASCII_DTOSTR_BUF_SIZE];
              g_string_append_c (s, ':');
              if (n > 0)
                g_string_append_printf (s, "n=%u", n);
              if (noise >= 0)
                g_string_append_printf (s, "%snoise=%s", n > 0 ? "," : "",
                                        g_ascii_formatd (buf, sizeof buf, "%g", noise));
            }
          *display_name = g_string_free (g_steal_pointer (&s), FALSE);
        }
    }
  else
    {
      ds = ps_dataset_open (name_or_path, labels_path, label_column, error);
      if (ds && display_name)
        *display_name = g_strdup (name_or_path);
    }
  if (ds != NULL && !ds->has_split)
    ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  return ds;
}

/* ---- Parameter form ----------------------------------------------------- */

static double
log_min (const PsParamSpec *spec)
{
  return spec->min > 0 ? spec->min : MAX (spec->max, 1.0) * 1e-8;
}

static gboolean
log_spin_output_cb (GtkSpinButton *spin, gpointer user_data)
{
  char buf[64];

  g_snprintf (buf, sizeof buf, "%.3g", pow (10, gtk_adjustment_get_value (gtk_spin_button_get_adjustment (spin))));
  if (g_strcmp0 (buf, gtk_editable_get_text (GTK_EDITABLE (spin))) != 0)
    gtk_editable_set_text (GTK_EDITABLE (spin), buf);
  return TRUE;
}

static int
log_spin_input_cb (GtkSpinButton *spin, double *new_value, gpointer user_data)
{
  char *end = NULL;
  double v = g_ascii_strtod (gtk_editable_get_text (GTK_EDITABLE (spin)), &end);

  if (end == NULL || *end != '\0' || !(v > 0))
    return GTK_INPUT_ERROR;
  *new_value = log10 (v);
  return TRUE;
}

static GtkWidget *
make_field_widget (const PsParamSpec *spec)
{
  GtkWidget *w = NULL;

  switch (spec->type)
    {
    case PS_PARAM_INT:
      w = gtk_spin_button_new_with_range (spec->min, spec->max, 1);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (w), spec->def);
      break;
    case PS_PARAM_FLOAT:
      if (spec->log_scale)
        {
          /* The adjustment holds log10 of the value: one step is a factor
           * of 10^0.1, a page a factor of 10. */
          GtkAdjustment *adj = gtk_adjustment_new (log10 (MAX (spec->def, log_min (spec))),
                                                   log10 (log_min (spec)), log10 (spec->max),
                                                   0.1, 1, 0);
          w = gtk_spin_button_new (adj, 0.1, 3);
          g_signal_connect (w, "output", G_CALLBACK (log_spin_output_cb), NULL);
          g_signal_connect (w, "input", G_CALLBACK (log_spin_input_cb), NULL);
        }
      else
        {
          double range = spec->max - spec->min;
          double step = range > 100 ? 1 : range > 10 ? 0.1 : range > 1 ? 0.01 : 0.001;
          w = gtk_spin_button_new_with_range (spec->min, spec->max, step);
          gtk_spin_button_set_digits (GTK_SPIN_BUTTON (w), step >= 1 ? 0 : step >= 0.1 ? 2 : 3);
          gtk_spin_button_set_value (GTK_SPIN_BUTTON (w), spec->def);
        }
      break;
    case PS_PARAM_BOOL:
      w = gtk_switch_new ();
      gtk_switch_set_active (GTK_SWITCH (w), spec->def != 0);
      gtk_widget_set_halign (w, GTK_ALIGN_START);
      break;
    case PS_PARAM_CHOICE:
      {
        g_auto (GStrv) choices = g_strsplit (spec->choices ? spec->choices : "", "|", -1);
        w = gtk_drop_down_new_from_strings ((const char *const *) choices);
        gtk_widget_set_halign (w, GTK_ALIGN_START);
      }
      break;
    case PS_PARAM_STRING:
    default:
      w = gtk_entry_new ();
      gtk_editable_set_text (GTK_EDITABLE (w), spec->choices ? spec->choices : "");
      gtk_widget_set_hexpand (w, TRUE);
      break;
    }
  if (GTK_IS_SPIN_BUTTON (w))
    {
      gtk_spin_button_set_numeric (GTK_SPIN_BUTTON (w), !spec->log_scale);
      gtk_widget_set_halign (w, GTK_ALIGN_START);
      gtk_editable_set_width_chars (GTK_EDITABLE (w), 10);
    }
  gtk_widget_set_tooltip_text (w, spec->help);
  return w;
}

/* The field's value as the person would type it. */
static char *
field_value (Field *f)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  switch (f->spec->type)
    {
    case PS_PARAM_INT:
      gtk_spin_button_update (GTK_SPIN_BUTTON (f->widget));
      return g_strdup_printf ("%d", gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (f->widget)));
    case PS_PARAM_FLOAT:
      {
        gtk_spin_button_update (GTK_SPIN_BUTTON (f->widget));
        double v = gtk_spin_button_get_value (GTK_SPIN_BUTTON (f->widget));
        if (f->spec->log_scale)
          {
            /* Round to the three digits shown, so 10^-3 is 0.001. */
            g_snprintf (buf, sizeof buf, "%.3g", pow (10, v));
            return g_strdup (buf);
          }
        return g_strdup (g_ascii_dtostr (buf, sizeof buf, v));
      }
    case PS_PARAM_BOOL:
      return g_strdup (gtk_switch_get_active (GTK_SWITCH (f->widget)) ? "true" : "false");
    case PS_PARAM_CHOICE:
      {
        GtkStringObject *item = gtk_drop_down_get_selected_item (GTK_DROP_DOWN (f->widget));
        return g_strdup (item ? gtk_string_object_get_string (item) : "");
      }
    case PS_PARAM_STRING:
    default:
      return g_strdup (gtk_editable_get_text (GTK_EDITABLE (f->widget)));
    }
}

static void
build_form (PsNewRunDialog *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->params_grid))))
    gtk_grid_remove (self->params_grid, child);
  g_array_set_size (self->fields, 0);
  if (self->method == NULL)
    return;

  for (guint i = 0; i < self->method->n_params; i++)
    {
      const PsParamSpec *spec = &self->method->params[i];
      Field f = { spec, make_field_widget (spec), gtk_label_new (NULL) };
      GtkWidget *label = gtk_label_new (spec->name);

      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_widget_set_tooltip_text (label, spec->help);
      gtk_widget_set_valign (label, GTK_ALIGN_CENTER);
      gtk_label_set_xalign (GTK_LABEL (f.error), 0);
      gtk_label_set_wrap (GTK_LABEL (f.error), TRUE);
      gtk_widget_add_css_class (f.error, "field-error");
      gtk_widget_set_visible (f.error, FALSE);
      gtk_grid_attach (self->params_grid, label, 0, 2 * i, 1, 1);
      gtk_grid_attach (self->params_grid, f.widget, 1, 2 * i, 1, 1);
      gtk_grid_attach (self->params_grid, f.error, 1, 2 * i + 1, 1, 1);
      g_array_append_val (self->fields, f);
    }
  if (self->method->n_params == 0)
    {
      GtkWidget *none = gtk_label_new ("This method has no parameters.");
      gtk_widget_add_css_class (none, "dim-label");
      gtk_grid_attach (self->params_grid, none, 0, 0, 2, 1);
    }
}

/* ---- Methods ------------------------------------------------------------ */

static void
method_header_func (GtkListBoxRow *row, GtkListBoxRow *before, gpointer user_data)
{
  const PsMethod *m = g_object_get_data (G_OBJECT (row), "ps-method");
  const PsMethod *prev = before ? g_object_get_data (G_OBJECT (before), "ps-method") : NULL;

  if (prev != NULL && g_strcmp0 (prev->family, m->family) == 0)
    {
      gtk_list_box_row_set_header (row, NULL);
      return;
    }
  GtkWidget *header = gtk_label_new (m->family);
  gtk_label_set_xalign (GTK_LABEL (header), 0);
  gtk_widget_add_css_class (header, "family-header");
  gtk_list_box_row_set_header (row, header);
}

static void
method_selected_cb (PsNewRunDialog *self, GtkListBoxRow *row)
{
  if (row == NULL)
    return;
  self->method = g_object_get_data (G_OBJECT (row), "ps-method");
  gtk_label_set_label (self->method_title, self->method->title);
  gtk_label_set_label (self->method_paper, self->method->paper ? self->method->paper : "");
  gtk_widget_set_visible (GTK_WIDGET (self->method_paper), self->method->paper != NULL);
  gtk_label_set_label (self->method_summary, self->method->summary ? self->method->summary : "");
  build_form (self);
}

static void
fill_methods (PsNewRunDialog *self)
{
  for (const PsMethod *const *m = ps_methods_all (); *m; m++)
    {
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
      GtkWidget *title = gtk_label_new ((*m)->title);
      GtkWidget *id = gtk_label_new ((*m)->id);
      GtkWidget *row = gtk_list_box_row_new ();

      gtk_label_set_xalign (GTK_LABEL (title), 0);
      gtk_widget_add_css_class (title, "method-title");
      gtk_label_set_xalign (GTK_LABEL (id), 0);
      gtk_widget_add_css_class (id, "dim-label");
      gtk_widget_add_css_class (id, "caption");
      gtk_widget_add_css_class (box, "method-row");
      gtk_box_append (GTK_BOX (box), title);
      gtk_box_append (GTK_BOX (box), id);
      gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
      g_object_set_data (G_OBJECT (row), "ps-method", (gpointer) *m);
      gtk_widget_set_tooltip_text (row, (*m)->summary);
      gtk_list_box_append (self->method_list, row);
    }
  gtk_list_box_set_header_func (self->method_list, method_header_func, NULL, NULL);
  GtkListBoxRow *first = gtk_list_box_get_row_at_index (self->method_list, 0);
  if (first)
    gtk_list_box_select_row (self->method_list, first);
}

gboolean
ps_new_run_dialog_set_method (PsNewRunDialog *self, const char *method_id)
{
  g_return_val_if_fail (PS_IS_NEW_RUN_DIALOG (self), FALSE);

  for (int i = 0;; i++)
    {
      GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->method_list, i);
      if (row == NULL)
        return FALSE;
      const PsMethod *m = g_object_get_data (G_OBJECT (row), "ps-method");
      if (g_strcmp0 (m->id, method_id) == 0)
        {
          gtk_list_box_select_row (self->method_list, row);
          method_selected_cb (self, row);
          return TRUE;
        }
    }
}

const PsMethod *
ps_new_run_dialog_get_method (PsNewRunDialog *self)
{
  g_return_val_if_fail (PS_IS_NEW_RUN_DIALOG (self), NULL);
  return self->method;
}

/* ---- Datasets ----------------------------------------------------------- */

static const char *
selected_dataset (PsNewRunDialog *self)
{
  GtkStringObject *item = gtk_drop_down_get_selected_item (self->dataset_dropdown);
  return item ? gtk_string_object_get_string (item) : NULL;
}

static gboolean
selected_is_file (PsNewRunDialog *self)
{
  return self->file_path != NULL && g_strcmp0 (selected_dataset (self), self->file_path) == 0;
}

static void
dataset_changed_cb (PsNewRunDialog *self)
{
  const char *name = selected_dataset (self);
  gboolean file = selected_is_file (self);
  const char *desc = name && !file ? ps_dataset_builtin_description (name) : NULL;

  gtk_label_set_label (self->dataset_description, file ? "Your own data." : desc ? desc : "");
  gtk_widget_set_visible (self->generator_box, !file && name && is_generator (name));
  gtk_widget_set_visible (self->file_box, file);
  if (file)
    gtk_label_set_label (self->file_label, self->file_path);
  gtk_widget_set_visible (GTK_WIDGET (self->dataset_error), FALSE);
}

gboolean
ps_new_run_dialog_set_dataset (PsNewRunDialog *self, const char *builtin_name)
{
  g_return_val_if_fail (PS_IS_NEW_RUN_DIALOG (self), FALSE);

  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->datasets));
  for (guint i = 0; i < n; i++)
    if (g_strcmp0 (gtk_string_list_get_string (self->datasets, i), builtin_name) == 0)
      {
        gtk_drop_down_set_selected (self->dataset_dropdown, i);
        dataset_changed_cb (self);
        return TRUE;
      }
  return FALSE;
}

void
ps_new_run_dialog_set_dataset_file (PsNewRunDialog *self, const char *path,
                                    const char *labels_path, const char *label_column)
{
  g_return_if_fail (PS_IS_NEW_RUN_DIALOG (self));
  g_return_if_fail (path != NULL);

  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->datasets));
  if (self->file_path != NULL)
    gtk_string_list_remove (self->datasets, n - 1);
  g_free (self->file_path);
  self->file_path = g_strdup (path);
  gtk_string_list_append (self->datasets, path);
  gtk_editable_set_text (GTK_EDITABLE (self->labels_entry),
                         labels_path ? labels_path : label_column ? label_column : "");
  gtk_drop_down_set_selected (self->dataset_dropdown,
                              g_list_model_get_n_items (G_LIST_MODEL (self->datasets)) - 1);
  dataset_changed_cb (self);
}

void
ps_new_run_dialog_set_generator (PsNewRunDialog *self, guint n, double noise)
{
  g_return_if_fail (PS_IS_NEW_RUN_DIALOG (self));

  gtk_spin_button_set_value (self->n_spin, n);
  if (noise >= 0)
    gtk_spin_button_set_value (self->noise_spin, noise);
}

static void
open_file_response_cb (GtkNativeDialog *native, int response, PsNewRunDialog *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (native));
      g_autofree char *path = g_file_get_path (file);
      if (path)
        ps_new_run_dialog_set_dataset_file (self, path, NULL, NULL);
    }
  g_object_unref (native);
}

static void
open_file_clicked_cb (PsNewRunDialog *self)
{
  GtkFileChooserNative *native =
      gtk_file_chooser_native_new ("Open a Dataset", GTK_WINDOW (self),
                                   GTK_FILE_CHOOSER_ACTION_OPEN, "_Open", "_Cancel");
  g_autoptr (GtkFileFilter) filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, "Datasets (*.npy, *.csv)");
  gtk_file_filter_add_pattern (filter, "*.npy");
  gtk_file_filter_add_pattern (filter, "*.csv");
  gtk_file_filter_add_pattern (filter, "*.csv.gz");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (native), filter);
  g_signal_connect (native, "response", G_CALLBACK (open_file_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (native));
}

/* ---- Other fields -------------------------------------------------------- */

gboolean
ps_new_run_dialog_set_param (PsNewRunDialog *self, const char *name, const char *value)
{
  g_return_val_if_fail (PS_IS_NEW_RUN_DIALOG (self), FALSE);

  for (guint i = 0; i < self->fields->len; i++)
    {
      Field *f = &g_array_index (self->fields, Field, i);
      if (strcmp (f->spec->name, name) != 0)
        continue;
      switch (f->spec->type)
        {
        case PS_PARAM_INT:
        case PS_PARAM_FLOAT:
          {
            char *end = NULL;
            double v = g_ascii_strtod (value, &end);
            if (end == value || *end != '\0')
              return FALSE;
            gtk_spin_button_set_value (GTK_SPIN_BUTTON (f->widget),
                                       f->spec->log_scale ? log10 (MAX (v, 1e-300)) : v);
          }
          return TRUE;
        case PS_PARAM_BOOL:
          gtk_switch_set_active (GTK_SWITCH (f->widget),
                                 g_ascii_strcasecmp (value, "true") == 0 || strcmp (value, "1") == 0
                                 || g_ascii_strcasecmp (value, "yes") == 0);
          return TRUE;
        case PS_PARAM_CHOICE:
          {
            GListModel *model = gtk_drop_down_get_model (GTK_DROP_DOWN (f->widget));
            for (guint j = 0; j < g_list_model_get_n_items (model); j++)
              if (g_strcmp0 (gtk_string_list_get_string (GTK_STRING_LIST (model), j), value) == 0)
                {
                  gtk_drop_down_set_selected (GTK_DROP_DOWN (f->widget), j);
                  return TRUE;
                }
          }
          return FALSE;
        case PS_PARAM_STRING:
        default:
          gtk_editable_set_text (GTK_EDITABLE (f->widget), value);
          return TRUE;
        }
    }
  return FALSE;
}

void
ps_new_run_dialog_set_seed (PsNewRunDialog *self, guint64 seed, guint n_seeds)
{
  g_return_if_fail (PS_IS_NEW_RUN_DIALOG (self));

  gtk_spin_button_set_value (self->seed_spin, (double) seed);
  gtk_spin_button_set_value (self->n_seeds_spin, MAX (n_seeds, 1));
}

void
ps_new_run_dialog_set_run_name (PsNewRunDialog *self, const char *name)
{
  g_return_if_fail (PS_IS_NEW_RUN_DIALOG (self));
  gtk_editable_set_text (GTK_EDITABLE (self->name_entry), name ? name : "");
}

GtkWidget *
ps_new_run_dialog_get_start_button (PsNewRunDialog *self)
{
  g_return_val_if_fail (PS_IS_NEW_RUN_DIALOG (self), NULL);
  return self->start_button;
}

void
ps_new_run_dialog_show_error (PsNewRunDialog *self, const char *message)
{
  g_return_if_fail (PS_IS_NEW_RUN_DIALOG (self));

  gtk_label_set_label (self->error_label, message ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

const char *
ps_new_run_dialog_get_error (PsNewRunDialog *self)
{
  g_return_val_if_fail (PS_IS_NEW_RUN_DIALOG (self), NULL);
  return gtk_widget_get_visible (GTK_WIDGET (self->error_label))
             ? gtk_label_get_label (self->error_label) : NULL;
}

/* ---- Start --------------------------------------------------------------- */

PsRunRequest *
ps_new_run_dialog_build_request (PsNewRunDialog *self, GError **error)
{
  g_return_val_if_fail (PS_IS_NEW_RUN_DIALOG (self), NULL);

  g_autoptr (PsRunRequest) req = g_new0 (PsRunRequest, 1);
  gboolean ok = TRUE;

  ps_new_run_dialog_show_error (self, NULL);
  if (self->method == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "Choose a method");
      ps_new_run_dialog_show_error (self, "Choose a method.");
      return NULL;
    }
  req->method = self->method;
  req->params = ps_method_default_params (self->method);

  /* Every field is checked, so all mistakes show at once. */
  for (guint i = 0; i < self->fields->len; i++)
    {
      Field *f = &g_array_index (self->fields, Field, i);
      g_autofree char *value = field_value (f);
      g_autoptr (GError) local = NULL;
      if (!ps_params_set (req->params, f->spec->name, value, &local))
        {
          gtk_label_set_label (GTK_LABEL (f->error), local->message);
          gtk_widget_set_visible (f->error, TRUE);
          gtk_widget_add_css_class (f->widget, "error");
          if (ok)
            g_propagate_error (error, g_steal_pointer (&local));
          ok = FALSE;
        }
      else
        {
          gtk_widget_set_visible (f->error, FALSE);
          gtk_widget_remove_css_class (f->widget, "error");
        }
    }
  if (!ok)
    {
      ps_new_run_dialog_show_error (self, "Some parameters are not valid (see above).");
      return NULL;
    }

  const char *name = selected_dataset (self);
  gboolean file = selected_is_file (self);
  const char *extra = gtk_editable_get_text (GTK_EDITABLE (self->labels_entry));
  const char *labels_path = NULL, *label_column = NULL;
  if (file && extra && *extra)
    {
      if (g_str_has_suffix (name, ".npy"))
        labels_path = extra;
      else
        label_column = extra;
    }
  g_autoptr (GError) local = NULL;
  guint n = file ? 0 : (guint) gtk_spin_button_get_value_as_int (self->n_spin);
  double noise = file || !is_generator (name) ? -1 : gtk_spin_button_get_value (self->noise_spin);
  req->dataset = name ? ps_run_request_load_dataset (name, n, noise, labels_path, label_column,
                                                     &req->dataset_name, &local)
                      : NULL;
  if (req->dataset == NULL)
    {
      const char *msg = local ? local->message : "Choose a dataset";
      gtk_label_set_label (self->dataset_error, msg);
      gtk_widget_set_visible (GTK_WIDGET (self->dataset_error), TRUE);
      ps_new_run_dialog_show_error (self, msg);
      g_set_error_literal (error, PS_ERROR, local ? local->code : PS_ERROR_PARAM, msg);
      return NULL;
    }
  gtk_widget_set_visible (GTK_WIDGET (self->dataset_error), FALSE);

  req->seed = (guint64) gtk_spin_button_get_value (self->seed_spin);
  req->n_seeds = (guint) gtk_spin_button_get_value_as_int (self->n_seeds_spin);
  const char *run_name = gtk_editable_get_text (GTK_EDITABLE (self->name_entry));
  req->name = run_name && *run_name ? g_strstrip (g_strdup (run_name)) : NULL;
  /* Small 2-D sets are cheap to snapshot: show them moving. */
  req->snapshot_every = req->dataset->d == 2 ? 20 : 0;
  req->eval_every = req->dataset->d == 2 ? 20 : 0;
  return g_steal_pointer (&req);
}

static void
start_clicked_cb (PsNewRunDialog *self)
{
  g_autoptr (PsRunRequest) req = ps_new_run_dialog_build_request (self, NULL);
  gboolean started = FALSE;

  if (req == NULL)
    return;
  g_signal_emit (self, signals[SIGNAL_START], 0, req, &started);
  if (started)
    gtk_window_destroy (GTK_WINDOW (self));
}

static void
cancel_clicked_cb (PsNewRunDialog *self)
{
  gtk_window_destroy (GTK_WINDOW (self));
}

/* ---- GObject ------------------------------------------------------------- */

static void
ps_new_run_dialog_finalize (GObject *object)
{
  PsNewRunDialog *self = PS_NEW_RUN_DIALOG (object);

  g_array_unref (self->fields);
  g_clear_object (&self->datasets);
  g_free (self->file_path);
  G_OBJECT_CLASS (ps_new_run_dialog_parent_class)->finalize (object);
}

static void
ps_new_run_dialog_class_init (PsNewRunDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  /* No dispose: GtkWindow unparents its own child and titlebar. */
  object_class->finalize = ps_new_run_dialog_finalize;

  /* "start" (PsRunRequest *request): return TRUE when the run started, so
   * the dialog closes; FALSE keeps it open (show_error tells why). */
  signals[SIGNAL_START] =
      g_signal_new ("start", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                    g_signal_accumulator_true_handled, NULL, NULL,
                    G_TYPE_BOOLEAN, 1, G_TYPE_POINTER);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-new-run-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, start_button);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, method_list);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, method_title);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, method_paper);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, method_summary);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, dataset_dropdown);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, dataset_description);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, generator_box);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, n_spin);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, noise_spin);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, file_box);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, file_label);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, labels_entry);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, dataset_error);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, params_grid);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, name_entry);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, seed_spin);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, n_seeds_spin);
  gtk_widget_class_bind_template_child (widget_class, PsNewRunDialog, error_label);
  gtk_widget_class_bind_template_callback (widget_class, start_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, cancel_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, method_selected_cb);
  gtk_widget_class_bind_template_callback (widget_class, dataset_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, open_file_clicked_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
ps_new_run_dialog_init (PsNewRunDialog *self)
{
  self->fields = g_array_new (FALSE, FALSE, sizeof (Field));
  gtk_widget_init_template (GTK_WIDGET (self));

  self->datasets = gtk_string_list_new ((const char *const *) ps_dataset_builtin_names ());
  gtk_drop_down_set_model (self->dataset_dropdown, G_LIST_MODEL (self->datasets));
  ps_new_run_dialog_set_dataset (self, "moons");
  dataset_changed_cb (self);
  fill_methods (self);
  gtk_window_set_default_widget (GTK_WINDOW (self), self->start_button);
}

PsNewRunDialog *
ps_new_run_dialog_new (GtkWindow *parent)
{
  return g_object_new (PS_TYPE_NEW_RUN_DIALOG, "transient-for", parent, NULL);
}
