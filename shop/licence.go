package shop

import (
	"strings"

	"github.com/qunkit/qun"
)

// The unified social credit code (统一社会信用代码, GB 32100-2015) is 18
// characters from this 31-character alphabet (no I, O, Z, S, V). Character
// i weighs 3^i mod 31; the 18th is the check character.
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// creditAuthorities are the registration authorities allowed in position 1.
const creditAuthorities = "123456789ABCDEFGHJKLMNY"

// CreditCodeCheck returns the check character for the first 17 characters
// of a unified social credit code, and false if they are not well formed.
func CreditCodeCheck(first17 string) (byte, bool) {
	if len(first17) != 17 {
		return 0, false
	}
	sum := 0
	for i := range 17 {
		v := strings.IndexByte(creditAlphabet, first17[i])
		if v < 0 {
			return 0, false
		}
		sum += v * creditWeights[i]
	}
	return creditAlphabet[(31-sum%31)%31], true
}

// ValidateCreditCode checks a business licence's unified social credit code:
// 18 characters of the code alphabet, a known registration authority, a
// six-digit administrative division code and the check character. Lower
// case is accepted and normalised. It returns the normalised code or an
// *qun.Error with CodeInvalid.
func ValidateCreditCode(code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	bad := func(why string) error {
		return &qun.Error{Code: qun.CodeInvalid, Message: "business licence number: " + why, Field: "licence"}
	}
	if len(code) != 18 {
		return "", bad("must be the 18-character unified social credit code")
	}
	if strings.IndexByte(creditAuthorities, code[0]) < 0 {
		return "", bad("unknown registration authority")
	}
	for i := 2; i < 8; i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", bad("characters 3-8 must be an administrative division code")
		}
	}
	check, ok := CreditCodeCheck(code[:17])
	if !ok {
		return "", bad("contains a character outside the code alphabet")
	}
	if code[17] != check {
		return "", bad("check character does not match")
	}
	return code, nil
}
