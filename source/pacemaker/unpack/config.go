package unpack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

type role int

const (
	roleUnknown role = iota
	roleStopped
	roleStarted
	roleUnpromoted
	rolePromoted
)

func (r role) String() string {
	switch r {
	case roleStopped:
		return "Stopped"
	case roleStarted:
		return "Started"
	case roleUnpromoted:
		return "Unpromoted"
	case rolePromoted:
		return "Promoted"
	}
	return "Unknown"
}

func textRole(s string) role {
	switch strings.ToLower(s) {
	case "stopped":
		return roleStopped
	case "started":
		return roleStarted
	case "unpromoted", "slave":
		return roleUnpromoted
	case "promoted", "master":
		return rolePromoted
	}
	return roleUnknown
}

type variant int

const (
	native variant = iota
	group
	clone
)

type nodeType int

const (
	nodeMember nodeType = iota
	nodeRemote
	nodePing
)

type node struct {
	id, uname                                       string
	typ                                             nodeType
	online, unclean, unseen, shutdown, standby      bool
	standbyOnFail, maintenance, pending, expectedUp bool
	isDC, unpacked, remoteRequiresReset             bool
	remoteWasFenced, remoteMaintenance              int
	attrs                                           map[string]string
	attrOrder                                       []string
	remoteRsc                                       *resource
	running                                         []*resource
}

func (n *node) guestOrRemote() bool { return n.typ == nodeRemote }
func (n *node) guest() bool {
	return n.typ == nodeRemote && n.remoteRsc != nil && n.remoteRsc.container != nil
}
func (n *node) remote() bool {
	return n.typ == nodeRemote && (n.remoteRsc == nil || n.remoteRsc.container == nil)
}

func (n *node) setAttr(name, value string, overwrite bool) {
	if n.attrs == nil {
		n.attrs = map[string]string{}
	}
	if _, ok := n.attrs[name]; ok && !overwrite {
		return
	}
	if _, ok := n.attrs[name]; !ok {
		n.attrOrder = append(n.attrOrder, name)
	}
	n.attrs[name] = value
}

type resource struct {
	id, xmlID      string
	variant        variant
	el             *element
	parent         *resource
	children       []*resource
	meta           map[string]string
	class          string
	provider, typ  string
	managed        bool
	unique         bool
	promotable     bool
	orphan         bool
	failed         bool
	failureIgnored bool
	blocked        bool
	isRemote       bool
	role, nextRole role
	running        []*node
	pendingTask    string
	pendingNode    *node
	cloneName      string
	container      *resource
	failureTimeout int64
	reconnect      bool
	priority       int
	knownOn        map[*node]bool

	// clones
	cloneMax, totalClones int
	childEl               *element
	partialSource         *node
	partialTarget         *node
	needsFencing          bool
}

func (r *resource) top() *resource {
	for r.parent != nil {
		r = r.parent
	}
	return r
}

func (r *resource) anonClone() bool { return r.variant == clone && !r.unique }

// printable is rsc_printable_id: the configured id for anonymous clone
// instances, the full id otherwise.
func (r *resource) printable() string {
	if r.unique {
		return r.id
	}
	return r.xmlID
}

// world is Pacemaker's working set, reduced to what status needs.
type world struct {
	root           *element
	status         *element
	props          map[string]string
	stonith        bool
	symmetric      bool
	maintenance    bool
	startupFencing bool
	stopOrphans    bool
	haveQuorum     bool
	noQuorum       string
	now            int64
	dcUUID         string
	dcNode         *node
	nodes          []*node
	resources      []*resource
	rscDefaults    []*element
	opDefaults     []*element
	failed         []*element
	failedNode     []*node
	failedRsc      []*resource
	lrm            map[string]map[string]*element // node name -> rsc id -> lrm_resource
	byID           map[string]*resource           // first resource with an id
	byCloneName    map[string][]*resource         // resources by history name
	instances      int                            // primitives created, bounded by MaxInstances
}

// MaxInstances bounds the resources and resource instances (clone
// instances included) one CIB may create: clone-max is the user's number.
const MaxInstances = 200_000

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "on", "yes", "y", "1":
		return true
	}
	return false
}

