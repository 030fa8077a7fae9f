package qun

import (
	"context"
	"fmt"
)

// Role is what a user is in a room, as the package that owns the room's kind
// says. Packages that attach to rooms they do not own (a whiteboard on a
// group or a live, a shop shelf in a live) ask the Hub for the role instead of
// importing the owner: whiteboards let RoleModerator and above present, for
// example.
type Role int

const (
	// RoleNone: not in the room. Rooms the user must not learn about answer
	// an *Error with CodeNotFound instead.
	RoleNone Role = iota
	// RoleViewer may subscribe and read (a live's audience, an open class).
	RoleViewer
	// RoleMember may also take part (a group member: post, react).
	RoleMember
	// RoleModerator runs the room with the owner (group admin, live co-host manager).
	RoleModerator
	// RoleOwner owns the room (group owner, live host).
	RoleOwner
)

var roleNames = [...]string{"none", "viewer", "member", "moderator", "owner"}

func (r Role) String() string {
	if r >= 0 && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// MarshalText encodes the role by name.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// RoomAccess answers what a user is in rooms of one kind. The package that
// owns the kind implements it (chat for "g", live for "live") and registers
// it with Hub.RegisterRooms. Implementations answer CodeNotFound for rooms
// that do not exist in id's tenant, and must never look outside it.
type RoomAccess interface {
	RoomRole(ctx context.Context, id *Identity, room RoomID) (Role, error)
}

// RoomAccessFunc adapts a function to RoomAccess.
type RoomAccessFunc func(ctx context.Context, id *Identity, room RoomID) (Role, error)

// RoomRole calls f.
func (f RoomAccessFunc) RoomRole(ctx context.Context, id *Identity, room RoomID) (Role, error) {
	return f(ctx, id, room)
}

// RegisterRooms registers the RoomAccess for rooms of kind (the part of a
// RoomID before ':'). It panics if kind is already registered.
func (h *Hub) RegisterRooms(kind string, a RoomAccess) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.access[kind]; dup {
		panic("qun: RegisterRooms: kind registered twice: " + kind)
	}
	h.access[kind] = a
}

// RoomRole returns id's role in room, asking the RoomAccess registered for
// the room's kind. Unknown kinds answer CodeNotFound.
func (h *Hub) RoomRole(ctx context.Context, id *Identity, room RoomID) (Role, error) {
	h.mu.RLock()
	a := h.access[room.Kind()]
	h.mu.RUnlock()
	if a == nil || id == nil {
		return RoleNone, Errorf(CodeNotFound, "no such room")
	}
	return a.RoomRole(ctx, id, room)
}

// RequireRole returns nil if id's role in room is at least min, and an
// *Error otherwise: the RoomAccess's own error (CodeNotFound for invisible
// rooms) or CodeForbidden.
func (h *Hub) RequireRole(ctx context.Context, id *Identity, room RoomID, min Role) error {
	role, err := h.RoomRole(ctx, id, room)
	if err != nil {
		return err
	}
	if role < min {
		return Errorf(CodeForbidden, "requires %s in %s", min, room)
	}
	return nil
}
