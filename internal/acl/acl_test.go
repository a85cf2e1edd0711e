package acl

import (
	"testing"
	"time"

	"granary/internal/clusterapi"
)

func mustHash(t *testing.T, pass string) string {
	t.Helper()
	h, err := HashPassword(pass)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPasswordHash(t *testing.T) {
	h1, h2 := mustHash(t, "s3cret"), mustHash(t, "s3cret")
	if h1 == h2 {
		t.Fatalf("two hashes of one password are equal (no salt?): %s", h1)
	}
	for _, tc := range []struct {
		stored, pass string
		want         bool
	}{
		{h1, "s3cret", true},
		{h2, "s3cret", true},
		{h1, "s3cret ", false},
		{h1, "", false},
		{mustHash(t, ""), "", true},
	} {
		var s secret
		var err error
		if s.salt, s.sum, err = parseHash(tc.stored); err != nil {
			t.Fatal(err)
		}
		if got := s.matches([]byte(tc.pass)); got != tc.want {
			t.Errorf("matches(%q) = %v, want %v", tc.pass, got, tc.want)
		}
	}
	var zero secret
	if zero.matches(nil) || zero.matches([]byte("x")) {
		t.Error("the zero secret matched a password")
	}
	for _, bad := range []string{"", "s3cret", "md5$00$00", "sha256$zz$00", "sha256$0011223344556677$00", "sha256$0011223344556677"} {
		if ValidHash(bad) {
			t.Errorf("ValidHash(%q) = true", bad)
		}
	}
}

func TestParseClasses(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    Class
		wantErr bool
	}{
		{nil, 0, false},
		{[]string{"read"}, Read, false},
		{[]string{"READ", " write "}, Read | Write, false},
		{[]string{"admin"}, Admin, false},
		{[]string{"all"}, Read | Write | Admin, false},
		{[]string{"read", "delete"}, 0, true},
		{[]string{""}, 0, true},
	} {
		got, err := ParseClasses(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseClasses(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if got := (Read | Admin).Names(); len(got) != 2 || got[0] != "read" || got[1] != "admin" {
		t.Errorf("Names = %v", got)
	}
}

func TestValidate(t *testing.T) {
	h := mustHash(t, "pw")
	for _, tc := range []struct {
		name   string
		u      clusterapi.User
		stored bool
		ok     bool
	}{
		{"minimal", clusterapi.User{Name: "app"}, false, true},
		{"stored", clusterapi.User{Name: "app", Hash: h}, true, true},
		{"stored without hash", clusterapi.User{Name: "app"}, true, false},
		{"hash in a request", clusterapi.User{Name: "app", Hash: h}, false, false},
		{"empty name", clusterapi.User{}, false, false},
		{"space in name", clusterapi.User{Name: "a b"}, false, false},
		{"reserved name", clusterapi.User{Name: "default"}, false, false},
		{"unknown class", clusterapi.User{Name: "app", Commands: []string{"execute"}}, false, false},
		{"default namespace listed", clusterapi.User{Name: "app", Namespaces: []uint16{1, 2}, DefaultNamespace: 2}, false, true},
		{"default namespace not listed", clusterapi.User{Name: "app", Namespaces: []uint16{1, 2}}, false, false},
		{"default namespace with all", clusterapi.User{Name: "app", AllNamespaces: true, DefaultNamespace: 9}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(&tc.u, tc.stored)
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	h := mustHash(t, "pw")
	us, err := Compile([]clusterapi.User{
		{Name: "fresh", Hash: h},
		{Name: "reader", Hash: h, Namespaces: []uint16{1}, DefaultNamespace: 1, Commands: []string{"read"}},
		{Name: "rw", Hash: h, Namespaces: []uint16{1, 64, 65535}, DefaultNamespace: 64, Commands: []string{"read", "write"}},
		{Name: "ops", Hash: h, AllNamespaces: true, Commands: []string{"all"}},
		{Name: "off", Hash: h, AllNamespaces: true, Commands: []string{"all"}, Disabled: true},
	}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if us.Version != 7 || us.Len() != 5 {
		t.Fatalf("version %d, %d users", us.Version, us.Len())
	}
	for _, tc := range []struct {
		user  string
		class Class
		ns    uint16
		want  bool
	}{
		{"fresh", 0, 0, false}, // deny by default: not even its default namespace
		{"fresh", Read, 0, false},
		{"reader", Read, 1, true},
		{"reader", Write, 1, false},
		{"reader", Read, 0, false},
		{"reader", Read, 2, false},
		{"reader", Admin, 1, false},
		{"rw", Write, 65535, true},
		{"rw", Read, 64, true},
		{"rw", Read, 63, false},
		{"rw", Admin, 1, false},
		{"ops", Admin, 12345, true},
		{"ops", Write, 0, true},
	} {
		u := us.Lookup([]byte(tc.user))
		if u == nil {
			t.Fatalf("no user %s", tc.user)
		}
		if got := u.Allows(tc.class) && u.CanUse(tc.ns); got != tc.want {
			t.Errorf("%s: class %v in namespace %d = %v, want %v", tc.user, tc.class.Names(), tc.ns, got, tc.want)
		}
	}
	if u := us.Lookup([]byte("rw")); u.Default != 64 || !u.CheckPassword([]byte("pw")) || u.CheckPassword([]byte("PW")) {
		t.Errorf("rw: default %d or password check wrong", u.Default)
	}
	if !us.Lookup([]byte("off")).Disabled || us.Lookup([]byte("nobody")) != nil {
		t.Error("disabled flag or unknown lookup wrong")
	}
	var none *Users
	if none.Lookup([]byte("ops")) != nil || none.Len() != 0 {
		t.Error("a nil set has users")
	}
}

func TestCompileSkipsBad(t *testing.T) {
	us, err := Compile([]clusterapi.User{{Name: "good", Hash: mustHash(t, "x")}, {Name: "nohash"}}, 1)
	if err == nil || us.Len() != 1 || us.Lookup([]byte("good")) == nil {
		t.Fatalf("Compile = %d users, %v", us.Len(), err)
	}
}

func TestLogLimiter(t *testing.T) {
	l := &LogLimiter{Every: time.Second}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at      time.Duration
		ok      bool
		dropped int64
	}{
		{0, true, 0},
		{10 * time.Millisecond, false, 0},
		{500 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{3 * time.Second, true, 1},
	}
	for i, s := range steps {
		ok, d := l.Allow(t0.Add(s.at))
		if ok != s.ok || d != s.dropped {
			t.Errorf("step %d: Allow = %v, %d; want %v, %d", i, ok, d, s.ok, s.dropped)
		}
	}
}

// BenchmarkCheckPassword measures what a login costs in hashing.
func BenchmarkCheckPassword(b *testing.B) {
	h, err := HashPassword("a-long-random-service-password-0123456789")
	if err != nil {
		b.Fatal(err)
	}
	us, err := Compile([]clusterapi.User{{Name: "app", Hash: h}}, 1)
	if err != nil {
		b.Fatal(err)
	}
	u, pass := us.LookupString("app"), []byte("a-long-random-service-password-0123456789")
	b.ReportAllocs()
	for b.Loop() {
		if !u.CheckPassword(pass) {
			b.Fatal("no match")
		}
	}
}
