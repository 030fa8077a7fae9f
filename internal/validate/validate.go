// Package validate runs go-playground/validator over input structs and turns
// its failures into *qun.Error values with code "invalid", naming the field
// by its JSON name so clients can point at it.
package validate

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
)

var v = newValidator()

func newValidator() *validator.Validate {
	val := validator.New(validator.WithRequiredStructEnabled())
	val.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		if name == "" {
			return f.Name
		}
		return name
	})
	return val
}

// FieldError is returned for the first field that fails. The root package
// converts it into its public error type (qun cannot be imported here
// without a cycle).
type FieldError struct {
	Field string // JSON path, e.g. "d.text"
	Rule  string // the failed tag, e.g. "max"
	Param string // the tag's parameter, e.g. "4000"
}

func (e *FieldError) Error() string {
	switch e.Rule {
	case "required":
		return fmt.Sprintf("%s is required", e.Field)
	case "max", "lte":
		return fmt.Sprintf("%s must be at most %s", e.Field, e.Param)
	case "min", "gte":
		return fmt.Sprintf("%s must be at least %s", e.Field, e.Param)
	case "oneof":
		return fmt.Sprintf("%s must be one of [%s]", e.Field, e.Param)
	}
	if e.Param != "" {
		return fmt.Sprintf("%s fails %s=%s", e.Field, e.Rule, e.Param)
	}
	return fmt.Sprintf("%s fails %s", e.Field, e.Rule)
}

// Struct validates s and returns nil or a *FieldError for the first failure.
func Struct(s any) error {
	err := v.Struct(s)
	if err == nil {
		return nil
	}
	var ves validator.ValidationErrors
	if errors.As(err, &ves) && len(ves) > 0 {
		fe := ves[0]
		ns := fe.Namespace()
		if i := strings.IndexByte(ns, '.'); i >= 0 {
			ns = ns[i+1:] // drop the struct type name
		}
		return &FieldError{Field: ns, Rule: fe.Tag(), Param: fe.Param()}
	}
	return &FieldError{Field: "", Rule: err.Error()}
}

// Var validates a single value against tag.
func Var(field string, val any, tag string) error {
	err := v.Var(val, tag)
	if err == nil {
		return nil
	}
	var ves validator.ValidationErrors
	if errors.As(err, &ves) && len(ves) > 0 {
		return &FieldError{Field: field, Rule: ves[0].Tag(), Param: ves[0].Param()}
	}
	return &FieldError{Field: field, Rule: err.Error()}
}
