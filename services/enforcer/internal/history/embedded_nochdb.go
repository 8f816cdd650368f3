//go:build !chdb

package history

// EmbeddedAvailable reports whether this binary links the embedded engine.
const EmbeddedAvailable = false

// OpenEmbedded fails: this binary was built without -tags chdb (importing
// chdb-go loads libchdb.so at start-up, so only the embedded build links it).
func OpenEmbedded(path, db string, readOnly bool) (Store, error) { return nil, ErrNoEmbedded }
