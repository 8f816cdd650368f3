package detector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// Changelog record keys (the value encodings belong to each part's package):
//
//	"m"                       the processor: watermark, each table's layout signature
//	"k" kind 0x00 key         one key's state in the kind's table (state.Table)
//	"L" ns 0 kind 0 subject   a ban level; "H" rule 0 kind 0 subject: a rule's hold (ban.Ledger)
//	"d" seq(8 bytes)          a block of deduplicated event ids (dedup.Set)
//
// A nil value is a tombstone: the key's state is gone.
const (
	recMeta  = 'm'
	recKey   = 'k'
	recDedup = 'd'
)

// ErrRestore wraps a changelog that cannot be restored.
var ErrRestore = errors.New("restore state")

// Flush calls emit for everything the processor changed since the last
// Flush (or restore), in a form Restore takes back: the service produces
// it to the partition's changelog in the same transaction as the outputs
// and the input offsets. Without Options.Persist it emits only the meta
// record. It returns the records emitted.
func (p *Processor) Flush(emit func(key, val []byte)) int {
	n := 0
	count := func(k, v []byte) { n++; emit(k, v) }
	var kb []byte
	for i, t := range p.tables {
		if t == nil {
			continue
		}
		kind := p.kinds[i]
		t.Flush(func(key string, val []byte) {
			kb = append(append(append(append(kb[:0], recKey), kind...), 0), key...)
			count(kb, val)
		})
	}
	p.ledger.Flush(count)
	if p.seen != nil {
		p.seen.Flush(func(k, v []byte) { count(append([]byte{recDedup}, k...), v) })
	}
	meta := binary.AppendVarint([]byte(nil), state.Nanos(p.watermark))
	for i, t := range p.tables {
		if t != nil {
			meta = append(append(meta, p.kinds[i]...), 0)
			meta = binary.LittleEndian.AppendUint64(meta, t.Layout().Signature())
		}
	}
	count([]byte{recMeta}, meta)
	return n
}

// RestoreStats describe a restore.
type RestoreStats struct {
	Records   int   // changelog records read
	Keys      int   // keys in the tables afterwards
	Discarded int   // records that did not decode (another layout, corruption): skipped
	From, To  int64 // changelog offsets read: [From, To)
}

// Restore takes one changelog record (Flush's output, oldest first); call
// FinishRestore after the last. A record that does not decode is counted
// and skipped: state never comes back half-applied for a key.
func (p *Processor) Restore(key, val []byte, st *RestoreStats) {
	st.Records++
	if len(key) == 0 {
		st.Discarded++
		return
	}
	var err error
	switch key[0] {
	case recMeta:
		if val != nil {
			p.restoredMeta = bytes.Clone(val)
		}
	case recKey:
		kind, k, ok := bytes.Cut(key[1:], []byte{0})
		i := p.kindIndex(event.SubjectKind(kind))
		if !ok || i < 0 || p.tables[i] == nil {
			err = fmt.Errorf("no table for kind %q", kind)
			break
		}
		err = p.tables[i].Put(string(k), val)
	case 'L', 'H':
		err = p.ledger.Put(key, val)
	case recDedup:
		if p.seen != nil {
			err = p.seen.Put(key[1:], val)
		}
	default:
		err = errors.New("unknown record")
	}
	if err != nil {
		st.Discarded++
	}
}

func (p *Processor) kindIndex(k event.SubjectKind) int {
	for i, x := range p.kinds {
		if x == k {
			return i
		}
	}
	return -1
}

// FinishRestore applies the restored clock: the watermark, and each
// table's, and empties a table whose layout changed since the changelog
// was written (its rules' configuration differs). It returns the keys
// tracked and the tables emptied.
func (p *Processor) FinishRestore(st *RestoreStats) error {
	if p.seen != nil {
		p.seen.FinishRestore()
	}
	if m := p.restoredMeta; m != nil {
		p.restoredMeta = nil
		wm, n := binary.Varint(m)
		if n <= 0 {
			return fmt.Errorf("%w: meta record", ErrRestore)
		}
		p.watermark = time.Unix(0, wm).UTC()
		m = m[n:]
		sigs := map[event.SubjectKind]uint64{}
		for len(m) > 0 {
			kind, rest, ok := bytes.Cut(m, []byte{0})
			if !ok || len(rest) < 8 {
				return fmt.Errorf("%w: meta record", ErrRestore)
			}
			sigs[event.SubjectKind(kind)] = binary.LittleEndian.Uint64(rest)
			m = rest[8:]
		}
		for i, t := range p.tables {
			if t == nil {
				continue
			}
			if sig, ok := sigs[p.kinds[i]]; ok && sig != t.Layout().Signature() {
				st.Discarded += t.Len()
				p.tables[i] = state.NewTable(t.Layout(), p.persist)
				continue
			}
			t.Advance(p.watermark)
		}
	}
	st.Keys = 0
	for _, t := range p.tables {
		if t != nil {
			st.Keys += t.Len()
		}
	}
	return nil
}
