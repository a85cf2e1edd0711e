package dataserver

// FlowLimit is a namespace's flow limits on this data server, per second
// (0: no limit of that kind).
type FlowLimit struct {
	Ops   int64 // commands that read or write data
	Bytes int64 // their argument bytes plus their reply bytes
}

// flowOf returns the flow limits namespace id gets on this node: its
// definition's on the config servers, else Options.FlowLimits' (how a
// standalone server, or a namespace nobody defined, is limited).
func (d *DataServer) flowOf(id uint16) FlowLimit {
	if defs := d.defs.Load(); defs != nil {
		if ns, ok := defs.byID[id]; ok {
			return FlowLimit{Ops: ns.MaxOps, Bytes: ns.MaxBytes}
		}
	}
	return d.flowLimits[id]
}
