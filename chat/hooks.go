package chat

import (
	"context"

	"github.com/qunkit/qun"
)

// CreatePolicy decides whether a user may create a group (C1): platforms
// differ (Douyin asks for two mutual follows, Kuaishou for one), so the
// vendor decides. MayCreate returns nil or an *qun.Error (usually
// CodeForbidden) that the user sees.
type CreatePolicy interface {
	MayCreate(ctx context.Context, id *qun.Identity) error
}

// CreatePolicyFunc adapts a function to CreatePolicy.
type CreatePolicyFunc func(ctx context.Context, id *qun.Identity) error

// MayCreate calls f.
func (f CreatePolicyFunc) MayCreate(ctx context.Context, id *qun.Identity) error { return f(ctx, id) }

// RequireGrant lets users whose identity carries grant create groups: the
// vendor applies its own rules when it issues tokens. It is the default,
// with qun.GrantCreateGroup.
func RequireGrant(grant string) CreatePolicy {
	return CreatePolicyFunc(func(_ context.Context, id *qun.Identity) error {
		if !id.Has(grant) && !id.Has(qun.GrantAdmin) {
			return forbidden("you may not create groups")
		}
		return nil
	})
}

// Gender of a member, as the vendor knows it.
type Gender string

const (
	GenderUnknown Gender = ""
	GenderMale    Gender = "male"
	GenderFemale  Gender = "female"
)

// Profile is what the vendor knows about a user, for group portraits.
type Profile struct {
	Gender Gender
	// BirthYear is 0 when unknown.
	BirthYear int
}

// Profiles supplies member profiles from the vendor's user data (C8).
// Users missing from the answer count as unknown.
type Profiles interface {
	Profiles(ctx context.Context, tenant qun.TenantID, users []qun.UserID) (map[qun.UserID]Profile, error)
}

// ProfilesFunc adapts a function to Profiles.
type ProfilesFunc func(ctx context.Context, tenant qun.TenantID, users []qun.UserID) (map[qun.UserID]Profile, error)

// Profiles calls f.
func (f ProfilesFunc) Profiles(ctx context.Context, tenant qun.TenantID, users []qun.UserID) (map[qun.UserID]Profile, error) {
	return f(ctx, tenant, users)
}

// Notifier reaches users outside their open sockets (app push, SMS, the
// vendor's message center). Its methods are called after the event is
// published, in the sender's op: they must return quickly (queue the work).
type Notifier interface {
	// Mentioned: a message @-mentioned users (or everyone, All).
	Mentioned(ctx context.Context, m Mention)
	// Announced: a group has a new announcement; tell its members.
	Announced(ctx context.Context, tenant qun.TenantID, group qun.RoomID, a *Announcement)
}

// Mention describes an @mention for Notifier.Mentioned.
type Mention struct {
	Tenant qun.TenantID
	Group  qun.RoomID
	Seq    uint64
	From   qun.UserID
	Users  []qun.UserID // members mentioned by name
	All    bool         // @所有人
	Text   string
}
