package logtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qunkit/qun"
)

// Option declares what an implementation promises beyond the common
// contract, enabling the subtests that check it.
type Option func(*config)

type config struct {
	backing     func(t *testing.T) func(t *testing.T) qun.LogStore
	multiWriter bool
	trimAt      int
	trimOpen    func(t *testing.T) qun.LogStore
}

// Reopen declares the store durable. backing prepares one empty place to
// keep a log (a database file, a schema) and returns a function that opens a
// new store on it; the suite closes a store, opens another on the same
// backing and expects every acknowledged event, with the sequence continuing
// where it stopped.
func Reopen(backing func(t *testing.T) func(t *testing.T) qun.LogStore) Option {
	return func(c *config) { c.backing = backing }
}

// MultiWriter declares that several stores opened on one Reopen backing may
// append to the same rooms at once, as the nodes of a deployment do: the
// suite appends through two stores concurrently and expects one gapless
// order. It requires Reopen.
func MultiWriter() Option { return func(c *config) { c.multiWriter = true } }

// Trimming declares that stores returned by open keep at most n events of
// each room, the most recent ones, answering CodeTooOld for older ones.
func Trimming(n int, open func(t *testing.T) qun.LogStore) Option {
	return func(c *config) { c.trimAt, c.trimOpen = n, open }
}

// Run runs the LogStore conformance suite. open returns a new, empty store
// for each subtest; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) qun.LogStore, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	s := &logSuite{c: c, open: func(t *testing.T) qun.LogStore {
		st := open(t)
		t.Cleanup(func() { _ = st.Close() })
		return st
	}}
	t.Run("Empty", s.empty)
	t.Run("Sequence", s.sequence)
	t.Run("EventFields", s.eventFields)
	t.Run("RoomsAndTenants", s.roomsAndTenants)
	t.Run("Read", s.read)
	t.Run("ReadBefore", s.readBefore)
	t.Run("AtomicBatches", s.atomicBatches)
	t.Run("CancelledAppends", s.cancelledAppends)
	t.Run("ConcurrentOneRoom", s.concurrentOneRoom)
	t.Run("ConcurrentManyRooms", s.concurrentManyRooms)
	t.Run("Redact", s.redact)
	t.Run("Close", s.close)
	t.Run("CloseWhileAppending", s.closeWhileAppending)
	if c.backing != nil {
		t.Run("Durable", s.durable)
	}
	if c.multiWriter {
		if c.backing == nil {
			t.Fatal("logtest: MultiWriter requires Reopen")
		}
		t.Run("MultiWriter", s.multiWriterTest)
	}
	if c.trimOpen != nil {
		t.Run("TooOld", s.tooOld)
	}
}

type logSuite struct {
	c    config
	open func(t *testing.T) qun.LogStore
}

// ctx returns a context for one subtest's calls; generous, because a store
// on a busy CI machine may be slow, but bounded so that a hang fails.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// Ref returns a room reference in a tenant unique to this run, so that
// suites sharing a server never meet.
func Ref(room string) qun.RoomRef {
	return qun.RoomRef{Tenant: qun.TenantID("lt-" + qun.NewID()), Room: qun.RoomID(room)}
}

// mark returns an event whose data is the JSON string m, so that it can be
// found in the log again.
func mark(ref qun.RoomRef, m string) *qun.Event {
	d, _ := json.Marshal(m)
	return &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Type: "lt.ev", Actor: "u1", TS: 1_763_766_000_000, Data: d}
}

func marks(ref qun.RoomRef, prefix string, n int) []*qun.Event {
	evs := make([]*qun.Event, n)
	for i := range evs {
		evs[i] = mark(ref, fmt.Sprintf("%s%d", prefix, i))
	}
	return evs
}

func markOf(t *testing.T, ev *qun.Event) string {
	t.Helper()
	var m string
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatalf("event %d: data %q is not a marker: %v", ev.Seq, ev.Data, err)
	}
	return m
}

