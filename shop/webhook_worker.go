package shop

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

const fanoutCursor = "webhook.fanout"

// deliverer moves outbox messages to the vendor's endpoints. Its loop (one
// goroutine, owned by the Service) fans new messages out into one delivery
// per interested endpoint, then starts due attempts, at most
// WebhookConfig.Concurrency at a time, each in its own goroutine. An attempt's
// outcome is written back through the store; an attempt cut short by Close
// is not recorded, so it is made again after a restart (at least once).
//
// Several Services may share one store (one per node): each delivery is
// claimed in the store before its attempt (Tx.ClaimDeliveries moves its
// NextAt to the end of a lease), so one deliverer makes each attempt, and
// fan-out decides inside its write transaction which messages are still
// new. A deliverer that dies holding claims leaves them to the others when
// the lease runs out.
type deliverer struct {
	s      *Service
	kick   chan struct{}
	cursor int64 // last fanned-out Seq; -1 until read from the store

	// queue holds deliveries claimed ahead, so that the store is asked
	// again only when it runs low, not after every attempt. Loop goroutine only.
	queue []*DueDelivery

	mu sync.Mutex
	// inflight maps each attempt in progress to its claim (the NextAt the
	// store holds for it while it is ours).
	inflight map[dkey]int64
	// gone holds endpoints disabled (410) since the last refill: their
	// queued deliveries are dropped.
	gone    map[EndpointID]struct{}
	senders sync.WaitGroup
}

type dkey struct {
	msg int64
	ep  EndpointID
}

func newDeliverer(s *Service) *deliverer {
	return &deliverer{s: s, kick: make(chan struct{}, 1), cursor: -1,
		inflight: map[dkey]int64{}, gone: map[EndpointID]struct{}{}}
}

// wake makes the loop look for work now.
func (d *deliverer) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *deliverer) run() {
	defer d.s.wg.Done()
	defer d.senders.Wait()
	// However the loop stops, the claims it queued but did not attempt go
	// back (an early return that skipped this left them leased for three
	// webhook timeouts after a restart).
	defer d.release()
	ctx := d.s.ctx
	cfg := &d.s.cfg.Webhooks
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		case <-timer.C:
		}
		if ctx.Err() != nil {
			return
		}
		more, err := d.fanout(ctx)
		if err == nil {
			err = d.dispatch(ctx)
		}
		if err != nil && ctx.Err() == nil {
			d.s.log.Warn("shop: webhook worker", zap.Error(err))
		}
		wait := cfg.PollInterval
		if more {
			wait = 0
		} else if at, ok, err := d.next(ctx); err == nil && ok {
			if w := time.Until(time.UnixMilli(at)); w < wait {
				wait = max(w, time.Millisecond)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

func (d *deliverer) next(ctx context.Context) (at int64, ok bool, err error) {
	err = d.s.store.View(ctx, func(tx Tx) error { at, ok, err = tx.NextDelivery(); return err })
	// NextDelivery is in our clock's milliseconds; convert to wall time.
	at += time.Now().UnixMilli() - d.s.now()
	return at, ok, err
}

const fanoutBatch = 500

// fanout turns new outbox messages into deliveries; more says another
// batch is waiting.
func (d *deliverer) fanout(ctx context.Context) (more bool, err error) {
	var msgs []*Message
	var eps []*Endpoint
	err = d.s.store.View(ctx, func(tx Tx) error {
		if d.cursor < 0 {
			if d.cursor, err = tx.Cursor(fanoutCursor); err != nil {
				return err
			}
		}
		if msgs, err = tx.Messages(d.cursor, fanoutBatch); err != nil || len(msgs) == 0 {
			return err
		}
		eps, err = tx.Endpoints("", true)
		return err
	})
	if err != nil || len(msgs) == 0 {
		return false, err
	}
	last := msgs[len(msgs)-1].Seq
	var cursor int64
	err = d.s.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		// Another node's deliverer may have fanned some of msgs out since
		// the read above: the cursor read in this write transaction
		// decides, so no delivery is created twice (PutDelivery would make
		// a done one pending again).
		cur, err := tx.Cursor(fanoutCursor)
		if err != nil {
			return err
		}
		cursor = max(cur, last)
		if cur >= last {
			return nil
		}
		now := d.s.now()
		for _, m := range msgs {
			if m.Seq <= cur {
				continue
			}
			for _, e := range eps {
				if !e.wants(m) {
					continue
				}
				if err := tx.PutDelivery(&Delivery{Msg: m.Seq, Endpoint: e.ID, State: DeliveryPending, NextAt: now, Updated: now}); err != nil {
					return err
				}
			}
		}
		return tx.SetCursor(fanoutCursor, last)
	})
	if err != nil {
		return false, err
	}
	d.cursor = cursor
	return len(msgs) == fanoutBatch, nil
}

