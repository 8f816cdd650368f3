package traffic

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Ban is what scoring needs of one ban record (the detector's JSON).
type Ban struct {
	TS          time.Time `json:"ts"`
	Rule        string    `json:"rule"`
	SubjectKind string    `json:"subject_kind"`
	Subject     string    `json:"subject"`
	Action      string    `json:"action"`
}

// RuleScore is one rule's precision and recall on the labelled traffic.
type RuleScore struct {
	Rule string
	// Families meant for the rule, and how many of them it banned.
	Families, Caught int
	// Bans the rule made, and how many hit an abuse family's wanted subject.
	Bans, Correct int
}

// Precision is the share of the rule's bans that were right (1 with none).
func (s RuleScore) Precision() float64 {
	if s.Bans == 0 {
		return 1
	}
	return float64(s.Correct) / float64(s.Bans)
}

// Recall is the share of the rule's abuse families it banned.
func (s RuleScore) Recall() float64 {
	if s.Families == 0 {
		return 1
	}
	return float64(s.Caught) / float64(s.Families)
}

// Report is the outcome of scoring bans against the labels.
type Report struct {
	Rules []RuleScore
	// Problems lists every miss: an abuse family not banned for its rule
	// (within its activity plus slack), and every benign identity banned.
	Problems []string
}

// Score compares bans (action ban only: a defer is a temporary refusal,
// not a ban) with the families' labels. Only families whose rule is in
// rules are expected to be caught; benign identities must not be banned by
// any rule. slack is how long after a family's last message its ban may
// come.
func Score(families []Family, bans []Ban, rules []string, slack time.Duration) Report {
	known := map[string]bool{}
	for _, r := range rules {
		known[r] = true
	}
	key := func(kind, subject string) string { return kind + ":" + strings.ToLower(subject) }
	wanted := map[string]bool{} // rule|kind:subject of every abuse family
	for _, f := range families {
		for _, w := range append(append([]Want(nil), f.Wants...), f.Also...) {
			wanted[w.Rule+"|"+key(w.Kind, w.Subject)] = true
		}
	}
	scores := map[string]*RuleScore{}
	score := func(r string) *RuleScore {
		if scores[r] == nil {
			scores[r] = &RuleScore{Rule: r}
		}
		return scores[r]
	}
	for _, r := range rules {
		score(r)
	}
	var rep Report
	for _, b := range bans {
		if b.Action != "ban" {
			continue
		}
		s := score(b.Rule)
		s.Bans++
		if wanted[b.Rule+"|"+key(b.SubjectKind, b.Subject)] {
			s.Correct++
		}
	}
	for _, f := range families {
		if !f.Abuse {
			ids := map[string]bool{}
			for _, id := range f.Identities {
				k, s, _ := strings.Cut(id, ":")
				ids[key(k, s)] = true
			}
			for _, b := range bans {
				if b.Action == "ban" && ids[key(b.SubjectKind, b.Subject)] {
					rep.Problems = append(rep.Problems, fmt.Sprintf("benign %q: %s:%s banned by %s", f.Name, b.SubjectKind, b.Subject, b.Rule))
				}
			}
			continue
		}
		if !known[f.Rule] {
			continue
		}
		s := score(f.Rule)
		s.Families++
		caught := false
		for _, b := range bans {
			if b.Action != "ban" || b.TS.Before(f.Start) || b.TS.After(f.End.Add(slack)) {
				continue
			}
			for _, w := range f.Wants {
				if b.Rule == f.Rule && w.Rule == b.Rule && key(w.Kind, w.Subject) == key(b.SubjectKind, b.Subject) {
					caught = true
				}
			}
		}
		if caught {
			s.Caught++
		} else {
			rep.Problems = append(rep.Problems, fmt.Sprintf("abuse %q: not banned by %s within its activity", f.Name, f.Rule))
		}
	}
	for _, s := range scores {
		rep.Rules = append(rep.Rules, *s)
	}
	sort.Slice(rep.Rules, func(i, j int) bool { return rep.Rules[i].Rule < rep.Rules[j].Rule })
	return rep
}
