package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"mgmtd/model"
)

// events streams model events as server-sent events. Each event has its
// sequence as id and its type as event name. A new generation that
// carried no event is told as an event "generation" (no id, data
// {"generation": N}) within a second. A client resumes with the
// Last-Event-ID header (or last_event_id query parameter); events older
// than the bounded in-memory buffer come from the stored history when
// there is one. When events it asks for are in neither, it gets an event
// named "gap" so it knows to reload the state.
func (s *Server) events(c *gin.Context) {
	if s.opts.Events == nil {
		s.problem(c, &Problem{Status: http.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "no event stream"})
		return
	}
	caller := ""
	if id := identity(c); id != nil {
		caller = id.ID
	}
	if p := s.openStream(caller); p != nil {
		s.problem(c, p)
		return
	}
	defer s.closeStream(caller)
	stillValid := func() error { return nil }
	if f, ok := c.Get(stillValidKey); ok {
		stillValid = f.(func() error)
	}
	last := s.opts.Events.Last()
	resume := c.GetHeader("Last-Event-ID")
	if resume == "" {
		resume = c.Query("last_event_id")
	}
	if resume != "" {
		v, err := strconv.ParseUint(resume, 10, 64)
		if err != nil {
			s.problem(c, BadRequest("Last-Event-ID must be an event sequence number"))
			return
		}
		last = v
	}
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	sn := s.opts.Store.Snapshot()
	var buf bytes.Buffer
	buf.WriteString(": mgmtd event stream, view " + sn.View + ", generation " + strconv.FormatUint(sn.Generation, 10) + "\nretry: 2000\n\n")
	if _, err := c.Writer.Write(buf.Bytes()); err != nil {
		return
	}
	_ = rc.Flush()
	ctx := c.Request.Context()
	hb := time.NewTicker(s.opts.Heartbeat)
	defer hb.Stop()
	// Every new generation is told, also one that carries no event (a
	// changed attribute, a stale source's age): an event "generation"
	// once a second at most, so a page can follow the model on its one
	// stream instead of polling.
	gen := sn.Generation
	gt := time.NewTicker(time.Second)
	defer gt.Stop()
	for {
		// A stream ends when its credential does: a revoked or expired
		// token, a session that logged out.
		if err := stillValid(); err != nil {
			_, _ = c.Writer.Write([]byte("event: end\ndata: " + strconv.Quote(err.Error()) + "\n\n"))
			_ = rc.Flush()
			return
		}
		buf.Reset()
		if s.opts.History != nil {
			if oldest := s.opts.Events.Oldest(); last+1 < oldest && oldest-last-1 <= maxReplay {
				// Older than the in-memory buffer: resume from the
				// stored history, then go on from memory.
				var view *model.Snapshot
				if v, ok := c.Get(restrictKey); ok {
					view = v.(func(*model.Snapshot) *model.Snapshot)(s.opts.Store.Snapshot())
				}
				from := last
				gap, err := s.replay(ctx, &last, oldest, func(e model.Event) error {
					if view == nil || eventVisible(view, e) {
						writeEvent(&buf, e)
					}
					if buf.Len() < 256<<10 {
						return nil
					}
					_, err := c.Writer.Write(buf.Bytes())
					buf.Reset()
					return err
				})
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					s.opts.Log.Warn("event stream: history replay failed", "err", err)
				}
				if gap || err != nil {
					buf.WriteString("event: gap\ndata: {\"detail\":\"events after " + strconv.FormatUint(from, 10) +
						" are missing from the history; reload the state\"}\n\n")
					last = max(last, oldest-1)
				}
			}
		}
		evs, missed := s.opts.Events.Since(last)
		if missed {
			buf.WriteString("event: gap\ndata: {\"detail\":\"events after " + strconv.FormatUint(last, 10) + " were dropped; reload the state\"}\n\n")
		}
		var view *model.Snapshot
		if v, ok := c.Get(restrictKey); ok && len(evs) > 0 {
			view = v.(func(*model.Snapshot) *model.Snapshot)(s.opts.Store.Snapshot())
		}
		for _, e := range evs {
			last = e.Seq
			gen = max(gen, e.Generation)
			if view != nil && !eventVisible(view, e) {
				continue
			}
			writeEvent(&buf, e)
		}
		if buf.Len() > 0 {
			if _, err := c.Writer.Write(buf.Bytes()); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		wait := make(chan error, 1)
		wctx, cancel := context.WithCancel(ctx)
		go func() { wait <- s.opts.Events.Wait(wctx, last) }()
		select {
		case <-ctx.Done():
			cancel()
			<-wait
			return
		case <-gt.C:
			cancel()
			<-wait
			if g := s.opts.Store.Snapshot().Generation; g != gen {
				gen = g
				if _, err := c.Writer.Write([]byte("event: generation\ndata: {\"generation\":" + strconv.FormatUint(g, 10) + "}\n\n")); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
			}
		case <-hb.C:
			cancel()
			<-wait
			if err := stillValid(); err != nil {
				continue // ended at the top of the loop
			}
			if _, err := c.Writer.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-wait:
			cancel()
		}
	}
}

// maxReplay bounds how many stored events a resuming stream is sent; a
// client further behind gets a gap and reloads the state.
const maxReplay = 100_000

// openStream takes a stream slot for caller, or returns the problem that
// refuses it: too many streams in all, or for this caller.
func (s *Server) openStream(caller string) *Problem {
	if n := s.streams.Add(1); n > int64(s.opts.MaxStreams) {
		s.streams.Add(-1)
		return &Problem{Status: http.StatusServiceUnavailable, Title: "Service Unavailable",
			Detail: "too many event streams are open", RetryAfter: 10}
	}
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streamsBy == nil {
		s.streamsBy = map[string]int{}
	}
	if s.streamsBy[caller] >= s.opts.MaxStreamsPerCaller {
		s.streams.Add(-1)
		return &Problem{Status: http.StatusTooManyRequests, Title: "Too Many Requests",
			Detail: "this caller has " + strconv.Itoa(s.opts.MaxStreamsPerCaller) + " event streams open already", RetryAfter: 10}
	}
	s.streamsBy[caller]++
	return nil
}

func (s *Server) closeStream(caller string) {
	s.streams.Add(-1)
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streamsBy[caller]--; s.streamsBy[caller] <= 0 {
		delete(s.streamsBy, caller)
	}
}

func writeEvent(buf *bytes.Buffer, e model.Event) {
	data, _ := json.Marshal(e)
	buf.WriteString("id: ")
	buf.WriteString(strconv.FormatUint(e.Seq, 10))
	buf.WriteString("\nevent: ")
	buf.WriteString(string(e.Type))
	buf.WriteString("\ndata: ")
	buf.Write(data)
	buf.WriteString("\n\n")
}

// eventVisible reports whether a scoped caller may see an event: cluster
// and source events are for everyone who may read; the others follow
// their object in the caller's restricted view.
func eventVisible(view *model.Snapshot, e model.Event) bool {
	switch e.Object.Kind {
	case model.KindCluster, model.KindSource:
		return true
	case model.KindNode, model.KindHost:
		_, ok := view.Node(e.Object.Name)
		if !ok {
			_, ok = view.Host(e.Object.Name)
		}
		return ok
	case model.KindResource:
		_, ok := view.Resource(e.Object.Name)
		return ok
	case model.KindVM:
		return len(view.VMsNamed(e.Object.Name)) > 0
	}
	return false
}
