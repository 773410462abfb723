/* test-store-support.h: fixtures shared by the run store's tests (see
 * test-store-support.c). */
#pragma once

#include <sys/types.h>

#include <glib/gstdio.h>

#include "ps-store.h"

G_BEGIN_DECLS

typedef struct
{
  char *dir;
  char *path;
} Tmp;

void tmp_init (Tmp *t);

void remove_tree (const char *path);

void tmp_clear (Tmp *t);

PsStore *open_ok (const char *path);

gint64 new_run (PsStore *s, const char *name, const char *method, const char *dataset, guint64 seed);

/* A query on a separate raw connection, returning one integer. */
gint64 query_int (const char *path, const char *sql);

void exec_raw (const char *path, const char *sql);

void add_rows (PsStore *s, gint64 run, const char *name, gint64 from, gint64 n);

typedef struct
{
  char *bytes;
  gsize len;
  GStatBuf st;
} Snapshot;

void snap_take (const char *path, Snapshot *s);

/* A WAL-mode store read by a read-only connection gets empty -wal and
 * -shm files beside it (SQLite needs them to read); the file itself must
 * stay byte for byte and its -wal empty. */
void snap_check_and_clear (const char *path, Snapshot *s);

/* Opens `path`, expects PS_ERROR_STORE naming the file and containing
 * `needle`, and checks the file did not change. */
void expect_refused (const char *path, const char *needle);

void make_store_with_data (const char *path);

typedef struct
{
  const char *path;
  gint64 run;
  const char *name;
  int batches, per_batch;
  gboolean ok;
} Writer;

gpointer writer_thread (gpointer data);

void fill_run (PsStore *s, gint64 id, int k);

/* Forks a process that creates a running run in the store at `path` and
 * adds "loss" rows to it in batches of `batch`, forever, writing one byte
 * to fds[1] after each committed batch.  Returns the child's pid (or -1)
 * in the parent; the child only ends by a signal or, on a store error,
 * with exit status 2 to 4. */
pid_t fork_batch_writer (const char *path, int batch, const int fds[2]);

G_END_DECLS
