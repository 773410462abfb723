/* ps-cluster-view.c: category discovery: clusters with covariance ellipses, estimated K and split/merge events. */
#include "ps-cluster-view.h"

#include "ps-base.h"

struct _PsClusterView
{
  GtkWidget parent_instance;

  GtkWidget *scroller;
  GtkLabel *summary_label;
};

G_DEFINE_FINAL_TYPE (PsClusterView, ps_cluster_view, GTK_TYPE_WIDGET)

gboolean
ps_cluster_view_set_snapshot (PsClusterView *self, PsStore *store, gint64 run, GPtrArray *arrays)
{
  g_return_val_if_fail (PS_IS_CLUSTER_VIEW (self), FALSE);
  (void) store;
  (void) run;
  (void) arrays;
  gtk_label_set_label (self->summary_label, "");
  return FALSE;
}

gboolean
ps_cluster_view_export (PsClusterView *self, const char *path, double scale, GError **error)
{
  g_return_val_if_fail (PS_IS_CLUSTER_VIEW (self), FALSE);
  (void) scale;
  g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: this view has nothing to export", path);
  return FALSE;
}

static void
ps_cluster_view_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), PS_TYPE_CLUSTER_VIEW);
  G_OBJECT_CLASS (ps_cluster_view_parent_class)->dispose (object);
}

static void
ps_cluster_view_class_init (PsClusterViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_cluster_view_dispose;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-cluster-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, scroller);
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, summary_label);
  gtk_widget_class_set_css_name (widget_class, "clusterview");
}

static void
ps_cluster_view_init (PsClusterView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
ps_cluster_view_new (void)
{
  return g_object_new (PS_TYPE_CLUSTER_VIEW, NULL);
}
