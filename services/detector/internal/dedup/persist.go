package dedup

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// Flush calls emit for every block of ids changed since the last Flush
// (key: the block's position in the first-seen order, 8 bytes big-endian;
// value: its newest event time and its hashes) and, with a nil value, for
// every flushed block forgotten since. A Set restored from what Flush
// emitted (Put, then FinishRestore) remembers the same ids in the same
// order, so it forgets the same ones later.
func (s *Set) Flush(emit func(key, val []byte)) {
	var k [8]byte
	for _, seq := range s.forgotten {
		binary.BigEndian.PutUint64(k[:], seq)
		emit(k[:], nil)
	}
	s.forgotten = s.forgotten[:0]
	i := len(s.blocks)
	for i > 0 && s.blocks[i-1].flushed < s.blocks[i-1].n {
		i--
	}
	buf := make([]byte, 0, 8+8*maxBlock)
	for _, b := range s.blocks[i:] {
		binary.BigEndian.PutUint64(k[:], b.seq)
		buf = binary.LittleEndian.AppendUint64(buf[:0], uint64(b.newest))
		for _, h := range b.h[:b.n] {
			buf = binary.LittleEndian.AppendUint64(buf, h)
		}
		emit(k[:], buf)
		b.flushed = b.n
	}
}

// Put takes one record Flush emitted; FinishRestore applies them all.
func (s *Set) Put(key, val []byte) error {
	if len(key) != 8 || (val != nil && (len(val) < 16 || len(val)%8 != 0 || len(val) > 8+8*maxBlock)) {
		return errors.New("dedup: malformed block record")
	}
	if s.restored == nil {
		s.restored = map[uint64][]byte{}
	}
	seq := binary.BigEndian.Uint64(key)
	if val == nil {
		delete(s.restored, seq)
		return nil
	}
	s.restored[seq] = slices.Clone(val)
	return nil
}

// FinishRestore replaces the Set's ids with the blocks given to Put, in
// their first-seen order, keeping at most MaxIDs.
func (s *Set) FinishRestore() {
	seqs := make([]uint64, 0, len(s.restored))
	for seq := range s.restored {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	s.table, s.mask = make([]uint64, tableMinCap), tableMinCap-1
	s.blocks, s.n, s.spare, s.forgotten = nil, 0, nil, nil
	for _, seq := range seqs {
		val := s.restored[seq]
		b := new(block)
		b.seq, b.newest = seq, int64(binary.LittleEndian.Uint64(val))
		for off := 8; off < len(val); off += 8 {
			h := binary.LittleEndian.Uint64(val[off:])
			if h == 0 || s.contains(h) {
				continue
			}
			b.h[b.n] = h
			b.n++
			if (s.n+1)*4 > len(s.table)*3 {
				s.grow()
			}
			s.put(h)
			s.n++
		}
		if b.newest == math.MinInt64 && b.n == 0 {
			continue
		}
		b.flushed = b.n
		s.blocks = append(s.blocks, b)
		s.nextSeq = max(s.nextSeq, seq+1)
	}
	for s.n > s.max && len(s.blocks) > 0 {
		s.forgetOldest()
	}
	s.restored = nil
}
