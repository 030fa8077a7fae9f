package shop

import (
	"math"
	"strconv"

	"github.com/qunkit/qun"
)

// Currency is an ISO 4217 code in upper case ("CNY").
type Currency string

// CNY is the renminbi; amounts are in fen.
const CNY Currency = "CNY"

// MaxAmount bounds every single amount qun accepts (10 billion yuan in fen).
// Sums of up to a million such amounts still fit in an int64, and every sum
// is checked anyway.
const MaxAmount int64 = 1_000_000_000_000

// Money is an amount in the currency's minor unit (fen for CNY). It is never
// a float: 19.99 yuan is {"amount":1999,"currency":"CNY"}.
type Money struct {
	Amount   int64    `json:"amount" validate:"min=0,max=1000000000000"`
	Currency Currency `json:"currency" validate:"required,len=3,alpha,uppercase"`
}

func (m Money) String() string { return strconv.FormatInt(m.Amount, 10) + " " + string(m.Currency) }

// addAmount returns a+b, or an invalid error when either is negative or the
// sum leaves [0, math.MaxInt64].
func addAmount(a, b int64) (int64, error) {
	if a < 0 || b < 0 {
		return 0, qun.Errorf(qun.CodeInvalid, "negative amount")
	}
	if a > math.MaxInt64-b {
		return 0, qun.Errorf(qun.CodeInvalid, "amount overflows")
	}
	return a + b, nil
}

// mulAmount returns a*n for a quantity n ≥ 1, or an invalid error when the
// product exceeds MaxAmount (a price times a quantity is one amount).
func mulAmount(a, n int64) (int64, error) {
	if a < 0 || n < 0 {
		return 0, qun.Errorf(qun.CodeInvalid, "negative amount")
	}
	if n != 0 && a > MaxAmount/n {
		return 0, qun.Errorf(qun.CodeInvalid, "amount exceeds the maximum of %d", MaxAmount)
	}
	return a * n, nil
}
