"""kbmc: set up and run KubeBlocks across several Kubernetes clusters."""

__version__ = "0.1.0"
