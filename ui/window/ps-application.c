/* ps-application.c: the Protoscope GtkApplication. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-application.h"

#include <string.h>

#include <epoxy/gl.h>

#include "ps-store.h"
#include "ps-window.h"
#include "ps-window-config.h"

struct _PsApplication
{
  GtkApplication parent_instance;

  /* Owned. */
  GSettings *settings;
  char *db_path;
  gboolean demo;
  gboolean exit_after_startup;
};

G_DEFINE_FINAL_TYPE (PsApplication, ps_application, GTK_TYPE_APPLICATION)

/* ---- Style ---------------------------------------------------------- */

static GtkCssProvider *dark_provider = NULL;

static void
update_dark_provider (GtkSettings *settings, GParamSpec *pspec, GdkDisplay *display)
{
  if (ps_style_is_dark ())
    gtk_style_context_add_provider_for_display (display, GTK_STYLE_PROVIDER (dark_provider),
                                                GTK_STYLE_PROVIDER_PRIORITY_APPLICATION + 1);
  else
    gtk_style_context_remove_provider_for_display (display, GTK_STYLE_PROVIDER (dark_provider));
}

void
ps_style_init (GdkDisplay *display)
{
  g_return_if_fail (GDK_IS_DISPLAY (display));

  if (g_object_get_data (G_OBJECT (display), "ps-style") != NULL)
    return;
  g_object_set_data (G_OBJECT (display), "ps-style", GINT_TO_POINTER (1));

  g_autoptr (GtkCssProvider) provider = gtk_css_provider_new ();
  gtk_css_provider_load_from_resource (provider, PS_RESOURCE_PREFIX "/style.css");
  gtk_style_context_add_provider_for_display (display, GTK_STYLE_PROVIDER (provider),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  if (dark_provider == NULL)
    {
      dark_provider = gtk_css_provider_new ();
      gtk_css_provider_load_from_resource (dark_provider, PS_RESOURCE_PREFIX "/style-dark.css");
    }

  GtkIconTheme *icons = gtk_icon_theme_get_for_display (display);
  gtk_icon_theme_add_resource_path (icons, PS_RESOURCE_PREFIX "/icons");

  GtkSettings *settings = gtk_settings_get_for_display (display);
  g_signal_connect_object (settings, "notify::gtk-application-prefer-dark-theme",
                           G_CALLBACK (update_dark_provider), display, 0);
  update_dark_provider (settings, NULL, display);
}

gboolean
ps_style_is_dark (void)
{
  GtkSettings *settings = gtk_settings_get_default ();
  gboolean dark = FALSE;
  g_autofree char *theme = NULL;

  if (settings == NULL)
    return FALSE;
  g_object_get (settings, "gtk-application-prefer-dark-theme", &dark,
                "gtk-theme-name", &theme, NULL);
  /* GTK_THEME=Adwaita:dark selects the dark variant without the setting. */
  const char *env = g_getenv ("GTK_THEME");
  return dark || (theme && g_str_has_suffix (theme, "-dark"))
         || (env && g_str_has_suffix (env, ":dark"));
}

/* ---- Settings ------------------------------------------------------- */

GSettingsSchema *
ps_settings_schema_lookup (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  GSettingsSchema *schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, PS_APPLICATION_ID, TRUE);
  if (schema != NULL)
    return schema;

  /* Run from the build tree: the schema is compiled next to the library. */
  g_autofree char *compiled = g_build_filename (PS_BUILD_SCHEMA_DIR, "gschemas.compiled", NULL);
  if (!g_file_test (compiled, G_FILE_TEST_EXISTS))
    return NULL;
  g_autoptr (GError) error = NULL;
  GSettingsSchemaSource *local =
      g_settings_schema_source_new_from_directory (PS_BUILD_SCHEMA_DIR, source, FALSE, &error);
  if (local == NULL)
    {
      g_debug ("no settings schema in %s: %s", PS_BUILD_SCHEMA_DIR, error->message);
      return NULL;
    }
  schema = g_settings_schema_source_lookup (local, PS_APPLICATION_ID, FALSE);
  g_settings_schema_source_unref (local);
  return schema;
}

GSettings *
ps_application_get_settings (PsApplication *self)
{
  g_return_val_if_fail (PS_IS_APPLICATION (self), NULL);
  return self->settings;
}

