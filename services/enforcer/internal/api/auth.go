package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Roles.
const (
	RoleRead  = "read"  // list, show, lookup
	RoleAdmin = "admin" // also ban, unban, allow, disallow
)

// MinTokenLen is the shortest token accepted in configuration.
const MinTokenLen = 16

// Token is one API credential.
type Token struct {
	// Name identifies the holder; it is recorded as the actor of changes.
	Name string `koanf:"name" json:"name"`
	// Role is "read" or "admin".
	Role string `koanf:"role" json:"role"`
	// Token is the secret sent as "Authorization: Bearer <token>".
	Token Secret `koanf:"token" json:"token"`
}

// Secret is a string that never prints: `enforcer check` and logs show
// "<redacted>".
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return "<redacted>" }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"<redacted>"`), nil }

// Validate checks one token entry.
func (t Token) Validate() error {
	var errs []error
	if t.Name == "" || strings.ContainsFunc(t.Name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' }) || len(t.Name) > 64 {
		errs = append(errs, fmt.Errorf("name %q: want 1-64 printable characters without spaces or '/'", t.Name))
	}
	if t.Role != RoleRead && t.Role != RoleAdmin {
		errs = append(errs, fmt.Errorf("token %q: role %q: want read or admin", t.Name, t.Role))
	}
	if len(t.Token) < MinTokenLen || strings.ContainsFunc(string(t.Token), func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		errs = append(errs, fmt.Errorf("token %q: the secret must be at least %d printable characters without spaces", t.Name, MinTokenLen))
	}
	return errors.Join(errs...)
}

// LoadTokenFile reads a token file: one token per line as
// "<name> <role> <secret>", '#' starts a comment line, blank lines are
// skipped. Errors name the line, never the secret.
func LoadTokenFile(path string) ([]Token, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	var out []Token
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"<name> <role> <secret>\"", path, n)
		}
		t := Token{Name: f[0], Role: f[1], Token: Secret(f[2])}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

// Authenticator checks bearer tokens.
type Authenticator struct {
	tokens []hashed
}

type hashed struct {
	name, role string
	sum        [sha256.Size]byte
}

// NewAuthenticator returns an authenticator over tokens; duplicate names
// or secrets are errors.
func NewAuthenticator(tokens []Token) (*Authenticator, error) {
	a := &Authenticator{}
	names := map[string]bool{}
	secrets := map[[sha256.Size]byte]bool{}
	for _, t := range tokens {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(t.Token))
		if names[t.Name] || secrets[sum] {
			return nil, fmt.Errorf("token %q: duplicate name or secret", t.Name)
		}
		names[t.Name], secrets[sum] = true, true
		a.tokens = append(a.tokens, hashed{t.Name, t.Role, sum})
	}
	return a, nil
}

// Len returns the number of tokens.
func (a *Authenticator) Len() int { return len(a.tokens) }

// Check returns the name and role of the token in an Authorization header
// value ("Bearer <token>"), or ErrUnauthorized. The secret is hashed and
// compared with every configured token in constant time, so neither the
// position of a match nor a common prefix shows in the timing.
func (a *Authenticator) Check(header string) (name, role string, err error) {
	scheme, secret, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return "", "", ErrUnauthorized
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	found := -1
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", "", ErrUnauthorized
	}
	return a.tokens[found].name, a.tokens[found].role, nil
}
