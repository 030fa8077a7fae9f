package chat

import (
	"context"

	"github.com/qunkit/qun"
)

// Announcement (群公告) is one version of a group's notice; the newest is
// the current one, older ones are its history.
type Announcement struct {
	ID   int64      `json:"id"`
	Text string     `json:"text"`
	By   qun.UserID `json:"by"`
	At   int64      `json:"at"`
}

// Announce is the input of Service.Announce (op chat.announce).
type Announce struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	// Text replaces the current announcement; "" clears it.
	Text string `json:"text" validate:"max=2000"`
}

// AnnouncementsQuery is the input of Service.Announcements (op chat.announcements).
type AnnouncementsQuery struct {
	Group  qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Before int64      `json:"before,omitempty" validate:"min=0"`
	Limit  int        `json:"limit,omitempty" validate:"min=0,max=50"`
}

// Announce sets the group's announcement (admins). It is reviewed like a
// message, published as chat.announcement and passed to the Notifier.
func (s *Service) Announce(ctx context.Context, id *qun.Identity, in Announce) (*Announcement, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.check(id); err != nil {
		return nil, err
	}
	content := Content{Kind: KindText, Text: in.Text}
	if in.Text != "" {
		if err := checkContent(&content); err != nil {
			return nil, err
		}
		if err := s.view(ctx, id, func(tx Tx) error {
			a, err := s.access(tx, id, in.Group)
			if err != nil {
				return err
			}
			return a.need(RoleAdmin)
		}); err != nil {
			return nil, err
		}
		if _, err := s.review(ctx, id, in.Group, &content); err != nil {
			return nil, err
		}
	}
	ann := &Announcement{Text: content.Text, By: id.User, At: s.nowMS()}
	_, err := s.update(ctx, id, in.Group, RoleAdmin, func(tx Tx, a *access, c *change) (err error) {
		if err := tx.InsertAnnouncement(in.Group, ann); err != nil {
			return err
		}
		c.emit(EvAnnouncement, ann)
		c.audit("announce", "", map[string]int64{"id": ann.ID})
		if n := s.cfg.Notifier; n != nil && ann.Text != "" {
			c.after = append(c.after, func(ctx context.Context) { n.Announced(ctx, id.Tenant, in.Group, ann) })
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ann, nil
}

// Announcements lists a group's announcements, newest first (members).
func (s *Service) Announcements(ctx context.Context, id *qun.Identity, in AnnouncementsQuery) ([]*Announcement, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*Announcement
	err := s.read(ctx, id, in.Group, RoleMember, func(tx Tx, a *access) (err error) {
		out, err = tx.Announcements(in.Group, in.Before, pageLimit(in.Limit, 20, 50))
		return err
	})
	return nonNil(out), err
}
