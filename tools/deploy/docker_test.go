package deploy

import (
	"bufio"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

var services = []string{"ingest", "detector", "enforcer"}

// goWork returns go.work's go version and use directories.
func goWork(t *testing.T) (string, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	var version string
	var uses []string
	inUse := false
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "go "):
			version = strings.TrimPrefix(l, "go ")
		case l == "use (":
			inUse = true
		case inUse && l == ")":
			inUse = false
		case inUse && l != "":
			uses = append(uses, path.Clean(strings.TrimPrefix(l, "./")))
		case strings.HasPrefix(l, "use "):
			uses = append(uses, path.Clean(strings.TrimPrefix(strings.TrimPrefix(l, "use "), "./")))
		}
	}
	if version == "" || len(uses) == 0 {
		t.Fatalf("go.work: no go version or use directives")
	}
	return version, uses
}

type stage struct {
	name, base string
	copies     [][2]string // context source, destination (COPY without --from)
	copyFrom   []string    // COPY --from=<stage> lines
	runs       []string
	env        map[string]string
	user       string
	entrypoint string
}

// parseDockerfile reads a Dockerfile with BuildKit's own parser.
func parseDockerfile(t *testing.T, file string) (map[string]string, []*stage) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	args := map[string]string{}
	var stages []*stage
	for _, n := range res.AST.Children {
		var words []string
		for w := n.Next; w != nil; w = w.Next {
			words = append(words, w.Value)
		}
		cmd := strings.ToLower(n.Value)
		if cmd != "from" && cmd != "arg" && len(stages) == 0 {
			t.Fatalf("%s:%d: %s before FROM", file, n.StartLine, n.Value)
		}
		var cur *stage
		if len(stages) > 0 {
			cur = stages[len(stages)-1]
		}
		switch cmd {
		case "arg":
			for _, w := range words {
				k, v, _ := strings.Cut(w, "=")
				args[k] = v
			}
		case "from":
			s := &stage{base: os.Expand(words[0], func(k string) string { return args[k] }), env: map[string]string{}}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				s.name = words[2]
			}
			stages = append(stages, s)
		case "copy":
			from := ""
			for _, fl := range n.Flags {
				if v, ok := strings.CutPrefix(fl, "--from="); ok {
					from = v
				}
			}
			if from != "" {
				cur.copyFrom = append(cur.copyFrom, from+":"+strings.Join(words, " "))
				continue
			}
			dst := words[len(words)-1]
			for _, src := range words[:len(words)-1] {
				cur.copies = append(cur.copies, [2]string{src, dst})
			}
		case "run":
			cur.runs = append(cur.runs, strings.Join(words, " "))
		case "env":
			for i := 0; i+1 < len(words); i += 2 {
				cur.env[words[i]] = words[i+1]
			}
		case "user":
			cur.user = words[0]
		case "entrypoint":
			cur.entrypoint = strings.Join(words, " ")
		}
	}
	return args, stages
}

// dockerignore reads the per-Dockerfile ignore file; only the pattern
// forms used here are accepted (a name at the root, **/name, **/*glob).
func dockerignore(t *testing.T, file string) func(rel string) bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("%v: every Dockerfile has a .dockerignore beside it", err)
	}
	defer f.Close()
	var pats []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") || strings.Contains(strings.TrimPrefix(l, "**/"), "/") {
			t.Fatalf("%s: pattern %q is not of a form this test understands", file, l)
		}
		pats = append(pats, l)
	}
	return func(rel string) bool {
		parts := strings.Split(rel, "/")
		for _, p := range pats {
			if g, ok := strings.CutPrefix(p, "**/"); ok {
				for _, seg := range parts {
					if m, _ := path.Match(g, seg); m {
						return true
					}
				}
			} else if m, _ := path.Match(p, parts[0]); m {
				return true
			}
		}
		return false
	}
}

