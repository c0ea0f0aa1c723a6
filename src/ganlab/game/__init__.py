"""The game's math on tensors, importing only torch: the objectives D and G descend, D*, the
divergences and V(D, G) at D's optimum (Goodfellow et al. 2014, eq. 1, Prop. 1, Thm. 1)."""
