package live

import (
	"context"
	"slices"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// StartInput starts a live now: a new one in Group, or the scheduled Live.
type StartInput struct {
	Live       string     `json:"live,omitempty" validate:"omitempty,max=32"`
	Group      qun.RoomID `json:"group,omitempty" validate:"required_without=Live,omitempty,max=128"`
	Title      string     `json:"title,omitempty" validate:"max=100"`
	Mode       Mode       `json:"mode,omitempty" validate:"omitempty,oneof=large small open"`
	StageLimit int        `json:"stage_limit,omitempty" validate:"min=0,max=16"`
}

// ScheduleInput announces a live for later (直播预告).
type ScheduleInput struct {
	Group      qun.RoomID `json:"group" validate:"required,max=128"`
	Title      string     `json:"title" validate:"required,max=100"`
	At         int64      `json:"at" validate:"required,min=1"` // unix milliseconds
	Mode       Mode       `json:"mode,omitempty" validate:"omitempty,oneof=large small open"`
	StageLimit int        `json:"stage_limit,omitempty" validate:"min=0,max=16"`
}

func (s *Service) stageLimit(mode Mode, asked int) int {
	if asked > 0 {
		return asked
	}
	if mode == ModeSmall {
		return s.cfg.StageLimit
	}
	return 1
}

// mayStartIn checks that id may start or schedule a live in group.
func (s *Service) mayStartIn(ctx context.Context, id *qun.Identity, group qun.RoomID) error {
	if err := s.hub.RequireRole(ctx, id, group, s.cfg.StartRole); err != nil {
		return err
	}
	if s.cfg.CanStart != nil {
		return s.cfg.CanStart(ctx, id, group)
	}
	return nil
}

func (s *Service) newRecord(id *qun.Identity, group qun.RoomID, title string, mode Mode, limit int) *Record {
	if mode == "" {
		mode = ModeLarge
	}
	if title == "" {
		title = id.Name + "'s live"
		if id.Name == "" {
			title = "Live"
		}
	}
	return &Record{
		Tenant: id.Tenant, ID: qun.NewID(), Group: group, Host: id.User, Title: title, Mode: mode,
		StageLimit: s.stageLimit(mode, limit), CreatedAt: s.cfg.Now().UTC(),
	}
}

// Schedule creates a scheduled live in in.Group.
func (s *Service) Schedule(ctx context.Context, id *qun.Identity, in ScheduleInput) (*Record, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	at := time.UnixMilli(in.At).UTC()
	if at.Before(s.cfg.Now().Add(-time.Minute)) {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "a scheduled live must start in the future", Field: "at"}
	}
	if err := s.mayStartIn(ctx, id, in.Group); err != nil {
		return nil, err
	}
	rec := s.newRecord(id, in.Group, in.Title, in.Mode, in.StageLimit)
	rec.State, rec.ScheduledAt = StateScheduled, at
	if err := s.store.Create(ctx, rec); err != nil {
		return nil, err
	}
	s.publishGroups(ctx, rec, "live.scheduled", id.User, rec)
	s.publishLive(ctx, rec, "live.scheduled", id.User, rec)
	return rec, nil
}

// Start puts a live on air: a new one, or a scheduled one (whose
// subscribers are then reminded).
func (s *Service) Start(ctx context.Context, id *qun.Identity, in StartInput) (*Info, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var rec *Record
	if in.Live != "" {
		var err error
		if rec, err = s.store.Get(ctx, id.Tenant, in.Live); err != nil {
			return nil, err
		}
		if _, err := s.require(ctx, id, rec, qun.RoleModerator); err != nil {
			return nil, err
		}
		if rec.State != StateScheduled {
			return nil, qun.Errorf(qun.CodeConflict, "the live is %s", rec.State)
		}
		rec.State, rec.StartedAt = StateLive, s.cfg.Now().UTC()
		if in.Title != "" {
			rec.Title = in.Title
		}
		if err := s.store.Update(ctx, rec); err != nil {
			return nil, err
		}
		s.remindLater(rec)
	} else {
		if err := s.mayStartIn(ctx, id, in.Group); err != nil {
			return nil, err
		}
		rec = s.newRecord(id, in.Group, in.Title, in.Mode, in.StageLimit)
		rec.State, rec.StartedAt = StateLive, rec.CreatedAt
		if err := s.store.Create(ctx, rec); err != nil {
			return nil, err
		}
	}
	rm, err := s.room(ctx, rec.Tenant, rec.ID)
	if err != nil {
		return nil, err
	}
	rm.setRecord(rec)
	s.publishLive(ctx, rec, "live.started", id.User, rec)
	s.publishGroups(ctx, rec, "live.started", id.User, rec)
	return rm.info(), nil
}

