package shop

import (
	"context"

	"github.com/qunkit/qun"
)

// CheckoutRequest is what the vendor's checkout is asked to collect.
type CheckoutRequest struct {
	// Kind is "order", "tip" or "red_packet".
	Kind   string       `json:"kind"`
	Tenant qun.TenantID `json:"tenant"`
	// ID is the order, tip or red packet id. Use it as the payment's
	// idempotency key: Checkout may be called again for the same id after a
	// crash or a client's retry.
	ID     string     `json:"id"`
	User   qun.UserID `json:"user"`
	Room   qun.RoomID `json:"room"`
	Amount Money      `json:"amount"`
	// Order is set for Kind "order".
	Order *Order `json:"order,omitempty"`
	// ExpiresAt is when an unpaid order's reservation ends (unix ms); the
	// payment must not complete after it.
	ExpiresAt int64 `json:"expires_at,omitempty"`
}

// CheckoutResult is the vendor's answer.
type CheckoutResult struct {
	// PaymentRef is the vendor's reference for the payment (a prepay id).
	PaymentRef string `json:"payment_ref,omitempty"`
	// URL, if set, is opened by the client to pay (a cashier page).
	URL string `json:"url,omitempty"`
	// Paid says the payment already completed (a debit of a coin balance):
	// no Service.UpdatePayment call will follow.
	Paid bool `json:"paid,omitempty"`
}

// CheckoutFunc starts the payment of an order, tip or red packet. It
// returns quickly: the buyer pays afterwards, and the vendor reports the
// outcome with Service.UpdatePayment (or its HTTP CallbackHandler). An
// *qun.Error it returns reaches the client as is; any other error answers
// "unavailable". Either way the reservation is released.
type CheckoutFunc func(ctx context.Context, req *CheckoutRequest) (*CheckoutResult, error)

// Reward tells the vendor that a user earned something.
type Reward struct {
	Tenant qun.TenantID `json:"tenant"`
	User   qun.UserID   `json:"user"`
	Room   qun.RoomID   `json:"room"`
	// Kind is "order" (the buyer paid), "tip", "red_packet" (the sender
	// paid) or "share_order" (User shared the link that brought a paid order).
	Kind   string `json:"kind"`
	Ref    string `json:"ref"` // the order, tip or red packet id
	Amount Money  `json:"amount"`
}

// RewardFunc grants points or member rewards; errors are logged.
type RewardFunc func(ctx context.Context, r Reward) error
