//go:build tools

// Package tools pins the real helm the test bed builds, in a module of its own so that
// its dependencies cannot shift those of the Kubernetes binaries next door.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
