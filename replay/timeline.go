package replay

import (
	"bufio"
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// TimelineEvent is one room event on a replay's timeline: the event as the
// room log has it, and At, its offset in ms from the recording's start
// (the media time at which a player shows it).
type TimelineEvent struct {
	At    int64           `json:"at"`
	Room  qun.RoomID      `json:"room"`
	Seq   uint64          `json:"seq"`
	Type  string          `json:"type"`
	Actor qun.UserID      `json:"actor,omitempty"`
	TS    int64           `json:"ts"`
	Data  json.RawMessage `json:"d,omitempty"`
}

const timelinePage = 500

// maxTimelineRooms bounds the rooms one timeline reads.
const maxTimelineRooms = 32

// followBoards is the default Config.Follow: a whiteboard announced in a
// room ("wb.board", see package whiteboard) has its own room, whose
// operations belong on the timeline.
func followBoards(ev *qun.Event) []qun.RoomID {
	if ev.Type != "wb.board" {
		return nil
	}
	var d struct {
		Room    qun.RoomID `json:"room"`
		Deleted bool       `json:"deleted"`
	}
	if json.Unmarshal(ev.Data, &d) != nil || d.Room == "" || d.Deleted {
		return nil
	}
	return []qun.RoomID{d.Room}
}

// existingRooms finds the rooms announced in ref before the recording
// started (a board opened before the live), looking back at most
// followLookback events.
func (s *Service) existingRooms(ctx context.Context, ref qun.RoomRef) ([]qun.RoomID, error) {
	var out []qun.RoomID
	deleted := map[qun.RoomID]bool{}
	before := uint64(0)
	for read := 0; read < followLookback; {
		page, err := s.hub.Log().ReadBefore(ctx, ref, before, timelinePage)
		if err != nil {
			if qun.ErrorCode(err) == qun.CodeTooOld {
				break
			}
			return nil, err
		}
		for i := len(page) - 1; i >= 0; i-- { // newest first: a later deletion wins
			ev := page[i]
			if ev.Type == "wb.board" {
				var d struct {
					Room    qun.RoomID `json:"room"`
					Deleted bool       `json:"deleted"`
				}
				if json.Unmarshal(ev.Data, &d) == nil && d.Deleted {
					deleted[d.Room] = true
				}
			}
			for _, room := range s.cfg.Follow(ev) {
				if !deleted[room] {
					out = append(out, room)
				}
			}
		}
		read += len(page)
		if len(page) < timelinePage || page[0].Seq <= 1 {
			break
		}
		before = page[0].Seq
	}
	return out, nil
}

// followLookback bounds how far back Start looks for rooms to follow.
const followLookback = 5000

// writeTimeline reads the events of the replay's rooms from the log, from
// the recording's start to its end, and stores them as JSON lines sorted
// by At. Rooms that events point to (whiteboards created during the live)
// are read too, from their beginning: a board's whole history is what a
// player replays to show it at any time; events before the recording get
// At 0.
func (s *Service) writeTimeline(ctx context.Context, r *Replay) error {
	start, end := r.StartedAt.UnixMilli(), r.EndedAt.UnixMilli()
	var evs []TimelineEvent
	truncated := false
	queue := append([]RoomStart(nil), r.Rooms...)
	seen := map[qun.RoomID]bool{}
	for _, rs := range queue {
		seen[rs.Room] = true
	}
	for i := 0; i < len(queue) && !truncated; i++ {
		rs := queue[i]
		ref := qun.RoomRef{Tenant: r.Tenant, Room: rs.Room}
		after := rs.After
	room:
		for {
			page, err := s.hub.Log().Read(ctx, ref, after, timelinePage)
			if err != nil {
				if qun.ErrorCode(err) == qun.CodeTooOld {
					s.log.Warn("room log trimmed before the replay's timeline was written", zap.String("room", string(rs.Room)))
					break
				}
				return err
			}
			for _, ev := range page {
				after = ev.Seq
				if ev.TS > end {
					break room
				}
				for _, room := range s.cfg.Follow(ev) {
					if !seen[room] && len(queue) < maxTimelineRooms {
						seen[room] = true
						queue = append(queue, RoomStart{Room: room})
					}
				}
				if s.cfg.EventFilter != nil && !s.cfg.EventFilter(ev) {
					continue
				}
				if len(evs) >= s.cfg.MaxEvents {
					truncated = true
					break room
				}
				evs = append(evs, TimelineEvent{At: max(ev.TS-start, 0), Room: ev.Room, Seq: ev.Seq, Type: ev.Type, Actor: ev.Actor, TS: ev.TS, Data: ev.Data})
			}
			if len(page) < timelinePage {
				break
			}
		}
	}
	if truncated {
		s.log.Warn("timeline truncated", zap.String("replay", r.ID), zap.Int("events", len(evs)))
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At < evs[j].At })
	key := keyPrefix(r.Tenant, r.ID) + "timeline.jsonl"
	f, err := s.storage.Create(ctx, key)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(bw)
	for i := range evs {
		if err := enc.Encode(&evs[i]); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	r.TimelineKey, r.Events = key, len(evs)
	return nil
}

// TimelinePage is one window of a timeline.
type TimelinePage struct {
	Events []TimelineEvent `json:"events"`
	// Next, when set, is the cursor for the rest of the window: the window
	// held more events than the page's limit.
	Next *int `json:"next,omitempty"`
}

// TimelineQuery selects a window of a timeline: events with From ≤ At < To
// (ms; To 0 means the end), starting at Cursor (from a previous page's Next).
type TimelineQuery struct {
	From   int64 `json:"from" validate:"min=0"`
	To     int64 `json:"to" validate:"min=0"`
	Cursor int   `json:"cursor" validate:"min=0"`
	// Limit bounds the page; zero means 500, at most 2000.
	Limit int `json:"limit" validate:"min=0,max=2000"`
}

// timelineCache keeps decoded timelines, least recently used first out,
// within a byte budget.
type timelineCache struct {
	mu     sync.Mutex
	budget int64
	used   int64
	lru    *list.List // of *cachedTimeline, front = most recent
	byKey  map[activeKey]*list.Element
}

type cachedTimeline struct {
	key  activeKey
	evs  []TimelineEvent
	size int64
}

func newTimelineCache(budget int64) *timelineCache {
	return &timelineCache{budget: budget, lru: list.New(), byKey: map[activeKey]*list.Element{}}
}

func (c *timelineCache) get(k activeKey) []TimelineEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.byKey[k]; e != nil {
		c.lru.MoveToFront(e)
		return e.Value.(*cachedTimeline).evs
	}
	return nil
}