// SetPaused pauses (no media forwarded) or resumes a live on air.
func (s *Service) SetPaused(ctx context.Context, id *qun.Identity, live string, paused bool) (*Record, error) {
	rec, err := s.store.Get(ctx, id.Tenant, live)
	if err != nil {
		return nil, err
	}
	if _, err := s.require(ctx, id, rec, qun.RoleModerator); err != nil {
		return nil, err
	}
	from, to, typ := StateLive, StatePaused, "live.paused"
	if !paused {
		from, to, typ = StatePaused, StateLive, "live.resumed"
	}
	if rec.State != from {
		return nil, qun.Errorf(qun.CodeConflict, "the live is %s", rec.State)
	}
	if err := s.mustRunHere(ctx, rec); err != nil {
		return nil, err
	}
	rec.State = to
	if err := s.store.Update(ctx, rec); err != nil {
		return nil, err
	}
	if rm := s.runningRoom(rec.Tenant, rec.ID); rm != nil {
		rm.setRecord(rec)
		rm.setPaused(paused)
	}
	s.publishLive(ctx, rec, typ, id.User, map[string]any{"state": to})
	return rec, nil
}

// End ends a live (or cancels a scheduled one): every peer connection
// closes and nothing can join any more.
func (s *Service) End(ctx context.Context, id *qun.Identity, live string) (*Record, error) {
	rec, err := s.store.Get(ctx, id.Tenant, live)
	if err != nil {
		return nil, err
	}
	if _, err := s.require(ctx, id, rec, qun.RoleModerator); err != nil {
		return nil, err
	}
	if rec.State == StateEnded {
		return nil, qun.Errorf(qun.CodeConflict, "the live has ended")
	}
	if rec.State != StateScheduled {
		if err := s.mustRunHere(ctx, rec); err != nil {
			return nil, err
		}
	}
	rec.State, rec.EndedAt = StateEnded, s.cfg.Now().UTC()
	if err := s.store.Update(ctx, rec); err != nil {
		return nil, err
	}
	var recorded *recording
	if rm := s.runningRoom(rec.Tenant, rec.ID); rm != nil {
		rm.setRecord(rec)
		s.dropRoom(rm)
		recorded = rm.close()
	}
	s.release(ctx, rec.Tenant, rec.ID)
	recorded.liveEnded(s.publishEnded(ctx, rec, id.User))
	s.publishGroups(ctx, rec, "live.ended", id.User, map[string]any{"live": rec.ID, "title": rec.Title})
	return rec, nil
}

// Get returns a live as id may see it.
func (s *Service) Get(ctx context.Context, id *qun.Identity, live string) (*Info, error) {
	rec, err := s.store.Get(ctx, id.Tenant, live)
	if err != nil {
		return nil, err
	}
	if _, err := s.require(ctx, id, rec, qun.RoleViewer); err != nil {
		return nil, err
	}
	if rm := s.runningRoom(rec.Tenant, rec.ID); rm != nil {
		return rm.info(), nil
	}
	return &Info{Record: *rec, Room: rec.Room(), Stage: []qun.UserID{}, Tracks: []TrackView{}}, nil
}

// List returns a group's scheduled and on-air lives (the caller must see the group).
func (s *Service) List(ctx context.Context, id *qun.Identity, group qun.RoomID, limit int) ([]*Record, error) {
	if err := qun.ValidateVar("group", group, "required,max=128"); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, group, qun.RoleViewer); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	return s.store.ListByGroup(ctx, id.Tenant, group, []State{StateScheduled, StateLive, StatePaused}, limit)
}

// Remind subscribes id to (or unsubscribes from) a scheduled live's start.
func (s *Service) Remind(ctx context.Context, id *qun.Identity, live string, on bool) error {
	rec, err := s.store.Get(ctx, id.Tenant, live)
	if err != nil {
		return err
	}
	if _, err := s.require(ctx, id, rec, qun.RoleViewer); err != nil {
		return err
	}
	if on && rec.State != StateScheduled {
		return qun.Errorf(qun.CodeConflict, "the live is %s", rec.State)
	}
	return s.store.SetReminder(ctx, id.Tenant, live, id.User, on)
}

