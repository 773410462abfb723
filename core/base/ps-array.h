/* ps-array.h: a named, typed n-d array: the unit of every snapshot,
 * artifact, explanation image and `.npy` export.
 *
 * An array holds its bytes in a GBytes, so handing one from a worker
 * thread to the store or the window is a reference, not a copy.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  PS_DTYPE_F32,
  PS_DTYPE_I32,
  PS_DTYPE_U8,
  PS_DTYPE_F64,
  PS_DTYPE_I64,
} PsDtype;

#define PS_ARRAY_MAX_DIMS 4

typedef struct
{
  int ref_count;
  char *kind;                     /* "embedding", "labels", "prototypes", ... */
  PsDtype dtype;
  guint ndim;
  gsize shape[PS_ARRAY_MAX_DIMS];
  GBytes *data;                   /* product(shape) * dtype size bytes, C order */
} PsArray;

gsize        ps_dtype_size   (PsDtype dtype);
const char  *ps_dtype_name   (PsDtype dtype);      /* "f32", "i32", "u8", "f64", "i64" */
gboolean     ps_dtype_from_name (const char *name, PsDtype *out);

/* Copies `data` (which may be NULL for zeros).  Shape given as ndim sizes. */
PsArray     *ps_array_new      (const char *kind, PsDtype dtype, guint ndim,
                                const gsize *shape, gconstpointer data);
/* Convenience constructors that copy. */
PsArray     *ps_array_new_f32  (const char *kind, const float *data, gsize rows, gsize cols);
PsArray     *ps_array_new_i32  (const char *kind, const gint32 *data, gsize n);
/* Takes a reference to `bytes`; its size must match the shape. */
PsArray     *ps_array_new_take (const char *kind, PsDtype dtype, guint ndim,
                                const gsize *shape, GBytes *bytes);
PsArray     *ps_array_ref      (PsArray *array);
void         ps_array_unref    (PsArray *array);

gsize        ps_array_n_elements (const PsArray *array);
gconstpointer ps_array_data    (const PsArray *array, gsize *n_bytes);
/* "[1797, 2]" */
char        *ps_array_shape_string (const PsArray *array);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsArray, ps_array_unref)

G_END_DECLS
