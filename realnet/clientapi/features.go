package clientapi

import (
	"context"
	"strings"

	"google.golang.org/grpc"

	"github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/serverfeaturespb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// featuresService is event_store.client.server_features.ServerFeatures.
type featuresService struct {
	serverfeaturespb.UnimplementedServerFeaturesServer
	methods *serverfeaturespb.SupportedMethods
}

func (f *featuresService) GetSupportedMethods(context.Context, *sharedpb.Empty) (*serverfeaturespb.SupportedMethods, error) {
	return f.methods, nil
}

// methodFeatures are the features EventStoreDB lists for some methods,
// keyed "service/method" in lower case: Read takes positions and filters
// events on $all; BatchAppend takes its deadline as a duration.
var methodFeatures = map[string][]string{
	"event_store.client.streams.streams/read":        {"position", "events"},
	"event_store.client.streams.streams/batchappend": {"deadline_duration"},
}

// supportedMethods lists every method of the services Register registers,
// from their descriptions, so the list cannot claim a method that is not
// served (gossip only when it is not hidden). Names are lower case: the Go
// clients compare them exactly.
func supportedMethods(version string, gossip bool) *serverfeaturespb.SupportedMethods {
	out := &serverfeaturespb.SupportedMethods{EventStoreServerVersion: version}
	descs := []grpc.ServiceDesc{streamspb.Streams_ServiceDesc}
	if gossip {
		descs = append(descs, gossippb.Gossip_ServiceDesc)
	}
	descs = append(descs, serverfeaturespb.ServerFeatures_ServiceDesc)
	for _, desc := range descs {
		service := strings.ToLower(desc.ServiceName)
		var names []string
		for _, m := range desc.Methods {
			names = append(names, m.MethodName)
		}
		for _, st := range desc.Streams {
			names = append(names, st.StreamName)
		}
		for _, name := range names {
			method := strings.ToLower(name)
			out.Methods = append(out.Methods, &serverfeaturespb.SupportedMethod{
				MethodName:  method,
				ServiceName: service,
				Features:    methodFeatures[service+"/"+method],
			})
		}
	}
	return out
}
