package chat_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/sqlite"
)

// A vendor wires chat onto its Hub and drives it from its backend with
// the Go API; clients use the same features through the chat.* ops.
func Example() {
	dir, _ := os.MkdirTemp("", "chat-example")
	defer os.RemoveAll(dir)
	db, _ := sqlite.Open(filepath.Join(dir, "qun.db"))
	defer db.Close()
	roomLog, _ := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
	defer roomLog.Close()
	tokens, _ := qun.NewTokens(qun.TokenConfig{Secret: []byte("a secret of at least 32 bytes......")})
	hub, _ := qun.NewHub(qun.Config{Authenticator: tokens, Log: roomLog})
	defer hub.Close()
	store, _ := chat.NewSQLiteStore(db)
	groups, err := chat.New(chat.Config{Hub: hub, Store: store, InviteBaseURL: "https://vendor.example/join"})
	if err != nil {
		panic(err)
	}
	defer groups.Close()
	// The vendor mounts the Hub: mux.Handle("/ws", hub).

	ctx := context.Background()
	ann := &qun.Identity{Tenant: "shop-1", User: "ann", Name: "Ann", Grants: []string{qun.GrantCreateGroup}}
	bob := &qun.Identity{Tenant: "shop-1", User: "bob", Name: "Bob"}

	g, _ := groups.CreateGroup(ctx, ann, chat.CreateGroup{Name: "Tea lovers", Tags: []string{"tea"}})
	code, _ := groups.CreateCode(ctx, ann, chat.CreateCode{Group: g.ID, MaxUses: 10})
	joined, _ := groups.JoinByCode(ctx, bob, chat.JoinCode{Code: code.Code})
	fmt.Println(joined.Status, code.Link == chat.InviteLink("https://vendor.example/join", code.Code))

	_, err = groups.Send(ctx, bob, chat.Send{Group: g.ID, Content: chat.Content{Kind: chat.KindText, Text: "加我微信 wxid_tea123"}})
	fmt.Println(qun.ErrorCode(err))
	sent, _ := groups.Send(ctx, bob, chat.Send{Group: g.ID, Content: chat.Content{Kind: chat.KindText, Text: "Hello, tea lovers!"}})
	_ = groups.Recall(ctx, ann, chat.MessageRef{Group: g.ID, Seq: sent.Seq}) // the owner may recall any time

	page, _ := groups.History(ctx, ann, chat.History{Group: g.ID})
	for _, ev := range page.Events {
		fmt.Println(ev.Seq, ev.Type, ev.Actor, string(ev.D) == `{"kind":"text","name":"Bob","recalled":true}` || ev.Type != chat.EvMessage)
	}
	// Output:
	// joined true
	// rejected
	// 1 chat.group.created ann true
	// 2 chat.member.joined bob true
	// 3 chat.message bob true
	// 4 chat.recalled ann true
}
