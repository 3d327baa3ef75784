package wbem

import (
	"context"
	"iter"
	"strconv"
	"strings"
	"unicode"

	"mgmtd/wbem/cimxml"
)

// The query subset understood by ExecQuery and OpenQueryInstances, for
// both "WQL" and "DMTF:CQL":
//
//	SELECT * | prop {, prop} FROM Class [WHERE cond]
//	cond := cond OR cond | cond AND cond | NOT cond | ( cond )
//	      | prop op literal | literal op prop | prop IS [NOT] NULL
//	op   := = | <> | != | < | <= | > | >=
//	literal := 'string' | "string" | number | TRUE | FALSE | NULL
//
// Instances of Class and its subclasses are tested; comparisons with NULL
// or array properties are false. Strings compare byte-wise, numbers
// numerically.
type query struct {
	class string
	props []string // nil: all
	where cond
}

type cond interface {
	eval(in *Instance) bool
}

type qlit struct {
	kind byte // 's' string, 'n' number, 'b' boolean, '0' NULL
	s    string
	n    float64
	b    bool
}

type cmpCond struct {
	prop string
	op   string
	lit  qlit
}

type nullCond struct {
	prop string
	not  bool
}

type andCond struct{ a, b cond }
type orCond struct{ a, b cond }
type notCond struct{ a cond }

func (c andCond) eval(in *Instance) bool { return c.a.eval(in) && c.b.eval(in) }
func (c orCond) eval(in *Instance) bool  { return c.a.eval(in) || c.b.eval(in) }
func (c notCond) eval(in *Instance) bool { return !c.a.eval(in) }

func (c nullCond) eval(in *Instance) bool {
	p := in.Property(c.prop)
	isNull := p == nil || p.Null
	return isNull != c.not
}

func cmpResult(op string, d int) bool {
	switch op {
	case "=":
		return d == 0
	case "<>", "!=":
		return d != 0
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	case ">":
		return d > 0
	case ">=":
		return d >= 0
	}
	return false
}

func (c cmpCond) eval(in *Instance) bool {
	p := in.Property(c.prop)
	if p == nil || p.Null || p.Array || p.Type == cimxml.TypeReference {
		return false
	}
	switch c.lit.kind {
	case 'n':
		v, err := strconv.ParseFloat(strings.TrimSpace(p.Value), 64)
		if err != nil {
			return false
		}
		d := 0
		if v < c.lit.n {
			d = -1
		} else if v > c.lit.n {
			d = 1
		}
		return cmpResult(c.op, d)
	case 'b':
		if c.op != "=" && c.op != "<>" && c.op != "!=" {
			return false
		}
		v := strings.EqualFold(strings.TrimSpace(p.Value), "true")
		return cmpResult(c.op, map[bool]int{true: 0, false: 1}[v == c.lit.b])
	case 's':
		return cmpResult(c.op, strings.Compare(p.Value, c.lit.s))
	}
	return false
}

type qtok struct {
	kind byte // 'i' ident, 's' string, 'n' number, 'o' operator/punct
	s    string
}

func lexQuery(text string) ([]qtok, error) {
	var toks []qtok
	r := []rune(text)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '\'' || c == '"':
			var sb strings.Builder
			j := i + 1
			for {
				if j >= len(r) {
					return nil, Errorf(StatusInvalidQuery, "unterminated string")
				}
				if r[j] == c {
					if j+1 < len(r) && r[j+1] == c {
						sb.WriteRune(c)
						j += 2
						continue
					}
					break
				}
				sb.WriteRune(r[j])
				j++
			}
			toks = append(toks, qtok{'s', sb.String()})
			i = j + 1
		case unicode.IsDigit(c) || ((c == '-' || c == '+') && i+1 < len(r) && unicode.IsDigit(r[i+1])):
			j := i + 1
			for j < len(r) && (unicode.IsDigit(r[j]) || r[j] == '.' || r[j] == 'e' || r[j] == 'E' ||
				((r[j] == '-' || r[j] == '+') && (r[j-1] == 'e' || r[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, qtok{'n', string(r[i:j])})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i + 1
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_') {
				j++
			}
			toks = append(toks, qtok{'i', string(r[i:j])})
			i = j
		default:
			two := ""
			if i+1 < len(r) {
				two = string(r[i : i+2])
			}
			switch two {
			case "<>", "!=", "<=", ">=":
				toks = append(toks, qtok{'o', two})
				i += 2
				continue
			}
			if strings.ContainsRune("=<>(),*", c) {
				toks = append(toks, qtok{'o', string(c)})
				i++
				continue
			}
			return nil, Errorf(StatusInvalidQuery, "unexpected character %q", c)
		}
	}
	return toks, nil
}

