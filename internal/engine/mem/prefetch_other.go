//go:build !amd64 && !arm64

package mem

import "unsafe"

func prefetch(unsafe.Pointer) {}
