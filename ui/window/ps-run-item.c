/* ps-run-item.c: one run in the sidebar's list model. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-run-item.h"

#include <math.h>
#include <string.h>

#include "ps-method.h"

struct _PsRunItem
{
  GObject parent_instance;

  PsRunInfo info;   /* owned strings */
  double key_metric;
};

enum
{
  PROP_0,
  PROP_NAME,
  PROP_TAGS,
  PROP_STATUS,
  PROP_PROGRESS,
  PROP_KEY_METRIC,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (PsRunItem, ps_run_item, G_TYPE_OBJECT)

static void
info_clear (PsRunInfo *info)
{
  g_clear_pointer (&info->name, g_free);
  g_clear_pointer (&info->method, g_free);
  g_clear_pointer (&info->dataset, g_free);
  g_clear_pointer (&info->params_json, g_free);
  g_clear_pointer (&info->error, g_free);
  g_clear_pointer (&info->version, g_free);
  g_clear_pointer (&info->tags, g_free);
  g_clear_pointer (&info->note, g_free);
  g_clear_pointer (&info->uuid, g_free);
}

static void
info_copy (PsRunInfo *dst, const PsRunInfo *src)
{
  *dst = *src;
  dst->name = g_strdup (src->name);
  dst->method = g_strdup (src->method);
  dst->dataset = g_strdup (src->dataset);
  dst->params_json = g_strdup (src->params_json);
  dst->error = g_strdup (src->error);
  dst->version = g_strdup (src->version);
  dst->tags = g_strdup (src->tags);
  dst->note = g_strdup (src->note);
  dst->uuid = g_strdup (src->uuid);
}

static void
ps_run_item_finalize (GObject *object)
{
  PsRunItem *self = PS_RUN_ITEM (object);

  info_clear (&self->info);
  G_OBJECT_CLASS (ps_run_item_parent_class)->finalize (object);
}

static void
ps_run_item_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  PsRunItem *self = PS_RUN_ITEM (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->info.name);
      break;
    case PROP_TAGS:
      g_value_set_string (value, self->info.tags);
      break;
    case PROP_STATUS:
      g_value_set_int (value, self->info.status);
      break;
    case PROP_PROGRESS:
      g_value_set_double (value, self->info.progress);
      break;
    case PROP_KEY_METRIC:
      g_value_set_double (value, self->key_metric);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ps_run_item_class_init (PsRunItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = ps_run_item_finalize;
  object_class->get_property = ps_run_item_get_property;

  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TAGS] = g_param_spec_string ("tags", NULL, NULL, NULL,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATUS] = g_param_spec_int ("status", NULL, NULL, 0, G_MAXINT, 0,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_PROGRESS] = g_param_spec_double ("progress", NULL, NULL, 0, 1, 0,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_KEY_METRIC] = g_param_spec_double ("key-metric", NULL, NULL,
                                                     -G_MAXDOUBLE, G_MAXDOUBLE, 0,
                                                     G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ps_run_item_init (PsRunItem *self)
{
  self->key_metric = NAN;
}

PsRunItem *
ps_run_item_new (const PsRunInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);

  PsRunItem *self = g_object_new (PS_TYPE_RUN_ITEM, NULL);
  info_copy (&self->info, info);
  return self;
}

void
ps_run_item_update (PsRunItem *self, const PsRunInfo *info)
{
  g_return_if_fail (PS_IS_RUN_ITEM (self));
  g_return_if_fail (info != NULL && info->id == self->info.id);

  gboolean name_changed = g_strcmp0 (info->name, self->info.name) != 0;
  gboolean tags_changed = g_strcmp0 (info->tags, self->info.tags) != 0;
  gboolean status_changed = info->status != self->info.status;
  gboolean progress_changed = info->progress != self->info.progress;
  PsRunInfo copy;

  info_copy (&copy, info);
  info_clear (&self->info);
  self->info = copy;

  if (name_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NAME]);
  if (tags_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TAGS]);
  if (status_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS]);
  if (progress_changed)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
}

const PsRunInfo *
ps_run_item_get_info (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), NULL);
  return &self->info;
}

gint64
ps_run_item_get_id (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), 0);
  return self->info.id;
}

