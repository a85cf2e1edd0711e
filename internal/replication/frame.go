package replication

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Frame kinds. Primary to secondary: hello, batch, snapBegin, snapEnd,
// synced, ping. Secondary to primary: state, ack, pong, reject.
const (
	fHello     = 1 // epoch(8)
	fBatch     = 2 // seq(8) records...
	fSnapBegin = 3 // seq(8) bucket(2) term(8)
	fSnapData  = 4 // seq(8) bucket(2) records... (LSN 0: items of the snapshot)
	fSnapEnd   = 5 // seq(8) bucket(2) lsn(8) term(8) entry-term(8): the term entry lsn was written in
	fSynced    = 6 // seq(8) bucket(2) term(8): the peer holds a prefix of ours
	fPing      = 7 // seq(8) epoch(8)
	fState     = 8 // 16384 x (lsn(8) term(8) held(1))
	fAck       = 9 // seq(8)
	fPong      = 10
	fReject    = 11 // bucket(2) reason
	fEmpty     = 12 // seq(8) term(8) buckets(2 each): the buckets are empty at LSN 0
)

// maxFrame bounds a frame (a snapshot or batch frame holds whole records,
// so one big value makes one big frame).
const maxFrame = maxRecord + 64

// writeFrame writes one frame: length(4) kind(1) payload.
func writeFrame(w *bufio.Writer, kind byte, payload []byte) error {
	var h [5]byte
	binary.BigEndian.PutUint32(h[:], uint32(1+len(payload)))
	h[4] = kind
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame into buf (grown as needed).
func readFrame(r *bufio.Reader, buf []byte) (kind byte, payload, out []byte, err error) {
	var h [5]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, buf, err
	}
	n := int(binary.BigEndian.Uint32(h[:]))
	if n < 1 || n > maxFrame {
		return 0, nil, buf, fmt.Errorf("replication: frame of %d bytes", n)
	}
	if cap(buf) < n-1 {
		buf = make([]byte, n-1)
	}
	buf = buf[:n-1]
	if _, err = io.ReadFull(r, buf); err != nil {
		return 0, nil, buf, err
	}
	return h[4], buf, buf, nil
}

// peerState is what a secondary reports of one bucket.
type peerState struct {
	lsn, term uint64
	held      bool
}

const stateEntry = 17
