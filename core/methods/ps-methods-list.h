/* ps-methods-list.h: the registered methods, in display order.  Included
 * once, by ps-method.c.  Add a method here and in meson.build. */
#pragma once

extern const PsMethod ps_method_mlp;
extern const PsMethod ps_method_protonet;
extern const PsMethod ps_method_palm;
extern const PsMethod ps_method_ddpm;
extern const PsMethod ps_method_consistency;
extern const PsMethod ps_method_distill;
extern const PsMethod ps_method_protopnet;
extern const PsMethod ps_method_stprotopnet;
extern const PsMethod ps_method_probpsenn;
extern const PsMethod ps_method_teen;
extern const PsMethod ps_method_fewshot;
extern const PsMethod ps_method_fedrecon;
extern const PsMethod ps_method_cbc;
extern const PsMethod ps_method_gpc;
extern const PsMethod ps_method_gcd;

/* Grouped by family (the CLI and the new-run dialog show one heading per
 * run of equal families), then roughly from basic to advanced. */
static const PsMethod * const ps_method_list[] = {
  &ps_method_mlp,
  &ps_method_protonet,
  &ps_method_palm,
  &ps_method_gpc,
  &ps_method_gcd,
  &ps_method_cbc,
  &ps_method_fewshot,
  &ps_method_teen,
  &ps_method_fedrecon,
  &ps_method_protopnet,
  &ps_method_stprotopnet,
  &ps_method_probpsenn,
  &ps_method_ddpm,
  &ps_method_consistency,
  &ps_method_distill,
  NULL,
};