func appendOK(t *testing.T, st qun.LogStore, ref qun.RoomRef, evs ...*qun.Event) {
	t.Helper()
	if err := st.Append(ctx(t), ref, evs...); err != nil {
		t.Fatalf("Append %s: %v", ref, err)
	}
}

func last(t *testing.T, st qun.LogStore, ref qun.RoomRef) uint64 {
	t.Helper()
	n, err := st.Last(ctx(t), ref)
	if err != nil {
		t.Fatalf("Last %s: %v", ref, err)
	}
	return n
}

func read(t *testing.T, st qun.LogStore, ref qun.RoomRef, after uint64, limit int) []*qun.Event {
	t.Helper()
	evs, err := st.Read(ctx(t), ref, after, limit)
	if err != nil {
		t.Fatalf("Read %s after %d limit %d: %v", ref, after, limit, err)
	}
	return evs
}

func readBefore(t *testing.T, st qun.LogStore, ref qun.RoomRef, before uint64, limit int) []*qun.Event {
	t.Helper()
	evs, err := st.ReadBefore(ctx(t), ref, before, limit)
	if err != nil {
		t.Fatalf("ReadBefore %s before %d limit %d: %v", ref, before, limit, err)
	}
	return evs
}

// readAll reads ref's whole log in pages, checking that it is gapless from 1.
func readAll(t *testing.T, st qun.LogStore, ref qun.RoomRef) []*qun.Event {
	t.Helper()
	var all []*qun.Event
	for {
		evs := read(t, st, ref, uint64(len(all)), 100)
		if len(evs) == 0 {
			return all
		}
		wantSeqs(t, evs, uint64(len(all))+1, uint64(len(all)+len(evs)))
		all = append(all, evs...)
	}
}

// wantSeqs checks that evs hold exactly seqs from..to, in order.
func wantSeqs(t *testing.T, evs []*qun.Event, from, to uint64) {
	t.Helper()
	var got []uint64
	for _, ev := range evs {
		got = append(got, ev.Seq)
	}
	var want []uint64
	for s := from; s <= to && to != 0; s++ {
		want = append(want, s)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("seqs %v, want %v", got, want)
	}
}

// sameEvent checks that got (read back) carries want's fields.
func sameEvent(t *testing.T, got, want *qun.Event) {
	t.Helper()
	if got.Tenant != want.Tenant || got.Room != want.Room || got.Seq != want.Seq || got.Type != want.Type ||
		got.Actor != want.Actor || got.TS != want.TS || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("read back\n  %s/%s #%d %q %q %d %q\nwant\n  %s/%s #%d %q %q %d %q",
			got.Tenant, got.Room, got.Seq, got.Type, got.Actor, got.TS, got.Data,
			want.Tenant, want.Room, want.Seq, want.Type, want.Actor, want.TS, want.Data)
	}
	if !bytes.Equal(got.Frame(), want.Frame()) {
		t.Fatalf("frame %s, want %s", got.Frame(), want.Frame())
	}
}

func (s *logSuite) empty(t *testing.T) {
	st := s.open(t)
	ref := Ref("g:empty")
	if n := last(t, st, ref); n != 0 {
		t.Fatalf("Last of an empty room = %d", n)
	}
	if evs := read(t, st, ref, 0, 10); len(evs) != 0 {
		t.Fatalf("Read of an empty room = %d events", len(evs))
	}
	if evs := readBefore(t, st, ref, 0, 10); len(evs) != 0 {
		t.Fatalf("ReadBefore of an empty room = %d events", len(evs))
	}
	appendOK(t, st, ref) // no events: a no-op
	if n := last(t, st, ref); n != 0 {
		t.Fatalf("Last after appending nothing = %d", n)
	}
}

