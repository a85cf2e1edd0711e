package bulk

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, in, format string) ([]Record, error) {
	t.Helper()
	rd, err := NewReader(strings.NewReader(in), format)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for {
		var rec Record
		err := rd.Next(&rec)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestReadCSV(t *testing.T) {
	in := "k1,v1\r\nk2,v2,1767225600000\n\nk3,\"quoted, with comma\"\nk4,\"multi\nline\"\nk5,plain after quotes"
	got, err := readAll(t, in, CSV)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{Key: []byte("k1"), Value: []byte("v1")},
		{Key: []byte("k2"), Value: []byte("v2"), ExpireAt: 1767225600000},
		{Key: []byte("k3"), Value: []byte("quoted, with comma")},
		{Key: []byte("k4"), Value: []byte("multi\nline")},
		{Key: []byte("k5"), Value: []byte("plain after quotes")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) || got[i].ExpireAt != want[i].ExpireAt {
			t.Errorf("record %d: %q %q %d, want %q %q %d", i, got[i].Key, got[i].Value, got[i].ExpireAt, want[i].Key, want[i].Value, want[i].ExpireAt)
		}
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, format, in, want string
	}{
		{"one column", CSV, "k1\n", "want key,value"},
		{"four columns", CSV, "a,b,1,2\n", "want key,value"},
		{"bad expiry", CSV, "a,b,soon\n", "expire_at"},
		{"negative expiry", CSV, "a,b,-5\n", "expire_at"},
		{"not json", JSONL, "{nope\n", "jsonl line 1"},
		{"no key", JSONL, `{"value":"v"}`, "key"},
		{"two values", JSONL, `{"key":"k","value":"v","hash":{"f":"v"}}`, "one of value"},
		{"bad base64", JSONL, `{"key_base64":"!!","value":"v"}`, "key_base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(t, tc.in, tc.format)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
	if _, err := NewReader(strings.NewReader(""), "xml"); err == nil {
		t.Fatal("format xml accepted")
	}
}

// TestRoundTrip: what a Writer writes, a Reader reads back, binary bytes
// and hashes included (JSON lines), for both formats.
func TestRoundTrip(t *testing.T) {
	recs := []Record{
		{Key: []byte("plain"), Value: []byte("value")},
		{Key: []byte("exp"), Value: []byte("v,with,commas\nand \"quotes\""), ExpireAt: 1900000000000},
		{Key: []byte{0xff, 0x00, 'k'}, Value: []byte{0xfe, 0x01}},
		{Key: []byte("h"), Hash: [][]byte{[]byte("a"), []byte("1"), []byte("b"), []byte("2")}, Version: 7},
	}
	for _, format := range []string{CSV, JSONL} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, format)
			if err != nil {
				t.Fatal(err)
			}
			var want []Record
			for i := range recs {
				err := w.Write(&recs[i])
				if format == CSV && recs[i].Hash != nil {
					if !errors.Is(err, ErrHashInCSV) {
						t.Fatalf("hash as CSV: %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, recs[i])
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, buf.String(), format)
			if err != nil {
				t.Fatalf("%v\n%s", err, buf.String())
			}
			if len(got) != len(want) {
				t.Fatalf("read %d records, wrote %d:\n%s", len(got), len(want), buf.String())
			}
			for i := range want {
				g, w := got[i], want[i]
				if !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || g.ExpireAt != w.ExpireAt || len(g.Hash) != len(w.Hash) {
					t.Errorf("record %d: %+v, want %+v", i, g, w)
				}
				for j := range w.Hash {
					if !bytes.Equal(g.Hash[j], w.Hash[j]) {
						t.Errorf("record %d hash: %q, want %q", i, g.Hash, w.Hash)
					}
				}
				if format == JSONL && g.Version != w.Version {
					t.Errorf("record %d version %d, want %d", i, g.Version, w.Version)
				}
			}
		})
	}
}

// TestLoadSortsAndDedups: the loader groups by bucket, sorts by key, keeps
// the last of equal keys and skips expired records.
func TestLoadSortsAndDedups(t *testing.T) {
	in := "{b}3,x\n{b}1,old\n{b}2,y\n{b}1,new\n{b}9,gone,1000\n"
	rd, err := NewReader(strings.NewReader(in), CSV)
	if err != nil {
		t.Fatal(err)
	}
	l, err := load(rd, 5000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.records != 5 || l.expired != 1 {
		t.Fatalf("records %d expired %d", l.records, l.expired)
	}
	var b uint16
	for i := range l.buckets {
		if len(l.buckets[i]) > 0 {
			b = uint16(i)
		}
	}
	var got []string
	for _, i := range l.sorted(b) {
		e := l.ent(i)
		got = append(got, string(l.key(e))+"="+string(l.value(e)))
	}
	if strings.Join(got, " ") != "{b}1=new {b}2=y {b}3=x" {
		t.Fatalf("bucket %d: %v", b, got)
	}
}
