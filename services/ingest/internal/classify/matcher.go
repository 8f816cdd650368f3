package classify

import (
	"bytes"
	"fmt"
	"sort"
)

// phrase is one lower-case substring that decides a class. Word phrases
// only match between non-letters (so "spf" does not fire inside "spfbl").
type phrase struct {
	text   string
	reason Reason
	prio   int // lower wins; the index of the phrase's group
	word   bool
}

// matcher finds, in one pass over the text, the matching phrase of highest
// priority. It is an Aho-Corasick automaton compiled into a dense
// transition table over the bytes that occur in the phrases (every other
// byte shares class 0, which no phrase contains).
type matcher struct {
	pats   []phrase
	class  [256]uint8
	nclass int
	delta  []uint16  // state*nclass + class -> next state
	out    [][]int32 // state -> phrase indices ending here, best priority first
}

// group is an ordered list of phrases of one class. Groups are listed in
// priority order: the first group that has a matching phrase wins.
type group struct {
	reason  Reason
	word    bool // every phrase is a word phrase
	phrases []string
}

func newMatcher(groups []group) *matcher {
	m := &matcher{}
	for gi, g := range groups {
		for _, t := range g.phrases {
			if t == "" || t != string(bytes.ToLower([]byte(t))) {
				panic(fmt.Sprintf("classify: phrase %q must be non-empty lower case", t))
			}
			m.pats = append(m.pats, phrase{text: t, reason: g.reason, prio: gi, word: g.word})
		}
	}
	// Byte classes.
	m.nclass = 1
	for _, p := range m.pats {
		for i := 0; i < len(p.text); i++ {
			if m.class[p.text[i]] == 0 {
				m.class[p.text[i]] = uint8(m.nclass)
				m.nclass++
			}
		}
	}
	// Trie.
	type node struct {
		next []int32
		out  []int32
	}
	newNode := func() node {
		n := node{next: make([]int32, m.nclass)}
		for i := range n.next {
			n.next[i] = -1
		}
		return n
	}
	nodes := []node{newNode()}
	for pi, p := range m.pats {
		s := 0
		for i := 0; i < len(p.text); i++ {
			c := m.class[p.text[i]]
			if nodes[s].next[c] < 0 {
				nodes = append(nodes, newNode())
				nodes[s].next[c] = int32(len(nodes) - 1)
			}
			s = int(nodes[s].next[c])
		}
		nodes[s].out = append(nodes[s].out, int32(pi))
	}
	if len(nodes) > 1<<16 {
		panic("classify: too many phrase states")
	}
	// Failure links, breadth first, turning the trie into a DFA.
	fail := make([]int32, len(nodes))
	queue := make([]int32, 0, len(nodes))
	for c := 0; c < m.nclass; c++ {
		if t := nodes[0].next[c]; t < 0 {
			nodes[0].next[c] = 0
		} else {
			fail[t] = 0
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		nodes[s].out = append(nodes[s].out, nodes[fail[s]].out...)
		for c := 0; c < m.nclass; c++ {
			t := nodes[s].next[c]
			if t < 0 {
				nodes[s].next[c] = nodes[fail[s]].next[c]
				continue
			}
			fail[t] = nodes[fail[s]].next[c]
			queue = append(queue, t)
		}
	}
	m.delta = make([]uint16, len(nodes)*m.nclass)
	m.out = make([][]int32, len(nodes))
	for s := range nodes {
		for c := 0; c < m.nclass; c++ {
			m.delta[s*m.nclass+c] = uint16(nodes[s].next[c])
		}
		out := nodes[s].out
		sort.SliceStable(out, func(i, j int) bool { return m.pats[out[i]].prio < m.pats[out[j]].prio })
		m.out[s] = out
	}
	return m
}

// match returns the reason of the best matching phrase in text.
func (m *matcher) match(text []byte) (Reason, bool) {
	best := -1
	bestPrio := int(^uint(0) >> 1)
	s := 0
	nc := m.nclass
	for i := 0; i < len(text); i++ {
		s = int(m.delta[s*nc+int(m.class[text[i]])])
		out := m.out[s]
		if len(out) == 0 {
			continue
		}
		for _, pi := range out {
			p := &m.pats[pi]
			if p.prio >= bestPrio {
				break
			}
			if p.word && !isWordAt(text, i+1-len(p.text), i+1) {
				continue
			}
			best, bestPrio = int(pi), p.prio
			break
		}
		if bestPrio == 0 {
			break
		}
	}
	if best < 0 {
		return None, false
	}
	return m.pats[best].reason, true
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' }

// isWordAt reports whether text[i:j] is delimited by non-letters.
func isWordAt(text []byte, i, j int) bool {
	return (i == 0 || !isLetter(text[i-1])) && (j == len(text) || !isLetter(text[j]))
}

// normalize appends s to dst lower-cased (ASCII only), with white space
// runs collapsed to one space and SMTP reply prefixes ("550-5.1.1 ",
// "421 4.7.0 ") dropped wherever they start a word, so that the phrases
// of a multi-line reply joined on one log line still match. It stops
// when dst is full.
func normalize(dst []byte, s string) []byte {
	space := true
	for i := 0; i < len(s) && len(dst) < cap(dst); {
		c := s[i]
		if space && c >= '2' && c <= '5' {
			if n := replyPrefixLen(s, i); n > 0 {
				i += n
				continue
			}
		}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if !space {
				dst = append(dst, ' ')
				space = true
			}
			i++
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
		space = false
		i++
	}
	return dst
}

// replyPrefixLen returns the length of an SMTP reply prefix at s[i:]:
// "NNN-", "NNN-c.s.d ", "NNN c.s.d " or a lone trailing "NNN" (with its
// following space), or 0 when there is none.
func replyPrefixLen(s string, i int) int {
	if len(s)-i < 3 || !isDigit(s[i+1]) || !isDigit(s[i+2]) {
		return 0
	}
	j := i + 3
	if j == len(s) {
		return 3
	}
	sep := s[j]
	if sep != '-' && sep != ' ' {
		return 0
	}
	j++
	// Optional enhanced status code.
	k := j
	if k < len(s) && (s[k] == '2' || s[k] == '4' || s[k] == '5') && k+1 < len(s) && s[k+1] == '.' {
		k += 2
		dots := 0
		for k < len(s) && (isDigit(s[k]) || s[k] == '.') {
			if s[k] == '.' {
				dots++
			}
			k++
		}
		if dots == 1 && (k == len(s) || s[k] == ' ') {
			if k < len(s) {
				k++
			}
			return k - i
		}
	}
	if sep == '-' {
		return j - i
	}
	return 0
}

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
