package detector

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

// gatedLookuper answers only once released: a DNS server that hangs.
type gatedLookuper struct {
	release chan struct{}
	mu      sync.Mutex
	asked   []rules.Lookup
}

func (g *gatedLookuper) Lookup(ctx context.Context, l rules.Lookup) rules.Answer {
	g.mu.Lock()
	g.asked = append(g.asked, l)
	g.mu.Unlock()
	select {
	case <-g.release:
		return rules.Answer{Result: "nxdomain", Facts: map[string]float64{"can_receive": 0, "dns_nxdomain": 1}}
	case <-ctx.Done():
		return rules.Answer{Result: "timeout"}
	}
}

// TestLookupsNeverBlock: while a lookup hangs, the recipient stage keeps
// processing (other rules ban, the trigger waits), one lookup is asked
// for many triggers of the same domain, and the answer, once it comes,
// turns into the verdict with the trigger's event time and id.
func TestLookupsNeverBlock(t *testing.T) {
	g := &gatedLookuper{release: make(chan struct{})}
	ar := newAsyncResolver(g, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ar.run(ctx) }()
	p, err := NewProcessor(Default(), rules.StageRecipient, Options{Now: fixedNow, Resolver: ar})
	if err != nil {
		t.Fatal(err)
	}
	var out Output
	trigger := func(id string, ts time.Time) *event.DeliveryEvent {
		return &event.DeliveryEvent{ID: id, TS: ts, Sender: "a@law-office.example", Recipient: "x@hangs.com",
			Status: event.StatusBounced, Reason: event.ReasonHostNotFound, ReplyText: "Host or domain name not found"}
	}
	for i := range 5 {
		if _, err := p.Process(trigger(string(rune('a'+i)), at(time.Duration(i)*time.Second)), &out); err != nil {
			t.Fatal(err)
		}
	}
	// Meanwhile, other mail keeps flowing and other rules decide.
	sms := &event.DeliveryEvent{ID: "sms", TS: at(10 * time.Second), Sender: "a@law-office.example", Recipient: "5551234@vtext.com", Status: event.StatusSent}
	if _, err := p.Process(sms, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Bans) != 1 || out.Bans[0].Rule != rules.CodeSMSGateway {
		t.Fatalf("while the lookup hangs: %+v", out.Bans)
	}
	if n := ar.Outstanding(); n != 1 {
		t.Fatalf("%d lookups outstanding, want 1 (one per domain)", n)
	}
	close(g.release)
	deadline := time.Now().Add(10 * time.Second)
	var answers []lookupAnswer
	for len(answers) == 0 && time.Now().Before(deadline) {
		answers = ar.Answers()
		time.Sleep(time.Millisecond)
	}
	out.Reset()
	for _, a := range answers {
		p.Resolve(a.l, a.a, &out)
	}
	if len(out.Bans) != 1 || out.Bans[0].Rule != rules.CodeNoMX || out.Bans[0].Subject != "hangs.com" ||
		out.Bans[0].LastEventID != "a" || !out.Bans[0].TS.Equal(at(0)) || out.Bans[0].Evidence["dns_nxdomain"] != 1 {
		t.Fatalf("after the answer: %+v", out.Bans)
	}
	g.mu.Lock()
	if len(g.asked) != 1 {
		t.Fatalf("asked %d times", len(g.asked))
	}
	g.mu.Unlock()
	cancel()
	<-done
}

// TestAsyncResolverQueueFull: with the queue full, Start fails the lookup
// at once (an "error" answer: no evidence) instead of blocking.
func TestAsyncResolverQueueFull(t *testing.T) {
	g := &gatedLookuper{release: make(chan struct{})}
	ar := newAsyncResolver(g, 1) // queue of 64, no worker running
	for i := range 70 {
		ar.Start(rules.Lookup{Kind: "mx", Name: string(rune('a' + i))})
	}
	a := ar.Answers()
	if len(a) != 6 || a[0].a.Result != "error" {
		t.Fatalf("%d immediate answers: %+v", len(a), a)
	}
}
