package qun

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// TenantID identifies one of the vendor's merchants. Every key qun stores is
// scoped by it; nothing crosses tenants.
type TenantID string

// UserID identifies an end user within a tenant.
type UserID string

// RoomID names a room within a tenant. By convention it is "<kind>:<id>",
// for example "g:8f3k2" for a group or "live:x1" for a live; the kind selects
// the RoomAuthorizer that decides who may subscribe.
type RoomID string

// Kind returns the part of the room id before the first ':' ("" if none).
func (r RoomID) Kind() string {
	k, _, ok := strings.Cut(string(r), ":")
	if !ok {
		return ""
	}
	return k
}

// RoomRef is the fully scoped name of a room: which tenant, which room.
type RoomRef struct {
	Tenant TenantID `json:"tenant" validate:"required,max=64"`
	Room   RoomID   `json:"room" validate:"required,max=128"`
}

func (r RoomRef) String() string { return string(r.Tenant) + "/" + string(r.Room) }

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a random, URL-safe identifier of 16 characters (80 bits).
func NewID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}
