package shop

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/qunkit/qun"
)

// maxCallbackBytes bounds one vendor callback body.
const maxCallbackBytes = 1 << 20

// ShipRequest is the body of the vendor's POST /ship.
type ShipRequest struct {
	Tenant qun.TenantID `json:"tenant" validate:"required,max=64"`
	Rows   []ShipRow    `json:"rows" validate:"required,min=1,max=1000"`
}

// CallbackHandler returns the HTTP handler through which the vendor's
// backend reports payments and shipments. Every request must be signed
// like a Standard Webhooks delivery with one of Config.CallbackSecrets.
// Mount it under a prefix with http.StripPrefix; it serves
//
//	POST /payment  PaymentUpdate           → 200 {"ok":true}
//	POST /ship     ShipRequest             → 200 {"results":[ShipResult...]}
//
// Errors answer the status of their code with {"err":{"code":...,"msg":...}}.
func (s *Service) CallbackHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /payment", s.signed(func(r *http.Request, body []byte) (any, error) {
		var u PaymentUpdate
		if err := qun.Bind(body, &u); err != nil {
			return nil, err
		}
		if err := s.UpdatePayment(r.Context(), u); err != nil {
			return nil, err
		}
		return map[string]bool{"ok": true}, nil
	}))
	mux.HandleFunc("POST /ship", s.signed(func(r *http.Request, body []byte) (any, error) {
		var in ShipRequest
		if err := qun.Bind(body, &in); err != nil {
			return nil, err
		}
		res, err := s.Ship(r.Context(), in.Tenant, in.Rows)
		if err != nil {
			return nil, err
		}
		return map[string]any{"results": res}, nil
	}))
	return mux
}

func (s *Service) signed(fn func(r *http.Request, body []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallbackBytes))
		if err != nil {
			qun.WriteError(w, qun.Errorf(qun.CodeTooLarge, "body over %d bytes", maxCallbackBytes))
			return
		}
		if len(s.cfg.CallbackSecrets) == 0 {
			qun.WriteError(w, qun.Errorf(qun.CodeUnauthenticated, "callbacks are not configured"))
			return
		}
		v := Verifier{Secrets: s.cfg.CallbackSecrets, Now: s.cfg.Now}
		if err := v.Verify(r.Header, body); err != nil {
			qun.WriteError(w, err)
			return
		}
		out, err := fn(r, body)
		if err != nil {
			qun.WriteError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}
