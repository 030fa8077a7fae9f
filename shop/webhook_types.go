package shop

import (
	"github.com/qunkit/qun"
)

// Endpoint is one of the vendor's webhook receivers.
type Endpoint struct {
	ID EndpointID `json:"id"`
	// Tenant limits the endpoint to one tenant's messages; "" receives
	// every tenant's (the vendor's own backend).
	Tenant qun.TenantID `json:"tenant,omitempty"`
	URL    string       `json:"url"`
	// Secrets sign every delivery ("whsec_<base64>"). During a rotation
	// there are several and each delivery carries one signature per secret.
	Secrets []string `json:"secrets"`
	// Types, if not empty, limits the endpoint to these message types.
	Types []string `json:"types,omitempty"`
	// Disabled endpoints receive nothing; their pending deliveries wait.
	// An endpoint answering 410 Gone is disabled.
	Disabled       bool   `json:"disabled"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	Created        int64  `json:"created"`
}

func (e *Endpoint) wants(m *Message) bool {
	if e.Disabled || (e.Tenant != "" && e.Tenant != m.Tenant) {
		return false
	}
	if len(e.Types) == 0 {
		return true
	}
	for _, t := range e.Types {
		if t == m.Type {
			return true
		}
	}
	return false
}

// Message is one business event in the outbox. Body is the exact JSON
// delivered: {"type":...,"timestamp":...,"data":{...}}.
type Message struct {
	Seq    int64        `json:"seq"`
	ID     string       `json:"id"` // webhook-id, "msg_..."
	Tenant qun.TenantID `json:"tenant"`
	Type   string       `json:"type"`
	TS     int64        `json:"ts"` // unix ms
	Body   []byte       `json:"-"`
}

// DeliveryState is where one message's delivery to one endpoint is.
type DeliveryState int

const (
	DeliveryPending DeliveryState = iota
	DeliveryDone
	// DeliveryFailed: gave up after Config.WebhookMaxAttempts.
	DeliveryFailed
)

// Delivery is one message on its way to one endpoint.
type Delivery struct {
	Msg        int64         `json:"msg"`
	Endpoint   EndpointID    `json:"endpoint"`
	State      DeliveryState `json:"state"`
	Attempts   int           `json:"attempts"`
	NextAt     int64         `json:"next_at"` // unix ms
	LastStatus int           `json:"last_status,omitempty"`
	LastError  string        `json:"last_error,omitempty"`
	Updated    int64         `json:"updated"`
}

// DueDelivery is a delivery with what is needed to send it.
type DueDelivery struct {
	Delivery
	Message Message
	URL     string
	Secrets []string
}
