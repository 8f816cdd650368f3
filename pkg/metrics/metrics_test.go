package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServer(t *testing.T) {
	reg := NewRegistry()
	s := NewServer("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz before SetReady: %d", code)
	}
	s.SetReady(true)
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("readyz after SetReady: %d", code)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}

func TestClassifyError(t *testing.T) {
	cases := map[string]struct {
		err  error
		want string
	}{
		"nil":      {nil, ErrClassNone},
		"canceled": {fmt.Errorf("x: %w", context.Canceled), ErrClassCanceled},
		"deadline": {context.DeadlineExceeded, ErrClassTimeout},
		"refused":  {fmt.Errorf("dial: %w", syscall.ECONNREFUSED), ErrClassNetwork},
		"notexist": {fmt.Errorf("open: %w", os.ErrNotExist), ErrClassNotFound},
		"other":    {errors.New("boom"), ErrClassOther},
	}
	for name, tc := range cases {
		if got := ClassifyError(tc.err); got != tc.want {
			t.Errorf("%s: got %s want %s", name, got, tc.want)
		}
	}
}
