package routing

import "testing"

func TestBucket(t *testing.T) {
	// Expected values from Redis' CLUSTER KEYSLOT.
	cases := []struct {
		key  string
		want uint16
	}{
		{"123456789", 12739}, // CRC16-XMODEM check value 0x31C3 mod 16384
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"user1000", 3443},
		{"foo{}{bar}", 8363},
		{"foo{{bar}}zap", 4015},
		{"foo{bar}{zap}", 5061},
		{"", 0},
	}
	for _, c := range cases {
		if got := Bucket([]byte(c.key)); got != c.want {
			t.Errorf("Bucket(%q) = %d, want %d", c.key, got, c.want)
		}
	}
}
