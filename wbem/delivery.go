package wbem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"mgmtd/wbem/cimxml"
)

// Delivery: ExportIndication requests to the listeners (DSP0200 export,
// DSP1054 sequence numbers), one ordered queue and one goroutine per
// destination.

// DeliveryOptions configures a Delivery.
type DeliveryOptions struct {
	// Client posts the indications (default: a client with a 10 s
	// timeout). Set its Transport's TLSClientConfig for https listeners.
	Client *http.Client
	// QueueSize bounds the indications queued per destination; the
	// oldest are dropped when it is full (default 1000).
	QueueSize int
	// RetryMin and RetryMax bound the retry backoff of a failing
	// destination (default 500 ms and 30 s).
	RetryMin, RetryMax time.Duration
	// Wanted, when set, is asked before each delivery whether any
	// subscription still sends to the destination; when none does, what
	// is queued for it is dropped (SubscriptionStore.Subscribed).
	Wanted func(ctx context.Context, dest string) bool
	// Destinations, when set, limit the addresses the client dials (each
	// connection is checked, so a name that resolves elsewhere later is
	// refused too) and redirects are not followed.
	Destinations *DestinationRules
	// Log receives delivery failures; nil discards.
	Log *slog.Logger
}

// DestinationStats reports the delivery to one listener destination.
type DestinationStats struct {
	Destination string
	Queued      int
	Delivered   uint64
	Dropped     uint64 // dropped from the full queue (oldest first) or refused by the listener
	Failures    uint64 // failed delivery attempts (each retried)
	LastError   string
}

// Delivery posts indications to listener destinations: in order per
// destination, with a SequenceContext per Delivery and a SequenceNumber
// per destination without gaps (a retried indication keeps its number).
// Connection errors, 5xx, 408 and 429 answers are retried with
// exponential backoff; another 4xx answer or a CIM ERROR drops the
// indication. It is safe for concurrent use.
type Delivery struct {
	o       DeliveryOptions
	log     *slog.Logger
	context string // SequenceContext
	wg      sync.WaitGroup
	mu      sync.Mutex
	dests   map[string]*destination // by URL
}

type destination struct {
	url     string
	mu      sync.Mutex
	queue   []*Instance
	wake    chan struct{}
	seq     int64
	stats   DestinationStats
	running bool
}

