package shop

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/qunkit/qun"
)

// Webhooks follow the Standard Webhooks specification
// (https://www.standardwebhooks.com): each delivery carries the headers
// webhook-id (the message id, the same on every retry: receivers dedupe on
// it), webhook-timestamp (unix seconds of the attempt) and
// webhook-signature, a space-separated list of "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>", one per secret of the endpoint. Secrets are
// "whsec_<base64 of 24–64 random bytes>".

const secretPrefix = "whsec_"

// NewSecret returns a fresh webhook secret ("whsec_" + 32 random bytes).
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

func secretKey(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, secretPrefix)
	key, err := base64.StdEncoding.DecodeString(raw)
	if !ok || err != nil || len(key) < 16 || len(key) > 64 {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "a webhook secret is \"whsec_\" followed by base64 of 16 to 64 bytes", Field: "secret"}
	}
	return key, nil
}

func mac(key []byte, msgID string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the webhook-signature header value for a message signed
// with every one of secrets (ts in unix seconds).
func Sign(secrets []string, msgID string, ts int64, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(key, msgID, ts, body)))
	}
	return strings.Join(sigs, " "), nil
}

// Verifier checks Standard Webhooks signatures on the receiving side: the
// vendor's endpoints use it on qun's deliveries, and qun's CallbackHandler
// on the vendor's calls.
type Verifier struct {
	// Secrets that may have signed the message; during a rotation list the
	// new and the old one.
	Secrets []string
	// Tolerance bounds the difference between webhook-timestamp and now,
	// either way, against replays. Zero means 5 minutes.
	Tolerance time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify returns nil if h carries a valid signature of body by one of the
// secrets, with a timestamp within tolerance, and otherwise an *qun.Error
// with CodeUnauthenticated. Signatures are compared in constant time.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	deny := func(why string) error { return qun.Errorf(qun.CodeUnauthenticated, "webhook %s", why) }
	id, tsHdr, sigHdr := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsHdr == "" || sigHdr == "" {
		return deny("headers missing")
	}
	if len(id) > 256 || len(sigHdr) > 4096 {
		return deny("headers too long")
	}
	ts, err := strconv.ParseInt(tsHdr, 10, 64)
	if err != nil {
		return deny("timestamp malformed")
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = 5 * time.Minute
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if d := now().Unix() - ts; d > int64(tol/time.Second) || -d > int64(tol/time.Second) {
		return deny("timestamp outside the tolerance")
	}
	var want [][]byte
	for _, s := range v.Secrets {
		key, err := secretKey(s)
		if err != nil {
			return err
		}
		want = append(want, mac(key, id, ts, body))
	}
	for i, sig := range strings.Fields(sigHdr) {
		if i >= 16 {
			break
		}
		ver, b, ok := strings.Cut(sig, ",")
		if !ok || ver != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			continue
		}
		for _, w := range want {
			if hmac.Equal(got, w) {
				return nil
			}
		}
	}
	return deny("signature does not match")
}

// Verify checks a Standard Webhooks delivery against one secret with the
// default tolerance.
func Verify(secret string, h http.Header, body []byte) error {
	return (&Verifier{Secrets: []string{secret}}).Verify(h, body)
}

// EndpointInput registers a webhook endpoint.
type EndpointInput struct {
	// Tenant limits the endpoint to one tenant; "" receives all tenants'.
	Tenant qun.TenantID `json:"tenant,omitempty" validate:"max=64"`
	URL    string       `json:"url" validate:"required,max=2048,url"`
	// Secret, if empty, is generated (see the returned Endpoint).
	Secret string   `json:"secret,omitempty" validate:"max=128"`
	Types  []string `json:"types,omitempty" validate:"max=64,dive,required,max=64"`
}

// MaxSecrets is how many secrets an endpoint keeps during rotations.
const MaxSecrets = 3