// dispatchBatch bounds how many due deliveries one refill claims.
const dispatchBatch = 256

// claimLease is how long a claim keeps a delivery from other deliverers:
// time for one round of attempts ahead of it in the queue (refill claims at
// most the free slots plus one round) and its own attempt, with room to
// spare. dispatch drops a queued delivery whose claim would run out during
// its attempt; it is claimed again once the claim has lapsed.
func (d *deliverer) claimLease() time.Duration { return 3 * d.s.cfg.Webhooks.Timeout }

// claimLeft is the least time a claim must have left for an attempt.
func (d *deliverer) claimLeft() int64 { return (d.s.cfg.Webhooks.Timeout + time.Second).Milliseconds() }

// dispatch starts due attempts up to the concurrency limit, refilling the
// queue from the store when it holds fewer than the free slots.
func (d *deliverer) dispatch(ctx context.Context) error {
	d.mu.Lock()
	busy := len(d.inflight)
	d.mu.Unlock()
	free := d.s.cfg.Webhooks.Concurrency - busy
	if free <= 0 {
		return nil
	}
	if len(d.queue) < free {
		if err := d.refill(ctx, busy); err != nil {
			return err
		}
	}
	now := d.s.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for free > 0 && len(d.queue) > 0 {
		dd := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		if _, ok := d.gone[dd.Endpoint]; ok {
			continue
		}
		if dd.NextAt-now < d.claimLeft() {
			continue // the claim would lapse mid-attempt; claimed again later
		}
		d.inflight[dkey{dd.Msg, dd.Endpoint}] = dd.NextAt
		free--
		d.senders.Add(1)
		go d.send(ctx, dd)
	}
	return nil
}

func (d *deliverer) refill(ctx context.Context, busy int) error {
	queued := make(map[dkey]*DueDelivery, len(d.queue))
	for _, dd := range d.queue {
		queued[dkey{dd.Msg, dd.Endpoint}] = dd
	}
	d.mu.Lock()
	clear(d.gone)
	d.mu.Unlock()
	var due []*DueDelivery
	now := d.s.now()
	until := now + d.claimLease().Milliseconds()
	cc := d.s.cfg.Webhooks.Concurrency
	want := min(max(2*cc-busy-len(d.queue), 1), dispatchBatch)
	if err := d.s.store.Update(ctx, func(tx Tx) (err error) {
		due, err = tx.ClaimDeliveries(now, until, want)
		return err
	}); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dd := range due {
		k := dkey{dd.Msg, dd.Endpoint}
		// Claimed again after its claim lapsed (a stalled machine or
		// clock): the attempt in progress or queued goes on under the new claim.
		if _, ok := d.inflight[k]; ok {
			d.inflight[k] = dd.NextAt
		} else if q := queued[k]; q != nil {
			q.NextAt = dd.NextAt
		} else {
			d.queue = append(d.queue, dd)
		}
	}
	return nil
}

// outcome is what one attempt produced.
type outcome struct {
	status     int
	retryAfter time.Duration
	err        string
}

func (d *deliverer) send(ctx context.Context, dd *DueDelivery) {
	defer func() {
		d.mu.Lock()
		k := dkey{dd.Msg, dd.Endpoint}
		delete(d.inflight, k)
		d.mu.Unlock()
		d.senders.Done()
		d.wake()
	}()
	out := d.attempt(ctx, dd)
	if ctx.Err() == nil {
		err := d.record(ctx, dd, out)
		if err == nil {
			if out.status == http.StatusGone {
				d.mu.Lock()
				d.gone[dd.Endpoint] = struct{}{}
				d.mu.Unlock()
			}
			return
		}
		if ctx.Err() == nil {
			d.s.log.Warn("shop: record webhook attempt", zap.Error(err))
			return
		}
	}
	// Shutting down before the outcome was recorded (during the attempt or
	// while recording it): the delivery stays pending, and is due at once for
	// the next deliverer rather than when this claim lapses. unclaim leaves
	// it alone if the outcome did commit.
	d.mu.Lock()
	claim := d.inflight[dkey{dd.Msg, dd.Endpoint}]
	d.mu.Unlock()
	d.unclaim([]dkey{{dd.Msg, dd.Endpoint}}, []int64{claim})
}

