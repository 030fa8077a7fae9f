package natsbroker

import "github.com/qunkit/qun"

// subject returns the subject of ref's events: <prefix>.r.<tenant>.<room>,
// each id escaped into one token.
func subject(prefix string, ref qun.RoomRef) string {
	b := make([]byte, 0, len(prefix)+len(ref.Tenant)+len(ref.Room)+8)
	b = append(b, prefix...)
	b = append(b, ".r."...)
	b = appendToken(b, string(ref.Tenant))
	b = append(b, '.')
	b = appendToken(b, string(ref.Room))
	return string(b)
}

// appendToken escapes s into one subject token, injectively: letters,
// digits, '-', '_' and ':' (common in room ids) stay; every other byte,
// including the separators '.', '*', '>', whitespace and '~' itself, becomes
// ~XX (hex). The empty string becomes "~", which no escape produces alone.
func appendToken(b []byte, s string) []byte {
	if s == "" {
		return append(b, '~')
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':' {
			b = append(b, c)
		} else {
			b = append(b, '~', hex[c>>4], hex[c&15])
		}
	}
	return b
}
