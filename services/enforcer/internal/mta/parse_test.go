package mta

import (
	"bytes"
	"fmt"
	"strings"
)

// These parsers read map files the way the MTAs do (postmap(1) for
// Postfix, src/lookups/lsearch.c for Exim), and are stricter where our
// writers promise more: no continuation lines, no CR or NUL, no
// duplicate keys, a final newline. They return key → value.

func parsePostfix(body []byte) (map[string]string, error) {
	out := map[string]string{}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		return nil, fmt.Errorf("no final newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		if strings.ContainsAny(line, "\r\x00") {
			return nil, fmt.Errorf("line %d: CR or NUL", i+1)
		}
		trimmed := strings.TrimLeft(line, " \t\f\v")
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if trimmed != line {
			return nil, fmt.Errorf("line %d: continuation line %q", i+1, line)
		}
		key, value, _ := strings.Cut(line, " ")
		if strings.ContainsAny(key, "\t\f\v") {
			return nil, fmt.Errorf("line %d: key with white space", i+1)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", i+1, key)
		}
		out[key] = strings.TrimSpace(value)
	}
	return out, nil
}

func parseExim(body []byte) (map[string]string, error) {
	out := map[string]string{}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		return nil, fmt.Errorf("no final newline")
	}
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' }
	for i, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		if bytes.ContainsAny(line, "\r\x00") {
			return nil, fmt.Errorf("line %d: CR or NUL", i+1)
		}
		for len(line) > 0 && isSpace(line[len(line)-1]) {
			line = line[:len(line)-1]
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if isSpace(line[0]) {
			return nil, fmt.Errorf("line %d: continuation line %q", i+1, line)
		}
		var key []byte
		s := 0
		if line[0] == '"' {
			s = 1
			for s < len(line) && line[s] != '"' {
				if line[s] == '\\' {
					s++
					if s >= len(line) || (line[s] != '\\' && line[s] != '"') {
						return nil, fmt.Errorf("line %d: escape we never write", i+1)
					}
				}
				key = append(key, line[s])
				s++
			}
			if s >= len(line) {
				return nil, fmt.Errorf("line %d: unterminated quoted key", i+1)
			}
			s++
		} else {
			for s < len(line) && line[s] != ':' && !isSpace(line[s]) {
				s++
			}
			key = line[:s]
		}
		for s < len(line) && isSpace(line[s]) {
			s++
		}
		if s < len(line) && line[s] == ':' {
			s++
			for s < len(line) && isSpace(line[s]) {
				s++
			}
		}
		k := strings.ToLower(string(key)) // lsearch matches case-insensitively
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", i+1, k)
		}
		out[k] = string(line[s:])
	}
	return out, nil
}

// parseEximList reads an exim-list file as lsearch does and maps the
// "*@domain" keys back onto the domain, refusing keys wildlsearch would
// read as a pattern.
func parseEximList(body []byte) (map[string]string, error) {
	m, err := parseExim(body)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if strings.HasPrefix(k, "*@") {
			k = k[2:]
		} else if k != "" && (k[0] == '^' || k[0] == '*') {
			return nil, fmt.Errorf("key %q is a pattern", k)
		}
		out[k] = v
	}
	return out, nil
}
