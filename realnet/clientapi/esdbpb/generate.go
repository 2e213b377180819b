// Package esdbpb holds the generated code of EventStoreDB's client
// protocol as this server speaks it: one Go package per protobuf package
// (sharedpb: event_store.client, streamspb: event_store.client.streams,
// gossippb: event_store.client.gossip, serverfeaturespb:
// event_store.client.server_features). The .proto files are written for
// this server; their package, service, message and field names and numbers
// are the protocol's, which the official clients are compiled against.
//
// The generated files are committed so that building and testing never
// needs protoc; regenerate after editing a .proto with go generate, which
// needs protoc, protoc-gen-go v1.36.12 and protoc-gen-go-grpc v1.6.2 on
// PATH. protoinclude holds a declaration protoc needs to resolve an import
// and generates nothing.
//
// Because these packages register event_store.client.* names with the
// protobuf runtime, a binary cannot also link another copy of the protocol
// (the official Go client, say) without a registration conflict at start.
package esdbpb

//go:generate protoc -I . -I protoinclude --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative sharedpb/shared.proto streamspb/streams.proto gossippb/gossip.proto serverfeaturespb/serverfeatures.proto