func (d *deliverer) attempt(ctx context.Context, dd *DueDelivery) outcome {
	cfg := &d.s.cfg.Webhooks
	ts := d.s.cfg.Now().Unix()
	sig, err := Sign(dd.Secrets, dd.Message.ID, ts, dd.Message.Body)
	if err != nil {
		return outcome{err: "endpoint secret: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dd.URL, bytes.NewReader(dd.Message.Body))
	if err != nil {
		return outcome{err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "qun-webhooks/1")
	req.Header.Set("webhook-id", dd.Message.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return outcome{err: truncate(err.Error(), 200)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return outcome{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), d.s.cfg.Now())}
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 1<<31)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the wait before attempt n+1 after n failures: exponential,
// capped, with the upper half random so that retries of many deliveries
// do not arrive together.
func backoff(cfg *WebhookConfig, n int) time.Duration {
	d := cfg.BackoffBase
	for i := 1; i < n && d < cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, cfg.BackoffMax)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func (d *deliverer) record(ctx context.Context, dd *DueDelivery, out outcome) error {
	cfg := &d.s.cfg.Webhooks
	k := dkey{dd.Msg, dd.Endpoint}
	return d.s.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		dl, err := tx.Delivery(dd.Msg, dd.Endpoint)
		if err != nil || dl.State != DeliveryPending {
			return nil // endpoint deleted meanwhile, or already settled
		}
		d.mu.Lock()
		claim := d.inflight[k]
		d.mu.Unlock()
		if dl.NextAt != claim {
			return nil // our claim lapsed and another deliverer took it over
		}
		now := d.s.now()
		dl.Attempts++
		dl.LastStatus, dl.LastError, dl.Updated = out.status, out.err, now
		switch {
		case out.status >= 200 && out.status < 300:
			dl.State, dl.LastError = DeliveryDone, ""
		case out.status == http.StatusGone:
			// The receiver says it is gone for good: stop sending to it. Its
			// pending deliveries wait in case the vendor re-enables it.
			e, err := tx.Endpoint(dd.Endpoint)
			if err != nil {
				return err
			}
			e.Disabled, e.DisabledReason = true, "the endpoint answered 410 Gone"
			if err := tx.PutEndpoint(e); err != nil {
				return err
			}
			dl.NextAt = now
		case dl.Attempts >= cfg.MaxAttempts:
			dl.State = DeliveryFailed
		default:
			wait := backoff(cfg, dl.Attempts)
			if ra := min(out.retryAfter, cfg.MaxRetryAfter); ra > wait {
				wait = ra
			}
			dl.NextAt = now + wait.Milliseconds()
		}
		if out.status != 0 && out.status != http.StatusGone && (out.status < 200 || out.status >= 300) {
			dl.LastError = "HTTP " + strconv.Itoa(out.status)
		}
		return tx.PutDelivery(dl)
	})
}

// release gives back, as the loop stops, the claims of deliveries queued
// but not attempted, so that the next deliverer (this node restarted, or
// another) sends them at once rather than when their claims lapse.
// Attempts cut short are released by send.
func (d *deliverer) release() {
	var keys []dkey
	var claims []int64
	for _, dd := range d.queue {
		keys, claims = append(keys, dkey{dd.Msg, dd.Endpoint}), append(claims, dd.NextAt)
	}
	d.queue = nil
	d.unclaim(keys, claims)
}

// unclaim makes the deliveries due now if they still carry our claims.
func (d *deliverer) unclaim(keys []dkey, claims []int64) {
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := d.s.store.Update(ctx, func(tx Tx) error {
		now := d.s.now()
		for i, k := range keys {
			dl, err := tx.Delivery(k.msg, k.ep)
			if err != nil || dl.State != DeliveryPending || dl.NextAt != claims[i] {
				continue
			}
			dl.NextAt = now
			if err := tx.PutDelivery(dl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		d.s.log.Warn("shop: releasing webhook claims", zap.Error(err))
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
