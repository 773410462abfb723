/* ps-methods-list.h: the registered methods, in display order.  Included
 * once, by ps-method.c.  Add a method here and in meson.build. */
#pragma once

extern const PsMethod ps_method_mlp;
extern const PsMethod ps_method_protonet;
extern const PsMethod ps_method_palm;
extern const PsMethod ps_method_ddpm;
extern const PsMethod ps_method_protopnet;
extern const PsMethod ps_method_stprotopnet;

static const PsMethod * const ps_method_list[] = {
  &ps_method_mlp,
  &ps_method_protonet,
  &ps_method_palm,
  &ps_method_ddpm,
  &ps_method_protopnet,
  &ps_method_stprotopnet,
  NULL,
};