// nvsets merges the name/value pairs of an element's child sets named
// setName into m without overwriting. Sets are ordered by their score
// (highest first), as pe__unpack_dataset_nvpairs does; sets with rules
// are not supported.
func nvsets(e *element, setName string, m map[string]string, overwrite bool, w *world) error {
	if e == nil {
		return nil
	}
	var sets []*element
	e.each(setName, func(s *element) { sets = append(sets, s) })
	return applySets(sets, m, overwrite, w)
}

func applySets(sets []*element, m map[string]string, overwrite bool, w *world) error {
	type scored struct {
		el    *element
		score int
	}
	var list []scored
	for _, s := range sets {
		if ref := s.attr("id-ref"); ref != "" {
			return fmt.Errorf("%w: attribute set reference %q", ErrUnsupported, ref)
		}
		if s.child("rule") != nil {
			return fmt.Errorf("%w: rule in attribute set %q", ErrUnsupported, s.attr("id"))
		}
		list = append(list, scored{s, score(s.attr("score"))})
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].score > list[j].score })
	for _, s := range list {
		for _, p := range s.el.children {
			if p.name != "nvpair" {
				continue
			}
			name := p.attr("name")
			if name == "" {
				continue
			}
			if _, ok := m[name]; ok && !overwrite {
				continue
			}
			m[name] = p.attr("value")
		}
	}
	return nil
}

const infinity = 1000000

func score(s string) int {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return 0
	case "infinity", "+infinity":
		return infinity
	case "-infinity":
		return -infinity
	case "red":
		return -infinity
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return max(-infinity, min(infinity, n))
}

// numericLess is pcmk__numeric_strcasecmp: case-insensitive, with runs of
// digits compared as numbers.
func numericLess(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			si := i
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			sj := j
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na := strings.TrimLeft(a[si:i], "0")
			nb := strings.TrimLeft(b[sj:j], "0")
			if len(na) != len(nb) {
				if len(na) < len(nb) {
					return -1
				}
				return 1
			}
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			continue
		}
		la, lb := unicode.ToLower(rune(ca)), unicode.ToLower(rune(cb))
		if la != lb {
			if la < lb {
				return -1
			}
			return 1
		}
		i++
		j++
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (w *world) findNode(uname string) *node {
	for _, n := range w.nodes {
		if strings.EqualFold(n.uname, uname) {
			return n
		}
	}
	return nil
}

// findNodeAny is pe_find_node_any: by id first, then by name.
func (w *world) findNodeAny(id, uname string) *node {
	if id != "" {
		for _, n := range w.nodes {
			if strings.EqualFold(n.id, id) {
				return n
			}
		}
	}
	if uname != "" {
		return w.findNode(uname)
	}
	return nil
}

func (w *world) createNode(id, uname, typ string) *node {
	n := &node{id: id, uname: uname, attrs: map[string]string{}}
	switch strings.ToLower(typ) {
	case "", "member":
		n.typ = nodeMember
	case "remote":
		n.typ = nodeRemote
	default:
		n.typ = nodePing
	}
	i := sort.Search(len(w.nodes), func(i int) bool { return numericLess(w.nodes[i].uname, uname) > 0 })
	w.nodes = append(w.nodes, nil)
	copy(w.nodes[i+1:], w.nodes[i:])
	w.nodes[i] = n
	return n
}

func (w *world) startupFence(n *node) {
	if n.typ == nodeRemote && n.remoteRsc == nil {
		return
	}
	n.unclean = w.startupFencing
	n.unseen = true
}

