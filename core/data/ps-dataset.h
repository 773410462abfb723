/* ps-dataset.h: datasets, their loaders, generators and splits.
 *
 * A dataset is N x D float32 features with integer labels (-1 means
 * unlabelled), an optional image shape, class names, where it came from,
 * and a split mark per sample.  Loaders never return a partial dataset: on
 * any problem they return NULL and a GError (domain PS_ERROR) whose message
 * names the file and the problem.
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"

G_BEGIN_DECLS

typedef enum
{
  PS_SPLIT_TRAIN = 0,
  PS_SPLIT_VAL   = 1,
  PS_SPLIT_TEST  = 2,
} PsSplit;

typedef struct
{
  int ref_count;
  char *name;          /* "digits", "fashion-mnist", "moons", or the file's basename */
  char *source;        /* a path or a generator description with its parameters */
  guint n, d;
  float *x;            /* [n, d] row-major */
  gint32 *y;           /* [n], -1 = unlabelled */
  guint8 *split;       /* [n], PsSplit; all TRAIN until a split is assigned */
  guint n_classes;     /* 1 + max label (0 if no labels) */
  char **class_names;  /* [n_classes] NULL-terminated, or NULL */
  guint img_c, img_h, img_w;  /* image shape when the rows are images, else 0 */
  gboolean has_split;  /* TRUE when the source defines train/test (Fashion-MNIST) */
} PsDataset;

PsDataset *ps_dataset_new    (const char *name, guint n, guint d);   /* zeroed, labels -1 */
PsDataset *ps_dataset_ref    (PsDataset *ds);
void       ps_dataset_unref  (PsDataset *ds);
/* Recomputes n_classes from the labels and checks them (>= -1). */
gboolean   ps_dataset_validate (PsDataset *ds, const char *what, GError **error);

/* Rows `idx[0..n)` as a new dataset (features, labels, split marks, names). */
PsDataset *ps_dataset_subset (PsDataset *ds, const guint *idx, guint n);
/* Every sample whose split mark equals `split`. */
PsDataset *ps_dataset_split_view (PsDataset *ds, PsSplit split);
guint      ps_dataset_count_split (PsDataset *ds, PsSplit split);

/* Stratified, seeded assignment of split marks (fractions of each class). */
void       ps_dataset_assign_split (PsDataset *ds, double val_frac, double test_frac, guint64 seed);
/* Keep only samples whose label is in classes[0..n) (class hold-out). */
PsDataset *ps_dataset_keep_classes (PsDataset *ds, const gint32 *classes, guint n, gboolean relabel);
/* Set labels to -1 for all but `frac` of each class in `split` (seeded, stratified). */
void       ps_dataset_mask_labels (PsDataset *ds, double frac, guint64 seed);
/* Standardise each feature with the mean and std of the TRAIN rows; writes
 * mean/std (length d) when non-NULL. */
void       ps_dataset_standardize (PsDataset *ds, float *mean, float *std);

/* ---- Loaders and generators ------------------------------------- */

/* The built-in names: "digits", "fashion-mnist", and the 2-D generators
 * "blobs", "moons", "circles", "spirals", "ring" (8 Gaussians), "grid"
 * (5x5 Gaussians), "checkerboard", "swissroll", "pinwheel".  `n`, `noise`
 * and `seed` apply to generators (n = 0 means the generator's default). */
PsDataset *ps_dataset_load_builtin (const char *name, guint n, double noise, guint64 seed, GError **error);
/* Names and one-line descriptions, NULL-terminated; static. */
const char * const *ps_dataset_builtin_names (void);
const char *ps_dataset_builtin_description (const char *name);
/* The class names of a built-in image dataset whose labels are not plain
 * numbers ("fashion-mnist"), without loading it; NULL-terminated, static;
 * NULL for any other name. */
const char * const *ps_dataset_builtin_class_names (const char *name);

/* A far out-of-distribution set for an image dataset with its own split:
 * `kind` "digits" appends the bundled 8x8 digits, scaled up bilinearly to
 * the image size, to the test split as one extra class (n_classes).  The
 * spec option far=digits ("fashion-mnist:far=digits") opens it.  Returns a
 * new dataset, or NULL with PS_ERROR_PARAM for other data or kinds. */
