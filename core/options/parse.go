package options

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kinds of invalid values; a *ValueError wraps one of them (errors.Is).
var (
	// ErrSyntax: the value is not of the option's type.
	ErrSyntax = errors.New("invalid value")
	// ErrRange: a number outside the allowed range.
	ErrRange = errors.New("value out of range")
	// ErrNotSupported: annal knows the option but not this value.
	ErrNotSupported = errors.New("value not supported")
	// ErrEnvOnly: the option can only come from the environment.
	ErrEnvOnly = errors.New("option is environment-only")
)

// ValueError is a value that Set refused.
type ValueError struct {
	Option *Option
	Value  string // as given; Redacted for secrets
	Source Source
	Err    error  // ErrSyntax, ErrRange, ErrNotSupported or ErrEnvOnly
	Detail string // what was wrong and what is allowed
}

// Error reads like: NodePort: "70000" (from command line) is out of range: allowed 0..65535
func (e *ValueError) Error() string {
	return fmt.Sprintf("%s: %q (from %s) %s", e.Option.Name, e.Value, e.Source, e.Detail)
}

func (e *ValueError) Unwrap() error { return e.Err }

// parseError carries a failure from parse to Set, which adds the context.
type parseError struct {
	kind   error
	detail string
}

func (e *parseError) Error() string { return e.detail }

func syntaxErr(format string, args ...any) error {
	return &parseError{kind: ErrSyntax, detail: fmt.Sprintf(format, args...)}
}

// parse turns raw into o's value, in canonical form.
func parse(o *Option, raw string) (slot, error) {
	switch o.Type {
	case Bool:
		t := strings.TrimSpace(raw)
		switch {
		case strings.EqualFold(t, "true"):
			return slot{num: 1, text: "true"}, nil
		case strings.EqualFold(t, "false"):
			return slot{num: 0, text: "false"}, nil
		}
		return slot{}, syntaxErr("is not a boolean: use true or false")
	case Int, Port, Milliseconds, Seconds:
		return parseNumber(o, raw)
	case String, Path:
		// Kept exactly: spaces can be part of a password or a path.
		if strings.ContainsRune(raw, 0) {
			return slot{}, syntaxErr("contains a NUL character")
		}
		return slot{text: raw}, nil
	case Enum:
		t := strings.TrimSpace(raw)
		for _, allowed := range o.Values {
			if strings.EqualFold(t, allowed) {
				return slot{text: allowed}, nil
			}
		}
		return slot{}, syntaxErr("is not one of: %s", strings.Join(o.Values, ", "))
	case IPAddress:
		t := strings.TrimSpace(raw)
		a, err := netip.ParseAddr(t)
		if err != nil {
			return slot{}, syntaxErr("is not an IP address: use e.g. 10.0.0.5, or 0.0.0.0 for all interfaces (a host name belongs in the *HostAdvertiseAs options)")
		}
		return slot{text: a.String(), addr: a}, nil
	case Host:
		t := strings.TrimSpace(raw)
		if t == "" {
			return slot{}, nil
		}
		if err := checkHost(t); err != nil {
			return slot{}, err
		}
		return slot{text: t}, nil
	case StringList:
		items := splitList(raw)
		return slot{text: strings.Join(items, ","), list: items}, nil
	case EndpointList:
		items := splitList(raw)
		for i, it := range items {
			ep, err := parseEndpoint(it)
			if err != nil {
				return slot{}, syntaxErr("has an invalid entry %q: %s; use host:port entries separated by commas, e.g. node1:2113,node2:2113", it, err)
			}
			items[i] = ep
		}
		return slot{text: strings.Join(items, ","), list: items}, nil
	}
	return slot{}, syntaxErr("has an unknown type")
}

func parseNumber(o *Option, raw string) (slot, error) {
	t := strings.TrimSpace(raw)
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		detail := "is not a whole number: allowed " + allowedRange(o)
		// "10s" for a milliseconds option is a common slip; say what it means.
		if d, derr := time.ParseDuration(t); derr == nil && (o.Type == Milliseconds || o.Type == Seconds) {
			unit, count := "milliseconds", d.Milliseconds()
			if o.Type == Seconds {
				unit, count = "seconds", int64(d/time.Second)
			}
			detail = fmt.Sprintf("is not a whole number of %s (%s is %d): allowed %s", unit, t, count, allowedRange(o))
		}
		return slot{}, &parseError{kind: ErrSyntax, detail: detail}
	}
	if (n < o.Min || n > o.Max) && !(n == -1 && o.MinusOne != "") {
		return slot{}, &parseError{kind: ErrRange, detail: "is out of range: allowed " + allowedRange(o)}
	}
	return slot{num: n, text: strconv.FormatInt(n, 10)}, nil
}

// allowedRange says what a numeric option accepts: "0..65535",
// "1..2147483647 ms, or -1 (disabled)".
func allowedRange(o *Option) string {
	s := fmt.Sprintf("%d..%d", o.Min, o.Max)
	switch o.Type {
	case Milliseconds:
		s += " ms"
	case Seconds:
		s += " s"
	}
	if o.MinusOne != "" {
		s += ", or -1 (" + o.MinusOne + ")"
	}
	return s
}

// splitList splits on commas, trims entries and drops empty ones, so a
// trailing comma is harmless.
func splitList(raw string) []string {
	var out []string
	for _, p := range strings.Split(raw, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseEndpoint checks a host:port entry and returns it in canonical form
// (IPv6 addresses in brackets).
func parseEndpoint(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return "", errors.New("port 0 cannot be connected to")
		}
		return ap.String(), nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", errors.New("the port is missing")
	}
	host, portText := s[:i], s[i+1:]
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return "", fmt.Errorf("port %q is not in 1..65535", portText)
	}
	if strings.Contains(host, ":") {
		return "", errors.New("an IPv6 address must be in brackets, e.g. [fd00::1]:2113")
	}
	if err := checkHost(host); err != nil {
		return "", errors.New(err.(*parseError).detail)
	}
	return host + ":" + strconv.FormatUint(port, 10), nil
}

// checkHost accepts an IP address or a DNS name (letters, digits, '-' and
// '_' in dot-separated labels of up to 63 characters, 253 in all).
func checkHost(h string) error {
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	bad := func(why string) error {
		return syntaxErr("is not a host name or IP address: %s", why)
	}
	name := strings.TrimSuffix(h, ".")
	if strings.Contains(name, ":") {
		return bad("it contains ':' (a port does not belong here; ports have their own options)")
	}
	if name == "" || len(name) > 253 {
		return bad("a name has 1 to 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return bad("each dot-separated part has 1 to 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("a part cannot start or end with '-'")
		}
		for _, c := range label {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return bad(fmt.Sprintf("character %q is not allowed", c))
			}
		}
	}
	return nil
}