func (w *world) unpackConfig(conf *element) error {
	w.props = map[string]string{}
	if err := nvsets(conf.child("crm_config"), "cluster_property_set", w.props, false, w); err != nil {
		return err
	}
	prop := func(name, def string) string {
		if v, ok := w.props[name]; ok {
			return v
		}
		return def
	}
	w.stonith = isTrue(prop("stonith-enabled", "true"))
	w.symmetric = isTrue(prop("symmetric-cluster", "true"))
	w.maintenance = isTrue(prop("maintenance-mode", "false"))
	w.stopOrphans = isTrue(prop("stop-orphan-resources", "true"))
	w.startupFencing = w.stonith && isTrue(prop("startup-fencing", "true"))
	switch v := strings.ToLower(prop("no-quorum-policy", "stop")); v {
	case "ignore", "freeze", "demote":
		w.noQuorum = v
	case "suicide":
		w.noQuorum = "stop"
		if w.stonith && (w.haveQuorum || w.root.attr("no-quorum-panic") == "1") {
			w.noQuorum = "suicide"
		}
	default:
		w.noQuorum = "stop"
	}
	if isTrue(prop("shutdown-lock", "false")) {
		return fmt.Errorf("%w: shutdown-lock", ErrUnsupported)
	}
	if rd := conf.child("rsc_defaults"); rd != nil {
		rd.each("meta_attributes", func(e *element) { w.rscDefaults = append(w.rscDefaults, e) })
	}
	if od := conf.child("op_defaults"); od != nil {
		od.each("meta_attributes", func(e *element) { w.opDefaults = append(w.opDefaults, e) })
	}
	return nil
}

func (w *world) unpackNodes(nodes *element) error {
	var err error
	nodes.each("node", func(e *element) {
		id := e.attr("id")
		if id == "" || err != nil {
			return
		}
		n := w.createNode(id, e.attr("uname"), e.attr("type"))
		w.startupFence(n)
		err = w.addNodeAttrs(e, n, false)
	})
	return err
}

func (w *world) addNodeAttrs(e *element, n *node, overwrite bool) error {
	n.setAttr("#uname", n.uname, true)
	n.setAttr("#id", n.id, true)
	if strings.EqualFold(n.id, w.dcUUID) && w.dcUUID != "" {
		w.dcNode = n
		n.isDC = true
		n.setAttr("#is_dc", "true", true)
	} else {
		n.setAttr("#is_dc", "false", true)
	}
	if cn, ok := w.props["cluster-name"]; ok {
		n.setAttr("#cluster-name", cn, true)
	}
	m := map[string]string{}
	if e != nil {
		var sets []*element
		e.each("instance_attributes", func(s *element) { sets = append(sets, s) })
		if err := applySets(sets, m, true, w); err != nil {
			return err
		}
		// applySets with overwrite=true lets the last set win; Pacemaker
		// lets the first (highest score) set win unless overwriting an
		// existing table value. Re-apply in order without overwrite.
		m = map[string]string{}
		if err := applySets(sets, m, false, w); err != nil {
			return err
		}
		for _, s := range sets {
			for _, p := range s.children {
				if v, ok := m[p.attr("name")]; ok && p.name == "nvpair" {
					n.setAttr(p.attr("name"), v, overwrite)
				}
			}
		}
	}
	if _, ok := n.attrs["#site-name"]; !ok {
		if v, ok := n.attrs["site-name"]; ok {
			n.setAttr("#site-name", v, true)
		} else if cn, ok := w.props["cluster-name"]; ok {
			n.setAttr("#site-name", cn, true)
		}
	}
	return nil
}

func isRemoteXML(e *element) bool {
	return e.name == "primitive" && strings.EqualFold(e.attr("class"), "ocf") &&
		strings.EqualFold(e.attr("provider"), "pacemaker") && strings.EqualFold(e.attr("type"), "remote")
}

// metaPairs returns the first value of each name in an element's
// meta_attributes, in document order (expand_remote_rsc_meta reads them
// raw).
func metaRaw(e *element, name string) (string, bool) {
	var v string
	found := false
	e.each("meta_attributes", func(s *element) {
		for _, p := range s.children {
			if p.name == "nvpair" && strings.EqualFold(p.attr("name"), name) {
				v, found = p.attr("value"), true
			}
		}
	})
	return v, found
}

