package qun

import (
	"context"
	"slices"
)

// Identity is who a connection or API call acts as. It comes from the
// vendor: the vendor's server signs it into a token (see Tokens) or a custom
// Authenticator produces it.
type Identity struct {
	Tenant TenantID `json:"tenant" validate:"required,max=64"`
	User   UserID   `json:"user" validate:"required,max=64"`
	// Name and Avatar are the display profile shown to other users.
	Name   string `json:"name,omitempty" validate:"max=64"`
	Avatar string `json:"avatar,omitempty" validate:"omitempty,max=512"`
	// Grants are vendor-issued capabilities, e.g. GrantCreateGroup.
	// Feature packages document the grants they consult.
	Grants []string `json:"grants,omitempty" validate:"max=32,dive,max=64"`
}

// Grants understood by qun's packages. A vendor may add its own.
const (
	// GrantCreateGroup lets the user create groups (subject to the group
	// creation policy hook, which the vendor also controls).
	GrantCreateGroup = "group.create"
	// GrantAdmin marks a vendor operator acting for the tenant: it passes
	// every role check inside that tenant (never across tenants).
	GrantAdmin = "tenant.admin"
)

// Has reports whether the identity carries grant g.
func (id *Identity) Has(g string) bool {
	return id != nil && slices.Contains(id.Grants, g)
}

// Authenticator turns the credential a client presents into an Identity.
// Implementations must return an *Error with CodeUnauthenticated for bad
// credentials. Tokens is the built-in implementation.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (*Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, credential string) (*Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, credential string) (*Identity, error) {
	return f(ctx, credential)
}

type identityKey struct{}

// WithIdentity returns a context carrying id. The Hub puts the connection's
// identity in every op's context; vendor code calling feature packages' Go
// APIs does the same for the user it acts for.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity in ctx, or nil.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}
