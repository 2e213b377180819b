// Package filter is EventStoreDB's server-side event filter for $all reads
// and subscriptions: match on the stream name or on the event type, by a
// list of prefixes or by a regular expression.
//
// As in EventStoreDB, a regular expression wins over prefixes when both are
// given, and it matches anywhere in the name (unanchored; write ^ and $ to
// anchor it). Expressions use Go's RE2 syntax, which lacks .NET's
// look-arounds and back-references; an expression that does not compile is
// rejected with an error that says so.
package filter

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// On says what a filter looks at.
type On uint8

const (
	// StreamName filters on the event's stream name.
	StreamName On = iota + 1
	// EventType filters on the event's type.
	EventType
)

func (o On) String() string {
	switch o {
	case StreamName:
		return "stream name"
	case EventType:
		return "event type"
	}
	return "filter target(" + strconv.Itoa(int(o)) + ")"
}

// Spec describes a filter as a client sends it.
type Spec struct {
	On       On
	Regex    string
	Prefixes []string
}

// Filter is a compiled Spec. A nil *Filter matches everything.
type Filter struct {
	on       On
	prefixes []string
	re       *regexp.Regexp
}

// New compiles spec.
func New(spec Spec) (*Filter, error) {
	if spec.On != StreamName && spec.On != EventType {
		return nil, fmt.Errorf("filter must be on the stream name or the event type, got %v", spec.On)
	}
	if spec.Regex != "" {
		re, err := regexp.Compile(spec.Regex)
		if err != nil {
			return nil, fmt.Errorf("%v filter regex %q does not compile (RE2 syntax; look-arounds and back-references are not supported): %v",
				spec.On, spec.Regex, err)
		}
		return &Filter{on: spec.On, re: re}, nil
	}
	if len(spec.Prefixes) == 0 {
		return nil, fmt.Errorf("%v filter has neither a regex nor any prefix; give one of them", spec.On)
	}
	return &Filter{on: spec.On, prefixes: append([]string(nil), spec.Prefixes...)}, nil
}

// Match reports whether an event of the given stream and type passes.
func (f *Filter) Match(stream, eventType string) bool {
	if f == nil {
		return true
	}
	subject := stream
	if f.on == EventType {
		subject = eventType
	}
	if f.re != nil {
		return f.re.MatchString(subject)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}

// String describes the filter for logs and errors.
func (f *Filter) String() string {
	if f == nil {
		return "no filter"
	}
	if f.re != nil {
		return fmt.Sprintf("%v matches /%s/", f.on, f.re)
	}
	return fmt.Sprintf("%v starts with %q", f.on, f.prefixes)
}
