package qun_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/qunkit/qun"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func mustTokens(t *testing.T, cfg qun.TokenConfig) *qun.Tokens {
	t.Helper()
	tk, err := qun.NewTokens(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func wantUnauth(t *testing.T, err error, contains string) {
	t.Helper()
	if qun.ErrorCode(err) != qun.CodeUnauthenticated {
		t.Fatalf("got %v; want unauthenticated", err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not say %q", err, contains)
	}
}

func TestTokensHS256RoundTrip(t *testing.T) {
	tk := mustTokens(t, qun.TokenConfig{Secret: secret, Issuer: "vendor", Audience: "qun"})
	in := qun.Identity{Tenant: "t1", User: "u1", Name: "安娜", Avatar: "https://x/a.png", Grants: []string{qun.GrantCreateGroup}}
	tok, err := tk.Issue(in, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := tk.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.Tenant != "t1" || id.User != "u1" || id.Name != "安娜" || !id.Has(qun.GrantCreateGroup) || id.Has(qun.GrantAdmin) {
		t.Fatalf("identity %+v", id)
	}
}

func TestTokensEdDSA(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	issuer := mustTokens(t, qun.TokenConfig{PrivateKey: priv})
	verifier := mustTokens(t, qun.TokenConfig{PublicKey: pub})
	tok, err := issuer.Issue(qun.Identity{Tenant: "t", User: "u"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.Authenticate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.Issue(qun.Identity{Tenant: "t", User: "u"}, time.Minute); err == nil {
		t.Fatal("verifier without private key issued a token")
	}
	// A token signed by another key is refused.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	forged, _ := mustTokens(t, qun.TokenConfig{PrivateKey: other}).Issue(qun.Identity{Tenant: "t", User: "u"}, time.Minute)
	_, err = verifier.Authenticate(context.Background(), forged)
	wantUnauth(t, err, "signature")
}

func TestTokensRejections(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tk := mustTokens(t, qun.TokenConfig{Secret: secret, Now: clock, Issuer: "vendor"})
	ctx := context.Background()
	sign := func(method jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "u", "tid": "t", "iss": "vendor", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}

	good := sign(jwt.SigningMethodHS256, secret, base())
	if _, err := tk.Authenticate(ctx, good); err != nil {
		t.Fatalf("good token refused: %v", err)
	}

	c := base()
	c["exp"] = now.Add(-time.Hour).Unix()
	_, err := tk.Authenticate(ctx, sign(jwt.SigningMethodHS256, secret, c))
	wantUnauth(t, err, "expired")

	c = base()
	delete(c, "exp")
	_, err = tk.Authenticate(ctx, sign(jwt.SigningMethodHS256, secret, c))
	wantUnauth(t, err, "invalid")

	c = base()
	c["exp"] = now.Add(30 * 24 * time.Hour).Unix()
	_, err = tk.Authenticate(ctx, sign(jwt.SigningMethodHS256, secret, c))
	wantUnauth(t, err, "lifetime")

	c = base()
	c["iss"] = "someone-else"
	_, err = tk.Authenticate(ctx, sign(jwt.SigningMethodHS256, secret, c))
	wantUnauth(t, err, "invalid")

	c = base()
	delete(c, "tid")
	_, err = tk.Authenticate(ctx, sign(jwt.SigningMethodHS256, secret, c))
	wantUnauth(t, err, "claims")

	_, err = tk.Authenticate(ctx, sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), base()))
	wantUnauth(t, err, "signature")

	// The algorithm is pinned: HS512 with the right secret and "none" are refused.
	_, err = tk.Authenticate(ctx, sign(jwt.SigningMethodHS512, secret, base()))
	wantUnauth(t, err, "")
	_, err = tk.Authenticate(ctx, sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, base()))
	wantUnauth(t, err, "")

	// Tampering with the payload breaks the signature.
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "x" + "." + parts[2]
	_, err = tk.Authenticate(ctx, tampered)
	wantUnauth(t, err, "")

	for _, bad := range []string{"", "garbage", strings.Repeat("a", 5000)} {
		_, err = tk.Authenticate(ctx, bad)
		wantUnauth(t, err, "")
	}
}

func TestTokensConfigAndIssueValidation(t *testing.T) {
	if _, err := qun.NewTokens(qun.TokenConfig{Secret: []byte("short")}); err == nil {
		t.Fatal("short secret accepted")
	}
	if _, err := qun.NewTokens(qun.TokenConfig{}); err == nil {
		t.Fatal("no key accepted")
	}
	tk := mustTokens(t, qun.TokenConfig{Secret: secret})
	if _, err := tk.Issue(qun.Identity{User: "u"}, time.Hour); qun.ErrorCode(err) != qun.CodeInvalid {
		t.Fatalf("identity without tenant: %v", err)
	}
	if _, err := tk.Issue(qun.Identity{Tenant: "t", User: "u"}, 48*time.Hour); qun.ErrorCode(err) != qun.CodeInvalid {
		t.Fatalf("ttl beyond MaxTTL: %v", err)
	}
}
