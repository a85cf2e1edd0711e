package main

import "testing"

func TestGCTarget(t *testing.T) {
	for _, c := range []struct {
		name   string
		given  bool
		env    string
		flag   int
		want   int
		setsIt bool
	}{
		{"default", false, "", defaultGCPercent, defaultGCPercent, true},
		{"environment stands", false, "200", defaultGCPercent, 0, false},
		{"environment off stands", false, "off", defaultGCPercent, 0, false},
		{"flag over environment", true, "200", 50, 50, true},
		{"flag alone", true, "", -1, -1, true},
	} {
		got, ok := gcTarget(c.given, c.env, c.flag)
		if ok != c.setsIt || got != c.want {
			t.Errorf("%s: gcTarget(%v, %q, %d) = %d, %v; want %d, %v", c.name, c.given, c.env, c.flag, got, ok, c.want, c.setsIt)
		}
	}
}
