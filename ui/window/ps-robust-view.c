/* ps-robust-view.c: certified robustness: radius as colour and accuracy against radius. */
#include "ps-robust-view.h"

#include "ps-base.h"

struct _PsRobustView
{
  GtkWidget parent_instance;

  GtkWidget *scroller;
  GtkLabel *summary_label;
};

G_DEFINE_FINAL_TYPE (PsRobustView, ps_robust_view, GTK_TYPE_WIDGET)

gboolean
ps_robust_view_set_snapshot (PsRobustView *self, PsStore *store, gint64 run, GPtrArray *arrays)
{
  g_return_val_if_fail (PS_IS_ROBUST_VIEW (self), FALSE);
  (void) store;
  (void) run;
  (void) arrays;
  gtk_label_set_label (self->summary_label, "");
  return FALSE;
}

gboolean
ps_robust_view_export (PsRobustView *self, const char *path, double scale, GError **error)
{
  g_return_val_if_fail (PS_IS_ROBUST_VIEW (self), FALSE);
  (void) scale;
  g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: this view has nothing to export", path);
  return FALSE;
}

static void
ps_robust_view_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), PS_TYPE_ROBUST_VIEW);
  G_OBJECT_CLASS (ps_robust_view_parent_class)->dispose (object);
}

static void
ps_robust_view_class_init (PsRobustViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_robust_view_dispose;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-robust-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsRobustView, scroller);
  gtk_widget_class_bind_template_child (widget_class, PsRobustView, summary_label);
  gtk_widget_class_set_css_name (widget_class, "robustview");
}

static void
ps_robust_view_init (PsRobustView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
ps_robust_view_new (void)
{
  return g_object_new (PS_TYPE_ROBUST_VIEW, NULL);
}
