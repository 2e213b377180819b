package wire

import (
	"errors"
	"strconv"
)

// What went wrong while decoding; match with errors.Is. Every decoding
// failure is a *DecodeError wrapping one of these.
var (
	// ErrTruncated: the input ends inside a field.
	ErrTruncated = errors.New("input truncated")
	// ErrOverflow: an integer does not fit its type (a varint above 64
	// bits, a Varint32 above 32).
	ErrOverflow = errors.New("integer overflow")
	// ErrNonCanonical: the bytes are not the one encoding of any value
	// (an over-long varint, a bool byte other than 0 or 1).
	ErrNonCanonical = errors.New("non-canonical encoding")
	// ErrTooLong: a length or count exceeds the bytes left or its limit.
	ErrTooLong = errors.New("length out of bounds")
	// ErrTrailing: bytes are left after the last field of a message.
	ErrTrailing = errors.New("trailing bytes")
	// ErrInvalid: a field decoded but holds a value the message forbids.
	ErrInvalid = errors.New("invalid value")
	// ErrUnknownVersion: the message header names a format version this
	// node does not read.
	ErrUnknownVersion = errors.New("unknown format version")
	// ErrUnknownKind: the message header names a kind nobody registered.
	ErrUnknownKind = errors.New("unknown message kind")
)

// DecodeError says where decoding failed and why.
type DecodeError struct {
	// Message names the message being decoded ("" for a bare Decoder).
	Message string
	// Field is the field being read ("" for trailing bytes).
	Field string
	// Type is the encoding being read ("uvarint", "string", ...).
	Type string
	// Offset is the byte offset in the input where the field begins.
	Offset int
	// Err is one of the Err* values of this package.
	Err error
	// Detail gives the numbers: what was declared, what was left.
	Detail string
}

func (e *DecodeError) Error() string {
	s := "wire: "
	if e.Message != "" {
		s += "decoding " + e.Message + ": "
	}
	if e.Field != "" {
		s += "field " + strconv.Quote(e.Field)
		if e.Type != "" {
			s += " (" + e.Type + ")"
		}
		s += " "
	}
	s += "at offset " + strconv.Itoa(e.Offset) + ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *DecodeError) Unwrap() error { return e.Err }
