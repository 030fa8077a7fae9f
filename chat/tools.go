package chat

import (
	"context"
	"slices"
	"time"

	"github.com/qunkit/qun"
)

// Group tools (C9): check-in, sign-up chains and polls. Any member may use
// them; whoever started a chain or poll, or an admin, may close it. Every
// change is an event in the group's room.

// CheckIn (签到) is one member's check-in on one day.
type CheckIn struct {
	User qun.UserID `json:"user"`
	Name string     `json:"name,omitempty"`
	Day  string     `json:"day"` // YYYY-MM-DD in Config.Location
	// Streak counts consecutive days ending with Day.
	Streak int   `json:"streak"`
	At     int64 `json:"at"`
	// N is the member's place among Day's check-ins (from 1).
	N int `json:"n"`
}

// CheckInsQuery is the input of Service.CheckIns (op chat.checkins).
type CheckInsQuery struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	// Day is YYYY-MM-DD; "" means today.
	Day   string `json:"day,omitempty" validate:"omitempty,datetime=2006-01-02"`
	Limit int    `json:"limit,omitempty" validate:"min=0,max=1000"`
}

// Attendance is one day's check-ins (考勤), in the order they happened.
type Attendance struct {
	Day      string     `json:"day"`
	Count    int        `json:"count"`
	Members  int        `json:"members"`
	CheckIns []*CheckIn `json:"checkins"`
}

// Chain (群接龙) is an ordered sign-up list.
type Chain struct {
	ID       string     `json:"id"`
	Group    qun.RoomID `json:"group"`
	Title    string     `json:"title"`
	By       qun.UserID `json:"by"`
	Limit    int        `json:"limit"`              // most entries
	Deadline int64      `json:"deadline,omitempty"` // unix ms; 0: none
	Closed   bool       `json:"closed,omitempty"`
	Count    int        `json:"count"`
	Created  int64      `json:"created"`
	// Next is the N the next entry gets (internal ordering).
	Next int `json:"-"`
}

// ChainEntry is one sign-up.
type ChainEntry struct {
	User qun.UserID `json:"user"`
	Name string     `json:"name,omitempty"`
	Note string     `json:"note,omitempty"`
	N    int        `json:"n"` // increasing in sign-up order
	At   int64      `json:"at"`
}

// ChainView is a chain with its entries.
type ChainView struct {
	Chain   *Chain        `json:"chain"`
	Entries []*ChainEntry `json:"entries"`
}

// CreateChain is the input of Service.CreateChain (op chat.chain.create).
type CreateChain struct {
	Group    qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Title    string     `json:"title" validate:"required,max=100"`
	Limit    int        `json:"limit,omitempty" validate:"min=0,max=1000"` // 0 means 100
	Deadline int64      `json:"deadline,omitempty" validate:"min=0"`
}

// ChainRef names a chain.
type ChainRef struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Chain string     `json:"chain" validate:"required,max=32,alphanum"`
}

// JoinChain is the input of Service.JoinChain (op chat.chain.join).
type JoinChain struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Chain string     `json:"chain" validate:"required,max=32,alphanum"`
	Note  string     `json:"note,omitempty" validate:"max=100"`
}

// Poll (投票) is a question with options.
type Poll struct {
	ID       string     `json:"id"`
	Group    qun.RoomID `json:"group"`
	Question string     `json:"question"`
	Options  []string   `json:"options"`
	// Multi allows up to MaxChoices options per vote.
	Multi      bool `json:"multi,omitempty"`
	MaxChoices int  `json:"max_choices"`
	// Anonymous polls never reveal who voted for what.
	Anonymous bool       `json:"anonymous,omitempty"`
	Deadline  int64      `json:"deadline,omitempty"`
	Closed    bool       `json:"closed,omitempty"`
	By        qun.UserID `json:"by"`
	Created   int64      `json:"created"`
	Counts    []int      `json:"counts"` // votes per option
	Voters    int        `json:"voters"`
}

// Vote is one user's ballot.
type Vote struct {
	User    qun.UserID `json:"user"`
	Choices []int      `json:"choices"`
	At      int64      `json:"at"`
}

// PollView is a poll with the caller's own vote.
type PollView struct {
	Poll *Poll `json:"poll"`
	Mine []int `json:"mine,omitempty"`
}

// CreatePoll is the input of Service.CreatePoll (op chat.poll.create).
type CreatePoll struct {
	Group      qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Question   string     `json:"question" validate:"required,max=200"`
	Options    []string   `json:"options" validate:"required,min=2,max=20,dive,required,max=100"`
	Multi      bool       `json:"multi,omitempty"`
	MaxChoices int        `json:"max_choices,omitempty" validate:"min=0,max=20"` // 0: all options (multi) or 1
	Anonymous  bool       `json:"anonymous,omitempty"`
	Deadline   int64      `json:"deadline,omitempty" validate:"min=0"`
}

