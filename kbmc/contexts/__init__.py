"""`kbmc contexts`: the operator's data-plane contexts, listed, disabled, enabled."""
