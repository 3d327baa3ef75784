package wbem

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/wbem/wbemtest"
)

func pathOfFilter(name string) *InstancePath {
	p := subscriptionRef(ClassIndicationFilter, name)
	p.Namespace = "interop"
	return p
}

// TestSubscriptionOwnership: the policy decides who manages
// subscriptions; each instance belongs to its creator: another caller may
// neither delete it nor build a subscription on it, an administrator may
// delete it.
func TestSubscriptionOwnership(t *testing.T) {
	s := newStore(t, nil)
	filter := func(name string) *Instance {
		return &Instance{ClassName: ClassIndicationFilter, Properties: []Property{sprop("Name", name), sprop("Query", "SELECT * FROM CIM_Indication")}}
	}
	if _, err := s.CreateInstance(as("viewer"), "interop", filter("v")); statusOf(err).Status != StatusAccessDenied ||
		!strings.Contains(err.Error(), "viewer may not manage indication subscriptions") {
		t.Errorf("viewer creates: %v", err)
	}
	if _, err := s.CreateInstance(context.Background(), "interop", filter("anon")); statusOf(err).Status != StatusAccessDenied {
		t.Errorf("no caller creates: %v", err)
	}
	subscribeAs(t, as("alice"), s, "a", "SELECT * FROM CIM_Indication", "http://127.0.0.1:9/")
	// bob may not use alice's filter and destination ...
	sub := &Instance{ClassName: ClassIndicationSubscription, Properties: []Property{refp("Filter", subscriptionRef(ClassIndicationFilter, "a")),
		refp("Handler", subscriptionRef(ClassListenerDestinationCIMXML, "a-dest"))}}
	if _, err := s.CreateInstance(as("bob"), "interop", sub); statusOf(err).Status != StatusAccessDenied {
		t.Errorf("bob subscribes with alice's filter: %v", err)
	}
	// ... nor delete them; root (an administrator) may.
	var subPath *InstancePath
	for in := range s.Instances(context.Background(), "interop", ClassIndicationSubscription) {
		subPath, _ = s.o.Classes.PathOf("interop", in)
	}
	if err := s.DeleteInstance(as("bob"), subPath); statusOf(err).Status != StatusAccessDenied {
		t.Errorf("bob deletes alice's subscription: %v", err)
	}
	if err := s.DeleteInstance(as("root"), subPath); err != nil {
		t.Errorf("root deletes alice's subscription: %v", err)
	}
	if err := s.DeleteInstance(as("alice"), pathOfFilter("a")); err != nil {
		t.Errorf("alice deletes her filter: %v", err)
	}
}

// TestSubscriptionOwnerRevoked: when the policy no longer accepts an
// owner, its instances (and subscriptions using them) are removed before
// the next delivery, persisted, and reported; at start, the same for the
// owners of the file, and for instances of a file without owners.
func TestSubscriptionOwnerRevoked(t *testing.T) {
	file := filepath.Join(t.TempDir(), "subscriptions.json")
	pol := &testPolicy{}
	s := newStore(t, func(o *SubscriptionOptions) { o.File, o.Policy = file, pol })
	subscribeAs(t, as("alice"), s, "a", "SELECT * FROM CIM_Indication", "http://127.0.0.1:9/a")
	subscribeAs(t, as("bob"), s, "b", "SELECT * FROM CIM_Indication", "http://127.0.0.1:9/b")
	pol.revoke("id:alice")
	if subs := s.Subscriptions(context.Background()); len(subs) != 1 || subs[0].FilterName != "b" {
		t.Fatalf("after alice's revocation: %+v", subs)
	}
	if s.Subscribed(context.Background(), "http://127.0.0.1:9/a") {
		t.Error("alice's destination still wanted")
	}
	for _, c := range []string{ClassIndicationFilter, ClassListenerDestinationCIMXML, ClassIndicationSubscription} {
		if n := count(s, c); n != 1 {
			t.Errorf("%s: %d instances left", c, n)
		}
	}
	if strings.Join(pol.removed, "; ") != "id:alice: 3 (revoked)" {
		t.Errorf("removals reported: %q", pol.removed)
	}
	// At start: bob is revoked meanwhile.
	pol2 := &testPolicy{}
	pol2.revoke("id:bob")
	s2 := newStore(t, func(o *SubscriptionOptions) { o.File, o.Policy = file, pol2 })
	if n := len(s2.all(context.Background())); n != 0 || strings.Join(pol2.removed, "; ") != "id:bob: 3 (revoked)" {
		t.Errorf("at start: %d instances, removals %q", n, pol2.removed)
	}
	// A file of the version before owners: nothing of it is kept.
	old, err := os.ReadFile(filepath.Join("testdata", "subscriptions", "created.json"))
	must(t, err)
	var kept []string
	for _, l := range strings.Split(string(old), "\n") {
		if !strings.Contains(l, `"owner"`) && !strings.Contains(l, `"credential"`) {
			kept = append(kept, l)
		}
	}
	unowned := strings.ReplaceAll(strings.Join(kept, "\n"), "],\n    }", "]\n    }")
	must(t, os.WriteFile(file, []byte(unowned), 0o600))
	pol3 := &testPolicy{}
	s3 := newStore(t, func(o *SubscriptionOptions) { o.File, o.Policy = file, pol3 })
	if n := len(s3.all(context.Background())); n != 0 || len(pol3.removed) != 1 || !strings.HasPrefix(pol3.removed[0], ": 3 (") {
		t.Errorf("file without owners: %d instances, removals %q", n, pol3.removed)
	}
}

