package command

import "granary/internal/engine"

// Error replies shared by several families, worded exactly as Redis words them.
const (
	errSyntax      = "ERR syntax error"
	errWrongType   = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errNotInt      = "ERR value is not an integer or out of range"
	errNotFloat    = "ERR value is not a valid float"
	errOverflow    = "ERR increment or decrement would overflow"
	errIncrFloat   = "ERR increment would produce NaN or Infinity"
	errOutOfRange  = "ERR value is out of range, must be positive"
	errStringLimit = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errNoSuchKey   = "ERR no such key"
	errOffset      = "ERR offset is out of range"
)

// errOOM is engine.ErrOOM as Redis words it.
const errOOM = "OOM command not allowed when used memory > 'maxmemory'."

// engineError replies with the error an engine returned; tooLarge is the
// family's wording for an item over the engine's size limit.
func engineError(c *Ctx, err error, tooLarge string) {
	switch err {
	case engine.ErrOOM:
		c.W.Error(errOOM)
	case engine.ErrTooLarge:
		c.W.Error(tooLarge)
	default:
		c.W.Error("ERR " + err.Error())
	}
}
