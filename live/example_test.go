package live_test

import (
	"context"
	"fmt"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live"
)

// A vendor wires live to its Hub; group roles come from chat (here a stand-in).
func Example() {
	tokens, _ := qun.NewTokens(qun.TokenConfig{Secret: []byte("0123456789abcdef0123456789abcdef")})
	hub, _ := qun.NewHub(qun.Config{Authenticator: tokens})
	defer hub.Close()
	hub.RegisterRooms("g", qun.RoomAccessFunc(func(context.Context, *qun.Identity, qun.RoomID) (qun.Role, error) {
		return qun.RoleMember, nil
	}))
	svc, err := live.New(live.Config{Hub: hub})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	host := &qun.Identity{Tenant: "t1", User: "teacher", Name: "Ms Li"}
	info, err := svc.Start(context.Background(), host, live.StartInput{Group: "g:class7", Mode: live.ModeSmall})
	if err != nil {
		panic(err)
	}
	fmt.Println(info.State, info.Group, info.Title, info.StageLimit)
	// Output: live g:class7 Ms Li's live 6
}
