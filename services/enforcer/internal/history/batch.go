package history

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// batch is the rows of one flush, per table, each row tagged with the
// source (a Kafka partition, or a file) it came from.
type batch struct {
	rows  map[*Table][][]any
	src   map[*Table][]int
	n     int
	bytes int
}

func newBatch() *batch {
	return &batch{rows: map[*Table][][]any{}, src: map[*Table][]int{}}
}

func (b *batch) add(t *Table, src int, row []any, size int) {
	b.rows[t] = append(b.rows[t], row)
	b.src[t] = append(b.src[t], src)
	b.n++
	b.bytes += size
}

// checkChunk bounds the keys of one existence query (max_query_size is 256 KiB).
const checkChunk = 500

// insert writes the batch, table by table. Rows whose source is uncertain
// (the rows may already be stored: a retry after a failed or timed-out
// insert, the first batches after a crash or a partition changed hands, a
// file loaded again) are first checked by key against the table and the
// stored ones dropped, so a row is never stored twice, on either dialect
// (18.16 has no insert deduplication tokens). It returns, per uncertain
// source, whether its last row was already stored (then the next batch from
// it must be checked too) and the rows written per table.
func insert(ctx context.Context, s Store, b *batch, uncertain func(src int) bool, timeout time.Duration) (stillUncertain map[int]bool, written map[string]int, err error) {
	stillUncertain = map[int]bool{}
	written = map[string]int{}
	for _, t := range Tables {
		rows := b.rows[t]
		if len(rows) == 0 {
			continue
		}
		srcs := b.src[t]
		if t.Key >= 0 {
			var check [][]any
			var checkIdx []int
			for i, r := range rows {
				if uncertain(srcs[i]) {
					check = append(check, r)
					checkIdx = append(checkIdx, i)
				}
			}
			if len(check) > 0 {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				stored, err := existing(cctx, s, t, check)
				cancel()
				if err != nil {
					return nil, nil, fmt.Errorf("check %s for stored rows: %w", t.Name, err)
				}
				if len(stored) > 0 {
					drop := make(map[int]bool, len(stored))
					for _, i := range checkIdx {
						if stored[rows[i][t.Key].(string)] {
							drop[i] = true
						}
					}
					last := map[int]int{}
					for _, i := range checkIdx {
						last[srcs[i]] = i
					}
					for src, i := range last {
						if drop[i] {
							stillUncertain[src] = true
						}
					}
					kept := make([][]any, 0, len(rows)-len(drop))
					for i, r := range rows {
						if !drop[i] {
							kept = append(kept, r)
						}
					}
					rows = kept
				}
			}
		}
		if len(rows) == 0 {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, timeout)
		err := s.Insert(ictx, t, rows)
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("insert %d rows into %s: %w", len(rows), t.Name, err)
		}
		written[t.Name] += len(rows)
	}
	return stillUncertain, written, nil
}

// existing returns which keys of rows t already holds. Keys go into the
// query as hex digits only (hex(key) IN ('..')), within the rows' time range.
func existing(ctx context.Context, s Store, t *Table, rows [][]any) (map[string]bool, error) {
	lo, hi := rows[0][0].(time.Time), rows[0][0].(time.Time)
	for _, r := range rows {
		ts := r[0].(time.Time)
		if ts.Before(lo) {
			lo = ts
		}
		if ts.After(hi) {
			hi = ts
		}
	}
	if lo.Unix() < 0 {
		lo = time.Unix(0, 0)
	}
	key := t.Columns[t.Key].Name
	out := map[string]bool{}
	for start := 0; start < len(rows); start += checkChunk {
		end := min(start+checkChunk, len(rows))
		var b strings.Builder
		fmt.Fprintf(&b, "SELECT %s FROM %s.%s WHERE ts >= toDateTime(%d) AND ts < toDateTime(%d) AND hex(%s) IN (",
			key, s.Database(), t.Name, lo.Unix(), hi.Unix()+1, key)
		for i, r := range rows[start:end] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('\'')
			b.WriteString(strings.ToUpper(hex.EncodeToString([]byte(r[t.Key].(string)))))
			b.WriteByte('\'')
		}
		b.WriteByte(')')
		res, err := s.Query(ctx, b.String(), nil)
		if err != nil {
			return nil, err
		}
		for _, r := range res.Rows {
			out[fmt.Sprint(r[0])] = true
		}
	}
	return out, nil
}
