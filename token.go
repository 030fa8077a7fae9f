package qun

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenConfig configures Tokens. Exactly one of Secret (HS256) or the
// Ed25519 keys (EdDSA) must be set; the algorithm is pinned to that choice and
// tokens signed any other way are rejected.
type TokenConfig struct {
	// Secret is the HS256 key shared with the vendor's backend; at least 32 bytes.
	Secret []byte
	// PublicKey verifies EdDSA tokens. PrivateKey is needed only to Issue.
	PublicKey  ed25519.PublicKey
	PrivateKey ed25519.PrivateKey
	// Issuer, if set, is written into issued tokens and required on verify.
	Issuer string
	// Audience, if set, likewise ("qun" is a good value).
	Audience string
	// MaxTTL bounds how far in the future a token's expiry may be.
	// Zero means 24 hours.
	MaxTTL time.Duration
	// Leeway tolerates clock skew between the vendor and qun. Zero means 30 s.
	Leeway time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Tokens issues and verifies signed JWTs carrying an Identity. It is the
// default Authenticator. Safe for concurrent use.
type Tokens struct {
	cfg    TokenConfig
	method jwt.SigningMethod
	parser *jwt.Parser
}

type claims struct {
	jwt.RegisteredClaims
	Tenant TenantID `json:"tid"`
	Name   string   `json:"name,omitempty"`
	Avatar string   `json:"avatar,omitempty"`
	Grants []string `json:"grants,omitempty"`
}

// NewTokens returns Tokens for cfg.
func NewTokens(cfg TokenConfig) (*Tokens, error) {
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = 24 * time.Hour
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Tokens{cfg: cfg}
	switch {
	case len(cfg.Secret) > 0 && (cfg.PublicKey != nil || cfg.PrivateKey != nil):
		return nil, errors.New("qun: TokenConfig: set Secret or Ed25519 keys, not both")
	case len(cfg.Secret) > 0:
		if len(cfg.Secret) < 32 {
			return nil, errors.New("qun: TokenConfig: Secret must be at least 32 bytes")
		}
		t.method = jwt.SigningMethodHS256
	case cfg.PublicKey != nil || cfg.PrivateKey != nil:
		if cfg.PublicKey == nil {
			t.cfg.PublicKey = cfg.PrivateKey.Public().(ed25519.PublicKey)
		}
		t.method = jwt.SigningMethodEdDSA
	default:
		return nil, errors.New("qun: TokenConfig: no key")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{t.method.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	t.parser = jwt.NewParser(opts...)
	return t, nil
}

// Issue signs id into a token valid for ttl (at most MaxTTL). The vendor's
// backend calls it after its own login; tests call it to make users.
func (t *Tokens) Issue(id Identity, ttl time.Duration) (string, error) {
	if err := Validate(&id); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > t.cfg.MaxTTL {
		return "", Errorf(CodeInvalid, "ttl must be in (0, %s]", t.cfg.MaxTTL)
	}
	switch t.method {
	case jwt.SigningMethodEdDSA:
		if t.cfg.PrivateKey == nil {
			return "", errors.New("qun: Tokens has no private key to issue with")
		}
	}
	now := t.cfg.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   string(id.User),
			Issuer:    t.cfg.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        NewID(),
		},
		Tenant: id.Tenant,
		Name:   id.Name,
		Avatar: id.Avatar,
		Grants: id.Grants,
	}
	if t.cfg.Audience != "" {
		c.Audience = jwt.ClaimStrings{t.cfg.Audience}
	}
	var key any = t.cfg.Secret
	if t.method == jwt.SigningMethodEdDSA {
		key = t.cfg.PrivateKey
	}
	return jwt.NewWithClaims(t.method, c).SignedString(key)
}

// maxTokenBytes bounds what is parsed at all.
const maxTokenBytes = 4096

// Authenticate verifies token and returns its identity. Every failure is an
// *Error with CodeUnauthenticated; the message says why (expired, bad
// signature, ...) without echoing the token.
func (t *Tokens) Authenticate(_ context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, Errorf(CodeUnauthenticated, "token required")
	}
	if len(token) > maxTokenBytes {
		return nil, Errorf(CodeUnauthenticated, "token too long")
	}
	var c claims
	_, err := t.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		if t.method == jwt.SigningMethodEdDSA {
			return t.cfg.PublicKey, nil
		}
		return t.cfg.Secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, Errorf(CodeUnauthenticated, "token expired")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return nil, Errorf(CodeUnauthenticated, "token signature invalid")
	case err != nil:
		return nil, Errorf(CodeUnauthenticated, "token invalid: %v", trimJWTErr(err))
	}
	if exp := c.ExpiresAt.Time; exp.Sub(t.cfg.Now()) > t.cfg.MaxTTL+t.cfg.Leeway {
		return nil, Errorf(CodeUnauthenticated, "token lifetime exceeds %s", t.cfg.MaxTTL)
	}
	id := &Identity{Tenant: c.Tenant, User: UserID(c.Subject), Name: c.Name, Avatar: c.Avatar, Grants: c.Grants}
	if err := Validate(id); err != nil {
		return nil, Errorf(CodeUnauthenticated, "token claims invalid: %v", err)
	}
	return id, nil
}

// trimJWTErr keeps jwt's reason but not the token contents.
func trimJWTErr(err error) string {
	for _, e := range []error{jwt.ErrTokenMalformed, jwt.ErrTokenNotValidYet, jwt.ErrTokenRequiredClaimMissing,
		jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidClaims} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "unverifiable"
}
