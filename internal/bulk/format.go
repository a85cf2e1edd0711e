// Package bulk moves whole namespaces in and out of a Granary cluster: the
// file formats of granary import and export (CSV and JSON lines), the
// importer that turns a file into sorted per-bucket files of the disk engine
// and has each bucket's primary ingest them (GRANARY.INGEST), and the
// exporter that writes a namespace back out in the same formats.
package bulk

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Formats.
const (
	CSV   = "csv"   // key,value[,expire_at]: RFC 4180, one item per row
	JSONL = "jsonl" // one JSON object per line (see Record)
)

// Record is one item of a file.
//
// In JSON lines: {"key": "k", "value": "v", "expire_at": 1767225600000}.
// Keys and values that are not valid UTF-8 are written as "key_base64" and
// "value_base64"; a hash is {"key": "h", "hash": {"field": "value", ...}};
// "version" carries a Tair version. In CSV: key, value and an optional
// third column expire_at; hashes cannot be written to CSV.
//
// ExpireAt is absolute, in Unix milliseconds (0: none), as EXPIRETIME's.
type Record struct {
	Key      []byte
	Value    []byte
	Hash     [][]byte // field, value, field, value, ... (a hash instead of Value)
	ExpireAt int64
	Version  uint64
}

type jsonRecord struct {
	Key         *string           `json:"key,omitempty"`
	KeyBase64   *string           `json:"key_base64,omitempty"`
	Value       *string           `json:"value,omitempty"`
	ValueBase64 *string           `json:"value_base64,omitempty"`
	Hash        map[string]string `json:"hash,omitempty"`
	ExpireAt    int64             `json:"expire_at,omitempty"`
	Version     uint64            `json:"version,omitempty"`
}

// Reader reads records from a file.
type Reader struct {
	format string
	csv    *csv.Reader
	lines  *bufio.Scanner
	line   int
	br     *bufio.Reader // CSV: the input, read by line while no row is quoted
	fields [3][]byte
	// borrow lets Next return slices into its buffer, valid until the
	// next call, where it can (the loader copies them anyway).
	borrow bool
}

// NewReader reads format (CSV or JSONL) from r.
func NewReader(r io.Reader, format string) (*Reader, error) {
	rd := &Reader{format: format}
	switch format {
	case CSV:
		rd.br = bufio.NewReaderSize(r, 1<<20)
	case JSONL:
		rd.lines = bufio.NewScanner(bufio.NewReaderSize(r, 1<<20))
		rd.lines.Buffer(make([]byte, 1<<20), 1<<30)
	default:
		return nil, fmt.Errorf("format %q: want %q or %q", format, CSV, JSONL)
	}
	return rd, nil
}

// Next reads the next record into rec (its slices are fresh copies, unless
// the reader borrows). It returns io.EOF at the end.
func (rd *Reader) Next(rec *Record) error {
	*rec = Record{}
	if rd.format == CSV {
		if rd.csv == nil {
			if ok, err := rd.fastCSV(rec); ok || err != nil {
				return err
			}
		}
		row, err := rd.csv.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("csv: %w", err)
		}
		line, _ := rd.csv.FieldPos(0)
		if len(row) < 2 || len(row) > 3 {
			return fmt.Errorf("csv line %d: %d columns, want key,value[,expire_at]", line, len(row))
		}
		rec.Key, rec.Value = []byte(row[0]), []byte(row[1])
		if len(row) == 3 && row[2] != "" {
			if rec.ExpireAt, err = strconv.ParseInt(row[2], 10, 64); err != nil || rec.ExpireAt < 0 {
				return fmt.Errorf("csv line %d: expire_at %q: want Unix milliseconds", line, row[2])
			}
		}
		return nil
	}
	for {
		if !rd.lines.Scan() {
			if err := rd.lines.Err(); err != nil {
				return fmt.Errorf("jsonl line %d: %w", rd.line+1, err)
			}
			return io.EOF
		}
		rd.line++
		if len(rd.lines.Bytes()) == 0 {
			continue
		}
		var jr jsonRecord
		if err := json.Unmarshal(rd.lines.Bytes(), &jr); err != nil {
			return fmt.Errorf("jsonl line %d: %w", rd.line, err)
		}
		return rd.fromJSON(&jr, rec)
	}
}

