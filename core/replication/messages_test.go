package replication

import (
	"bytes"
	"testing"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// A leader never splits a record, so one event larger than MaxDataBytes
// goes out alone in a larger Data message; the replica must decode what
// the leader sends. Refused, the link broke at that record after every
// resubscription and the cluster committed nothing again.
func TestDataCarryingOneRecordLargerThanMaxDataBytesDecodes(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, 300_000)
	var enc wire.Encoder
	enc.Message(&Data{SubscriptionID: member.ID{9}, From: 56, Raw: raw, Committed: 56})
	m, err := wire.Unmarshal(enc.Data())
	if err != nil {
		t.Fatalf("a Data of %d bytes (one record, above MaxDataBytes %d) does not decode: %v", len(raw), MaxDataBytes, err)
	}
	if d, ok := m.(*Data); !ok || !bytes.Equal(d.Raw, raw) || d.From != 56 {
		t.Fatalf("decoded %T %+v; want the Data sent", m, m)
	}
}
