package desk_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// chromium finds the browser: $MXWARDEN_CHROMIUM, else Debian's chromium
// (scripts/browser/setup.sh installs it; make test runs that). Without it
// the test skips with one line, except with CI=true, where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MXWARDEN_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but chromium is not installed (run scripts/browser/setup.sh)")
	}
	t.Skip("chromium not installed (scripts/browser/setup.sh installs it); browser tests skipped")
	return ""
}

// artifacts is where screenshots go: $MXWARDEN_TEST_ARTIFACTS/<test>, else
// the test's artifact directory (go test -artifacts keeps it).
func artifacts(t *testing.T) string {
	t.Helper()
	dir := t.ArtifactDir()
	if base := os.Getenv("MXWARDEN_TEST_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// browser is one headless Chromium; tab opens a tab in a browser context
// of its own (its own cookies: one signed-in person).
type browser struct {
	t     *testing.T
	alloc context.Context
	dir   string
	shots []string
}

func newBrowser(t *testing.T) *browser {
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	// The first context starts the browser; tabs open in contexts of their own.
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	b := &browser{t: t, alloc: root, dir: artifacts(t)}
	t.Cleanup(func() { t.Logf("screenshots in %s: %s", b.dir, strings.Join(b.shots, ", ")) })
	return b
}

func (b *browser) tab() context.Context {
	ctx, cancel := chromedp.NewContext(b.alloc, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	ctx, cancel2 := context.WithTimeout(ctx, 90*time.Second)
	b.t.Cleanup(cancel2)
	return ctx
}

func (b *browser) do(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// submit runs steps that navigate (a click, an Enter) and returns the
// answer's status code.
func (b *browser) submit(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

func (b *browser) text(ctx context.Context, sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) count(ctx context.Context, sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(sel)+").length"))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// unlabelled counts the form controls without a label, and checks the
// page has a language and a main landmark.
func (b *browser) unlabelled(ctx context.Context) int {
	b.t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => {
		if (!document.documentElement.lang || !document.querySelector('main')) return 1000;
		return [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
			.filter(el => el.labels.length === 0 && !el.getAttribute('aria-label')).length;
	})()`))
	if err != nil {
		b.t.Fatalf("label check: %v", err)
	}
	return n
}

func (b *browser) shot(ctx context.Context, name string) {
	b.t.Helper()
	if n := b.unlabelled(ctx); n != 0 {
		b.t.Fatalf("%s: %d form controls without a label (or no lang / main)", name, n)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.shots = append(b.shots, name+".png")
}

func mustContain(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Fatalf("%s does not show %q:\n%s", what, w, text)
		}
	}
}

// TestBrowserDesk walks the desk in a real Chromium as a blocked sender
// and as staff: look up a banned sender and a clean address, file a
// dispute, find it in the staff view, unban and see the policy server
// answer DUNNO, and sign in read-only to find no buttons while the API
// refuses the change.
func TestBrowserDesk(t *testing.T) {
	b := newBrowser(t)
	e := startEnv(t, nil)
	banned := "newsletter@cheap-leads.example"
	e.produceBan(invalidRecipientsBan(banned))
	other := ruleBan("cron_flood", event.KindSender, "cron@box.example", map[string]float64{"count": 1440, "window_seconds": 86400},
		"5.7.1 Your cron job floods our queue")
	e.produceBan(other)
	if got := e.policy(banned, "someone@example.org"); !strings.HasPrefix(got, "action=REJECT") {
		t.Fatalf("policy before: %q", got)
	}

	// --- The blocked sender, with the keyboard: type the address, Enter.
	person := b.tab()
	b.do(person, "open the lookup page", chromedp.Navigate(e.base+"/lookup"), chromedp.WaitVisible(chromedp.CSS("#a")))
	if n := b.count(person, `label[for="a"]`); n != 1 {
		t.Fatalf("lookup input has %d labels", n)
	}
	code := b.submit(person, "look up the banned sender", chromedp.SendKeys(chromedp.CSS("#a"), banned+"\n"))
	if code != 200 {
		t.Fatalf("lookup: HTTP %d", code)
	}
	b.do(person, "result", chromedp.WaitVisible(chromedp.CSS("article.ban")))
	got := b.text(person, "main")
	mustContain(t, "the banned sender's page", got,
		banned+" is blocked",
		"Your sending address has been blocked: Too many messages to recipients that do not exist",
		"31 of 40 recipients did not exist, in 1 hour.",       // the numbers in plain words
		"Clean your list: remove every address that bounced.", // what to fix
		"Share at which we block", "50 %",                     // the rule's threshold
		"It expires at", "Dispute this block", "open a ticket")
	b.shot(person, "1-lookup-banned")

	// --- A clean address.
	b.submit(person, "look up a clean address", chromedp.Navigate(e.base+"/lookup?a="+url.QueryEscape("someone@clean.example")))
	got = b.text(person, "main")
	mustContain(t, "the clean address's page", got, "someone@clean.example is not blocked",
		"Other common reasons a message bounces", "mailbox is full")
	if strings.Contains(got, "cheap-leads") || strings.Contains(got, "cron@box.example") {
		t.Fatal("the clean page names another customer")
	}
	b.shot(person, "2-lookup-clean")

	// --- The domain: its bans on other addresses are not listed.
	b.submit(person, "look up the domain", chromedp.Navigate(e.base+"/lookup?a=cheap-leads.example"))
	if got := b.text(person, "main"); !strings.Contains(got, "cheap-leads.example is not blocked") || strings.Contains(got, "newsletter@") {
		t.Fatalf("a domain lookup lists its addresses:\n%s", got)
	}

	// --- A dispute from the banned sender's page.
	b.submit(person, "back to the banned sender", chromedp.Navigate(e.base+"/lookup?a="+url.QueryEscape(banned)))
	b.do(person, "fill the dispute",
		chromedp.SendKeys(chromedp.CSS("#contact"), "owner@cheap-leads.example"),
		chromedp.SendKeys(chromedp.CSS("#message"), "We removed the bounced addresses from our list."))
	b.shot(person, "3-dispute-form")
	if code := b.submit(person, "send the dispute", chromedp.Click(chromedp.CSS(`form[action="/dispute"] button`))); code != 200 {
		t.Fatalf("dispute: HTTP %d", code)
	}
	got = b.text(person, "main")
	mustContain(t, "the dispute's answer", got, "Your dispute was recorded", "Your reference is d-")
	ref := b.text(person, ".filed .ref")
	b.shot(person, "4-dispute-recorded")
	recs := e.records(e.cfg.Kafka.Topics.Disputes)
	if len(recs) != 1 || string(recs[0].Key) != ref {
		t.Fatalf("disputes topic: %d records, want 1 keyed %s", len(recs), ref)
	}

	// --- Staff (admin): sign in, find the dispute, open the ban, unban.
	staff := b.tab()
	b.do(staff, "open the staff view", chromedp.Navigate(e.base+"/staff"), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.shot(staff, "5-staff-login")
	b.submit(staff, "sign in", chromedp.SendKeys(chromedp.CSS("#token"), adminToken+"\n"))
	b.do(staff, "staff view", chromedp.WaitVisible(chromedp.CSS("#disputes-h")))
	got = b.text(staff, "main")
	mustContain(t, "the staff view", got, "Disputes waiting (1)", ref, banned, "We removed the bounced addresses",
		"owner@cheap-leads.example", "cron@box.example")
	b.shot(staff, "6-staff-list")
	b.submit(staff, "search", chromedp.SetValue(chromedp.CSS("#q"), "cheap"), chromedp.Click(chromedp.CSS(`form.search button`)))
	got = b.text(staff, "main")
	if !strings.Contains(got, "1 bans, showing 1 to 1") || strings.Contains(got, "cron@box.example\tsender") {
		t.Fatalf("search for cheap:\n%s", got)
	}
	b.submit(staff, "open the ban", chromedp.Click(chromedp.CSS(`table.list a[href*="kind=sender"]`)))
	got = b.text(staff, "main")
	mustContain(t, "the ban page", got, "Ban on "+banned, "Evidence", "user_unknown", "31", "Events behind it",
		"mx1:1:100", "Timeline", ref)
	b.shot(staff, "7-staff-ban")
	b.do(staff, "reason", chromedp.SendKeys(chromedp.CSS("#unban-reason"), "customer cleaned the list"))
	if code := b.submit(staff, "unban", chromedp.Click(chromedp.CSS("#unban"))); code != 200 {
		t.Fatalf("unban: HTTP %d", code)
	}
	got = b.text(staff, "main")
	mustContain(t, "after the unban", got, "The ban was lifted")
	b.shot(staff, "8-staff-unbanned")
	eventually(t, "DUNNO after the unban", func() bool { return e.policy(banned, "someone@example.org") == "action=DUNNO" })
	var tomb bool
	for _, r := range e.records(e.cfg.Kafka.Topics.Bans) {
		if string(r.Key) == "sender:"+banned && r.Value == nil {
			for _, h := range r.Headers {
				if h.Key == event.HeaderActor && string(h.Value) == "desk-admin" {
					tomb = true
				}
			}
		}
	}
	if !tomb {
		t.Fatal("no tombstone with actor desk-admin on the bans topic")
	}

	// --- Read-only staff: no buttons, and the API refuses the change.
	viewer := b.tab()
	b.do(viewer, "viewer sign-in page", chromedp.Navigate(e.base+"/staff/login"), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.submit(viewer, "viewer sign in", chromedp.SendKeys(chromedp.CSS("#token"), viewerToken+"\n"))
	b.submit(viewer, "viewer opens a ban", chromedp.Navigate(e.base+banPath(event.KindSender, other.Subject)))
	got = b.text(viewer, "main")
	mustContain(t, "the read-only ban page", got, "Ban on cron@box.example", "Your token is read-only")
	if n := b.count(viewer, `main form button, main input[name="csrf"]`); n != 0 {
		t.Fatalf("read-only ban page has %d buttons or change forms", n)
	}
	b.shot(viewer, "9-staff-read-only")
	if code := e.apiDo("DELETE", "/api/v1/bans/sender/cron@box.example?reason=try", viewerToken, ""); code != 403 {
		t.Fatalf("API unban with the read-only token: HTTP %d, want 403", code)
	}
	if got := e.policy("cron@box.example", "x@example.org"); !strings.HasPrefix(got, "action=REJECT") {
		t.Fatalf("cron ban lifted: %q", got)
	}
}

// TestBrowserHostileInert loads pages full of hostile subjects in Chromium
// and checks that nothing of them became markup: no script, img or svg
// element, no event handler ran.
func TestBrowserHostileInert(t *testing.T) {
	b := newBrowser(t)
	e := startEnv(t, nil)
	for _, s := range hostileSubjects {
		e.produceBan(invalidRecipientsBan(s))
	}
	tab := b.tab()
	check := func(name, path string) {
		t.Helper()
		b.submit(tab, name, chromedp.Navigate(e.base+path))
		if n := b.count(tab, "script, img, svg, iframe, object, embed, [onload], [onerror], [onmouseover]"); n != 0 {
			t.Fatalf("%s: %d elements from the data became markup", name, n)
		}
		b.shot(tab, name)
	}
	check("hostile-lookup", "/lookup?a="+url.QueryEscape(hostileSubjects[0]))
	got := b.text(tab, "main")
	mustContain(t, "the hostile lookup", got, `"><script>alert(1)</script>@evil.example is blocked`)
	check("hostile-bidi-5k", "/lookup?a="+url.QueryEscape("admin\u202e@evil.example\u2066<svg/onload=alert(1)>"+strings.Repeat("A", 5000)))
	mustContain(t, "the bidi lookup", b.text(tab, "#a-error"), "characters long")
	b.do(tab, "sign-in page", chromedp.Navigate(e.base+"/staff/login"), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.submit(tab, "sign in", chromedp.SendKeys(chromedp.CSS("#token"), adminToken+"\n"))
	check("hostile-staff", "/staff")
	for i, s := range hostileSubjects {
		check("hostile-ban-"+string(rune('a'+i)), banPath(event.KindSender, s))
	}
}
