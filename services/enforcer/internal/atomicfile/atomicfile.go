// Package atomicfile replaces files so that a reader sees either the old
// or the new content, never a mix, and the new content survives a crash
// once Write returns. The enforcer's map files and its ban-set snapshot
// both go through it.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// TempPrefix is the name prefix of Write's temporary file for base (the
// file's own name), in the same directory: ".<base>.tmp-". Callers may
// remove stale ones left by a crash.
func TempPrefix(base string) string { return "." + base + ".tmp-" }

// Write replaces path by what fill writes, with mode perm: it writes a
// temporary file in the same directory, fsyncs it, renames it over path
// and fsyncs the directory. On any error the temporary file is removed
// and path is left as it was.
func Write(path string, perm os.FileMode, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, TempPrefix(base))
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
