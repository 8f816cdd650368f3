package enforcer

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
)

// TestRestartKafkaDown: an enforcer restarted while Kafka does not answer
// serves the last known ban set from its local snapshot at once; when
// Kafka answers again it catches up (bans and lifts made meanwhile) and
// keeps going live. Kafka "down" is every request held by the broker.
func TestRestartKafkaDown(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	cfg := testConfig(t, cluster, dir)
	cfg.API.Tokens = []api.Token{{Name: "ops", Role: api.RoleAdmin, Token: "ops-secret-0123456789"}}
	prod := producer(t, cluster)

	r1 := startService(t, cfg)
	r1.waitReady()
	produceBan(t, prod, newBan(event.KindSender, "known@x.example", "known ban", time.Time{}))
	produceBan(t, prod, newBan(event.KindSender, "lifted@x.example", "lifted later", time.Time{}))
	p := dialPolicy(t, r1.svc.PolicyAddr())
	eventually(t, "the bans", func() bool {
		return p.ask("sender=lifted@x.example") == "action=REJECT lifted later" && p.ask("sender=known@x.example") == "action=REJECT known ban"
	})
	// An allowlist entry through the in-process API (what the desk calls).
	if _, err := r1.svc.API().Allow(context.Background(), "ops", api.AllowRequest{Kind: event.KindSender, Subject: "vip@x.example", Reason: "ceo"}); err != nil {
		t.Fatal(err)
	}
	produceBan(t, prod, newBan(event.KindSender, "vip@x.example", "rule banned the ceo", time.Time{}))
	eventually(t, "the ban on the allowlisted sender applied", func() bool { _, ok := r1.svc.Set().Get("sender:vip@x.example"); return ok })
	if got := p.ask("sender=vip@x.example"); got != "action=DUNNO" {
		t.Fatalf("allowlisted sender: %q", got)
	}
	r1.stop()

	// While the enforcer is down: a lift and a new ban.
	produce(t, prod, "sender:lifted@x.example", nil)
	produceBan(t, prod, newBan(event.KindSender, "new@x.example", "banned while down", time.Time{}))

	// Kafka stops answering.
	var down atomic.Bool
	up := make(chan struct{})
	down.Store(true)
	var held atomic.Int64
	cluster.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if down.Load() {
			held.Add(1)
			cluster.SleepControl(func() { <-up })
		}
		return nil, nil, false
	})
	r2 := startService(t, cfg, WithKafkaOpts(kgo.RequestTimeoutOverhead(time.Second)))
	select {
	case <-r2.svc.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("not ready from the snapshot while Kafka is down")
	}
	p2 := dialPolicy(t, r2.svc.PolicyAddr())
	start := time.Now()
	for subj, want := range map[string]string{
		"known@x.example":  "action=REJECT known ban",
		"lifted@x.example": "action=REJECT lifted later", // last known: the lift is not seen yet
		"vip@x.example":    "action=DUNNO",               // the allowlist came back from disk too
		"new@x.example":    "action=DUNNO",
	} {
		if got := p2.ask("sender=" + subj); got != want {
			t.Errorf("from the snapshot, %s: %q, want %q", subj, got, want)
		}
	}
	t.Logf("4 answers from the snapshot in %v with Kafka down", time.Since(start))
	// The enforcer did try Kafka (and was held): it was really down.
	eventually(t, "a Kafka request held", func() bool { return held.Load() > 0 })
	if got := testutil.ToFloat64(r2.svc.m.fromDisk); got != 1 {
		t.Errorf("banset_from_disk = %v", got)
	}
	if got := testutil.ToFloat64(r2.svc.m.caughtUp); got != 0 {
		t.Errorf("caught_up = %v while Kafka is down", got)
	}
	if age := r2.svc.snapshotAge(); age < 0 {
		t.Errorf("snapshot age = %v", age)
	}
	// The API refuses changes it cannot produce.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	r2.svc.API().Timeout = time.Second
	if _, err := r2.svc.API().Ban(ctx, "ops", api.BanRequest{Kind: event.KindSender, Subject: "x@x.example", Reason: "r"}); err == nil {
		t.Error("ban accepted while Kafka is down")
	}
	cancel()

	// Kafka is back: the lift and the new ban arrive, nothing is lost.
	down.Store(false)
	close(up)
	eventually(t, "catch-up after Kafka returned", func() bool {
		return p2.ask("sender=new@x.example") == "action=REJECT banned while down" && p2.ask("sender=lifted@x.example") == "action=DUNNO"
	})
	if got := p2.ask("sender=known@x.example"); got != "action=REJECT known ban" {
		t.Errorf("known ban after catch-up: %q", got)
	}
	if got := p2.ask("sender=vip@x.example"); got != "action=DUNNO" {
		t.Errorf("allowlisted sender after catch-up: %q", got)
	}
	eventually(t, "printed changes since the snapshot", func() bool {
		out := r2.stdout.String()
		return strings.Contains(out, "BAN sender new@x.example") && strings.Contains(out, "UNBAN sender lifted@x.example")
	})
	produceBan(t, prod, newBan(event.KindSender, "live@x.example", "live again", time.Time{}))
	eventually(t, "a live ban after the catch-up", func() bool { return p2.ask("sender=live@x.example") == "action=REJECT live again" })
	if got := testutil.ToFloat64(r2.svc.m.fromDisk); got != 0 {
		t.Errorf("banset_from_disk = %v after catch-up", got)
	}
}

// TestSnapshotOfOtherTopicsIgnored: a snapshot written for other topics
// (another cluster's set, a renamed topic) is not served.
func TestSnapshotOfOtherTopicsIgnored(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	cfg := testConfig(t, cluster, dir)
	prod := producer(t, cluster)
	r1 := startService(t, cfg)
	r1.waitReady()
	produceBan(t, prod, newBan(event.KindSender, "old@x.example", "old topic", time.Time{}))
	eventually(t, "the ban", func() bool { _, ok := r1.svc.Set().Get("sender:old@x.example"); return ok })
	r1.stop()

	cfg.Kafka.Topics.Bans = "other.bans"
	r2 := startService(t, cfg)
	r2.waitReady() // after catching up with the (empty) other topic, not from the snapshot
	if _, ok := r2.svc.Set().Get("sender:old@x.example"); ok {
		t.Fatal("a snapshot of another topic was served")
	}
	if r2.svc.loadedFromDisk {
		t.Fatal("loaded from disk")
	}
}
