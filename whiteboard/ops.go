package whiteboard

import (
	"context"
	"strings"

	"github.com/qunkit/qun"
)

// The ops' inputs. docs/ops/whiteboard.md documents each.
type (
	boardIn struct {
		Board BoardID `json:"board" validate:"required,max=64"`
	}
	createIn struct {
		Room  qun.RoomID `json:"room" validate:"required,max=128"`
		Title string     `json:"title" validate:"max=100"`
	}
	roomIn struct {
		Room qun.RoomID `json:"room" validate:"required,max=128"`
	}
	pageIn struct {
		Board BoardID `json:"board" validate:"required,max=64"`
		Page  uint64  `json:"page" validate:"required"`
	}
	pageAddIn struct {
		Board BoardID `json:"board" validate:"required,max=64"`
		After *uint64 `json:"after"`
		W     int     `json:"w" validate:"gte=0,lte=8192"`
		H     int     `json:"h" validate:"gte=0,lte=8192"`
	}
	viewIn struct {
		Board BoardID `json:"board" validate:"required,max=64"`
		View
		Live bool `json:"live"`
	}
	rightsIn struct {
		Board BoardID    `json:"board" validate:"required,max=64"`
		User  qun.UserID `json:"user" validate:"required,max=64"`
		Draw  bool       `json:"draw"`
	}
	strokeBeginIn struct {
		Board BoardID `json:"board" validate:"required,max=64"`
		StrokeStart
	}
	strokeIn struct {
		Board BoardID   `json:"board" validate:"required,max=64"`
		ID    uint64    `json:"id" validate:"required"`
		Pts   []float64 `json:"pts"`
	}
	drawIn struct {
		Board BoardID   `json:"board" validate:"required,max=64"`
		Page  uint64    `json:"page" validate:"required"`
		Item  ItemInput `json:"item"`
	}
	eraseIn struct {
		Board BoardID  `json:"board" validate:"required,max=64"`
		Page  uint64   `json:"page" validate:"required"`
		IDs   []uint64 `json:"ids" validate:"required"`
	}
	laserIn struct {
		Board BoardID `json:"board" validate:"required,max=64"`
		LaserInput
	}
)

type seqOut struct {
	Seq uint64 `json:"seq"`
}

type idSeqOut struct {
	ID  uint64 `json:"id"`
	Seq uint64 `json:"seq,omitempty"`
}

// handle registers op: it bounds the payload, binds it into a T and calls fn.
func handle[T any](s *Service, op string, fn func(ctx context.Context, c *qun.Call, id *qun.Identity, in *T) (any, error)) {
	s.hub.Handle(op, func(ctx context.Context, c *qun.Call) (any, error) {
		if len(c.Data) > s.cfg.Limits.OpBytes {
			return nil, qun.Errorf(qun.CodeTooLarge, "%s data is at most %d bytes", op, s.cfg.Limits.OpBytes)
		}
		in := new(T)
		if err := c.Bind(in); err != nil {
			return nil, err
		}
		return fn(ctx, c, c.Identity(), in)
	})
}

func seqRes(seq uint64, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return seqOut{seq}, nil
}

func (s *Service) registerOps() {
	handle(s, "wb.create", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *createIn) (any, error) {
		return s.CreateBoard(ctx, id, in.Room, in.Title)
	})
	handle(s, "wb.list", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *roomIn) (any, error) {
		bs, err := s.Boards(ctx, id, in.Room)
		if err != nil {
			return nil, err
		}
		return struct {
			Boards []*Board `json:"boards"`
		}{bs}, nil
	})
	handle(s, "wb.delete", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *boardIn) (any, error) {
		return nil, s.DeleteBoard(ctx, id, in.Board)
	})
	handle(s, "wb.open", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *boardIn) (any, error) {
		return s.Open(ctx, id, in.Board)
	})
	handle(s, "wb.items", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *pageIn) (any, error) {
		return s.Items(ctx, id, in.Board, in.Page)
	})
	handle(s, "wb.page", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *pageIn) (any, error) {
		return seqRes(s.TurnPage(ctx, id, in.Board, in.Page))
	})
	handle(s, "wb.page.add", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *pageAddIn) (any, error) {
		p, seq, err := s.AddPage(ctx, id, in.Board, in.After, in.W, in.H)
		if err != nil {
			return nil, err
		}
		return struct {
			Page PageInfo `json:"page"`
			Seq  uint64   `json:"seq"`
		}{p, seq}, nil
	})
	handle(s, "wb.page.remove", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *pageIn) (any, error) {
		return seqRes(s.RemovePage(ctx, id, in.Board, in.Page))
	})
	handle(s, "wb.view", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *viewIn) (any, error) {
		return seqRes(s.SetView(ctx, id, in.Board, in.View, in.Live))
	})
	handle(s, "wb.rights", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *rightsIn) (any, error) {
		return seqRes(s.SetRights(ctx, id, in.Board, in.User, in.Draw))
	})
	handle(s, "wb.stroke.begin", func(ctx context.Context, c *qun.Call, id *qun.Identity, in *strokeBeginIn) (any, error) {
		sid, err := s.BeginStroke(ctx, id, c.Session(), in.Board, in.StrokeStart)
		if err != nil {
			return nil, err
		}
		return idSeqOut{ID: sid}, nil
	})
	handle(s, "wb.stroke.append", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *strokeIn) (any, error) {
		return nil, s.AppendStroke(ctx, id, in.Board, in.ID, in.Pts)
	})
	handle(s, "wb.stroke.end", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *strokeIn) (any, error) {
		seq, err := s.EndStroke(ctx, id, in.Board, in.ID, in.Pts)
		if err != nil {
			return nil, err
		}
		return idSeqOut{ID: in.ID, Seq: seq}, nil
	})
	handle(s, "wb.stroke.cancel", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *strokeIn) (any, error) {
		return nil, s.CancelStroke(ctx, id, in.Board, in.ID)
	})
	handle(s, "wb.draw", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *drawIn) (any, error) {
		if err := in.Item.check(&s.cfg.Limits); err != nil {
			// Name fields as the validator does for the nested item.
			if e, ok := err.(*qun.Error); ok && e.Field != "" && !strings.HasPrefix(e.Field, "item.") {
				e.Field = "item." + e.Field
			}
			return nil, err
		}
		iid, seq, err := s.Draw(ctx, id, in.Board, in.Page, in.Item)
		if err != nil {
			return nil, err
		}
		return idSeqOut{ID: iid, Seq: seq}, nil
	})
	handle(s, "wb.erase", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *eraseIn) (any, error) {
		return seqRes(s.Erase(ctx, id, in.Board, in.Page, in.IDs))
	})
	handle(s, "wb.clear", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *pageIn) (any, error) {
		return seqRes(s.Clear(ctx, id, in.Board, in.Page))
	})
	handle(s, "wb.undo", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *boardIn) (any, error) {
		return seqRes(s.Undo(ctx, id, in.Board))
	})
	handle(s, "wb.redo", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *boardIn) (any, error) {
		return seqRes(s.Redo(ctx, id, in.Board))
	})
	handle(s, "wb.laser", func(ctx context.Context, _ *qun.Call, id *qun.Identity, in *laserIn) (any, error) {
		return nil, s.Laser(ctx, id, in.Board, in.LaserInput)
	})
}
