package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

func testEnv(t *testing.T) Env {
	t.Helper()
	layouts := map[event.SubjectKind]*state.Layout{}
	return Env{TicketURL: "https://support.example.net/t", Layout: func(k event.SubjectKind) *state.Layout {
		if l, ok := layouts[k]; ok {
			return l
		}
		l, err := state.NewLayout(5 * time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		layouts[k] = l
		return l
	}}
}

// TestSenderRulesConfig: the defaults build, and each bad value is refused
// with the key it is about.
func TestSenderRulesConfig(t *testing.T) {
	defaults := []Section{InvalidSenderConfig{}.Default(), CronFloodConfig{}.Default(), BannedSoftwareConfig{}.Default(),
		WebformSpamConfig{}.Default(), BulkMarketingConfig{}.Default(), AutomatedMailConfig{}.Default()}
	for _, d := range defaults {
		if _, err := d.Build(testEnv(t)); err != nil {
			t.Errorf("%T defaults: %v", d, err)
		}
	}
	is := InvalidSenderConfig{}.Default().(InvalidSenderConfig)
	cf := CronFloodConfig{}.Default().(CronFloodConfig)
	bs := BannedSoftwareConfig{}.Default().(BannedSoftwareConfig)
	wf := WebformSpamConfig{}.Default().(WebformSpamConfig)
	bm := BulkMarketingConfig{}.Default().(BulkMarketingConfig)
	am := AutomatedMailConfig{}.Default().(AutomatedMailConfig)
	bad := map[string]Section{}
	c1 := is
	c1.ReservedTLDs = []string{"lo cal"}
	bad["reserved_tlds"] = c1
	c2 := cf
	c2.MaxCV = 0
	bad["max_cv"] = c2
	c3 := cf
	c3.Window = 7 * time.Minute
	bad["bucket width"] = c3
	c4 := bs
	c4.Signatures = []string{"{app}{app}"}
	bad["more than one {app}"] = c4
	c5 := bs
	c5.MinRecipients = 0
	bad["min_recipients"] = c5
	c6 := wf
	c6.RejectionRatio = 1.5
	bad["rejection_ratio"] = c6
	c7 := wf
	c7.ExtraFreemail = []string{"nodot"}
	bad["extra_freemail"] = c7
	c8 := bm
	c8.Mailers = []string{" "}
	bad["mailers"] = c8
	c9 := am
	c9.MinHours = 25
	bad["min_hours"] = c9
	c10 := am
	c10.Window = time.Hour
	bad["shorter than min_hours"] = c10
	for want, sec := range bad {
		_, err := sec.Build(testEnv(t))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%T %+v: error %v, want one about %q", sec, sec, err, want)
		}
	}
	// A ticket URL that makes a message too long is refused at build.
	env := testEnv(t)
	env.TicketURL = "https://support.example.net/" + strings.Repeat("x", 300)
	for _, d := range defaults {
		if _, err := d.Build(env); err == nil {
			t.Errorf("%T built with a %d-byte ticket URL", d, len(env.TicketURL))
		}
	}
}
