package replication

import (
	"granary/internal/engine"
	"granary/internal/namespace"
)

type namespaceT = namespace.Namespace

// inner returns the engine under a replication wrapper.
func inner(e engine.Engine) engine.Engine {
	if w, ok := e.(*Engine); ok {
		return w.Engine
	}
	return e
}
