"""`kbmc env`: the data planes' kubeconfig Secret (`prepare`) and reachability checks (`check`)."""
