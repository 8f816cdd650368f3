package history

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

//go:embed pack/*.sql
var packFS embed.FS

// PackQuery is one question of the query pack: pack/<name>.sql. Its
// leading comment documents it; lines "-- param NAME Type [= default]: text"
// declare its parameters, used in the SQL as {NAME:Type}.
type PackQuery struct {
	Name   string
	Doc    string
	Params []PackParam
	SQL    string
}

// PackParam is one declared parameter.
type PackParam struct {
	Name, Type, Default, Doc string
	Required                 bool
}

var paramLineRe = regexp.MustCompile(`^--\s*param\s+([A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z0-9()]+)(?:\s*=\s*([^:]*?))?\s*:\s*(.*)$`)

// Pack returns the query pack, by name.
func Pack() (map[string]*PackQuery, error) {
	files, err := fs.Glob(packFS, "pack/*.sql")
	if err != nil {
		return nil, err
	}
	out := map[string]*PackQuery{}
	for _, f := range files {
		b, err := packFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		q := &PackQuery{Name: strings.TrimSuffix(path.Base(f), ".sql"), SQL: string(b)}
		var doc []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "--") {
				break
			}
			if m := paramLineRe.FindStringSubmatch(l); m != nil {
				q.Params = append(q.Params, PackParam{Name: m[1], Type: m[2], Default: m[3], Doc: m[4], Required: m[3] == ""})
				continue
			}
			doc = append(doc, strings.TrimSpace(strings.TrimPrefix(l, "--")))
		}
		q.Doc = strings.Join(doc, " ")
		out[q.Name] = q
	}
	return out, nil
}

// PackNames lists the pack's queries, sorted.
func PackNames() []string {
	p, _ := Pack()
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Bind fills the query's parameters: given values, else the defaults.
func (q *PackQuery) Bind(given map[string]string) (string, error) {
	vals := map[string]string{}
	declared := map[string]bool{}
	for _, p := range q.Params {
		declared[p.Name] = true
		if v, ok := given[p.Name]; ok {
			vals[p.Name] = v
		} else if !p.Required {
			vals[p.Name] = p.Default
		} else {
			return "", fmt.Errorf("pack query %s needs --param %s=... (%s)", q.Name, p.Name, p.Doc)
		}
	}
	for k := range given {
		if !declared[k] {
			return "", fmt.Errorf("pack query %s has no parameter %s", q.Name, k)
		}
	}
	return Bind(q.SQL, vals)
}
