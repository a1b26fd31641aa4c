"""`kbmc network`: east-west (Cilium ClusterMesh) and north-south (MetalLB, per-pod Services) traffic."""
