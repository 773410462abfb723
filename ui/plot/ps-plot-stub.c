/* placeholder until ui/plot lands */
int ps_plot_stub_unused;
