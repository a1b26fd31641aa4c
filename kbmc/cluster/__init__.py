"""`kbmc cluster`: render KubeBlocks Clusters (`manifests`) and apply them across clusters (`apply`)."""
