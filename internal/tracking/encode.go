package tracking

import "strconv"

// Channel is the pub/sub channel RESP2 connections subscribe to in order to
// receive invalidations on behalf of a client that redirects to them.
const Channel = "__redis__:invalidate"

// kind is how an invalidation is encoded for its target connection.
type kind uint8

const (
	kindPush    kind = iota + 1 // RESP3: >2 invalidate [key ...] (null: _)
	kindMessage                 // RESP2 subscriber: *3 message __redis__:invalidate [key ...] (null: $-1)
)

// appendInvalidate appends one invalidation of key (of every key when null).
func appendInvalidate(b []byte, k kind, key []byte, null bool) []byte {
	if k == kindPush {
		b = append(b, ">2\r\n$10\r\ninvalidate\r\n"...)
		if null {
			return append(b, "_\r\n"...)
		}
	} else {
		b = append(b, "*3\r\n$7\r\nmessage\r\n$20\r\n"+Channel+"\r\n"...)
		if null {
			return append(b, "$-1\r\n"...)
		}
	}
	b = append(b, "*1\r\n$"...)
	b = strconv.AppendInt(b, int64(len(key)), 10)
	b = append(b, '\r', '\n')
	b = append(b, key...)
	return append(b, '\r', '\n')
}

// appendRedirBroken appends the push that tells a RESP3 client its
// invalidations could not be delivered: the connection it redirects to is
// gone.
func appendRedirBroken(b []byte, id int64) []byte {
	b = append(b, ">2\r\n$21\r\ntracking-redir-broken\r\n:"...)
	b = strconv.AppendInt(b, id, 10)
	return append(b, '\r', '\n')
}
