package main

import (
	"context"
	"embed"
	"io/fs"
	"net/http"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/chat"
	"github.com/qunkit/qun/examples/internal/demo"
	"github.com/qunkit/qun/live"
	"github.com/qunkit/qun/whiteboard"
	"go.uber.org/zap"
)

//go:embed web
var web embed.FS

// tenant is the one school this demo deployment serves.
const tenant qun.TenantID = "demo-school"

var users = []demo.User{
	{ID: "teacher", Name: "王老师 Ms. Wang", Role: "老师 Teacher", Grants: []string{qun.GrantCreateGroup}},
	{ID: "amy", Name: "学生小艾 Amy", Role: "学生 Student"},
	{ID: "bo", Name: "学生小波 Bo", Role: "学生 Student"},
	{ID: "chen", Name: "学生小陈 Chen", Role: "学生 Student"},
}

// The class every demo student is enrolled in (a group owned by the teacher).
const (
	className  = "Go 语言入门 · Intro to Go"
	classIntro = "每周三晚 8 点直播上课，课后可看回放 · Live every Wednesday 8pm, replays after class"
)

type config struct {
	DataDir string
	BaseURL string
	Network live.Network
	Logger  *zap.Logger
}

// app is the school's server: the shared qun stack (chat, live, replay),
// the whiteboard, live's Q&A reviewed by chat's keyword filter, and the pages.
type app struct {
	*demo.Stack
	wb      *whiteboard.Service
	handler http.Handler
}

func newApp(cfg config) (*app, error) {
	st, err := demo.OpenStack(demo.StackConfig{DataDir: cfg.DataDir, BaseURL: cfg.BaseURL, Tenant: tenant, Users: users,
		Network: cfg.Network, Logger: cfg.Logger, InvitePage: "/class.html",
		// Q&A is live's (live.qa.*); the school reviews it with chat's keyword filter.
		LiveReview: chatReview(chat.NewKeywordReviewer(chat.KeywordConfig{}))})
	if err != nil {
		return nil, err
	}
	a := &app{Stack: st}
	if err := a.wire(); err != nil {
		st.Shutdown(context.Background())
		return nil, err
	}
	return a, nil
}

func (a *app) wire() error {
	wbStore, err := whiteboard.NewSQLiteStore(a.DB)
	if err != nil {
		return err
	}
	// Boards hang off the class's live room: the teacher (its host)
	// presents; students watch and draw once granted.
	if a.wb, err = whiteboard.New(whiteboard.Config{Hub: a.Hub, Store: wbStore, Logger: a.Logger}); err != nil {
		return err
	}
	a.OnClose(a.wb.Close)
	if err := a.seed(context.Background()); err != nil {
		return err
	}
	pages, _ := fs.Sub(web, "web")
	a.Mux.Handle("/wb/", http.StripPrefix("/wb", a.wb.HTTPHandler()))
	a.Mux.Handle("/", http.FileServer(http.FS(pages)))
	a.handler = a.Mux
	return nil
}

func (a *app) identity(u qun.UserID) *qun.Identity {
	for _, d := range users {
		if d.ID == u {
			return &qun.Identity{Tenant: tenant, User: d.ID, Name: d.Name, Grants: d.Grants}
		}
	}
	return nil
}

// seed makes sure the class exists with every demo student in it. It runs
// at every start and changes nothing the second time.
func (a *app) seed(ctx context.Context) error {
	teacher := a.identity("teacher")
	mine, err := a.Chat.MyGroups(ctx, teacher, chat.Page{Limit: 100})
	if err != nil {
		return err
	}
	var group qun.RoomID
	for _, v := range mine {
		if v.Group.Name == className {
			group = v.Group.ID
		}
	}
	if group == "" {
		g, err := a.Chat.CreateGroup(ctx, teacher, chat.CreateGroup{Name: className, Intro: classIntro, Tags: []string{"课程"}})
		if err != nil {
			return err
		}
		group = g.ID
	}
	var students []qun.UserID
	for _, u := range users[1:] {
		students = append(students, u.ID)
	}
	if _, err := a.Chat.Invite(ctx, teacher, chat.Invite{Group: group, Users: students}); err != nil {
		return err
	}
	for _, u := range students {
		// An owner's invitation skips approval; accepting again is harmless.
		if _, err := a.Chat.AcceptInvitation(ctx, a.identity(u), chat.GroupRef{Group: group}); err != nil && qun.ErrorCode(err) != qun.CodeNotFound && qun.ErrorCode(err) != qun.CodeConflict {
			return err
		}
	}
	return nil
}
