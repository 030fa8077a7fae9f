package chat

import (
	"encoding/json"

	"github.com/qunkit/qun"
)

// Event types chat publishes to a group's room ("g:<id>"). Each event's
// data ("d") is described in docs/ops/chat.md. The room log orders them: a
// client that applies them in seq order has the group's current state.
const (
	EvGroupCreated = "chat.group.created" // d: Group
	EvGroupUpdated = "chat.group.updated" // d: Group
	EvDissolved    = "chat.dissolved"     // the group is gone; subscriptions end
	EvOwner        = "chat.owner"         // d: {from, to}

	EvJoined   = "chat.member.joined"   // d: {user, name, via, by}
	EvLeft     = "chat.member.left"     // d: {user}
	EvKicked   = "chat.member.kicked"   // d: {user}
	EvBanned   = "chat.member.banned"   // d: {user, reason}
	EvUnbanned = "chat.member.unbanned" // d: {user}
	EvMuted    = "chat.member.muted"    // d: {user, until} (until 0: unmuted)
	EvRole     = "chat.member.role"     // d: {user, role}
	EvMuteAll  = "chat.mute_all"        // d: {on}
	EvSlowMode = "chat.slow_mode"       // d: {seconds}

	EvMessage      = "chat.message"      // d: Message
	EvEdited       = "chat.edited"       // d: {seq, text, edited}
	EvRecalled     = "chat.recalled"     // d: {seq}
	EvPinned       = "chat.pinned"       // d: {seq, on}
	EvDesignated   = "chat.designated"   // d: {seq, on}
	EvAnnouncement = "chat.announcement" // d: Announcement

	EvCheckIn    = "chat.checkin"     // d: CheckIn
	EvChain      = "chat.chain"       // d: Chain (created or closed)
	EvChainEntry = "chat.chain.entry" // d: {chain, entry, removed, count}
	EvPoll       = "chat.poll"        // d: Poll (created or closed)
	EvPollVoted  = "chat.poll.voted"  // d: {poll, counts, voters, user (absent if anonymous)}
)

// Event types chat publishes to a user's personal room (qun.UserRoom).
const (
	EvInvited  = "chat.invited"          // d: {group: Card, by}
	EvRequest  = "chat.request"          // to the admins: d: JoinRequest
	EvApproved = "chat.request.approved" // d: {group: Card}
	EvRejected = "chat.request.rejected" // d: {group: Card, reason}
)

type userData struct {
	User qun.UserID `json:"user"`
}

func mustJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("chat: unencodable value: " + err.Error())
	}
	return b
}