static void
apply_theme (PsApplication *self)
{
  GtkSettings *gtk_settings = gtk_settings_get_default ();

  if (self->settings == NULL || gtk_settings == NULL)
    return;
  int theme = g_settings_get_enum (self->settings, "theme");
  /* "system" leaves whatever the desktop chose. */
  if (theme == 1 || theme == 2)
    g_object_set (gtk_settings, "gtk-application-prefer-dark-theme", theme == 2, NULL);
}

/* ---- Actions -------------------------------------------------------- */

static void
quit_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkApplication *app = user_data;

  /* Close windows one by one so each saves its state. */
  for (GList *l = gtk_application_get_windows (app); l; l = gtk_application_get_windows (app))
    gtk_window_destroy (GTK_WINDOW (l->data));
}

static void
about_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkApplication *app = user_data;
  const char *authors[] = { "The Protoscope authors", NULL };

  gtk_show_about_dialog (gtk_application_get_active_window (app),
                         "program-name", "Protoscope",
                         "logo-icon-name", PS_APPLICATION_ID,
                         "version", PS_VERSION,
                         "comments", "A desktop lab for prototype-based learning, explanations and diffusion models.",
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "authors", authors,
                         "website", "https://example.org/protoscope",
                         "modal", TRUE,
                         NULL);
}

static void
dark_style_changed (GSimpleAction *action, GVariant *value, gpointer user_data)
{
  PsApplication *self = user_data;
  gboolean dark = g_variant_get_boolean (value);

  g_simple_action_set_state (action, value);
  g_object_set (gtk_settings_get_default (), "gtk-application-prefer-dark-theme", dark, NULL);
  if (self->settings != NULL)
    g_settings_set_enum (self->settings, "theme", dark ? 2 : 1);
}

static const GActionEntry app_actions[] = {
  { "quit", quit_activated, NULL, NULL, NULL },
  { "about", about_activated, NULL, NULL, NULL },
  { "dark-style", NULL, NULL, "false", dark_style_changed },
};

/* ---- Renderer -------------------------------------------------------- */

/* GTK 4.8 renders with OpenGL wherever OpenGL exists, even when it is a
 * software rasteriser (virtual machines, remote X, Xvfb).  There a frame
 * with one changed label composites the whole window on the CPU (20-25 ms
 * measured under Xvfb), while the cairo renderer repaints only the damaged
 * area.  A person's own GSK_RENDERER always wins. */
void
ps_pick_renderer (GdkDisplay *display)
{
  if (display == NULL || g_getenv ("GSK_RENDERER") != NULL)
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkGLContext) ctx = gdk_display_create_gl_context (display, &error);
  if (ctx == NULL || !gdk_gl_context_realize (ctx, &error))
    return;  /* no OpenGL at all: GTK falls back to cairo by itself */
  gdk_gl_context_make_current (ctx);
  const char *name = (const char *) glGetString (GL_RENDERER);
  gboolean software = name != NULL
                      && (strstr (name, "llvmpipe") != NULL || strstr (name, "softpipe") != NULL
                          || strstr (name, "swrast") != NULL
                          || strstr (name, "Software Rasterizer") != NULL);
  gdk_gl_context_clear_current ();
  if (software)
    {
      g_debug ("OpenGL renderer '%s' is a software rasteriser: drawing with cairo", name);
      g_setenv ("GSK_RENDERER", "cairo", TRUE);
    }
}

/* ---- GApplication --------------------------------------------------- */

static PsWindow *
ensure_window (PsApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window != NULL)
    return PS_WINDOW (window);

  ps_pick_renderer (gdk_display_get_default ());
  PsWindow *win = ps_window_new (GTK_APPLICATION (self), self->settings);
  g_autofree char *path = NULL;
  if (self->db_path != NULL)
    path = g_strdup (self->db_path);
  else if (self->settings != NULL)
    {
      path = g_settings_get_string (self->settings, "last-store");
      if (*path == '\0' || !g_file_test (path, G_FILE_TEST_EXISTS))
        g_clear_pointer (&path, g_free);
    }
  if (path == NULL)
    path = ps_store_default_path ();
  ps_window_open_store (win, path);
  return win;
}

static gboolean
quit_after_startup (gpointer user_data)
{
  g_application_quit (G_APPLICATION (user_data));
  return G_SOURCE_REMOVE;
}

static void
after_present (PsApplication *self, PsWindow *win)
{
  if (self->demo)
    {
      self->demo = FALSE;
      ps_window_start_demo (win);
    }
  else
    ps_window_maybe_start_first_demo (win);
  if (self->exit_after_startup)
    {
      /* Quit after the first frame, so startup really drew something. */
      g_timeout_add (500, quit_after_startup, self);
    }
}

