// Package window is the detector's event-time windowed-state engine: per-key
// counters over a sliding window made of fixed buckets.
//
// Time. The engine never reads the wall clock. Time is the events' own
// timestamps: the watermark is the latest event time the engine has seen
// (Advance, or Touch, moves it; it never goes back). The window is the
// Buckets most recent buckets up to and including the watermark's bucket, so
// it spans between Window-Width and Window of event time:
//
//	bucket width = Window / Buckets (e.g. 1h / 12 = 5m)
//
//	   late         |<------------- window (Buckets buckets) -------------->|
//	 ... [b-12]     [b-11] [b-10] ...                          [b-1]  [b]   |
//	                                                             watermark ^
//
// Ordering. An event whose bucket is inside the window is counted in its own
// bucket, whatever order it arrives in, so out-of-order events within the
// window give the same counts as sorted ones. An event whose bucket is older
// than the window (relative to the watermark at its arrival) is late: it is
// counted in Stats.Late and otherwise ignored. Because the watermark only
// depends on the order of the input, a replay of the same input yields the
// same state, verdict for verdict.
//
// Memory. A key costs one 8-byte entry in an open-addressing index (at a
// load factor between 3/8 and 3/4), its string, one slot (key header, the
// newest bucket number and the caller's payload T) and Buckets*Counters
// uint32 counters; slots and counters live in pages of 1024 keys, so a
// million keys are a few thousand objects for the garbage collector, and
// growing never copies. BenchmarkIdleKeyMemory reports the bytes per key
// (about 184 for 12 buckets of 2 counters and a 29-byte key).
//
// Eviction. A key whose newest bucket has left the window holds only zeros:
// when the watermark enters a new bucket the engine sweeps the slab and
// frees such keys (their slots are reused, and the slab and map are rebuilt
// smaller once three quarters of the slab is free). The sweep costs one pass
// over the live keys per bucket of event time; since each live key had an
// event within the window, that is at most Buckets slot visits per event.
//
// An Engine is not safe for concurrent use: the detector keeps one per rule
// and partition, driven by that partition's single consumer goroutine.
package window
