package history

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// settings renders the limits as a SETTINGS list (without readonly).
func (ro *ReadOnly) settings() string {
	secs := int(math.Ceil(ro.Timeout.Seconds()))
	if secs < 1 {
		secs = 1
	}
	rows := ro.MaxRows
	if rows < 1 {
		rows = 1
	}
	return fmt.Sprintf("max_execution_time = %d, max_result_rows = %d, result_overflow_mode = 'break'", secs, rows)
}

// ErrNotReadOnly is wrapped by CheckReadOnly.
var ErrNotReadOnly = errors.New("history query is read-only")

// readStarts are the statements an analyst may run.
var readStarts = map[string]bool{"SELECT": true, "WITH": true, "SHOW": true, "DESCRIBE": true, "DESC": true, "EXPLAIN": true, "EXISTS": true}

// refused are words the query may not hold outside quotes: FORMAT (the
// output format is ours), INTO (INTO OUTFILE writes files), SETTINGS (the
// engine runs it with readonly=1, which forbids changing settings anyway).
var refused = map[string]bool{"FORMAT": true, "INTO": true, "OUTFILE": true, "SETTINGS": true}

// CheckReadOnly is the first of two locks on analysts' SQL: one statement,
// starting with SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS, without
// FORMAT, INTO or SETTINGS, with every quote and comment closed. The second
// lock is the engine's: the query runs with readonly=1 (no writes, no DDL,
// no table functions, no changing settings).
func CheckReadOnly(sql string) error {
	toks, err := scan(sql)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotReadOnly, err)
	}
	var words []token
	for _, t := range toks {
		if t.kind == tokWord || t.kind == tokSemicolon {
			words = append(words, t)
		}
	}
	if len(words) == 0 {
		return fmt.Errorf("%w: empty query", ErrNotReadOnly)
	}
	first := strings.ToUpper(words[0].text)
	if !readStarts[first] {
		return fmt.Errorf("%w: %s statements are refused (only SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)", ErrNotReadOnly, first)
	}
	for i, w := range words {
		if w.kind == tokSemicolon {
			if i != len(words)-1 {
				return fmt.Errorf("%w: one statement only", ErrNotReadOnly)
			}
			continue
		}
		if u := strings.ToUpper(w.text); refused[u] {
			return fmt.Errorf("%w: %s is refused", ErrNotReadOnly, u)
		}
	}
	return nil
}

type tokKind int

const (
	tokWord      tokKind = iota // bare word or number
	tokString                   // '...'
	tokIdent                    // "..." or `...`
	tokParam                    // {name:Type}
	tokSemicolon                // ;
	tokOther                    // punctuation, white space, comments
)

type token struct {
	kind       tokKind
	text       string
	start, end int
}

// scan splits SQL into tokens the way ClickHouse's lexer does for what
// matters here: quotes with backslash escapes and doubled quotes, -- # and
// /* */ comments, {name:Type} parameters. An unclosed quote or comment, a
// NUL or a $ (heredoc) is an error.
func scan(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0:
			return nil, errors.New("NUL in query")
		case c == '$':
			return nil, errors.New("$ outside quotes (heredocs are refused)")
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			closed := false
			for j < len(s) {
				if s[j] == '\\' {
					j += 2
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				j++
			}
			if !closed {
				return nil, errors.New("unclosed quote")
			}
			k := tokString
			if c != '\'' {
				k = tokIdent
			}
			out = append(out, token{k, s[i:j], i, j})
			i = j
		case c == '-' && i+1 < len(s) && s[i+1] == '-', c == '#':
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				j = len(s) - i
			}
			out = append(out, token{tokOther, s[i : i+j], i, i + j})
			i += j
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return nil, errors.New("unclosed comment")
			}
			out = append(out, token{tokOther, s[i : i+2+j+2], i, i + j + 4})
			i += j + 4
		case c == ';':
			out = append(out, token{tokSemicolon, ";", i, i + 1})
			i++
		case c == '{':
			j := strings.IndexByte(s[i:], '}')
			if j > 0 && paramRe.MatchString(s[i:i+j+1]) {
				out = append(out, token{tokParam, s[i : i+j+1], i, i + j + 1})
				i += j + 1
				continue
			}
			out = append(out, token{tokOther, "{", i, i + 1})
			i++
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			out = append(out, token{tokWord, s[i:j], i, j})
			i = j
		default:
			out = append(out, token{tokOther, s[i : i+1], i, i + 1})
			i++
		}
	}
	return out, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
