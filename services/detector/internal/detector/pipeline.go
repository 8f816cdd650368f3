package detector

import (
	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

// Pipeline runs every stage in one process, in stage order, as `detector
// replay` does: each event goes through the sender stage and then, unless
// it was a repeat, through the recipient stage (which in `detector run`
// reads the sender stage's outcome records from mail.outcomes instead).
// Output order is input order, then stage order.
type Pipeline struct {
	stages []*Processor
}

// NewPipeline builds one Processor per stage.
func NewPipeline(cfg Config, opts Options) (*Pipeline, error) {
	p := &Pipeline{}
	for _, st := range rules.Stages() {
		proc, err := NewProcessor(cfg, st, opts)
		if err != nil {
			return nil, err
		}
		p.stages = append(p.stages, proc)
	}
	return p, nil
}

// Stages returns the processors, in stage order.
func (p *Pipeline) Stages() []*Processor { return p.stages }

// Process runs ev through every stage. It returns false for a repeat (the
// sender stage deduplicates for all) and the first stage's error.
func (p *Pipeline) Process(ev *event.DeliveryEvent, out *Output) (bool, error) {
	ok, err := p.stages[0].Process(ev, out)
	if !ok || err != nil {
		return ok, err
	}
	for _, s := range p.stages[1:] {
		if _, err := s.Process(ev, out); err != nil {
			return true, err
		}
	}
	return true, nil
}
