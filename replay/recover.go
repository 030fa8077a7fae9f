package replay

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Recover finalises every recording whose process stopped beating more
// than StaleAfter ago (a crash, a kill, a power loss) into a pending
// replay, and returns how many it recovered. The sweeper calls it; call it
// yourself at startup to not wait for the first sweep.
func (s *Service) Recover(ctx context.Context) (int, error) {
	n := 0
	for {
		now := s.now()
		due, err := s.store.Due(ctx, now, now.Add(-s.cfg.StaleAfter), 100)
		if err != nil {
			return n, err
		}
		progress := false
		for _, r := range due {
			if r.State != StateRecording {
				continue
			}
			s.mu.Lock()
			mine := s.byID[activeKey{r.Tenant, r.ID}] != nil
			s.mu.Unlock()
			if mine {
				continue
			}
			if _, err := s.recover(ctx, r); err != nil {
				s.log.Warn("recovering a recording failed", zap.String("replay", r.ID), zap.Error(err))
				continue
			}
			n++
			progress = true
		}
		if !progress {
			return n, nil
		}
	}
}

// recover takes over a crashed recording: its files end at their last
// complete cluster or fragment; each is rewritten with its seeking index
// and duration, and the replay becomes pending with its timeline.
func (s *Service) recover(ctx context.Context, r *Replay) (*Replay, error) {
	ctx = context.WithoutCancel(ctx)
	lastBeat := r.Heartbeat
	// Claim it: a fresh heartbeat (saved only if nobody else changed the
	// replay meanwhile) keeps other processes from recovering it too.
	r.Heartbeat = s.now()
	if err := s.store.Update(ctx, r); err != nil {
		return nil, err
	}
	end := lastBeat
	tracks := r.Tracks[:0]
	for _, t := range r.Tracks {
		if !t.Done {
			nt, err := s.refinalize(ctx, t)
			if err != nil {
				s.log.Warn("a crashed recording's track is lost", zap.String("replay", r.ID), zap.String("track", t.ID), zap.Error(err))
				continue
			}
			t = nt
		}
		if te := r.StartedAt.Add(time.Duration(t.OffsetMs+t.DurationMs) * time.Millisecond); te.After(end) {
			end = te
		}
		tracks = append(tracks, t)
	}
	r.Tracks = tracks
	r.EndedAt = end
	s.log.Info("recovered a crashed recording", zap.String("replay", r.ID), zap.Int("tracks", len(tracks)))
	return s.finish(ctx, r)
}

// refinalize rewrites an unfinalised track file into a finalised copy
// and deletes the original.
func (s *Service) refinalize(ctx context.Context, t Track) (Track, error) {
	src, err := s.storage.Open(ctx, t.Key)
	if err != nil {
		return t, err
	}
	defer src.Close()
	newKey := recoveredKey(t.Key)
	f, err := s.storage.Create(ctx, newKey)
	if err != nil {
		return t, err
	}
	var w mediaWriter
	frames := 0
	if t.Codec == codecH264.String() {
		var mw *mp4Writer
		err = readMP4(src, func(sps, pps []byte) error {
			var err error
			mw, err = newMP4Writer(f, sps, pps)
			return err
		}, func(ticks uint64, key bool, data []byte) error {
			frames++
			return mw.WriteFrame(fromTicks(ticks), key, data)
		})
		if mw != nil {
			w = mw
		}
	} else {
		var ww *webmWriter
		_, err = readWebMWith(src, func(tr webmTrack) error {
			var err error
			ww, err = newWebMWriter(f, tr)
			return err
		}, func(ms int64, key bool, data []byte) error {
			frames++
			return ww.WriteFrame(time.Duration(ms)*time.Millisecond, key, data)
		})
		if ww != nil {
			w = ww
		}
	}
	if err == nil && frames == 0 {
		err = errors.New("no complete frame")
	}
	if w == nil {
		f.Close()
		_ = s.storage.Delete(ctx, newKey)
		if err == nil {
			err = errors.New("no media")
		}
		return t, err
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = s.storage.Delete(ctx, newKey)
		return t, err
	}
	if derr := s.storage.Delete(ctx, t.Key); derr != nil && !errors.Is(derr, fs.ErrNotExist) {
		s.log.Warn("deleting a recovered track's original failed", zap.String("key", t.Key), zap.Error(derr))
	}
	t.Key, t.Done = newKey, true
	t.DurationMs, t.Bytes = int64(w.Duration()/time.Millisecond), w.Size()
	return t, nil
}

// recoveredKey names the finalised copy of a crashed track's file.
func recoveredKey(key string) string {
	if i := strings.LastIndexByte(key, '.'); i > strings.LastIndexByte(key, '/') {
		return key[:i] + ".r" + key[i:]
	}
	return key + ".r"
}
