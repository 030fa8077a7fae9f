package whiteboard

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qunkit/qun"
)

// Item kinds, pen tools and shapes.
const (
	KindStroke = "stroke"
	KindShape  = "shape"
	KindText   = "text"

	ToolPen         = "pen"
	ToolHighlighter = "highlighter"

	ShapeRect    = "rect"
	ShapeEllipse = "ellipse"
	ShapeLine    = "line"
	ShapeArrow   = "arrow"
)

// Coordinates are normalised to the page: x is the fraction of the page's
// width from its left edge and y the fraction of its height from its top,
// both in [0, 1], whatever the page's pixel size. Widths and text sizes are
// fractions of the page's width. The server rounds every number to
// coordDecimals decimals, so all clients hold the same values.
const coordDecimals = 4

// ItemInput is an item as a client draws it. Which fields apply depends on
// K (see docs/ops/whiteboard.md):
//
//   - stroke: Tool, C, W, Pts = [x,y,pressure, x,y,pressure, ...]
//   - shape:  Shape, C, W, optional Fill, Pts = [x1,y1, x2,y2]
//   - text:   C, Size, Text, Pts = [x,y] (the text box's top-left corner)
type ItemInput struct {
	K     string    `json:"k" validate:"required,oneof=stroke shape text"`
	Tool  string    `json:"tool,omitempty" validate:"omitempty,oneof=pen highlighter"`
	Shape string    `json:"shape,omitempty" validate:"omitempty,oneof=rect ellipse line arrow"`
	C     string    `json:"c" validate:"required,max=9"`
	Fill  string    `json:"fill,omitempty" validate:"max=9"`
	W     float64   `json:"w,omitempty"`
	Size  float64   `json:"size,omitempty"`
	Text  string    `json:"text,omitempty" validate:"max=8000"`
	Pts   []float64 `json:"pts" validate:"required"`
}

// Limits bound what one board holds and what one op may carry. Zero fields
// take the defaults in parentheses.
type Limits struct {
	StrokePoints  int     // points in one stroke (2,000)
	TextRunes     int     // characters in one text item (1,000)
	ItemsPerPage  int     // items on one page (5,000)
	PagesPerBoard int     // pages on one board (500)
	EraseIDs      int     // items one erase names (500)
	OpBytes       int     // bytes of one op's data (32 KiB)
	MaxWidth      float64 // stroke and shape width, fraction of page width (0.1)
	MaxTextSize   float64 // text size, fraction of page width (0.2)
	MaxZoom       float64 // viewport zoom (8)
}

func (l *Limits) setDefaults() {
	def := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&l.StrokePoints, 2000)
	def(&l.TextRunes, 1000)
	def(&l.ItemsPerPage, 5000)
	def(&l.PagesPerBoard, 500)
	def(&l.EraseIDs, 500)
	def(&l.OpBytes, 32<<10)
	if l.MaxWidth <= 0 {
		l.MaxWidth = 0.1
	}
	if l.MaxTextSize <= 0 {
		l.MaxTextSize = 0.2
	}
	if l.MaxZoom <= 1 {
		l.MaxZoom = 8
	}
}

func invalid(field, format string, args ...any) *qun.Error {
	e := qun.Errorf(qun.CodeInvalid, format, args...)
	e.Field = field
	return e
}

// checkPoints validates a flat list of coordinates: a multiple of stride
// long, every value in [0, 1].
func checkPoints(pts []float64, stride int) error {
	if len(pts)%stride != 0 {
		return invalid("pts", "pts must hold groups of %d numbers", stride)
	}
	for i, v := range pts {
		if !(v >= 0 && v <= 1) {
			return invalid("pts", "pts[%d] = %g is outside the page (coordinates are in [0, 1])", i, v)
		}
	}
	return nil
}

// color returns c in canonical form (#rrggbb or #rrggbbaa, lower case).
func color(field, c string) (string, error) {
	if (len(c) != 7 && len(c) != 9) || c[0] != '#' {
		return "", invalid(field, "%s must be #rrggbb or #rrggbbaa", field)
	}
	for i := 1; i < len(c); i++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(c[i])) {
			return "", invalid(field, "%s must be #rrggbb or #rrggbbaa", field)
		}
	}
	return strings.ToLower(c), nil
}

// minSize is the smallest width or text size: smaller ones would round to 0.
const minSize = 1e-4

func checkWidth(w, max float64) error {
	if !(w >= minSize && w <= max) {
		return invalid("w", "w must be in [%g, %g] (a fraction of the page width)", minSize, max)
	}
	return nil
}

