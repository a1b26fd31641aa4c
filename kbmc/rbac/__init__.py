"""`kbmc rbac`: the operator's pod RBAC, copied from the control plane to every data plane."""
