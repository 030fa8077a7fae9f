package chat

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Kind is a message's kind.
type Kind string

const (
	KindText      Kind = "text"
	KindImage     Kind = "image"      // Media: an image the vendor stores
	KindFile      Kind = "file"       // Media: a file the vendor stores
	KindProduct   Kind = "product"    // Product card
	KindLive      Kind = "live"       // Live card
	KindRedPacket Kind = "red_packet" // Money card (红包), paid through the vendor
	KindTip       Kind = "tip"        // Money card (打赏)
	KindSystem    Kind = "system"     // a notice from the vendor's backend
)

// Content is what a message carries; which fields are required depends
// on Kind. Media, cards and money only reference the vendor's own
// storage, shop and payments: chat never fetches or charges anything.
type Content struct {
	Kind    Kind         `json:"kind" validate:"required,oneof=text image file product live red_packet tip system"`
	Text    string       `json:"text,omitempty"` // at most MaxTextRunes
	Media   *Media       `json:"media,omitempty"`
	Product *ProductCard `json:"product,omitempty"`
	Live    *LiveCard    `json:"live,omitempty"`
	Money   *MoneyCard   `json:"money,omitempty"`
}

// Media references an image or file.
type Media struct {
	URL    string `json:"url" validate:"required,max=1024"`
	Name   string `json:"name,omitempty" validate:"max=256"`
	Mime   string `json:"mime,omitempty" validate:"max=128"`
	Size   int64  `json:"size,omitempty" validate:"min=0"`
	Width  int    `json:"width,omitempty" validate:"min=0,max=100000"`
	Height int    `json:"height,omitempty" validate:"min=0,max=100000"`
}

// ProductCard shows a product of the vendor's shop.
type ProductCard struct {
	ID       string `json:"id" validate:"required,max=64"`
	Title    string `json:"title" validate:"required,max=200"`
	Image    string `json:"image,omitempty" validate:"max=1024"`
	Price    int64  `json:"price" validate:"min=0"` // minor units (fen)
	Currency string `json:"currency,omitempty" validate:"omitempty,len=3"`
	URL      string `json:"url,omitempty" validate:"max=1024"`
}

// LiveCard points at a live stream.
type LiveCard struct {
	ID    string `json:"id" validate:"required,max=64"`
	Title string `json:"title" validate:"required,max=200"`
	Cover string `json:"cover,omitempty" validate:"max=1024"`
	URL   string `json:"url,omitempty" validate:"max=1024"`
}

// MoneyCard is a red packet or tip paid through the vendor's payments.
type MoneyCard struct {
	Ref      string `json:"ref" validate:"required,max=128"` // the vendor's transaction id
	Amount   int64  `json:"amount" validate:"min=0"`         // minor units (fen)
	Currency string `json:"currency,omitempty" validate:"omitempty,len=3"`
	Note     string `json:"note,omitempty" validate:"max=100"`
}

// Message is the data of a chat.message event. In history, Edited and
// Recalled reflect later edits and recalls; a recalled message keeps only
// its kind and sender.
type Message struct {
	Content
	ReplyTo    uint64       `json:"reply_to,omitempty"`
	Mentions   []qun.UserID `json:"mentions,omitempty"`
	MentionAll bool         `json:"mention_all,omitempty"`
	Name       string       `json:"name,omitempty"` // the sender's display name when sent
	// ClientID is the sender's own id for the message, echoed so that a
	// client that lost the reply can find its message after resuming.
	ClientID string `json:"cid,omitempty"`
	Edited   int64  `json:"edited,omitempty"`
	Recalled bool   `json:"recalled,omitempty"`
}

