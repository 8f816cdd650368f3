package history

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// appendRowBinary appends rows in ClickHouse's RowBinary format (the
// embedded engine reads it from a file: no text parsing, every byte of a
// string kept as is).
func appendRowBinary(b []byte, t *Table, rows [][]any) ([]byte, error) {
	for _, r := range rows {
		if len(r) != len(t.Columns) {
			return b, fmt.Errorf("%s: row has %d values for %d columns", t.Name, len(r), len(t.Columns))
		}
		for i, c := range t.Columns {
			switch c.Kind {
			case kString:
				s := r[i].(string)
				b = binary.AppendUvarint(b, uint64(len(s)))
				b = append(b, s...)
			case kTime:
				b = binary.LittleEndian.AppendUint64(b, uint64(unixMilli(r[i].(time.Time))))
			case kSec:
				b = binary.LittleEndian.AppendUint32(b, uint32(unixMilli(r[i].(time.Time))/1000))
			case kU8:
				b = append(b, r[i].(uint8))
			case kU16:
				b = binary.LittleEndian.AppendUint16(b, r[i].(uint16))
			case kU32:
				b = binary.LittleEndian.AppendUint32(b, r[i].(uint32))
			case kU64:
				b = binary.LittleEndian.AppendUint64(b, r[i].(uint64))
			case kStrings:
				ss := r[i].([]string)
				b = binary.AppendUvarint(b, uint64(len(ss)))
				for _, s := range ss {
					b = binary.AppendUvarint(b, uint64(len(s)))
					b = append(b, s...)
				}
			case kU32s:
				ns := r[i].([]uint32)
				b = binary.AppendUvarint(b, uint64(len(ns)))
				for _, n := range ns {
					b = binary.LittleEndian.AppendUint32(b, n)
				}
			}
		}
	}
	return b, nil
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return t.UnixMilli()
}

// structure is t's columns as a file() structure argument.
func (t *Table) structure() string {
	parts := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		typ := map[colKind]string{kString: "String", kTime: "DateTime64(3, 'UTC')", kSec: "DateTime('UTC')", kU8: "UInt8",
			kU16: "UInt16", kU32: "UInt32", kU64: "UInt64", kStrings: "Array(String)", kU32s: "Array(UInt32)"}[c.Kind]
		parts[i] = c.Name + " " + typ
	}
	return strings.Join(parts, ", ")
}
