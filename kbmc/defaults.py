"""Defaults shared by the topology file and the commands (kept import-free: start-up matters)."""

NAMESPACE = "kb-system"
RELEASE = "kubeblocks"
KUBEBLOCKS_VERSION = "0.9.0"
KUBECONFIG_SECRET = "kb-multi-cluster-kubeconfig"
TOPOLOGY_FILE = "kbmc.yaml"
# An image with kubectl as its entrypoint, for the in-cluster reachability Job.
CHECK_IMAGE = "registry.k8s.io/kubectl:v1.34.4"