// Send is the input of Service.Send (op chat.send).
type Send struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Content
	ReplyTo  uint64       `json:"reply_to,omitempty"`
	Mentions []qun.UserID `json:"mentions,omitempty" validate:"max=50,dive,required,max=64"`
	// MentionAll (@所有人) is for admins and the owner.
	MentionAll bool `json:"mention_all,omitempty"`
	// ClientID (cid) is the client's id for this message, echoed in the
	// event: after a reconnect the client resumes the room first and resends
	// only messages whose cid it has not seen, so nothing is sent twice.
	ClientID string `json:"cid,omitempty" validate:"max=64,printascii"`
}

// Sent is where a message landed.
type Sent struct {
	Seq uint64 `json:"seq"`
	TS  int64  `json:"ts"`
	// Masked is set when the reviewer masked part of the text.
	Masked bool `json:"masked,omitempty"`
}

// Edit is the input of Service.Edit (op chat.edit).
type Edit struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Seq   uint64     `json:"seq" validate:"required"`
	Text  string     `json:"text" validate:"required"` // at most MaxTextRunes
}

// MessageRef names a message by its seq.
type MessageRef struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Seq   uint64     `json:"seq" validate:"required"`
}

// Mark pins or designates a message (On) or takes the mark off.
type Mark struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Seq   uint64     `json:"seq" validate:"required"`
	On    bool       `json:"on"`
}

// History is the input of Service.History (op chat.history): events with
// seq < Before (0: the newest), or, if After is set, seq > After.
type History struct {
	Group  qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Before uint64     `json:"before,omitempty"`
	After  uint64     `json:"after,omitempty"`
	Limit  int        `json:"limit,omitempty" validate:"min=0,max=200"`
}

// HistoryPage is one page of a group's room log, oldest first.
type HistoryPage struct {
	Events []*Entry `json:"events"`
	Head   uint64   `json:"head"`
}

// Entry is one event of a group's log as history serves it: the event's
// fields, with message overlays applied.
type Entry struct {
	Seq   uint64          `json:"seq"`
	Type  string          `json:"type"`
	Actor qun.UserID      `json:"actor,omitempty"`
	TS    int64           `json:"ts"`
	D     json.RawMessage `json:"d,omitempty"`
}

// Read is the input of Service.MarkRead (op chat.read).
type Read struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Seq   uint64     `json:"seq"`
}

// Patch is the overlay a message's later edits and recall put on it.
type Patch struct {
	Seq      uint64     `json:"seq"`
	Text     string     `json:"text,omitempty"`
	Edited   int64      `json:"edited,omitempty"`
	EditSeqs []uint64   `json:"edit_seqs,omitempty"` // the chat.edited events
	Recalled bool       `json:"recalled,omitempty"`
	By       qun.UserID `json:"by,omitempty"` // who recalled it
	At       int64      `json:"at,omitempty"` // when
}

// Limits of messages.
const (
	MaxEdits      = 20  // per message
	MaxPinned     = 10  // per group
	MaxDesignated = 5   // per group
	MaxUnread     = 999 // unread counts stop here ("999+")
)

// MaxTextRunes bounds a message's text.
const MaxTextRunes = 4000

// tooLarge answers CodeTooLarge for text over MaxTextRunes.
func tooLarge(text string) error {
	if len(text) > MaxTextRunes && utf8.RuneCountInString(text) > MaxTextRunes {
		return &qun.Error{Code: qun.CodeTooLarge, Message: "text is longer than 4000 characters", Field: "text"}
	}
	return nil
}

// checkContent enforces what each kind requires.
func checkContent(c *Content) error {
	bad := func(field, msg string) error { return &qun.Error{Code: qun.CodeInvalid, Message: msg, Field: field} }
	if err := tooLarge(c.Text); err != nil {
		return err
	}
	c.Text = strings.TrimRight(c.Text, " \t\r\n")
	switch c.Kind {
	case KindText, KindSystem:
		if strings.TrimSpace(c.Text) == "" {
			return bad("text", "text is required")
		}
	case KindImage, KindFile:
		if c.Media == nil {
			return bad("media", "media is required for "+string(c.Kind))
		}
	case KindProduct:
		if c.Product == nil {
			return bad("product", "product is required")
		}
	case KindLive:
		if c.Live == nil {
			return bad("live", "live is required")
		}
	case KindRedPacket, KindTip:
		if c.Money == nil {
			return bad("money", "money is required for "+string(c.Kind))
		}
	}
	for _, r := range c.Text {
		if isControl(r) && r != '\n' && r != '\t' {
			return bad("text", "text contains control characters")
		}
	}
	return nil
}