// PollRef names a poll.
type PollRef struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Poll  string     `json:"poll" validate:"required,max=32,alphanum"`
}

// CastVote is the input of Service.Vote (op chat.poll.vote).
type CastVote struct {
	Group   qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Poll    string     `json:"poll" validate:"required,max=32,alphanum"`
	Choices []int      `json:"choices" validate:"required,min=1,max=20,dive,min=0,max=19"`
}

// VotesQuery is the input of Service.Votes (op chat.poll.votes).
type VotesQuery struct {
	Group qun.RoomID `json:"group" validate:"required,startswith=g:,max=40"`
	Poll  string     `json:"poll" validate:"required,max=32,alphanum"`
	After qun.UserID `json:"after,omitempty" validate:"max=64"`
	Limit int        `json:"limit,omitempty" validate:"min=0,max=500"`
}

// Limits of the group tools.
const (
	MaxOpenChains    = 20 // per group
	MaxOpenPolls     = 20 // per group
	MaxToolLifetime  = 90 * 24 * time.Hour
	DefaultChainSize = 100
)

func (s *Service) day(t time.Time) string { return t.In(s.cfg.Location).Format(time.DateOnly) }

// CheckIn checks the caller in for today, once a day; consecutive days
// make a streak.
func (s *Service) CheckIn(ctx context.Context, id *qun.Identity, in GroupRef) (*CheckIn, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	now := s.now()
	ci := &CheckIn{User: id.User, Name: id.Name, Day: s.day(now), Streak: 1, At: now.UnixMilli()}
	_, err := s.update(ctx, id, in.Group, anyone, func(tx Tx, a *access, c *change) (err error) {
		if a.m == nil {
			return forbidden("not a member of this group")
		}
		if _, err := tx.CheckIn(in.Group, id.User, ci.Day); err == nil {
			return qun.Errorf(qun.CodeConflict, "already checked in today")
		} else if !isNotFound(err) {
			return err
		}
		if prev, err := tx.CheckIn(in.Group, id.User, s.day(now.In(s.cfg.Location).AddDate(0, 0, -1))); err == nil {
			ci.Streak = prev.Streak + 1
		} else if !isNotFound(err) {
			return err
		}
		n, err := tx.CountCheckIns(in.Group, ci.Day)
		if err != nil {
			return err
		}
		ci.N = n + 1
		if err := tx.InsertCheckIn(in.Group, ci); err != nil {
			return err
		}
		a.m.LastActive = ci.At
		if err := tx.UpdateMember(in.Group, a.m); err != nil {
			return err
		}
		c.emit(EvCheckIn, ci)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ci, nil
}

// CheckIns returns one day's attendance (members).
func (s *Service) CheckIns(ctx context.Context, id *qun.Identity, in CheckInsQuery) (*Attendance, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	day := in.Day
	if day == "" {
		day = s.day(s.now())
	}
	out := &Attendance{Day: day}
	err := s.read(ctx, id, in.Group, RoleMember, func(tx Tx, a *access) (err error) {
		out.Members = a.g.MemberCount
		if out.Count, err = tx.CountCheckIns(in.Group, day); err != nil {
			return err
		}
		out.CheckIns, err = tx.CheckIns(in.Group, day, pageLimit(in.Limit, 200, 1000))
		return err
	})
	if err != nil {
		return nil, err
	}
	out.CheckIns = nonNil(out.CheckIns)
	return out, nil
}

// checkDeadline accepts 0 (none) or a time in the next MaxToolLifetime.
func (s *Service) checkDeadline(d int64) error {
	now := s.nowMS()
	if d != 0 && (d <= now || d > now+MaxToolLifetime.Milliseconds()) {
		return &qun.Error{Code: qun.CodeInvalid, Message: "deadline must be in the future, within 90 days", Field: "deadline"}
	}
	return nil
}

// CreateChain starts a sign-up chain (members).
func (s *Service) CreateChain(ctx context.Context, id *qun.Identity, in CreateChain) (*Chain, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	title, err := cleanLine("title", in.Title)
	if err != nil {
		return nil, err
	}
	if err := s.checkDeadline(in.Deadline); err != nil {
		return nil, err
	}
	ch := &Chain{ID: qun.NewID(), Group: in.Group, Title: title, By: id.User, Limit: in.Limit, Deadline: in.Deadline, Created: s.nowMS(), Next: 1}
	if ch.Limit == 0 {
		ch.Limit = DefaultChainSize
	}
	_, err = s.update(ctx, id, in.Group, RoleMember, func(tx Tx, _ *access, c *change) (err error) {
		n, err := tx.CountOpenChains(in.Group)
		if err != nil {
			return err
		}
		if n >= MaxOpenChains {
			return qun.Errorf(qun.CodeExhausted, "at most %d open chains per group; close one", MaxOpenChains)
		}
		if err := tx.InsertChain(ch); err != nil {
			return err
		}
		c.emit(EvChain, ch)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// openChain loads a chain that still takes entries.
func (s *Service) openChain(tx Tx, group qun.RoomID, chain string) (*Chain, error) {
	ch, err := tx.Chain(group, chain)
	if err != nil {
		return nil, err
	}
	if ch.Closed {
		return nil, qun.Errorf(qun.CodeConflict, "the chain is closed")
	}
	if ch.Deadline != 0 && s.nowMS() >= ch.Deadline {
		return nil, qun.Errorf(qun.CodeExpired, "the chain's deadline has passed")
	}
	return ch, nil
}

// JoinChain adds the caller to a chain, once.
func (s *Service) JoinChain(ctx context.Context, id *qun.Identity, in JoinChain) (*ChainEntry, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	e := &ChainEntry{User: id.User, Name: id.Name, Note: in.Note, At: s.nowMS()}
	if e.Note != "" {
		var err error
		if e.Note, err = cleanLine("note", in.Note); err != nil {
			return nil, err
		}
	}
	_, err := s.update(ctx, id, in.Group, RoleMember, func(tx Tx, _ *access, c *change) (err error) {
		ch, err := s.openChain(tx, in.Group, in.Chain)
		if err != nil {
			return err
		}
		if ch.Count >= ch.Limit {
			return qun.Errorf(qun.CodeExhausted, "the chain is full (%d)", ch.Limit)
		}
		e.N = ch.Next
		if err := tx.InsertEntry(ch.ID, e); err != nil {
			return err
		}
		ch.Next++
		ch.Count++
		if err := tx.UpdateChain(ch); err != nil {
			return err
		}
		c.emit(EvChainEntry, map[string]any{"chain": ch.ID, "entry": e, "count": ch.Count})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// LeaveChain takes the caller's entry off an open chain.
func (s *Service) LeaveChain(ctx context.Context, id *qun.Identity, in ChainRef) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, RoleMember, func(tx Tx, _ *access, c *change) (err error) {
		ch, err := s.openChain(tx, in.Group, in.Chain)
		if err != nil {
			return err
		}
		if err := tx.DeleteEntry(ch.ID, id.User); err != nil {
			return err
		}
		ch.Count--
		if err := tx.UpdateChain(ch); err != nil {
			return err
		}
		c.emit(EvChainEntry, map[string]any{"chain": ch.ID, "entry": &ChainEntry{User: id.User}, "removed": true, "count": ch.Count})
		return nil
	})
	return err
}

// CloseChain closes a chain (its creator or an admin).
func (s *Service) CloseChain(ctx context.Context, id *qun.Identity, in ChainRef) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, RoleMember, func(tx Tx, a *access, c *change) (err error) {
		ch, err := tx.Chain(in.Group, in.Chain)
		if err != nil {
			return err
		}
		if ch.By != id.User {
			if err := a.need(RoleAdmin); err != nil {
				return err
			}
		}
		if ch.Closed {
			return nil
		}
		ch.Closed = true
		if err := tx.UpdateChain(ch); err != nil {
			return err
		}
		c.emit(EvChain, ch)
		return nil
	})
	return err
}

// GetChain returns a chain and its entries in sign-up order (members).
func (s *Service) GetChain(ctx context.Context, id *qun.Identity, in ChainRef) (*ChainView, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	v := &ChainView{}
	err := s.read(ctx, id, in.Group, RoleMember, func(tx Tx, _ *access) (err error) {
		if v.Chain, err = tx.Chain(in.Group, in.Chain); err != nil {
			return err
		}
		v.Entries, err = tx.Entries(in.Chain, v.Chain.Limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	v.Entries = nonNil(v.Entries)
	return v, nil
}

// CreatePoll starts a poll (members).
func (s *Service) CreatePoll(ctx context.Context, id *qun.Identity, in CreatePoll) (*Poll, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	q, err := cleanLine("question", in.Question)
	if err != nil {
		return nil, err
	}
	opts := make([]string, len(in.Options))
	for i, o := range in.Options {
		if opts[i], err = cleanLine("options", o); err != nil {
			return nil, err
		}
		if slices.Contains(opts[:i], opts[i]) {
			return nil, &qun.Error{Code: qun.CodeInvalid, Message: "options must differ", Field: "options"}
		}
	}
	maxc := 1
	if in.Multi {
		maxc = len(opts)
		if in.MaxChoices > 0 {
			maxc = min(in.MaxChoices, len(opts))
		}
	} else if in.MaxChoices > 1 {
		return nil, &qun.Error{Code: qun.CodeInvalid, Message: "max_choices needs multi", Field: "max_choices"}
	}
	if err := s.checkDeadline(in.Deadline); err != nil {
		return nil, err
	}
	p := &Poll{ID: qun.NewID(), Group: in.Group, Question: q, Options: opts, Multi: in.Multi, MaxChoices: maxc,
		Anonymous: in.Anonymous, Deadline: in.Deadline, By: id.User, Created: s.nowMS(), Counts: make([]int, len(opts))}
	_, err = s.update(ctx, id, in.Group, RoleMember, func(tx Tx, _ *access, c *change) (err error) {
		n, err := tx.CountOpenPolls(in.Group)
		if err != nil {
			return err
		}
		if n >= MaxOpenPolls {
			return qun.Errorf(qun.CodeExhausted, "at most %d open polls per group; close one", MaxOpenPolls)
		}
		if err := tx.InsertPoll(p); err != nil {
			return err
		}
		c.emit(EvPoll, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Vote casts the caller's one vote in a poll.
func (s *Service) Vote(ctx context.Context, id *qun.Identity, in CastVote) (*Poll, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var p *Poll
	_, err := s.update(ctx, id, in.Group, RoleMember, func(tx Tx, _ *access, c *change) (err error) {
		if p, err = tx.Poll(in.Group, in.Poll); err != nil {
			return err
		}
		switch {
		case p.Closed:
			return qun.Errorf(qun.CodeConflict, "the poll is closed")
		case p.Deadline != 0 && s.nowMS() >= p.Deadline:
			return qun.Errorf(qun.CodeExpired, "the poll's deadline has passed")
		case len(in.Choices) > p.MaxChoices:
			return &qun.Error{Code: qun.CodeInvalid, Message: "too many choices", Field: "choices"}
		}
		choices := slices.Clone(in.Choices)
		slices.Sort(choices)
		if len(slices.Compact(slices.Clone(choices))) != len(choices) || choices[len(choices)-1] >= len(p.Options) {
			return &qun.Error{Code: qun.CodeInvalid, Message: "choices must be distinct option numbers", Field: "choices"}
		}
		if err := tx.InsertVote(p.ID, &Vote{User: id.User, Choices: choices, At: s.nowMS()}); err != nil {
			if qun.ErrorCode(err) == qun.CodeConflict {
				return qun.Errorf(qun.CodeConflict, "you have already voted")
			}
			return err
		}
		for _, ch := range choices {
			p.Counts[ch]++
		}
		p.Voters++
		if err := tx.UpdatePoll(p); err != nil {
			return err
		}
		d := map[string]any{"poll": p.ID, "counts": p.Counts, "voters": p.Voters}
		if !p.Anonymous {
			d["user"], d["choices"] = id.User, choices
		}
		c.emit(EvPollVoted, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ClosePoll closes a poll (its creator or an admin).
func (s *Service) ClosePoll(ctx context.Context, id *qun.Identity, in PollRef) error {
	if err := qun.Validate(&in); err != nil {
		return err
	}
	_, err := s.update(ctx, id, in.Group, RoleMember, func(tx Tx, a *access, c *change) (err error) {
		p, err := tx.Poll(in.Group, in.Poll)
		if err != nil {
			return err
		}
		if p.By != id.User {
			if err := a.need(RoleAdmin); err != nil {
				return err
			}
		}
		if p.Closed {
			return nil
		}
		p.Closed = true
		if err := tx.UpdatePoll(p); err != nil {
			return err
		}
		c.emit(EvPoll, p)
		return nil
	})
	return err
}

// GetPoll returns a poll's results and the caller's vote (members).
func (s *Service) GetPoll(ctx context.Context, id *qun.Identity, in PollRef) (*PollView, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	v := &PollView{}
	err := s.read(ctx, id, in.Group, RoleMember, func(tx Tx, _ *access) (err error) {
		if v.Poll, err = tx.Poll(in.Group, in.Poll); err != nil {
			return err
		}
		if mine, err := tx.Vote(in.Poll, id.User); err == nil {
			v.Mine = mine.Choices
		} else if !isNotFound(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Votes lists who voted for what in a poll that is not anonymous (members).
func (s *Service) Votes(ctx context.Context, id *qun.Identity, in VotesQuery) ([]*Vote, error) {
	if err := qun.Validate(&in); err != nil {
		return nil, err
	}
	var out []*Vote
	err := s.read(ctx, id, in.Group, RoleMember, func(tx Tx, _ *access) (err error) {
		p, err := tx.Poll(in.Group, in.Poll)
		if err != nil {
			return err
		}
		if p.Anonymous {
			return forbidden("the poll is anonymous")
		}
		out, err = tx.Votes(in.Poll, in.After, pageLimit(in.Limit, 200, 500))
		return err
	})
	return nonNil(out), err
}
