/* ps-gallery-view.c: the prototype gallery and this-looks-like-that explanations of part-prototype runs. */
#include "ps-gallery-view.h"

#include "ps-base.h"

struct _PsGalleryView
{
  GtkWidget parent_instance;

  GtkWidget *scroller;
  GtkLabel *summary_label;
};

G_DEFINE_FINAL_TYPE (PsGalleryView, ps_gallery_view, GTK_TYPE_WIDGET)

gboolean
ps_gallery_view_set_snapshot (PsGalleryView *self, PsStore *store, gint64 run, GPtrArray *arrays)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), FALSE);
  (void) store;
  (void) run;
  (void) arrays;
  gtk_label_set_label (self->summary_label, "");
  return FALSE;
}

gboolean
ps_gallery_view_export (PsGalleryView *self, const char *path, double scale, GError **error)
{
  g_return_val_if_fail (PS_IS_GALLERY_VIEW (self), FALSE);
  (void) scale;
  g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: this view has nothing to export", path);
  return FALSE;
}

static void
ps_gallery_view_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), PS_TYPE_GALLERY_VIEW);
  G_OBJECT_CLASS (ps_gallery_view_parent_class)->dispose (object);
}

static void
ps_gallery_view_class_init (PsGalleryViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_gallery_view_dispose;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-gallery-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, scroller);
  gtk_widget_class_bind_template_child (widget_class, PsGalleryView, summary_label);
  gtk_widget_class_set_css_name (widget_class, "galleryview");
}

static void
ps_gallery_view_init (PsGalleryView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
ps_gallery_view_new (void)
{
  return g_object_new (PS_TYPE_GALLERY_VIEW, NULL);
}