static void
ps_application_activate (GApplication *app)
{
  PsApplication *self = PS_APPLICATION (app);
  PsWindow *win = ensure_window (self);

  gtk_window_present (GTK_WINDOW (win));
  after_present (self, win);
}

static void
ps_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  PsApplication *self = PS_APPLICATION (app);
  PsWindow *win = ensure_window (self);

  gtk_window_present (GTK_WINDOW (win));
  for (int i = 0; i < n_files; i++)
    ps_window_open_file (win, files[i]);
  if (self->exit_after_startup)
    g_timeout_add (500, quit_after_startup, self);
}

static int
ps_application_handle_local_options (GApplication *app, GVariantDict *options)
{
  PsApplication *self = PS_APPLICATION (app);
  const char *db = NULL;

  if (g_variant_dict_lookup (options, "version", "b", NULL))
    {
      g_print ("protoscope %s\n", PS_VERSION);
      return 0;
    }
  if (g_variant_dict_lookup (options, "db", "^&ay", &db))
    {
      g_autoptr (GFile) file = g_file_new_for_commandline_arg (db);
      g_free (self->db_path);
      self->db_path = g_file_get_path (file);
    }
  self->demo = g_variant_dict_contains (options, "demo");
  self->exit_after_startup = g_variant_dict_contains (options, "exit-after-startup");
  return -1;
}

static void
ps_application_startup (GApplication *app)
{
  PsApplication *self = PS_APPLICATION (app);
  static const struct
  {
    const char *action;
    const char *accels[3];
  } accels[] = {
    { "app.quit", { "<Control>q", NULL } },
    { "win.new-run", { "<Control>n", NULL } },
    { "win.open-store", { "<Control>o", NULL } },
    { "win.export", { "<Control>e", NULL } },
    { "win.filter", { "<Control>f", NULL } },
    { "win.undo", { "<Control>z", NULL } },
    { "win.zoom-fit", { "<Control>0", NULL } },
    { "win.refresh", { "F5", "<Control>r", NULL } },
    { "win.fullscreen", { "F11", NULL } },
    { "win.show-overview", { "<Alt>1", NULL } },
    { "win.show-embedding", { "<Alt>2", NULL } },
  };

  G_APPLICATION_CLASS (ps_application_parent_class)->startup (app);

  g_autoptr (GSettingsSchema) schema = ps_settings_schema_lookup ();
  if (schema != NULL)
    self->settings = g_settings_new_full (schema, NULL, NULL);

  g_action_map_add_action_entries (G_ACTION_MAP (app), app_actions, G_N_ELEMENTS (app_actions), self);
  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accels[i].action, accels[i].accels);

  gtk_window_set_default_icon_name (PS_APPLICATION_ID);
  ps_style_init (gdk_display_get_default ());
  apply_theme (self);
  GAction *dark = g_action_map_lookup_action (G_ACTION_MAP (app), "dark-style");
  g_simple_action_set_state (G_SIMPLE_ACTION (dark), g_variant_new_boolean (ps_style_is_dark ()));
}

static void
ps_application_finalize (GObject *object)
{
  PsApplication *self = PS_APPLICATION (object);

  g_clear_object (&self->settings);
  g_clear_pointer (&self->db_path, g_free);
  G_OBJECT_CLASS (ps_application_parent_class)->finalize (object);
}

static void
ps_application_class_init (PsApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = ps_application_finalize;
  app_class->activate = ps_application_activate;
  app_class->open = ps_application_open;
  app_class->startup = ps_application_startup;
  app_class->handle_local_options = ps_application_handle_local_options;
}

static void
ps_application_init (PsApplication *self)
{
  static const GOptionEntry entries[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, NULL, "Open this run store", "FILE" },
    { "demo", 0, 0, G_OPTION_ARG_NONE, NULL, "Start the live demo (an MLP on two moons)", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, "Print the version and exit", NULL },
    { "exit-after-startup", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, NULL,
      "Quit once the window is shown (smoke tests)", NULL },
    { NULL }
  };

  g_application_add_main_option_entries (G_APPLICATION (self), entries);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), "[STORE|DATASET...]");
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            "A desktop lab for prototype-based learning.");
}

PsApplication *
ps_application_new (void)
{
  return g_object_new (PS_TYPE_APPLICATION,
                       "application-id", PS_APPLICATION_ID,
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", PS_RESOURCE_PREFIX,
                       NULL);
}
