package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Commit that records its batches and, while gated, blocks
// each commit until the test releases it.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	entered chan struct{} // one send per commit started
	gate    chan struct{} // receive one per commit allowed to finish; nil: no gate
	fail    func(int) error
}

func newRecorder(gated bool) *recorder {
	r := &recorder{entered: make(chan struct{}, 1000)}
	if gated {
		r.gate = make(chan struct{})
	}
	return r
}

func (r *recorder) commit(batch []int, errs []error) {
	r.entered <- struct{}{}
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(batch))
	r.mu.Unlock()
	for i, v := range batch {
		if r.fail != nil {
			errs[i] = r.fail(v)
		}
	}
}

func (r *recorder) got() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// doAsync runs q.Do(ctx, v) in a goroutine and returns its result channel.
func doAsync(ctx context.Context, q *Queue[int], v int) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- q.Do(ctx, v) }()
	return ch
}

// waitQueued waits until n requests sit in q's queue.
func waitQueued(t *testing.T, q *Queue[int], n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(q.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("queued %d, want %d", len(q.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Do did not return")
		return nil
	}
}

// occupy queues one request and waits until the (single, gated) writer is
// committing it, so that what is queued next waits for the next batch.
func occupy(t *testing.T, q *Queue[int], r *recorder, v int) <-chan error {
	t.Helper()
	ch := doAsync(context.Background(), q, v)
	select {
	case <-r.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("commit did not start")
	}
	return ch
}

func TestBatchesWhatWaitsInQueueOrder(t *testing.T) {
	r := newRecorder(true)
	q := New(Config[int]{Commit: r.commit, MaxBatch: 100})
	defer q.Close()
	first := occupy(t, q, r, 0)
	var chs []<-chan error
	for i := 1; i <= 20; i++ {
		chs = append(chs, doAsync(context.Background(), q, i))
		waitQueued(t, q, i) // one at a time, so the queue order is known
	}
	r.gate <- struct{}{} // finish batch 0
	r.gate <- struct{}{} // finish the batch of everything queued meanwhile
	if err := wait(t, first); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chs {
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]int{{0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}
	if got := r.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
}

func TestMaxBatchSplitsInOrder(t *testing.T) {
	r := newRecorder(true)
	q := New(Config[int]{Commit: r.commit, MaxBatch: 3})
	defer q.Close()
	first := occupy(t, q, r, 0)
	var chs []<-chan error
	for i := 1; i <= 3; i++ {
		chs = append(chs, doAsync(context.Background(), q, i))
		waitQueued(t, q, i)
	}
	// The queue holds MaxBatch requests; the next Do waits for room.
	chs = append(chs, doAsync(context.Background(), q, 4))
	go func() {
		for range 3 {
			r.gate <- struct{}{}
		}
	}()
	for _, ch := range append(chs, first) {
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]int{{0}, {1, 2, 3}, {4}}
	if got := r.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
}

func TestBatchingUnderConcurrency(t *testing.T) {
	var commits, reqs atomic.Int64
	q := New(Config[int]{MaxBatch: 64, Commit: func(batch []int, errs []error) {
		commits.Add(1)
		reqs.Add(int64(len(batch)))
		time.Sleep(time.Millisecond) // a commit's cost: others queue meanwhile
	}})
	defer q.Close()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 20 {
				if err := q.Do(context.Background(), 1); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if reqs.Load() != 1000 {
		t.Fatalf("committed %d requests, want 1000", reqs.Load())
	}
	// Alone, each request would be its own commit.
	if c := commits.Load(); c > 200 {
		t.Fatalf("%d commits for 1000 concurrent requests: not batching", c)
	}
}

func TestPerRequestErrors(t *testing.T) {
	r := newRecorder(true)
	r.fail = func(v int) error {
		if v%2 == 1 {
			return fmt.Errorf("odd %d", v)
		}
		return nil
	}
	q := New(Config[int]{Commit: r.commit})
	defer q.Close()
	first := occupy(t, q, r, 0)
	chs := map[int]<-chan error{}
	for i := 1; i <= 6; i++ {
		chs[i] = doAsync(context.Background(), q, i)
	}
	waitQueued(t, q, 6)
	r.gate <- struct{}{}
	r.gate <- struct{}{}
	if err := wait(t, first); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chs {
		err := wait(t, ch)
		if want := i%2 == 1; (err != nil) != want || (want && err.Error() != fmt.Sprintf("odd %d", i)) {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if n := len(r.got()); n != 2 {
		t.Fatalf("%d batches, want 2", n)
	}
}

func TestContextDoneBeforeQueueing(t *testing.T) {
	r := newRecorder(false)
	q := New(Config[int]{Commit: r.commit})
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 { // the queue has room: a done ctx must still win
		if err := q.Do(ctx, 7); !errors.Is(err, context.Canceled) {
			t.Fatalf("Do = %v, want context.Canceled", err)
		}
	}
	if err := q.Do(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	if got := r.got(); fmt.Sprint(got) != "[[8]]" {
		t.Fatalf("batches %v, want only [[8]]", got)
	}
}

func TestContextEndsWhileWaitingForRoom(t *testing.T) {
	r := newRecorder(true)
	q := New(Config[int]{Commit: r.commit, MaxBatch: 1})
	defer q.Close()
	first := occupy(t, q, r, 0)
	second := doAsync(context.Background(), q, 1)
	waitQueued(t, q, 1) // the queue is full
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := q.Do(ctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want DeadlineExceeded", err)
	}
	r.gate <- struct{}{}
	r.gate <- struct{}{}
	for _, ch := range []<-chan error{first, second} {
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.got(); fmt.Sprint(got) != "[[0] [1]]" {
		t.Fatalf("batches %v: the request whose ctx ended was committed", got)
	}
}

func TestContextEndsAfterQueueing(t *testing.T) {
	r := newRecorder(true)
	q := New(Config[int]{Commit: r.commit})
	defer q.Close()
	first := occupy(t, q, r, 0)
	ctx, cancel := context.WithCancel(context.Background())
	ch := doAsync(ctx, q, 1)
	waitQueued(t, q, 1)
	cancel()
	select {
	case err := <-ch:
		t.Fatalf("Do returned %v before its batch committed", err)
	case <-time.After(20 * time.Millisecond):
	}
	r.gate <- struct{}{}
	r.gate <- struct{}{}
	if err := wait(t, first); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, ch); err != nil {
		t.Fatalf("committed request reported %v", err)
	}
}

func TestCloseCommitsQueuedAndRefusesTheRest(t *testing.T) {
	r := newRecorder(true)
	errGone := errors.New("gone")
	q := New(Config[int]{Commit: r.commit, MaxBatch: 2, ErrClosed: errGone})
	first := occupy(t, q, r, 0)
	var chs []<-chan error
	for i := 1; i <= 2; i++ {
		chs = append(chs, doAsync(context.Background(), q, i))
		waitQueued(t, q, i)
	}
	closed := make(chan error, 2)
	go func() { closed <- q.Close() }()
	go func() { closed <- q.Close() }() // concurrent and idempotent
	for !q.Closed() {
		time.Sleep(time.Millisecond)
	}
	if err := q.Do(context.Background(), 9); !errors.Is(err, errGone) {
		t.Fatalf("Do after Close = %v, want the configured error", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with requests still queued", err)
	case <-time.After(20 * time.Millisecond):
	}
	r.gate <- struct{}{}
	r.gate <- struct{}{}
	for _, ch := range append(chs, first) {
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := wait(t, closed); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if got := r.got(); fmt.Sprint(got) != "[[0] [1 2]]" {
		t.Fatalf("batches %v", got)
	}
}

func TestDefaultErrClosed(t *testing.T) {
	q := New(Config[int]{Commit: func([]int, []error) {}})
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Do(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do = %v", err)
	}
}

func TestCloseTimeout(t *testing.T) {
	r := newRecorder(true)
	q := New(Config[int]{Commit: r.commit, CloseTimeout: 20 * time.Millisecond})
	first := occupy(t, q, r, 0)
	if err := q.Close(); err == nil {
		t.Fatal("Close returned nil while a commit was stuck")
	}
	r.gate <- struct{}{}
	if err := wait(t, first); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSeveralWriters(t *testing.T) {
	const writers = 3
	var inFlight, most atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	q := New(Config[int]{Writers: writers, MaxBatch: 1, Commit: func(batch []int, errs []error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		if n == writers {
			once.Do(func() { close(all) })
		}
		select { // hold the commit until every writer is in one
		case <-all:
		case <-time.After(5 * time.Second):
			errs[0] = errors.New("writers did not commit concurrently")
		}
	}})
	defer q.Close()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			if err := q.Do(context.Background(), i); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if most.Load() != writers {
		t.Fatalf("at most %d commits at once, want %d", most.Load(), writers)
	}
}

func TestWeights(t *testing.T) {
	r := newRecorder(true)
	q := New(Config[int]{Commit: r.commit, MaxBatch: 10, Weight: func(v int) int { return v }})
	defer q.Close()
	first := occupy(t, q, r, 1)
	var chs []<-chan error
	for i, w := range []int{4, 4, 4, 20, 1, 2} {
		chs = append(chs, doAsync(context.Background(), q, w))
		waitQueued(t, q, i+1)
	}
	go func() {
		for range 5 {
			r.gate <- struct{}{}
		}
	}()
	for _, ch := range append(chs, first) {
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	// A request that would overflow a batch opens the next one; one heavier
	// than MaxBatch goes alone.
	want := [][]int{{1}, {4, 4}, {4}, {20}, {1, 2}}
	if got := r.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
}

func TestNilCommitPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted a nil Commit")
		}
	}()
	New(Config[int]{})
}

// BenchmarkDo measures the queue's own cost: parallel callers, a Commit that
// does nothing. batch/commit reports how many requests shared a commit.
func BenchmarkDo(b *testing.B) {
	var commits, reqs atomic.Int64
	q := New(Config[int]{Commit: func(batch []int, errs []error) {
		commits.Add(1)
		reqs.Add(int64(len(batch)))
	}})
	defer q.Close()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := q.Do(ctx, 1); err != nil {
				b.Error(err)
			}
		}
	})
	if c := commits.Load(); c > 0 {
		b.ReportMetric(float64(reqs.Load())/float64(c), "batch/commit")
	}
}
