// Package sqljson stores Go values as JSON in text columns, for the SQL
// stores of several packages and backends (database/sql and pgx both take
// a string argument and a sql.Scanner destination).
package sqljson

import (
	"encoding/json"
	"fmt"
)

// Text encodes v for a text column. Values that cannot be encoded (never
// the case for the plain structs, slices and maps stores keep) become "null".
func Text(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// Into returns a scan destination that decodes a JSON text column into v
// (a pointer); NULL leaves v as it is.
func Into(v any) Col { return Col{v} }

// Col is the scan destination Into returns.
type Col struct{ v any }

// Scan implements sql.Scanner.
func (c Col) Scan(src any) error {
	switch s := src.(type) {
	case string:
		return json.Unmarshal([]byte(s), c.v)
	case []byte:
		return json.Unmarshal(s, c.v)
	case nil:
		return nil
	}
	return fmt.Errorf("sqljson: a JSON column holds %T", src)
}
