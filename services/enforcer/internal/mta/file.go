package mta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/atomicfile"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

// CommandTimeout bounds one run of the command after a write.
const CommandTimeout = 30 * time.Second

// FileConfig configures a FileWriter.
type FileConfig struct {
	// Format renders the content.
	Format Format
	// Side selects the bans.
	Side Side
	// Rules, when set, keeps only the bans of these rules (e.g. the
	// over-quota list: mailbox_full); ExceptRules leaves these rules out.
	Rules, ExceptRules []string
	// Path is the map file. Its directory is created by Connect.
	Path string
	// Command runs after every change of the file, and once after Connect,
	// as argv with "{path}" replaced by Path (see ParseCommand); nil runs
	// nothing. A failing command fails the Write, which is then retried.
	Command []string
}

// FileWriter keeps one map file equal to the rendering of the latest
// snapshot. It is safe for concurrent use, though the enforcer calls it
// from one goroutine.
type FileWriter struct {
	cfg    FileConfig
	logger *slog.Logger
	m      *Metrics

	mu         sync.Mutex
	connected  bool
	onDisk     []byte // content of Path as last read or written; nil if unknown
	commandDue bool   // Command has not run successfully since the last change
	skipped    map[Skipped]bool
	generation int // content changes written since NewFileWriter
}

// Generation counts the content changes Write put on disk (including
// the command after them); callers compare it to see whether a Write
// changed the file.
func (w *FileWriter) Generation() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.generation
}

// Format returns the writer's format.
func (w *FileWriter) Format() Format { return w.cfg.Format }

var _ Writer = (*FileWriter)(nil)

// NewFileWriter returns a writer for cfg; call Connect before Write.
func NewFileWriter(cfg FileConfig, logger *slog.Logger, m *Metrics) *FileWriter {
	return &FileWriter{
		cfg:    cfg,
		logger: logger.With("component", "map_writer", "format", cfg.Format.Name(), "path", cfg.Path),
		m:      m,
	}
}

// Path returns the map file's path.
func (w *FileWriter) Path() string { return w.cfg.Path }

// Connect creates the directory, removes temporary files a crash left
// behind, checks the directory is writable and reads the current file, so
// an unchanged ban set after a restart does not rewrite it.
func (w *FileWriter) Connect(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	dir, base := filepath.Split(w.cfg.Path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create map directory: %w", err)
	}
	stale, _ := filepath.Glob(filepath.Join(dir, tempPrefix(base)+"*"))
	for _, p := range stale {
		_ = os.Remove(p)
	}
	f, err := os.CreateTemp(dir, tempPrefix(base))
	if err != nil {
		return fmt.Errorf("check map directory is writable: %w", err)
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	cur, err := os.ReadFile(w.cfg.Path)
	switch {
	case err == nil:
		w.onDisk = cur
	case errors.Is(err, fs.ErrNotExist):
		w.onDisk = nil
	default:
		return fmt.Errorf("read map file: %w", err)
	}
	// The command's output (e.g. the .db of postmap) may be older than the
	// file if the last process died in between: run it once after start.
	w.commandDue = len(w.cfg.Command) > 0
	w.connected = true
	return nil
}

// Write renders snap and replaces the file when the content changed.
func (w *FileWriter) Write(ctx context.Context, snap banset.Snapshot) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.connected {
		return ErrNotConnected
	}
	bans := snap.Bans
	if len(w.cfg.Rules) > 0 || len(w.cfg.ExceptRules) > 0 {
		bans = make([]*event.Ban, 0, len(snap.Bans))
		for _, b := range snap.Bans {
			if (len(w.cfg.Rules) == 0 || slices.Contains(w.cfg.Rules, b.Rule)) && !slices.Contains(w.cfg.ExceptRules, b.Rule) {
				bans = append(bans, b)
			}
		}
	}
	r := w.cfg.Format.Render(bans, snap.Allow, w.cfg.Side)
	w.reportSkipped(r.Skipped)
	changed := !bytes.Equal(r.Body, w.onDisk) || w.onDisk == nil
	if !changed && !w.commandDue {
		w.count(ResultUnchanged)
		return nil
	}
	if changed {
		if err := writeAtomic(ctx, w.cfg.Path, r.Body); err != nil {
			w.count(ResultError)
			return fmt.Errorf("write %s: %w", w.cfg.Path, err)
		}
		w.onDisk = r.Body
		w.commandDue = len(w.cfg.Command) > 0
		w.logger.Debug("map written", "entries", r.Entries, "skipped", len(r.Skipped))
	}
	if w.commandDue {
		if err := w.runCommand(ctx); err != nil {
			w.count(ResultError)
			return err
		}
		w.commandDue = false
	}
	w.generation++
	w.count(ResultWritten)
	return nil
}

// Close disconnects the writer; the file stays.
func (w *FileWriter) Close(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.connected = false
	return nil
}

func (w *FileWriter) count(result string) {
	if w.m != nil {
		w.m.writes.WithLabelValues(w.cfg.Format.Name(), result).Inc()
	}
}

// reportSkipped counts and logs the skipped bans that were not skipped at
// the previous write, so a hostile subject is reported once, not at every
// rewrite.
func (w *FileWriter) reportSkipped(skipped []Skipped) {
	now := make(map[Skipped]bool, len(skipped))
	for _, s := range skipped {
		now[s] = true
		if w.skipped[s] {
			continue
		}
		if w.m != nil {
			w.m.skipped.WithLabelValues(w.cfg.Format.Name(), s.Reason).Inc()
		}
		w.logger.Warn("ban left out of map", "subject_kind", s.Kind, "subject", QuoteSubject(s.Subject), "reason", s.Reason)
	}
	w.skipped = now
}

func (w *FileWriter) runCommand(ctx context.Context) error {
	return RunCommand(ctx, w.cfg.Command, w.cfg.Path)
}

// RunCommand runs argv (no shell) with "{path}" replaced by path, within
// CommandTimeout; the error carries the command's output, quoted.
func RunCommand(ctx context.Context, command []string, path string) error {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	argv := make([]string, len(command))
	for i, a := range command {
		argv[i] = strings.ReplaceAll(a, "{path}", path)
	}
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("run %s: %w: %s", argv[0], err, QuoteSubject(string(bytes.TrimSpace(out))))
	}
	return nil
}

// ParseCommand splits a command template such as "postmap hash:{path}" at
// white space into argv (no shell is involved). An empty template returns
// nil; a template that does not name {path} is ErrBadCommand.
func ParseCommand(template string) ([]string, error) {
	argv := strings.Fields(template)
	if len(argv) == 0 {
		return nil, nil
	}
	if !strings.Contains(template, "{path}") {
		return nil, fmt.Errorf("%w: %q does not name {path}", ErrBadCommand, template)
	}
	return argv, nil
}

// QuoteSubject returns s quoted for a log line or error, cut to 80 bytes.
func QuoteSubject(s string) string {
	if len(s) > 80 {
		s = s[:80]
	}
	return strconv.QuoteToASCII(s)
}

func tempPrefix(base string) string { return atomicfile.TempPrefix(base) }

// writeAtomic replaces path with data so that a reader sees either the
// old or the new content, never a mix, and the new content survives a
// crash once it returns (package atomicfile).
func writeAtomic(ctx context.Context, path string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
