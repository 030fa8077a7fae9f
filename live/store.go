package live

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/qunkit/qun"
)

// Store keeps lives and reminder subscriptions. Implementations scope every
// key by tenant and answer a *qun.Error with CodeNotFound for unknown lives
// (including another tenant's). The conformance suite is in livetest.
type Store interface {
	// Create stores a new live; CodeConflict if its id exists in the tenant.
	Create(ctx context.Context, r *Record) error
	// Get returns the live id of tenant.
	Get(ctx context.Context, tenant qun.TenantID, id string) (*Record, error)
	// Update replaces a live's mutable fields (relays, title, mode, stage
	// limit, state, times).
	Update(ctx context.Context, r *Record) error
	// ListByGroup returns the lives of group (home or relayed) in the given
	// states, newest first, at most limit.
	ListByGroup(ctx context.Context, tenant qun.TenantID, group qun.RoomID, states []State, limit int) ([]*Record, error)
	// SetReminder subscribes (on) or unsubscribes user to live's start.
	SetReminder(ctx context.Context, tenant qun.TenantID, id string, user qun.UserID, on bool) error
	// Reminders returns the subscribed users after the given one (in user
	// order), at most limit: a cursor for large audiences.
	Reminders(ctx context.Context, tenant qun.TenantID, id string, after qun.UserID, limit int) ([]qun.UserID, error)

	// AddQuestion stores q (Tenant and Live set) under the live's next
	// question ID, which it sets in q (1, 2, ...). CodeExhausted if q.User
	// already asked perUser questions in the live.
	AddQuestion(ctx context.Context, q *Question, perUser int) error
	// AnswerQuestion sets a question's Answer, AnsweredBy, Answerer and
	// AnsweredAt from a and returns the question; CodeNotFound if unknown.
	AnswerQuestion(ctx context.Context, tenant qun.TenantID, live string, id int64, a Question) (*Question, error)
	// FeatureQuestion sets whether a question is featured and returns it;
	// CodeNotFound if unknown.
	FeatureQuestion(ctx context.Context, tenant qun.TenantID, live string, id int64, on bool) (*Question, error)
	// Questions returns a live's questions with ID > q.After in ID order,
	// only the featured ones if q.FeaturedOnly, at most q.Limit.
	Questions(ctx context.Context, tenant qun.TenantID, live string, q QuestionQuery) ([]*Question, error)
}

// MemoryStore is a Store in memory.
type MemoryStore struct {
	mu        sync.Mutex
	lives     map[memKey]*Record
	reminders map[memKey]map[qun.UserID]bool
	questions map[memKey][]*Question // by ID - 1
}

type memKey struct {
	tenant qun.TenantID
	id     string
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{lives: map[memKey]*Record{}, reminders: map[memKey]map[qun.UserID]bool{}, questions: map[memKey][]*Question{}}
}

func errNoLive() error { return qun.Errorf(qun.CodeNotFound, "no such live") }

func (m *MemoryStore) Create(_ context.Context, r *Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{r.Tenant, r.ID}
	if m.lives[k] != nil {
		return qun.Errorf(qun.CodeConflict, "live %s exists", r.ID)
	}
	m.lives[k] = r.clone()
	return nil
}

func (m *MemoryStore) Get(_ context.Context, tenant qun.TenantID, id string) (*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.lives[memKey{tenant, id}]
	if r == nil {
		return nil, errNoLive()
	}
	return r.clone(), nil
}

func (m *MemoryStore) Update(_ context.Context, r *Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{r.Tenant, r.ID}
	old := m.lives[k]
	if old == nil {
		return errNoLive()
	}
	c := r.clone()
	c.Group, c.Host, c.CreatedAt = old.Group, old.Host, old.CreatedAt
	m.lives[k] = c
	return nil
}

func (m *MemoryStore) ListByGroup(_ context.Context, tenant qun.TenantID, group qun.RoomID, states []State, limit int) ([]*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Record
	for k, r := range m.lives {
		if k.tenant != tenant || !slices.Contains(states, r.State) {
			continue
		}
		if r.Group == group || slices.Contains(r.Relays, group) {
			out = append(out, r.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *MemoryStore) SetReminder(_ context.Context, tenant qun.TenantID, id string, user qun.UserID, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{tenant, id}
	if m.lives[k] == nil {
		return errNoLive()
	}
	if on {
		if m.reminders[k] == nil {
			m.reminders[k] = map[qun.UserID]bool{}
		}
		m.reminders[k][user] = true
	} else {
		delete(m.reminders[k], user)
	}
	return nil
}

func (m *MemoryStore) Reminders(_ context.Context, tenant qun.TenantID, id string, after qun.UserID, limit int) ([]qun.UserID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{tenant, id}
	if m.lives[k] == nil {
		return nil, errNoLive()
	}
	var out []qun.UserID
	for u := range m.reminders[k] {
		if u > after {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func errNoQuestion() error {
	return &qun.Error{Code: qun.CodeNotFound, Message: "no such question", Field: "id"}
}

func errTooManyQuestions(n int) error {
	return qun.Errorf(qun.CodeExhausted, "at most %d questions per live", n)
}

func (m *MemoryStore) AddQuestion(_ context.Context, q *Question, perUser int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{q.Tenant, q.Live}
	mine := 0
	for _, o := range m.questions[k] {
		if o.User == q.User {
			mine++
		}
	}
	if mine >= perUser {
		return errTooManyQuestions(perUser)
	}
	q.ID = int64(len(m.questions[k]) + 1)
	c := *q
	m.questions[k] = append(m.questions[k], &c)
	return nil
}

// question returns the stored question or nil; m.mu is held.
func (m *MemoryStore) question(tenant qun.TenantID, live string, id int64) *Question {
	qs := m.questions[memKey{tenant, live}]
	if id < 1 || id > int64(len(qs)) {
		return nil
	}
	return qs[id-1]
}

func (m *MemoryStore) AnswerQuestion(_ context.Context, tenant qun.TenantID, live string, id int64, a Question) (*Question, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.question(tenant, live, id)
	if q == nil {
		return nil, errNoQuestion()
	}
	q.Answer, q.AnsweredBy, q.Answerer, q.AnsweredAt = a.Answer, a.AnsweredBy, a.Answerer, a.AnsweredAt
	c := *q
	return &c, nil
}

func (m *MemoryStore) FeatureQuestion(_ context.Context, tenant qun.TenantID, live string, id int64, on bool) (*Question, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.question(tenant, live, id)
	if q == nil {
		return nil, errNoQuestion()
	}
	q.Featured = on
	c := *q
	return &c, nil
}

func (m *MemoryStore) Questions(_ context.Context, tenant qun.TenantID, live string, qq QuestionQuery) ([]*Question, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Question
	for _, q := range m.questions[memKey{tenant, live}] {
		if len(out) >= qq.Limit {
			break
		}
		if q.ID > qq.After && (!qq.FeaturedOnly || q.Featured) {
			c := *q
			out = append(out, &c)
		}
	}
	return out, nil
}
