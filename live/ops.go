package live

import (
	"context"

	"github.com/qunkit/qun"
)

// The ops' inputs. Every field is bounded; see docs/ops/live.md.
type (
	liveIn struct {
		Live string `json:"live" validate:"required,max=32"`
	}
	joinIn struct {
		Live  string  `json:"live" validate:"required,max=32"`
		After *uint64 `json:"after,omitempty"`
	}
	listIn struct {
		Group qun.RoomID `json:"group" validate:"required,max=128"`
		Limit int        `json:"limit,omitempty" validate:"min=0,max=100"`
	}
	remindIn struct {
		Live string `json:"live" validate:"required,max=32"`
		On   bool   `json:"on"`
	}
	shareIn struct {
		Live  string     `json:"live" validate:"required,max=32"`
		Group qun.RoomID `json:"group" validate:"required,max=128"`
	}
	offerIn struct {
		Live    string            `json:"live" validate:"required,max=32"`
		SDP     string            `json:"sdp" validate:"required,max=60000"`
		Sources map[string]Source `json:"sources,omitempty" validate:"max=8,dive,keys,max=128,endkeys,max=16"`
	}
	answerIn struct {
		Live string `json:"live" validate:"required,max=32"`
		SDP  string `json:"sdp" validate:"required,max=60000"`
	}
	candidateIn struct {
		Live      string       `json:"live" validate:"required,max=32"`
		PC        string       `json:"pc" validate:"required,oneof=pub sub"`
		Candidate ICECandidate `json:"candidate"`
	}
	layerIn struct {
		Live  string `json:"live" validate:"required,max=32"`
		Track string `json:"track,omitempty" validate:"max=32"`
		Layer string `json:"layer" validate:"required,oneof=low mid high"`
	}
	userIn struct {
		Live string     `json:"live" validate:"required,max=32"`
		User qun.UserID `json:"user" validate:"required,max=64"`
	}
	muteIn struct {
		Live   string     `json:"live" validate:"required,max=32"`
		User   qun.UserID `json:"user" validate:"required,max=64"`
		Source Source     `json:"source" validate:"required,max=16"`
		Muted  bool       `json:"muted"`
	}
	mediaIn struct {
		Live   string `json:"live" validate:"required,max=32"`
		Source Source `json:"source" validate:"required,max=16"`
		On     bool   `json:"on"`
	}
	likeIn struct {
		Live  string `json:"live" validate:"required,max=32"`
		Count int    `json:"count" validate:"min=0,max=100"`
	}
)

// op adapts a typed handler: Bind (strict JSON + validation), then call.
func op[T any](fn func(ctx context.Context, c *qun.Call, in *T) (any, error)) qun.Handler {
	return func(ctx context.Context, c *qun.Call) (any, error) {
		var in T
		if err := c.Bind(&in); err != nil {
			return nil, err
		}
		return fn(ctx, c, &in)
	}
}

