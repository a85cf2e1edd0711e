package command_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TairString scripts (strStep format, see strings_test.go). TairString is not
// in Redis, so they run against Granary only.
func TestExString(t *testing.T) {
	cases := []strCase{
		{"exset exget", []strStep{
			{"EXGET s", "(nil)"},
			{"EXSET s v", "OK"},
			{"EXGET s", "[v :1]"},
			{"EXSET s v2", "OK"},
			{"EXGET s", "[v2 :2]"},
			{"EXGET s WITHFLAGS", "[v2 :2 :0]"},
			{"EXGET s withflags WITHFLAGS", "[v2 :2 :0]"},
			{"EXGET s bogus", "-ERR syntax error"},
			{"EXGET", "-ERR wrong number of arguments for 'exget' command"},
			{"EXSET s", "-ERR wrong number of arguments for 'exset' command"},
			{`EXSET e ""`, "OK"},
			{"EXGET e", "[ :1]"},
		}},
		{"versions", []strStep{
			{"EXSET s v", "OK"},
			{"EXSET s v3 VER 2", "-ERR update version is stale"},
			{"EXGET s", "[v :1]"},
			{"EXSET s v3 VER 1", "OK"},
			{"EXGET s", "[v3 :2]"},
			{"EXSET s v4 VER 0", "OK"},
			{"EXGET s", "[v4 :3]"},
			{"EXSET s v5 ABS 100", "OK"},
			{"EXGET s", "[v5 :100]"},
			{"EXSET s v6 abs 7 WITHVERSION", ":7"},
			{"EXSET s v7 WITHVERSION", ":8"},
			{"EXSET s v ABS 0", "-ERR value is not an integer or out of range"},
			{"EXSET s v ABS -1", "-ERR value is not an integer or out of range"},
			{"EXSET s v VER -1", "-ERR value is not an integer or out of range"},
			{"EXSET s v VER x", "-ERR value is not an integer or out of range"},
			{"EXSET s v VER 1 ABS 2", "-ERR syntax error"},
			{"EXSET s v VER 1 VER 1", "-ERR syntax error"},
			{"EXSET s v VER", "-ERR syntax error"},
			{"EXGET s", "[v7 :8]"},
			{"EXSET n v VER 5", "OK"},
			{"EXGET n", "[v :1]"},
			{"EXSET m v ABS 5", "OK"},
			{"EXGET m", "[v :5]"},
		}},
		{"nx xx", []strStep{
			{"EXSET s v XX", "(nil)"},
			{"EXGET s", "(nil)"},
			{"EXSET s v NX", "OK"},
			{"EXSET s w NX", "(nil)"},
			{"EXSET s w XX WITHVERSION", ":2"},
			{"EXSET s w NX XX", "-ERR syntax error"},
			{"EXSET s w XX NX", "-ERR syntax error"},
			{"EXSET s w NX NX", "(nil)"},
			{"EXSET s w FLAGS 1", "-ERR syntax error"},
			{"EXSET s w XX VER 1", "-ERR update version is stale"},
		}},
		{"expiry", []strStep{
			{"EXSET s v EX 100", "OK"},
			{"PTTL s", "~:100000"},
			{"EXSET s v", "OK"},
			{"PTTL s", ":-1"},
			{"EXSET s v PX 100000", "OK"},
			{"EXSET s w KEEPTTL", "OK"},
			{"PTTL s", "~:100000"},
			{"EXGET s", "[w :4]"},
			{"EXSET s v EX 0", "-ERR invalid expire time in 'exset' command"},
			{"EXSET s v PX -5", "-ERR invalid expire time in 'exset' command"},
			{"EXSET s v EX x", "-ERR value is not an integer or out of range"},
			{"EXSET s v EX 10 KEEPTTL", "-ERR syntax error"},
			{"EXSET s v KEEPTTL EX 10", "-ERR syntax error"},
			{"EXSET s v EX 10 PX 10", "-ERR syntax error"},
			{"EXSET s v EX", "-ERR syntax error"},
			{"EXSET s v EXAT 1", "OK"},
			{"EXGET s", "(nil)"},
			{"EXSET s v PXAT 99999999999999", "OK"},
			{"PEXPIRETIME s", ":99999999999999"},
			{"EXSET s v PX 50", "OK"},
			{"SLEEP 120", ""},
			{"EXGET s", "(nil)"},
			{"EXSET s v", "OK"},
			{"EXGET s", "[v :1]"},
		}},
		{"one string type", []strStep{
			{"SET k a", "OK"},
			{"EXGET k", "[a :1]"},
			{"SET k b", "OK"},
			{"EXGET k", "[b :2]"},
			{"APPEND k c", ":2"},
			{"EXGET k", "[bc :3]"},
			{"EXSET n 5", "OK"},
			{"GET n", "5"},
			{"INCR n", ":6"},
			{"EXGET n", "[6 :2]"},
			{"EXINCRBY n 1", ":7"},
			{"GET n", "7"},
			{"EXCAS n x 3", "[OK  :4]"},
			{"GET n", "x"},
		}},
		{"wrongtype", []strStep{
			{"HSET h a 1", ":1"},
			{"EXSET h v", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"EXSET h v NX", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"EXGET h", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"EXSETVER h 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"EXINCRBY h 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"EXINCRBYFLOAT h 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"EXCAS h v 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"EXCAD h 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HGET h a", "1"},
		}},
		{"exsetver", []strStep{
			{"EXSETVER nokey 5", ":0"},
			{"EXGET nokey", "(nil)"},
			{"EXSET s v EX 100", "OK"},
			{"EXSETVER s 10", ":1"},
			{"EXGET s", "[v :10]"},
			{"PTTL s", "~:100000"},
			{"EXSET s w", "OK"},
			{"EXGET s", "[w :11]"},
			{"EXSETVER s 0", "-ERR value is not an integer or out of range"},
			{"EXSETVER s -1", "-ERR value is not an integer or out of range"},
			{"EXSETVER s x", "-ERR value is not an integer or out of range"},
			{"EXSETVER s", "-ERR wrong number of arguments for 'exsetver' command"},
		}},
		{"exincrby", []strStep{
			{"EXINCRBY c 5", ":5"},
			{"EXGET c", "[5 :1]"},
			{"EXINCRBY c -10", ":-5"},
			{"EXGET c", "[-5 :2]"},
			{"EXINCRBY c x", "-ERR value is not an integer or out of range"},
			{"EXINCRBY c 1.5", "-ERR value is not an integer or out of range"},
			{"EXSET s abc", "OK"},
			{"EXINCRBY s 1", "-ERR value is not an integer"},
			{"EXSET big 9223372036854775807", "OK"},
			{"EXINCRBY big 1", "-ERR increment or decrement would overflow"},
			{"EXINCRBY big -9223372036854775808", ":-1"},
			{"EXINCRBY c", "-ERR wrong number of arguments for 'exincrby' command"},
			{"EXINCRBY c 1 bogus", "-ERR syntax error"},
			{"EXINCRBY c 1 WITHVERSION", "-ERR syntax error"},
		}},
		{"exincrby bounds", []strStep{
			{"EXINCRBY c -5", ":-5"},
			{"EXINCRBY c 1 MIN 0", "-ERR increment or decrement would overflow"},
			{"EXINCRBY c 1 MIN -10 MAX 10", ":-4"},
			{"EXINCRBY c 100 MAX 10", "-ERR increment or decrement would overflow"},
			{"EXINCRBY c 14 MAX 10", ":10"},
			{"EXINCRBY c 1 MIN 5 MAX 1", "-ERR min or max is specified, but not valid"},
			{"EXINCRBY c 1 MIN x", "-ERR min or max is specified, but not valid"},
			{"EXINCRBY c 1 MAX", "-ERR syntax error"},
			{"EXINCRBY c 1 MIN 3 MAX 3", "-ERR increment or decrement would overflow"},
			{"EXINCRBY c -7 MIN 3 MAX 3", ":3"},
			{"EXINCRBY c -10 NONEGATIVE", ":0"},
			{"EXGET c", "[0 :5]"},
			{"EXINCRBY c -1 nonegative", ":0"},
			{"EXINCRBY c 2 NONEGATIVE", ":2"},
			{"EXINCRBY d -3 NONEGATIVE", ":0"},
			{"EXGET d", "[0 :1]"},
		}},
		{"exincrby options", []strStep{
			{"EXINCRBY c 1 XX", "(nil)"},
			{"EXGET c", "(nil)"},
			{"EXINCRBY c 1 NX", ":1"},
			{"EXINCRBY c 1 NX", "(nil)"},
			{"EXINCRBY c 1 VER 9", "-ERR update version is stale"},
			{"EXINCRBY c 1 VER 1", ":2"},
			{"EXINCRBY c 1 ABS 50", ":3"},
			{"EXGET c", "[3 :50]"},
			{"EXINCRBY c 1 EX 100", ":4"},
			{"PTTL c", "~:100000"},
			{"EXINCRBY c 1 KEEPTTL", ":5"},
			{"PTTL c", "~:100000"},
			{"EXINCRBY c 1", ":6"},
			{"PTTL c", ":-1"},
			{"EXINCRBY c 1 EX 0", "-ERR invalid expire time in 'exincrby' command"},
			{"EXINCRBY c 1 PXAT 1", ":7"},
			{"EXGET c", "(nil)"},
		}},
		{"exincrbyfloat", []strStep{
			{"EXINCRBYFLOAT f 10.1", "10.1"},
			{"EXINCRBYFLOAT f 0.2", "10.3"},
			{"EXGET f", "[10.3 :2]"},
			{"EXINCRBYFLOAT f x", "-ERR value is not a valid float"},
			{"EXINCRBYFLOAT f inf", "-ERR increment would produce NaN or Infinity"},
			{"EXSET s abc", "OK"},
			{"EXINCRBYFLOAT s 1", "-ERR value is not a float"},
			{"EXINCRBYFLOAT f 1 MAX 11", "-ERR increment or decrement would overflow"},
			{"EXINCRBYFLOAT f -20.4 MIN -10", "-ERR increment or decrement would overflow"},
			{"EXINCRBYFLOAT f 1 MIN 0 MAX 20", "11.3"},
			{"EXINCRBYFLOAT f 1 MIN 2 MAX 1.5", "-ERR min or max is specified, but not valid"},
			{"EXINCRBYFLOAT f 1 MIN abc", "-ERR min or max is specified, but not valid"},
			{"EXINCRBYFLOAT f 1 NONEGATIVE", "-ERR syntax error"},
			{"EXINCRBYFLOAT f 1 VER 1", "-ERR update version is stale"},
			{"EXINCRBYFLOAT f -1.3 VER 3 WITHVERSION", "-ERR syntax error"},
			{"EXINCRBYFLOAT f -1.3 VER 3", "10"},
			{"EXINCRBYFLOAT f 1 XX ABS 9 EX 100", "11"},
			{"EXGET f", "[11 :9]"},
			{"PTTL f", "~:100000"},
			{"EXINCRBYFLOAT g 1.5 XX", "(nil)"},
			{"EXINCRBYFLOAT g 1.5e3 NX", "1500"},
		}},
		{"excas excad", []strStep{
			{"EXCAS nokey v 1", ":-1"},
			{"EXSET s v EX 100", "OK"},
			{"EXCAS s w 2", "[ERR update version is stale v :1]"},
			{"EXCAS s w 1", "[OK  :2]"},
			{"EXGET s", "[w :2]"},
			{"PTTL s", "~:100000"},
			{"EXCAS s x 1", "[ERR update version is stale w :2]"},
			{"EXCAS s w x", "-ERR value is not an integer or out of range"},
			{"EXCAS s w -1", "-ERR value is not an integer or out of range"},
			{"EXCAS s w", "-ERR wrong number of arguments for 'excas' command"},
			{"EXCAD nokey 1", ":-1"},
			{"EXCAD s 1", ":0"},
			{"EXCAD s x", "-ERR value is not an integer or out of range"},
			{"EXCAD s 2", ":1"},
			{"EXISTS s", ":0"},
			{"EXCAD s 2", ":-1"},
		}},
	}
	c := dial(t, newTestServer(t))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.FlushAll(ctx)
			for i, st := range tc.steps {
				strCheck(t, c, i, st)
			}
		})
	}
}

