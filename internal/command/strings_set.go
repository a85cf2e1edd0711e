package command

import (
	"math"

	"granary/internal/engine"
)

// SET and its variants: SET SETNX SETEX PSETEX (GETSET in strings.go).

func init() {
	register(
		&Spec{Name: "set", Arity: -3, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdSet},
		&Spec{Name: "setnx", Arity: 3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdSetNX},
		&Spec{Name: "setex", Arity: 4, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdSetEx},
		&Spec{Name: "psetex", Arity: 4, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdSetEx},
	)
}

// Options of SET and GETEX, as Redis' OBJ_* flags.
const (
	soNX = 1 << iota
	soXX
	soGET
	soKEEPTTL
	soPERSIST
	soEX
	soPX
	soEXAT
	soPXAT

	soExpire = soEX | soPX | soEXAT | soPXAT
)

// strParseOpts parses the options of SET (set true, from args[3]) or GETEX
// (from args[2]) exactly as Redis' parseExtendedStringArgumentsOrReply: an
// option may repeat, conflicting ones are a syntax error, and the expiry's
// value is returned unparsed (Redis checks it after every option).
func strParseOpts(args [][]byte, set bool) (flags int, exp []byte, err string) {
	j := 2
	if set {
		j = 3
	}
	for ; j < len(args); j++ {
		a := args[j]
		next := j+1 < len(args)
		var f int
		switch {
		case set && eqFold(a, "nx") && flags&soXX == 0:
			flags |= soNX
			continue
		case set && eqFold(a, "xx") && flags&soNX == 0:
			flags |= soXX
			continue
		case set && eqFold(a, "get"):
			flags |= soGET
			continue
		case set && eqFold(a, "keepttl") && flags&(soPERSIST|soExpire) == 0:
			flags |= soKEEPTTL
			continue
		case !set && eqFold(a, "persist") && flags&(soKEEPTTL|soExpire) == 0:
			flags |= soPERSIST
			continue
		case eqFold(a, "ex"):
			f = soEX
		case eqFold(a, "px"):
			f = soPX
		case eqFold(a, "exat"):
			f = soEXAT
		case eqFold(a, "pxat"):
			f = soPXAT
		}
		// An expiry excludes KEEPTTL, PERSIST and the other three units
		// (but may repeat itself: the last one wins).
		if f == 0 || !next || flags&(soKEEPTTL|soPERSIST|(soExpire&^f)) != 0 {
			return 0, nil, errSyntax
		}
		flags |= f
		exp = args[j+1]
		j++
	}
	return flags, exp, ""
}

// strExpireAt converts the expiry argument of an EX/PX/EXAT/PXAT option to
// absolute Unix ms, as Redis' getExpireMillisecondsOrReply.
func strExpireAt(c *Ctx, arg []byte, flags int) (int64, string) {
	n, ok := parseInt(arg)
	if !ok {
		return 0, errNotInt
	}
	sec := flags&(soEX|soEXAT) != 0
	if n <= 0 || (sec && n > math.MaxInt64/1000) {
		return 0, strExpireErr(c)
	}
	if sec {
		n *= 1000
	}
	if flags&(soEX|soPX) != 0 {
		if n > math.MaxInt64-c.Now {
			return 0, strExpireErr(c)
		}
		n += c.Now
	}
	return n, ""
}

func strExpireErr(c *Ctx) string {
	return "ERR invalid expire time in '" + c.Spec.Name + "' command"
}

// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]
func cmdSet(c *Ctx) {
	var flags int
	var at int64
	if len(c.Args) > 3 {
		f, exp, e := strParseOpts(c.Args, true)
		if e == "" && exp != nil {
			at, e = strExpireAt(c, exp, f)
		}
		if e != "" {
			c.W.Error(e)
			return
		}
		flags = f
	}
	strSetGeneric(c, c.Args[1], c.Args[2], flags, at, replyOK)
}

// SETNX key value
func cmdSetNX(c *Ctx) {
	strSetGeneric(c, c.Args[1], c.Args[2], soNX, 0, replyInt)
}

// SETEX key seconds value, PSETEX key ms value
func cmdSetEx(c *Ctx) {
	flags := soEX
	if c.Spec.Name == "psetex" {
		flags = soPX
	}
	at, e := strExpireAt(c, c.Args[2], flags)
	if e != "" {
		c.W.Error(e)
		return
	}
	strSetGeneric(c, c.Args[1], c.Args[3], flags, at, replyOK)
}

// How strSetGeneric replies.
const (
	replyOK  = iota // +OK, or null when NX/XX stopped it (SET)
	replyInt        // 1, or 0 when NX stopped it (SETNX)
	replyOld        // the previous value (GETSET; SET with GET)
)

// strSetGeneric is Redis' setGenericCommand: at is the absolute expiry in
// Unix ms (0 for none; flags carry which unit it came from).
func strSetGeneric(c *Ctx, key, val []byte, flags int, at int64, reply int) {
	if flags&(soNX|soXX|soGET|soKEEPTTL) == 0 && (at == 0 || at >= c.Now) {
		// The hot path: an unconditional write.
		if _, err := c.Engine().Set(c.Bucket, key, engine.Item{Type: engine.TypeString, Value: val, Expire: at}, c.Now); err != nil {
			engineError(c, err, errStringLimit)
			return
		}
		if reply == replyInt {
			c.W.Int(1)
		} else {
			c.W.OK()
		}
		return
	}
	if flags&soGET != 0 {
		reply = replyOld
	}
	t := strBegin(c, setRun)
	t.val, t.flags, t.at = val, flags, at
	if t.update(c.Bucket, key) {
		switch {
		case reply == replyOld:
			strReplyOld(t)
		case reply == replyInt:
			c.W.Int(t.res)
		case t.res == 1:
			c.W.OK()
		default:
			c.W.Null()
		}
	}
	strEnd(t)
}

func setRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if t.flags&soGET != 0 && !strCopyOld(t, cur) {
		return engine.Item{}, engine.OpKeep
	}
	found := cur != nil
	if (t.flags&soNX != 0 && found) || (t.flags&soXX != 0 && !found) {
		return engine.Item{}, engine.OpKeep
	}
	t.res = 1
	next := engine.Item{Type: engine.TypeString, Value: t.val, Version: nextVersion(cur), Expire: t.at}
	if t.flags&soKEEPTTL != 0 && found {
		next.Expire = cur.Expire
	}
	if next.Expire != 0 && next.Expire < t.c.Now {
		// Stored already expired (EXAT/PXAT in the past): the same as gone.
		if found {
			return engine.Item{}, engine.OpDelete
		}
		return engine.Item{}, engine.OpKeep
	}
	return next, engine.OpPut
}
