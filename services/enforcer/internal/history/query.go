package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

// RunQuery runs an analyst's SQL read-only: CheckReadOnly, then the
// parameters bound (Bind), then the engine with readonly=1 and the limits.
func RunQuery(ctx context.Context, s Store, sql string, params map[string]string, ro ReadOnly) (*Result, error) {
	if err := CheckReadOnly(sql); err != nil {
		return nil, err
	}
	bound, err := Bind(sql, params)
	if err != nil {
		return nil, err
	}
	return s.Query(ctx, bound, &ro)
}

// RunPack runs the pack query name with params (defaults fill the rest).
func RunPack(ctx context.Context, s Store, name string, params map[string]string, ro ReadOnly) (*Result, error) {
	p, err := Pack()
	if err != nil {
		return nil, err
	}
	q, ok := p[name]
	if !ok {
		return nil, fmt.Errorf("no pack query %q (have %s)", name, strings.Join(PackNames(), ", "))
	}
	bound, err := q.Bind(params)
	if err != nil {
		return nil, err
	}
	if err := CheckReadOnly(bound); err != nil {
		return nil, err
	}
	return s.Query(ctx, bound, &ro)
}

// WriteJSONLines writes one JSON object per row, keys in column order.
// Strings are JSON-escaped (control characters, quotes, <, >, &, U+2028).
func WriteJSONLines(w io.Writer, r *Result) error {
	var b bytes.Buffer
	for _, row := range r.Rows {
		b.Reset()
		b.WriteByte('{')
		for i, v := range row {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(r.Columns[i])
			b.Write(k)
			b.WriteByte(':')
			vb, err := json.Marshal(v)
			if err != nil {
				vb, _ = json.Marshal(fmt.Sprint(v))
			}
			b.Write(vb)
		}
		b.WriteString("}\n")
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes an aligned table; a value holding anything but
// printable characters is shown quoted with Go escapes, so no value can
// break a line or move the cursor.
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cellAll(r.Columns), "\t"))
	for _, row := range r.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = cell(v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func cellAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = cell(s)
	}
	return out
}

func cell(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		s = x
	case json.Number:
		return x.String()
	default:
		if b, err := json.Marshal(x); err == nil {
			s = string(b)
		} else {
			s = fmt.Sprint(x)
		}
	}
	for _, c := range s {
		if !unicode.IsPrint(c) || c == '\t' {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}
