package desk_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/desk"
)

// BenchmarkLookupPage renders the public lookup page of a banned sender
// with 200,000 bans in the set: the bans are fetched by exact key, so the
// cost does not grow with the set.
func BenchmarkLookupPage(b *testing.B) {
	set := banset.New(time.Now)
	for i := range 200_000 {
		set.Put(invalidRecipientsBan(fmt.Sprintf("user%d@domain%d.example", i, i%5000)))
	}
	target := "user4242@domain4242.example"
	cfg := desk.DefaultConfig()
	cfg.Enabled, cfg.LookupsPerMinute, cfg.LookupBurst = true, 1e12, 1<<30
	srv, err := desk.New(cfg, desk.Deps{Backend: &api.Local{Set: set}, Kafka: kafka.DefaultConfig("bench")})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/lookup?a="+target, nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