// unpackRemoteNodes creates remote and guest nodes; for guest nodes it
// adds the implicit ocf:pacemaker:remote connection primitive to the
// resources, as pe_create_remote_xml does. It returns the resources with
// those primitives added, leaving res itself unchanged.
func (w *world) unpackRemoteNodes(res *element) *element {
	var extra []*element
	guest := func(e *element) {
		name, ok := metaRaw(e, "remote-node")
		if !ok || name == "" {
			return
		}
		if w.configHasID(res, name) || w.configHasIDIn(extra, name) {
			return
		}
		conn := &element{name: "primitive", attrs: attrs("id", name, "class", "ocf", "provider", "pacemaker", "type", "remote")}
		meta := &element{name: "meta_attributes", attrs: attrs("id", name+"-meta_attributes")}
		meta.children = append(meta.children, &element{name: "nvpair", attrs: attrs("name", "container", "value", e.attr("id"))})
		meta.children = append(meta.children, &element{name: "nvpair", attrs: attrs("name", "internal_rsc", "value", "true")})
		if v, ok := metaRaw(e, "remote-allow-migrate"); ok {
			meta.children = append(meta.children, &element{name: "nvpair", attrs: attrs("name", "allow-migrate", "value", v)})
		}
		if v, ok := metaRaw(e, "is-managed"); ok {
			meta.children = append(meta.children, &element{name: "nvpair", attrs: attrs("name", "is-managed", "value", v)})
		}
		conn.children = append(conn.children, meta)
		extra = append(extra, conn)
		if w.findNode(name) == nil {
			w.createNode(name, name, "remote")
		}
	}
	for _, e := range res.children {
		switch {
		case isRemoteXML(e):
			if id := e.attr("id"); id != "" && w.findNode(id) == nil {
				w.createNode(id, id, "remote")
			}
		case e.name == "primitive":
			guest(e)
		case e.name == "group":
			for _, c := range e.children {
				if c.name == "primitive" {
					guest(c)
				}
			}
		}
	}
	if len(extra) == 0 {
		return res
	}
	children := make([]*element, 0, len(res.children)+len(extra))
	children = append(append(children, res.children...), extra...)
	return &element{name: res.name, attrs: res.attrs, children: children}
}

func attrs(kv ...string) []xmlAttr {
	out := make([]xmlAttr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, mkAttr(kv[i], kv[i+1]))
	}
	return out
}

func (w *world) configHasID(res *element, id string) bool {
	found := false
	var walk func(e *element)
	walk = func(e *element) {
		for _, c := range e.children {
			if (c.name == "primitive" || c.name == "group" || c.name == "clone" || c.name == "master" || c.name == "bundle") && c.attr("id") == id {
				found = true
			}
			if c.name == "group" || c.name == "clone" || c.name == "master" {
				walk(c)
			}
		}
	}
	walk(res)
	return found
}

func (w *world) configHasIDIn(list []*element, id string) bool {
	for _, e := range list {
		if e.attr("id") == id {
			return true
		}
	}
	return false
}

