//go:build tools

// Package tools pins the real KubeBlocks manager the test bed builds (KubeBlocks is AGPL-3.0: the
// bed builds it from its Go module into its cache; nothing of it is committed here).
package tools

import (
	_ "github.com/apecloud/kubeblocks/cmd/manager"
)