func (c *timelineCache) put(k activeKey, evs []TimelineEvent, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey[k] != nil || size > c.budget {
		return
	}
	c.byKey[k] = c.lru.PushFront(&cachedTimeline{key: k, evs: evs, size: size})
	c.used += size
	for c.used > c.budget {
		e := c.lru.Back()
		ct := e.Value.(*cachedTimeline)
		c.lru.Remove(e)
		delete(c.byKey, ct.key)
		c.used -= ct.size
	}
}

func (c *timelineCache) drop(tenant qun.TenantID, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := activeKey{tenant, id}
	if e := c.byKey[k]; e != nil {
		c.lru.Remove(e)
		delete(c.byKey, k)
		c.used -= e.Value.(*cachedTimeline).size
	}
}

// timeline returns r's decoded timeline.
func (s *Service) timeline(ctx context.Context, r *Replay) ([]TimelineEvent, error) {
	k := activeKey{r.Tenant, r.ID}
	if evs := s.cache.get(k); evs != nil {
		return evs, nil
	}
	if r.TimelineKey == "" {
		return []TimelineEvent{}, nil
	}
	obj, err := s.storage.Open(ctx, r.TimelineKey)
	if err != nil {
		return nil, fmt.Errorf("replay: open timeline: %w", err)
	}
	defer obj.Close()
	evs := make([]TimelineEvent, 0, r.Events)
	br := bufio.NewReaderSize(obj, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			var ev TimelineEvent
			if jerr := json.Unmarshal(line, &ev); jerr != nil {
				return nil, fmt.Errorf("replay: timeline line: %w", jerr)
			}
			evs = append(evs, ev)
		}
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
	}
	s.cache.put(k, evs, obj.Size())
	return evs, nil
}

// window returns the page of evs (sorted by At) that q selects.
func window(evs []TimelineEvent, q TimelineQuery) TimelinePage {
	limit := q.Limit
	if limit == 0 {
		limit = timelinePage
	}
	lo := sort.Search(len(evs), func(i int) bool { return evs[i].At >= q.From })
	hi := len(evs)
	if q.To > 0 {
		hi = sort.Search(len(evs), func(i int) bool { return evs[i].At >= q.To })
	}
	lo = max(lo, q.Cursor)
	page := TimelinePage{Events: []TimelineEvent{}}
	if lo >= hi {
		return page
	}
	if hi-lo > limit {
		next := lo + limit
		page.Next = &next
		hi = next
	}
	page.Events = evs[lo:hi]
	return page
}
