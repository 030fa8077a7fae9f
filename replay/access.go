package replay

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Who may do what with a replay, always inside the caller's tenant:
//   - hosts (the recording's Host, the live room's owner, the group's
//     moderators and owner, tenant admins) see it in every state and keep,
//     discard or stop it;
//   - viewers (qun.RoleViewer or more in the group room, or in the live
//     room when there is no group) watch it once kept.
// Another tenant's replay, or one in a room the caller cannot see, is
// CodeNotFound; discarded replays are CodeNotFound, expired ones CodeExpired.

func (s *Service) isHost(ctx context.Context, id *qun.Identity, r *Replay) bool {
	if id.Has(qun.GrantAdmin) || id.User == r.Host {
		return true
	}
	if role, err := s.hub.RoomRole(ctx, id, r.Live); err == nil && role >= qun.RoleOwner {
		return true
	}
	if r.Group != "" {
		if role, err := s.hub.RoomRole(ctx, id, r.Group); err == nil && role >= qun.RoleModerator {
			return true
		}
	}
	return false
}

// audience is the room whose viewers may watch r.
func (r *Replay) audience() qun.RoomID {
	if r.Group != "" {
		return r.Group
	}
	return r.Live
}

// access loads replay rid for id and checks it may see it; media says the
// caller wants its files or timeline (not just its description). It
// returns whether id is a host.
func (s *Service) access(ctx context.Context, id *qun.Identity, rid string, media bool) (*Replay, bool, error) {
	if id == nil {
		return nil, false, qun.Errorf(qun.CodeUnauthenticated, "no identity")
	}
	if err := qun.ValidateVar("id", rid, "required,max=64"); err != nil {
		return nil, false, errNoReplay
	}
	r, err := s.store.Get(ctx, id.Tenant, rid)
	if err != nil {
		return nil, false, err
	}
	host := s.isHost(ctx, id, r)
	if !host {
		if err := s.hub.RequireRole(ctx, id, r.audience(), qun.RoleViewer); err != nil {
			if qun.ErrorCode(err) == qun.CodeForbidden {
				return nil, false, errNoReplay // not in the room: the replay does not exist for them
			}
			return nil, false, err
		}
	}
	switch r.State {
	case StateDiscarded:
		return nil, host, qun.Errorf(qun.CodeNotFound, "the replay was discarded")
	case StateExpired:
		return nil, host, qun.Errorf(qun.CodeExpired, "the replay has expired")
	case StateRecording:
		if !host {
			return nil, false, qun.Errorf(qun.CodeForbidden, "the replay is not published")
		}
		if media {
			return nil, true, qun.Errorf(qun.CodeConflict, "the replay is still being recorded")
		}
	case StatePending:
		if !host {
			return nil, false, qun.Errorf(qun.CodeForbidden, "the replay is not published")
		}
	}
	return r, host, nil
}

// Get returns replay rid as id may see it.
func (s *Service) Get(ctx context.Context, id *qun.Identity, rid string) (*Replay, error) {
	r, _, err := s.access(ctx, id, rid, false)
	return r, err
}

// ListOptions selects replays of one live or group.
type ListOptions struct {
	Live  qun.RoomID `json:"live" validate:"required_without=Group,max=128"`
	Group qun.RoomID `json:"group" validate:"required_without=Live,max=128"`
	// Before pages backwards by start time; zero is now.
	Before time.Time `json:"before"`
	// Limit bounds the result; zero means 20, at most 100.
	Limit int `json:"limit" validate:"min=0,max=100"`
}

// List returns the replays of a live or group that id may see, newest
// first: kept ones for viewers, and also those in progress or pending for
// their hosts.
func (s *Service) List(ctx context.Context, id *qun.Identity, o ListOptions) ([]*Replay, error) {
	if id == nil {
		return nil, qun.Errorf(qun.CodeUnauthenticated, "no identity")
	}
	if err := qun.Validate(&o); err != nil {
		return nil, err
	}
	room := o.Group
	if room == "" {
		room = o.Live
	}
	if !id.Has(qun.GrantAdmin) {
		if err := s.hub.RequireRole(ctx, id, room, qun.RoleViewer); err != nil {
			return nil, err
		}
	}
	if o.Limit == 0 {
		o.Limit = 20
	}
	q := Query{Tenant: id.Tenant, Live: o.Live, Group: o.Group, Before: o.Before, Limit: o.Limit,
		States: []State{StateRecording, StatePending, StateKept}}
	var out []*Replay
	for len(out) < o.Limit {
		rs, err := s.store.List(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.State == StateKept || s.isHost(ctx, id, r) {
				out = append(out, r)
				if len(out) == o.Limit {
					break
				}
			}
		}
		if len(rs) < q.Limit {
			break
		}
		q.Before = rs[len(rs)-1].StartedAt
	}
	return out, nil
}

