package detector

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Allowlist answers whether a subject must never be banned.
type Allowlist interface {
	// Allowed reports whether an entry for kind:subject is in force at
	// at (event time of the crossing). It may be called concurrently
	// with updates.
	Allowed(kind event.SubjectKind, subject string, at time.Time) bool
}

// Allow is the detector's allowlist: the configuration's entries (never
// expiring) plus the entries of the compacted mail.allowlist topic, which
// the service applies as it reads them (a tombstone removes one). Keys are
// event.BanKey(kind, subject), lower-cased. Safe for concurrent use.
type Allow struct {
	mu     sync.RWMutex
	config map[string]struct{}
	topic  map[string]event.AllowEntry
}

// NewAllow builds an allowlist from "kind:subject" entries.
func NewAllow(entries []string) (*Allow, error) {
	a := &Allow{config: map[string]struct{}{}, topic: map[string]event.AllowEntry{}}
	for _, e := range entries {
		k, err := parseAllowEntry(e)
		if err != nil {
			return nil, err
		}
		a.config[k] = struct{}{}
	}
	return a, nil
}

func parseAllowEntry(e string) (string, error) {
	kind, subject, ok := strings.Cut(strings.TrimSpace(e), ":")
	ae := event.AllowEntry{Kind: event.SubjectKind(kind), Subject: subject}
	if !ok {
		return "", fmt.Errorf("allowlist entry %q: want kind:subject, e.g. sender:billing@example.com", e)
	}
	if err := ae.Validate(); err != nil {
		return "", fmt.Errorf("allowlist entry %q: %w", e, err)
	}
	return ae.Key(), nil
}

// Allowed implements Allowlist.
func (a *Allow) Allowed(kind event.SubjectKind, subject string, at time.Time) bool {
	if subject == "" {
		return false
	}
	k := event.BanKey(kind, subject)
	a.mu.RLock()
	defer a.mu.RUnlock()
	if _, ok := a.config[k]; ok {
		return true
	}
	e, ok := a.topic[k]
	return ok && e.Active(at)
}

// Put applies one record of the allowlist topic: an entry, or (value nil)
// a tombstone removing key.
func (a *Allow) Put(key string, e *event.AllowEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e == nil {
		delete(a.topic, strings.ToLower(key))
		return
	}
	a.topic[e.Key()] = *e
}

// Len is the number of entries (configuration and topic).
func (a *Allow) Len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.config) + len(a.topic)
}
