package cachecheck

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// RueidisGet is a reader through rueidis' client-side cache (DoCache GET):
// the value (0 for a missing key) and whether the cache served it.
func RueidisGet(c rueidis.Client) func(string) (int64, bool, error) {
	return func(key string) (int64, bool, error) {
		r := c.DoCache(context.Background(), c.B().Get().Key(key).Cache(), time.Minute)
		s, err := r.ToString()
		if rueidis.IsRedisNil(err) {
			return 0, r.IsCacheHit(), nil
		}
		if err != nil {
			return 0, false, err
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v, r.IsCacheHit(), err
	}
}
