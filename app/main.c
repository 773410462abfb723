/* main.c: the protoscope GUI entry point. */
#include <glib/gi18n.h>

#include "ps-application.h"

int
main (int argc, char **argv)
{
  g_autoptr (PsApplication) app = ps_application_new ();

  g_set_application_name ("Protoscope");
  return g_application_run (G_APPLICATION (app), argc, argv);
}