// check validates in fully and normalises its colours.
func (in *ItemInput) check(lim *Limits) error {
	if err := qun.Validate(in); err != nil {
		return err
	}
	var err error
	if in.C, err = color("c", in.C); err != nil {
		return err
	}
	none := func(field string, set bool) error {
		if set {
			return invalid(field, "%s does not apply to a %s", field, in.K)
		}
		return nil
	}
	switch in.K {
	case KindStroke:
		if in.Tool == "" {
			return invalid("tool", "a stroke needs a tool (pen or highlighter)")
		}
		if err := firstErr(none("shape", in.Shape != ""), none("fill", in.Fill != ""), none("size", in.Size != 0), none("text", in.Text != "")); err != nil {
			return err
		}
		if err := checkWidth(in.W, lim.MaxWidth); err != nil {
			return err
		}
		if len(in.Pts)/3 > lim.StrokePoints {
			return qun.Errorf(qun.CodeTooLarge, "a stroke has at most %d points", lim.StrokePoints)
		}
		return checkPoints(in.Pts, 3)
	case KindShape:
		if in.Shape == "" {
			return invalid("shape", "a shape needs a shape (rect, ellipse, line or arrow)")
		}
		if err := firstErr(none("tool", in.Tool != ""), none("size", in.Size != 0), none("text", in.Text != "")); err != nil {
			return err
		}
		if in.Fill != "" {
			if in.Shape == ShapeLine || in.Shape == ShapeArrow {
				return invalid("fill", "a %s has no fill", in.Shape)
			}
			if in.Fill, err = color("fill", in.Fill); err != nil {
				return err
			}
		}
		if err := checkWidth(in.W, lim.MaxWidth); err != nil {
			return err
		}
		if len(in.Pts) != 4 {
			return invalid("pts", "a shape's pts are [x1,y1,x2,y2]")
		}
		return checkPoints(in.Pts, 2)
	case KindText:
		if err := firstErr(none("tool", in.Tool != ""), none("shape", in.Shape != ""), none("fill", in.Fill != ""), none("w", in.W != 0)); err != nil {
			return err
		}
		if !(in.Size >= minSize && in.Size <= lim.MaxTextSize) {
			return invalid("size", "size must be in [%g, %g] (a fraction of the page width)", minSize, lim.MaxTextSize)
		}
		if strings.TrimSpace(in.Text) == "" || !utf8.ValidString(in.Text) {
			return invalid("text", "text must be non-empty UTF-8")
		}
		if utf8.RuneCountInString(in.Text) > lim.TextRunes {
			return qun.Errorf(qun.CodeTooLarge, "a text has at most %d characters", lim.TextRunes)
		}
		if len(in.Pts) != 2 {
			return invalid("pts", "a text's pts are [x,y]")
		}
		return checkPoints(in.Pts, 2)
	}
	return invalid("k", "unknown item kind %q", in.K)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func round(v float64) float64 {
	const f = 1e4 // 10^coordDecimals
	return math.Round(v*f) / f
}

func appendNum(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, round(v), 'f', -1, 64)
}

func appendNums(b []byte, vs []float64) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendNum(b, v)
	}
	return append(b, ']')
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// encode returns the item's canonical JSON. The field order is fixed so that
// the same item always has the same bytes.
func (in *ItemInput) encode(id uint64, by qun.UserID) json.RawMessage {
	b := make([]byte, 0, 96+len(in.Text)+8*len(in.Pts))
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"k":"`...)
	b = append(b, in.K...)
	b = append(b, `","by":`...)
	b = appendString(b, string(by))
	switch in.K {
	case KindStroke:
		b = append(b, `,"tool":"`...)
		b = append(b, in.Tool...)
		b = append(b, '"')
	case KindShape:
		b = append(b, `,"shape":"`...)
		b = append(b, in.Shape...)
		b = append(b, '"')
	}
	b = append(b, `,"c":"`...)
	b = append(b, in.C...)
	b = append(b, '"')
	if in.Fill != "" {
		b = append(b, `,"fill":"`...)
		b = append(b, in.Fill...)
		b = append(b, '"')
	}
	if in.K == KindText {
		b = append(b, `,"size":`...)
		b = appendNum(b, in.Size)
		b = append(b, `,"text":`...)
		b = appendString(b, in.Text)
	} else {
		b = append(b, `,"w":`...)
		b = appendNum(b, in.W)
	}
	b = append(b, `,"pts":`...)
	b = appendNums(b, in.Pts)
	return append(b, '}')
}
