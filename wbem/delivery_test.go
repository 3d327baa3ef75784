package wbem

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mgmtd/internal/testutil"
	"mgmtd/wbem/wbemtest"
)

// startDelivery returns a Delivery whose goroutines end with the test.
func startDelivery(t *testing.T, o DeliveryOptions) (context.Context, *Delivery) {
	t.Helper()
	d := NewDelivery(o)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		d.Wait()
	})
	return ctx, d
}

func alert(i int) *Instance {
	return &Instance{ClassName: "CIM_AlertIndication", Properties: []Property{
		{Name: "IndicationIdentifier", Type: "string", Value: "alert-" + strconv.Itoa(i)},
		{Name: "Message", Type: "string", Value: `node "hv1" & <left>`}}}
}

func stats(d *Delivery) DestinationStats {
	if st := d.Stats(); len(st) == 1 {
		return st[0]
	}
	return DestinationStats{}
}

var (
	seqNumberRE  = regexp.MustCompile(`<PROPERTY NAME="SequenceNumber" TYPE="sint64"><VALUE>(\d+)</VALUE>`)
	seqContextRE = regexp.MustCompile(`<PROPERTY NAME="SequenceContext" TYPE="string"><VALUE>(mgmtd-[0-9a-f]+)</VALUE>`)
)

// TestDeliveryRetry: an overloaded listener (503) gets the indications
// again, in order, numbered from 1 without gaps in one sequence context.
func TestDeliveryRetry(t *testing.T) {
	l := &wbemtest.Listener{Busy: 2}
	ts := httptest.NewServer(l)
	t.Cleanup(ts.Close)
	ctx, d := startDelivery(t, DeliveryOptions{RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	for i := range 3 {
		d.Enqueue(ctx, ts.URL, alert(i))
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return stats(d).Delivered == 3 }, "three deliveries")
	got := l.Received()
	contexts := map[string]bool{}
	for i, b := range got {
		wbemtest.CheckClientSafe(t, b)
		if m := seqNumberRE.FindStringSubmatch(b); m == nil || m[1] != strconv.Itoa(i+1) {
			t.Errorf("indication %d has SequenceNumber %v", i+1, m)
		}
		if !strings.Contains(b, "<VALUE>alert-"+strconv.Itoa(i)+"</VALUE>") || !strings.Contains(b, `<EXPMETHODCALL NAME="ExportIndication">`) {
			t.Errorf("indication %d:\n%s", i+1, b)
		}
		if m := seqContextRE.FindStringSubmatch(b); m != nil {
			contexts[m[1]] = true
		}
	}
	if len(got) != 3 || len(contexts) != 1 {
		t.Errorf("%d indications in %d sequence contexts", len(got), len(contexts))
	}
	if st := stats(d); st.Failures != 2 || st.Dropped != 0 || st.Queued != 0 || !strings.Contains(st.LastError, "503") {
		t.Errorf("stats %+v", st)
	}
}

// TestDeliveryQueueBound: with the listener down, the queue keeps the
// newest QueueSize indications and counts the dropped ones.
func TestDeliveryQueueBound(t *testing.T) {
	ctx, d := startDelivery(t, DeliveryOptions{QueueSize: 3, RetryMin: time.Hour, RetryMax: time.Hour}) // never retried during the test
	dest := "http://" + testutil.FreeAddr(t) + "/"
	for i := range 8 {
		d.Enqueue(ctx, dest, alert(i))
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		st := stats(d)
		return st.Failures == 1 && st.Queued == 3
	}, "one failed attempt and a full queue")
	if st := stats(d); st.Dropped != 5 || st.Delivered != 0 || st.Destination != dest {
		t.Errorf("stats %+v", st)
	}
}

// TestDeliveryRefused: a 4xx answer or a CIM ERROR drops the indication
// instead of retrying it.
func TestDeliveryRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"4xx", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusForbidden) }, "answered 403"},
		{"cim error", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			_, _ = io.WriteString(w, `<CIM><MESSAGE><SIMPLEEXPRSP><EXPMETHODRESPONSE><ERROR CODE="1"/></EXPMETHODRESPONSE></SIMPLEEXPRSP></MESSAGE></CIM>`)
		}, "answered a CIM error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(tc.h)
			t.Cleanup(ts.Close)
			ctx, d := startDelivery(t, DeliveryOptions{RetryMin: time.Hour, RetryMax: time.Hour})
			d.Enqueue(ctx, ts.URL, alert(1))
			d.Enqueue(ctx, ts.URL, alert(2))
			testutil.Eventually(t, 20*time.Second, func() bool { return stats(d).Dropped == 2 }, "two refusals")
			if st := stats(d); st.Failures != 0 || st.Delivered != 0 || st.Queued != 0 || !strings.Contains(st.LastError, tc.want) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestDeliveryUnwanted: what is queued for a destination no subscription
// sends to any more is dropped unsent.
func TestDeliveryUnwanted(t *testing.T) {
	l := &wbemtest.Listener{}
	ts := httptest.NewServer(l)
	t.Cleanup(ts.Close)
	ctx, d := startDelivery(t, DeliveryOptions{Wanted: func(context.Context, string) bool { return false }})
	d.Enqueue(ctx, ts.URL, alert(1))
	testutil.Eventually(t, 20*time.Second, func() bool { st := stats(d); return st.Dropped == 1 && st.Queued == 0 }, "the drop")
	if n := len(l.Received()); n != 0 {
		t.Errorf("%d indications sent", n)
	}
}

// TestPublish: an indication goes to the destinations of the
// subscriptions whose filter selects it, with IndicationFilterName.
func TestPublish(t *testing.T) {
	l := &wbemtest.Listener{}
	ts := httptest.NewServer(l)
	t.Cleanup(ts.Close)
	s := newStore(t, nil)
	subscribeTo(t, s, "critical", "SELECT * FROM CIM_Indication WHERE PerceivedSeverity = 6", ts.URL)
	subscribeTo(t, s, "other", "SELECT * FROM CIM_AlertIndication WHERE IndicationIdentifier = 'alert-1' OR NOT PerceivedSeverity < 7", ts.URL)
	subscribeTo(t, s, "elsewhere", "SELECT * FROM CIM_AlertIndication", "http://"+testutil.FreeAddr(t)+"/")
	ctx, d := startDelivery(t, DeliveryOptions{Wanted: s.Subscribed})
	in := alert(2)
	in.Properties = append(in.Properties, Property{Name: "PerceivedSeverity", Type: "uint16", Value: "6"})
	var names []string
	var critical []Subscription
	for _, sub := range s.Match(ctx, in) {
		names = append(names, sub.FilterName)
		if sub.FilterName == "critical" {
			critical = append(critical, sub)
		}
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "critical,elsewhere" {
		t.Fatalf("matched %v", names)
	}
	d.Publish(ctx, critical, in)
	testutil.Eventually(t, 20*time.Second, func() bool { return len(l.Received()) == 1 }, "the indication")
	if b := l.Received()[0]; !strings.Contains(b, `<PROPERTY NAME="IndicationFilterName" TYPE="string"><VALUE>critical</VALUE></PROPERTY>`) {
		t.Errorf("no IndicationFilterName:\n%s", b)
	}
}
