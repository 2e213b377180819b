package clientapi

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	_ "github.com/annal-db/annal/realnet/clientapi/esdbpb/serverfeaturespb"
	_ "github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	_ "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// protocol is the client protocol's wire layout, one message a line:
// field=number, @oneof when the field belongs to one. It is written from
// the protocol's description, independently of the .proto files, so that
// a typo in them cannot go unnoticed: only numbers, kinds of oneof
// membership and names travel or matter to the clients.
const protocol = `
event_store.client.UUID structured=1@value string=2@value
event_store.client.UUID.Structured most_significant_bits=1 least_significant_bits=2
event_store.client.Empty
event_store.client.StreamIdentifier stream_name=3
event_store.client.AllStreamPosition commit_position=1 prepare_position=2
event_store.client.WrongExpectedVersion current_stream_revision=1@current_stream_revision_option current_no_stream=2@current_stream_revision_option expected_stream_position=3@expected_stream_position_option expected_any=4@expected_stream_position_option expected_stream_exists=5@expected_stream_position_option expected_no_stream=6@expected_stream_position_option
event_store.client.AccessDenied
event_store.client.StreamDeleted stream_identifier=1
event_store.client.Timeout
event_store.client.Unknown
event_store.client.InvalidTransaction
event_store.client.MaximumAppendSizeExceeded maxAppendSize=1
event_store.client.MaximumAppendEventSizeExceeded eventId=1 proposedEventSize=2 maxAppendEventSize=3
event_store.client.BadRequest message=1
event_store.client.streams.ReadReq options=1
event_store.client.streams.ReadReq.Options stream=1@stream_option all=2@stream_option read_direction=3 resolve_links=4 count=5@count_option subscription=6@count_option filter=7@filter_option no_filter=8@filter_option uuid_option=9 control_option=10
event_store.client.streams.ReadReq.Options.StreamOptions stream_identifier=1 revision=2@revision_option start=3@revision_option end=4@revision_option
event_store.client.streams.ReadReq.Options.AllOptions position=1@all_option start=2@all_option end=3@all_option
event_store.client.streams.ReadReq.Options.SubscriptionOptions
event_store.client.streams.ReadReq.Options.Position commit_position=1 prepare_position=2
event_store.client.streams.ReadReq.Options.FilterOptions stream_identifier=1@filter event_type=2@filter max=3@window count=4@window checkpointIntervalMultiplier=5
event_store.client.streams.ReadReq.Options.FilterOptions.Expression regex=1 prefix=2
event_store.client.streams.ReadReq.Options.UUIDOption structured=1@content string=2@content
event_store.client.streams.ReadReq.Options.ControlOption compatibility=1
event_store.client.streams.ReadResp event=1@content confirmation=2@content checkpoint=3@content stream_not_found=4@content first_stream_position=5@content last_stream_position=6@content last_all_stream_position=7@content caught_up=8@content fell_behind=9@content
event_store.client.streams.ReadResp.CaughtUp timestamp=1 stream_revision=2 position=3
event_store.client.streams.ReadResp.FellBehind timestamp=1 stream_revision=2 position=3
event_store.client.streams.ReadResp.ReadEvent event=1 link=2 commit_position=3@position no_position=4@position
event_store.client.streams.ReadResp.ReadEvent.RecordedEvent id=1 stream_identifier=2 stream_revision=3 prepare_position=4 commit_position=5 metadata=6 custom_metadata=7 data=8
event_store.client.streams.ReadResp.SubscriptionConfirmation subscription_id=1
event_store.client.streams.ReadResp.Checkpoint commit_position=1 prepare_position=2 timestamp=3
event_store.client.streams.ReadResp.Position commit_position=1 prepare_position=2
event_store.client.streams.ReadResp.StreamNotFound stream_identifier=1
event_store.client.streams.AppendReq options=1@content proposed_message=2@content
event_store.client.streams.AppendReq.Options stream_identifier=1 revision=2@expected_stream_revision no_stream=3@expected_stream_revision any=4@expected_stream_revision stream_exists=5@expected_stream_revision
event_store.client.streams.AppendReq.ProposedMessage id=1 metadata=2 custom_metadata=3 data=4
event_store.client.streams.AppendResp success=1@result wrong_expected_version=2@result
event_store.client.streams.AppendResp.Position commit_position=1 prepare_position=2
event_store.client.streams.AppendResp.Success current_revision=1@current_revision_option no_stream=2@current_revision_option position=3@position_option no_position=4@position_option
event_store.client.streams.AppendResp.WrongExpectedVersion current_revision_20_6_0=1@current_revision_option_20_6_0 no_stream_20_6_0=2@current_revision_option_20_6_0 expected_revision_20_6_0=3@expected_revision_option_20_6_0 any_20_6_0=4@expected_revision_option_20_6_0 stream_exists_20_6_0=5@expected_revision_option_20_6_0 current_revision=6@current_revision_option current_no_stream=7@current_revision_option expected_revision=8@expected_revision_option expected_any=9@expected_revision_option expected_stream_exists=10@expected_revision_option expected_no_stream=11@expected_revision_option
event_store.client.streams.BatchAppendReq correlation_id=1 options=2 proposed_messages=3 is_final=4
event_store.client.streams.BatchAppendReq.Options stream_identifier=1 stream_position=2@expected_stream_position no_stream=3@expected_stream_position any=4@expected_stream_position stream_exists=5@expected_stream_position deadline_21_10_0=6@deadline_option deadline=7@deadline_option
event_store.client.streams.BatchAppendReq.ProposedMessage id=1 metadata=2 custom_metadata=3 data=4
event_store.client.streams.BatchAppendResp correlation_id=1 error=2@result success=3@result stream_identifier=4 stream_position=5@expected_stream_position no_stream=6@expected_stream_position any=7@expected_stream_position stream_exists=8@expected_stream_position
event_store.client.streams.BatchAppendResp.Success current_revision=1@current_revision_option no_stream=2@current_revision_option position=3@position_option no_position=4@position_option
event_store.client.streams.DeleteReq options=1
event_store.client.streams.DeleteReq.Options stream_identifier=1 revision=2@expected_stream_revision no_stream=3@expected_stream_revision any=4@expected_stream_revision stream_exists=5@expected_stream_revision
event_store.client.streams.DeleteResp position=1@position_option no_position=2@position_option
event_store.client.streams.DeleteResp.Position commit_position=1 prepare_position=2
event_store.client.streams.TombstoneReq options=1
event_store.client.streams.TombstoneReq.Options stream_identifier=1 revision=2@expected_stream_revision no_stream=3@expected_stream_revision any=4@expected_stream_revision stream_exists=5@expected_stream_revision
event_store.client.streams.TombstoneResp position=1@position_option no_position=2@position_option
event_store.client.streams.TombstoneResp.Position commit_position=1 prepare_position=2
event_store.client.gossip.ClusterInfo members=1
event_store.client.gossip.EndPoint address=1 port=2
event_store.client.gossip.MemberInfo instance_id=1 time_stamp=2 state=3 is_alive=4 http_end_point=5
event_store.client.server_features.SupportedMethods methods=1 event_store_server_version=2
event_store.client.server_features.SupportedMethod method_name=1 service_name=2 features=3
google.rpc.Status code=1 message=2 details=3
`

