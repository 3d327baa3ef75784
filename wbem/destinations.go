package wbem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// DestinationRules limit where indications may be posted: a listener
// destination makes the server send requests to a URL its creator
// chooses, so it must not reach what the server itself can reach and its
// creator cannot (an internal service, a cloud metadata address). The
// zero value allows nothing.
type DestinationRules struct {
	// Schemes are the allowed URL schemes ("https", "http").
	Schemes []string
	// Hosts are host names allowed by name (compared case-insensitively);
	// a name may resolve to any address but a never-dialled one.
	Hosts []string
	// Nets are the addresses allowed, as literal IPs in URLs and as
	// what names resolve to.
	Nets []netip.Prefix
}

// neverDialled are the addresses no listener destination reaches, whatever
// the rules say: link-local (169.254.169.254, the metadata service of most
// clouds, is one), the other known metadata addresses, multicast,
// broadcast and unspecified addresses.
var neverDialled = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS metadata over IPv6
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("255.255.255.255/32"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("::/128"),
}

// ParseDestinationRules builds rules from allowed schemes and a list of
// host names, IP addresses and CIDR prefixes.
func ParseDestinationRules(schemes, allow []string) (DestinationRules, error) {
	var r DestinationRules
	for _, s := range schemes {
		s = strings.ToLower(s)
		if s != "http" && s != "https" {
			return r, fmt.Errorf("scheme %q is not http or https", s)
		}
		r.Schemes = append(r.Schemes, s)
	}
	for _, a := range allow {
		if p, err := netip.ParsePrefix(a); err == nil {
			r.Nets = append(r.Nets, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(a); err == nil {
			r.Nets = append(r.Nets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		if a == "" || strings.ContainsAny(a, "/:@ ") {
			return r, fmt.Errorf("%q is not a host name, an IP address or a CIDR prefix", a)
		}
		r.Hosts = append(r.Hosts, strings.ToLower(strings.TrimSuffix(a, ".")))
	}
	return r, nil
}

// CheckURL checks a listener destination URL against the rules.
func (r DestinationRules) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an http or https URL without user information", raw)
	}
	if !slices.Contains(r.Schemes, u.Scheme) {
		return fmt.Errorf("scheme %s is not allowed for listener destinations (allowed: %v)", u.Scheme, r.Schemes)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		// An address in the URL must be one of Nets, names or not.
		return DestinationRules{Nets: r.Nets}.CheckAddr(ip)
	}
	if !slices.Contains(r.Hosts, host) {
		return fmt.Errorf("host %s is not an allowed listener destination", host)
	}
	return nil
}

// CheckAddr checks an address a destination resolves to: never one of
// the never-dialled addresses; one of Nets, unless Hosts allows names
// (which resolve to addresses the rules do not list).
func (r DestinationRules) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, p := range neverDialled {
		if p.Contains(ip) {
			return fmt.Errorf("address %s is never a listener destination", ip)
		}
	}
	for _, p := range r.Nets {
		if p.Contains(ip) {
			return nil
		}
	}
	if len(r.Hosts) > 0 {
		return nil
	}
	return fmt.Errorf("address %s is not an allowed listener destination", ip)
}

// errDestination marks a dial refused by the rules (no retry helps).
var errDestination = errors.New("listener destination not allowed")

// guardClient returns a copy of c (nil: a client with a 10 s timeout)
// that dials only addresses the rules allow, checked on the address
// actually connected to (so a name that resolves elsewhere later is
// caught too), and follows no redirects.
func (r DestinationRules) guardClient(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Timeout = 10 * time.Second
	}
	var tr *http.Transport
	if t, ok := out.Transport.(*http.Transport); ok && t != nil {
		tr = t.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %v", errDestination, err)
		}
		if err := r.CheckAddr(ap.Addr()); err != nil {
			return fmt.Errorf("%w: %v", errDestination, err)
		}
		return nil
	}}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	tr.Proxy = nil // a proxy would dial for us, past the check
	out.Transport = tr
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}