// fastCSV reads the next row when it has no quote: most rows of most
// files, split on commas without encoding/csv's general machinery. At the
// first quoted row it hands the rest of the input to encoding/csv (which
// then reads that row) and reports false.
func (rd *Reader) fastCSV(rec *Record) (bool, error) {
	for {
		line, err := rd.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || bytes.IndexByte(line, '"') >= 0 {
			// A quoted row (or a huge one): encoding/csv from here on.
			rd.csv = csv.NewReader(io.MultiReader(bytes.NewReader(slices.Clone(line)), rd.br))
			rd.csv.FieldsPerRecord = -1
			rd.csv.ReuseRecord = true
			return false, nil
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return true, io.EOF
			}
			return true, fmt.Errorf("csv: %w", err)
		}
		rd.line++
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if err != nil {
				return true, io.EOF
			}
			continue // encoding/csv skips empty lines too
		}
		n := 0
		for n < 3 {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				rd.fields[n] = line
				n++
				line = nil
				break
			}
			rd.fields[n] = line[:i]
			line = line[i+1:]
			n++
		}
		if line != nil || n < 2 {
			return true, fmt.Errorf("csv line %d: want key,value[,expire_at]", rd.line)
		}
		rec.Key, rec.Value = rd.fields[0], rd.fields[1]
		if !rd.borrow {
			rec.Key, rec.Value = slices.Clone(rec.Key), slices.Clone(rec.Value)
		}
		if n == 3 && len(rd.fields[2]) > 0 {
			rec.ExpireAt, err = strconv.ParseInt(string(rd.fields[2]), 10, 64)
			if err != nil || rec.ExpireAt < 0 {
				return true, fmt.Errorf("csv line %d: expire_at %q: want Unix milliseconds", rd.line, rd.fields[2])
			}
		}
		return true, nil
	}
}

func (rd *Reader) fromJSON(jr *jsonRecord, rec *Record) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("jsonl line %d: "+format, append([]any{rd.line}, a...)...)
	}
	var err error
	switch {
	case jr.Key != nil && jr.KeyBase64 == nil:
		rec.Key = []byte(*jr.Key)
	case jr.KeyBase64 != nil && jr.Key == nil:
		if rec.Key, err = base64.StdEncoding.DecodeString(*jr.KeyBase64); err != nil {
			return bad("key_base64: %v", err)
		}
	default:
		return bad("want one of key and key_base64")
	}
	n := 0
	if jr.Value != nil {
		rec.Value = []byte(*jr.Value)
		n++
	}
	if jr.ValueBase64 != nil {
		if rec.Value, err = base64.StdEncoding.DecodeString(*jr.ValueBase64); err != nil {
			return bad("value_base64: %v", err)
		}
		n++
	}
	if jr.Hash != nil {
		fields := make([]string, 0, len(jr.Hash))
		for f := range jr.Hash {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		for _, f := range fields {
			rec.Hash = append(rec.Hash, []byte(f), []byte(jr.Hash[f]))
		}
		n++
	}
	if n != 1 {
		return bad("want one of value, value_base64 and hash")
	}
	if jr.ExpireAt < 0 {
		return bad("expire_at %d: want Unix milliseconds", jr.ExpireAt)
	}
	rec.ExpireAt, rec.Version = jr.ExpireAt, jr.Version
	return nil
}

// Writer writes records to a file.
type Writer struct {
	format string
	w      *bufio.Writer
	csv    *csv.Writer
	row    []string
}

// NewWriter writes format (CSV or JSONL) to w; call Flush at the end.
func NewWriter(w io.Writer, format string) (*Writer, error) {
	wr := &Writer{format: format, w: bufio.NewWriterSize(w, 1<<20)}
	switch format {
	case CSV:
		wr.csv = csv.NewWriter(wr.w)
	case JSONL:
	default:
		return nil, fmt.Errorf("format %q: want %q or %q", format, CSV, JSONL)
	}
	return wr, nil
}

// ErrHashInCSV is returned for a hash written as CSV.
var ErrHashInCSV = errors.New("a hash cannot be written as CSV (use jsonl)")

// Write writes one record.
func (wr *Writer) Write(rec *Record) error {
	if wr.format == CSV {
		if rec.Hash != nil {
			return ErrHashInCSV
		}
		wr.row = append(wr.row[:0], string(rec.Key), string(rec.Value))
		if rec.ExpireAt != 0 {
			wr.row = append(wr.row, strconv.FormatInt(rec.ExpireAt, 10))
		}
		return wr.csv.Write(wr.row)
	}
	var jr jsonRecord
	text := func(b []byte) (*string, *string) {
		s := string(b)
		if utf8.ValidString(s) {
			return &s, nil
		}
		e := base64.StdEncoding.EncodeToString(b)
		return nil, &e
	}
	jr.Key, jr.KeyBase64 = text(rec.Key)
	if rec.Hash != nil {
		jr.Hash = make(map[string]string, len(rec.Hash)/2)
		for i := 0; i+1 < len(rec.Hash); i += 2 {
			jr.Hash[string(rec.Hash[i])] = string(rec.Hash[i+1])
		}
	} else {
		jr.Value, jr.ValueBase64 = text(rec.Value)
	}
	jr.ExpireAt, jr.Version = rec.ExpireAt, rec.Version
	b, err := json.Marshal(&jr)
	if err != nil {
		return err
	}
	wr.w.Write(b)
	return wr.w.WriteByte('\n')
}

// Flush writes out what is buffered.
func (wr *Writer) Flush() error {
	if wr.csv != nil {
		wr.csv.Flush()
		if err := wr.csv.Error(); err != nil {
			return err
		}
	}
	return wr.w.Flush()
}
