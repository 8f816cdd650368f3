package desk

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiters bounds the per-client limiters kept; past it the idle ones
// (bucket full again) are swept, and if none is idle the table is reset.
const maxLimiters = 1 << 16

// limiter is a token bucket per client network: the address for IPv4,
// the /64 for IPv6 (one host usually owns a whole /64).
type limiter struct {
	every rate.Limit
	burst int
	now   func() time.Time

	mu sync.Mutex
	m  map[netip.Addr]*rate.Limiter
}

func newLimiter(perSecond float64, burst int, now func() time.Time) *limiter {
	return &limiter{every: rate.Limit(perSecond), burst: burst, now: now, m: map[netip.Addr]*rate.Limiter{}}
}

// allow takes one token for client; false when its bucket is empty.
func (l *limiter) allow(client netip.Addr) bool {
	if client.Is6() {
		p, _ := client.Prefix(64)
		client = p.Addr()
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[client]
	if !ok {
		if len(l.m) >= maxLimiters {
			for k, v := range l.m {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.m, k)
				}
			}
			if len(l.m) >= maxLimiters {
				clear(l.m)
			}
		}
		b = rate.NewLimiter(l.every, l.burst)
		l.m[client] = b
	}
	return b.AllowN(now, 1)
}

// clientIP returns the client of r: the TCP peer, or when the peer is a
// trusted proxy the right-most X-Forwarded-For address that is not one.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	peer = peer.Unmap()
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if a = a.Unmap(); !isTrusted(a) {
			return a
		}
	}
	return peer
}
