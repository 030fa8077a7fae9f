package shop

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/qunkit/qun"
)

// MaxChain bounds the recorded share chain (sharer, who brought the
// sharer, ...).
const MaxChain = 10

// VisitInput records that the caller came to a room through a share link.
type VisitInput struct {
	Room  qun.RoomID `json:"room" validate:"required,max=128"`
	Token string     `json:"token" validate:"required,max=1024"`
}

// ShareStatsInput asks what a sharer brought to a room; Sharer defaults to
// the caller, and only moderators may ask about others.
type ShareStatsInput struct {
	Room   qun.RoomID `json:"room" validate:"required,max=128"`
	Sharer qun.UserID `json:"sharer,omitempty" validate:"max=64"`
}

// ShareLink is a signed token naming the sharer, for the vendor to put in
// the URL or card it shares (转发).
type ShareLink struct {
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"`
}

type sharePayload struct {
	Tenant qun.TenantID `json:"t"`
	Room   qun.RoomID   `json:"r"`
	Sharer qun.UserID   `json:"u"`
	Exp    int64        `json:"x"`
}

var b64 = base64.RawURLEncoding

func (s *Service) shareMAC(payload string) []byte {
	m := hmac.New(sha256.New, s.share)
	m.Write([]byte("qun.share."))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// NewShareLink signs a share link for the caller in room (S7). Viewers and above.
func (s *Service) NewShareLink(ctx context.Context, id *qun.Identity, in RoomInput) (*ShareLink, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleViewer); err != nil {
		return nil, err
	}
	exp := s.now() + s.cfg.ShareTTL.Milliseconds()
	p := b64.EncodeToString(mustJSON(sharePayload{Tenant: id.Tenant, Room: in.Room, Sharer: id.User, Exp: exp}))
	return &ShareLink{Token: p + "." + b64.EncodeToString(s.shareMAC(p)), ExpiresAt: exp}, nil
}

func (s *Service) parseShare(id *qun.Identity, room qun.RoomID, token string) (*sharePayload, error) {
	bad := &qun.Error{Code: qun.CodeInvalid, Message: "the share link is not valid", Field: "token"}
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return nil, bad
	}
	mac, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.shareMAC(p)) {
		return nil, bad
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return nil, bad
	}
	var sp sharePayload
	if err := json.Unmarshal(raw, &sp); err != nil || sp.Tenant != id.Tenant || sp.Room != room || sp.Sharer == "" {
		return nil, bad
	}
	if sp.Exp <= s.now() {
		return nil, qun.Errorf(qun.CodeExpired, "the share link has expired")
	}
	return &sp, nil
}

// Visit credits the caller's arrival in a room to the link's sharer. The
// first link a viewer follows in a room wins: later visits answer the
// existing attribution. The chain records the sharer, then whoever brought
// the sharer, and so on (at most MaxChain, never looping back to the
// viewer). Following one's own link answers conflict and records nothing.
func (s *Service) Visit(ctx context.Context, id *qun.Identity, in VisitInput) (*Attribution, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	sp, err := s.parseShare(id, in.Room, in.Token)
	if err != nil {
		return nil, err
	}
	if sp.Sharer == id.User {
		return nil, qun.Errorf(qun.CodeConflict, "this is your own share link")
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, qun.RoleViewer); err != nil {
		return nil, err
	}
	var a *Attribution
	err = s.update(ctx, func(tx Tx) error {
		cur, err := tx.Attribution(id.Tenant, in.Room, id.User)
		if err == nil {
			a = cur
			return nil
		}
		if qun.ErrorCode(err) != qun.CodeNotFound {
			return err
		}
		chain := []qun.UserID{sp.Sharer}
		if up, err := tx.Attribution(id.Tenant, in.Room, sp.Sharer); err == nil {
			for _, u := range up.Chain {
				if u == id.User || len(chain) >= MaxChain {
					break
				}
				chain = append(chain, u)
			}
		} else if qun.ErrorCode(err) != qun.CodeNotFound {
			return err
		}
		a = &Attribution{Tenant: id.Tenant, Room: in.Room, Viewer: id.User, Sharer: sp.Sharer, Chain: chain, Created: s.now()}
		if err := tx.PutAttribution(a); err != nil {
			return err
		}
		return s.emit(tx, id.Tenant, "share.visited", a)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// ShareStats answers what a sharer brought to a room: viewers credited to
// them and their paid orders.
func (s *Service) ShareStats(ctx context.Context, id *qun.Identity, in ShareStatsInput) (*ShareStats, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	min := qun.RoleViewer
	if in.Sharer == "" {
		in.Sharer = id.User
	} else if in.Sharer != id.User {
		min = qun.RoleModerator
	}
	if err := s.hub.RequireRole(ctx, id, in.Room, min); err != nil {
		return nil, err
	}
	var st *ShareStats
	err := s.view(ctx, func(tx Tx) (err error) {
		st, err = tx.ShareStats(id.Tenant, in.Room, in.Sharer)
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
