package qload

import (
	"context"

	"github.com/qunkit/qun"
)

// RoomKind is the room kind Register opens to everyone in a tenant.
const RoomKind = "bench"

// SayOp publishes SayData.Text to a bench room as an event of type SaidType.
const (
	SayOp    = "bench.say"
	SaidType = "bench.said"
)

// SayData is SayOp's payload.
type SayData struct {
	Room qun.RoomID `json:"room" validate:"required,max=128,startswith=bench:"`
	Text string     `json:"text" validate:"required,max=4096"`
}

// SayResult is SayOp's reply.
type SayResult struct {
	Seq uint64 `json:"seq"`
}

// Register adds the bench room kind and SayOp to hub.
func Register(hub *qun.Hub) {
	hub.RegisterRooms(RoomKind, qun.RoomAccessFunc(func(context.Context, *qun.Identity, qun.RoomID) (qun.Role, error) {
		return qun.RoleMember, nil
	}))
	hub.Handle(SayOp, func(ctx context.Context, c *qun.Call) (any, error) {
		var d SayData
		if err := c.Bind(&d); err != nil {
			return nil, err
		}
		ev, err := hub.Publish(ctx, qun.RoomRef{Tenant: c.Identity().Tenant, Room: d.Room},
			qun.Draft{Type: SaidType, Actor: c.Identity().User, Data: struct {
				Text string `json:"text"`
			}{d.Text}})
		if err != nil {
			return nil, err
		}
		return SayResult{Seq: ev.Seq}, nil
	})
}
