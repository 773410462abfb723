/* ps-application.h: the Protoscope GtkApplication.
 *
 * Single instance (id org.protoscope.Protoscope).  Opens the default run
 * store, the store named by --db, or the files given on the command line
 * (a store, or a .npy/.csv dataset for a new run).  --demo starts the live
 * demo; the hidden --exit-after-startup quits once the first window has
 * been shown, for smoke tests.
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define PS_APPLICATION_ID "org.protoscope.Protoscope"
#define PS_RESOURCE_PREFIX "/org/protoscope/Protoscope"

#define PS_TYPE_APPLICATION (ps_application_get_type ())
G_DECLARE_FINAL_TYPE (PsApplication, ps_application, PS, APPLICATION, GtkApplication)

PsApplication *ps_application_new (void);

/* The application's settings, or NULL when the schema is not installed
 * (and not found in the build tree either): callers then skip settings. */
GSettings     *ps_application_get_settings (PsApplication *self);

/* Loads the CSS from the resources for `display` once (light and dark),
 * and follows GtkSettings:gtk-application-prefer-dark-theme.  Safe to call
 * more than once; used by the application and by tests that build
 * windows without one. */
void           ps_style_init (GdkDisplay *display);
/* Whether the dark variant is active. */
gboolean       ps_style_is_dark (void);
/* The figure theme matching the style. */
#define ps_current_theme() (ps_style_is_dark () ? PS_THEME_DARK : PS_THEME_LIGHT)

/* Unless GSK_RENDERER is set, sets it to "cairo" when the display's only
 * OpenGL is a software rasteriser (llvmpipe, softpipe, swrast): GTK 4.8
 * would composite every frame of the whole window on the CPU there.  Call
 * before the first window is realized (GTK reads the variable once). */
void           ps_pick_renderer (GdkDisplay *display);

/* Looks the GSettings schema up in the installed schemas, then in the
 * build tree; NULL when neither has it.  Returns a new reference. */
GSettingsSchema *ps_settings_schema_lookup (void);

G_END_DECLS
