// Package meta reads and writes stream metadata: the JSON object stored as
// the latest event of a stream's metadata stream ("$$name"), as EventStoreDB
// defines it. The keys that change what readers see are parsed ($maxCount,
// $maxAge in seconds, $tb truncate-before); every key, system or custom, is
// kept with its raw JSON value in its original order, so the object can be
// written back with one key changed (the soft-delete and undelete paths do
// that) without losing what a client stored there.
//
// Core may not import encoding/json, so this package carries a small JSON
// scanner of its own: it validates the whole document and decodes only keys
// and the few integers it needs.
package meta

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// System metadata keys.
const (
	KeyMaxCount       = "$maxCount"
	KeyMaxAge         = "$maxAge"
	KeyTruncateBefore = "$tb"
	KeyCacheControl   = "$cacheControl"
	KeyACL            = "$acl"
)

// DeletedStream is the truncate-before value that marks a soft-deleted
// stream (EventStoreDB's EventNumber.DeletedStream, long.MaxValue).
const DeletedStream = math.MaxInt64

// Metadata is a stream's parsed metadata. The zero value is "no metadata":
// nothing hidden.
type Metadata struct {
	// MaxCount keeps only the newest MaxCount events visible; 0 means unset.
	MaxCount int64
	// MaxAge hides events created more than MaxAge seconds ago; 0 means
	// unset.
	MaxAge int64
	// TruncateBefore hides events numbered below it; 0 hides nothing.
	// DeletedStream marks a soft-deleted stream.
	TruncateBefore int64
	// Fields holds every key of the object in document order with its raw
	// JSON value (system keys included, duplicates collapsed to the last
	// value at the first key's place).
	Fields []Field
}

// Field is one key of the metadata object and its raw JSON value.
type Field struct {
	Key string
	Raw []byte
}

// SoftDeleted reports whether the metadata marks its stream soft-deleted.
func (m Metadata) SoftDeleted() bool { return m.TruncateBefore == DeletedStream }

// Get returns the raw JSON value of key.
func (m Metadata) Get(key string) (raw []byte, ok bool) {
	for _, f := range m.Fields {
		if f.Key == key {
			return f.Raw, true
		}
	}
	return nil, false
}

// Custom returns the keys that are not system keys (those not starting with
// "$"), in document order.
func (m Metadata) Custom() []Field {
	var out []Field
	for _, f := range m.Fields {
		if len(f.Key) == 0 || f.Key[0] != '$' {
			out = append(out, f)
		}
	}
	return out
}

// Parse reads a metadata document. The document must be one JSON object;
// anything else is an error (EventStoreDB then treats the stream as having
// no metadata, and so do callers of Parse). A system key whose value is not
// a usable integer ($maxCount and $maxAge must be positive, $tb not
// negative) is kept in Fields but has no effect. data is copied: the result
// never aliases it.
func Parse(data []byte) (Metadata, error) {
	p := parser{data: data}
	p.space()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return Metadata{}, p.fail("the metadata must be a JSON object")
	}
	var m Metadata
	fields, err := p.object()
	if err != nil {
		return Metadata{}, err
	}
	p.space()
	if p.pos != len(p.data) {
		return Metadata{}, p.fail("unexpected data after the metadata object")
	}
	m.Fields = fields
	for _, f := range fields {
		switch f.Key {
		case KeyMaxCount:
			if n, ok := positiveInt(f.Raw); ok {
				m.MaxCount = n
			}
		case KeyMaxAge:
			if n, ok := positiveInt(f.Raw); ok {
				m.MaxAge = n
			}
		case KeyTruncateBefore:
			if n, ok := nonNegativeInt(f.Raw); ok {
				m.TruncateBefore = n
			}
		}
	}
	return m, nil
}

// WithTruncateBefore renders the metadata as JSON with $tb set to tb (added
// at the end if absent), every other key kept as it was.
func (m Metadata) WithTruncateBefore(tb int64) []byte {
	raw := strconv.AppendInt(nil, tb, 10)
	fields := make([]Field, 0, len(m.Fields)+1)
	found := false
	for _, f := range m.Fields {
		if f.Key == KeyTruncateBefore {
			f.Raw, found = raw, true
		}
		fields = append(fields, f)
	}
	if !found {
		fields = append(fields, Field{Key: KeyTruncateBefore, Raw: raw})
	}
	return Render(fields)
}

