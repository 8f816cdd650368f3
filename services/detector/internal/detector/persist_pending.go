package detector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

// recPending is the changelog record of one crossing awaiting a lookup:
//
//	"p" rule 0 lookup-kind 0 lookup-name 0 state-key
//
// valued ts (varint ns), then the event's id, sender, recipient, SASL user
// and client IP, each ended by 0 (what the verdict and the allowlist need).
// A restored partition starts its lookups again, so a kill -9 between a
// trigger's commit and its answer loses no verdict.
const recPending = 'p'

type pendingKey struct {
	l   rules.Lookup
	run int
	key string
}

// touchPending records that a waiting crossing appeared or went.
func (p *Processor) touchPending(l rules.Lookup, run int, key string) {
	if !p.persist {
		return
	}
	if p.dirtyPending == nil {
		p.dirtyPending = map[pendingKey]struct{}{}
	}
	p.dirtyPending[pendingKey{l, run, key}] = struct{}{}
}

func (p *Processor) pendingRecordKey(b []byte, k pendingKey) []byte {
	b = append(b, recPending)
	for _, s := range []string{p.runs[k.run].info.Code, k.l.Kind, k.l.Name} {
		b = append(append(b, s...), 0)
	}
	return append(b, k.key...)
}

// flushPending emits the waiting crossings changed since the last Flush.
func (p *Processor) flushPending(emit func(k, v []byte)) {
	var kb, vb []byte
	for k := range p.dirtyPending {
		kb = p.pendingRecordKey(kb[:0], k)
		var w *pending
		for i := range p.pending[k.l] {
			if x := &p.pending[k.l][i]; x.run == k.run && x.key == k.key {
				w = x
				break
			}
		}
		if w == nil {
			emit(kb, nil)
			continue
		}
		vb = binary.AppendVarint(vb[:0], w.ts.UnixNano())
		var ev event.DeliveryEvent
		if w.ev != nil {
			ev = *w.ev
		}
		for _, s := range []string{w.id, ev.Sender, ev.Recipient, ev.SASLUser, ev.ClientIP} {
			vb = append(append(vb, s...), 0)
		}
		emit(kb, vb)
	}
	clear(p.dirtyPending)
}

var errPendingRecord = errors.New("pending record")

// restorePending takes back one waiting crossing (nil val: gone).
func (p *Processor) restorePending(key, val []byte) error {
	parts := bytes.SplitN(key[1:], []byte{0}, 4)
	if len(parts) != 4 {
		return errPendingRecord
	}
	run := -1
	for i := range p.runs {
		if p.runs[i].info.Code == string(parts[0]) {
			run = i
		}
	}
	if run < 0 {
		return nil // the rule is gone from the configuration
	}
	l := rules.Lookup{Kind: string(parts[1]), Name: string(parts[2])}
	k := string(parts[3])
	ws := p.pending[l]
	for i := range ws {
		if ws[i].run == run && ws[i].key == k {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if val == nil {
		if len(ws) == 0 {
			delete(p.pending, l)
		} else {
			p.pending[l] = ws
		}
		return nil
	}
	ns, n := binary.Varint(val)
	if n <= 0 {
		return errPendingRecord
	}
	f := bytes.Split(val[n:], []byte{0})
	if len(f) != 6 {
		return errPendingRecord
	}
	ev := &event.DeliveryEvent{ID: string(f[0]), TS: time.Unix(0, ns).UTC(), Sender: string(f[1]), Recipient: string(f[2]),
		SASLUser: string(f[3]), ClientIP: string(f[4])}
	p.pending[l] = append(ws, pending{run: run, key: k, ts: ev.TS, id: ev.ID, ev: ev})
	return nil
}

// restartPending starts the restored lookups again (FinishRestore).
func (p *Processor) restartPending() {
	for l, ws := range p.pending {
		for _, w := range ws {
			p.runs[w.run].stats.Awaiting++
		}
		if p.resolver != nil {
			p.resolver.Start(l)
		}
	}
}