// copyContext does what the build stage's COPY lines do, from the
// repository root (the build context) into dst, honouring the ignore file.
func copyContext(t *testing.T, s *stage, ignored func(string) bool, dst string) {
	t.Helper()
	root := repoRoot()
	for _, c := range s.copies {
		src, to := c[0], c[1]
		target := filepath.Join(dst, to)
		if strings.HasSuffix(to, "/") || to == "./" {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		info, err := os.Stat(filepath.Join(root, src))
		if err != nil {
			t.Errorf("COPY %s: %v", src, err)
			continue
		}
		if !info.IsDir() {
			if strings.HasSuffix(to, "/") || to == "./" {
				target = filepath.Join(target, filepath.Base(src))
			}
			copyFile(t, filepath.Join(root, src), target)
			continue
		}
		base := filepath.Join(root, src)
		_ = filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if ignored(filepath.ToSlash(rel)) {
				if fi.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if fi.IsDir() {
				return nil
			}
			sub, _ := filepath.Rel(base, p)
			copyFile(t, p, filepath.Join(target, sub))
			return nil
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

var mountFlag = regexp.MustCompile(`--mount=\S+\s*`)

// Each service's Dockerfile is multi-stage, ends on a distroless static
// (or scratch) base as a non-root user, copies go.work with the go.mod and
// go.sum of every module it uses, pkg/ and its own service, and nothing
// of the other services' sources; and the build stage's own commands,
// run on exactly what its COPY lines bring in, build a static binary.
func TestDockerfiles(t *testing.T) {
	goVersion, uses := goWork(t)
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			file := filepath.Join(repoRoot(), "deploy", "docker", svc+".Dockerfile")
			args, stages := parseDockerfile(t, file)
			if len(stages) < 2 {
				t.Fatalf("%s: %d stages, want a multi-stage build", file, len(stages))
			}
			build, final := stages[0], stages[len(stages)-1]
			if args["GO_VERSION"] != goVersion || !strings.HasPrefix(build.base, "golang:"+goVersion) {
				t.Errorf("build stage FROM %s (GO_VERSION %q), want golang:%s as in go.work", build.base, args["GO_VERSION"], goVersion)
			}
			if !strings.HasPrefix(final.base, "gcr.io/distroless/static") && final.base != "scratch" {
				t.Errorf("final stage FROM %s, want distroless static or scratch", final.base)
			}
			if u := strings.Split(final.user, ":")[0]; u == "" || u == "0" || u == "root" {
				t.Errorf("final stage USER %q, want a non-root uid", final.user)
			}
			if final.entrypoint != "/usr/local/bin/"+svc {
				t.Errorf("ENTRYPOINT %q, want /usr/local/bin/%s", final.entrypoint, svc)
			}
			if len(final.copies) > 0 || len(final.copyFrom) != 1 || !strings.HasPrefix(final.copyFrom[0], build.name+":/out/"+svc+" ") {
				t.Errorf("final stage must copy only the binary from %s: %v %v", build.name, final.copies, final.copyFrom)
			}
			copied := map[string]bool{}
			for _, c := range build.copies {
				copied[path.Clean(c[0])] = true
			}
			for _, f := range []string{"go.work", "go.work.sum"} {
				if !copied[f] {
					t.Errorf("does not COPY %s", f)
				}
			}
			for _, u := range uses {
				for _, f := range []string{"go.mod", "go.sum"} {
					if !copied[u+"/"+f] && !copied[u] {
						t.Errorf("go.work uses ./%s but the Dockerfile does not COPY %s/%s: go would refuse the workspace", u, u, f)
					}
				}
			}
			for c := range copied {
				if strings.HasPrefix(c, "services/") && strings.Count(c, "/") == 1 && c != "services/"+svc {
					t.Errorf("copies another service's sources: %s", c)
				}
			}
			if !copied["pkg"] || !copied["services/"+svc] {
				t.Errorf("must COPY pkg/ and services/%s/: %v", svc, copied)
			}

			// Run the build stage's commands on the copied context.
			ctx := t.TempDir()
			copyContext(t, build, dockerignore(t, file+".dockerignore"), ctx)
			out := filepath.Join(t.TempDir(), "out")
			// The image's environment: none of this process's Go settings
			// (GOWORK=off, GOFLAGS) leak in; the module and build caches are
			// shared so nothing is downloaded twice.
			var env []string
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); k != "GOWORK" && k != "GOFLAGS" && k != "CGO_ENABLED" && k != "GOTOOLCHAIN" {
					env = append(env, kv)
				}
			}
			for k, v := range build.env {
				env = append(env, k+"="+v)
			}
			for _, run := range build.runs {
				script := mountFlag.ReplaceAllString(run, "")
				script = strings.ReplaceAll(script, "/out/", out+"/")
				cmd := exec.Command("sh", "-c", script)
				cmd.Dir, cmd.Env = ctx, env
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("RUN %s in the copied build context: %v\n%s", script, err, b)
				}
			}
			bin := filepath.Join(out, svc)
			ef, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("the build produced no %s binary: %v", svc, err)
			}
			defer ef.Close()
			for _, p := range ef.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked: it would not run on %s", svc, final.base)
				}
			}
			checkArgs := []string{"check"}
			if svc == "ingest" {
				checkArgs = append(checkArgs, "--set", "source.stdin=true") // it refuses to start with nothing to read
			}
			if v, err := exec.Command(bin, checkArgs...).CombinedOutput(); err != nil {
				t.Errorf("%s check (defaults): %v\n%s", svc, err, v)
			}
		})
	}
}
