package replay

import (
	"context"
	"strings"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live"
)

// The replay.* ops (docs/ops/replay.md): thin wrappers over the Go API.
func (s *Service) registerOps() {
	s.hub.Handle("replay.start", s.opStart)
	s.hub.Handle("replay.stop", s.opByID(s.StopByHost))
	s.hub.Handle("replay.get", s.opByID(s.Get))
	s.hub.Handle("replay.discard", s.opByID(s.Discard))
	s.hub.Handle("replay.keep", s.opKeep)
	s.hub.Handle("replay.list", s.opList)
	s.hub.Handle("replay.timeline", s.opTimeline)
}

type startReq struct {
	Live  qun.RoomID   `json:"live" validate:"required,max=128"`
	Group qun.RoomID   `json:"group" validate:"max=128"`
	Title string       `json:"title" validate:"max=200"`
	Rooms []qun.RoomID `json:"rooms" validate:"max=8,dive,required,max=128"`
}

// opStart lets a live's host (the owner of its room) record it. When
// Config.Lives can describe the live (*live.Service can), the replay's
// group and title are the live's own; otherwise the caller names the
// group and must be a member of it.
func (s *Service) opStart(ctx context.Context, c *qun.Call) (any, error) {
	var req startReq
	if err := c.Bind(&req); err != nil {
		return nil, err
	}
	id := c.Identity()
	if err := s.hub.RequireRole(ctx, id, req.Live, qun.RoleOwner); err != nil && !id.Has(qun.GrantAdmin) {
		return nil, err
	}
	if li, ok := s.cfg.Lives.(liveInfo); ok {
		lid, _ := strings.CutPrefix(string(req.Live), live.RoomKind+":")
		info, err := li.Get(ctx, id, lid)
		if err != nil {
			return nil, err
		}
		if req.Group != "" && req.Group != info.Group {
			return nil, &qun.Error{Code: qun.CodeInvalid, Message: "the live belongs to another group", Field: "group"}
		}
		req.Group = info.Group
		if req.Title == "" {
			req.Title = info.Title
		}
	} else if req.Group != "" && !id.Has(qun.GrantAdmin) {
		if err := s.hub.RequireRole(ctx, id, req.Group, qun.RoleMember); err != nil {
			return nil, err
		}
	}
	if !id.Has(qun.GrantAdmin) {
		for _, room := range req.Rooms {
			if err := s.hub.RequireRole(ctx, id, room, qun.RoleMember); err != nil {
				return nil, err
			}
		}
	}
	return s.Start(ctx, StartOptions{Tenant: id.Tenant, Live: req.Live, Group: req.Group, Host: id.User, Title: req.Title, Rooms: req.Rooms})
}

type idReq struct {
	ID string `json:"id" validate:"required,max=64"`
}

func (s *Service) opByID(fn func(context.Context, *qun.Identity, string) (*Replay, error)) qun.Handler {
	return func(ctx context.Context, c *qun.Call) (any, error) {
		var req idReq
		if err := c.Bind(&req); err != nil {
			return nil, err
		}
		return fn(ctx, c.Identity(), req.ID)
	}
}

type keepReq struct {
	idReq
	KeepOptions
}

func (s *Service) opKeep(ctx context.Context, c *qun.Call) (any, error) {
	var req keepReq
	if err := c.Bind(&req); err != nil {
		return nil, err
	}
	return s.Keep(ctx, c.Identity(), req.ID, req.KeepOptions)
}

func (s *Service) opList(ctx context.Context, c *qun.Call) (any, error) {
	var req ListOptions
	if err := c.Bind(&req); err != nil {
		return nil, err
	}
	rs, err := s.List(ctx, c.Identity(), req)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		rs = []*Replay{}
	}
	return map[string]any{"replays": rs}, nil
}

type timelineReq struct {
	idReq
	TimelineQuery
}

func (s *Service) opTimeline(ctx context.Context, c *qun.Call) (any, error) {
	var req timelineReq
	if err := c.Bind(&req); err != nil {
		return nil, err
	}
	return s.Timeline(ctx, c.Identity(), req.ID, req.TimelineQuery)
}
