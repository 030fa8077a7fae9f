package isolationtest_test

import (
	"bytes"
	"context"
	"encoding/json"
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

// route is one HTTP request of the check, with placeholders in its path
// and body.
type route struct {
	method, path, body string
	png                bool // the body is an image upload
	vendor             bool // signed as the vendor's backend (shop callbacks), not with A's token
	query              bool // the token in ?token= rather than the header
	status             int  // what both B's ids and made-up ones answer
	own                int  // what tenant B's host gets (0: not asked, it would change B's data)
}

var routes = []route{
	{method: "GET", path: "/wb/boards/$B/files/$F", status: 404, own: 200},
	{method: "POST", path: "/wb/boards/$B/pages", png: true, status: 404},
	{method: "GET", path: "/replays/$R", status: 404, own: 200},
	{method: "GET", path: "/replays/$R", query: true, status: 404, own: 200},
	{method: "GET", path: "/replays/$R/timeline?from=0&to=60000", status: 404, own: 200},
	{method: "GET", path: "/replays/$R/tracks/t1", query: true, status: 404},
	{method: "POST", path: "/replays/$R/keep", body: `{}`, status: 404},
	{method: "POST", path: "/replays/$R/discard", status: 404},
	{method: "POST", path: "/replays/$R/stop", status: 404},
	{method: "GET", path: "/replays/?live=$LR", status: 200, own: 200},
	{method: "GET", path: "/replays/?group=$G", status: 200, own: 200},
	{method: "POST", path: "/shop/cb/payment", vendor: true, body: `{"tenant":"ta","id":"$O","status":"paid","payment_ref":"x"}`, status: 404},
	{method: "POST", path: "/shop/cb/payment", vendor: true, body: `{"tenant":"ta","id":"$T","status":"cancelled"}`, status: 404},
	{method: "POST", path: "/shop/cb/payment", vendor: true, body: `{"tenant":"ta","id":"$K","status":"cancelled"}`, status: 404},
	{method: "POST", path: "/shop/cb/ship", vendor: true, body: `{"tenant":"ta","rows":[{"order":"$O","carrier":"sf","tracking":"SF1"}]}`, status: 200},
}

// checkHTTP makes every route's request with B's ids and with made-up ones.
func checkHTTP(t *testing.T, st *stack, d, f bData) {
	do := func(r route, ids bData, token string) (int, string) {
		path := fill(r.path, ids)
		var body io.Reader
		hdr := map[string]string{}
		tok := token
		switch {
		case r.png:
			body = bytes.NewReader(pngBytes(t))
		case r.body != "":
			b := fill(r.body, ids)
			body = strings.NewReader(b)
			hdr["Content-Type"] = "application/json"
			if r.vendor {
				msgID, ts := "msg_"+qun.NewID(), time.Now().Unix()
				sig, err := shop.Sign([]string{callbackSecret}, msgID, ts, []byte(b))
				check(t, err)
				hdr["webhook-id"], hdr["webhook-timestamp"], hdr["webhook-signature"] = msgID, strconv.FormatInt(ts, 10), sig
				tok = ""
			}
		}
		if r.query {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			path += sep + "token=" + tok
			tok = ""
		}
		return httpAsk(t, r.method, st.Server.URL+path, tok, body, hdr)
	}
	for _, r := range routes {
		name := r.method + " " + r.path
		token := st.Token(t, tenantA, "aadmin", qun.GrantAdmin)
		gs, gb := do(r, d, token)
		ws, wb := do(r, f, token)
		if r.own != 0 {
			// The route is right: tenant B's own host is served.
			if s, b := do(r, d, st.Token(t, tenantB, "bhost")); s != r.own || (r.status == 200 && !strings.Contains(b, d["$R"])) {
				t.Errorf("%s as tenant B's host: %d %s, want %d", name, s, b, r.own)
			}
		}
		if gs == 404 && !strings.Contains(gb, `"not_found"`) {
			t.Errorf("%s: 404 without the not_found error (no such route?): %s", name, gb)
		}
		if strings.Contains(gb, marker) {
			t.Errorf("%s with B's ids answered B's data: %s", name, gb)
		}
		req := fill(r.path+r.body, d)
		for k, v := range d {
			if len(v) > 6 && !strings.Contains(req, v) && strings.Contains(gb, v) {
				t.Errorf("%s answered B's %s: %s", name, k, gb)
			}
		}
		if gs != ws || scrub(gb, d, f) != scrub(wb, d, f) {
			t.Errorf("%s: B's ids and made-up ids answer differently:\n  B's:     %d %s\n  made-up: %d %s", name, gs, scrub(gb, d, f), ws, scrub(wb, d, f))
		}
		if gs != r.status {
			t.Errorf("%s with B's ids answered %d %s, want %d", name, gs, gb, r.status)
		}
	}
}

// hookWatch holds tenant A's and tenant B's webhook endpoints.
type hookWatch struct {
	mu   sync.Mutex
	got  map[qun.TenantID][]string // endpoint's tenant → bodies received
	a, b *httptest.Server
}

// watchWebhooks registers a webhook endpoint for tenant A and one for
// tenant B, before B's data exists.
func watchWebhooks(t *testing.T, st *stack) *hookWatch {
	h := &hookWatch{got: map[qun.TenantID][]string{}}
	for _, tenant := range []qun.TenantID{tenantA, tenantB} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			h.mu.Lock()
			h.got[tenant] = append(h.got[tenant], string(b))
			h.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		if _, err := st.shop.AddEndpoint(context.Background(), shop.EndpointInput{Tenant: tenant, URL: srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// check waits until both endpoints received their tenant's messages (B's
// from its seed, A's from the ops that create in A's tenant), then checks
// that each received only its own tenant's.
func (h *hookWatch) check(t *testing.T) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		h.mu.Lock()
		na, nb := len(h.got[tenantA]), len(h.got[tenantB])
		h.mu.Unlock()
		if na > 0 && nb >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks: tenant A's endpoint got %d messages, tenant B's %d", na, nb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a stray message would arrive about now
	h.mu.Lock()
	defer h.mu.Unlock()
	for tenant, bodies := range h.got {
		for _, b := range bodies {
			var m struct {
				Type string
				Data struct{ Tenant qun.TenantID }
			}
			if err := json.Unmarshal([]byte(b), &m); err != nil {
				t.Fatal(err)
			}
			if m.Data.Tenant != tenant || (tenant == tenantA && strings.Contains(b, marker)) {
				t.Errorf("tenant %s's endpoint received %s", tenant, b)
			}
		}
	}
	t.Logf("webhooks: tenant A's endpoint got %d messages, tenant B's %d", len(h.got[tenantA]), len(h.got[tenantB]))
}
