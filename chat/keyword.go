package chat

import (
	"context"
	"regexp"
	"strings"

	"golang.org/x/text/width"
)

// KeywordConfig configures the default Reviewer.
type KeywordConfig struct {
	// Words are refused (or masked, with MaskWords) wherever they appear,
	// ignoring case and full-width forms.
	Words []string
	// Patterns are refused when they match the normalised text (lower
	// case, half-width, Chinese numerals as digits).
	Patterns []*regexp.Regexp
	// MaskWords replaces Words with '*' instead of refusing the message.
	MaskWords bool
	// AllowContacts turns off the built-in private-trade rule, which
	// refuses off-platform contact details: WeChat ids, phone numbers
	// (including mainland 11-digit mobiles) and QQ numbers.
	AllowContacts bool
}

// KeywordReviewer is the default Reviewer: a word list and regular
// expressions, plus the private-trade rule (私下交易): messages that carry
// contact details to take a deal off the platform are refused. The text is
// normalised first so that full-width digits, Chinese numerals and
// separators ("138 1234 5678", "一三八…") do not slip through.
type KeywordReviewer struct {
	cfg   KeywordConfig
	words *regexp.Regexp // nil without words
}

// NewKeywordReviewer returns a KeywordReviewer for cfg.
func NewKeywordReviewer(cfg KeywordConfig) *KeywordReviewer {
	k := &KeywordReviewer{cfg: cfg}
	var alts []string
	for _, w := range cfg.Words {
		if w = strings.TrimSpace(w); w != "" {
			alts = append(alts, regexp.QuoteMeta(strings.ToLower(width.Narrow.String(w))))
		}
	}
	if len(alts) > 0 {
		k.words = regexp.MustCompile(`(?i)` + strings.Join(alts, "|"))
	}
	return k
}

// wx matches the ways of writing "WeChat", not inside a longer word.
const wx = `(?:^|[^a-z])(?:微信|威信|薇信|徽信|维信|v信|vx|wx|weixin|wechat|vchat)`

// The private-trade rule. Each pattern runs on normalize's output.
var contactRules = []struct {
	name string
	re   *regexp.Regexp
}{
	{"phone", regexp.MustCompile(`(?:^|[^0-9])(?:\+?86)?1[3-9][0-9]{9}(?:[^0-9]|$)`)},
	{"phone", regexp.MustCompile(`(?:电话|手机|座机|号码|联系|tel|phone|mobile|call|whatsapp|telegram)[^0-9\n]{0,6}\+?[0-9]{7,}`)},
	{"phone", regexp.MustCompile(`\+[0-9]{9,15}`)},
	{"qq", regexp.MustCompile(`(?:qq|扣扣|企鹅|q号)[^0-9a-z\n]{0,6}[1-9][0-9]{4,11}`)},
	// A WeChat id after a WeChat word: with an explicit separator or 号/id,
	// or holding a digit or underscore (so "微信 yesterday" passes).
	{"wechat", regexp.MustCompile(wx + `(?:号|id)?\s*[:：=]\s*(?:[a-z][-_a-z0-9]{5,19}|[0-9]{6,})`)},
	{"wechat", regexp.MustCompile(wx + `(?:号|id)\s*(?:[a-z][-_a-z0-9]{5,19}|[0-9]{6,})`)},
	{"wechat", regexp.MustCompile(wx + `\s*(?:[a-z][-a-z]{0,18}[0-9_][-_a-z0-9]{0,18}|[0-9]{6,})`)},
	// Invitations to move to WeChat or QQ.
	{"wechat", regexp.MustCompile(`(?:加|\+|add|私聊|私信|联系)[^\n]{0,8}(?:微信|威信|薇信|v信|vx|wx|weixin|wechat|qq|扣扣|v我|我v)`)},
	{"wechat", regexp.MustCompile(`加(?:我|个)?(?:v|微|薇|威)(?:[^a-z]|$)`)},
}

// Review implements Reviewer.
func (k *KeywordReviewer) Review(_ context.Context, r *ReviewRequest) (Verdict, error) {
	c := r.Content
	text := reviewText(c)
	norm := normalize(text)
	if !k.cfg.AllowContacts {
		for _, rule := range contactRules {
			if rule.re.MatchString(norm) {
				return Verdict{Action: Reject, Reason: "contact details (" + rule.name + ") are not allowed in group messages"}, nil
			}
		}
	}
	for _, re := range k.cfg.Patterns {
		if re.MatchString(norm) {
			return Verdict{Action: Reject, Reason: "message refused by the group's rules"}, nil
		}
	}
	if k.words != nil && k.words.MatchString(norm) {
		if k.cfg.MaskWords && c.Text != "" {
			masked := k.words.ReplaceAllStringFunc(c.Text, func(w string) string {
				return strings.Repeat("*", len([]rune(w)))
			})
			// Masking the original text must remove every hit; obfuscated
			// forms that only the normalised text shows are refused.
			if !k.words.MatchString(normalize(masked)) && !k.words.MatchString(normalize(reviewText(&Content{Media: c.Media, Product: c.Product, Live: c.Live, Money: c.Money}))) {
				return Verdict{Action: Mask, Text: masked}, nil
			}
		}
		return Verdict{Action: Reject, Reason: "message contains a forbidden word"}, nil
	}
	return Verdict{Action: Allow}, nil
}

// reviewText is every piece of text a message shows.
func reviewText(c *Content) string {
	parts := []string{c.Text}
	if c.Media != nil {
		parts = append(parts, c.Media.Name)
	}
	if c.Product != nil {
		parts = append(parts, c.Product.Title)
	}
	if c.Live != nil {
		parts = append(parts, c.Live.Title)
	}
	if c.Money != nil {
		parts = append(parts, c.Money.Note)
	}
	return strings.Join(parts, "\n")
}

var digitMap = map[rune]rune{
	'〇': '0', '零': '0', '一': '1', '二': '2', '三': '3', '四': '4', '五': '5', '六': '6', '七': '7', '八': '8', '九': '9',
	'壹': '1', '贰': '2', '叁': '3', '肆': '4', '伍': '5', '陆': '6', '柒': '7', '捌': '8', '玖': '9', '幺': '1',
}

// normalize lowers case, folds full-width forms, turns Chinese numerals
// and circled digits into ASCII digits, drops zero-width characters, and
// removes short runs of separators between digits ("138-1234 5678").
func normalize(s string) string {
	s = strings.ToLower(width.Narrow.String(s))
	rs := make([]rune, 0, len(s))
	for _, r := range s {
		switch {
		case r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\ufeff':
			continue
		case r >= '①' && r <= '⑨':
			r = '1' + (r - '①')
		default:
			if d, ok := digitMap[r]; ok {
				r = d
			}
		}
		rs = append(rs, r)
	}
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); i++ {
		if isSep(rs[i]) && len(out) > 0 && isDigit(out[len(out)-1]) {
			j := i
			for j < len(rs) && j-i < 3 && isSep(rs[j]) {
				j++
			}
			if j < len(rs) && isDigit(rs[j]) {
				i = j - 1
				continue
			}
		}
		out = append(out, rs[i])
	}
	return string(out)
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isSep(r rune) bool {
	return r == ' ' || r == '-' || r == '.' || r == '_' || r == '/' || r == '|' || r == ',' || r == '\t' || r == '*'
}