// Send posts a message from id. It is reviewed, rate limited and checked
// against mutes and slow mode first; it is durable in the room log when
// Send returns, and fanned out to every subscriber.
func (s *Service) Send(ctx context.Context, id *qun.Identity, in Send) (*Sent, error) {
	return s.send(ctx, id, in, false)
}

func (s *Service) send(ctx context.Context, id *qun.Identity, in Send, fromClient bool) (*Sent, error) {
	if err := s.check(id); err != nil {
		return nil, err
	}
	if err := tooLarge(in.Text); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := checkContent(&in.Content); err != nil {
		return nil, err
	}
	if fromClient && !slices.Contains(s.cfg.ClientKinds, in.Kind) {
		return nil, forbidden("clients may not send %s messages", in.Kind)
	}
	ref := qun.RoomRef{Tenant: id.Tenant, Room: in.Group}
	// Sends share the group lock: they run together but never interleave
	// with a kick, mute or role change.
	unlock, err := s.lockGroup(ctx, id.Tenant, in.Group, true)
	if err != nil {
		return nil, err
	}
	defer unlock()

	var a *access
	msg := &Message{Content: in.Content, ReplyTo: in.ReplyTo, MentionAll: in.MentionAll, Name: id.Name, ClientID: in.ClientID}
	now := s.nowMS()
	err = s.store.View(ctx, id.Tenant, func(tx Tx) error {
		var err error
		if a, err = s.access(tx, id, in.Group); err != nil {
			return err
		}
		if err := a.need(RoleMember); err != nil {
			return err
		}
		admin := a.rank >= RoleAdmin.rank()
		switch {
		case a.m != nil && a.m.muted(now):
			return forbidden("you are muted in this group")
		case a.g.MuteAll && !admin:
			return forbidden("the group is muted")
		case in.MentionAll && !admin:
			return forbidden("only admins may mention everyone")
		}
		if len(in.Mentions) > 0 {
			if msg.Mentions, err = tx.ExistingMembers(in.Group, dedupe(in.Mentions)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if in.ReplyTo != 0 {
		if _, err := s.message(ctx, ref, in.ReplyTo); err != nil {
			return nil, &qun.Error{Code: qun.CodeInvalid, Message: "reply_to is not a message of this group", Field: "reply_to"}
		}
	}
	if err := s.sendRate.allow(id.Tenant, id.User, s.now()); err != nil {
		return nil, err
	}
	if a.rank < RoleAdmin.rank() && a.g.SlowMode > 0 {
		if err := s.slow.allow(ref, id.User, s.now(), a.g.SlowMode); err != nil {
			return nil, err
		}
	}
	masked, err := s.review(ctx, id, in.Group, &msg.Content)
	if err != nil {
		return nil, err
	}
	ev, err := s.hub.Publish(ctx, ref, qun.Draft{Type: EvMessage, Actor: id.User, Data: msg})
	if err != nil {
		return nil, err
	}
	s.touch(ctx, id.Tenant, in.Group, id.User)
	if s.cfg.Notifier != nil && (len(msg.Mentions) > 0 || msg.MentionAll) {
		s.cfg.Notifier.Mentioned(ctx, Mention{Tenant: id.Tenant, Group: in.Group, Seq: ev.Seq, From: id.User, Users: msg.Mentions, All: msg.MentionAll, Text: msg.Text})
	}
	return &Sent{Seq: ev.Seq, TS: ev.TS, Masked: masked}, nil
}

func dedupe[T comparable](in []T) []T {
	out := make([]T, 0, len(in))
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// PostNotice posts a system notice to a group from the vendor's backend
// (no member needed). It is reviewed like any message.
func (s *Service) PostNotice(ctx context.Context, tenant qun.TenantID, group qun.RoomID, text string) (*Sent, error) {
	op := &qun.Identity{Tenant: tenant, User: "system", Name: "system", Grants: []string{qun.GrantAdmin}}
	return s.send(ctx, op, Send{Group: group, Content: Content{Kind: KindSystem, Text: text}}, false)
}

// message reads message seq of ref from the room log.
func (s *Service) message(ctx context.Context, ref qun.RoomRef, seq uint64) (*qun.Event, error) {
	evs, err := s.hub.Log().Read(ctx, ref, seq-1, 1)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].Seq != seq || evs[0].Type != EvMessage {
		return nil, notFound("message")
	}
	return evs[0], nil
}

// Edit replaces the text of the caller's own message within EditWindow.
func (s *Service) Edit(ctx context.Context, id *qun.Identity, in Edit) (*Sent, error) {
	if err := tooLarge(in.Text); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	ref := qun.RoomRef{Tenant: id.Tenant, Room: in.Group}
	content := Content{Kind: KindText, Text: in.Text}
	if err := checkContent(&content); err != nil {
		return nil, err
	}
	// The room log and the reviewer are consulted before the transaction:
	// a write transaction must not wait on anything but the store.
	if err := s.needMember(ctx, id, in.Group); err != nil {
		return nil, err
	}
	ev, err := s.message(ctx, ref, in.Seq)
	if err != nil {
		return nil, err
	}
	if ev.Actor != id.User {
		return nil, forbidden("only the sender may edit a message")
	}
	if s.nowMS()-ev.TS > s.cfg.EditWindow.Milliseconds() {
		return nil, qun.Errorf(qun.CodeExpired, "messages can be edited for %s", s.cfg.EditWindow)
	}
	masked, err := s.review(ctx, id, in.Group, &content)
	if err != nil {
		return nil, err
	}
	c, err := s.update(ctx, id, in.Group, RoleMember, func(tx Tx, a *access, c *change) (err error) {
		p, err := patchOf(tx, in.Group, in.Seq)
		if err != nil {
			return err
		}
		if p.Recalled {
			return qun.Errorf(qun.CodeConflict, "the message was recalled")
		}
		if len(p.EditSeqs) >= MaxEdits {
			return qun.Errorf(qun.CodeExhausted, "a message can be edited %d times", MaxEdits)
		}
		p.Text, p.Edited = content.Text, s.nowMS()
		if err := tx.PutPatch(in.Group, p); err != nil {
			return err
		}
		c.emit(EvEdited, map[string]any{"seq": in.Seq, "text": p.Text, "edited": p.Edited})
		// The edit event's seq is known once it is published; record it
		// then, still under the group lock, so a recall can redact it too.
		c.after = append(c.after, func(ctx context.Context) { s.recordEdit(ctx, id.Tenant, in.Group, in.Seq, c.results) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(c.results) == 0 {
		return nil, qun.Errorf(qun.CodeUnavailable, "edit saved but not delivered")
	}
	ev = c.results[0]
	return &Sent{Seq: ev.Seq, TS: ev.TS, Masked: masked}, nil
}

// recordEdit adds the published edit event to the message's patch.
// Failures are logged: history applies the edit either way.
func (s *Service) recordEdit(ctx context.Context, tenant qun.TenantID, group qun.RoomID, seq uint64, evs []*qun.Event) {
	if len(evs) == 0 {
		return
	}
	err := s.store.Update(ctx, tenant, func(tx Tx) error {
		p, err := patchOf(tx, group, seq)
		if err != nil {
			return err
		}
		p.EditSeqs = append(p.EditSeqs, evs[0].Seq)
		return tx.PutPatch(group, p)
	})
	if err != nil {
		s.log.Error("chat: recording an edit failed", zap.String("group", string(group)), zap.Uint64("seq", seq), zap.Error(err))
	}
}

func patchOf(tx Tx, group qun.RoomID, seq uint64) (*Patch, error) {
	p, err := tx.Patch(group, seq)
	if isNotFound(err) {
		return &Patch{Seq: seq}, nil
	}
	return p, err
}

// Recall (撤回) withdraws a message: its sender within RecallWindow, or an
// admin or the owner any time (admins not over the owner's or other
// admins' messages). History never serves its content again.
func (s *Service) Recall(ctx context.Context, id *qun.Identity, in MessageRef) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	ref := qun.RoomRef{Tenant: id.Tenant, Room: in.Group}
	if err := s.needMember(ctx, id, in.Group); err != nil {
		return err
	}
	ev, err := s.message(ctx, ref, in.Seq)
	if err != nil {
		return err
	}
	var editSeqs []uint64
	_, err = s.update(ctx, id, in.Group, RoleMember, func(tx Tx, a *access, c *change) (err error) {
		if ev.Actor == id.User && a.rank < RoleAdmin.rank() {
			if s.nowMS()-ev.TS > s.cfg.RecallWindow.Milliseconds() {
				return qun.Errorf(qun.CodeExpired, "messages can be recalled for %s", s.cfg.RecallWindow)
			}
		} else if ev.Actor != id.User {
			if err := a.need(RoleAdmin); err != nil {
				return forbidden("only the sender or an admin may recall a message")
			}
			sender, err := tx.Member(in.Group, ev.Actor)
			if err == nil {
				if err := a.over(sender); err != nil {
					return err
				}
			} else if !isNotFound(err) {
				return err
			}
		}
		p, err := patchOf(tx, in.Group, in.Seq)
		if err != nil {
			return err
		}
		if p.Recalled {
			return qun.Errorf(qun.CodeConflict, "already recalled")
		}
		p.Recalled, p.By, p.At, p.Text = true, id.User, s.nowMS(), ""
		editSeqs = p.EditSeqs
		if err := tx.PutPatch(in.Group, p); err != nil {
			return err
		}
		// A recalled message is no longer pinned or designated.
		if slices.Contains(a.g.Pinned, in.Seq) || slices.Contains(a.g.Designated, in.Seq) {
			a.g.Pinned = slices.DeleteFunc(a.g.Pinned, func(v uint64) bool { return v == in.Seq })
			a.g.Designated = slices.DeleteFunc(a.g.Designated, func(v uint64) bool { return v == in.Seq })
			if err := tx.UpdateGroup(a.g); err != nil {
				return err
			}
		}
		c.emit(EvRecalled, map[string]uint64{"seq": in.Seq})
		if ev.Actor != id.User {
			c.audit("message.recall", ev.Actor, map[string]uint64{"seq": in.Seq})
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The recall is committed and announced; blanking the log's copies
	// keeps resuming clients from seeing the text. A failure here is
	// logged: history hides the message either way.
	for _, seq := range append([]uint64{in.Seq}, editSeqs...) {
		data := recalledEdit(in.Seq)
		if seq == in.Seq {
			data = recalledMessage(ev.Data)
		}
		if err := s.hub.Log().Redact(ctx, ref, seq, data); err != nil {
			s.log.Error("chat: redacting a recalled message failed", zap.Stringer("room", ref), zap.Uint64("seq", seq), zap.Error(err))
		}
	}
	return nil
}

// recalledMessage is what remains of a recalled message: its kind and
// sender's name, and the mark.
func recalledMessage(data json.RawMessage) json.RawMessage {
	var m Message
	_ = json.Unmarshal(data, &m)
	return mustJSON(&Message{Content: Content{Kind: m.Kind}, Name: m.Name, Recalled: true})
}

// recalledEdit is what remains of an edit of a recalled message.
func recalledEdit(seq uint64) json.RawMessage {
	return mustJSON(map[string]any{"seq": seq, "recalled": true})
}

// Pin pins a message for everyone (admins), or unpins it.
func (s *Service) Pin(ctx context.Context, id *qun.Identity, in Mark) error {
	return s.mark(ctx, id, in, RoleAdmin, EvPinned, func(g *Group) *[]uint64 { return &g.Pinned }, MaxPinned)
}

// Designate marks a message as the group's official trade message
// (指定交易消息; owner only), or takes the mark off.
func (s *Service) Designate(ctx context.Context, id *qun.Identity, in Mark) error {
	return s.mark(ctx, id, in, RoleOwner, EvDesignated, func(g *Group) *[]uint64 { return &g.Designated }, MaxDesignated)
}

func (s *Service) mark(ctx context.Context, id *qun.Identity, in Mark, r Role, typ string, list func(*Group) *[]uint64, max int) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	if in.On {
		if err := s.needMember(ctx, id, in.Group); err != nil {
			return err
		}
		if _, err := s.message(ctx, qun.RoomRef{Tenant: id.Tenant, Room: in.Group}, in.Seq); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, id, in.Group, r, func(tx Tx, a *access, c *change) (err error) {
		l := list(a.g)
		has := slices.Contains(*l, in.Seq)
		switch {
		case in.On == has:
			return nil
		case !in.On:
			*l = slices.DeleteFunc(*l, func(v uint64) bool { return v == in.Seq })
		default:
			if p, err := patchOf(tx, in.Group, in.Seq); err != nil {
				return err
			} else if p.Recalled {
				return qun.Errorf(qun.CodeConflict, "the message was recalled")
			}
			if len(*l) >= max {
				return qun.Errorf(qun.CodeExhausted, "at most %d messages can be marked", max)
			}
			*l = append(*l, in.Seq)
		}
		if err := tx.UpdateGroup(a.g); err != nil {
			return err
		}
		c.emit(typ, map[string]any{"seq": in.Seq, "on": in.On})
		c.audit(strings.TrimPrefix(typ, "chat."), "", map[string]any{"seq": in.Seq, "on": in.On})
		return nil
	})
	return err
}

// History pages through a group's room log (members only), with edits
// applied and recalled messages blanked.
func (s *Service) History(ctx context.Context, id *qun.Identity, in History) (*HistoryPage, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.needMember(ctx, id, in.Group); err != nil {
		return nil, err
	}
	ref := qun.RoomRef{Tenant: id.Tenant, Room: in.Group}
	limit := pageLimit(in.Limit, 50, 200)
	var evs []*qun.Event
	var err error
	if in.After > 0 {
		evs, err = s.hub.Log().Read(ctx, ref, in.After, limit)
	} else {
		evs, err = s.hub.Log().ReadBefore(ctx, ref, in.Before, limit)
	}
	if err != nil {
		return nil, err
	}
	head, err := s.hub.Log().Last(ctx, ref)
	if err != nil {
		return nil, err
	}
	entries, err := s.overlay(ctx, id.Tenant, in.Group, evs)
	if err != nil {
		return nil, err
	}
	return &HistoryPage{Events: entries, Head: head}, nil
}

// GetMessage returns one message as history would (members only).
func (s *Service) GetMessage(ctx context.Context, id *qun.Identity, in MessageRef) (*Entry, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.needMember(ctx, id, in.Group); err != nil {
		return nil, err
	}
	ev, err := s.message(ctx, qun.RoomRef{Tenant: id.Tenant, Room: in.Group}, in.Seq)
	if err != nil {
		return nil, err
	}
	es, err := s.overlay(ctx, id.Tenant, in.Group, []*qun.Event{ev})
	if err != nil {
		return nil, err
	}
	return es[0], nil
}

func (s *Service) needMember(ctx context.Context, id *qun.Identity, group qun.RoomID) error {
	return s.view(ctx, id, func(tx Tx) error {
		a, err := s.access(tx, id, group)
		if err != nil {
			return err
		}
		return a.need(RoleMember)
	})
}

// overlay turns log events into history entries, applying patches to
// messages and to the edit events of recalled messages.
func (s *Service) overlay(ctx context.Context, tenant qun.TenantID, group qun.RoomID, evs []*qun.Event) ([]*Entry, error) {
	var seqs []uint64
	targets := make([]uint64, len(evs))
	for i, ev := range evs {
		switch ev.Type {
		case EvMessage:
			targets[i] = ev.Seq
		case EvEdited:
			var d struct{ Seq uint64 }
			_ = json.Unmarshal(ev.Data, &d)
			targets[i] = d.Seq
		}
		if targets[i] != 0 {
			seqs = append(seqs, targets[i])
		}
	}
	var patches map[uint64]*Patch
	if len(seqs) > 0 {
		err := s.store.View(ctx, tenant, func(tx Tx) error {
			var err error
			patches, err = tx.Patches(group, seqs)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]*Entry, len(evs))
	for i, ev := range evs {
		e := &Entry{Seq: ev.Seq, Type: ev.Type, Actor: ev.Actor, TS: ev.TS, D: ev.Data}
		if p := patches[targets[i]]; p != nil {
			e.D = applyPatch(ev, p)
		}
		out[i] = e
	}
	return out, nil
}

func applyPatch(ev *qun.Event, p *Patch) json.RawMessage {
	switch {
	case p.Recalled && ev.Type == EvEdited:
		return recalledEdit(p.Seq)
	case p.Recalled:
		return recalledMessage(ev.Data)
	case ev.Type == EvEdited || p.Edited == 0:
		return ev.Data
	}
	var m Message
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		return ev.Data
	}
	m.Text, m.Edited = p.Text, p.Edited
	return mustJSON(&m)
}

// MarkRead moves the caller's read position forward to seq (never back).
func (s *Service) MarkRead(ctx context.Context, id *qun.Identity, in Read) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	if err := s.check(id); err != nil {
		return err
	}
	head, err := s.hub.Log().Last(ctx, qun.RoomRef{Tenant: id.Tenant, Room: in.Group})
	if err != nil {
		return err
	}
	// Read positions are private: no event, and no group lock needed.
	return s.store.Update(ctx, id.Tenant, func(tx Tx) error {
		a, err := s.access(tx, id, in.Group)
		if err != nil {
			return err
		}
		if a.m == nil {
			return forbidden("not a member of this group")
		}
		if in.Seq > head {
			return &qun.Error{Code: qun.CodeInvalid, Message: "seq is beyond the group's last event", Field: "seq"}
		}
		if in.Seq <= a.m.ReadSeq {
			return nil
		}
		a.m.ReadSeq = in.Seq
		return tx.UpdateMember(in.Group, a.m)
	})
}

// unreadWindow bounds the events fillUnread reads: unread messages are
// counted among at most the newest unreadWindow events after the read
// position (so counts stop near MaxUnread).
const unreadWindow = MaxUnread + 1

// fillUnread sets v.Head and v.Unread: others' messages after the read
// position, counted from the log.
func (s *Service) fillUnread(ctx context.Context, id *qun.Identity, v *GroupView) error {
	ref := qun.RoomRef{Tenant: id.Tenant, Room: v.Group.ID}
	head, err := s.hub.Log().Last(ctx, ref)
	if err != nil {
		return err
	}
	v.Head = head
	after := max(v.ReadSeq, head-min(head, unreadWindow))
	for after < head {
		evs, err := s.hub.Log().Read(ctx, ref, after, 500)
		if qun.ErrorCode(err) == qun.CodeTooOld {
			v.Unread = MaxUnread
			return nil
		}
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.Type == EvMessage && ev.Actor != id.User {
				v.Unread++
			}
		}
		after = evs[len(evs)-1].Seq
	}
	v.Unread = min(v.Unread, MaxUnread)
	return nil
}
