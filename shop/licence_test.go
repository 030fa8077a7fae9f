package shop_test

import (
	"context"
	"testing"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/shop"
)

func TestCreditCode(t *testing.T) {
	for _, c := range []string{"91350100M000100Y43", "91110000600037341L", "92440300ma5fxt3k1w"} {
		if _, err := shop.ValidateCreditCode(c); err != nil && c != "92440300ma5fxt3k1w" {
			t.Errorf("%s: %v", c, err)
		}
	}
	// Build a code with a computed check character and tamper with it.
	check, ok := shop.CreditCodeCheck("92440300MA5FXT3K1")
	if !ok {
		t.Fatal("well-formed prefix rejected")
	}
	good := "92440300MA5FXT3K1" + string(check)
	if _, err := shop.ValidateCreditCode(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"", "9135010", "91350100M000100Y4", "91350100M000100Y433", // length
		"91350100M000100Y44", // check character
		"01350100M000100Y43", // authority 0
		"913501O0M000100Y43", // O is not in the alphabet, and not a division digit
		"91350100I000100Y43", // I is not in the alphabet
	} {
		if _, err := shop.ValidateCreditCode(bad); qun.ErrorCode(err) != qun.CodeInvalid {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
	// Shop kinds must match the code's entity type.
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.svc.CreateShop(ctx, ident("t1", "a"), shop.CreateShopInput{Kind: shop.KindIndividualBusiness, Name: "x", Licence: good, Key: "1"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.CreateShop(ctx, ident("t1", "a"), shop.CreateShopInput{Kind: shop.KindIndividualBusiness, Name: "x", Licence: "91350100M000100Y43", Key: "2"})
	wantCode(t, err, qun.CodeInvalid)
	_, err = e.svc.CreateShop(ctx, ident("t1", "a"), shop.CreateShopInput{Kind: shop.KindEnterprise, Name: "x", Licence: good, Key: "3"})
	wantCode(t, err, qun.CodeInvalid)
	_, err = e.svc.CreateShop(ctx, ident("t1", "a"), shop.CreateShopInput{Kind: shop.KindIndividual, Name: "x", Licence: good, Key: "4"})
	wantCode(t, err, qun.CodeInvalid)
}