func (s *Service) registerOps() {
	h := s.hub
	h.Handle("live.start", op(func(ctx context.Context, c *qun.Call, in *StartInput) (any, error) {
		return s.Start(ctx, c.Identity(), *in)
	}))
	h.Handle("live.schedule", op(func(ctx context.Context, c *qun.Call, in *ScheduleInput) (any, error) {
		return s.Schedule(ctx, c.Identity(), *in)
	}))
	h.Handle("live.pause", op(func(ctx context.Context, c *qun.Call, in *liveIn) (any, error) {
		return s.SetPaused(ctx, c.Identity(), in.Live, true)
	}))
	h.Handle("live.resume", op(func(ctx context.Context, c *qun.Call, in *liveIn) (any, error) {
		return s.SetPaused(ctx, c.Identity(), in.Live, false)
	}))
	h.Handle("live.end", op(func(ctx context.Context, c *qun.Call, in *liveIn) (any, error) {
		return s.End(ctx, c.Identity(), in.Live)
	}))
	h.Handle("live.get", op(func(ctx context.Context, c *qun.Call, in *liveIn) (any, error) {
		return s.Get(ctx, c.Identity(), in.Live)
	}))
	h.Handle("live.list", op(func(ctx context.Context, c *qun.Call, in *listIn) (any, error) {
		lives, err := s.List(ctx, c.Identity(), in.Group, in.Limit)
		if err != nil {
			return nil, err
		}
		if lives == nil {
			lives = []*Record{}
		}
		return map[string]any{"lives": lives}, nil
	}))
	h.Handle("live.remind", op(func(ctx context.Context, c *qun.Call, in *remindIn) (any, error) {
		return nil, s.Remind(ctx, c.Identity(), in.Live, in.On)
	}))
	h.Handle("live.share", op(func(ctx context.Context, c *qun.Call, in *shareIn) (any, error) {
		return s.Share(ctx, c.Identity(), in.Live, in.Group)
	}))

	h.Handle("live.join", op(func(ctx context.Context, c *qun.Call, in *joinIn) (any, error) {
		return s.Join(ctx, c.Session(), in.Live, in.After)
	}))
	h.Handle("live.leave", op(func(ctx context.Context, c *qun.Call, in *liveIn) (any, error) {
		return nil, s.Leave(c.Session(), in.Live)
	}))
	h.Handle("live.offer", op(func(ctx context.Context, c *qun.Call, in *offerIn) (any, error) {
		answer, err := s.Publish(ctx, c.Session(), in.Live, in.SDP, in.Sources)
		if err != nil {
			return nil, err
		}
		return map[string]string{"sdp": answer}, nil
	}))
	h.Handle("live.answer", op(func(ctx context.Context, c *qun.Call, in *answerIn) (any, error) {
		return nil, s.Answer(c.Session(), in.Live, in.SDP)
	}))
	h.Handle("live.candidate", op(func(ctx context.Context, c *qun.Call, in *candidateIn) (any, error) {
		return nil, s.Candidate(c.Session(), in.Live, in.PC, in.Candidate)
	}))
	h.Handle("live.restart", op(func(ctx context.Context, c *qun.Call, in *liveIn) (any, error) {
		return nil, s.RestartICE(c.Session(), in.Live)
	}))
	h.Handle("live.layer", op(func(ctx context.Context, c *qun.Call, in *layerIn) (any, error) {
		return nil, s.SetLayer(c.Session(), in.Live, in.Track, in.Layer)
	}))

	h.Handle("live.stage.request", op(func(ctx context.Context, c *qun.Call, in *liveIn) (any, error) {
		return nil, s.RequestStage(ctx, c.Identity(), in.Live, false)
	}))
	h.Handle("live.stage.cancel", op(func(ctx context.Context, c *qun.Call, in *liveIn) (any, error) {
		return nil, s.RequestStage(ctx, c.Identity(), in.Live, true)
	}))
	h.Handle("live.stage.accept", op(func(ctx context.Context, c *qun.Call, in *userIn) (any, error) {
		return nil, s.AnswerStage(ctx, c.Identity(), in.Live, in.User, true)
	}))
	h.Handle("live.stage.reject", op(func(ctx context.Context, c *qun.Call, in *userIn) (any, error) {
		return nil, s.AnswerStage(ctx, c.Identity(), in.Live, in.User, false)
	}))
	h.Handle("live.stage.remove", op(func(ctx context.Context, c *qun.Call, in *userIn) (any, error) {
		return nil, s.RemoveFromStage(ctx, c.Identity(), in.Live, in.User)
	}))
	h.Handle("live.stage.mute", op(func(ctx context.Context, c *qun.Call, in *muteIn) (any, error) {
		return nil, s.Mute(ctx, c.Identity(), in.Live, in.User, in.Source, in.Muted)
	}))
	h.Handle("live.media", op(func(ctx context.Context, c *qun.Call, in *mediaIn) (any, error) {
		return nil, s.SetMedia(ctx, c.Identity(), in.Live, in.Source, in.On)
	}))
	h.Handle("live.kick", op(func(ctx context.Context, c *qun.Call, in *userIn) (any, error) {
		return nil, s.Kick(ctx, c.Identity(), in.Live, in.User)
	}))
	h.Handle("live.like", op(func(ctx context.Context, c *qun.Call, in *likeIn) (any, error) {
		if in.Count == 0 {
			in.Count = 1
		}
		total, err := s.Like(ctx, c.Identity(), in.Live, in.Count)
		if err != nil {
			return nil, err
		}
		return map[string]int64{"total": total}, nil
	}))
}
