package live

import (
	"context"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live/internal/sfu"
)

// maxRequests bounds the pending stage requests of one live.
const maxRequests = 1000

// stageRoom returns the running room and the caller's role in it.
func (s *Service) stageRoom(ctx context.Context, id *qun.Identity, live string, min qun.Role) (*room, qun.Role, error) {
	rec, err := s.store.Get(ctx, id.Tenant, live)
	if err != nil {
		return nil, 0, err
	}
	role, err := s.require(ctx, id, rec, min)
	if err != nil {
		return nil, 0, err
	}
	if rec.State != StateLive && rec.State != StatePaused {
		return nil, 0, qun.Errorf(qun.CodeConflict, "the live is %s", rec.State)
	}
	rm, err := s.room(ctx, id.Tenant, live)
	if err != nil {
		return nil, 0, err
	}
	return rm, role, nil
}

// RequestStage asks to join the stage (连麦); cancel withdraws the request.
func (s *Service) RequestStage(ctx context.Context, id *qun.Identity, live string, cancel bool) error {
	rm, _, err := s.stageRoom(ctx, id, live, qun.RoleViewer)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	switch {
	case cancel:
		if _, ok := rm.requests[id.User]; !ok {
			rm.mu.Unlock()
			return qun.Errorf(qun.CodeNotFound, "no stage request")
		}
		delete(rm.requests, id.User)
	case rm.rec.Host == id.User || rm.stage[id.User] != nil:
		rm.mu.Unlock()
		return qun.Errorf(qun.CodeConflict, "already on stage")
	default:
		if _, dup := rm.requests[id.User]; dup {
			rm.mu.Unlock()
			return nil
		}
		if len(rm.requests) >= maxRequests {
			rm.mu.Unlock()
			return qun.Errorf(qun.CodeExhausted, "too many pending stage requests")
		}
		rm.requests[id.User] = s.cfg.Now()
	}
	rm.mu.Unlock()
	typ := "live.stage.requested"
	if cancel {
		typ = "live.stage.cancelled"
	}
	rm.publish(typ, id.User, map[string]any{"user": id.User})
	return nil
}

// AnswerStage accepts or rejects user's stage request (host or moderators).
// An accepted user becomes a co-host and may publish at once.
func (s *Service) AnswerStage(ctx context.Context, id *qun.Identity, live string, user qun.UserID, accept bool) error {
	rm, _, err := s.stageRoom(ctx, id, live, qun.RoleModerator)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	if _, ok := rm.requests[user]; !ok {
		rm.mu.Unlock()
		return qun.Errorf(qun.CodeNotFound, "no stage request from %s", user)
	}
	if accept {
		if len(rm.stage) >= rm.rec.StageLimit {
			rm.mu.Unlock()
			return qun.Errorf(qun.CodeExhausted, "the stage is full (%d)", rm.rec.StageLimit)
		}
		rm.stage[user] = &stageMember{since: s.cfg.Now()}
	}
	delete(rm.requests, user)
	rm.mu.Unlock()
	typ := "live.stage.rejected"
	if accept {
		typ = "live.stage.accepted"
	}
	rm.publish(typ, id.User, map[string]any{"user": user})
	return nil
}

// RemoveFromStage demotes a co-host to viewer (host or moderators; or the
// co-host leaving by themselves). It takes effect at once: the user's
// publishing connections close, so their tracks stop for every viewer,
// and their right to publish is gone.
func (s *Service) RemoveFromStage(ctx context.Context, id *qun.Identity, live string, user qun.UserID) error {
	min := qun.RoleModerator
	if user == id.User {
		min = qun.RoleViewer
	}
	rm, _, err := s.stageRoom(ctx, id, live, min)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	if rm.stage[user] == nil {
		rm.mu.Unlock()
		return qun.Errorf(qun.CodeNotFound, "%s is not on stage", user)
	}
	delete(rm.stage, user)
	pubs := rm.takePublishers(user)
	rm.mu.Unlock()
	for _, p := range pubs {
		p.Close()
	}
	rm.publish("live.stage.removed", id.User, map[string]any{"user": user})
	return nil
}

