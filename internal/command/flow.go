package command

import "granary/internal/namespace"

// flowLimited reports whether flow control applies to sp: commands that read
// or write data. Connection, server and cluster commands (a throttled client
// must still be able to PING, AUTH, SELECT and refresh its routing table) and
// administrative ones (imports) are never throttled; replication links do not
// go through Dispatch at all.
func flowLimited(sp *Spec) bool {
	return sp.Flags&(FlagRead|FlagWrite) != 0 && sp.Flags&FlagAdmin == 0
}

// throttled checks the command against the namespace's flow limits and
// charges it: one operation, and its arguments' bytes (the reply's bytes are
// charged once it is written, see Dispatch). When a limit is spent it replies
// THROTTLED, counts the refusal and returns true: the command does not run.
func (c *Ctx) throttled(f *namespace.Flow) bool {
	var req int64
	if f.Bytes != nil {
		for _, a := range c.Args {
			req += int64(len(a))
		}
	}
	msg := f.Admit(c.Mono*1e6, req)
	if msg == "" {
		return false
	}
	c.S.Counts.Throttled++
	c.W.Error(msg)
	return true
}

// chargeReply charges the reply written since mark to the bytes limit.
func (c *Ctx) chargeReply(f *namespace.Flow, mark int64) {
	if f != nil && f.Bytes != nil {
		f.Bytes.Charge(c.Mono*1e6, c.W.Mark()-mark)
	}
}
