//go:build chdb

package enforcer

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/history"
)

// TestHistoryEmbeddedLive: the enforcer with history.path writes what the
// topics carry into the embedded engine, and analysts query the live store
// through /history/query (read-only), also with `history query --url`.
func TestHistoryEmbeddedLive(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	cfg := testConfig(t, cluster, dir)
	cfg.History.Path = filepath.Join(dir, "history")
	cfg.History.FlushInterval = 50 * time.Millisecond
	r := startService(t, cfg)
	r.waitReady()

	prod, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("mail.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	now := time.Now().UTC()
	for i := 0; i < 100; i++ {
		e := &event.DeliveryEvent{ID: "mx1:1-1:" + string(rune('a'+i%26)) + strings.Repeat("x", i), TS: now.Add(-time.Duration(i) * time.Second),
			MTA: "postfix", Host: "mx1", Sender: "a@shop.example", Recipient: "r@corp.example", Status: event.StatusSent}
		b, _ := event.MarshalEvent(e)
		produce(t, prod, e.Account(), b)
	}
	produceBan(t, producer(t, cluster), newBan(event.KindSender, "a@shop.example", "blocked", now.Add(time.Hour)))

	query := func(form url.Values) (int, string) {
		resp, err := http.PostForm("http://"+r.svc.HTTPAddr()+history.QueryPath, form)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := query(url.Values{"sql": {"SELECT count() AS n FROM events"}})
		if code == http.StatusOK && strings.Contains(body, `"rows":[[100]]`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events not stored: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := query(url.Values{"sql": {"DROP TABLE events"}}); code != http.StatusForbidden {
		t.Fatalf("DROP through the endpoint: %d %s", code, body)
	}
	var out bytes.Buffer
	err = history.Command(context.Background(), []string{"query", "--url", "http://" + r.svc.HTTPAddr(), "--pack", "why-banned",
		"--param", "subject=a@shop.example"}, history.DefaultConfig(), nil, &out, &out)
	if err != nil || !strings.Contains(out.String(), `"row":"ban"`) {
		t.Fatalf("history query --url --pack why-banned: %v\n%s", err, out.String())
	}
}