func TestProtoFieldNumbersMatchTheProtocol(t *testing.T) {
	for _, line := range strings.Split(strings.TrimSpace(protocol), "\n") {
		parts := strings.Fields(line)
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(parts[0]))
		if err != nil {
			t.Errorf("message %s is not registered: %v", parts[0], err)
			continue
		}
		md := d.(protoreflect.MessageDescriptor)
		want := slices.Clone(parts[1:])
		var got []string
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			f := fields.Get(i)
			s := string(f.Name()) + "=" + strconv.Itoa(int(f.Number()))
			if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
				s += "@" + string(o.Name())
			}
			got = append(got, s)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s fields\n  %v\nwant\n  %v", parts[0], got, want)
		}
	}

	// Enums and services, by name and number.
	enum := func(name string, values ...string) {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Errorf("enum %s is not registered: %v", name, err)
			return
		}
		vals := d.(protoreflect.EnumDescriptor).Values()
		if vals.Len() != len(values) {
			t.Errorf("enum %s has %d values, want %d", name, vals.Len(), len(values))
			return
		}
		for i, v := range values {
			if got := vals.ByNumber(protoreflect.EnumNumber(i)); got == nil || string(got.Name()) != v {
				t.Errorf("enum %s value %d is %v, want %s", name, i, got, v)
			}
		}
	}
	enum("event_store.client.streams.ReadReq.Options.ReadDirection", "Forwards", "Backwards")
	enum("event_store.client.gossip.MemberInfo.VNodeState", "Initializing", "DiscoverLeader", "Unknown", "PreReplica", "CatchingUp", "Clone",
		"Follower", "PreLeader", "Leader", "Manager", "ShuttingDown", "Shutdown", "ReadOnlyLeaderless", "PreReadOnlyReplica", "ReadOnlyReplica", "ResigningLeader")
	for svc, methods := range map[string][]string{
		"event_store.client.streams.Streams":                {"Read", "Append", "Delete", "Tombstone", "BatchAppend"},
		"event_store.client.gossip.Gossip":                  {"Read"},
		"event_store.client.server_features.ServerFeatures": {"GetSupportedMethods"},
	} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Errorf("service %s is not registered: %v", svc, err)
			continue
		}
		ms := d.(protoreflect.ServiceDescriptor).Methods()
		if ms.Len() != len(methods) {
			t.Errorf("service %s has %d methods, want %d", svc, ms.Len(), len(methods))
		}
		for _, m := range methods {
			if ms.ByName(protoreflect.Name(m)) == nil {
				t.Errorf("service %s lacks %s", svc, m)
			}
		}
	}
	streamsSvc, _ := protoregistry.GlobalFiles.FindDescriptorByName("event_store.client.streams.Streams")
	for name, kind := range map[string][2]bool{"Read": {false, true}, "Append": {true, false}, "Delete": {false, false}, "Tombstone": {false, false}, "BatchAppend": {true, true}} {
		m := streamsSvc.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(name))
		if m.IsStreamingClient() != kind[0] || m.IsStreamingServer() != kind[1] {
			t.Errorf("Streams.%s streams client %v server %v, want %v %v", name, m.IsStreamingClient(), m.IsStreamingServer(), kind[0], kind[1])
		}
	}
}