PsDataset *ps_dataset_with_far_set (PsDataset *ds, const char *kind, GError **error);
/* Bilinear resampling of img[h, w] to out[H, W], pixel centres aligned. */
void       ps_image_resize_bilinear (float *out, const float *img, int h, int w, int H, int W);

/* By name or path: a built-in name, a directory of IDX files, a `.npy`
 * (with optional labels `.npy`), or a `.csv` with a label column. */
PsDataset *ps_dataset_open (const char *name_or_path, const char *labels_path,
                            const char *label_column, GError **error);

/* A dataset by its spec string, as stored with runs: NAME, NAME:n=..,noise=..,seed=..
 * (2-D generators), PATH, PATH#labels=FILE or PATH#label_column=NAME
 * (explicit labels_path/label_column win over the suffix).  With
 * assign_split, a source without its own train/test split gets the standard
 * one: stratified 70/10/20 train/val/test with split seed 0, so every run on
 * the same data shares one test set whatever its seed. */
PsDataset *ps_dataset_open_spec (const char *spec, const char *labels_path,
                                 const char *label_column, gboolean assign_split,
                                 GError **error);
/* The spec string for a name or path with an optional labels file or label
 * column; free with g_free. */
char      *ps_dataset_spec_string (const char *name_or_path, const char *labels_path,
                                   const char *label_column);

PsDataset *ps_dataset_generate_2d (const char *kind, guint n, double noise, guint64 seed, GError **error);
PsDataset *ps_dataset_load_digits (const char *data_dir, GError **error);
/* A folder with train-images-idx3-ubyte[.gz] and friends (t10k-* as test). */
PsDataset *ps_dataset_load_idx_dir (const char *dir, GError **error);
PsDataset *ps_dataset_load_npy   (const char *features_path, const char *labels_path, GError **error);
PsDataset *ps_dataset_load_csv   (const char *path, const char *label_column, GError **error);

/* Where bundled data live: $PROTOSCOPE_DATA_DIR, else the source tree's
 * data/ (compiled in), else the installed data dir. */
const char *ps_data_dir (void);
/* Fashion-MNIST's folder: $PROTOSCOPE_FASHION_MNIST or /usr/share/datasets/fashion-mnist. */
const char *ps_fashion_mnist_dir (void);

/* ---- Helpers shared by the loaders (added by the data layer) ------- */

/* Reads a whole file into memory, gunzipping it when it starts with the
 * gzip magic.  On failure returns NULL with PS_ERROR_IO (missing,
 * unreadable) or PS_ERROR_FORMAT (corrupt or truncated gzip), the message
 * naming the path.  Free the result with g_free. */
guint8 *ps_data_read_file (const char *path, gsize *len, GError **error);

/* Replaces the class names with a copy of names[0..n) (NULL names = "0".."n-1"). */
void ps_dataset_set_class_names (PsDataset *ds, const char * const *names, guint n);

/* Notes on ownership: ds->x is allocated with ps_alloc0 and freed with
 * ps_free; y, split, class_names, name and source with GLib's allocator.
 * Code that swaps in a new x must allocate it with ps_alloc0.
 *
 * ps_dataset_generate_2d and ps_dataset_load_builtin: a negative `noise`
 * means the generator's default noise.  ps_dataset_mask_labels masks only
 * TRAIN rows, so evaluation labels survive.
 *
 * ps_dataset_load_idx_dir names the classes as Fashion-MNIST's when the
 * folder is ps_fashion_mnist_dir () or its name contains "fashion" (and
 * then refuses labels above 9); otherwise "0".."9" (or numbers).  The
 * t10k pair is optional; without it has_split stays FALSE.
 *
 * ps_dataset_load_csv: label_column NULL means "label".  Quoted fields may
 * not contain commas.  An empty label cell is -1 (unlabelled). */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsDataset, ps_dataset_unref)

G_END_DECLS