// takePublishers detaches user's publishing connections. rm.mu is held.
func (rm *room) takePublishers(user qun.UserID) []*sfu.Publisher {
	var pubs []*sfu.Publisher
	for _, p := range rm.parts {
		if p.user == user && p.pub != nil {
			pubs = append(pubs, p.pub)
			p.pub = nil
		}
	}
	return pubs
}

// Mute mutes (or unmutes) a publisher's tracks of one source, by the host
// or moderators. A muted track is not forwarded nor recorded; the
// publisher cannot turn it back on until unmuted.
func (s *Service) Mute(ctx context.Context, id *qun.Identity, live string, user qun.UserID, src Source, muted bool) error {
	if !src.valid() {
		return &qun.Error{Code: qun.CodeInvalid, Message: "unknown source", Field: "source"}
	}
	rm, _, err := s.stageRoom(ctx, id, live, qun.RoleModerator)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	n := 0
	for _, t := range rm.tracks {
		if t.user == user && t.source == src {
			t.forced = muted
			t.recv.SetMuted(muted || t.off || rm.rec.State == StatePaused)
			n++
		}
	}
	rm.mu.Unlock()
	if n == 0 {
		return qun.Errorf(qun.CodeNotFound, "%s publishes no %s", user, src)
	}
	rm.publish("live.muted", id.User, map[string]any{"user": user, "source": src, "muted": muted})
	return nil
}

// SetMedia records that the caller turned a source on or off (camera off,
// mic muted): the track stops being forwarded and everyone sees the state.
func (s *Service) SetMedia(ctx context.Context, id *qun.Identity, live string, src Source, on bool) error {
	if !src.valid() {
		return &qun.Error{Code: qun.CodeInvalid, Message: "unknown source", Field: "source"}
	}
	rm, _, err := s.stageRoom(ctx, id, live, qun.RoleViewer)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	n := 0
	for _, t := range rm.tracks {
		if t.user != id.User || t.source != src {
			continue
		}
		if on && t.forced {
			rm.mu.Unlock()
			return qun.Errorf(qun.CodeForbidden, "muted by the host")
		}
		t.off = !on
		t.recv.SetMuted(t.off || t.forced || rm.rec.State == StatePaused)
		n++
	}
	rm.mu.Unlock()
	if n == 0 {
		return qun.Errorf(qun.CodeNotFound, "you publish no %s", src)
	}
	rm.publish("live.media", id.User, map[string]any{"user": id.User, "source": src, "on": on})
	return nil
}

// Kick drops user from the live (host or moderators): off the stage, every
// connection of theirs closed, their room subscription ended, and they
// cannot join again while the live runs on this node.
func (s *Service) Kick(ctx context.Context, id *qun.Identity, live string, user qun.UserID) error {
	rm, _, err := s.stageRoom(ctx, id, live, qun.RoleModerator)
	if err != nil {
		return err
	}
	rm.mu.Lock()
	if user == rm.rec.Host || user == id.User {
		rm.mu.Unlock()
		return qun.Errorf(qun.CodeForbidden, "neither the host nor yourself can be removed")
	}
	rm.kicked[user] = true
	delete(rm.stage, user)
	delete(rm.requests, user)
	var sessions []*qun.Session
	for sess, p := range rm.parts {
		if p.user == user {
			sessions = append(sessions, sess)
		}
	}
	rm.mu.Unlock()
	for _, sess := range sessions {
		rm.leave(sess)
	}
	if err := s.hub.EndSubscriptions(ctx, rm.ref, user, qun.Errorf(qun.CodeForbidden, "removed from the live")); err != nil {
		return err
	}
	rm.publish("live.kicked", id.User, map[string]any{"user": user})
	return nil
}

// Like adds n likes (点赞) from id. Likes are rate-limited per user and
// published as one aggregated "live.likes" event per LikeFlush.
func (s *Service) Like(ctx context.Context, id *qun.Identity, live string, n int) (int64, error) {
	if n < 1 || n > 100 {
		return 0, &qun.Error{Code: qun.CodeInvalid, Message: "count is 1..100", Field: "count"}
	}
	rm, _, err := s.stageRoom(ctx, id, live, qun.RoleViewer)
	if err != nil {
		return 0, err
	}
	return rm.like(id.User, n)
}
