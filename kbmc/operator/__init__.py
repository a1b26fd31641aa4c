"""`kbmc operator`: KubeBlocks in the control plane, in multi-cluster mode."""