// AddEndpoint registers a webhook endpoint. It receives messages
// enqueued from now on.
func (s *Service) AddEndpoint(ctx context.Context, in EndpointInput) (*Endpoint, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	if u, err := url.Parse(in.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "url must be an http(s) URL", Field: "url"}
	}
	if in.Secret == "" {
		in.Secret = NewSecret()
	} else if _, err := secretKey(in.Secret); err != nil {
		return nil, err
	}
	e := &Endpoint{ID: EndpointID("ep_" + qun.NewID()), Tenant: in.Tenant, URL: in.URL, Secrets: []string{in.Secret}, Types: in.Types, Created: s.now()}
	if err := s.update(ctx, func(tx Tx) error { return tx.PutEndpoint(e) }); err != nil {
		return nil, err
	}
	return e, nil
}

// Endpoints lists the endpoints of tenant ("" the vendor-wide ones), or
// every endpoint with all.
func (s *Service) Endpoints(ctx context.Context, tenant qun.TenantID, all bool) ([]*Endpoint, error) {
	var out []*Endpoint
	err := s.view(ctx, func(tx Tx) (err error) { out, err = tx.Endpoints(tenant, all); return err })
	return out, err
}

// RemoveEndpoint deletes an endpoint and its pending deliveries.
func (s *Service) RemoveEndpoint(ctx context.Context, id EndpointID) error {
	return s.update(ctx, func(tx Tx) error { return tx.DeleteEndpoint(id) })
}

func (s *Service) changeEndpoint(ctx context.Context, id EndpointID, fn func(e *Endpoint) error) (*Endpoint, error) {
	var e *Endpoint
	err := s.update(ctx, func(tx Tx) (err error) {
		if e, err = tx.Endpoint(id); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
		return tx.PutEndpoint(e)
	})
	return e, err
}

// RotateSecret adds a new secret (generated if empty) in front of the
// endpoint's secrets; deliveries are signed with all of them (at most
// MaxSecrets, the oldest dropped) until RetireSecrets.
func (s *Service) RotateSecret(ctx context.Context, id EndpointID, secret string) (*Endpoint, error) {
	if secret == "" {
		secret = NewSecret()
	} else if _, err := secretKey(secret); err != nil {
		return nil, err
	}
	return s.changeEndpoint(ctx, id, func(e *Endpoint) error {
		e.Secrets = append([]string{secret}, e.Secrets...)
		if len(e.Secrets) > MaxSecrets {
			e.Secrets = e.Secrets[:MaxSecrets]
		}
		return nil
	})
}

// RetireSecrets keeps only the newest secret, ending a rotation.
func (s *Service) RetireSecrets(ctx context.Context, id EndpointID) (*Endpoint, error) {
	return s.changeEndpoint(ctx, id, func(e *Endpoint) error {
		e.Secrets = e.Secrets[:1]
		return nil
	})
}

// EnableEndpoint enables or disables an endpoint. Re-enabling one that
// answered 410 resumes its parked deliveries.
func (s *Service) EnableEndpoint(ctx context.Context, id EndpointID, enabled bool) (*Endpoint, error) {
	e, err := s.changeEndpoint(ctx, id, func(e *Endpoint) error {
		e.Disabled = !enabled
		if enabled {
			e.DisabledReason = ""
		} else if e.DisabledReason == "" {
			e.DisabledReason = "disabled by the vendor"
		}
		return nil
	})
	return e, err
}

// Deliveries lists an endpoint's deliveries in a state, oldest first.
func (s *Service) Deliveries(ctx context.Context, id EndpointID, state DeliveryState, limit int) ([]*Delivery, error) {
	var out []*Delivery
	err := s.view(ctx, func(tx Tx) (err error) { out, err = tx.Deliveries(id, state, min(max(limit, 1), 1000)); return err })
	return out, err
}

// RetryFailed makes up to 1000 failed deliveries of an endpoint pending
// again, with a fresh attempt count, and answers how many.
func (s *Service) RetryFailed(ctx context.Context, id EndpointID) (int, error) {
	n := 0
	err := s.update(ctx, func(tx Tx) error {
		ds, err := tx.Deliveries(id, DeliveryFailed, 1000)
		if err != nil {
			return err
		}
		now := s.now()
		for _, d := range ds {
			d.State, d.Attempts, d.NextAt, d.Updated = DeliveryPending, 0, now, now
			if err := tx.PutDelivery(d); err != nil {
				return err
			}
		}
		n = len(ds)
		return nil
	})
	return n, err
}
