package cim

import (
	"context"
	"net/netip"

	"mgmtd/wbem"
)

// IndicationsFollowing reports whether RunIndications follows the event
// log, so that a test may change the model and expect indications.
func IndicationsFollowing(p *ModelProvider) bool { return p.following.Load() }

// OpenPolicy is the subscription policy of the tests that are not about
// it: every caller may manage subscriptions, every owner stays valid.
type OpenPolicy struct{}

// Manage allows.
func (OpenPolicy) Manage(context.Context, wbem.Principal, string) error { return nil }

// Credential keeps the owner.
func (OpenPolicy) Credential(p wbem.Principal) string { return p.Owner() }

// Valid accepts.
func (OpenPolicy) Valid(context.Context, string, string) error { return nil }

// Removed ignores.
func (OpenPolicy) Removed(context.Context, string, []string, error) {}

// LoopbackHTTP lets the tests' listeners on 127.0.0.1 be destinations.
var LoopbackHTTP = wbem.DestinationRules{Schemes: []string{"http"}, Nets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