// Render writes fields as a compact JSON object. Raw values are written as
// they are; they must be valid JSON.
func Render(fields []Field) []byte {
	var b []byte
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.Key)
		b = append(b, ':')
		b = append(b, f.Raw...)
	}
	return append(b, '}')
}

// SoftDeleteDocument is the metadata a soft delete writes: only $tb, set to
// DeletedStream, as EventStoreDB writes it.
func SoftDeleteDocument() []byte {
	return Render([]Field{{Key: KeyTruncateBefore, Raw: strconv.AppendInt(nil, DeletedStream, 10)}})
}

func positiveInt(raw []byte) (int64, bool) {
	n, ok := integer(raw)
	return n, ok && n > 0
}

func nonNegativeInt(raw []byte) (int64, bool) {
	n, ok := integer(raw)
	return n, ok && n >= 0
}

// integer accepts a JSON integer literal that fits in int64 (no fraction,
// no exponent).
func integer(raw []byte) (int64, bool) {
	if bytes.ContainsAny(raw, ".eE") {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("invalid stream metadata")

type parser struct {
	data  []byte
	pos   int
	depth int
}

// maxDepth bounds nesting so a hostile document cannot exhaust the stack.
const maxDepth = 64

func (p *parser) fail(why string) error {
	return fmt.Errorf("%w: %s at byte %d of %d", ErrSyntax, why, p.pos, len(p.data))
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// object parses an object at p.pos (which holds '{') into fields.
func (p *parser) object() ([]Field, error) {
	p.pos++ // '{'
	var fields []Field
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return fields, nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail("expected a quoted key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail("expected ':' after key " + strconv.Quote(key))
		}
		p.pos++
		p.space()
		start := p.pos
		if err := p.value(); err != nil {
			return nil, err
		}
		raw := bytes.Clone(p.data[start:p.pos])
		replaced := false
		for i := range fields {
			if fields[i].Key == key {
				fields[i].Raw, replaced = raw, true
			}
		}
		if !replaced {
			fields = append(fields, Field{Key: key, Raw: raw})
		}
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.fail("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return fields, nil
		default:
			return nil, p.fail("expected ',' or '}'")
		}
	}
}

// value skips one JSON value, validating it.
func (p *parser) value() error {
	if p.pos >= len(p.data) {
		return p.fail("expected a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{' || c == '[':
		p.depth++
		if p.depth > maxDepth {
			return p.fail("nesting deeper than " + strconv.Itoa(maxDepth))
		}
		defer func() { p.depth-- }()
		if c == '{' {
			_, err := p.object()
			return err
		}
		return p.array()
	case c == '"':
		_, err := p.str()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return p.fail(fmt.Sprintf("unexpected character %q", c))
	}
}

func (p *parser) array() error {
	p.pos++ // '['
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return nil
	}
	for {
		p.space()
		if err := p.value(); err != nil {
			return err
		}
		p.space()
		if p.pos >= len(p.data) {
			return p.fail("unterminated array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return p.fail("expected ',' or ']'")
		}
	}
}

func (p *parser) literal(word string) error {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return p.fail("expected " + word)
	}
	p.pos += len(word)
	return nil
}

// number checks the JSON number grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (p *parser) number() error {
	if p.data[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
	case p.pos < len(p.data) && p.data[p.pos] >= '1' && p.data[p.pos] <= '9':
		p.digits()
	default:
		return p.fail("malformed number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return p.fail("malformed number: no digits after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return p.fail("malformed number: no digits in exponent")
		}
	}
	return nil
}

func (p *parser) digits() int {
	start := p.pos
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos - start
}

// str decodes the string at p.pos (which holds '"').
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	var b []byte
	for {
		if p.pos >= len(p.data) {
			return "", p.fail("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c == '\\':
			if p.pos+1 >= len(p.data) {
				return "", p.fail("unterminated escape")
			}
			e := p.data[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if r >= 0xD800 && r < 0xDC00 && bytes.HasPrefix(p.data[p.pos:], []byte(`\u`)) {
					p.pos += 2
					lo, err := p.hex4()
					if err != nil {
						return "", err
					}
					if lo >= 0xDC00 && lo < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					} else {
						b = utf8.AppendRune(b, utf8.RuneError)
						r = lo
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", p.fail(fmt.Sprintf("unknown escape \\%c", e))
			}
		default:
			b = append(b, c)
			p.pos++
		}
	}
}

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.fail("short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, p.fail("bad \\u escape")
	}
	p.pos += 4
	return rune(n), nil
}

// appendString writes s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
