package wire

import (
	"strconv"
)

// FormatVersion is the first byte of every message. A node refuses any other
// value: a change to the header or to how fields are encoded bumps it.
const FormatVersion uint8 = 1

// HeaderSize is the length of a message's header: the version byte and the
// kind.
const HeaderSize = 3

// Kind identifies a message type on the wire. Kinds are assigned by the
// packages that own messages (gossip, election, replication) and never
// reused; 0 is never a valid kind.
type Kind uint16

// String is the name the kind was registered under, or kind(N).
func (k Kind) String() string {
	if e, ok := registered.byKind[k]; ok {
		return e.name
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Message is a value that travels between nodes. Encode and Decode must
// mirror each other field for field; Decode reads through d and leaves
// failures to d (see Decoder), so it needs no error handling of its own.
type Message interface {
	Kind() Kind
	Encode(e *Encoder)
	Decode(d *Decoder)
}

type entry struct {
	name string
	make func() Message
}

type registry struct {
	byKind map[Kind]entry
	byName map[string]Kind
}

func newRegistry() *registry {
	return &registry{byKind: map[Kind]entry{}, byName: map[string]Kind{}}
}

// registered holds every message type this binary knows. It is filled by
// package init functions and only read afterwards, so it needs no lock.
var registered = newRegistry()

// Register makes kind decodable: Unmarshal calls newMessage for a fresh
// value to decode into. Call it from the init function of the package that
// owns the message. It panics on a programming error: kind 0, an empty name,
// a kind or name registered twice, or a newMessage whose value reports a
// different kind.
func Register(kind Kind, name string, newMessage func() Message) {
	registered.register(kind, name, newMessage)
}

func (r *registry) register(kind Kind, name string, newMessage func() Message) {
	where := "wire.Register(" + strconv.Itoa(int(kind)) + ", " + strconv.Quote(name) + "): "
	switch {
	case kind == 0:
		panic(where + "kind 0 is reserved as invalid; pick another kind")
	case name == "":
		panic(where + "the name is empty; name the message for errors and traces")
	case newMessage == nil:
		panic(where + "newMessage is nil")
	}
	if prev, ok := r.byKind[kind]; ok {
		panic(where + "kind already registered as " + strconv.Quote(prev.name) + "; kinds are unique per binary")
	}
	if prev, ok := r.byName[name]; ok {
		panic(where + "name already registered for kind " + strconv.Itoa(int(prev)))
	}
	m := newMessage()
	if m == nil {
		panic(where + "newMessage returned nil")
	}
	if m.Kind() != kind {
		panic(where + "newMessage returns a message of kind " + strconv.Itoa(int(m.Kind())) +
			"; the kind it reports must be the kind it is registered under")
	}
	r.byKind[kind] = entry{name: name, make: newMessage}
	r.byName[name] = kind
}

// Marshal encodes m with its header into a new slice. To encode into a
// reused buffer without allocating, use Encoder.Message.
func Marshal(m Message) []byte {
	var e Encoder
	e.Message(m)
	return e.buf
}

// Unmarshal decodes one whole message: header, then the body of the
// registered kind, and nothing after it. Every failure is a *DecodeError.
func Unmarshal(b []byte) (Message, error) { return registered.unmarshal(b) }

// KindOf reads only the header of b: it lets a receiver route or log a
// message before (or without) decoding it. The kind need not be registered.
func KindOf(b []byte) (Kind, error) {
	d := Decoder{buf: b}
	return d.header()
}

func (d *Decoder) header() (Kind, error) {
	v := d.Uint8("version")
	k := Kind(d.Uint16("kind"))
	if d.err != nil {
		return 0, d.err
	}
	if v != FormatVersion {
		return 0, &DecodeError{Field: "version", Type: "uint8", Offset: 0, Err: ErrUnknownVersion,
			Detail: "the message says version " + strconv.Itoa(int(v)) + ", this node reads version " +
				strconv.Itoa(int(FormatVersion)) + "; the sender runs an incompatible release"}
	}
	return k, nil
}

func (r *registry) unmarshal(b []byte) (Message, error) {
	d := &Decoder{buf: b}
	k, err := d.header()
	if err != nil {
		return nil, err
	}
	e, ok := r.byKind[k]
	if !ok {
		return nil, &DecodeError{Field: "kind", Type: "uint16", Offset: 1, Err: ErrUnknownKind,
			Detail: "kind " + strconv.Itoa(int(k)) + " is not registered on this node; " +
				"the sender runs a release with messages this one does not know"}
	}
	m := e.make()
	m.Decode(d)
	if err := d.Finish(); err != nil {
		if de, ok := err.(*DecodeError); ok {
			de.Message = e.name + " (kind " + strconv.Itoa(int(k)) + ")"
		}
		return nil, err
	}
	return m, nil
}
