package qun

import (
	"errors"

	"github.com/qunkit/qun/internal/validate"
)

// Validate checks s against its `validate` struct tags and returns nil or an
// *Error with CodeInvalid naming the first offending field. Every input struct
// of every qun package passes through it before anything is changed.
func Validate(s any) error {
	return fieldErr(validate.Struct(s))
}

// ValidateVar checks one value against a validator tag ("required,max=64").
func ValidateVar(field string, val any, tag string) error {
	return fieldErr(validate.Var(field, val, tag))
}

func fieldErr(err error) error {
	if err == nil {
		return nil
	}
	var fe *validate.FieldError
	if errors.As(err, &fe) {
		return &Error{Code: CodeInvalid, Message: fe.Error(), Field: fe.Field}
	}
	return &Error{Code: CodeInvalid, Message: err.Error()}
}
