package qun_test

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/sqlite"
)

// A vendor's server wires qun like this: the embedded SQLite backend, its
// own tokens, a Hub, the feature packages it wants, and one mount.
func Example() {
	dir, _ := os.MkdirTemp("", "qun-example")
	defer os.RemoveAll(dir)

	db, err := sqlite.Open(filepath.Join(dir, "qun.db")) // WAL, synchronous=FULL
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	roomLog, err := qun.NewSQLiteLogStore(db, qun.SQLiteLogStoreConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer roomLog.Close()
	tokens, err := qun.NewTokens(qun.TokenConfig{Secret: []byte("a 32-byte secret from the vendor!!")})
	if err != nil {
		log.Fatal(err)
	}
	hub, err := qun.NewHub(qun.Config{Authenticator: tokens, Log: roomLog})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	store, err := chat.NewSQLiteStore(db)
	if err != nil {
		log.Fatal(err)
	}
	groups, err := chat.New(chat.Config{Hub: hub, Store: store})
	if err != nil {
		log.Fatal(err)
	}
	defer groups.Close()

	mux := http.NewServeMux()
	mux.Handle("/qun/", hub) // WebSocket at /qun/ws, browser SDK at /qun/qun.js

	// The vendor's login hands each user a token for the browser.
	token, err := tokens.Issue(qun.Identity{Tenant: "merchant-1", User: "u42", Name: "安娜"}, time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(token) > 0, len(hub.Ops()) > 50)
	// Output: true true
}