type qparser struct {
	toks []qtok
	pos  int
	cls  *Class
}

func (p *qparser) peek() qtok {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return qtok{}
}

func (p *qparser) keyword(k string) bool {
	if t := p.peek(); t.kind == 'i' && strings.EqualFold(t.s, k) {
		p.pos++
		return true
	}
	return false
}

func (p *qparser) punct(s string) bool {
	if t := p.peek(); t.kind == 'o' && t.s == s {
		p.pos++
		return true
	}
	return false
}

func (p *qparser) ident() (string, error) {
	t := p.peek()
	if t.kind != 'i' {
		return "", Errorf(StatusInvalidQuery, "identifier expected near %q", t.s)
	}
	p.pos++
	return t.s, nil
}

func (p *qparser) property() (string, error) {
	name, err := p.ident()
	if err != nil {
		return "", err
	}
	d := propertyOf(p.cls, name)
	if d == nil {
		return "", Errorf(StatusInvalidQuery, "class %s has no property %s", p.cls.Name, name)
	}
	return d.Name, nil
}

func (p *qparser) or() (cond, error) {
	a, err := p.and()
	for err == nil && p.keyword("OR") {
		var b cond
		if b, err = p.and(); err == nil {
			a = orCond{a, b}
		}
	}
	return a, err
}

func (p *qparser) and() (cond, error) {
	a, err := p.not()
	for err == nil && p.keyword("AND") {
		var b cond
		if b, err = p.not(); err == nil {
			a = andCond{a, b}
		}
	}
	return a, err
}

func (p *qparser) not() (cond, error) {
	if p.keyword("NOT") {
		a, err := p.not()
		return notCond{a}, err
	}
	if p.punct("(") {
		a, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.punct(")") {
			return nil, Errorf(StatusInvalidQuery, "missing )")
		}
		return a, nil
	}
	return p.comparison()
}

func (p *qparser) literal() (qlit, bool, error) {
	t := p.peek()
	switch {
	case t.kind == 's':
		p.pos++
		return qlit{kind: 's', s: t.s}, true, nil
	case t.kind == 'n':
		p.pos++
		f, err := strconv.ParseFloat(t.s, 64)
		if err != nil {
			return qlit{}, false, Errorf(StatusInvalidQuery, "bad number %q", t.s)
		}
		return qlit{kind: 'n', n: f}, true, nil
	case t.kind == 'i' && (strings.EqualFold(t.s, "TRUE") || strings.EqualFold(t.s, "FALSE")):
		p.pos++
		return qlit{kind: 'b', b: strings.EqualFold(t.s, "TRUE")}, true, nil
	case t.kind == 'i' && strings.EqualFold(t.s, "NULL"):
		p.pos++
		return qlit{kind: '0'}, true, nil
	}
	return qlit{}, false, nil
}

var flipOp = map[string]string{"=": "=", "<>": "<>", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}

