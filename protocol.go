package qun

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ProtocolVersion is the version of the WebSocket protocol this Hub speaks.
// docs/protocol.md describes it.
const ProtocolVersion = 1

// inFrame is what a client sends: one JSON object per WebSocket message.
type inFrame struct {
	ID uint64          `json:"id"`
	Op string          `json:"op"`
	D  json.RawMessage `json:"d"`
}

// helloData is the first op's payload.
type helloData struct {
	V     int    `json:"v" validate:"required"`
	Token string `json:"token" validate:"required"`
}

type subData struct {
	Room RoomID `json:"room" validate:"required,max=128"`
	// After is the last seq the client has; nil means "only new events".
	After *uint64 `json:"after"`
}

type unsubData struct {
	Room RoomID `json:"room" validate:"required,max=128"`
}

// resOK encodes a successful reply.
func resOK(id uint64, result any) ([]byte, error) {
	var body []byte
	switch r := result.(type) {
	case nil:
		body = []byte("{}")
	case json.RawMessage:
		body = r
	default:
		b, err := json.Marshal(result)
		if err != nil {
			return nil, err
		}
		body = b
	}
	b := make([]byte, 0, 32+len(body))
	b = append(b, `{"t":"res","id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"ok":`...)
	b = append(b, body...)
	return append(b, '}'), nil
}

// resErr encodes a failed reply.
func resErr(id uint64, e *Error) []byte {
	b, _ := json.Marshal(struct {
		T   string `json:"t"`
		ID  uint64 `json:"id"`
		Err *Error `json:"err"`
	}{"res", id, e})
	return b
}

// subEndFrame tells a client a subscription ended and why.
func subEndFrame(room RoomID, e *Error) []byte {
	b, _ := json.Marshal(struct {
		T    string `json:"t"`
		Room RoomID `json:"room"`
		Err  *Error `json:"err"`
	}{"sub.end", room, e})
	return b
}

// byeFrame is sent before the server closes a connection on purpose.
func byeFrame(e *Error) []byte {
	b, _ := json.Marshal(struct {
		T   string `json:"t"`
		Err *Error `json:"err"`
	}{"bye", e})
	return b
}

// pushFrame is a message for one session only (e.g. WebRTC signalling).
func pushFrame(typ string, data any) ([]byte, error) {
	d, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		T    string          `json:"t"`
		Type string          `json:"type"`
		D    json.RawMessage `json:"d"`
	}{"push", typ, d})
}

// WriteError writes err as a JSON HTTP response with the status of its code,
// for the HTTP handlers of qun packages: {"err":{"code":..,"msg":..}}.
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Code.HTTPStatus())
	_ = json.NewEncoder(w).Encode(struct {
		Err *Error `json:"err"`
	}{e})
}
