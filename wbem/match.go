package wbem

import "context"

// Matching: which subscriptions want an indication.

// Filter is a parsed indication filter: a WQL or DMTF:CQL query that
// selects from an indication class.
type Filter struct {
	q    *query
	repo *Repository
}

// ParseFilter parses a filter query in language lang over the classes of
// repo. The query must select from a subclass of CIM_Indication; errors
// are *Error values (CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED,
// CIM_ERR_INVALID_QUERY).
func ParseFilter(repo *Repository, lang, text string) (*Filter, error) {
	q, err := parseQuery(lang, text, repo)
	if err != nil {
		return nil, err
	}
	if !repo.IsA(q.class, "CIM_Indication") {
		return nil, Errorf(StatusInvalidQuery, "%s is not an indication class", q.class)
	}
	return &Filter{q: q, repo: repo}, nil
}

// Selects reports whether the indication is of the filter's class (or a
// subclass) and satisfies its WHERE clause.
func (f *Filter) Selects(ind *Instance) bool {
	return f.repo.IsA(ind.ClassName, f.q.class) && (f.q.where == nil || f.q.where.eval(ind))
}

// Subscription is an enabled subscription resolved to its filter and its
// listener destination.
type Subscription struct {
	// FilterName is the filter's Name, sent as IndicationFilterName.
	FilterName string
	// Destination is the listener's URL.
	Destination string
	Filter      *Filter
}

// Subscriptions returns the enabled subscriptions (SubscriptionState
// Enabled, Enabled Degraded or unset) whose filter and destination exist
// and whose query parses. It first removes the instances of owners the
// policy no longer accepts (SubscriptionPolicy.Valid): nothing is
// delivered for them.
func (s *SubscriptionStore) Subscriptions(ctx context.Context) []Subscription {
	s.mu.Lock()
	s.prune(ctx)
	s.mu.Unlock()
	var out []Subscription
	for sub, err := range s.mem.Instances(ctx, s.o.Namespace, ClassIndicationSubscription) {
		if err != nil {
			break
		}
		if st := sub.Property("SubscriptionState"); st != nil && !st.Null && st.Value != "2" && st.Value != "3" {
			continue
		}
		fp, hp := sub.Property("Filter"), sub.Property("Handler")
		if fp == nil || hp == nil || fp.Ref == nil || hp.Ref == nil {
			continue
		}
		f, err1 := s.mem.GetInstance(ctx, fp.Ref)
		h, err2 := s.mem.GetInstance(ctx, hp.Ref)
		if err1 != nil || err2 != nil {
			continue
		}
		q, err := s.parseFilter(f.Property("QueryLanguage").Value, f.Property("Query").Value)
		if err != nil {
			continue
		}
		out = append(out, Subscription{FilterName: f.Property("Name").Value, Destination: h.Property("Destination").Value, Filter: q})
	}
	return out
}

// Match returns the enabled subscriptions whose filter selects ind.
func (s *SubscriptionStore) Match(ctx context.Context, ind *Instance) []Subscription {
	var out []Subscription
	for _, sub := range s.Subscriptions(ctx) {
		if sub.Filter.Selects(ind) {
			out = append(out, sub)
		}
	}
	return out
}

// Subscribed reports whether an enabled subscription delivers to the
// listener at dest.
func (s *SubscriptionStore) Subscribed(ctx context.Context, dest string) bool {
	for _, sub := range s.Subscriptions(ctx) {
		if sub.Destination == dest {
			return true
		}
	}
	return false
}