// TestSubscriptionDestinations: listener destinations only where the
// rules allow: nothing without rules, never link-local or metadata
// addresses, only the listed schemes, names and networks; and delivery
// dials only allowed addresses.
func TestSubscriptionDestinations(t *testing.T) {
	wide, err := ParseDestinationRules([]string{"https"}, []string{"0.0.0.0/0", "::/0", "nms.example"})
	must(t, err)
	for _, tc := range []struct {
		rules DestinationRules
		url   string
		ok    bool
	}{
		{DestinationRules{}, "https://127.0.0.1/", false},
		{wide, "https://10.1.2.3:5989/", true},
		{wide, "https://nms.example/listener", true},
		{wide, "https://NMS.example./listener", true},
		{wide, "https://other.example/", false},
		{wide, "http://10.1.2.3/", false},
		{wide, "https://169.254.169.254/latest/meta-data/", false},
		{wide, "https://[::ffff:169.254.169.254]/", false},
		{wide, "https://[fe80::1]/", false},
		{wide, "https://[fd00:ec2::254]/", false},
		{wide, "https://0.0.0.0/", false},
		{wide, "https://user:pw@10.1.2.3/", false},
		{wide, "file:///etc/passwd", false},
		{testDestinations, "http://127.0.0.1:9/", true},
		{testDestinations, "http://127.0.0.2:9/", false},
	} {
		if err := tc.rules.CheckURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("%s with %+v: %v", tc.url, tc.rules, err)
		}
	}
	if _, err := ParseDestinationRules([]string{"ftp"}, nil); err == nil {
		t.Error("ftp accepted")
	}
	// A destination allowed by name that resolves to a refused address
	// is not dialled: the indication is dropped, not retried.
	l := &wbemtest.Listener{}
	ts := httptest.NewServer(l)
	t.Cleanup(ts.Close)
	named, err := ParseDestinationRules([]string{"http"}, []string{"10.0.0.0/8"})
	must(t, err)
	ctx, d := startDelivery(t, DeliveryOptions{Destinations: &named, RetryMin: time.Millisecond})
	d.Enqueue(ctx, ts.URL, alert(1))
	testutil.Eventually(t, 10*time.Second, func() bool { return stats(d).Dropped == 1 }, "the indication is dropped")
	if len(l.Received()) != 0 {
		t.Error("posted to a refused address")
	}
}

// TestSubscriptionLimits: instances per owner and in all are bounded.
func TestSubscriptionLimits(t *testing.T) {
	s := newStore(t, func(o *SubscriptionOptions) { o.MaxPerOwner, o.MaxTotal = 2, 3 })
	create := func(who, name string) error {
		_, err := s.CreateInstance(as(who), "interop", &Instance{ClassName: ClassIndicationFilter,
			Properties: []Property{sprop("Name", name), sprop("Query", "SELECT * FROM CIM_Indication")}})
		return err
	}
	must(t, create("alice", "a1"))
	must(t, create("alice", "a2"))
	if err := create("alice", "a3"); statusOf(err).Status != StatusServerLimitsExceeded {
		t.Errorf("third of alice: %v", err)
	}
	must(t, create("bob", "b1"))
	if err := create("carol", "c1"); statusOf(err).Status != StatusServerLimitsExceeded {
		t.Errorf("fourth in all: %v", err)
	}
}

// TestSubscriptionPolicyRequired: a store without a policy is a
// construction error, never "everyone may subscribe".
func TestSubscriptionPolicyRequired(t *testing.T) {
	interop, source := subscriptionRepos(t)
	if _, err := NewSubscriptionStore(SubscriptionOptions{Namespace: "interop", Classes: interop, SourceNamespace: model, Source: source}); err == nil {
		t.Error("a store without a policy")
	}
}
