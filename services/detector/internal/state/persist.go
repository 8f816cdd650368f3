package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/axiomhq/hyperloglog"
)

// ErrCorrupt is returned by Put for a record that does not decode against
// the table's layout.
var ErrCorrupt = errors.New("state record does not decode")

// Signature is a hash of the layout's shape: a changelog written under
// another layout (a rule added, a window changed) does not restore.
func (l *Layout) Signature() uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "w%d;", l.width)
	for _, b := range l.blocks {
		fmt.Fprintf(h, "c%d,%d,%d;", b.k, b.nb, b.nc)
	}
	for _, d := range l.distinct {
		fmt.Fprintf(h, "d%d,%d;", d.k, d.nb)
	}
	for _, f := range l.fps {
		fmt.Fprintf(h, "f%d,%d,%d;", f.n, f.k, f.nb)
	}
	fmt.Fprintf(h, "r%v;m%v", l.regs, l.marks)
	return h.Sum64()
}

// Flush calls emit for every key changed since the last Flush, with its
// encoded state, and for every key evicted since, with a nil value (a
// tombstone), then forgets the changes. Without tracking (NewTable's
// track false) it emits nothing.
func (t *Table) Flush(emit func(key string, val []byte)) {
	for _, k := range t.evicted {
		if _, ok := t.find(k, t.hash(k)); !ok { // not back since
			emit(k, nil)
		}
	}
	t.evicted = t.evicted[:0]
	var buf []byte
	for _, i := range t.dirty {
		s := t.slot(i)
		if !s.dirty || s.last == freeSlot {
			continue
		}
		s.dirty = false
		buf = t.encode(buf[:0], i)
		emit(s.key, buf)
	}
	t.dirty = t.dirty[:0]
}

// Dirty is the number of keys changed since the last Flush.
func (t *Table) Dirty() int { return len(t.dirty) + len(t.evicted) }

// Put restores key's state from a value Flush emitted (nil deletes it).
// The table's clock is not moved; call Advance with the restored
// watermark once every record is in.
func (t *Table) Put(key string, val []byte) error {
	h := t.hash(key)
	i, ok := t.find(key, h)
	if val == nil {
		if ok {
			t.idx.remove(h, i)
			*t.slot(i) = slot{last: freeSlot}
			t.free = append(t.free, i)
		}
		return nil
	}
	if !ok {
		i = t.alloc(key, h)
	}
	if err := t.decode(i, val); err != nil {
		t.idx.remove(h, i)
		*t.slot(i) = slot{last: freeSlot}
		t.free = append(t.free, i)
		return fmt.Errorf("%w: key %q: %w", ErrCorrupt, key, err)
	}
	return nil
}

func (t *Table) encode(b []byte, i uint32) []byte {
	s := t.slot(i)
	b = binary.AppendVarint(b, s.last)
	for _, c := range t.counters(i) {
		b = binary.LittleEndian.AppendUint32(b, c)
	}
	x := s.ext
	if x == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	for _, d := range x.distinct {
		switch {
		case d == nil:
			b = append(b, 0)
		case d.hll == nil:
			b = append(b, 1)
			b = binary.AppendUvarint(b, uint64(len(d.small)))
			for _, e := range d.small {
				b = binary.LittleEndian.AppendUint64(b, e)
			}
		default:
			b = append(b, 2)
			b = binary.AppendUvarint(b, uint64(len(d.hll)))
			for j, sk := range d.hll {
				if sk == nil {
					b = binary.AppendUvarint(b, 0)
					continue
				}
				raw, _ := sk.MarshalBinary()
				b = binary.AppendUvarint(b, uint64(len(raw)))
				b = append(b, raw...)
				b = binary.AppendVarint(b, d.heads[j])
			}
		}
	}
	for _, f := range x.fps {
		if f == nil {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(f.e))+1)
		for _, e := range f.e {
			b = binary.LittleEndian.AppendUint64(b, e.fp)
			b = binary.AppendUvarint(b, uint64(e.n))
			b = binary.AppendVarint(b, e.sub)
		}
	}
	for _, w := range x.regs {
		if w == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendVarint(b, w.last)
		b = binary.AppendUvarint(b, uint64(w.n))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(w.mean))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(w.m2))
	}
	for _, m := range x.marks {
		b = binary.AppendUvarint(b, uint64(len(m.id)))
		b = append(b, m.id...)
		b = binary.AppendVarint(b, m.last)
	}
	return b
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if uint64(len(r.b)) < n {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte1() byte {
	if v := r.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.bytes(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.bytes(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("truncated")
	}
	r.b = nil
}

func (t *Table) decode(i uint32, val []byte) error {
	r := &reader{b: val}
	s := t.slot(i)
	s.last = r.varint()
	c := t.counters(i)
	for j := range c {
		c[j] = r.u32()
	}
	s.ext, s.dirty = nil, false
	if r.byte1() == 1 {
		x := &ext{}
		s.ext = x
		l := t.l
		x.distinct = make([]*distinctSet, len(l.distinct))
		for j := range x.distinct {
			switch r.byte1() {
			case 0:
			case 1:
				n := r.uvarint()
				if n > SmallSet {
					return errors.New("small set too large")
				}
				d := &distinctSet{small: make([]uint64, 0, n)}
				for range n {
					d.small = append(d.small, r.u64())
				}
				x.distinct[j] = d
			case 2:
				n := r.uvarint()
				if n != uint64(l.distinct[j].nb) {
					return errors.New("sketch ring size")
				}
				d := &distinctSet{hll: make([]*hyperloglog.Sketch, n), heads: make([]int64, n)}
				for k := range d.hll {
					d.heads[k] = math.MinInt64
					m := r.uvarint()
					if m == 0 {
						continue
					}
					sk := &hyperloglog.Sketch{}
					if err := sk.UnmarshalBinary(r.bytes(m)); err != nil {
						return err
					}
					d.hll[k], d.heads[k] = sk, r.varint()
				}
				x.distinct[j] = d
			default:
				return errors.New("distinct tag")
			}
		}
		x.fps = make([]*fpRing, len(l.fps))
		for j := range x.fps {
			n := r.uvarint()
			if n == 0 {
				continue
			}
			if n-1 > uint64(l.fps[j].n) {
				return errors.New("too many fingerprints")
			}
			f := &fpRing{}
			for range n - 1 {
				f.e = append(f.e, fpEntry{fp: r.u64(), n: uint32(r.uvarint()), sub: r.varint()})
			}
			x.fps[j] = f
		}
		x.regs = make([]*welford, len(l.regs))
		for j := range x.regs {
			if r.byte1() == 1 {
				x.regs[j] = &welford{last: r.varint(), n: uint32(r.uvarint()),
					mean: math.Float64frombits(r.u64()), m2: math.Float64frombits(r.u64())}
			}
		}
		x.marks = make([]mark, len(l.marks))
		for j := range x.marks {
			x.marks[j] = mark{id: string(r.bytes(r.uvarint())), last: r.varint()}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		return errors.New("trailing bytes")
	}
	return r.err
}