// Share forwards a live into another group (转发). Anyone who may watch
// and is a member of the target group posts a "live.card" there; when the
// host or a moderator shares, the group is also added to the live's
// relays (转化多群), so its members may watch even a closed live.
func (s *Service) Share(ctx context.Context, id *qun.Identity, live string, group qun.RoomID) (*Record, error) {
	if err := qun.ValidateVar("group", group, "required,max=128"); err != nil {
		return nil, err
	}
	rec, err := s.store.Get(ctx, id.Tenant, live)
	if err != nil {
		return nil, err
	}
	role, err := s.require(ctx, id, rec, qun.RoleViewer)
	if err != nil {
		return nil, err
	}
	if rec.State == StateEnded {
		return nil, qun.Errorf(qun.CodeConflict, "the live has ended")
	}
	if err := s.hub.RequireRole(ctx, id, group, qun.RoleMember); err != nil {
		return nil, err
	}
	if role >= qun.RoleModerator && group != rec.Group && !slices.Contains(rec.Relays, group) {
		if len(rec.Relays) >= maxRelays {
			return nil, qun.Errorf(qun.CodeExhausted, "a live is relayed into at most %d groups", maxRelays)
		}
		rec.Relays = append(rec.Relays, group)
		if err := s.store.Update(ctx, rec); err != nil {
			return nil, err
		}
		if rm := s.runningRoom(rec.Tenant, rec.ID); rm != nil {
			rm.setRecord(rec)
		}
		s.publishLive(ctx, rec, "live.relayed", id.User, map[string]any{"group": group})
	}
	card := map[string]any{"live": rec.ID, "room": rec.Room(), "title": rec.Title, "host": rec.Host, "state": rec.State, "mode": rec.Mode, "from": rec.Group}
	if _, err := s.hub.Publish(ctx, qun.RoomRef{Tenant: id.Tenant, Room: group}, qun.Draft{Type: "live.card", Actor: id.User, Data: card}); err != nil {
		return nil, err
	}
	return rec, nil
}

func (s *Service) publishLive(ctx context.Context, rec *Record, typ string, actor qun.UserID, data any) {
	if _, err := s.hub.Publish(ctx, qun.RoomRef{Tenant: rec.Tenant, Room: rec.Room()}, qun.Draft{Type: typ, Actor: actor, Data: data}); err != nil {
		s.log.Warn("publish", zap.String("type", typ), zap.Error(err))
	}
}

// publishGroups tells the live's groups (home and relays) about it, so
// their members see the live card in the chat.
func (s *Service) publishGroups(ctx context.Context, rec *Record, typ string, actor qun.UserID, data any) {
	for _, g := range rec.Groups() {
		if _, err := s.hub.Publish(ctx, qun.RoomRef{Tenant: rec.Tenant, Room: g}, qun.Draft{Type: typ, Actor: actor, Data: data}); err != nil {
			s.log.Warn("publish to group", zap.String("type", typ), zap.String("group", string(g)), zap.Error(err))
		}
	}
}

// reminderBatch is the most users per Notifier call.
const reminderBatch = 500

// remindLater reminds a started live's subscribers in the background.
func (s *Service) remindLater(rec *Record) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	rec = rec.clone()
	go func() {
		defer s.wg.Done()
		ctx := s.ctx
		var after qun.UserID
		for {
			users, err := s.store.Reminders(ctx, rec.Tenant, rec.ID, after, reminderBatch)
			if err != nil {
				s.log.Warn("reminders", zap.Error(err))
				return
			}
			if len(users) == 0 {
				return
			}
			after = users[len(users)-1]
			if s.cfg.Notifier != nil {
				if err := s.cfg.Notifier.LiveStarted(ctx, Reminder{Tenant: rec.Tenant, Live: *rec, Users: users}); err != nil {
					s.log.Warn("notifier", zap.Error(err))
				}
			}
			for _, u := range users {
				ev := map[string]any{"live": rec.ID, "room": rec.Room(), "title": rec.Title, "host": rec.Host, "group": rec.Group}
				if _, err := s.hub.Publish(ctx, qun.RoomRef{Tenant: rec.Tenant, Room: qun.UserRoom(u)}, qun.Draft{Type: "live.reminder", Data: ev}); err != nil && ctx.Err() == nil {
					s.log.Warn("reminder event", zap.Error(err))
				}
			}
			if len(users) < reminderBatch || ctx.Err() != nil {
				return
			}
		}
	}()
}
