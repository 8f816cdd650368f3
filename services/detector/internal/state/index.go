package state

// index maps a key's hash to its slot number: open addressing with linear
// probing over a power-of-two table of uint64 entries, each holding the
// low 32 bits of the key's hash (the tag) and the slot number plus one
// (0 marks an empty entry). It costs 8 bytes per entry, 11 to 21 bytes
// per key at the load factors kept (3/8 to 3/4), against about 36 for a
// map[uint64]uint32, and one lookup usually reads one cache line.
//
// The index never compares keys: Engine.find walks the probe run and
// checks the slot's key for each entry whose tag matches, so two keys with
// the same hash are simply two entries. The tag also gives an entry's home
// position (tag & mask) without hashing the key again, which growing and
// deleting (backward-shift, no tombstones) rely on.
type index struct {
	e    []uint64
	n    int
	mask uint64
}

const indexMinCap = 1024

func (x *index) home(entry uint64) uint64 { return (entry >> 32) & x.mask }

// insert adds slot under hash h; the caller knows the key is absent.
func (x *index) insert(h uint64, slot uint32) {
	if (x.n+1)*4 > len(x.e)*3 {
		x.grow()
	}
	x.put((h&0xffffffff)<<32 | uint64(slot) + 1)
	x.n++
}

func (x *index) put(entry uint64) {
	p := x.home(entry)
	for x.e[p] != 0 {
		p = (p + 1) & x.mask
	}
	x.e[p] = entry
}

func (x *index) grow() {
	old := x.e
	c := max(indexMinCap, 2*len(old))
	x.e, x.mask = make([]uint64, c), uint64(c-1)
	for _, entry := range old {
		if entry != 0 {
			x.put(entry)
		}
	}
}

// remove deletes the entry of slot under hash h, shifting the entries of
// its probe run back so lookups never need tombstones.
func (x *index) remove(h uint64, slot uint32) {
	want := (h&0xffffffff)<<32 | uint64(slot) + 1
	p := h & x.mask
	for x.e[p] != want {
		if x.e[p] == 0 {
			return // not present
		}
		p = (p + 1) & x.mask
	}
	hole := p
	for j := (p + 1) & x.mask; x.e[j] != 0; j = (j + 1) & x.mask {
		// The entry at j may move back to the hole unless its home lies
		// cyclically in (hole, j].
		k := x.home(x.e[j])
		if (j > hole && (k <= hole || k > j)) || (j < hole && k <= hole && k > j) {
			x.e[hole] = x.e[j]
			hole = j
		}
	}
	x.e[hole] = 0
	x.n--
}

// reset empties the index, sized for n keys.
func (x *index) reset(n int) {
	c := indexMinCap
	for c*3 < n*4 {
		c *= 2
	}
	x.e, x.mask, x.n = make([]uint64, c), uint64(c-1), 0
}
