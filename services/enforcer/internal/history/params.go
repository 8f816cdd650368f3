package history

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// paramRe is a ClickHouse query parameter: {name:Type}.
var paramRe = regexp.MustCompile(`^\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([A-Za-z0-9_(), ']+?)\s*\}$`)

// paramTypeRe are the types a parameter may have.
var paramTypeRe = regexp.MustCompile(`^(Nullable\()?(String|U?Int(8|16|32|64)|Float(32|64)|Date|DateTime|UUID|IPv4|IPv6)\)?$`)

// Bind replaces each {name:Type} parameter outside quotes and comments by
// CAST(unhex('<hex of the value>') AS Type): the value reaches the engine
// as hex digits only, so no value can be read as SQL, on every engine
// (ClickHouse 18.16 has no server-side query parameters and chDB's API
// takes text). A parameter without a value, or a value no parameter uses,
// is an error.
func Bind(sql string, params map[string]string) (string, error) {
	toks, err := scan(sql)
	if err != nil {
		return "", err
	}
	used := map[string]bool{}
	var b strings.Builder
	last := 0
	for _, t := range toks {
		if t.kind != tokParam {
			continue
		}
		m := paramRe.FindStringSubmatch(t.text)
		name, typ := m[1], strings.ReplaceAll(m[2], " ", "")
		if !paramTypeRe.MatchString(typ) {
			return "", fmt.Errorf("parameter %s: type %s is not supported", name, typ)
		}
		v, ok := params[name]
		if !ok {
			return "", fmt.Errorf("parameter %s (%s) has no value: pass --param %s=VALUE", name, typ, name)
		}
		used[name] = true
		b.WriteString(sql[last:t.start])
		fmt.Fprintf(&b, "CAST(unhex('%s') AS %s)", strings.ToUpper(hex.EncodeToString([]byte(v))), typ)
		last = t.end
	}
	b.WriteString(sql[last:])
	var unused []string
	for k := range params {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return "", fmt.Errorf("parameter %s is not used by the query", strings.Join(unused, ", "))
	}
	return b.String(), nil
}