func (s *logSuite) sequence(t *testing.T) {
	st := s.open(t)
	ref := Ref("g:seq")
	one := mark(ref, "a")
	appendOK(t, st, ref, one)
	if one.Seq != 1 || one.Tenant != ref.Tenant || one.Room != ref.Room {
		t.Fatalf("first event: %s/%s #%d, want %s #1", one.Tenant, one.Room, one.Seq, ref)
	}
	three := marks(ref, "b", 3)
	appendOK(t, st, ref, three...)
	wantSeqs(t, three, 2, 4)
	if n := last(t, st, ref); n != 4 {
		t.Fatalf("Last = %d, want 4", n)
	}
	got := read(t, st, ref, 0, 100)
	wantSeqs(t, got, 1, 4)
	for i, want := range append([]*qun.Event{one}, three...) {
		sameEvent(t, got[i], want)
	}
}

func (s *logSuite) eventFields(t *testing.T) {
	st := s.open(t)
	ref := Ref("g:fields")
	big := `"` + strings.Repeat("界x", 16<<10) + `"`
	evs := []*qun.Event{
		{Type: "chat.message", Actor: "u-1", TS: 1_763_766_000_123, Data: json.RawMessage(`{"text":"你好 \u2028 \"q\"","n":[1,2.5,null]}`)},
		{Type: "live.like", TS: 1, Data: nil},                             // no actor, no data
		{Type: "x", Actor: "a:b/c d", TS: 0, Data: json.RawMessage(`{}`)}, // empty object kept as is
		{Type: "big", Actor: "u", TS: 42, Data: json.RawMessage(big)},
		{Type: "spaced", Actor: "u", TS: 7, Data: json.RawMessage(`{ "a" :  1 }`)}, // bytes kept exactly, not re-encoded
	}
	for _, ev := range evs {
		ev.Tenant, ev.Room = ref.Tenant, ref.Room
	}
	appendOK(t, st, ref, evs...)
	got := read(t, st, ref, 0, 100)
	wantSeqs(t, got, 1, uint64(len(evs)))
	for i := range evs {
		sameEvent(t, got[i], evs[i])
	}
	if len(got[1].Data) != 0 {
		t.Fatalf("event without data read back with data %q", got[1].Data)
	}
}

func (s *logSuite) roomsAndTenants(t *testing.T) {
	st := s.open(t)
	a := Ref("g:1")
	b := qun.RoomRef{Tenant: qun.TenantID("lt-" + qun.NewID()), Room: a.Room} // same room id, another tenant
	a2 := qun.RoomRef{Tenant: a.Tenant, Room: "g:2"}
	// Ids that a careless key encoding would confuse with each other.
	odd := []qun.RoomRef{
		{Tenant: a.Tenant + ".x", Room: "y"},
		{Tenant: a.Tenant, Room: "x.y"},
		{Tenant: a.Tenant, Room: "g:*"},
		{Tenant: a.Tenant, Room: "g:>"},
		{Tenant: a.Tenant, Room: "g:ü 空 %/'\"\\"},
		{Tenant: a.Tenant, Room: qun.RoomID("g:" + strings.Repeat("r", 126))},
		{Tenant: a.Tenant, Room: "x/y"},
		{Tenant: a.Tenant + "/x", Room: "y"}, // the same String() as the previous one
	}
	counts := map[qun.RoomRef]int{a: 3, b: 2, a2: 1}
	for i, ref := range odd {
		counts[ref] = i + 1
	}
	for ref, n := range counts {
		appendOK(t, st, ref, marks(ref, ref.String()+"#", n)...)
	}
	for ref, n := range counts {
		if got := last(t, st, ref); got != uint64(n) {
			t.Fatalf("Last %q/%q = %d, want %d", ref.Tenant, ref.Room, got, n)
		}
		evs := read(t, st, ref, 0, 100)
		wantSeqs(t, evs, 1, uint64(n))
		for i, ev := range evs {
			if m := markOf(t, ev); m != fmt.Sprintf("%s#%d", ref.String(), i) || ev.Tenant != ref.Tenant || ev.Room != ref.Room {
				t.Fatalf("room %q/%q holds %q of %q/%q", ref.Tenant, ref.Room, m, ev.Tenant, ev.Room)
			}
		}
		if evs := readBefore(t, st, ref, 0, 100); len(evs) != n {
			t.Fatalf("ReadBefore %q/%q = %d events, want %d", ref.Tenant, ref.Room, len(evs), n)
		}
	}
}

