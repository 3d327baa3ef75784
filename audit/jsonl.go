package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// TimeLayout is how record times appear in exports: RFC 3339, UTC, exactly
// microseconds.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// jsonRecord is one line of the JSON Lines form of a record, used by the
// journal, the JSON Lines export and the import that verify reads.
type jsonRecord struct {
	Instance   string          `json:"instance"`
	Seq        uint64          `json:"seq"`
	Time       string          `json:"time"`
	Actor      string          `json:"actor"`
	AuthMethod string          `json:"auth_method"`
	Roles      []string        `json:"roles"`
	Channel    Channel         `json:"channel"`
	Source     string          `json:"source"`
	RequestID  string          `json:"request_id"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	Outcome    Outcome         `json:"outcome"`
	Reason     string          `json:"reason"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// MarshalJSONL returns r as one JSON Lines line, newline included. The
// before/after states appear as the JSON values they are, byte for byte.
func (r *Record) MarshalJSONL() []byte {
	roles := r.Roles
	if roles == nil {
		roles = []string{}
	}
	j := jsonRecord{
		Instance: r.Instance, Seq: r.Seq, Time: r.Time.UTC().Format(TimeLayout),
		Actor: r.Actor, AuthMethod: r.AuthMethod, Roles: roles, Channel: r.Channel,
		Source: r.Source, RequestID: r.RequestID, Action: r.Action,
		ObjectType: r.ObjectType, ObjectID: r.ObjectID, Outcome: r.Outcome, Reason: r.Reason,
		Before: r.Before, After: r.After,
		PrevHash: hex.EncodeToString(r.PrevHash[:]), Hash: hex.EncodeToString(r.Hash[:]),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&j); err != nil {
		// Only invalid Before/After JSON can fail, and stored records
		// are validated; a failure here is a programming error.
		panic(fmt.Sprintf("audit: marshal record %s/%d: %v", r.Instance, r.Seq, err))
	}
	return buf.Bytes()
}

// ParseJSONL parses one JSON Lines line (without or with its newline) into a
// record. Unknown fields, a malformed time or hash, or an event that does not
// pass [Event.Validate] are errors. The hash is not checked: that is
// [Verify]'s job.
func ParseJSONL(line []byte) (Record, error) {
	var j jsonRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Record{}, fmt.Errorf("parse record: %w", err)
	}
	if dec.More() {
		return Record{}, fmt.Errorf("parse record: trailing data")
	}
	t, err := time.Parse(TimeLayout, j.Time)
	if err != nil {
		return Record{}, fmt.Errorf("parse record time: %w", err)
	}
	r := Record{
		Event: Event{
			Actor: j.Actor, AuthMethod: j.AuthMethod, Roles: j.Roles, Action: j.Action,
			Time: t.UTC(), Channel: j.Channel, Source: j.Source, RequestID: j.RequestID,
			ObjectType: j.ObjectType, ObjectID: j.ObjectID, Outcome: j.Outcome, Reason: j.Reason,
			Before: nullState(j.Before), After: nullState(j.After),
		},
		Instance: j.Instance, Seq: j.Seq,
	}
	if r.PrevHash, err = parseHash(j.PrevHash); err != nil {
		return Record{}, fmt.Errorf("parse record prev_hash: %w", err)
	}
	if r.Hash, err = parseHash(j.Hash); err != nil {
		return Record{}, fmt.Errorf("parse record hash: %w", err)
	}
	if err := r.Event.Validate(); err != nil {
		return Record{}, fmt.Errorf("parse record %s/%d: %w", r.Instance, r.Seq, err)
	}
	if err := validText("instance", r.Instance); err != nil || r.Instance == "" || r.Seq == 0 || r.Seq > 1<<63-1 {
		return Record{}, fmt.Errorf("parse record: %w: instance and seq 1..2^63-1 are required", ErrInvalid)
	}
	for _, s := range []json.RawMessage{r.Before, r.After} {
		if s != nil && !bytes.Equal(compactState(s), s) {
			return Record{}, fmt.Errorf("parse record %s/%d: %w: before/after not in stored (compact) form", r.Instance, r.Seq, ErrInvalid)
		}
	}
	return r, nil
}

func nullState(b json.RawMessage) json.RawMessage {
	if b == nil || string(b) == "null" {
		return nil
	}
	return b
}

func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("want 64 hex digits, got %d characters", len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, err
	}
	return h, nil
}

// jsonAnchor is the JSON Lines form of an anchor.
type jsonAnchor struct {
	Instance  string `json:"instance"`
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
	Time      string `json:"time"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"`
}

// MarshalJSONL returns a as one JSON Lines line, newline included.
func (a *Anchor) MarshalJSONL() []byte {
	b, err := json.Marshal(jsonAnchor{
		Instance: a.Instance, Seq: a.Seq, Hash: hex.EncodeToString(a.Hash[:]),
		Time: a.Time.UTC().Format(TimeLayout), KeyID: a.KeyID,
		PublicKey: base64.StdEncoding.EncodeToString(a.PublicKey),
		Signature: base64.StdEncoding.EncodeToString(a.Signature),
	})
	if err != nil {
		panic(fmt.Sprintf("audit: marshal anchor: %v", err)) // only strings and ints
	}
	return append(b, '\n')
}

// ParseAnchorJSONL parses one line written by [Anchor.MarshalJSONL]. The
// signature is not checked: that is [Anchor.Check]'s job.
func ParseAnchorJSONL(line []byte) (Anchor, error) {
	var j jsonAnchor
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Anchor{}, fmt.Errorf("parse anchor: %w", err)
	}
	t, err := time.Parse(TimeLayout, j.Time)
	if err != nil {
		return Anchor{}, fmt.Errorf("parse anchor time: %w", err)
	}
	a := Anchor{Instance: j.Instance, Seq: j.Seq, Time: t.UTC(), KeyID: j.KeyID}
	if a.Hash, err = parseHash(j.Hash); err != nil {
		return Anchor{}, fmt.Errorf("parse anchor hash: %w", err)
	}
	if a.PublicKey, err = base64.StdEncoding.DecodeString(j.PublicKey); err != nil {
		return Anchor{}, fmt.Errorf("parse anchor public key: %w", err)
	}
	if a.Signature, err = base64.StdEncoding.DecodeString(j.Signature); err != nil {
		return Anchor{}, fmt.Errorf("parse anchor signature: %w", err)
	}
	return a, nil
}
