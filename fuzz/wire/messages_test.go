package wirefuzz

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/annal-db/annal/core/election"
	"github.com/annal-db/annal/core/gossip"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/replication"
	"github.com/annal-db/annal/core/wire"
	"github.com/annal-db/annal/core/wire/wiretest"
)

// clusterMessages is one value of every message nodes exchange: importing
// their packages registers their kinds, so Unmarshal decodes them all.
func clusterMessages() []wire.Message {
	return []wire.Message{
		&election.ViewChange{}, &election.ViewChangeProof{}, &election.Prepare{}, &election.PrepareOk{},
		&election.Proposal{}, &election.Accept{}, &election.LeaderIsResigning{}, &election.LeaderIsResigningOk{},
		&gossip.UpdateRequest{}, &gossip.ClusterInfo{},
		&replication.HeartbeatRequest{}, &replication.HeartbeatResponse{}, &replication.Subscribe{},
		&replication.Subscribed{}, &replication.SubscriptionRetry{}, &replication.Assignment{Role: replication.RoleFollower}, &replication.Drop{},
		&replication.Data{}, &replication.Ack{}, &replication.Committed{}, &replication.LeaderCheck{},
		&replication.LeaderCheckOk{}, &replication.Ahead{},
		&node.AppendRequest{}, &node.DeleteRequest{}, &node.WriteResult{}, &node.ReadRequest{}, &node.ReadResult{},
	}
}

// fill sets every exported field it can reach to a small non-zero value
// (one element in each slice), so that a seed exercises every field's
// decoder, not only the empty message's.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(1_700_000_000, 5).UTC()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i))
		}
	case reflect.String:
		v.SetString("s-1")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(6)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(6)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.5)
	}
}

// FuzzClusterMessages feeds whatever bytes to the decoder of every message
// kind nodes exchange: each input must be refused with a positioned error or
// decode to a message that re-encodes to exactly those bytes (one encoding
// per value, so a message cannot be read two ways).
func FuzzClusterMessages(f *testing.F) {
	for _, m := range clusterMessages() {
		f.Add(wire.Marshal(m))
		full := reflect.New(reflect.TypeOf(m).Elem())
		fill(full)
		f.Add(wire.Marshal(full.Interface().(wire.Message)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUnmarshal(t, data)
	})
}

// Every registered kind is in the list above, and each listed message
// decodes: a kind left out would go unfuzzed.
func TestEveryClusterMessageIsSeeded(t *testing.T) {
	seen := map[wire.Kind]bool{}
	for _, m := range clusterMessages() {
		if seen[m.Kind()] {
			t.Errorf("%v listed twice", m.Kind())
		}
		seen[m.Kind()] = true
		if _, err := wire.Unmarshal(wire.Marshal(m)); err != nil {
			t.Errorf("the listed %v does not decode: %v", m.Kind(), err)
		}
	}
	for k := wire.Kind(1); k < 1024; k++ {
		registered := k.String() != "kind("+strconv.Itoa(int(k))+")"
		if registered && k != wiretest.SampleKind && !seen[k] {
			t.Errorf("kind %d (%v) is registered but not fuzzed", k, k)
		}
	}
}
