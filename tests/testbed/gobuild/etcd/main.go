// Command etcd is the etcd server, built from the same etcd module version
// that the pinned k8s.io/kubernetes release depends on.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
