//go:build amd64 || arm64

package mem

import "unsafe"

// prefetch asks the CPU to start loading the cache line at addr, without
// waiting for it (PREFETCHT0, PRFM). Go has no intrinsic for it.
//
//go:noescape
func prefetch(addr unsafe.Pointer)
