/* ps-array.c: named, typed n-d arrays over GBytes. */
#define G_LOG_DOMAIN "ps-array"

#include "ps-array.h"

#include <string.h>

static const struct { const char *name; gsize size; } dtype_info[] = {
  [PS_DTYPE_F32] = { "f32", 4 },
  [PS_DTYPE_I32] = { "i32", 4 },
  [PS_DTYPE_U8]  = { "u8", 1 },
  [PS_DTYPE_F64] = { "f64", 8 },
  [PS_DTYPE_I64] = { "i64", 8 },
};

gsize
ps_dtype_size (PsDtype dtype)
{
  g_return_val_if_fail (dtype <= PS_DTYPE_I64, 0);
  return dtype_info[dtype].size;
}

const char *
ps_dtype_name (PsDtype dtype)
{
  g_return_val_if_fail (dtype <= PS_DTYPE_I64, "?");
  return dtype_info[dtype].name;
}

gboolean
ps_dtype_from_name (const char *name, PsDtype *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_info); i++)
    if (g_strcmp0 (dtype_info[i].name, name) == 0)
      {
        *out = (PsDtype) i;
        return TRUE;
      }
  return FALSE;
}

static gsize
count_elements (guint ndim, const gsize *shape)
{
  gsize n = 1;
  for (guint i = 0; i < ndim; i++)
    n *= shape[i];
  return n;
}

PsArray *
ps_array_new_take (const char *kind, PsDtype dtype, guint ndim,
                   const gsize *shape, GBytes *bytes)
{
  g_return_val_if_fail (ndim >= 1 && ndim <= PS_ARRAY_MAX_DIMS, NULL);
  gsize n = count_elements (ndim, shape);
  g_return_val_if_fail (g_bytes_get_size (bytes) == n * ps_dtype_size (dtype), NULL);
  PsArray *a = g_new0 (PsArray, 1);
  a->ref_count = 1;
  a->kind = g_strdup (kind);
  a->dtype = dtype;
  a->ndim = ndim;
  memcpy (a->shape, shape, ndim * sizeof (gsize));
  a->data = g_bytes_ref (bytes);
  return a;
}

PsArray *
ps_array_new (const char *kind, PsDtype dtype, guint ndim,
              const gsize *shape, gconstpointer data)
{
  gsize nbytes = count_elements (ndim, shape) * ps_dtype_size (dtype);
  gpointer copy = data ? g_memdup2 (data, nbytes) : g_malloc0 (MAX (nbytes, 1));
  g_autoptr (GBytes) bytes = g_bytes_new_take (copy, nbytes);
  return ps_array_new_take (kind, dtype, ndim, shape, bytes);
}

PsArray *
ps_array_new_f32 (const char *kind, const float *data, gsize rows, gsize cols)
{
  gsize shape[2] = { rows, cols };
  return ps_array_new (kind, PS_DTYPE_F32, 2, shape, data);
}

PsArray *
ps_array_new_i32 (const char *kind, const gint32 *data, gsize n)
{
  gsize shape[1] = { n };
  return ps_array_new (kind, PS_DTYPE_I32, 1, shape, data);
}

PsArray *
ps_array_ref (PsArray *array)
{
  g_return_val_if_fail (array != NULL, NULL);
  g_atomic_int_inc (&array->ref_count);
  return array;
}

void
ps_array_unref (PsArray *array)
{
  if (array == NULL)
    return;
  if (g_atomic_int_dec_and_test (&array->ref_count))
    {
      g_free (array->kind);
      g_bytes_unref (array->data);
      g_free (array);
    }
}

gsize
ps_array_n_elements (const PsArray *array)
{
  return count_elements (array->ndim, array->shape);
}

gconstpointer
ps_array_data (const PsArray *array, gsize *n_bytes)
{
  return g_bytes_get_data (array->data, n_bytes);
}

char *
ps_array_shape_string (const PsArray *array)
{
  GString *s = g_string_new ("[");
  for (guint i = 0; i < array->ndim; i++)
    g_string_append_printf (s, "%s%" G_GSIZE_FORMAT, i ? ", " : "", array->shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}
