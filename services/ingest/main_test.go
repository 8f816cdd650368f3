package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunDispatch(t *testing.T) {
	var out, errOut bytes.Buffer
	env := func() []string { return nil }
	if err := run(context.Background(), []string{"help"}, env, nil, &out, &errOut); err != nil || !strings.Contains(out.String(), "ingest parse") {
		t.Errorf("help: %v\n%s", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, env, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v", err)
	}
	// run without a source is a configuration error, before any Kafka dial.
	if err := run(context.Background(), []string{"run"}, env, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "nothing to read") {
		t.Errorf("run without source: %v", err)
	}
	if err := run(context.Background(), []string{"run", "--set", "source.fil=x"}, env, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "unknown configuration key") {
		t.Errorf("typo in key: %v", err)
	}
	f := filepath.Join(t.TempDir(), "log")
	_ = os.WriteFile(f, []byte("Nov 26 17:30:58 mx postfix/qmgr[1]: 4ZA: removed\n"), 0o644)
	out.Reset()
	if err := run(context.Background(), []string{"parse", f}, env, strings.NewReader(""), &out, &errOut); err != nil || out.Len() != 0 {
		t.Errorf("parse: %v, output %q", err, out.String())
	}
}
