package enforcer

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServerAndAgentModes: server mode serves the API, the rspamd map and
// starts the components; agent mode keeps only the maps and the policy
// server, fed from Kafka, and refuses API tokens.
func TestServerAndAgentModes(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	prod := producer(t, cluster)
	const tok = "mode-test-token-0123456789"

	cfg := testConfig(t, cluster, t.TempDir())
	cfg.API.Tokens = []api.Token{{Name: "ops", Role: api.RoleAdmin, Token: tok}}
	var ran atomic.Bool
	srv := startService(t, cfg, WithComponent(Component{Name: "history", Run: func(ctx context.Context) error {
		ran.Store(true)
		<-ctx.Done()
		return nil
	}}))
	srv.waitReady()
	produceBan(t, prod, newBan(event.KindSender, "spam@x.example", "m", time.Time{}))
	base := "http://" + srv.svc.HTTPAddr()
	eventually(t, "the ban through the API and the rspamd map", func() bool {
		c1, b1 := get(t, base+"/api/v1/bans/sender/spam@x.example", tok)
		c2, b2 := get(t, base+"/rspamd/from", "")
		return c1 == 200 && strings.Contains(b1, `"key":"sender:spam@x.example"`) && c2 == 200 && strings.Contains(b2, "\nspam@x.example\n")
	})
	if code, _ := get(t, base+"/api/v1/bans", ""); code != 401 {
		t.Errorf("API without a token: %d", code)
	}
	eventually(t, "the component", ran.Load)
	srv.stop()

	agentCfg := testConfig(t, cluster, t.TempDir())
	agentCfg.Mode = ModeAgent
	bad := agentCfg
	bad.API.Tokens = cfg.API.Tokens
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "agent mode") {
		t.Fatalf("agent mode with API tokens: %v", err)
	}
	ran.Store(false)
	agent := startService(t, agentCfg, WithComponent(Component{Name: "history", Run: func(ctx context.Context) error {
		ran.Store(true)
		return nil
	}}))
	agent.waitReady()
	p := dialPolicy(t, agent.svc.PolicyAddr())
	eventually(t, "the ban in the agent", func() bool { return p.ask("sender=spam@x.example") == "action=REJECT m" })
	eventually(t, "the ban in the agent's map", func() bool {
		return fileHas(agentCfg.Maps.Path(agentCfg.Maps.PostfixSender), "spam@x.example REJECT m")
	})
	abase := "http://" + agent.svc.HTTPAddr()
	for _, path := range []string{"/api/v1/bans", "/rspamd/from"} {
		if code, _ := get(t, abase+path, tok); code != 404 {
			t.Errorf("agent serves %s: %d", path, code)
		}
	}
	if ran.Load() {
		t.Error("agent mode started a server-mode component")
	}
	if agent.svc.API() != nil {
		t.Error("agent mode has an API")
	}
}
