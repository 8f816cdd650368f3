package enforcer

import (
	"errors"
	"fmt"

	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/desk"
)

// deskHook is the abuse desk's place in the service.
type deskHook struct {
	srv     *desk.Server // nil unless desk.enabled
	history desk.History // optional, from WithDeskHistory
}

// WithDeskHistory gives the abuse desk's staff view a history to show the
// events behind a ban and the subject's timeline from. Without it the desk
// reads the history store (history.path or history.dsn) when one is set.
func WithDeskHistory(h desk.History) Option { return func(s *Service) { s.desk.history = h } }

func (c *Config) validateDesk() error {
	if !c.Desk.Enabled {
		return nil
	}
	if c.Mode == ModeAgent {
		return errors.New("desk.enabled: agent mode serves no abuse desk")
	}
	return c.Desk.Validate()
}

// buildDesk builds the abuse desk when desk.enabled; Run starts it with
// the other components once the ban set is served. Its staff view uses
// the operator API's tokens and its in-process Backend; without tokens
// only the public lookup page is served.
func (s *Service) buildDesk() error {
	if !s.cfg.Desk.Enabled {
		return nil
	}
	hist := s.desk.history
	if hist == nil && s.hist != nil {
		r := s.hist.Reader()
		r.RO.Timeout = min(r.RO.Timeout, deskReadTimeout)
		hist = deskHistory{r: r}
	}
	deps := desk.Deps{
		History: hist, Kafka: s.cfg.Kafka, KafkaOpts: s.kopts,
		Logger: s.logger, Registry: s.reg, Now: s.now, ProduceTimeout: s.cfg.API.ProduceTimeout,
	}
	if s.local != nil {
		deps.Backend = s.local
		tokens := append([]api.Token(nil), s.cfg.API.Tokens...)
		if s.cfg.API.TokensFile != "" {
			more, err := api.LoadTokenFile(s.cfg.API.TokensFile)
			if err != nil {
				return fmt.Errorf("api.tokens_file: %w", err)
			}
			tokens = append(tokens, more...)
		}
		auth, err := api.NewAuthenticator(tokens)
		if err != nil {
			return fmt.Errorf("api tokens: %w", err)
		}
		deps.Auth = auth
	} else {
		// Lookups only: a Local without a producer refuses every change.
		deps.Backend = &api.Local{Set: s.set}
	}
	srv, err := desk.New(s.cfg.Desk, deps)
	if err != nil {
		return fmt.Errorf("desk: %w", err)
	}
	s.desk.srv = srv
	s.comps = append(s.comps, Component{Name: "desk", Run: srv.Run})
	return nil
}

// Desk returns the abuse desk (nil unless desk.enabled).
func (s *Service) Desk() *desk.Server { return s.desk.srv }