func (s *logSuite) read(t *testing.T) {
	st := s.open(t)
	ref := Ref("g:page")
	appendOK(t, st, ref, marks(ref, "p", 25)...)
	wantSeqs(t, read(t, st, ref, 0, 10), 1, 10)
	wantSeqs(t, read(t, st, ref, 10, 10), 11, 20)
	wantSeqs(t, read(t, st, ref, 20, 10), 21, 25)
	wantSeqs(t, read(t, st, ref, 24, 1), 25, 25)
	wantSeqs(t, read(t, st, ref, 3, 1000), 4, 25)
	for _, after := range []uint64{25, 26, 1 << 40} {
		if evs := read(t, st, ref, after, 10); len(evs) != 0 {
			t.Fatalf("Read after %d (head 25) = %d events", after, len(evs))
		}
	}
	for _, limit := range []int{0, -1} {
		if evs := read(t, st, ref, 0, limit); len(evs) != 0 {
			t.Fatalf("Read limit %d = %d events", limit, len(evs))
		}
	}
	evs := read(t, st, ref, 12, 1)
	if m := markOf(t, evs[0]); m != "p12" {
		t.Fatalf("seq 13 holds %q, want p12", m)
	}
}

func (s *logSuite) readBefore(t *testing.T) {
	st := s.open(t)
	ref := Ref("g:back")
	appendOK(t, st, ref, marks(ref, "p", 25)...)
	wantSeqs(t, readBefore(t, st, ref, 0, 10), 16, 25)
	wantSeqs(t, readBefore(t, st, ref, 16, 10), 6, 15)
	wantSeqs(t, readBefore(t, st, ref, 6, 10), 1, 5)
	wantSeqs(t, readBefore(t, st, ref, 2, 10), 1, 1)
	wantSeqs(t, readBefore(t, st, ref, 26, 3), 23, 25)
	wantSeqs(t, readBefore(t, st, ref, 1<<40, 3), 23, 25)
	wantSeqs(t, readBefore(t, st, ref, 0, 1000), 1, 25)
	if evs := readBefore(t, st, ref, 1, 10); len(evs) != 0 {
		t.Fatalf("ReadBefore 1 = %d events", len(evs))
	}
	for _, limit := range []int{0, -1} {
		if evs := readBefore(t, st, ref, 0, limit); len(evs) != 0 {
			t.Fatalf("ReadBefore limit %d = %d events", limit, len(evs))
		}
	}
	// Paging backwards from the end visits every event once.
	var seen []*qun.Event
	for before := uint64(0); ; {
		evs := readBefore(t, st, ref, before, 7)
		if len(evs) == 0 {
			break
		}
		seen = append(evs, seen...)
		before = evs[0].Seq
	}
	wantSeqs(t, seen, 1, 25)
}

