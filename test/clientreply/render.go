// Package clientreply renders the replies of stock Redis clients (go-redis,
// rueidis) as canonical strings, so the multi-process test suites can compare
// what different clients and protocols return with one expectation.
package clientreply

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// Render turns a client's result into a canonical string: strings quoted,
// integers ":n", nil "nil", errors "-msg", arrays "[...]", maps "{k: v}" sorted.
func Render(v any, err error) string {
	if err != nil {
		if errors.Is(err, redis.Nil) || rueidis.IsRedisNil(err) {
			return "nil"
		}
		return "-" + err.Error()
	}
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		return strconv.Quote(x)
	case int64:
		return ":" + strconv.FormatInt(x, 10)
	case float64:
		return "," + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		if x {
			return "#t"
		}
		return "#f"
	case error:
		return Render(nil, x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = Render(e, nil)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[any]any:
		parts := make([]string, 0, len(x))
		for k, e := range x {
			parts = append(parts, Render(k, nil)+": "+Render(e, nil))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case map[string]any:
		parts := make([]string, 0, len(x))
		for k, e := range x {
			parts = append(parts, strconv.Quote(k)+": "+Render(e, nil))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf("?%T(%v)", v, v)
}
