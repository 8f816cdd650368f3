package enforcer

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// TestHistoryDownDoesNotStallEnforcement: with history.dsn naming a
// ClickHouse that is not there, the enforcer still catches up, serves the
// policy server and applies new bans; history only retries.
func TestHistoryDownDoesNotStallEnforcement(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := testConfig(t, cluster, t.TempDir())
	cfg.History.DSN = "clickhouse://" + down + "/mxwarden?dial_timeout=200ms"
	r := startService(t, cfg)
	r.waitReady()
	p := dialPolicy(t, r.svc.PolicyAddr())
	msg := "blocked while history is down"
	produceBan(t, producer(t, cluster), newBan(event.KindSender, "x@down.example", msg, time.Now().Add(time.Hour)))
	eventually(t, "REJECT while ClickHouse is down", func() bool {
		return p.ask("sender=x@down.example", "recipient=y@ok.example") == "action=REJECT "+msg
	})
}
