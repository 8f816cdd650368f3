package desk

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"sync"
	"time"
)

// cookieName is the staff session cookie (HttpOnly, SameSite=Strict,
// Path=/staff).
const cookieName = "mxwarden_desk"

// maxSessions bounds the staff sessions kept; the oldest go first.
const maxSessions = 1000

// session is one staff login: who (the API token's name), with which role,
// and the CSRF token its forms carry.
type session struct {
	name, role, csrf string
	expires          time.Time
}

type sessions struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[[32]byte]*session // by SHA-256 of the cookie value
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, m: map[[32]byte]*session{}}
}

// create starts a session and returns its cookie value.
func (s *sessions) create(name, role string) (string, *session) {
	id := randomHex(32)
	se := &session{name: name, role: role, csrf: randomHex(16), expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.m {
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	for len(s.m) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, v := range s.m {
			if at.IsZero() || v.expires.Before(at) {
				oldest, at = k, v.expires
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = se
	return id, se
}

// get returns the session of r's cookie, nil when none or expired.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) != 64 {
		return nil
	}
	k := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[k]
	if !ok {
		return nil
	}
	if s.now().After(se.expires) {
		delete(s.m, k)
		return nil
	}
	cp := *se
	return &cp
}

func (s *sessions) drop(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.mu.Lock()
		delete(s.m, sha256.Sum256([]byte(c.Value)))
		s.mu.Unlock()
	}
}

// checkCSRF reports whether the form's csrf field is the session's.
func (se *session) checkCSRF(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(se.csrf)) == 1
}
