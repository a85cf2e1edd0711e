package command_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestKeys(t *testing.T) {
	strRunCases(t, []strCase{
		{"del unlink", []strStep{
			{"DEL a", ":0"},
			{"MSET a 1 b 2 c 3 {x}d 4", "OK"},
			{"DEL a", ":1"},
			{"DEL a", ":0"},
			{"DEL b b b", ":1"},
			{"DEL c {x}d nokey c", ":2"},
			{"MGET a b c {x}d", "[(nil) (nil) (nil) (nil)]"},
			{"MSET a 1 b 2", "OK"},
			{"UNLINK a b a nokey", ":2"},
			{"UNLINK a", ":0"},
			{"SET e v PX 20", "OK"},
			{"SLEEP 40", "*"},
			{"DEL e", ":0"},
			{"HSET h f v", ":1"},
			{"DEL h", ":1"},
			{"DEL", "-ERR wrong number of arguments for 'del' command"},
			{"UNLINK", "-ERR wrong number of arguments for 'unlink' command"},
		}},
		{"del many", []strStep{
			{"MSET k1 1 k2 2 k3 3 k4 4 k5 5 k6 6 k7 7 k8 8 k9 9 k10 10 k11 11 k12 12 k13 13 k14 14 k15 15 k16 16 k17 17 k18 18", "OK"},
			{"DEL k1 k2 k3 k4 k5 k6 k7 k8 k9 k10 k11 k12 k13 k14 k15 k16 k17 k18 k1 k2 n1 n2", ":18"},
			{"EXISTS k1 k18", ":0"},
		}},
		{"exists touch", []strStep{
			{"EXISTS a", ":0"},
			{"SET a 1", "OK"},
			{"EXISTS a", ":1"},
			{"EXISTS a a nokey a", ":3"},
			{"TOUCH a a nokey", ":2"},
			{"TOUCH nokey", ":0"},
			{"HSET h f v", ":1"},
			{"EXISTS h a", ":2"},
			{"TOUCH h", ":1"},
			{"EXISTS", "-ERR wrong number of arguments for 'exists' command"},
			{"TOUCH", "-ERR wrong number of arguments for 'touch' command"},
		}},
		{"type", []strStep{
			{"TYPE a", "none"},
			{"SET a 1", "OK"},
			{"TYPE a", "string"},
			{"HSET h f v", ":1"},
			{"TYPE h", "hash"},
			{"TYPE a b", "-ERR wrong number of arguments for 'type' command"},
		}},
		{"expire", []strStep{
			{"EXPIRE k 100", ":0"},
			{"SET k v", "OK"},
			{"TTL k", ":-1"},
			{"PTTL k", ":-1"},
			{"EXPIRETIME k", ":-1"},
			{"PEXPIRETIME k", ":-1"},
			{"EXPIRE k 100", ":1"},
			{"TTL k", ":100"},
			{"PTTL k", "~:100000"},
			{"PEXPIRE k 50000", ":1"},
			{"TTL k", ":50"},
			{"EXPIREAT k 4102444800", ":1"},
			{"EXPIRETIME k", ":4102444800"},
			{"PEXPIREAT k 4102444800999", ":1"},
			{"PEXPIRETIME k", ":4102444800999"},
			{"EXPIRETIME k", ":4102444801"}, // rounded, as Redis
			{"PERSIST k", ":1"},
			{"PERSIST k", ":0"},
			{"PERSIST nokey", ":0"},
			{"TTL k", ":-1"},
			{"TTL nokey", ":-2"},
			{"PTTL nokey", ":-2"},
			{"EXPIRETIME nokey", ":-2"},
			{"PEXPIRETIME nokey", ":-2"},
			{"GET k", "v"},
			{"PEXPIRE k 20", ":1"},
			{"SLEEP 40", "*"},
			{"GET k", "(nil)"},
			{"EXPIRE k 100", ":0"},
			{"PERSIST k", ":0"},
		}},
		{"expire deletes", []strStep{
			{"SET k v", "OK"},
			{"EXPIRE k 0", ":1"},
			{"EXISTS k", ":0"},
			{"EXPIRE k 0", ":0"},
			{"SET k v", "OK"},
			{"EXPIRE k -100", ":1"},
			{"EXISTS k", ":0"},
			{"SET k v", "OK"},
			{"PEXPIRE k -1", ":1"},
			{"EXISTS k", ":0"},
			{"SET k v", "OK"},
			{"EXPIREAT k 1", ":1"},
			{"EXISTS k", ":0"},
			{"SET k v", "OK"},
			{"PEXPIREAT k 0", ":1"},
			{"EXISTS k", ":0"},
			{"SET k v", "OK"},
			{"EXPIREAT k -9223372036854775", ":1"},
			{"EXISTS k", ":0"},
			{"HSET h f v", ":1"},
			{"EXPIRE h 100", ":1"},
			{"TTL h", ":100"},
			{"EXPIRE h 0", ":1"},
			{"TYPE h", "none"},
		}},
		{"expire options", []strStep{
			{"SET k v", "OK"},
			{"EXPIRE k 100 XX", ":0"},
			{"EXPIRE k 100 GT", ":0"},
			{"TTL k", ":-1"},
			{"EXPIRE k 100 LT", ":1"},
			{"TTL k", ":100"},
			{"EXPIRE k 50 NX", ":0"},
			{"EXPIRE k 200 LT", ":0"},
			{"EXPIRE k 100 LT", ":0"},
			{"EXPIRE k 50 GT", ":0"},
			{"EXPIRE k 200 GT", ":1"},
			{"TTL k", ":200"},
			{"EXPIRE k 50 LT", ":1"},
			{"TTL k", ":50"},
			{"EXPIRE k 60 xx", ":1"},
			{"EXPIRE k 70 XX GT", ":1"},
			{"EXPIRE k 10 XX GT", ":0"},
			{"EXPIRE k 10 xx lt", ":1"},
			{"TTL k", ":10"},
			{"EXPIRE k 0 LT", ":1"},
			{"EXISTS k", ":0"},
			{"SET k v", "OK"},
			{"EXPIRE k 100 nx", ":1"},
			{"EXPIRE k 100 NX", ":0"},
			{"PERSIST k", ":1"},
			{"EXPIRE k -1 GT", ":0"},
			{"EXISTS k", ":1"},
			{"EXPIRE k -1 NX", ":1"},
			{"EXISTS k", ":0"},
			{"EXPIRE nokey 100 NX", ":0"},
			{"EXPIRE nokey 100 NX XX", "-ERR NX and XX, GT or LT options at the same time are not compatible"},
			{"EXPIRE nokey 100 NX GT", "-ERR NX and XX, GT or LT options at the same time are not compatible"},
			{"EXPIRE nokey 100 LT NX", "-ERR NX and XX, GT or LT options at the same time are not compatible"},
			{"EXPIRE nokey 100 GT LT", "-ERR GT and LT options at the same time are not compatible"},
			{"EXPIRE nokey 100 GT GT", ":0"},
			{"EXPIRE nokey 100 foo", "-ERR Unsupported option foo"},
			{"EXPIRE nokey abc foo", "-ERR Unsupported option foo"},
			{"EXPIRE nokey abc NX XX", "-ERR NX and XX, GT or LT options at the same time are not compatible"},
			{"PEXPIREAT nokey 100 bar", "-ERR Unsupported option bar"},
		}},
		{"expire errors", []strStep{
			{"SET k v", "OK"},
			{"EXPIRE k abc", "-ERR value is not an integer or out of range"},
			{"EXPIRE k 1.5", "-ERR value is not an integer or out of range"},
			{"EXPIRE k 9223372036854775808", "-ERR value is not an integer or out of range"},
			{"EXPIRE k 9223372036854775807", "-ERR invalid expire time in 'expire' command"},
			{"EXPIRE k 9223372036854776", "-ERR invalid expire time in 'expire' command"},
			{"EXPIRE k -9223372036854776", "-ERR invalid expire time in 'expire' command"},
			{"EXPIRE nokey 9223372036854775807", "-ERR invalid expire time in 'expire' command"},
			{"EXPIRE k 9223372036854775", "-ERR invalid expire time in 'expire' command"},
			{"PEXPIRE k 9223372036854775807", "-ERR invalid expire time in 'pexpire' command"},
			{"EXPIREAT k 9223372036854776", "-ERR invalid expire time in 'expireat' command"},
			{"EXPIREAT k -9223372036854776", "-ERR invalid expire time in 'expireat' command"},
			{"PEXPIREAT k 9223372036854775807", ":1"},
			{"PEXPIRETIME k", ":9223372036854775807"},
			{"PEXPIREAT k -9223372036854775808", ":1"},
			{"EXISTS k", ":0"},
			{"EXPIRE k", "-ERR wrong number of arguments for 'expire' command"},
			{"TTL", "-ERR wrong number of arguments for 'ttl' command"},
			{"PERSIST", "-ERR wrong number of arguments for 'persist' command"},
		}},
	})
}

// TestKeysConcurrent runs MSETs of all keys against each other: MSET is
// atomic, so when they are done every key holds the value of the same MSET.
// (MGET reads key by key, so it is checked only once the writers stopped.)
func TestKeysConcurrent(t *testing.T) {
	addr := newTestServer(t)
	keys := []string{"a", "b", "{x}c", "d", "e", "f"}
	clients := []*redis.Client{dial(t, addr), dial(t, addr), dial(t, addr)}
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		for w, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					v := strconv.Itoa(round*1000000 + w*1000 + i)
					args := []any{"MSET"}
					for _, k := range keys {
						args = append(args, k, v)
					}
					if err := c.Do(ctx, args...).Err(); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		args := []any{"MGET"}
		for _, k := range keys {
			args = append(args, k)
		}
		r, err := clients[0].Do(ctx, args...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range r[1:] {
			if v != r[0] {
				t.Fatalf("round %d: keys from different MSETs: %v", round, r)
			}
		}
	}
}
