package history

import (
	"fmt"
	"strconv"
	"time"
)

// appendTSV appends rows in ClickHouse's TabSeparated format: the embedded
// engine takes inserts as SQL text, and TSV is the cheapest text format
// for it to parse. Every byte of a string survives: backslash, tab,
// newline, carriage return and NUL are escaped (NUL also because the text
// crosses into C as a NUL-terminated string).
func appendTSV(b []byte, t *Table, rows [][]any) ([]byte, error) {
	for _, r := range rows {
		if len(r) != len(t.Columns) {
			return b, fmt.Errorf("%s: row has %d values for %d columns", t.Name, len(r), len(t.Columns))
		}
		for i, c := range t.Columns {
			if i > 0 {
				b = append(b, '\t')
			}
			switch c.Kind {
			case kString:
				b = appendEscaped(b, r[i].(string))
			case kTime:
				b = appendTime(b, r[i].(time.Time))
			case kSec:
				b = appendTime(b, r[i].(time.Time))
				b = b[:len(b)-4] // no milliseconds
			case kU8:
				b = strconv.AppendUint(b, uint64(r[i].(uint8)), 10)
			case kU16:
				b = strconv.AppendUint(b, uint64(r[i].(uint16)), 10)
			case kU32:
				b = strconv.AppendUint(b, uint64(r[i].(uint32)), 10)
			case kU64:
				b = strconv.AppendUint(b, r[i].(uint64), 10)
			case kStrings:
				b = append(b, '[')
				for j, s := range r[i].([]string) {
					if j > 0 {
						b = append(b, ',')
					}
					// An array element is a quoted literal inside the TSV field:
					// quote and backslash escaped for the literal, then the
					// field's own escaping.
					b = append(b, '\'')
					b = appendEscapedQuoted(b, s)
					b = append(b, '\'')
				}
				b = append(b, ']')
			case kU32s:
				b = append(b, '[')
				for j, n := range r[i].([]uint32) {
					if j > 0 {
						b = append(b, ',')
					}
					b = strconv.AppendUint(b, uint64(n), 10)
				}
				b = append(b, ']')
			}
		}
		b = append(b, '\n')
	}
	return b, nil
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() || t.Unix() < 0 {
		return append(b, "1970-01-01 00:00:00.000"...)
	}
	return t.UTC().AppendFormat(b, "2006-01-02 15:04:05.000")
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0:
			b = append(b, '\\', '0')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendEscapedQuoted escapes s for a quoted literal inside a TSV field:
// the literal needs \\ and \', and the field escaping then doubles each
// backslash once more.
func appendEscapedQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\\\`...)
		case '\'':
			b = append(b, `\\'`...)
		case '\t':
			b = append(b, `\\t`...)
		case '\n':
			b = append(b, `\\n`...)
		case '\r':
			b = append(b, `\\r`...)
		case 0:
			b = append(b, `\\0`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