// KeepOptions are the host's choices when keeping a replay.
type KeepOptions struct {
	// ExpiresAt is when the replay expires: zero means the longest the
	// vendor allows (Config.Retention), later than that is refused.
	ExpiresAt time.Time `json:"expiresAt"`
}

// Keep publishes a pending replay to its viewers, or changes a kept one's
// expiry. Only hosts may.
func (s *Service) Keep(ctx context.Context, id *qun.Identity, rid string, o KeepOptions) (*Replay, error) {
	r, err := s.asHost(ctx, id, rid, "keep", false)
	if err != nil {
		return nil, err
	}
	now := s.now()
	limit := now.Add(s.cfg.Retention)
	switch {
	case o.ExpiresAt.IsZero():
		o.ExpiresAt = limit
	case !o.ExpiresAt.After(now):
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "expiry must be in the future", Field: "expiresAt"}
	case o.ExpiresAt.After(limit.Add(time.Minute)):
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "expiry is beyond the retention period", Field: "expiresAt"}
	}
	r.State, r.ExpiresAt, r.DecideBy = StateKept, o.ExpiresAt.UTC(), time.Time{}
	if err := s.store.Update(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Discard deletes a pending or kept replay's media and timeline. Only
// hosts may; a recording must be stopped first.
func (s *Service) Discard(ctx context.Context, id *qun.Identity, rid string) (*Replay, error) {
	r, err := s.asHost(ctx, id, rid, "discard", false)
	if err != nil {
		return nil, err
	}
	r.State = StateDiscarded
	if err := s.store.Update(ctx, r); err != nil {
		return nil, err
	}
	if err := s.deleteFiles(ctx, r); err != nil {
		// Saved as discarded; the sweeper finishes deleting the files.
		s.log.Warn("deleting a discarded replay's files failed; the sweeper retries", zap.String("replay", r.ID), zap.Error(err))
	}
	return r, nil
}

// StopByHost stops a recording on behalf of one of its hosts.
func (s *Service) StopByHost(ctx context.Context, id *qun.Identity, rid string) (*Replay, error) {
	r, err := s.asHost(ctx, id, rid, "stop", true)
	if err != nil {
		return nil, err
	}
	return s.Stop(ctx, r.Tenant, r.ID)
}

// asHost loads replay rid for an action only hosts may take; unless
// recording is true, a replay still recording must be stopped first.
func (s *Service) asHost(ctx context.Context, id *qun.Identity, rid, action string, recording bool) (*Replay, error) {
	r, host, err := s.access(ctx, id, rid, false)
	if err != nil {
		return nil, err
	}
	if !host {
		return nil, qun.Errorf(qun.CodeForbidden, "only the host may %s the replay", action)
	}
	if r.State == StateRecording && !recording {
		return nil, qun.Errorf(qun.CodeConflict, "stop the recording first")
	}
	return r, nil
}

// Timeline returns a window of replay rid's timeline.
func (s *Service) Timeline(ctx context.Context, id *qun.Identity, rid string, q TimelineQuery) (*TimelinePage, error) {
	if err := qun.Validate(&q); err != nil {
		return nil, err
	}
	if q.To != 0 && q.To < q.From {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "to is before from", Field: "to"}
	}
	r, _, err := s.access(ctx, id, rid, true)
	if err != nil {
		return nil, err
	}
	evs, err := s.timeline(ctx, r)
	if err != nil {
		return nil, err
	}
	page := window(evs, q)
	return &page, nil
}

// OpenTrack opens a track's file of replay rid for reading.
func (s *Service) OpenTrack(ctx context.Context, id *qun.Identity, rid, track string) (Object, *Track, error) {
	r, _, err := s.access(ctx, id, rid, true)
	if err != nil {
		return nil, nil, err
	}
	for i := range r.Tracks {
		if t := &r.Tracks[i]; t.ID == track {
			obj, err := s.storage.Open(ctx, t.Key)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, qun.Errorf(qun.CodeNotFound, "the track's file is gone")
			}
			return obj, t, err
		}
	}
	return nil, nil, qun.Errorf(qun.CodeNotFound, "no such track")
}
