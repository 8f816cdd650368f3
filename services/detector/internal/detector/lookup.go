package detector

import (
	"context"
	"sync"
	"time"

	"github.com/mxwarden/mxwarden/services/detector/internal/resolve"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

// Lookuper answers one lookup, blocking (bounded by its own timeout).
// *resolve.Client is the one the service and replay use.
type Lookuper interface {
	Lookup(ctx context.Context, l rules.Lookup) rules.Answer
}

// lookupAnswer is one answered lookup.
type lookupAnswer struct {
	l rules.Lookup
	a rules.Answer
}

// answerWait is how long a poll waits for records while lookups are out,
// so their answers are applied soon after they arrive.
const answerWait = 50 * time.Millisecond

// asyncResolver is the service's rules.Resolver: Start queues a lookup
// and returns at once; a bounded number of workers answer them, and the
// consume loop takes the answers between polls (Answers) and delivers
// them to the recipient stage's processors. One lookup awaited by several
// partitions is asked once.
type asyncResolver struct {
	lk      Lookuper
	workers int
	jobs    chan rules.Lookup

	mu       sync.Mutex
	inflight map[rules.Lookup]bool
	answers  []lookupAnswer
}

func newAsyncResolver(lk Lookuper, workers int) *asyncResolver {
	return &asyncResolver{lk: lk, workers: max(1, workers), jobs: make(chan rules.Lookup, 64*max(1, workers)), inflight: map[rules.Lookup]bool{}}
}

// Start implements rules.Resolver; it never blocks. With the queue full
// the lookup fails at once (result "error": no evidence, no ban).
func (r *asyncResolver) Start(l rules.Lookup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight[l] {
		return
	}
	select {
	case r.jobs <- l:
		r.inflight[l] = true
	default:
		r.answers = append(r.answers, lookupAnswer{l: l, a: rules.Answer{Result: resolve.ResultError, Facts: map[string]float64{"dns_queue_full": 1}}})
	}
}

// Outstanding is the number of lookups started and not yet taken.
func (r *asyncResolver) Outstanding() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.inflight) + len(r.answers)
}

// Answers takes the answers that arrived since the last call.
func (r *asyncResolver) Answers() []lookupAnswer {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.answers
	r.answers = nil
	return a
}

// run answers lookups until ctx ends.
func (r *asyncResolver) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range r.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case l := <-r.jobs:
					a := r.lk.Lookup(ctx, l)
					r.mu.Lock()
					delete(r.inflight, l)
					r.answers = append(r.answers, lookupAnswer{l: l, a: a})
					r.mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// syncResolver is replay's rules.Resolver: Start queues, and Drain
// answers every queued lookup in order, delivering each answer to the
// pipeline's recipient stage right after the input that asked for it, so
// a replay is as deterministic as the DNS it asks.
type syncResolver struct {
	lk     Lookuper
	queued []rules.Lookup
}

func (r *syncResolver) Start(l rules.Lookup) { r.queued = append(r.queued, l) }

// Drain answers the queued lookups and delivers them to procs.
func (r *syncResolver) Drain(ctx context.Context, procs []*Processor, out *Output) {
	for len(r.queued) > 0 {
		l := r.queued[0]
		r.queued = r.queued[1:]
		a := r.lk.Lookup(ctx, l)
		for _, p := range procs {
			p.Resolve(l, a, out)
		}
	}
}
