package mta

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

func TestEximListDomainKeysAndPatterns(t *testing.T) {
	bans := ptrs([]event.Ban{
		mkBan(event.KindSenderDomain, "Spam.Example", "domain"),
		mkBan(event.KindSender, "a@x.example", "addr"),
		mkBan(event.KindSender, "^.*@x.example", "regex"),
		mkBan(event.KindSender, "*@x.example", "wildcard"),
		mkBan(event.KindSender, "a:b@x.example", "colon"),
	})
	r := EximList.Render(bans, nil, SideSender)
	body := string(r.Body)
	for _, want := range []string{"\n*@spam.example: domain\n", "\na@x.example: addr\n", "\n\"a:b@x.example\": colon\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("list lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "^") || strings.Contains(body, "*@x.example") || len(r.Skipped) != 2 {
		t.Errorf("patterns written or not counted (%v):\n%s", r.Skipped, body)
	}
}

func TestAllowlistExceptions(t *testing.T) {
	bans := ptrs([]event.Ban{
		mkBan(event.KindSenderDomain, "corp.example", "domain"),
		mkBan(event.KindSender, "other@x.example", "addr"),
	})
	def := mkBan(event.KindSender, "slow@x.example", "later")
	def.Action = event.ActionDefer
	bans = append(bans, &def)
	allow := []*event.AllowEntry{{Kind: event.KindSender, Subject: "ceo@corp.example"}}
	pf := string(Postfix.Render(bans, allow, SideSender).Body)
	for _, want := range []string{"\nceo@corp.example DUNNO\n", "\ncorp.example REJECT domain\n", "\nslow@x.example DEFER_IF_PERMIT later\n"} {
		if !strings.Contains(pf, want) {
			t.Errorf("postfix map lacks %q:\n%s", want, pf)
		}
	}
	for _, f := range []Format{Exim, EximList} {
		r := f.Render(bans, allow, SideSender)
		if strings.Contains(string(r.Body), "corp.example") || strings.Contains(string(r.Body), "slow@") {
			t.Errorf("%s: domain with an allowlisted address, or a defer, written:\n%s", f.Name(), r.Body)
		}
		if len(r.Skipped) != 1 || r.Skipped[0].Reason != SkipAllowlisted {
			t.Errorf("%s: skipped %v", f.Name(), r.Skipped)
		}
	}
}

func TestRspamdMaps(t *testing.T) {
	set := banset.New(nil)
	for _, b := range []event.Ban{
		mkBan(event.KindSender, "Spam@X.example", "m"),
		mkBan(event.KindSenderDomain, "spam.example", "m"),
		mkBan(event.KindRecipient, "v@gmail.example", "m"),
		mkBan(event.KindClientIP, "::ffff:192.0.2.7", "m"),
		mkBan(event.KindAccount, "cust1", "m"),
		mkBan(event.KindAccount, "#hash", "m"),
		mkBan(event.KindSender, "/regex/@x.example", "m"),
	} {
		set.Put(&b)
	}
	h := NewRspamdHandler(set, nil2(), prometheus.NewRegistry())
	get := func(path string, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	want := map[string]string{
		"from": "spam.example\nspam@x.example\n",
		"rcpt": "v@gmail.example\n",
		"ip":   "192.0.2.7\n",
		"user": "cust1\n",
	}
	etags := map[string]string{}
	for name, body := range want {
		w := get(RspamdPrefix+name, nil)
		got := w.Body.String()
		if w.Code != 200 || !strings.HasSuffix(got, "\n"+body) || strings.Count(got, "\n") != 1+strings.Count(body, "\n") {
			t.Errorf("%s: %d %q, want entries %q", name, w.Code, got, body)
		}
		etags[name] = w.Header().Get("ETag")
		if w2 := get(RspamdPrefix+name, map[string]string{"If-None-Match": etags[name]}); w2.Code != http.StatusNotModified {
			t.Errorf("%s: If-None-Match: %d", name, w2.Code)
		}
		if w2 := get(RspamdPrefix+name, map[string]string{"If-Modified-Since": w.Header().Get("Last-Modified")}); w2.Code != http.StatusNotModified {
			t.Errorf("%s: If-Modified-Since: %d", name, w2.Code)
		}
	}
	if w := get(RspamdPrefix+"nope", nil); w.Code != 404 {
		t.Errorf("unknown map: %d", w.Code)
	}
	// A change gives a new ETag for the map it touches only.
	b := mkBan(event.KindRecipientDomain, "sms.example", "m")
	set.Put(&b)
	if w := get(RspamdPrefix+"rcpt", map[string]string{"If-None-Match": etags["rcpt"]}); w.Code != 200 || !strings.Contains(w.Body.String(), "\nsms.example\n") {
		t.Errorf("rcpt after a change: %d %q", w.Code, w.Body.String())
	}
	if w := get(RspamdPrefix+"from", map[string]string{"If-None-Match": etags["from"]}); w.Code != http.StatusNotModified {
		t.Errorf("from after a change elsewhere: %d", w.Code)
	}
}

func nil2() *slog.Logger { return slog.New(slog.DiscardHandler) }