const char *
ps_run_item_get_name (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), NULL);
  return self->info.name;
}

const char *
ps_run_item_get_method (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), NULL);
  return self->info.method;
}

const char *
ps_run_item_get_dataset (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), NULL);
  return self->info.dataset;
}

const char *
ps_run_item_get_tags (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), NULL);
  return self->info.tags;
}

PsRunStatus
ps_run_item_get_status (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), PS_RUN_QUEUED);
  return self->info.status;
}

void
ps_run_item_set_status (PsRunItem *self, PsRunStatus status)
{
  g_return_if_fail (PS_IS_RUN_ITEM (self));

  if (self->info.status == status)
    return;
  self->info.status = status;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS]);
}

double
ps_run_item_get_progress (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), 0);
  return self->info.progress;
}

void
ps_run_item_set_progress (PsRunItem *self, double progress)
{
  g_return_if_fail (PS_IS_RUN_ITEM (self));

  progress = CLAMP (progress, 0.0, 1.0);
  if (self->info.progress == progress)
    return;
  self->info.progress = progress;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
}

double
ps_run_item_get_key_metric (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), NAN);
  return self->key_metric;
}

void
ps_run_item_set_key_metric (PsRunItem *self, double value)
{
  g_return_if_fail (PS_IS_RUN_ITEM (self));

  /* NaN never equals itself, so compare the "both unknown" case apart. */
  if (self->key_metric == value || (isnan (value) && isnan (self->key_metric)))
    return;
  self->key_metric = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEY_METRIC]);
}

const char *
ps_run_item_get_key_metric_name (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), NULL);

  const PsMethod *method = self->info.method ? ps_method_find (self->info.method) : NULL;
  return method ? method->key_metric : NULL;
}

static gboolean
contains_casefold (const char *haystack, const char *needle)
{
  if (haystack == NULL)
    return FALSE;
  g_autofree char *h = g_utf8_casefold (haystack, -1);
  return strstr (h, needle) != NULL;
}

gboolean
ps_run_item_matches (PsRunItem *self, const char *filter)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), FALSE);

  if (filter == NULL || *filter == '\0')
    return TRUE;

  g_autofree char *folded = g_utf8_casefold (filter, -1);
  g_auto (GStrv) words = g_strsplit_set (folded, " \t", -1);
  for (char **w = words; *w; w++)
    {
      if (**w == '\0')
        continue;
      if (!contains_casefold (self->info.name, *w)
          && !contains_casefold (self->info.method, *w)
          && !contains_casefold (self->info.dataset, *w)
          && !contains_casefold (self->info.tags, *w))
        return FALSE;
    }
  return TRUE;
}

char *
ps_run_item_describe_status (PsRunItem *self)
{
  g_return_val_if_fail (PS_IS_RUN_ITEM (self), NULL);

  switch (self->info.status)
    {
    case PS_RUN_QUEUED:
      return g_strdup ("Queued");
    case PS_RUN_RUNNING:
      return g_strdup_printf ("Running %.0f%%", 100 * self->info.progress);
    case PS_RUN_FINISHED:
      return g_strdup ("Finished");
    case PS_RUN_FAILED:
      return g_strdup ("Failed");
    case PS_RUN_CANCELLED:
      return g_strdup ("Cancelled");
    case PS_RUN_INTERRUPTED:
      return g_strdup ("Interrupted");
    case PS_RUN_PAUSED:
      return g_strdup_printf ("Paused %.0f%%", 100 * self->info.progress);
    default:
      return g_strdup ("Unknown");
    }
}

const char *
ps_run_status_icon_name (PsRunStatus status)
{
  switch (status)
    {
    case PS_RUN_QUEUED:
      return "content-loading-symbolic";
    case PS_RUN_RUNNING:
      return "media-playback-start-symbolic";
    case PS_RUN_FINISHED:
      return "emblem-ok-symbolic";
    case PS_RUN_FAILED:
      return "dialog-error-symbolic";
    case PS_RUN_CANCELLED:
      return "process-stop-symbolic";
    case PS_RUN_INTERRUPTED:
      return "dialog-warning-symbolic";
    case PS_RUN_PAUSED:
      return "media-playback-pause-symbolic";
    default:
      return "dialog-question-symbolic";
    }
}