// NewDelivery returns a Delivery with o's defaults filled in.
func NewDelivery(o DeliveryOptions) *Delivery {
	if o.Destinations != nil {
		o.Client = o.Destinations.guardClient(o.Client)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 500 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = 30 * time.Second
		if o.RetryMax < o.RetryMin {
			o.RetryMax = o.RetryMin
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Delivery{o: o, log: o.Log, context: "mgmtd-" + randomID(), dests: map[string]*destination{}}
}

// Publish queues ind for the destination of each subscription, with
// IndicationFilterName set to the subscription's filter (see
// SubscriptionStore.Match). Delivery goroutines run until ctx is done.
func (d *Delivery) Publish(ctx context.Context, subs []Subscription, ind *Instance) {
	for _, s := range subs {
		cp := &Instance{ClassName: ind.ClassName, Properties: append([]Property(nil), ind.Properties...)}
		cp.Properties = append(cp.Properties, Property{Name: "IndicationFilterName", Type: "string", Value: s.FilterName, ClassOrigin: "CIM_Indication", Propagated: true})
		d.Enqueue(ctx, s.Destination, cp)
	}
}

// Enqueue queues ind for the listener at dest and starts the
// destination's delivery goroutine, which runs until ctx is done, if it
// is not running.
func (d *Delivery) Enqueue(ctx context.Context, dest string, ind *Instance) {
	d.mu.Lock()
	ds := d.dests[dest]
	if ds == nil {
		ds = &destination{url: dest, wake: make(chan struct{}, 1), stats: DestinationStats{Destination: dest}}
		d.dests[dest] = ds
	}
	d.mu.Unlock()
	ds.mu.Lock()
	if len(ds.queue) >= d.o.QueueSize {
		ds.queue = ds.queue[1:]
		ds.stats.Dropped++
	}
	ds.queue = append(ds.queue, ind)
	start := !ds.running
	ds.running = true
	ds.mu.Unlock()
	select {
	case ds.wake <- struct{}{}:
	default:
	}
	if start {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.loop(ctx, ds)
		}()
	}
}

// Wait waits until the delivery goroutines have ended (their contexts are
// done).
func (d *Delivery) Wait() { d.wg.Wait() }

// Stats returns the statistics of every destination indications were
// queued for.
func (d *Delivery) Stats() []DestinationStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []DestinationStats
	for _, ds := range d.dests {
		ds.mu.Lock()
		st := ds.stats
		st.Queued = len(ds.queue)
		ds.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// loop sends the queue of one destination in order, retrying the head
// with exponential backoff while the listener fails.
func (d *Delivery) loop(ctx context.Context, ds *destination) {
	defer func() {
		ds.mu.Lock()
		ds.running = false
		ds.mu.Unlock()
	}()
	backoff := d.o.RetryMin
	for {
		ds.mu.Lock()
		var head *Instance
		if len(ds.queue) > 0 {
			head = ds.queue[0]
		}
		ds.mu.Unlock()
		if head == nil {
			select {
			case <-ctx.Done():
				return
			case <-ds.wake:
				continue
			}
		}
		if d.o.Wanted != nil && !d.o.Wanted(ctx, ds.url) {
			// The last subscription to this listener was deleted: what is
			// still queued is not wanted any more.
			ds.mu.Lock()
			ds.stats.Dropped += uint64(len(ds.queue))
			ds.queue = nil
			ds.mu.Unlock()
			continue
		}
		ds.mu.Lock()
		ds.seq++
		seq := ds.seq
		ds.mu.Unlock()
		err := d.send(ctx, ds.url, head, seq)
		ds.mu.Lock()
		switch {
		case err == nil:
			ds.stats.Delivered++
			backoff = d.o.RetryMin
		case errors.Is(err, errRefused):
			ds.stats.Dropped++
			ds.stats.LastError = err.Error()
		default:
			ds.seq-- // the same indication is sent again with the same number
			ds.stats.Failures++
			ds.stats.LastError = err.Error()
		}
		if err == nil || errors.Is(err, errRefused) {
			if len(ds.queue) > 0 && ds.queue[0] == head {
				ds.queue = ds.queue[1:]
			}
		}
		ds.mu.Unlock()
		if err != nil && !errors.Is(err, errRefused) {
			d.log.Warn("wbem: indication delivery failed, retrying", "destination", ds.url, "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(backoff*2, d.o.RetryMax)
		}
	}
}

// errRefused marks a listener's definitive refusal (a 4xx answer): the
// indication is dropped instead of retried.
var errRefused = errors.New("listener refused the indication")

// send posts one ExportIndication with the sequence properties.
func (d *Delivery) send(ctx context.Context, dest string, ind *Instance, seq int64) error {
	cp := &Instance{ClassName: ind.ClassName, Properties: append([]Property(nil), ind.Properties...)}
	cp.Properties = append(cp.Properties,
		Property{Name: "SequenceContext", Type: "string", Value: d.context, ClassOrigin: "CIM_Indication", Propagated: true},
		Property{Name: "SequenceNumber", Type: "sint64", Value: strconv.FormatInt(seq, 10), ClassOrigin: "CIM_Indication", Propagated: true})
	var buf bytes.Buffer
	e := cimxml.NewEncoder(&buf)
	e.ExportIndication(strconv.FormatInt(seq, 10), cp)
	if err := e.Flush(); err != nil {
		return fmt.Errorf("encode indication: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest, &buf)
	if err != nil {
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	req.Header.Set("CIMExport", "MethodRequest")
	req.Header.Set("CIMExportMethod", "ExportIndication")
	req.Header.Set("CIMProtocolVersion", "1.0")
	req.Header.Set("Accept", "application/xml") // pywbem's WBEMListener accepts a single type only
	resp, err := d.o.Client.Do(req)
	if errors.Is(err, errDestination) {
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	if err != nil {
		return fmt.Errorf("post indication to %s: %w", dest, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		if bytes.Contains(body.Bytes(), []byte("<ERROR")) {
			return fmt.Errorf("%w: %s answered a CIM error", errRefused, dest)
		}
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s answered %s", errRefused, dest, resp.Status)
	}
	return fmt.Errorf("post indication to %s: %s", dest, resp.Status)
}