// metaFor computes a resource's meta attributes as get_meta_attributes
// does: its own XML attributes and meta sets, then what its parent set
// explicitly, then rsc_defaults, then the rest of the parent's.
func (w *world) metaFor(r *resource, e *element, parentExplicit map[string]string) (map[string]string, map[string]string, error) {
	m := map[string]string{}
	for _, a := range e.attrs {
		m[a.Name.Local] = a.Value
	}
	explicit := map[string]string{}
	if err := nvsets(e, "meta_attributes", explicit, false, w); err != nil {
		return nil, nil, err
	}
	for k, v := range explicit {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	if r.parent != nil {
		for k, v := range parentExplicit {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
	}
	if err := applySets(w.rscDefaults, m, false, w); err != nil {
		return nil, nil, err
	}
	if r.parent != nil {
		for k, v := range r.parent.meta {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
	}
	// A child's explicit set is its own plus its parent's explicit set.
	all := map[string]string{}
	for k, v := range parentExplicit {
		all[k] = v
	}
	for k, v := range explicit {
		all[k] = v
	}
	return m, all, nil
}

// newResource is pe__unpack_resource for primitives, groups and clones.
func (w *world) newResource(e *element, parent *resource, parentExplicit map[string]string, incarnation string) (*resource, error) {
	r := &resource{xmlID: e.attr("id"), id: e.attr("id"), el: e, parent: parent, knownOn: map[*node]bool{}}
	if r.xmlID == "" {
		return nil, nil
	}
	if incarnation != "" {
		r.id = r.xmlID + ":" + incarnation
	}
	if w.byID == nil {
		w.byID = map[string]*resource{}
	}
	w.instances++
	if w.instances > MaxInstances {
		return nil, fmt.Errorf("cib: more than %d resources and resource instances", MaxInstances)
	}
	switch e.name {
	case "primitive":
		r.variant = native
		if e.attr("template") != "" {
			return nil, fmt.Errorf("%w: resource template used by %s", ErrUnsupported, r.xmlID)
		}
		r.class, r.provider, r.typ = e.attr("class"), e.attr("provider"), e.attr("type")
		r.isRemote = isRemoteXML(e)
	case "group":
		r.variant = group
	case "clone", "master":
		r.variant = clone
	case "bundle":
		return nil, fmt.Errorf("%w: bundle %s", ErrUnsupported, r.xmlID)
	default:
		return nil, nil
	}
	meta, explicit, err := w.metaFor(r, e, parentExplicit)
	if err != nil {
		return nil, err
	}
	if incarnation != "" {
		meta["clone"] = incarnation
	}
	r.meta = meta
	if _, ok := w.byID[r.id]; !ok {
		w.byID[r.id] = r
	}
	r.managed = !w.maintenance
	if v, ok := meta["is-managed"]; ok && !strings.EqualFold(v, "default") {
		r.managed = isTrue(v)
	}
	if isTrue(meta["maintenance"]) || w.maintenance {
		r.managed = false
	}
	if top := r.top(); top.variant == clone || (r.variant == clone) {
		cl := r
		for cl != nil && cl.variant != clone {
			cl = cl.parent
		}
		r.unique = isTrue(meta["globally-unique"])
		if isTrue(meta["promotable"]) || (cl != nil && cl.el.name == "master") {
			r.promotable = true
		}
	} else {
		r.unique = true
	}
	r.priority = score(meta["priority"])
	r.role = roleStopped
	if v := meta["failure-timeout"]; v != "" {
		r.failureTimeout = intervalSeconds(v)
	}
	if r.isRemote {
		if v := meta["reconnect_interval"]; v != "" && intervalSeconds(v) > 0 {
			r.reconnect = true
		}
		if v := meta["reconnect-interval"]; v != "" && intervalSeconds(v) > 0 {
			r.reconnect = true
		}
	}
	if r.variant == native {
		switch strings.ToLower(meta["requires"]) {
		case "nothing", "quorum":
		case "":
			r.needsFencing = w.stonith && !strings.EqualFold(r.class, "stonith")
		default:
			r.needsFencing = w.stonith
		}
	}
	switch r.variant {
	case group:
		for _, c := range e.children {
			if c.name != "primitive" {
				continue
			}
			child, err := w.newResource(c, r, explicit, incarnation)
			if err != nil {
				return nil, err
			}
			if child != nil {
				r.children = append(r.children, child)
			}
		}
	case clone:
		if r.el.name == "master" {
			r.promotable = true
		}
		for _, c := range e.children {
			if c.name == "primitive" || c.name == "group" {
				r.childEl = c
				break
			}
			if c.name == "bundle" {
				return nil, fmt.Errorf("%w: bundle in clone %s", ErrUnsupported, r.xmlID)
			}
		}
		if r.childEl == nil {
			return nil, nil
		}
		if v, ok := meta["clone-max"]; ok {
			r.cloneMax = minInt0(v)
		} else {
			r.cloneMax = max(1, len(w.nodes))
		}
		n := max(r.cloneMax, 1)
		if w.instances+n > MaxInstances {
			return nil, fmt.Errorf("cib: clone %s: clone-max %d makes more than %d resources and resource instances", r.xmlID, r.cloneMax, MaxInstances)
		}
		for range n {
			if _, err := w.createCloneChild(r, explicit); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func minInt0(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func (w *world) createCloneChild(r *resource, explicit map[string]string) (*resource, error) {
	orphan := r.totalClones >= r.cloneMax
	inc := strconv.Itoa(r.totalClones)
	if explicit == nil {
		m := map[string]string{}
		if err := nvsets(r.el, "meta_attributes", m, false, w); err != nil {
			return nil, err
		}
		explicit = m
	}
	child, err := w.newResource(r.childEl, r, explicit, inc)
	if err != nil || child == nil {
		return nil, err
	}
	r.totalClones++
	if orphan {
		setOrphan(child)
	}
	r.children = append(r.children, child)
	return child, nil
}

func setOrphan(r *resource) {
	r.orphan = true
	for _, c := range r.children {
		setOrphan(c)
	}
}

// intervalSeconds reads a Pacemaker interval spec ("60", "60s", "1m",
// "PT1M") as seconds; what it cannot read is 0.
func intervalSeconds(s string) int64 {
	ms := intervalMS(s)
	return ms / 1000
}

func intervalMS(s string) int64 {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0
	}
	if strings.HasPrefix(s, "p") {
		return isoDurationMS(s)
	}
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0
	}
	unit := strings.TrimSpace(s[i:])
	switch unit {
	case "", "s", "sec":
		return n * 1000
	case "ms", "msec":
		return n
	case "us", "usec":
		return n / 1000
	case "m", "min":
		return n * 60000
	case "h", "hr":
		return n * 3600000
	}
	return 0
}

func isoDurationMS(s string) int64 {
	var total int64
	inTime := false
	num := int64(0)
	for _, c := range s[1:] {
		switch {
		case c == 't':
			inTime = true
		case c >= '0' && c <= '9':
			num = num*10 + int64(c-'0')
		case c == 'h' && inTime:
			total += num * 3600
			num = 0
		case c == 'm' && inTime:
			total += num * 60
			num = 0
		case c == 's' && inTime:
			total += num
			num = 0
		case c == 'd':
			total += num * 86400
			num = 0
		case c == 'w':
			total += num * 7 * 86400
			num = 0
		default:
			return 0
		}
	}
	return total * 1000
}

func (w *world) unpackResources(res *element) error {
	for _, e := range res.children {
		if e.attr("id") == "" {
			continue
		}
		if e.name == "template" {
			return fmt.Errorf("%w: resource template %s", ErrUnsupported, e.attr("id"))
		}
		r, err := w.newResource(e, nil, nil, "")
		if err != nil {
			return err
		}
		if r != nil {
			w.resources = append(w.resources, r)
		}
	}
	for _, r := range w.resources {
		w.setupContainer(r)
		w.linkRemote(r)
	}
	sort.SliceStable(w.resources, func(i, j int) bool { return w.resources[i].priority > w.resources[j].priority })
	return nil
}

func (w *world) setupContainer(r *resource) {
	if len(r.children) > 0 {
		for _, c := range r.children {
			w.setupContainer(c)
		}
		return
	}
	if id := r.meta["container"]; id != "" && !strings.EqualFold(id, r.id) {
		if c := w.findResource(id); c != nil {
			r.container = c
		}
	}
}

func (w *world) linkRemote(r *resource) {
	if !r.isRemote {
		return
	}
	n := w.findNode(r.id)
	if n == nil {
		return
	}
	n.remoteRsc = r
	if r.container == nil {
		w.startupFence(n)
	} else {
		n.setAttr("#kind", "container", true)
	}
}

// findResource is pe_find_resource: a resource (or descendant) by id,
// or by the history name a clone instance was given (clone_name).
func (w *world) findResource(id string) *resource {
	if r := w.byID[id]; r != nil {
		return r
	}
	for _, r := range w.byCloneName[id] {
		if r.cloneName == id {
			return r
		}
	}
	return nil
}

func (w *world) setCloneName(r *resource, name string) {
	r.cloneName = name
	if name == "" {
		return
	}
	if w.byCloneName == nil {
		w.byCloneName = map[string][]*resource{}
	}
	w.byCloneName[name] = append(w.byCloneName[name], r)
}
