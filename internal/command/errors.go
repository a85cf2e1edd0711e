package command

// Error replies shared by several families, worded exactly as Redis words them.
const (
	errSyntax      = "ERR syntax error"
	errWrongType   = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errNotInt      = "ERR value is not an integer or out of range"
	errNotFloat    = "ERR value is not a valid float"
	errOverflow    = "ERR increment or decrement would overflow"
	errIncrFloat   = "ERR increment would produce NaN or Infinity"
	errExpireTime  = "ERR invalid expire time in '%s' command"
	errOutOfRange  = "ERR value is out of range, must be positive"
	errStringLimit = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errNoSuchKey   = "ERR no such key"
	errOffset      = "ERR offset is out of range"
)
