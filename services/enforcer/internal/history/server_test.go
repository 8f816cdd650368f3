package history

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chServer is a private ClickHouse server (Debian's clickhouse-server,
// 18.16) on a free loopback port with its own data directory.
type chServer struct {
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
}

func (s *chServer) DSN() string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d/mxwarden?dial_timeout=2s", s.port)
}

// startServer starts one, or skips (fails with CI=true) when the binary is missing.
func startServer(t testing.TB) *chServer {
	t.Helper()
	bin := os.Getenv("MXWARDEN_CLICKHOUSE_SERVER")
	if bin == "" {
		bin = "/usr/sbin/clickhouse-server"
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no %s (scripts/clickhouse/setup.sh installs it)", bin)
		}
		t.Skipf("no ClickHouse server at %s (run scripts/clickhouse/setup.sh as root)", bin)
	}
	dir := t.TempDir()
	s := &chServer{t: t, dir: dir, port: freePort(t)}
	http := freePort(t)
	cfg := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%d</tcp_port>
  <http_port>%d</http_port>
  <path>%s/data/</path>
  <tmp_path>%s/tmp/</tmp_path>
  <user_files_path>%s/user_files/</user_files_path>
  <format_schema_path>%s/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
`, s.port, http, dir, dir, dir, dir)
	users := `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`
	for name, text := range map[string]string{"config.xml": cfg, "users.xml": users} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() == 0 {
		// The server refuses to run as root over a directory owned by another user: keep it root's.
		_ = os.Chmod(dir, 0o755)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *chServer) start() {
	s.t.Helper()
	bin := os.Getenv("MXWARDEN_CLICKHOUSE_SERVER")
	if bin == "" {
		bin = "/usr/sbin/clickhouse-server"
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start clickhouse-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	s.t.Fatalf("clickhouse-server did not listen on %d within 60s:\n%s", s.port, tail(string(b), 2000))
}

// stop kills the server (SIGKILL: an outage, not a clean shutdown).
func (s *chServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestServerMigrate(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	s, err := OpenServer(ctx, srv.DSN(), "mxwarden")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dialect() != Legacy {
		t.Fatalf("Debian's 18.16 server: dialect %s, want legacy", s.Dialect())
	}
	applied, err := Migrate(ctx, s, DefaultConfig().TTL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := Migrations()
	if len(applied) != len(ms) {
		t.Fatalf("applied %v, want all %d", applied, len(ms))
	}
	if again, err := Migrate(ctx, s, DefaultConfig().TTL, nil); err != nil || len(again) != 0 {
		t.Fatalf("second Migrate: %v %v", again, err)
	}
	// Read-only on the server too: past the statement check, readonly=1 refuses.
	ro := ReadOnly{Timeout: 10 * time.Second, MaxRows: 10}
	for _, q := range []string{"INSERT INTO events (id) SELECT 'x'", "SELECT * FROM file('/etc/passwd', 'TSV', 'line String')",
		"DROP TABLE verdicts", "SELECT 1 SETTINGS readonly = 0", "CREATE TABLE x (a Int8) ENGINE = Memory"} {
		if _, err := s.Query(ctx, q, &ro); err == nil {
			t.Errorf("server ran %q read-only", q)
		}
	}
	if _, err := RunPack(ctx, s, "why-banned", map[string]string{"subject": "x' OR '1'='1"}, ro); err != nil {
		t.Errorf("why-banned on 18.16: %v", err)
	}
	for _, name := range PackNames() {
		params := map[string]string{}
		p, _ := Pack()
		for _, pp := range p[name].Params {
			if pp.Required {
				params[pp.Name] = "a@shop.example"
			}
		}
		if _, err := RunPack(ctx, s, name, params, ro); err != nil {
			t.Errorf("pack %s on 18.16: %v", name, err)
		}
	}
	res, err := s.Query(ctx, "SELECT name FROM system.tables WHERE database = 'mxwarden' ORDER BY name", nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res.Rows {
		names = append(names, r[0].(string))
	}
	for _, want := range []string{"allowlist_changes", "bans", "events", "events_account_hour", "events_account_hour_mv", "queue_samples", "schema_migrations", "verdicts"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("tables %v lack %s", names, want)
		}
	}
}