func (p *qparser) comparison() (cond, error) {
	lit, litFirst, err := p.literal()
	if err != nil {
		return nil, err
	}
	var prop string
	if !litFirst {
		if prop, err = p.property(); err != nil {
			return nil, err
		}
		if p.keyword("IS") {
			not := p.keyword("NOT")
			if !p.keyword("NULL") {
				return nil, Errorf(StatusInvalidQuery, "NULL expected after IS")
			}
			return nullCond{prop: prop, not: not}, nil
		}
	}
	t := p.peek()
	op, ok := flipOp[t.s]
	if t.kind != 'o' || !ok {
		return nil, Errorf(StatusInvalidQuery, "comparison operator expected near %q", t.s)
	}
	p.pos++
	if litFirst {
		if prop, err = p.property(); err != nil {
			return nil, err
		}
	} else {
		op = t.s
		var ok bool
		if lit, ok, err = p.literal(); err != nil {
			return nil, err
		} else if !ok {
			return nil, Errorf(StatusInvalidQuery, "literal expected after %s", t.s)
		}
	}
	if lit.kind == '0' {
		switch op {
		case "=":
			return nullCond{prop: prop}, nil
		case "<>", "!=":
			return nullCond{prop: prop, not: true}, nil
		}
		return nil, Errorf(StatusInvalidQuery, "NULL compared with %s", op)
	}
	return cmpCond{prop: prop, op: op, lit: lit}, nil
}

// parseQuery parses text in language lang against the classes of repo.
func parseQuery(lang, text string, repo *Repository) (*query, error) {
	switch strings.ToUpper(strings.TrimSpace(lang)) {
	case "WQL", "DMTF:CQL", "CQL":
	default:
		return nil, Errorf(StatusQueryLanguageNotSupported, "query language %q (WQL and DMTF:CQL are supported)", lang)
	}
	toks, err := lexQuery(text)
	if err != nil {
		return nil, err
	}
	p := &qparser{toks: toks}
	if !p.keyword("SELECT") {
		return nil, Errorf(StatusInvalidQuery, "SELECT expected")
	}
	var names []string
	star := p.punct("*")
	if !star {
		for {
			n, err := p.ident()
			if err != nil {
				return nil, err
			}
			names = append(names, n)
			if !p.punct(",") {
				break
			}
		}
	}
	if !p.keyword("FROM") {
		return nil, Errorf(StatusInvalidQuery, "FROM expected")
	}
	cn, err := p.ident()
	if err != nil {
		return nil, err
	}
	cls, ok := repo.Class(cn)
	if !ok {
		return nil, Errorf(StatusInvalidQuery, "unknown class %s", cn)
	}
	p.cls = cls
	q := &query{class: cls.Name}
	for _, n := range names {
		d := propertyOf(cls, n)
		if d == nil {
			return nil, Errorf(StatusInvalidQuery, "class %s has no property %s", cls.Name, n)
		}
		q.props = append(q.props, d.Name)
	}
	if p.keyword("WHERE") {
		if q.where, err = p.or(); err != nil {
			return nil, err
		}
	}
	if p.pos != len(p.toks) {
		return nil, Errorf(StatusInvalidQuery, "unexpected %q", p.peek().s)
	}
	return q, nil
}

// include is the select-list filter (nil for *).
func (q *query) include() func(string) bool {
	if q.props == nil {
		return nil
	}
	return func(n string) bool {
		for _, p := range q.props {
			if strings.EqualFold(p, n) {
				return true
			}
		}
		return false
	}
}

// query yields the instances matching q.
func (s *Server) query(ctx context.Context, ns string, repo *Repository, q *query) iter.Seq2[item, error] {
	return func(yield func(item, error) bool) {
		for it, err := range s.instances(ctx, ns, repo, q.class) {
			if err != nil {
				yield(item{}, err)
				return
			}
			if q.where != nil && !q.where.eval(it.inst) {
				continue
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

func opExecQuery(ctx context.Context, c *call) error {
	p, err := newParams(c.req, "QueryLanguage", "Query")
	if err != nil {
		return err
	}
	ns, repo, err := c.s.namespace(c.req.Namespace)
	if err != nil {
		return err
	}
	lang, _, err := p.str("QueryLanguage")
	if err != nil {
		return err
	}
	text, _, err := p.str("Query")
	if err != nil {
		return err
	}
	q, err := parseQuery(lang, text, repo)
	if err != nil {
		return err
	}
	o := cimxml.InstanceOptions{Include: q.include()}
	e := c.out.ret()
	for it, err := range c.s.query(ctx, ns, repo, q) {
		if err != nil {
			return err
		}
		e.ObjectWithPath(it.path, it.inst, o)
	}
	return nil
}