// atomicBatches appends multi-event batches from several goroutines: each
// batch must get consecutive seqs, never interleaved with another's.
func (s *logSuite) atomicBatches(t *testing.T) {
	c := ctx(t)
	st := s.open(t)
	ref := Ref("g:batches")
	const workers, batches = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	total := 0
	sizes := make([][]int, workers)
	for w := range workers {
		for i := range batches {
			sizes[w] = append(sizes[w], 1+(w+i)%5)
			total += sizes[w][i]
		}
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, n := range sizes[w] {
				evs := marks(ref, fmt.Sprintf("w%d-b%d-", w, i), n)
				if err := st.Append(c, ref, evs...); err != nil {
					errs <- err
					return
				}
				for j := 1; j < n; j++ {
					if evs[j].Seq != evs[0].Seq+uint64(j) {
						errs <- fmt.Errorf("batch w%d-b%d got seqs %d then %d", w, i, evs[0].Seq, evs[j].Seq)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := readAll(t, st, ref)
	if len(all) != total {
		t.Fatalf("log holds %d events, want %d", len(all), total)
	}
	// Read back, each batch is contiguous and in order.
	for i := 0; i < len(all); {
		m := markOf(t, all[i])
		prefix := m[:strings.LastIndexByte(m, '-')+1]
		var w, b int
		fmt.Sscanf(prefix, "w%d-b%d-", &w, &b)
		for j := range sizes[w][b] {
			if got := markOf(t, all[i+j]); got != fmt.Sprintf("%s%d", prefix, j) {
				t.Fatalf("seq %d holds %q inside batch %s", all[i+j].Seq, got, prefix)
			}
		}
		i += sizes[w][b]
	}
}

// cancelledAppends appends under contexts that end at random moments: each
// append either succeeds with all its events or fails with none of them.
func (s *logSuite) cancelledAppends(t *testing.T) {
	st := s.open(t)
	ref := Ref("g:cancel")
	ok := map[string]bool{}
	failed := 0
	for i := range 60 {
		var c context.Context
		var cancel context.CancelFunc
		switch i % 3 {
		case 0:
			c, cancel = context.WithCancel(context.Background())
			cancel() // already over
		default:
			c, cancel = context.WithTimeout(context.Background(), time.Duration(rand.IntN(2000))*time.Microsecond)
		}
		evs := marks(ref, fmt.Sprintf("a%d-", i), 3)
		err := st.Append(c, ref, evs...)
		cancel()
		if err == nil {
			ok[fmt.Sprint(i)] = true
		} else {
			failed++
		}
	}
	all := readAll(t, st, ref)
	seen := map[string]int{}
	for _, ev := range all {
		m := markOf(t, ev)
		seen[m[1:strings.IndexByte(m, '-')]]++
	}
	for i := range 60 {
		k := fmt.Sprint(i)
		switch n := seen[k]; {
		case ok[k] && n != 3:
			t.Fatalf("append %d succeeded but the log holds %d of its 3 events", i, n)
		case !ok[k] && n != 0:
			t.Fatalf("append %d failed but the log holds %d of its 3 events", i, n)
		}
	}
	t.Logf("%d of 60 appends failed under their context", failed)
}

// concurrentOneRoom appends from many goroutines to one room while others
// read: the log ends gapless with every event once, each writer's events in
// its order, and no reader ever sees a gap.
func (s *logSuite) concurrentOneRoom(t *testing.T) {
	c := ctx(t)
	st := s.open(t)
	ref := Ref("g:busy")
	const writers, each = 16, 40
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readErr := make(chan error, 2)
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				head, err := st.Last(c, ref)
				if err != nil {
					readErr <- err
					return
				}
				after := uint64(rand.IntN(int(head) + 1))
				evs, err := st.Read(c, ref, after, 50)
				if err != nil {
					readErr <- err
					return
				}
				for i, ev := range evs {
					if ev.Seq != after+uint64(i)+1 {
						readErr <- fmt.Errorf("Read after %d saw seq %d at position %d: a gap", after, ev.Seq, i)
						return
					}
				}
				if head > 0 && len(evs) == 0 && after < head {
					readErr <- fmt.Errorf("Read after %d saw nothing though Last was %d", after, head)
					return
				}
			}
		}()
	}
	appendConcurrently(t, c, []qun.RoomRef{ref}, writers, each, func(int, int) qun.LogStore { return st })
	close(stop)
	readers.Wait()
	close(readErr)
	for err := range readErr {
		t.Fatal(err)
	}
	checkWriters(t, readAll(t, st, ref), writers, each)
	if n := last(t, st, ref); n != writers*each {
		t.Fatalf("Last = %d, want %d", n, writers*each)
	}
}

// appendConcurrently runs `writers` goroutines per room, each appending
// `each` events marked "w<w>-<i>" one by one, through store(w, i), and
// fails the test on any error.
func appendConcurrently(t *testing.T, c context.Context, refs []qun.RoomRef, writers, each int, store func(w, i int) qun.LogStore) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(refs)*writers)
	for _, ref := range refs {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if err := store(w, i).Append(c, ref, mark(ref, fmt.Sprintf("w%d-%d", w, i))); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// checkWriters checks that all holds every "w<w>-<i>" marker once, each
// writer's in increasing i.
func checkWriters(t *testing.T, all []*qun.Event, writers, each int) {
	t.Helper()
	if len(all) != writers*each {
		t.Fatalf("log holds %d events, want %d", len(all), writers*each)
	}
	next := make([]int, writers)
	for _, ev := range all {
		var w, i int
		if _, err := fmt.Sscanf(markOf(t, ev), "w%d-%d", &w, &i); err != nil || w >= writers {
			t.Fatalf("seq %d: unexpected marker %q", ev.Seq, markOf(t, ev))
		}
		if i != next[w] {
			t.Fatalf("seq %d holds w%d-%d, want w%d-%d (lost, doubled or reordered)", ev.Seq, w, i, w, next[w])
		}
		next[w]++
	}
}

func (s *logSuite) concurrentManyRooms(t *testing.T) {
	c := ctx(t)
	st := s.open(t)
	const rooms, writers, each = 8, 4, 25
	refs := make([]qun.RoomRef, rooms)
	for r := range refs {
		refs[r] = Ref(fmt.Sprintf("g:%d", r))
	}
	appendConcurrently(t, c, refs, writers, each, func(int, int) qun.LogStore { return st })
	for _, ref := range refs {
		checkWriters(t, readAll(t, st, ref), writers, each)
	}
}

// redact replaces one event's data in place: same seq, type, actor and
// time; events handed out before are not mutated (their frames are shared);
// only the caller's tenant and room are touched.
func (s *logSuite) redact(t *testing.T) {
	st := s.open(t)
	ref := Ref("g:redact")
	twin := qun.RoomRef{Tenant: qun.TenantID("lt-" + qun.NewID()), Room: ref.Room}
	evs := marks(ref, "secret", 3)
	appendOK(t, st, ref, evs...)
	appendOK(t, st, twin, marks(twin, "twin", 3)...)
	frame := string(evs[1].Frame())
	if err := st.Redact(ctx(t), ref, 2, []byte(`{"recalled":true}`)); err != nil {
		t.Fatalf("Redact: %v", err)
	}
	got := read(t, st, ref, 0, 10)
	wantSeqs(t, got, 1, 3)
	want := &qun.Event{Tenant: ref.Tenant, Room: ref.Room, Seq: 2, Type: evs[1].Type, Actor: evs[1].Actor, TS: evs[1].TS, Data: []byte(`{"recalled":true}`)}
	sameEvent(t, got[1], want)
	sameEvent(t, readBefore(t, st, ref, 3, 1)[0], want)
	for _, i := range []int{0, 2} {
		sameEvent(t, got[i], evs[i])
	}
	if string(evs[1].Frame()) != frame {
		t.Fatal("Redact mutated an event handed out before")
	}
	if m := markOf(t, read(t, st, twin, 1, 1)[0]); m != "twin1" {
		t.Fatalf("Redact in one tenant changed another's event to %q", m)
	}
	// Redacting to nothing leaves an event without data.
	if err := st.Redact(ctx(t), ref, 3, nil); err != nil {
		t.Fatalf("Redact to nil: %v", err)
	}
	if d := read(t, st, ref, 2, 1)[0].Data; len(d) != 0 {
		t.Fatalf("redacted to nil, read back %q", d)
	}
	for _, bad := range []struct {
		ref qun.RoomRef
		seq uint64
	}{{ref, 0}, {ref, 4}, {ref, 1 << 63}, {Ref("g:redact"), 1}, {qun.RoomRef{Tenant: ref.Tenant, Room: "g:other"}, 1}} {
		if err := st.Redact(ctx(t), bad.ref, bad.seq, []byte(`{}`)); qun.ErrorCode(err) != qun.CodeNotFound {
			t.Fatalf("Redact %s #%d = %v, want %s", bad.ref, bad.seq, err, qun.CodeNotFound)
		}
	}
	if n := last(t, st, ref); n != 3 {
		t.Fatalf("Last after redactions = %d, want 3", n)
	}
}

func (s *logSuite) close(t *testing.T) {
	st := s.open(t)
	ref := Ref("g:close")
	appendOK(t, st, ref, mark(ref, "x"))
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := st.Append(ctx(t), ref, mark(ref, "late")); !errors.Is(err, qun.ErrClosed) {
		t.Fatalf("Append after Close = %v, want qun.ErrClosed", err)
	}
	if _, err := st.Read(ctx(t), ref, 0, 10); !errors.Is(err, qun.ErrClosed) {
		t.Fatalf("Read after Close = %v, want qun.ErrClosed", err)
	}
	if _, err := st.ReadBefore(ctx(t), ref, 0, 10); !errors.Is(err, qun.ErrClosed) {
		t.Fatalf("ReadBefore after Close = %v, want qun.ErrClosed", err)
	}
	if _, err := st.Last(ctx(t), ref); !errors.Is(err, qun.ErrClosed) {
		t.Fatalf("Last after Close = %v, want qun.ErrClosed", err)
	}
	if err := st.Redact(ctx(t), ref, 1, nil); !errors.Is(err, qun.ErrClosed) {
		t.Fatalf("Redact after Close = %v, want qun.ErrClosed", err)
	}
}

// closeWhileAppending closes the store under concurrent appends: every
// append returns (nil or qun.ErrClosed), and if the store is durable every
// acknowledged event is there after reopening, and no other.
func (s *logSuite) closeWhileAppending(t *testing.T) {
	c := ctx(t)
	var st qun.LogStore
	var reopen func(t *testing.T) qun.LogStore
	if s.c.backing != nil {
		reopen = s.c.backing(t)
		st = reopen(t)
		t.Cleanup(func() { _ = st.Close() })
	} else {
		st = s.open(t)
	}
	ref := Ref("g:closing")
	const writers = 8
	var wg sync.WaitGroup
	acked := make([][]string, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				m := fmt.Sprintf("w%d-%d", w, i)
				err := st.Append(c, ref, mark(ref, m))
				if err != nil {
					if !errors.Is(err, qun.ErrClosed) {
						errs <- fmt.Errorf("Append during Close = %v, want nil or qun.ErrClosed", err)
					}
					return
				}
				acked[w] = append(acked[w], m)
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for last(t, st, ref) < 40 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("appends still blocked 30s after Close")
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if reopen == nil {
		return
	}
	st2 := reopen(t)
	t.Cleanup(func() { _ = st2.Close() })
	want := map[string]bool{}
	for _, ms := range acked {
		for _, m := range ms {
			want[m] = true
		}
	}
	all := readAll(t, st2, ref)
	for _, ev := range all {
		m := markOf(t, ev)
		if !want[m] {
			t.Fatalf("seq %d holds %q, which was never acknowledged (or is doubled)", ev.Seq, m)
		}
		delete(want, m)
	}
	if len(want) > 0 {
		t.Fatalf("%d acknowledged events lost, e.g. %v", len(want), want)
	}
}

func (s *logSuite) durable(t *testing.T) {
	open := s.c.backing(t)
	a, b := Ref("g:a"), Ref("g:b")
	st := open(t)
	appendOK(t, st, a, marks(a, "a", 5)...)
	appendOK(t, st, b, marks(b, "b", 3)...)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t)
	if n := last(t, st, a); n != 5 {
		t.Fatalf("Last after reopening = %d, want 5", n)
	}
	if n := last(t, st, b); n != 3 {
		t.Fatalf("Last after reopening = %d, want 3", n)
	}
	evs := read(t, st, a, 0, 100)
	wantSeqs(t, evs, 1, 5)
	for i, ev := range evs {
		want := mark(a, fmt.Sprintf("a%d", i))
		want.Seq = uint64(i + 1)
		sameEvent(t, ev, want)
	}
	more := mark(a, "after-reopen")
	appendOK(t, st, a, more)
	if more.Seq != 6 {
		t.Fatalf("first append after reopening got seq %d, want 6", more.Seq)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t)
	defer st.Close()
	if n := last(t, st, a); n != 6 {
		t.Fatalf("Last after second reopening = %d, want 6", n)
	}
	wantSeqs(t, readBefore(t, st, a, 0, 2), 5, 6)
}

// multiWriterTest appends to the same rooms through two stores on one
// backing, as two nodes do.
func (s *logSuite) multiWriterTest(t *testing.T) {
	c := ctx(t)
	open := s.c.backing(t)
	stores := []qun.LogStore{open(t), open(t)}
	for _, st := range stores {
		t.Cleanup(func() { _ = st.Close() })
	}
	refs := []qun.RoomRef{Ref("g:shared"), Ref("g:shared2")}
	const writers, each = 8, 30
	// Alternate nodes, even within one writer.
	appendConcurrently(t, c, refs, writers, each, func(w, i int) qun.LogStore { return stores[(w+i)%2] })
	for _, ref := range refs {
		for _, st := range stores {
			checkWriters(t, readAll(t, st, ref), writers, each)
			if n := last(t, st, ref); n != writers*each {
				t.Fatalf("Last = %d, want %d", n, writers*each)
			}
		}
	}
}

func (s *logSuite) tooOld(t *testing.T) {
	st := s.c.trimOpen(t)
	t.Cleanup(func() { _ = st.Close() })
	n := s.c.trimAt
	ref := Ref("g:trim")
	total := 3*n + 7
	for i := 0; i < total; i += 100 {
		appendOK(t, st, ref, marks(ref, fmt.Sprint(i, "-"), min(100, total-i))...)
	}
	if got := last(t, st, ref); got != uint64(total) {
		t.Fatalf("Last = %d, want %d", got, total)
	}
	if _, err := st.Read(ctx(t), ref, 0, 10); qun.ErrorCode(err) != qun.CodeTooOld {
		t.Fatalf("Read from the start of a trimmed log = %v, want code %s", err, qun.CodeTooOld)
	}
	wantSeqs(t, read(t, st, ref, uint64(total-5), 10), uint64(total-4), uint64(total))
	wantSeqs(t, readBefore(t, st, ref, 0, 5), uint64(total-4), uint64(total))
	// Paging back finds a gapless tail of at most n events, and Read from
	// just before it answers too_old.
	var kept []*qun.Event
	for before := uint64(0); ; {
		evs := readBefore(t, st, ref, before, 64)
		if len(evs) == 0 {
			break
		}
		kept = append(evs, kept...)
		before = evs[0].Seq
	}
	if len(kept) == 0 || len(kept) > n {
		t.Fatalf("a log trimmed at %d keeps %d events", n, len(kept))
	}
	oldest := kept[0].Seq
	wantSeqs(t, kept, oldest, uint64(total))
	wantSeqs(t, read(t, st, ref, oldest-1, 3), oldest, oldest+2)
	if _, err := st.Read(ctx(t), ref, oldest-2, 10); qun.ErrorCode(err) != qun.CodeTooOld {
		t.Fatalf("Read after %d, oldest kept %d = %v, want code %s", oldest-2, oldest, err, qun.CodeTooOld)
	}
	// A fresh room in the same store is unaffected.
	other := Ref("g:trim2")
	appendOK(t, st, other, mark(other, "x"))
	wantSeqs(t, read(t, st, other, 0, 10), 1, 1)
}
