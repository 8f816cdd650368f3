package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Checkpoint stores a value (a Position, or a struct holding one) in a
// small JSON file, replaced atomically
// (write to a temporary file, fsync, rename), so a crash leaves either the
// old or the new position, never a torn one.
type Checkpoint struct{ path string }

// NewCheckpoint keeps its position in path.
func NewCheckpoint(path string) *Checkpoint { return &Checkpoint{path: path} }

// Load decodes the stored value into v and reports whether there was one.
func (c *Checkpoint) Load(v any) (bool, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode checkpoint %s: %w", c.path, err)
	}
	return true, nil
}

// Save stores v durably.
func (c *Checkpoint) Save(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create checkpoint dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("create checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("replace checkpoint: %w", err)
	}
	return nil
}