// TestExStringRESP3 checks the reply shapes under RESP3.
func TestExStringRESP3(t *testing.T) {
	c := dial3(t, newTestServer(t))
	if err := c.Do(ctx, "EXSET", "s", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Do(ctx, "EXGET", "s").Slice(); err != nil || len(got) != 2 || got[0] != "v" || got[1] != int64(1) {
		t.Fatalf("EXGET = %#v %v", got, err)
	}
	if err := c.Do(ctx, "EXGET", "nokey").Err(); err != redis.Nil {
		t.Fatalf("EXGET of a missing key: %v", err)
	}
	if got, err := c.Do(ctx, "EXCAS", "s", "w", 1).Slice(); err != nil || len(got) != 3 || got[0] != "OK" || got[1] != "" || got[2] != int64(2) {
		t.Fatalf("EXCAS = %#v %v", got, err)
	}
	if got, err := c.Do(ctx, "EXINCRBYFLOAT", "f", "0.5").Result(); err != nil || got != "0.5" {
		t.Fatalf("EXINCRBYFLOAT = %#v %v", got, err)
	}
}

// TestExCasConcurrent increments a counter from several clients with
// optimistic EXGET/EXCAS loops: no increment may be lost, and every
// successful EXCAS bumps the version by exactly one.
func TestExCasConcurrent(t *testing.T) {
	addr := newTestServer(t)
	c := dial(t, addr)
	if err := c.Do(ctx, "EXSET", "ctr", "0").Err(); err != nil {
		t.Fatal(err)
	}
	const workers, per = 4, 100
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, addr)
			for i := 0; i < per; {
				r, err := c.Do(ctx, "EXGET", "ctr").Slice()
				if err != nil {
					t.Error(err)
					return
				}
				n, _ := strconv.Atoi(r[0].(string))
				res, err := c.Do(ctx, "EXCAS", "ctr", strconv.Itoa(n+1), r[1]).Slice()
				if err != nil {
					t.Error(err)
					return
				}
				if res[0] == "OK" {
					i++
				}
			}
		}()
	}
	wg.Wait()
	r, err := c.Do(ctx, "EXGET", "ctr").Slice()
	if err != nil || r[0] != fmt.Sprint(workers*per) || r[1] != int64(workers*per+1) {
		t.Fatalf("EXGET = %v %v, want [%d %d]", r, err, workers*per, workers*per+1)
	}
}
