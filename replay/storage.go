package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Storage keeps a replay's media files and timeline: opaque objects under
// slash-separated keys ("<tenant>/<replay>/<track>.webm"). FSStorage is the
// default; an object-store adapter can write to a local spool file and
// upload it on Close, and must pass replaytest.RunStorageTests.
//
// Implementations are safe for concurrent use on different keys.
type Storage interface {
	// Create creates (or truncates) the object at key for writing. Bytes
	// written are visible to Open after Sync or Close; for a recording in
	// progress the file must keep what was written if the process dies
	// (FSStorage writes straight into the final file).
	Create(ctx context.Context, key string) (File, error)
	// Open opens the object at key. A missing object answers an error
	// matching fs.ErrNotExist.
	Open(ctx context.Context, key string) (Object, error)
	// Delete removes the object at key; a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// File is an object being written. WriteAt patches bytes already written
// (a WebM's seek index and duration are filled in when it is finalised).
type File interface {
	io.Writer
	io.WriterAt
	// Sync makes what was written durable.
	Sync() error
	// Close ends the write. Idempotent.
	Close() error
}

// Object is a stored object opened for reading.
type Object interface {
	io.ReadSeekCloser
	// Size is the object's length in bytes.
	Size() int64
	// ModTime is when the object was last written.
	ModTime() time.Time
}

// FSStorage stores objects as files under a root directory.
type FSStorage struct {
	root string
}

// NewFSStorage returns a Storage keeping files under dir, which it creates
// if needed.
func NewFSStorage(dir string) (*FSStorage, error) {
	if dir == "" {
		return nil, errors.New("replay: storage directory is required")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("replay: storage: %w", err)
	}
	return &FSStorage{root: dir}, nil
}

// path maps a key to a file below root, refusing keys that could escape it.
func (s *FSStorage) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("replay: bad storage key %q", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("replay: bad storage key %q", key)
		}
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Create implements Storage.
func (s *FSStorage) Create(_ context.Context, key string) (File, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, err
	}
	return &fsFile{File: f}, nil
}

type fsFile struct {
	*os.File
	closed bool
}

func (f *fsFile) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	return f.File.Close()
}

// Open implements Storage.
func (s *FSStorage) Open(_ context.Context, key string) (Object, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fsObject{File: f, size: st.Size(), mod: st.ModTime()}, nil
}

type fsObject struct {
	*os.File
	size int64
	mod  time.Time
}

func (o *fsObject) Size() int64        { return o.size }
func (o *fsObject) ModTime() time.Time { return o.mod }

// Delete implements Storage. Directories left empty are removed too.
func (s *FSStorage) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for d := filepath.Dir(p); d != s.root && strings.HasPrefix(d, s.root); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break // not empty (or gone): stop climbing
		}
	}
	return nil
}
