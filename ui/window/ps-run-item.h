/* ps-run-item.h: one run in the sidebar's list model.
 *
 * A small GObject around a PsRunInfo, with notifying properties for what
 * changes while a run trains (status, progress, key metric), so the list
 * rows update in place.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_RUN_ITEM (ps_run_item_get_type ())
G_DECLARE_FINAL_TYPE (PsRunItem, ps_run_item, PS, RUN_ITEM, GObject)

/* Copies `info`. */
PsRunItem   *ps_run_item_new          (const PsRunInfo *info);
/* Replaces the record with a copy of `info` (same id), notifying what changed. */
void         ps_run_item_update       (PsRunItem *self, const PsRunInfo *info);
const PsRunInfo *ps_run_item_get_info (PsRunItem *self);

gint64       ps_run_item_get_id       (PsRunItem *self);
const char  *ps_run_item_get_name     (PsRunItem *self);
const char  *ps_run_item_get_method   (PsRunItem *self);
const char  *ps_run_item_get_dataset  (PsRunItem *self);
const char  *ps_run_item_get_tags     (PsRunItem *self);
PsRunStatus  ps_run_item_get_status   (PsRunItem *self);
void         ps_run_item_set_status   (PsRunItem *self, PsRunStatus status);
double       ps_run_item_get_progress (PsRunItem *self);
void         ps_run_item_set_progress (PsRunItem *self, double progress);
/* The method's key metric (NaN when unknown). */
double       ps_run_item_get_key_metric (PsRunItem *self);
void         ps_run_item_set_key_metric (PsRunItem *self, double value);
/* The name of the key metric ("test_acc"), or NULL. */
const char  *ps_run_item_get_key_metric_name (PsRunItem *self);

/* Whether the item matches a filter text: every word must occur (case
 * insensitive) in the name, method, dataset or tags. */
gboolean     ps_run_item_matches      (PsRunItem *self, const char *filter);

/* "Finished", "Running 42%", ... */
char        *ps_run_item_describe_status (PsRunItem *self);
/* A symbolic icon name for the status. */
const char  *ps_run_status_icon_name  (PsRunStatus status);

G_END_DECLS
