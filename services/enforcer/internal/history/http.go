package history

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// QueryPath is the enforcer's read-only query endpoint on http.addr.
const QueryPath = "/history/query"

// Handler serves QueryPath over the live store: form fields sql or pack,
// param_NAME=value for parameters. The answer is the Result as JSON
// (columns, types, rows). Queries run read-only (RunQuery); bind http.addr
// to loopback or put it behind a proxy with authentication.
func Handler(s Store, ro ReadOnly) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodGet {
			http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		params := map[string]string{}
		for k, v := range r.Form {
			if name, ok := strings.CutPrefix(k, "param_"); ok && len(v) > 0 {
				params[name] = v[0]
			}
		}
		var res *Result
		var err error
		switch sql, pack := r.Form.Get("sql"), r.Form.Get("pack"); {
		case sql != "" && pack == "":
			res, err = RunQuery(r.Context(), s, sql, params, ro)
		case pack != "" && sql == "":
			res, err = RunPack(r.Context(), s, pack, params, ro)
		default:
			http.Error(w, "give sql or pack", http.StatusBadRequest)
			return
		}
		if err != nil {
			code := http.StatusBadRequest
			if errors.Is(err, ErrNotReadOnly) {
				code = http.StatusForbidden
			}
			http.Error(w, err.Error(), code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
}
