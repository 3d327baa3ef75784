// Package hub is the fleet hub: many clusters' mgmtd push their pictures
// and events to it, and it answers across the fleet (which clusters,
// their health and staleness, where a service runs and in which cluster,
// what is on a host whatever cluster it serves, one event stream for
// everything).
//
// The push protocol (POST /api/v1/hub/push over HTTPS with mutual TLS,
// outbound from the cluster; [Push] and [PushReply]) carries, per request,
// the sender's cluster and instance (its view), optionally its whole
// current snapshot, and a run of its events contiguous by sequence. The
// hub stores events idempotently by (cluster, instance, sequence) and
// answers the highest sequence it holds for the pair, so a sender that
// reconnects - to the same hub process or another behind the same load
// balancer - resumes after it. [Pusher] is the sender's side: a bounded
// spool while the hub is unreachable, the loss counted and logged.
//
// [Hub] is one hub process: it keeps the fleet's current pictures in
// memory (indexed, so fleet-wide where and impact answer from memory),
// learns what other hub processes ingested from its [Store] (PostgreSQL,
// package hub/pghub, with LISTEN/NOTIFY) and fans every event out to its
// subscribers in one global order. hub imports the model and the standard
// library only; REST (package rest) serves it.
package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"mgmtd/model"
)

// Push is one request of the push protocol, JSON (gzip allowed).
type Push struct {
	// Cluster and Instance name the sender: the cluster it reports and
	// its view (the node it runs on).
	Cluster  string `json:"cluster"`
	Instance string `json:"instance"`
	// URL is the cluster's own mgmtd, where operators act (the hub never
	// proxies actions).
	URL string `json:"url,omitempty"`
	// Snapshot, when set, replaces the cluster's picture at the hub. A
	// sender sends it on every connection and then whenever the
	// generation changed, at most once per its snapshot interval.
	Snapshot *model.Snapshot `json:"snapshot,omitempty"`
	// Events are the sender's events in ascending, contiguous sequence,
	// starting after what the hub acknowledged (or later, when the
	// sender's spool dropped some: Lost says how many so far).
	Events []model.Event `json:"events,omitempty"`
	// Lost is how many events the sender dropped in all (spool full).
	Lost uint64 `json:"lost,omitempty"`
	// Sent is the sender's clock at sending.
	Sent time.Time `json:"sent"`
}

// PushReply is the hub's answer to a push.
type PushReply struct {
	// LastSeq is the highest sequence the hub holds for (cluster,
	// instance): the sender resumes after it.
	LastSeq uint64 `json:"last_seq"`
	// Stored counts the events of this push that were new.
	Stored int `json:"stored"`
}

// Limits of one push.
const (
	MaxPushEvents = 5000
	MaxPushBytes  = 64 << 20 // decoded JSON
	maxName       = 255
)

// ErrInvalid is wrapped by the errors of a push the hub refuses as
// malformed (a front-end's 400).
var ErrInvalid = errors.New("invalid push")

// Validate checks a push before it is stored.
func (p *Push) Validate() error {
	if err := validName("cluster", p.Cluster); err != nil {
		return err
	}
	if err := validName("instance", p.Instance); err != nil {
		return err
	}
	if len(p.URL) > 2048 || strings.IndexByte(p.URL, 0) >= 0 {
		return fmt.Errorf("%w: url too long or with NUL", ErrInvalid)
	}
	if len(p.Events) > MaxPushEvents {
		return fmt.Errorf("%w: %d events, at most %d", ErrInvalid, len(p.Events), MaxPushEvents)
	}
	if p.Snapshot != nil && p.Snapshot.Cluster.Name != p.Cluster {
		return fmt.Errorf("%w: snapshot of cluster %q in a push for %q", ErrInvalid, p.Snapshot.Cluster.Name, p.Cluster)
	}
	var prev uint64
	for i, e := range p.Events {
		switch {
		case e.Seq == 0:
			return fmt.Errorf("%w: event %d without a sequence", ErrInvalid, i)
		case e.Seq <= prev:
			return fmt.Errorf("%w: event sequences not ascending (%d after %d)", ErrInvalid, e.Seq, prev)
		case e.Object.Cluster != "" && e.Object.Cluster != p.Cluster:
			return fmt.Errorf("%w: event %d is about cluster %q", ErrInvalid, e.Seq, e.Object.Cluster)
		case e.Published.IsZero():
			return fmt.Errorf("%w: event %d without a publication time", ErrInvalid, e.Seq)
		case strings.IndexByte(e.Object.Name, 0) >= 0 || strings.IndexByte(e.Node, 0) >= 0 || !utf8.ValidString(e.Message):
			return fmt.Errorf("%w: event %d has a NUL or invalid UTF-8", ErrInvalid, e.Seq)
		}
		prev = e.Seq
	}
	return nil
}

func validName(key, s string) error {
	if s == "" || len(s) > maxName || strings.ContainsAny(s, "\x00/:\t\r\n ") || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s %q: 1 to %d bytes, no whitespace, '/' or ':'", ErrInvalid, key, s, maxName)
	}
	return nil
}

// FleetEvent is one event as the fleet stores and streams it: its place
// in the fleet's order (ID, assigned by the store in commit order), and
// who sent it.
type FleetEvent struct {
	ID       int64  `json:"id"`
	Cluster  string `json:"cluster"`
	Instance string `json:"instance"`
	model.Event
}

// ClusterRecord is what the store keeps about a cluster besides its
// events: who pushes it, when it last did, and its newest picture.
type ClusterRecord struct {
	Name        string
	Instance    string
	URL         string
	LastContact time.Time // the hub's clock at the newest push
	Lost        uint64    // the sender's lost events, as it reported
	Snapshot    *model.Snapshot
}

// IngestResult is what a store did with a push.
type IngestResult struct {
	PushReply
	// MaxID is the fleet ID of the newest event stored (0: none).
	MaxID int64
}

// Store keeps the fleet: clusters with their newest picture, and every
// event by (cluster, instance, sequence). Several hub processes share one;
// implementations are safe for concurrent use.
type Store interface {
	// Ingest stores a push in one transaction: the cluster's contact
	// time (now), its picture when the push carries one, the events not
	// yet stored (others are skipped: a push is retried after a lost
	// answer), and tells every hub process (Listen).
	Ingest(ctx context.Context, p *Push, now time.Time) (IngestResult, error)
	// Clusters returns every cluster with its newest picture.
	Clusters(ctx context.Context) ([]ClusterRecord, error)
	// Cluster returns one cluster (false when unknown).
	Cluster(ctx context.Context, name string) (ClusterRecord, bool, error)
	// EventsAfter returns up to limit events with an ID above id, in ID
	// order; IDs become visible in order (no event with a lower ID
	// commits later).
	EventsAfter(ctx context.Context, id int64, limit int) ([]FleetEvent, error)
	// LastID is the highest event ID stored (0: none).
	LastID(ctx context.Context) (int64, error)
	// Listen calls changed for every ingest of another hub process
	// until the connection fails (an error) or ctx ends (nil). ready is
	// called once the store listens.
	Listen(ctx context.Context, ready func(), changed func(Change)) error
}

// Change is what a hub process learns of another's ingest.
type Change struct {
	Cluster string
	// Contact is the ingest's time (the cluster's last contact).
	Contact time.Time
	// Snapshot says the push carried a new picture (read it from the
	// store); without one only the contact time changed.
	Snapshot bool
}
