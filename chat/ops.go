package chat

import (
	"context"

	"github.com/qunkit/qun"
)

// registerOps registers the client ops. Each is thin: decode and validate
// the payload, call the Go API method with the connection's identity.
// docs/ops/chat.md documents them.
func (s *Service) registerOps() {
	// Groups (C1, C3 profile pages).
	op(s, "chat.create", s.CreateGroup)
	op(s, "chat.get", func(ctx context.Context, id *qun.Identity, in GroupRef) (*GroupView, error) {
		return s.Group(ctx, id, in.Group)
	})
	op(s, "chat.update", s.UpdateGroup)
	op(s, "chat.dissolve", none(func(ctx context.Context, id *qun.Identity, in GroupRef) error { return s.Dissolve(ctx, id, in.Group) }))
	op(s, "chat.transfer", none(s.Transfer))
	op(s, "chat.search", s.Search)
	op(s, "chat.mine", s.MyGroups)
	op(s, "chat.profile.groups", s.ProfileGroups)
	op(s, "chat.profile.show", none(s.ShowOnProfile))

	// Members and admin actions (C2).
	op(s, "chat.members", s.Members)
	op(s, "chat.leave", none(s.Leave))
	op(s, "chat.kick", none(s.Kick))
	op(s, "chat.ban", none(s.Ban))
	op(s, "chat.unban", none(s.Unban))
	op(s, "chat.bans", s.Bans)
	op(s, "chat.mute", none(s.Mute))
	op(s, "chat.mute_all", none(s.MuteAll))
	op(s, "chat.slow_mode", none(s.SetSlowMode))
	op(s, "chat.role", none(s.SetRole))

	// Joining (C3).
	op(s, "chat.join", s.Join)
	op(s, "chat.invite", s.Invite)
	op(s, "chat.invitations", func(ctx context.Context, id *qun.Identity, _ struct{}) ([]*Invitation, error) {
		return s.Invitations(ctx, id)
	})
	op(s, "chat.invitation.accept", s.AcceptInvitation)
	op(s, "chat.invitation.decline", none(s.DeclineInvitation))
	op(s, "chat.code.create", s.CreateCode)
	op(s, "chat.code.revoke", none(s.RevokeCode))
	op(s, "chat.codes", s.Codes)
	op(s, "chat.code.preview", s.PreviewCode)
	op(s, "chat.code.join", s.JoinByCode)
	op(s, "chat.requests", s.Requests)
	op(s, "chat.request.approve", none(s.Approve))
	op(s, "chat.request.reject", none(s.Reject))

	// Announcements (C4).
	op(s, "chat.announce", s.Announce)
	op(s, "chat.announcements", s.Announcements)

	// Messages and history (C5, C6).
	op(s, "chat.send", func(ctx context.Context, id *qun.Identity, in Send) (*Sent, error) { return s.send(ctx, id, in, true) })
	op(s, "chat.edit", s.Edit)
	op(s, "chat.recall", none(s.Recall))
	op(s, "chat.pin", none(s.Pin))
	op(s, "chat.designate", none(s.Designate))
	op(s, "chat.history", s.History)
	op(s, "chat.message", s.GetMessage)
	op(s, "chat.read", none(s.MarkRead))

	// Moderation (C7) and portrait (C8).
	op(s, "chat.report", s.Report)
	op(s, "chat.reports", s.Reports)
	op(s, "chat.report.resolve", none(s.ResolveReport))
	op(s, "chat.audit", s.Audit)
	op(s, "chat.portrait", s.Portrait)

	// Group tools (C9).
	op(s, "chat.checkin", s.CheckIn)
	op(s, "chat.checkins", s.CheckIns)
	op(s, "chat.chain.create", s.CreateChain)
	op(s, "chat.chain.join", s.JoinChain)
	op(s, "chat.chain.leave", none(s.LeaveChain))
	op(s, "chat.chain.close", none(s.CloseChain))
	op(s, "chat.chain.get", s.GetChain)
	op(s, "chat.poll.create", s.CreatePoll)
	op(s, "chat.poll.vote", s.Vote)
	op(s, "chat.poll.close", none(s.ClosePoll))
	op(s, "chat.poll.get", s.GetPoll)
	op(s, "chat.poll.votes", s.Votes)
}

// op registers one op whose handler binds In and calls fn.
func op[In, Out any](s *Service, name string, fn func(context.Context, *qun.Identity, In) (Out, error)) {
	s.ops = append(s.ops, name)
	s.hub.Handle(name, func(ctx context.Context, c *qun.Call) (any, error) {
		var in In
		if err := c.Bind(&in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, c.Identity(), in)
		if err != nil {
			return nil, err
		}
		return out, nil
	})
}

// ok is the result of ops that return nothing but success.
type ok struct{}

// none adapts a method that returns only an error.
func none[In any](fn func(context.Context, *qun.Identity, In) error) func(context.Context, *qun.Identity, In) (ok, error) {
	return func(ctx context.Context, id *qun.Identity, in In) (ok, error) { return ok{}, fn(ctx, id, in) }
}
