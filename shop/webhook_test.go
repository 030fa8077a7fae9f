package shop_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/shop"
)

// specVerify is written from the Standard Webhooks specification, without
// the package's code: the signed content is id.timestamp.body, the key is
// the base64 part of the "whsec_" secret, the header lists
// space-delimited "v1,<base64 HMAC-SHA256>" signatures, and the timestamp
// must be recent.
func specVerify(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, s := range strings.Split(h.Get("webhook-signature"), " ") {
		v, sig, ok := strings.Cut(s, ",")
		if ok && v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

type hit struct {
	id, typ string
	at      time.Time
	header  http.Header
	body    []byte
}

// receiver is a webhook endpoint whose answers the test scripts.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	answer func(h hit, n int) (status int, hdr map[string]string) // n: attempts of this id so far, from 1
}

func newReceiver(t *testing.T, answer func(h hit, n int) (int, map[string]string)) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var env struct{ Type string }
		_ = json.Unmarshal(body, &env)
		h := hit{id: req.Header.Get("webhook-id"), typ: env.Type, at: time.Now(), header: req.Header.Clone(), body: body}
		r.mu.Lock()
		r.hits = append(r.hits, h)
		n := 0
		for _, x := range r.hits {
			if x.id == h.id {
				n++
			}
		}
		answer := r.answer
		r.mu.Unlock()
		status, hdr := 204, map[string]string(nil)
		if answer != nil {
			status, hdr = answer(h, n)
		}
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) snapshot() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// ids returns the distinct message ids received with a 2xx answer, by type.
func (r *receiver) byType(typ string) []hit {
	var out []hit
	for _, h := range r.snapshot() {
		if h.typ == typ {
			out = append(out, h)
		}
	}
	return out
}

