package wire

// UnmarshalInto decodes a whole message that must be of dst's kind, for a
// receiver that knows what it expects (a call's response, say).
func UnmarshalInto[M interface {
	Message
	*T
}, T any](b []byte, dst M) error {
	m, err := Unmarshal(b)
	if err != nil {
		return err
	}
	got, ok := m.(M)
	if !ok {
		return &DecodeError{Field: "kind", Type: "uint16", Offset: 1, Err: ErrUnknownKind,
			Detail: "expected " + dst.Kind().String() + ", got " + m.Kind().String()}
	}
	*dst = *got
	return nil
}
