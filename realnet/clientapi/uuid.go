package clientapi

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
)

// toUUID renders an id in the form the client asked for: structured is
// the two big-endian halves of the 16 bytes, otherwise the canonical
// lower-case string.
func toUUID(id [16]byte, structured bool) *sharedpb.UUID {
	if structured {
		return &sharedpb.UUID{Value: &sharedpb.UUID_Structured_{Structured: &sharedpb.UUID_Structured{
			MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
			LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
		}}}
	}
	return &sharedpb.UUID{Value: &sharedpb.UUID_String_{String_: member.ID(id).String()}}
}

var errNoUUID = errors.New("the UUID is not set (neither structured nor string)")

// fromUUID reads either form: clients send whichever they like.
func fromUUID(u *sharedpb.UUID) ([16]byte, error) {
	var id [16]byte
	switch v := u.GetValue().(type) {
	case *sharedpb.UUID_Structured_:
		binary.BigEndian.PutUint64(id[:8], uint64(v.Structured.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(v.Structured.GetLeastSignificantBits()))
		return id, nil
	case *sharedpb.UUID_String_:
		return parseUUID(v.String_)
	}
	return id, errNoUUID
}

// parseUUID reads the string forms .NET and the clients write: 32 hex
// digits, with or without the four hyphens, optionally in braces.
func parseUUID(s string) ([16]byte, error) {
	var id [16]byte
	t := s
	if len(t) == 38 && t[0] == '{' && t[37] == '}' {
		t = t[1:37]
	}
	if len(t) == 36 {
		if t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
			return id, errors.New("UUID " + quote(s) + " is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
		}
		t = t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:]
	}
	if len(t) != 32 || strings.ContainsAny(t, "-{}") {
		return id, errors.New("UUID " + quote(s) + " is not 32 hex digits (with or without hyphens)")
	}
	if _, err := hex.Decode(id[:], []byte(t)); err != nil {
		return id, errors.New("UUID " + quote(s) + " has a character that is not a hex digit")
	}
	return id, nil
}

// quote bounds what an error repeats of a client's input.
func quote(s string) string {
	const most = 64
	if len(s) > most {
		s = s[:most] + "..."
	}
	return strconv.Quote(s)
}