func TestWebhooksSignedPerSpecWithRotation(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, nil)
	ctx := context.Background()
	ep, err := e.svc.AddEndpoint(ctx, shop.EndpointInput{URL: rc.URL})
	if err != nil {
		t.Fatal(err)
	}
	old := ep.Secrets[0]
	ep, err = e.svc.RotateSecret(ctx, ep.ID, "")
	if err != nil || len(ep.Secrets) != 2 {
		t.Fatalf("rotate: %+v %v", ep, err)
	}
	fresh := ep.Secrets[0]
	sh, err := e.svc.CreateShop(ctx, ident("t1", "ann"), shop.CreateShopInput{Kind: shop.KindEnterprise, Name: "Ann Co", Licence: "91350100m000100y43", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if sh.Licence != "91350100M000100Y43" {
		t.Fatalf("licence not normalised: %s", sh.Licence)
	}
	eventually(t, "shop.created delivery", func() bool { return len(rc.byType("shop.created")) == 1 })
	h := rc.byType("shop.created")[0]
	if !specVerify(old, h.header, h.body) || !specVerify(fresh, h.header, h.body) {
		t.Fatalf("a spec verifier rejects the delivery: %v", h.header)
	}
	if n := len(strings.Fields(h.header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures during rotation", n)
	}
	if err := shop.Verify(fresh, h.header, h.body); err != nil {
		t.Fatal(err)
	}
	if specVerify(shop.NewSecret(), h.header, h.body) || specVerify(fresh, h.header, append(h.body, ' ')) {
		t.Fatal("the spec verifier accepts a wrong secret or a changed body")
	}
	var body struct {
		Type      string
		Timestamp time.Time
		Data      shop.Shop
	}
	if err := json.Unmarshal(h.body, &body); err != nil || body.Type != "shop.created" || body.Data.ID != sh.ID || body.Data.Tenant != "t1" || body.Timestamp.IsZero() {
		t.Fatalf("body %s (%v)", h.body, err)
	}
	if !strings.HasPrefix(h.id, "msg_") || h.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h.header)
	}
	// After retiring, only the new secret signs.
	if _, err := e.svc.RetireSecrets(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifyShop(ctx, "t1", sh.ID, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "shop.verified delivery", func() bool { return len(rc.byType("shop.verified")) == 1 })
	h = rc.byType("shop.verified")[0]
	if specVerify(old, h.header, h.body) || !specVerify(fresh, h.header, h.body) {
		t.Fatal("retired secret still signs")
	}
}

func TestWebhookTenantEndpointsAndTypeFilter(t *testing.T) {
	e := newEnv(t, nil)
	all, t1, orders := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	ctx := context.Background()
	for _, in := range []shop.EndpointInput{{URL: all.URL}, {URL: t1.URL, Tenant: "t1"}, {URL: orders.URL, Types: []string{"shop.verified"}}} {
		if _, err := e.svc.AddEndpoint(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.AddEndpoint(ctx, shop.EndpointInput{URL: "ftp://x"})
	wantCode(t, err, qun.CodeInvalid)
	_, err = e.svc.AddEndpoint(ctx, shop.EndpointInput{URL: all.URL, Secret: "whsec_short"})
	wantCode(t, err, qun.CodeInvalid)
	for _, tn := range []string{"t1", "t2"} {
		if _, err := e.svc.CreateShop(ctx, ident(tn, "ann"), shop.CreateShopInput{Kind: shop.KindIndividual, Name: "x", Key: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "deliveries", func() bool { return len(all.byType("shop.created")) == 2 && len(t1.byType("shop.created")) == 1 })
	time.Sleep(100 * time.Millisecond)
	var d struct{ Data shop.Shop }
	_ = json.Unmarshal(t1.byType("shop.created")[0].body, &d)
	if d.Data.Tenant != "t1" || len(t1.snapshot()) != 1 || len(orders.snapshot()) != 0 {
		t.Fatalf("tenant endpoint got %d, filtered endpoint got %d", len(t1.snapshot()), len(orders.snapshot()))
	}
}

func TestWebhookRetriesWithBackoff(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, func(h hit, n int) (int, map[string]string) {
		if n <= 3 {
			return 500, nil
		}
		return 200, nil
	})
	ctx := context.Background()
	ep, err := e.svc.AddEndpoint(ctx, shop.EndpointInput{URL: rc.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateShop(ctx, ident("t1", "ann"), shop.CreateShopInput{Kind: shop.KindIndividual, Name: "x", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delivery done", func() bool {
		ds, _ := e.svc.Deliveries(ctx, ep.ID, shop.DeliveryDone, 10)
		return len(ds) == 1
	})
	hits := rc.snapshot()
	if len(hits) != 4 {
		t.Fatalf("%d attempts; want 4", len(hits))
	}
	for i := 1; i < 4; i++ {
		if hits[i].id != hits[0].id {
			t.Fatal("a retry changed the webhook-id")
		}
		// Attempt i+1 waits at least half of 20ms·2^(i-1).
		if gap, least := hits[i].at.Sub(hits[i-1].at), time.Duration(10<<(i-1))*time.Millisecond; gap < least {
			t.Fatalf("attempt %d came %v after the previous; want ≥ %v", i+1, gap, least)
		}
	}
	ds, _ := e.svc.Deliveries(ctx, ep.ID, shop.DeliveryDone, 10)
	if ds[0].Attempts != 4 || ds[0].LastStatus != 200 {
		t.Fatalf("delivery %+v", ds[0])
	}
}

func TestWebhookGivesUpAfterMaxAttempts(t *testing.T) {
	e := newEnv(t, func(c *shop.Config) { c.Webhooks.MaxAttempts = 3; c.Webhooks.BackoffBase = time.Millisecond })
	fail := true
	var mu sync.Mutex
	rc := newReceiver(t, func(hit, int) (int, map[string]string) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return 500, nil
		}
		return 200, nil
	})
	ctx := context.Background()
	ep, _ := e.svc.AddEndpoint(ctx, shop.EndpointInput{URL: rc.URL})
	if _, err := e.svc.CreateShop(ctx, ident("t1", "ann"), shop.CreateShopInput{Kind: shop.KindIndividual, Name: "x", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "failed delivery", func() bool {
		ds, _ := e.svc.Deliveries(ctx, ep.ID, shop.DeliveryFailed, 10)
		return len(ds) == 1
	})
	if n := len(rc.snapshot()); n != 3 {
		t.Fatalf("%d attempts; want 3", n)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if n, err := e.svc.RetryFailed(ctx, ep.ID); err != nil || n != 1 {
		t.Fatalf("retry failed: %d %v", n, err)
	}
	eventually(t, "redelivery", func() bool {
		ds, _ := e.svc.Deliveries(ctx, ep.ID, shop.DeliveryDone, 10)
		return len(ds) == 1
	})
}

func TestWebhookRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, func(h hit, n int) (int, map[string]string) {
		if n == 1 {
			return 503, map[string]string{"Retry-After": "1"}
		}
		return 200, nil
	})
	ctx := context.Background()
	if _, err := e.svc.AddEndpoint(ctx, shop.EndpointInput{URL: rc.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateShop(ctx, ident("t1", "ann"), shop.CreateShopInput{Kind: shop.KindIndividual, Name: "x", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second attempt", func() bool { return len(rc.snapshot()) == 2 })
	hits := rc.snapshot()
	if gap := hits[1].at.Sub(hits[0].at); gap < time.Second {
		t.Fatalf("retried %v after a Retry-After of 1s (backoff alone is 20ms)", gap)
	}
}

func TestWebhookGoneDisablesEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	gone := true
	rc := newReceiver(t, func(hit, int) (int, map[string]string) {
		mu.Lock()
		defer mu.Unlock()
		if gone {
			return 410, nil
		}
		return 200, nil
	})
	ctx := context.Background()
	ep, _ := e.svc.AddEndpoint(ctx, shop.EndpointInput{URL: rc.URL})
	mk := func(user string) {
		if _, err := e.svc.CreateShop(ctx, ident("t1", user), shop.CreateShopInput{Kind: shop.KindIndividual, Name: "x", Key: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	mk("a")
	eventually(t, "endpoint disabled", func() bool {
		eps, _ := e.svc.Endpoints(ctx, "", false)
		return len(eps) == 1 && eps[0].Disabled
	})
	mk("b") // while disabled: not sent
	time.Sleep(300 * time.Millisecond)
	if n := len(rc.snapshot()); n != 1 {
		t.Fatalf("%d attempts to a disabled endpoint; want just the one that answered 410", n)
	}
	mu.Lock()
	gone = false
	mu.Unlock()
	if _, err := e.svc.EnableEndpoint(ctx, ep.ID, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "parked delivery", func() bool {
		ds, _ := e.svc.Deliveries(ctx, ep.ID, shop.DeliveryDone, 10)
		return len(ds) == 1
	})
	hits := rc.snapshot()
	if len(hits) != 2 || hits[0].id != hits[1].id {
		t.Fatalf("after re-enabling: %d attempts", len(hits))
	}
}

// Closing the service in the middle of deliveries loses nothing: a new
// service on the same database delivers every message.
func TestWebhookRestartWithoutLoss(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	phase1 := true
	hanging := 0
	rc := newReceiver(t, nil)
	rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		p1 := phase1
		if p1 {
			hanging++
		}
		mu.Unlock()
		if p1 {
			select { // hang until the service gives up on the request
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{id: r.Header.Get("webhook-id")})
		rc.mu.Unlock()
		w.WriteHeader(204)
	})
	defer close(release)

	e1 := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e1.svc.AddEndpoint(ctx, shop.EndpointInput{URL: rc.URL}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		if _, err := e1.svc.CreateShop(ctx, ident("t1", fmt.Sprint("u", i)), shop.CreateShopInput{Kind: shop.KindIndividual, Name: "x", Key: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "deliveries in flight", func() bool {
		return count(t, e1.db, `SELECT COUNT(*) FROM shop_deliveries`) == n
	})
	eventually(t, "attempts hanging in the receiver", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return hanging >= 16 // the default concurrency
	})
	if err := e1.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e1.store.Close(); err != nil { // the restart: no writer of e1 survives
		t.Fatal(err)
	}
	if d := count(t, e1.db, `SELECT COUNT(*) FROM shop_deliveries WHERE state=0`); d != n {
		t.Fatalf("%d pending after close; want %d", d, n)
	}
	mu.Lock()
	phase1 = false
	mu.Unlock()

	e2 := openEnv(t, e1.path, nil)
	eventually(t, "every message delivered after the restart", func() bool {
		return count(t, e2.db, `SELECT COUNT(*) FROM shop_deliveries WHERE state=1`) == n
	})
	got := map[string]bool{}
	for _, h := range rc.snapshot() {
		got[h.id] = true
	}
	rows, err := e2.db.Query(`SELECT id FROM shop_outbox`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		if !got[id] {
			t.Fatalf("message %s never delivered", id)
		}
	}
}

// A change and its webhook message commit together: a failing Update
// leaves neither.
func TestOutboxInSameTransaction(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	boom := fmt.Errorf("boom")
	err := e.svc.Store().Update(ctx, func(tx shop.Tx) error {
		if err := tx.PutShop(&shop.Shop{ID: "s_x", Tenant: "t1", Owner: "a", Kind: shop.KindIndividual, Name: "x"}); err != nil {
			return err
		}
		if err := tx.Enqueue(&shop.Message{ID: "msg_x", Tenant: "t1", Type: "shop.created", TS: 1, Body: []byte("{}")}); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("update: %v", err)
	}
	if count(t, e.db, `SELECT COUNT(*) FROM shop_shops`) != 0 || count(t, e.db, `SELECT COUNT(*) FROM shop_outbox`) != 0 {
		t.Fatal("a failed update left rows behind")
	}
}

func TestVerify(t *testing.T) {
	secret := shop.NewSecret()
	body := []byte(`{"type":"order.paid","timestamp":"2026-01-01T00:00:00Z","data":{}}`)
	now := time.Unix(1_800_000_000, 0)
	sign := func(secrets []string, id string, ts int64) http.Header {
		sig, err := shop.Sign(secrets, id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		h.Set("webhook-signature", sig)
		return h
	}
	v := shop.Verifier{Secrets: []string{secret}, Now: func() time.Time { return now }}
	ok := sign([]string{secret}, "msg_1", now.Unix())
	if err := v.Verify(ok, body); err != nil {
		t.Fatal(err)
	}
	other := shop.NewSecret()
	if err := v.Verify(sign([]string{other, secret}, "msg_1", now.Unix()), body); err != nil {
		t.Fatalf("one matching signature among several: %v", err)
	}
	forged := []struct {
		name string
		h    http.Header
		body []byte
	}{
		{"wrong secret", sign([]string{other}, "msg_1", now.Unix()), body},
		{"changed body", ok, []byte(`{"type":"order.paid","data":{"amount":1}}`)},
		{"changed id", func() http.Header { h := ok.Clone(); h.Set("webhook-id", "msg_2"); return h }(), body},
		{"old timestamp", sign([]string{secret}, "msg_1", now.Add(-6*time.Minute).Unix()), body},
		{"future timestamp", sign([]string{secret}, "msg_1", now.Add(6*time.Minute).Unix()), body},
		{"no signature", func() http.Header { h := ok.Clone(); h.Del("webhook-signature"); return h }(), body},
		{"garbage signature", func() http.Header { h := ok.Clone(); h.Set("webhook-signature", "v1,!!! v2,abc"); return h }(), body},
	}
	for _, f := range forged {
		err := v.Verify(f.h, f.body)
		if qun.ErrorCode(err) != qun.CodeUnauthenticated {
			t.Errorf("%s: %v; want unauthenticated", f.name, err)
		}
	}
	bad := shop.Verifier{Secrets: []string{"not-a-secret"}, Now: v.Now}
	if err := bad.Verify(ok, body); qun.ErrorCode(err) != qun.CodeInvalid {
		t.Fatalf("malformed secret: %v", err)
	}
}
